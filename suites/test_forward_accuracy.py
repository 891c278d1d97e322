"""Forward accuracy: every applicable problem against its best oracle.

Adaptive methods are measured against scipy's method of the same order class (RK23, RK45, DOP853)
at the same rtol = atol, in the same run (the scipy run is cached with the oracles). Why a
baseline and not a fixed multiple of the tolerance: the global error of a correct method depends
on the problem's conditioning as much as on the tolerance, but two correct codes of one order
with standard controllers land within a small factor of each other on the same problem (the
reference dopri5 is within 1.01-1.03x of RK45 on Arenstorf and Pleiades at 1e-12,
tests/test_published_problems.py). The threshold is

    max(10 x baseline error, 10 tol max(|y*|, 1))  +  10 x oracle error  +  100 eps max(|y*|, 1)

10x leaves room for other controllers and interpolants. The tolerance term is the allowance of
tolerance proportionality: a code that keeps each step's local error below tol typically ends
within a few tol of the solution over these intervals, so a baseline that happens to be far below
tol (it stepped more cautiously, or its errors cancelled) does not make the check stricter than
what the tolerance asked for.

One tolerance's baseline can be lucky: its error constant (error / tol) on a given problem
scatters by 10x from tolerance to tolerance with the step sequence (scipy RK45 at rtol = atol =
1e-4, 1e-5, 1e-6, 1e-8, 1e-10: B5 2.55, 20.4, 26.8, 20.8, 20; A3 10.6, 0.53, 10.8, 11.3, 7.8;
mlp-tanh 0.049, 0.017, 0.30, 0.25, 0.25), and a correct code with a slightly different controller
lands anywhere in that scatter: torchode tsit5 on B5 at 1e-4 ends 4.6e-3 off, 18x RK45's lucky
2.55e-4 there, and the reference tsit5 reproduces that figure exactly when the one rule "no step
growth right after a rejection" is removed from its controller. So the baseline is
max(baseline at tol, tol x median over the profile's tolerances of baseline / tol): the problem's
typical error constant, measured by the same scipy method, not one draw of it.

The oracle and round-off terms keep the check from being tighter than what it is compared with. A defect that costs the method its order (a wrong coefficient,
a dropped stage) misses this bound by orders of magnitude at tol = 1e-8.

Fixed-step methods are measured against the reference method of the same claimed order (euler,
midpoint, heun3, rk4) at the same step size, threshold 10x its error plus the same floors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evidence import Derivation, Quantity
from harness.oracles import best_forward_oracle
from reference import odeint as reference_odeint

from .conftest import EPS, baseline_error, budget_point, budget_tolerance, fixed_step_for, solve_problem

FACTOR = 10.0
SINGLE_TOL = 1e-8    # the checks at one tolerance (interior, reverse, batched); a lower claimed order
FLOAT32_TOL = 1e-5   # runs at the tightest tolerance the step budget affords (harness/budget.py)
REFERENCE_OF_ORDER = {1: "euler", 2: "midpoint", 3: "heun3", 4: "rk4"}


def _applicable(ode_case, problem) -> None:
    if problem.is_stiff:
        ode_case.skip_unless(needs_stiff=True)


def _threshold(base: float, tol: float | None, truth: np.ndarray, oracle_err: float, dtype) -> float:
    scale = float(np.abs(truth).max())
    floor = FACTOR * tol * max(scale, 1.0) if tol is not None else 0.0
    return max(FACTOR * base, floor) + FACTOR * oracle_err + 100 * EPS[dtype] * max(scale, 1.0)


def _typical_baseline(ode_case, problem, times, tol: float, order, truth: np.ndarray,
                      interior: bool) -> tuple[float, float]:
    """(max(baseline at tol, tol x the median error constant of the baseline over the profile's
    tolerances), baseline at tol): see the module docstring."""
    at_tol = baseline_error(problem, times, tol, order, truth, interpolated=interior)
    constants = [baseline_error(problem, times, t, order, truth, interpolated=interior) / t
                 for t in ode_case.profile.tolerances]
    return max(at_tol, tol * float(np.median(constants))), at_tol


def _fixed_baseline(problem, times, h: float, order: int, truth: np.ndarray) -> float:
    ref = REFERENCE_OF_ORDER[order]
    with torch.no_grad():
        ys = reference_odeint(problem.make_field(), torch.tensor(problem.y0, dtype=torch.float64),
                              torch.tensor(times, dtype=torch.float64), method=ref, options={"step_size": h})
    return float(np.abs(ys.numpy()[1:] - truth).max())


def _measure(ode_case, problem, check, times, *, tol=None, dtype=torch.float64, batch=None,
             what="error", interior=False):
    """Solve at `times`, compare every requested time except the first with the oracle.

    With `interior`, output times fall between steps, where the claimed dense-output order
    governs: the baseline is then of order min(order, dense order + 1) for adaptive methods (an
    interpolant of order p* adds a local error O(h^(p*+1))) and min(order, dense order) for
    fixed-step ones (whose interpolation error is global). The adaptive baseline is then scipy's
    method run once with t_eval, its outputs from its own interpolant: what a correct code of that
    order delivers between steps (step ends would be a 10x stricter and unfair bound there)."""
    claims = ode_case.claims
    check.describe(problem=problem, dtype=dtype)
    order = claims.order
    if interior and claims.dense_order is not None and order is not None:
        order = min(order, claims.dense_order + 1) if claims.adaptive else min(order, claims.dense_order)
    oracle = best_forward_oracle(problem, times)
    truth, oracle_err = oracle.values[1:], float(oracle.error_estimate[1:].max())
    if claims.adaptive:
        ys = solve_problem(ode_case, problem, times, tol=tol, dtype=dtype, batch=batch)
        base, base_at_tol = _typical_baseline(ode_case, problem, times[1:], tol, order, truth, interior)
        check.scalar("baseline_error_at_tol", base_at_tol, Quantity.ERROR)
        base_what = f"scipy same-order {'interpolated ' if interior else ''}baseline at tol={tol:g}"
    else:
        ode_case.skip_unless(needs_order=True)
        if order not in REFERENCE_OF_ORDER:
            pytest.skip(f"{ode_case.id}: no reference fixed-step method of order {order} to compare with")
        h = fixed_step_for(ode_case, problem, claims.order)
        ys = solve_problem(ode_case, problem, times, step_size=h, dtype=dtype, batch=batch)
        base = _fixed_baseline(problem, times, h, order, truth)
        base_what = f"reference {REFERENCE_OF_ORDER[order]} at h={h:.3g}"
        tol = None
    check.inputs(ode_case.repro_inputs(problem, times, tol=tol, step_size=None if claims.adaptive else h, dtype=dtype))
    got = ys[1:] if batch is None else ys[1:, :, :]
    err = float(np.abs(got - (truth if batch is None else truth[:, None, :])).max())
    thr = _threshold(base, tol, truth, oracle_err, dtype)
    check.scalars(Quantity.ERROR, baseline_error=base, oracle_error=oracle_err)
    check.oracle(oracle.kinds[-1])
    check.solver_stats(ode_case.stats())
    if batch is not None:
        check.note(batch=batch)
    check.expect_le(what, err, thr, f"{FACTOR:g}x the {base_what}, plus oracle and round-off floors",
                    kind=Quantity.ERROR, derivation=Derivation(
                        order=order, tolerance=tol, eps=EPS[dtype], safety_factor=FACTOR, baseline=base,
                        baseline_method=base_what, oracle_error=oracle_err,
                        step_size=None if claims.adaptive else h))


def test_error_at_end(ode_case, problem, tol, check):
    """y(t1) from one solve over the problem's interval."""
    _applicable(ode_case, problem)
    if not ode_case.claims.adaptive and tol != ode_case.profile.tolerances[0]:
        pytest.skip("fixed-step: the step size does not depend on tol; measured once")
    tol = budget_point(ode_case, problem, tol, ode_case.profile.tolerances)
    _measure(ode_case, problem, check, np.array([problem.t0, problem.t1]), tol=tol)


def test_error_at_interior_times(ode_case, problem, check):
    """Output times that fall between steps (the dense output or the landing strategy)."""
    _applicable(ode_case, problem)
    times = problem.t0 + (problem.t1 - problem.t0) * np.array([0.0, 0.137, 0.5, 0.861, 1.0])
    _measure(ode_case, problem, check, times, tol=budget_tolerance(ode_case, problem, SINGLE_TOL),
             what="error_interior", interior=True)


def test_error_in_reverse_time(ode_case, problem, check):
    """From t1 back to t0, starting at the oracle's y(t1)."""
    _applicable(ode_case, problem)
    ode_case.skip_unless(needs_reverse_time=True)
    check.describe(problem=problem.name, dtype=torch.float64)
    if not ({"hamiltonian", "neural"} & problem.tags or problem.name in ("A3", "B4", "B5")):
        pytest.skip(f"{problem.name}: backward integration is ill-conditioned or unstable (attracting "
                    "limit cycle, contraction or chaos); reverse time is measured on well-conditioned problems")
    t_rev = np.array([problem.t1, problem.t0])
    start = best_forward_oracle(problem, np.array([problem.t0, problem.t1]))
    y1 = start.values[1]
    tol = budget_tolerance(ode_case, problem, SINGLE_TOL)
    oracle_err = float(start.error_estimate[1])
    check.describe(problem=problem, dtype=torch.float64, reverse_time=True)
    h = None
    if ode_case.claims.adaptive:
        ys = solve_problem(ode_case, problem, t_rev, tol=tol, y0=y1)
        from scipy.integrate import solve_ivp

        from .conftest import scipy_baseline_method
        sol = solve_ivp(problem.numpy_rhs, (problem.t1, problem.t0), y1, rtol=tol, atol=tol,
                        method=scipy_baseline_method(ode_case.claims.order))
        base = float(np.abs(sol.y[:, -1] - np.array(problem.y0)).max())
    else:
        ode_case.skip_unless(needs_order=True)
        if ode_case.claims.order not in REFERENCE_OF_ORDER:
            pytest.skip(f"{ode_case.id}: no reference fixed-step method of order {ode_case.claims.order}")
        h = fixed_step_for(ode_case, problem, ode_case.claims.order)
        ys = solve_problem(ode_case, problem, t_rev, step_size=h, y0=y1)
        with torch.no_grad():
            ref = reference_odeint(problem.make_field(), torch.tensor(y1), torch.tensor(t_rev),
                                   method=REFERENCE_OF_ORDER[ode_case.claims.order], options={"step_size": h})
        base = float(np.abs(ref[-1].numpy() - np.array(problem.y0)).max())
        tol = None
    check.inputs(ode_case.repro_inputs(problem, t_rev, tol=tol, step_size=h, y0=y1))
    err = float(np.abs(ys[-1] - np.array(problem.y0)).max())
    # the start value's own error propagates too: bounded by the oracle error times the
    # problem's growth, taken as 10x here like the baseline factor
    thr = _threshold(base, tol, np.array(problem.y0), oracle_err, torch.float64)
    check.scalars(Quantity.ERROR, baseline_error=base, oracle_error=oracle_err)
    check.oracle(start.kinds[-1])
    check.expect_le("error_reverse", err, thr, f"{FACTOR:g}x scipy's/reference's same-order error backward",
                    kind=Quantity.ERROR, derivation=Derivation(
                        order=ode_case.claims.order, tolerance=tol, eps=EPS[torch.float64], safety_factor=FACTOR,
                        baseline=base, oracle_error=oracle_err, step_size=h))


def test_error_float32(ode_case, problem, check):
    """A float32 state at rtol = atol = 1e-5: within the float64 baseline's bound, or float32
    round-off accumulated over the steps (1e3 eps32 |y|, i.e. about 1e-4 relative)."""
    _applicable(ode_case, problem)
    ode_case.skip_unless(needs_float32=True)
    check.describe(problem=problem.name, dtype=torch.float32)
    if "neural" not in problem.tags and problem.name not in ("A3", "B4", "linear-random-stable"):
        pytest.skip("float32 is measured on a few well-conditioned problems")
    times = np.array([problem.t0, problem.t1])
    oracle = best_forward_oracle(problem, times)
    truth = oracle.values[1:]
    tol = budget_tolerance(ode_case, problem, FLOAT32_TOL)
    check.describe(problem=problem, dtype=torch.float32)
    h = None
    if ode_case.claims.adaptive:
        ys = solve_problem(ode_case, problem, times, tol=tol, dtype=torch.float32)
        base = baseline_error(problem, times[1:], tol, ode_case.claims.order, truth)
    else:
        ode_case.skip_unless(needs_order=True)
        if ode_case.claims.order not in REFERENCE_OF_ORDER:
            pytest.skip(f"{ode_case.id}: no reference fixed-step method of order {ode_case.claims.order}")
        h = fixed_step_for(ode_case, problem, ode_case.claims.order, target=FLOAT32_TOL)
        ys = solve_problem(ode_case, problem, times, step_size=h, dtype=torch.float32)
        base = _fixed_baseline(problem, times, h, ode_case.claims.order, truth)
        tol = None
    check.inputs(ode_case.repro_inputs(problem, times, tol=tol, step_size=h, dtype=torch.float32))
    check.scalar("baseline_error", base, Quantity.ERROR)
    err = float(np.abs(ys[1:] - truth).max())
    scale = max(float(np.abs(truth).max()), 1.0)
    thr = _threshold(base, tol, truth, float(oracle.error_estimate.max()), torch.float64) + 1e3 * EPS[torch.float32] * scale
    check.expect_le("error_float32", err, thr, "the float64 bound plus 1e3 float32 eps x |y|", kind=Quantity.ERROR,
                    derivation=Derivation(order=ode_case.claims.order, tolerance=tol, eps=EPS[torch.float32],
                                          safety_factor=FACTOR, baseline=base, step_size=h,
                                          oracle_error=float(oracle.error_estimate.max())))


def test_error_batched(ode_case, problem, check):
    """A batch of 3 copies of y0 (shape (3, dim)): every element as accurate as a lone solve."""
    _applicable(ode_case, problem)
    ode_case.skip_unless(needs_batching=True)
    _measure(ode_case, problem, check, np.array([problem.t0, problem.t1]),
             tol=budget_tolerance(ode_case, problem, SINGLE_TOL), batch=3, what="error_batched")
