"""The budget rule of the sweeps (harness/budget.py): monotone in the claimed order and budget,
skips with the numbers, an upper bound on a correct method's steps, and a wrong exponent in the
model is caught by measurement."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness import budget
from harness.claims import Claims
from harness.problems import get_problem
from harness.profiles import PROFILES


def test_tightest_tolerance_is_monotone_in_order_and_budget():
    """A higher claimed order affords a tighter tolerance within the same budget, and a larger
    budget a tighter one for the same order (the inversion of N = 2 W tol^(-1/p) + 10)."""
    w = budget.rate_scale(get_problem("B4"))
    for b in (1500, 3000, 100_000):
        tols = [budget.tightest_tolerance(p, w, b) for p in range(1, 9)]
        assert all(a > c for a, c in zip(tols, tols[1:])), tols
    for p in range(1, 9):
        tols = [budget.tightest_tolerance(p, w, b) for b in (1500, 3000, 100_000)]
        assert all(a > c for a, c in zip(tols, tols[1:])), tols


def test_tightest_tolerance_inverts_the_step_model():
    w = 5.5
    for p in (1, 2, 5, 8):
        tol = budget.tightest_tolerance(p, w, 3000)
        assert budget.adaptive_steps(p, tol, w) == pytest.approx(3000, rel=1e-9)


def test_quick_budget_keeps_the_sweep_of_orders_5_and_8_and_clips_order_2():
    """Orders >= 5 keep 1e-8 at quick on every quick problem (the existing methods keep their
    sweeps); order 2 does not on B4 (~1.1e5 steps at 1e-8)."""
    prof = PROFILES["quick"]
    for name in prof.problems:
        w = budget.rate_scale(get_problem(name))
        for p in (5, 8):
            assert budget.sweep_cost(p, [min(prof.tolerances)], w, prof.step_budget).ok, (name, p)
    w = budget.rate_scale(get_problem("B4"))
    cost = budget.sweep_cost(2, [1e-8], w, prof.step_budget)
    assert not cost.ok and cost.needed > 1e5


def test_skip_reason_names_order_tolerance_steps_and_budget():
    cost = budget.sweep_cost(2, [1e-8], 5.49, 1000)
    msg = cost.reason()
    assert msg.startswith("order 2 at 1e-08 needs ~1.1e+05 steps; budget 1000"), msg


def _case(order: int, adaptive: bool = True, profile: str = "quick"):
    return SimpleNamespace(claims=Claims(order=order, adaptive=adaptive), profile=PROFILES[profile],
                           id=f"fake-order{order}")


def test_budget_point_skips_a_tight_point_and_runs_the_loosest_clipped():
    from suites.conftest import budget_point

    problem = get_problem("B4")
    case = _case(2)
    with pytest.raises(pytest.skip.Exception, match=r"order 2 at 1e-08 needs ~1\.1e\+05 steps; budget 1000"):
        budget_point(case, problem, 1e-8, (1e-5, 1e-8))
    clipped = budget_point(case, problem, 1e-5, (1e-5, 1e-8))
    assert clipped > 1e-5
    assert budget.sweep_cost(2, [clipped], budget.rate_scale(problem), PROFILES["quick"].step_budget).ok
    # order 5 runs the point as asked; a fixed-step claim is not an adaptive budget question
    assert budget_point(_case(5), problem, 1e-8, (1e-5, 1e-8)) == 1e-8
    assert budget_point(_case(2, adaptive=False), problem, 1e-8, (1e-5, 1e-8)) == 1e-8


def test_fit_sweep_shifts_up_keeping_points_and_ratio():
    tols = [1e-5, 1e-6, 1e-7, 1e-8]
    got, cost = budget.fit_sweep(2, tols, 0.55, 1500)
    assert cost.ok and len(got) == 4
    ratios = [a / b for a, b in zip(got, got[1:])]
    assert all(r == pytest.approx(10.0) for r in ratios)
    assert got[0] > tols[0]
    # a sweep that fits is returned unchanged
    assert budget.fit_sweep(5, tols, 0.55, 1500)[0] == pytest.approx(tols)
    # one that cannot fit even at the loosest position reports the numbers
    got, cost = budget.fit_sweep(1, tols, 1000.0, 1500)
    assert not cost.ok and "budget 1500" in cost.reason()


def test_fixed_step_count_respects_budget_and_roundoff():
    assert budget.fixed_step_count(1, 1e-6, 750) == 750          # budget-bound
    assert budget.fixed_step_count(4, 1e-6, 750) == pytest.approx(2 * 1e-6 ** -0.25)  # accuracy-bound
    n8 = budget.fixed_step_count(8, 1e-14, 10**6)
    assert n8 < 100                                                 # round-off-bound for order 8


# --------------------------------------------------------------------------- measured
def _torchdiffeq_steps(method: str, evals_per_step: int, tol: float, problem, span: float) -> float:
    import torchdiffeq

    from harness.measure.nfe import CountingField

    field = CountingField(problem.make_field())
    t = torch.tensor([problem.t0, problem.t0 + span], dtype=torch.float64)
    with torch.no_grad():
        torchdiffeq.odeint(field, torch.tensor(problem.y0, dtype=torch.float64), t, rtol=tol, atol=tol,
                           method=method)
    return sum(field.counts.values()) / evals_per_step


def _wrong_exponent(order: int, tol: float, scale: float) -> float:
    """The seeded bug: the count of an estimator of the propagated order, tol^(-1/(p+1))."""
    return budget.SAFETY * scale * tol ** (-1.0 / (order + 1)) + budget.START_STEPS


def test_model_bounds_measured_steps_and_a_wrong_exponent_is_caught():
    """torchdiffeq adaptive_heun (p = 2, 2 evaluations a step) and dopri5 (p = 5, 6) on B4 over
    [0, 2]: the measured steps are within the model's bound, their exponent against tol is 1/p
    within 0.1, and the model with the exponent 1/(p+1) under-predicts the 2nd-order method's
    steps at 1e-5 (it would let a sweep exceed its budget; at p = 5 on this short span the start-up
    steps dominate and both exponents bound the count)."""
    problem = get_problem("B4")
    span = 2.0
    w = budget.rate_scale(problem, span)
    for method, p, evals, tols in (("adaptive_heun", 2, 2, (1e-3, 1e-5)), ("dopri5", 5, 6, (1e-4, 1e-9))):
        steps = [_torchdiffeq_steps(method, evals, tol, problem, span) for tol in tols]
        exponent = math.log(steps[1] / steps[0]) / math.log(tols[0] / tols[1])
        assert abs(exponent - 1.0 / p) < 0.1, (method, steps, exponent)
        assert all(s <= budget.adaptive_steps(p, tol, w) for s, tol in zip(steps, tols)), (method, steps)
        if p == 2:  # where the exponents differ most: 1/2 against 1/3
            assert steps[1] > _wrong_exponent(p, tols[1], w), (method, steps)


def test_rate_scale_of_the_library_is_calibrated():
    """W by scipy RK45 at 1e-6 (the numbers in harness/budget.py's docstring)."""
    for name, expected in (("B4", 5.49), ("B1", 7.32), ("mlp-tanh-t", 0.25)):
        assert budget.rate_scale(get_problem(name)) == pytest.approx(expected, rel=0.05)
    assert budget.rate_scale(get_problem("B4"), 2.0) == pytest.approx(0.549, rel=0.05)
    assert np.isfinite(budget.rate_scale(get_problem("arenstorf")))
