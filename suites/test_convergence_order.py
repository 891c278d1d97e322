"""Convergence order: every method converges with the order it claims.

Fixed-step methods (claims.adaptive False)
-----------------------------------------
* `test_fixed_step_order`: the observed order of the error at t1, which is a step end, from a
  sweep of step sizes h = T / (N + 0.3) (N = n T whole steps, n from the profile's
  `order_steps`): no h divides the interval, so every solve ends with a shortened step of 0.3 h
  and a loop that mishandles it shows up. Within ORDER_TOL = 0.2 of claims.order.
* `test_dense_output_order`: the observed order at output times that fall *between* the steps,
  at the same fraction theta of a step for every h (see `_dense_times`), against
  claims.dense_order, within 0.2.
* `test_gradient_order_fixed_step`: the error of dL/dy0 (L = g . y(t1)) against the
  forward-sensitivity oracle falls with the claimed order, within GRAD_ORDER_TOL = 0.3.

Adaptive methods (claims.adaptive True)
---------------------------------------
* `test_tolerance_proportionality_bound`: the error at t1 in tolerance units is at most K = 5
  at every tolerance of the sweep (scipy's own criterion, see `K_TOL_UNITS`).
* `test_error_falls_with_tolerance`: the fitted exponent of err(t1) against tol is at least
  p/(p+1) - delta (see `_exponent_floor`).
* `test_dense_output_order_adaptive`: the interior-time error falls, as the IUT refines its
  steps, at least with the order the dense-output claim implies (see its docstring).
* `test_gradient_error_falls_with_tolerance`: the error of dL/dy0 falls with the tolerance,
  with the same exponent bound as the forward error.

The observed order is the least-squares slope of log(error) against log(h) over the automatic
asymptotic window of `harness.measure.order.observed_order` (round-off points and
pre-asymptotic points dropped; which points were used is recorded with the errors). Why 0.2:
in the asymptotic range the local slope differs from p by about (C_{p+1}/C_p) h, the relative
size of the next error term (HNW-I sec. II.3); on B4 (period 2 pi, |y^(k)| = O(1)) with
h <= 1/16 that is a few hundredths, and the window only grows while local slopes stay within
0.2 of each other.

Round-off floor of the forward sweeps: 300 eps max|y|. A solve of N <= 520 steps (T = 2,
n <= 256 steps per unit in the thorough profile, 128 in standard; higher orders take fewer)
rounds each step's update at ~eps |y|; accumulated as a random walk that is ~sqrt(N) eps |y|
<= 23 eps |y|, plus the closed form's own accuracy (problem.exact_accuracy, 1e-15 relative),
so errors below 300 eps |y| are not truncation error and are not fitted.

Problems: B4 (DETEST; nonlinear, closed form) on [0, 2] for the forward sweeps, fixed and
adaptive: its steps are set by the tolerance over the whole adaptive sweep (on scipy's rational
problem dop853 takes the same 82 evaluations from 1e-4 to 1e-7, so an exponent fitted there
would measure the step-size growth limit, not the tolerance); scipy's rational problem on
[5, 9] for the tolerance-unit bound (scipy's own setting); the seeded neural field mlp-tanh-t
on [0, 1] for gradients.

Limits: the adaptive dense-output check measures the order through the IUT's mean step, which
moves by only 10^(3/p) over the quick sweep's three decades; for p = 8 that is 2.4x and the
check only catches an interpolant several orders worse than claimed (threshold 0.15 for
torchdiffeq's dopri8 in quick, 0.19 in standard).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pytest
import torch

from harness.evidence import UNIT_TOL, Derivation, GradMode, Quantity, Series, SeriesKind
from harness.measure.errors import error_measures
from harness.measure.nfe import CountingField
from harness.measure.order import observed_order
from harness.oracles.gradients import forward_sensitivity_oracle
from harness.problems import Problem, get_problem

from harness.budget import BACKWARD_FACTOR

from .conftest import EPS, budget_sweep, solve_problem

ORDER_TOL = 0.2          # the allowance for observed against claimed order
GRAD_ORDER_TOL = 0.3     # for gradients, see test_gradient_order_fixed_step
ROUNDOFF_EPS = 300       # round-off floor in units of eps max|y| (module docstring)

FIXED_PROBLEM = "B4"     # DETEST B4: nonlinear (r = sqrt(y1^2 + y2^2) in every term), closed form
FIXED_SPAN = 2.0         # [0, 2]: a third of B4's period, short enough for the quick profile
SPAN_FRACTION = 0.3      # T / h = N + 0.3: no step size of the sweep divides the interval
# Interior output times for the dense-output order: near these fractions of the span, at these
# fractions theta of a step (theta away from 0 and 1, where interpolation is exact).
DENSE_POINTS = ((0.3, 0.5), (0.6, 0.3), (0.85, 0.7))

ADAPTIVE_PROBLEM = "B4"  # steps are set by the tolerance over the whole sweep on [0, 2]
ADAPTIVE_SPAN = 2.0
ADAPTIVE_FRACTIONS = (0.0, 0.137, 0.29, 0.5, 0.613, 0.861, 1.0)  # output times / span

K_PROBLEM = "scipy-rational"  # scipy's test problem, on scipy's interval [5, 9]
K_TOL_UNITS = 5.0
K_ATOL_RATIO = 1e-3           # atol = 1e-3 rtol, scipy's test_integration (rtol 1e-3, atol 1e-6)

GRAD_PROBLEM = "mlp-tanh-t"   # seeded tanh MLP field, dim 4, t as an input, span [0, 1]
GRAD_ORACLE_TOL = 1e-12
SCATTER_FACTOR = 2.0          # see _exponent_floor


# --------------------------------------------------------------------------- helpers
def _fixed_steps(order: int, span: float, steps_per_unit: Sequence[int]) -> list[float]:
    """h = span / (N + 0.3), N = n span whole steps; for claimed orders above 4, N is scaled by
    4/p so that C h^p stays above the round-off floor (h^p at the profile's n for p = 4)."""
    scale = min(1.0, 4.0 / order)
    hs = []
    for n in steps_per_unit:
        whole = max(2, round(n * span * scale))
        hs.append(span / (whole + SPAN_FRACTION))
    return sorted(set(hs), reverse=True)


def _dense_times(t0: float, span: float, h: float) -> np.ndarray:
    """t0, then t0 + (k_j + theta_j) h with k_j = floor(f_j span / h) for (f_j, theta_j) in
    DENSE_POINTS, then t0 + span. Grid points are t0 + k h (torchdiffeq's fixed-grid
    construction), so every interior time sits at the same fraction theta_j of its step for every
    h, and the interpolation error C(theta_j) h^q converges smoothly instead of jumping with the
    position of t inside the step."""
    inner = [t0 + (math.floor(f * span / h) + theta) * h for f, theta in DENSE_POINTS]
    return np.array([t0, *inner, t0 + span])


def _expect_converged_window(check, hs: Sequence[float], errors: Sequence[float], floor: float, est) -> None:
    """The fit must be possible, and its window must reach the finest step size whose error is
    above the floor: `observed_order` trims a trailing plateau as round-off, but a plateau above
    the floor given here is an error that stopped converging (a constant offset, a step that is
    never refined), not round-off."""
    check.expect(est.ok, f"no asymptotic window: {est.reason} (errors {list(errors)})")
    above = [i for i, e in enumerate(errors) if e > floor]
    finest = min(above, key=lambda i: hs[i])
    check.expect(finest in est.used,
                 f"the error stops converging above the floor: at h = {hs[finest]:.4g} it is "
                 f"{errors[finest]:.3g} (floor {floor:.3g}), outside the asymptotic window {est.used}; "
                 f"local slopes {[round(x, 2) for x in est.local_slopes]}")


def _roundoff_floor(problem: Problem, t0: float, t1: float) -> float:
    scale = float(np.abs(problem.exact(np.linspace(t0, t1, 65))).max())
    return ROUNDOFF_EPS * EPS[torch.float64] * max(scale, 1.0)


def decade_tolerances(tols: Sequence[float], min_decades: int = 3) -> list[float]:
    """Every decade from the largest of `tols` down to the smallest, extended downwards to at
    least `min_decades` decades (quick: 1e-5 .. 1e-8; standard: 1e-4 .. 1e-10)."""
    hi, lo = max(tols), min(tols)
    decades = max(min_decades, round(math.log10(hi / lo)))
    return [hi * 10.0 ** (-k) for k in range(decades + 1)]


def _fit_exponent(tols: Sequence[float], errors: Sequence[float]) -> float:
    return float(np.polyfit(np.log10(tols), np.log10(errors), 1)[0])


def _scatter_allowance(tols: Sequence[float]) -> float:
    """delta: how far the least-squares slope over log10(tol) = x_i can move when every point sits
    up to a factor F = SCATTER_FACTOR off a power law: slope - E = sum (x_i - xbar) r_i /
    sum (x_i - xbar)^2 with |r_i| <= log10 F, so |slope - E| <= log10 F sum |x_i - xbar| /
    sum (x_i - xbar)^2. F = 2 covers what is not a power law in a correct code's error: the
    sign changes of the global error (cancellation at one tolerance), the step count jumping by
    whole steps, the clipped last step. Quick (4 tolerances over 3 decades): 0.24; standard
    (7 over 6): 0.13."""
    x = np.log10(np.asarray(tols, dtype=np.float64))
    d = x - x.mean()
    return float(math.log10(SCATTER_FACTOR) * np.abs(d).sum() / (d * d).sum())


def _exponent_floor(order: int | None, tols: Sequence[float]) -> tuple[float, str]:
    """Lower bound of the exponent E in err ~ C tol^E, and its reason.

    A controller that keeps an error estimate of order q below tol per step takes steps
    h ~ tol^(1/(q+1)); the global error of the propagated order-p solution is then ~ h^p ~
    tol^(p/(q+1)) (HNW-I sec. II.4; Shampine, "Tolerance proportionality in ODE codes",
    LNM 1386, 1989). With local extrapolation (q = p - 1, every built-in pair) E = 1; estimating
    the propagated solution's own error (q = p) gives E = p/(p+1). So E >= p/(p+1) for either,
    minus the scatter allowance delta. Without an order claim p = 1 (E >= 1/2) is assumed."""
    p = order or 1
    delta = _scatter_allowance(tols)
    bound = p / (p + 1) - delta
    return bound, (f"err ~ tol^E with E >= p/(p+1) = {p}/{p + 1} for error-per-step control, "
                   f"minus {delta:.2f} for a factor-{SCATTER_FACTOR:g} scatter over {len(tols)} tolerances")


_SWEEPS: dict[tuple, dict] = {}


def _adaptive_sweep(ode_case) -> dict:
    """Solve ADAPTIVE_PROBLEM on [0, ADAPTIVE_SPAN] at every decade tolerance (rtol = atol = tol)
    with output times ADAPTIVE_FRACTIONS, counting field evaluations. Shared (cached per case)
    by the checks of the t1 error and of the interior-time error: interior output times do not
    change the steps of a dense-output solver, and an IUT that does land on them is measured
    as it behaves."""
    key = (ode_case.impl.name, ode_case.method, ode_case.profile.name, str(ode_case.device))
    if key in _SWEEPS:
        return _SWEEPS[key]
    problem = get_problem(ADAPTIVE_PROBLEM)
    times = problem.t0 + ADAPTIVE_SPAN * np.array(ADAPTIVE_FRACTIONS)
    truth = problem.exact(times)
    tols = budget_sweep(ode_case, problem, decade_tolerances(ode_case.profile.tolerances), span=ADAPTIVE_SPAN)
    out = {"tols": tols, "times": times, "end_err": [], "interior_err": [], "nfe": [],
           "end_tol_units": [], "interior_tol_units": []}
    for tol in tols:
        field = CountingField(problem.make_field(dtype=torch.float64, device=ode_case.device))
        y0 = torch.tensor(problem.y0, dtype=torch.float64, device=ode_case.device)
        t = torch.tensor(times, dtype=torch.float64, device=ode_case.device)
        with torch.no_grad():
            ys = ode_case.odeint(field, y0, t, rtol=tol, atol=tol).detach().cpu().double().numpy()
        m = error_measures(ys[1:], truth[1:], rtol=tol, atol=tol)
        # weighted errors: tol-unit RMS times tol = RMS of (y - y*) / (1 + |y*|)
        out["end_tol_units"].append(float(m.tol_units[-1]))
        out["end_err"].append(float(m.tol_units[-1]) * tol)
        inner = m.tol_units[:-1]
        out["interior_tol_units"].append(float(np.sqrt(np.mean(inner ** 2))))
        out["interior_err"].append(float(np.sqrt(np.mean(inner ** 2))) * tol)
        out["nfe"].append(int(sum(field.counts.values())))
    out["floor"] = _roundoff_floor(problem, problem.t0, problem.t0 + ADAPTIVE_SPAN) / (
        1.0 + float(np.abs(truth).max()))
    _SWEEPS[key] = out
    return out


_ORACLES: dict[tuple, tuple] = {}


def _gradient_setup(seed: int):
    """(problem, t, g, oracle gradient dL/dy0, its relative error estimate): L = g . y(t1) on
    GRAD_PROBLEM over its span [0, 1], g ~ N(0, I) seeded. The oracle is the forward-sensitivity
    oracle (variational equations by scipy DOP853 at 1e-12; HNW-I sec. I.14) with the field's
    parameters frozen: only S = dy/dy0 is integrated (dL/dy0 does not depend on whether the
    parameters are tracked)."""
    key = (GRAD_PROBLEM, seed)
    if key not in _ORACLES:
        problem = get_problem(GRAD_PROBLEM)
        t = np.array([problem.t0, problem.t1])
        g = np.zeros((2, problem.dim))
        g[1] = np.random.default_rng(seed).standard_normal(problem.dim)
        field = problem.make_field()
        for p in field.parameters():
            p.requires_grad_(False)
        orc = forward_sensitivity_oracle(field, np.array(problem.y0), t, g, rtol=GRAD_ORACLE_TOL,
                                         atol=GRAD_ORACLE_TOL)
        norm = float(np.linalg.norm(orc.grad_y0))
        _ORACLES[key] = (problem, t, g, orc.grad_y0, orc.error_estimate["y0"] / norm)
    return _ORACLES[key]


def _iut_grad_y0(ode_case, problem: Problem, t: np.ndarray, g: np.ndarray, **solve_kw) -> np.ndarray:
    """dL/dy0 by the IUT's own gradient path; the field's parameters stay trainable, as in a
    neural ODE (adjoint IUTs integrate their adjoint too)."""
    from harness.pytest_plugin import IUTError

    field = problem.make_field(dtype=torch.float64, device=ode_case.device)
    y0 = torch.tensor(problem.y0, dtype=torch.float64, device=ode_case.device, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float64, device=ode_case.device)
    ys = ode_case.odeint(field, y0, tt, **solve_kw)
    loss = (ys * torch.tensor(g, dtype=ys.dtype, device=ys.device)).sum()
    if not loss.requires_grad:
        pytest.fail(f"{ode_case.id}: the output does not depend on y0 through autograd (no gradient path)")
    try:
        (grad,) = torch.autograd.grad(loss, [y0], allow_unused=True)
    except Exception as exc:  # noqa: BLE001 - the IUT's backward failing is its finding
        raise IUTError(exc) from exc
    if grad is None:
        pytest.fail(f"{ode_case.id}: no gradient reaches y0")
    return grad.detach().cpu().double().numpy()


def _grad_mode(ode_case) -> GradMode:
    return GradMode.ADJOINT if ode_case.claims.adjoint else GradMode.BACKPROP


def _record_sweep(ode_case, check, sweep: dict, errors: str, what: str) -> None:
    """The adaptive sweep's evidence: error against tolerance and against NFE (work-precision)."""
    problem = get_problem(ADAPTIVE_PROBLEM)
    check.describe(problem=problem, span=(problem.t0, problem.t0 + ADAPTIVE_SPAN),
                   label=f"{ADAPTIVE_PROBLEM}[0,{ADAPTIVE_SPAN:g}]", dtype=torch.float64)
    check.inputs(ode_case.repro_inputs(problem, sweep["times"], tol=sweep["tols"][-1]))
    label = f"{ADAPTIVE_PROBLEM} {what}"
    check.series(Series(kind=SeriesKind.TOLERANCE_SWEEP, x=sweep["tols"], y=sweep[errors], x_label="tolerance",
                        y_label=what, label=label))
    check.series(Series(kind=SeriesKind.WORK_PRECISION, x=sweep["nfe"], y=sweep[errors],
                        x_label="function evaluations", x_unit="NFE", y_label=what, label=label))
    check.series(Series(kind=SeriesKind.NFE_SWEEP, x=sweep["tols"], y=sweep["nfe"], x_label="tolerance",
                        y_label="function evaluations", y_unit="NFE", label=label))
    check.scalar("floor", sweep["floor"], Quantity.ERROR)


# --------------------------------------------------------------------------- fixed step
def test_fixed_step_order(ode_case, check):
    """Fixed-step methods: the observed order of the error at t1 (a step end, after a shortened
    last step) is within 0.2 of the claimed order."""
    ode_case.skip_unless(needs_order=True, needs_adaptive=False)
    p = ode_case.claims.order
    problem = get_problem(FIXED_PROBLEM)
    t0, t1 = problem.t0, problem.t0 + FIXED_SPAN
    times = np.array([t0, t1])
    truth = problem.exact(times)[1]
    hs = _fixed_steps(p, FIXED_SPAN, ode_case.profile.order_steps)
    errors = [float(np.abs(solve_problem(ode_case, problem, times, step_size=h)[1] - truth).max()) for h in hs]
    floor = _roundoff_floor(problem, t0, t1)
    est = observed_order(hs, errors, floor=floor)
    check.describe(problem=problem, span=(t0, t1), label=f"{FIXED_PROBLEM}[0,{FIXED_SPAN:g}]", dtype=torch.float64)
    check.inputs(ode_case.repro_inputs(problem, times, step_size=hs[-1]))
    check.series(Series(kind=SeriesKind.CONVERGENCE, x=hs, y=errors, x_label="step size h", y_label="max error at t1",
                        label=f"{FIXED_PROBLEM} y(t1)", used=est.used if est.ok else None,
                        slope=est.slope if est.ok else None))
    check.scalar("roundoff_floor", floor, Quantity.ERROR)
    check.note(local_slopes=est.local_slopes, window_reason=est.reason)
    _expect_converged_window(check, hs, errors, floor, est)
    check.expect_within("observed_order", est.slope, p, ORDER_TOL,
                        "claimed order at step ends; slope moves by ~(C_{p+1}/C_p) h in the asymptotic range",
                        kind=Quantity.ORDER, derivation=Derivation(order=p, floor=floor))


def test_dense_output_order(ode_case, check):
    """Fixed-step methods: the observed order at output times between grid points (same fraction
    theta of a step for every h) is within 0.2 of the claimed dense-output order.

    torchdiffeq's fixed-grid solvers interpolate linearly between grid points (claim
    min(order, 2)); the reference integrates up to every output time, shortening the step that
    lands on it (claim = order)."""
    ode_case.skip_unless(needs_dense_order=True, needs_adaptive=False)
    q = ode_case.claims.dense_order
    problem = get_problem(FIXED_PROBLEM)
    t0 = problem.t0
    hs = _fixed_steps(max(q, ode_case.claims.order or q), FIXED_SPAN, ode_case.profile.order_steps)
    errors = []
    for h in hs:
        times = _dense_times(t0, FIXED_SPAN, h)
        ys = solve_problem(ode_case, problem, times, step_size=h)
        errors.append(float(np.abs(ys[1:-1] - problem.exact(times)[1:-1]).max()))
    floor = _roundoff_floor(problem, t0, t0 + FIXED_SPAN)
    est = observed_order(hs, errors, floor=floor)
    check.describe(problem=problem, span=(t0, t0 + FIXED_SPAN), label=f"{FIXED_PROBLEM}[0,{FIXED_SPAN:g}]",
                   dtype=torch.float64)
    check.inputs(ode_case.repro_inputs(problem, _dense_times(t0, FIXED_SPAN, hs[-1]), step_size=hs[-1]))
    check.series(Series(kind=SeriesKind.DENSE_CONVERGENCE, x=hs, y=errors, x_label="step size h",
                        y_label="max error between grid points", label=f"{FIXED_PROBLEM} dense output",
                        used=est.used if est.ok else None, slope=est.slope if est.ok else None))
    check.scalar("roundoff_floor", floor, Quantity.ERROR)
    check.note(local_slopes=est.local_slopes, dense_points=[list(x) for x in DENSE_POINTS], window_reason=est.reason)
    _expect_converged_window(check, hs, errors, floor, est)
    check.expect_within("observed_dense_order", est.slope, q, ORDER_TOL,
                        "claimed dense-output order at fixed fractions of a step",
                        kind=Quantity.ORDER, derivation=Derivation(order=q, floor=floor))


def test_gradient_order_fixed_step(ode_case, check):
    """Fixed-step methods that claim gradients: the error of dL/dy0 falls with the claimed order.

    Backprop through an explicit Runge-Kutta method differentiates the discrete map, and the
    derivative of an RK step with respect to its starting value is the same RK step applied to
    the variational equation S' = f_y S: differentiating the stages k_i = f(t + c_i h, y +
    h sum_j a_ij k_j) gives K_i = f_y(stage i) (S + h sum_j a_ij K_j), the stages of the method
    on S' = f_y S ("internal numerical differentiation", H.G. Bock 1981). So the
    gradient is the order-p solution of the augmented system (y, S), and its error is O(h^p);
    an adjoint that integrates the adjoint equation with the same method is O(h^p) too.
    Tolerance 0.3: the step-end allowance 0.2, plus 0.1 because the augmented system's next
    error term is larger (S involves one more derivative of f) and the oracle is subtracted:
    points are fitted only where the error is >= 10x the oracle's error estimate, which itself
    overstates the oracle's error by more than 10x (harness.oracles.gradients), so the oracle
    moves each fitted point by <= 1 %, the slope by <= 0.03."""
    ode_case.skip_unless(needs_gradients=True, needs_order=True, needs_adaptive=False)
    p = ode_case.claims.order
    problem, t, g, grad_ref, oracle_rel = _gradient_setup(ode_case.config.seed)
    span = float(t[-1] - t[0])
    hs = _fixed_steps(p, span, ode_case.profile.order_steps)
    norm = float(np.linalg.norm(grad_ref))
    errors = [float(np.linalg.norm(_iut_grad_y0(ode_case, problem, t, g, step_size=h) - grad_ref)) / norm
              for h in hs]
    floor = 10 * oracle_rel + 64 * EPS[torch.float64]
    est = observed_order(hs, errors, floor=floor)
    check.describe(problem=problem, span=(float(t[0]), float(t[-1])), label=GRAD_PROBLEM, dtype=torch.float64)
    check.inputs(ode_case.repro_inputs(problem, t, step_size=hs[-1], grad=_grad_mode(ode_case), loss_weights=g))
    check.gradient("y0", "forward sensitivities")
    check.series(Series(kind=SeriesKind.GRADIENT_CONVERGENCE, x=hs, y=errors, x_label="step size h",
                        y_label="relative error of dL/dy0", label=f"{GRAD_PROBLEM} dL/dy0",
                        used=est.used if est.ok else None, slope=est.slope if est.ok else None))
    check.scalars(Quantity.GRADIENT_ERROR, floor=floor, oracle_rel_error=oracle_rel)
    check.note(local_slopes=est.local_slopes, window_reason=est.reason)
    _expect_converged_window(check, hs, errors, floor, est)
    check.expect_within("observed_gradient_order", est.slope, p, GRAD_ORDER_TOL,
                        "claimed order: backprop/adjoint of an order-p method is an order-p gradient",
                        kind=Quantity.ORDER, derivation=Derivation(order=p, floor=floor, oracle_error=oracle_rel))


# --------------------------------------------------------------------------- adaptive
def test_tolerance_proportionality_bound(ode_case, check):
    """Adaptive methods: the error at t1 in tolerance units is at most K = 5 at every tolerance.

    e = RMS over components of (y - y*) / (atol + rtol |y*|) (harness.measure.errors), on scipy's
    rational test problem over scipy's interval [5, 9] with atol = 1e-3 rtol: exactly the
    setting of scipy's test_integration (scipy/integrate/_ivp/tests/test_ivp.py: rtol 1e-3,
    atol 1e-6, `assert np.all(e < 5)` for RK23, RK45 and DOP853 at the step ends and the dense
    output). The same interval, so no rescaling for its length: a controller keeping each step's
    error estimate below tol accumulates the local errors over the same span. scipy asserts it at
    rtol = 1e-3; here it is required at every decade of the profile's sweep. With local
    extrapolation the global error is ~ C tol (E = 1, `_exponent_floor`), so the tol-unit error
    tends to the constant C and one k holds across the sweep; where the steps are not yet set by
    the tolerance (the loosest tolerances, the interval is short) the error is below tol."""
    ode_case.skip_unless(needs_adaptive=True)
    problem = get_problem(K_PROBLEM)
    times = np.array([problem.t0, problem.t1])
    truth = problem.exact(times)[1:]
    tols = budget_sweep(ode_case, problem, decade_tolerances(ode_case.profile.tolerances))
    e = []
    for tol in tols:
        field = problem.make_field(dtype=torch.float64, device=ode_case.device)
        y0 = torch.tensor(problem.y0, dtype=torch.float64, device=ode_case.device)
        t = torch.tensor(times, dtype=torch.float64, device=ode_case.device)
        with torch.no_grad():
            ys = ode_case.odeint(field, y0, t, rtol=tol, atol=K_ATOL_RATIO * tol).detach().cpu().double().numpy()
        e.append(float(error_measures(ys[1:], truth, rtol=tol, atol=K_ATOL_RATIO * tol).tol_units[0]))
    check.describe(problem=problem, label=f"{K_PROBLEM}[5,9]", dtype=torch.float64)
    check.inputs(ode_case.repro_inputs(problem, times, tol=tols[-1], atol=K_ATOL_RATIO * tols[-1]))
    check.series(Series(kind=SeriesKind.TOLERANCE_SWEEP, x=tols, y=e, x_label="rtol", y_label="error in tolerance units", y_unit=UNIT_TOL,
                        label=f"{K_PROBLEM} y(t1)"))
    check.note(atol_ratio=K_ATOL_RATIO)
    check.expect_le("max_error_in_tol_units", max(e), K_TOL_UNITS,
                    "scipy test_ivp.py test_integration: e < 5 on this problem and interval",
                    kind=Quantity.RATIO, derivation=Derivation(safety_factor=K_TOL_UNITS))


def test_error_falls_with_tolerance(ode_case, check):
    """Adaptive methods: the error at t1 falls as the tolerance falls, with fitted exponent
    E >= p/(p+1) - delta over the decade sweep (B4 on [0, 2], rtol = atol = tol)."""
    ode_case.skip_unless(needs_adaptive=True)
    sweep = _adaptive_sweep(ode_case)
    tols = [t for t, e in zip(sweep["tols"], sweep["end_err"]) if e > sweep["floor"]]
    errs = [e for e in sweep["end_err"] if e > sweep["floor"]]
    _record_sweep(ode_case, check, sweep, "end_err", "weighted error at t1")
    check.note(tol_units=sweep["end_tol_units"])
    if len(tols) < 3:
        pytest.skip(f"{ode_case.id}: fewer than 3 tolerances with an error above the round-off floor; "
                    "the exponent cannot be fitted (the error is at round-off already)")
    bound, why = _exponent_floor(ode_case.claims.order, tols)
    check.expect_ge("tolerance_exponent", _fit_exponent(tols, errs), bound, why, kind=Quantity.ORDER,
                    derivation=Derivation(order=ode_case.claims.order or 1, floor=sweep["floor"],
                                          exponent=bound))


def test_dense_output_order_adaptive(ode_case, check):
    """Adaptive methods: the error at interior output times falls, as the IUT refines its steps,
    at least with the order that the dense-output claim implies.

    The dense order cannot be isolated as for fixed steps: the IUT picks the steps, and each
    interior time sits at an uncontrolled fraction of its step. What can be measured is how the
    interior error scales with the IUT's own step size. Its mean step is h ~ T / NFE (NFE
    counted on the field), so kappa = the fitted exponent of NFE against 1/tol gives h ~
    tol^kappa, whatever the controller. The interior error is the propagated global error
    (~ h^p) plus the continuous extension's local error (~ h^(q+1), q = claimed dense order), so
    err_interior ~ tol^(kappa min(p, q + 1)). The check: fitted exponent >= kappa min(p, q + 1)
    - delta (`_scatter_allowance`). A fixed overhead in NFE (the starting-step evaluations,
    rejections) makes NFE grow more slowly than the step count at loose tolerances, so the
    measured kappa is low and the bound errs on the lenient side. One-sided: an interpolant that
    is more accurate than claimed is not a defect. Sharp enough to tell a first-order interpolant
    from a third-order one at the same p = 3 (kappa ~ 1/3: exponents 2/3 against 1)."""
    ode_case.skip_unless(needs_order=True, needs_dense_order=True, needs_adaptive=True)
    p, q = ode_case.claims.order, ode_case.claims.dense_order
    sweep = _adaptive_sweep(ode_case)
    keep = [i for i, e in enumerate(sweep["interior_err"]) if e > sweep["floor"]]
    tols = [sweep["tols"][i] for i in keep]
    _record_sweep(ode_case, check, sweep, "interior_err", "weighted error at interior times")
    check.note(interior_tol_units=sweep["interior_tol_units"])
    if len(keep) < 3:
        pytest.skip(f"{ode_case.id}: fewer than 3 tolerances with an interior error above the round-off "
                    "floor; the exponent cannot be fitted")
    kappa = -_fit_exponent(tols, [sweep["nfe"][i] for i in keep])
    exponent = _fit_exponent(tols, [sweep["interior_err"][i] for i in keep])
    delta = _scatter_allowance(tols)
    effective = min(p, q + 1)
    check.scalar("step_exponent_kappa", kappa, Quantity.ORDER)
    check.scalar("observed_order_vs_mean_step", exponent / kappa if kappa > 0 else None, Quantity.ORDER)
    check.expect(kappa > 0, f"the IUT's field evaluations do not grow as the tolerance falls (NFE {sweep['nfe']})")
    check.expect_ge("interior_tolerance_exponent", exponent, kappa * effective - delta,
                    f"h ~ tol^kappa (kappa = {kappa:.3f} from NFE), interior error ~ h^min(p, q+1) = "
                    f"h^{effective}, minus {delta:.2f} scatter", kind=Quantity.ORDER,
                    derivation=Derivation(order=effective, exponent=kappa, floor=sweep["floor"]))


def test_gradient_error_falls_with_tolerance(ode_case, check):
    """Adaptive methods that claim gradients: the error of dL/dy0 falls as the tolerance falls,
    with fitted exponent >= p/(p+1) - delta (same bound as the forward error: backprop gives the
    RK solution of the variational equation on the forward steps, an adjoint solves the adjoint
    equation under the same tolerance; either is an order-p solution controlled at tol)."""
    ode_case.skip_unless(needs_gradients=True, needs_adaptive=True)
    problem, t, g, grad_ref, oracle_rel = _gradient_setup(ode_case.config.seed)
    tols_all = budget_sweep(ode_case, problem, decade_tolerances(ode_case.profile.gradient_tolerances),
                            factor=BACKWARD_FACTOR)
    norm = float(np.linalg.norm(grad_ref))
    errors = [float(np.linalg.norm(_iut_grad_y0(ode_case, problem, t, g, rtol=tol, atol=tol) - grad_ref)) / norm
              for tol in tols_all]
    floor = 10 * oracle_rel + 64 * EPS[torch.float64]
    keep = [i for i, e in enumerate(errors) if e > floor]
    tols = [tols_all[i] for i in keep]
    check.describe(problem=problem, span=(float(t[0]), float(t[-1])), label=GRAD_PROBLEM, dtype=torch.float64)
    check.inputs(ode_case.repro_inputs(problem, t, tol=tols_all[-1], grad=_grad_mode(ode_case), loss_weights=g))
    check.gradient("y0", "forward sensitivities")
    check.series(Series(kind=SeriesKind.GRADIENT_TOLERANCE, x=tols_all, y=errors, x_label="tolerance",
                        y_label="relative error of dL/dy0", label=f"{GRAD_PROBLEM} dL/dy0"))
    check.scalars(Quantity.GRADIENT_ERROR, floor=floor, oracle_rel_error=oracle_rel)
    if len(keep) < 3:
        pytest.skip(f"{ode_case.id}: fewer than 3 tolerances with a gradient error above 10x the oracle's; "
                    "the exponent cannot be fitted")
    bound, why = _exponent_floor(ode_case.claims.order, tols)
    check.expect_ge("gradient_tolerance_exponent", _fit_exponent(tols, [errors[i] for i in keep]), bound, why,
                    kind=Quantity.ORDER, derivation=Derivation(order=ode_case.claims.order or 1, floor=floor,
                                                               oracle_error=oracle_rel, exponent=bound))
