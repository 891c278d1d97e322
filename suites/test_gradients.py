"""Gradients, for implementations that claim them (claims.gradients == "autograd").

The loss is the one of harness.oracles.gradients: L = sum_i g_i . y(t_i) with seeded random
cotangents g_i (standard normal) on every one of four output times t = t0 + (t1 - t0) * LAYOUT.
LAYOUT's interior fractions have four decimals so that no output time falls on the grid of the
fixed-step runs (8 to 256 steps per span), where torchdiffeq returns a grid value itself, a
different code path. Gradients are taken with `torch.autograd.grad(..., allow_unused=
True)` with respect to y0, every trainable parameter of the field and (claims.t_grad) t, and
compared group by group ("y0", "params", "t") with the forward-sensitivity oracle (variational
equations by scipy DOP853 at 1e-12; HNW-I sec. I.14), and in separate checks with the
torchdiffeq-backprop oracle and Richardson finite differences: three independent routes.
A problem whose constants are buffers (the linear ones) gets them as trainable parameters, so
that dL/dtheta has something to measure; the field computes the same values.

Errors are 2-norms of the difference of a whole group, the scale on which an oracle's accuracy
is meaningful (harness.oracles.gradients, "Comparing them").

Threshold (adaptive methods at rtol = atol = tol)
------------------------------------------------
    ||G_iut - G_oracle||  <=  K eps(tol) scale  +  oracle error estimate  +  64 eps64 scale

* scale, the size of the gradient without cancellation between output times:
  y0: ||g_0|| + sum_{i>=1} ||g_i|| ||S_i||, params: sum_{i>=1} ||g_i|| ||P_i|| with S_i = dy(t_i)/dy0,
  P_i = dy(t_i)/dtheta (spectral norms, from a torchdiffeq solve at 1e-10; only their size
  matters), t: sum_{i>=1} ||g_i|| ||f(t_i, y_i)|| + (sum_{i>=1} ||g_i|| ||S_i||) ||f(t_0, y_0)||, the
  terms of dL/dt_i = g_i . f(t_i, y_i) and dL/dt_0 = -(sum_{i>=1} S_i^T g_i) . f(t_0, y_0). An
  error of relative size eps in every S_i, P_i, f_i moves the gradient by at most eps * scale.
* eps(tol) = tol^alpha is the relative accuracy the tolerance buys at an output time. A
  controller that keeps the estimated local error of the embedded formula of order p_hat below
  tol per step takes steps h ~ tol^(1/(p_hat + 1)), N ~ tol^(-1/(p_hat + 1)) of them over the
  span; the local errors, propagated by the flow, add up to a global error ~ N tol ~
  tol^(p_hat/(p_hat + 1)) (error-per-step control, HNW-I sec. II.4; exponent 1, tolerance
  proportionality, holds only for the locally extrapolated value at step ends and only roughly:
  L.F. Shampine, "Tolerance proportionality in ODE codes", Lecture Notes in Math. 1386, 1989). For the usual pairs
  p(p-1) (dopri5, tsit5, bosh3, ...) p_hat = p - 1, so the exponent is (p - 1)/p. An output time
  inside a step is read off the continuous extension of claimed dense order q, whose local
  error h^(q+1) ~ tol^((q+1)/p) is estimated by nothing. So alpha = min((p-1)/p, (q+1)/p) for
  y0 and parameters (the gradient is a linear functional of the sensitivities, which backprop
  gets from the same RK discretisation and continuous extension applied to the variational
  equations -- internal differentiation -- and an adjoint from a backward solve at the same
  tolerance). dL/dt_i is the time derivative of the output and loses one power of h inside a
  step: alpha_t = min((p-1)/p, q/p). dopri5: alpha = alpha_t = 0.8; torchdiffeq's dopri8 (q = 4):
  5/8 and 1/2; bosh3: 2/3. Adaptive methods that claim no order are skipped (no alpha).
* K = 10 is the constant of that proportionality: the number of steps the controller would take
  at tol = 1 (about one per unit of span on these smooth problems, spans <= 2 in the quick and
  standard profiles), the mixed-tolerance weight 1 + |y| of the error control (|y| <= 2 here),
  and the ratio of the continuous extension's error to the estimated one (about 1 for dopri5:
  measured forward errors at interpolated outputs are 3..11 tol against 0.4 tol at step ends,
  mlp-tanh-t at 1e-9). It is the same 10x allowance as the forward suite's tolerance floor
  (suites/test_forward_accuracy.py). A wrong gradient path (a dropped term, a sign, a missing
  cotangent) is off by O(1) of the scale, 1e3..1e5 times the bound. Measured on mlp-tanh-t with
  12 seeded random layouts of 4 and of 10 output times, the largest errors of seven correct
  gradient routes (backprop through reference dopri5 and tsit5, torchdiffeq dopri5, torchode
  dopri5 and tsit5; both backsolve adjoints) at tol = 1e-9 were 89 tol scale (torchode dopri5,
  parameters; 0.14 of the bound) and 131 tol scale (torchdiffeq dopri5, dL/dt; 0.21), while
  torchdiffeq dopri5 with its outputs at step ends (option step_t) stays below 0.5 tol scale.
* The oracle's own error estimate is added: the check is never tighter than its oracle.

Fixed-step methods (claims.adaptive False) at h = span/64: the tolerance does not apply; the
bound is K times the gradient error of the reference method of order min(p, q) at the same h
(backprop through reference.odeint, which lands on every output time), like the forward suite's
fixed-step baseline. For the t group an interpolation allowance is added: an interpolated
output's time derivative is the slope of the interpolant, (y_{k+1} - y_k)/h for linear
interpolation, which is y' somewhere in the step and so off by at most h max||y''|| from
y'(t_i) (mean value theorem; exact for torchdiffeq's fixed-grid solvers, q <= 2, conservative for
higher q). dL/dt_0 moves the grid: d y_interp(t_i)/dt_0 = (1-s) f_k + s f_{k+1} - (y_{k+1} - y_k)/h
- ((1-s) S_k + s S_{k+1}) f_0 against -S(t_i) f_0 exactly, the same slope error plus an O(h^2)
interpolation error of S. Summing the entries: A_t = 2 h sum_{i>=1} ||g_i|| ||y''(t_i)||, with
y'' = f_t + f_y f at the oracle's y(t_i) (its maximum over the step is y''(t_i) to first order).

Fixed-step methods are also run with output times on their grid (GRID_LAYOUT): an output that is
a step end must still carry dL/dt_i = g_i . f(t_i, y_i).

Adjoint implementations (claims.adjoint) are also run on contracting-diag, y' = diag(-20, -1) y
over [0, 2] with the matrix as a parameter: rebuilding z(t) backward amplifies errors like
e^(20 dt) between output times, and the parameter gradient integrates a(t) z(t)^T, so a backsolve
adjoint that trusts its reconstruction fails there; the failure message names the
reconstruction error the IUT reports (stats()["reconstruction_error"]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field
from typing import Any

import numpy as np
import pytest
import torch
import torchdiffeq
from torch import nn

import reference
from harness.budget import BACKWARD_FACTOR
from harness import cost
from harness.evidence import Derivation, GradMode, Quantity, Series, SeriesKind
from harness.oracles.gradients import (
    GROUPS,
    GradientOracleResult,
    finite_difference_oracle,
    forward_sensitivity_oracle,
    project,
    sensitivity_scales,
    torchdiffeq_backprop_oracle,
)
from harness.problems import Problem, get_problem
from harness.pytest_plugin import CheckFailed, IUTError, OdeCase, ode_config

from .conftest import budget_point, budget_sweep, budget_tolerance
from .known_findings import expect_finding, finding_for

K = 10.0
LAYOUT = (0.0, 0.3137, 0.6829, 1.0)  # fractions of the span; >= 3 output times with cotangents
GRID_LAYOUT = (0.0, 0.25, 0.5, 1.0)   # output times on the grid of every fixed-step run here
FIXED_STEPS = 64                      # steps per span for fixed-step methods
SHRINK_STEPS = (8, 16, 32, 64, 128, 256)  # steps per span of the fixed-step shrink check
EPS64 = float(np.finfo(np.float64).eps)
ROUND = 64 * EPS64                    # rounding floor relative to the scale (as in the oracles)
SCALE_TOL = 1e-10                     # torchdiffeq tolerance of the sensitivity norms (size only)
CONTRACTING = "contracting-diag"
# reference fixed-step methods by order; the second is used when the IUT is the first itself
REFERENCE_OF_ORDER = {1: ("euler",), 2: ("midpoint", "heun2"), 3: ("heun3",), 4: ("rk4", "rk38")}
UNUSED = "unused_by_field"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    profile = ode_config(metafunc.config).profile
    if "grad_problem" in metafunc.fixturenames:
        metafunc.parametrize("grad_problem", profile.gradient_problems)
    if "gtol" in metafunc.fixturenames:
        metafunc.parametrize("gtol", profile.gradient_tolerances,
                             ids=[f"tol={t:g}" for t in profile.gradient_tolerances])
    if "group" in metafunc.fixturenames:
        metafunc.parametrize("group", GROUPS)


@pytest.fixture(autouse=True)
def _known_gradient_findings(request: pytest.FixtureRequest) -> None:
    """suites/known_findings.py entries for this suite: suites/conftest.py matches findings at
    collection by `problem_name`, the gradient problems are `grad_problem` here (and
    contracting-diag for the adjoint check); a finding about one gradient group lists the check
    as "test_name[group]"."""
    params = getattr(request.node, "callspec", None) and request.node.callspec.params
    case = params.get("ode_case") if params else None
    if not isinstance(case, OdeCase) or request.node.get_closest_marker("xfail") is not None:
        return
    name = request.node.originalname
    problem = CONTRACTING if name == "test_adjoint_on_contracting_problem" else params.get("grad_problem")
    # a finding about one gradient group names the check as "test_name[group]"
    prof = case.profile.name
    grouped = f"{name}[{params['group']}]" if "group" in params else None
    if grouped is not None and finding_for(case.impl.name, case.method, grouped, problem, prof) is not None:
        name = grouped
    expect_finding(request.node, case.impl.name, case.method, name, problem, prof)


# ----------------------------------------------------------------------------------------------
# Set-ups: problem, output times, cotangents, oracles and scales (computed once per run)
# ----------------------------------------------------------------------------------------------


def gradient_field(problem: Problem, dtype: torch.dtype = torch.float64, device="cpu") -> nn.Module:
    """The problem's field with its buffers turned into trainable parameters (same values)."""
    f = problem.make_field(dtype=dtype, device=device)
    for name, buf in list(f.named_buffers(recurse=False)):
        del f._buffers[name]
        f.register_parameter(name, nn.Parameter(buf.detach().clone()))
    return f


@dataclass
class Setup:
    """One gradient problem: times, start value, cotangents, the forward-sensitivity oracle and
    the scales of the thresholds (module docstring)."""

    problem: Problem
    direction: str
    t: np.ndarray
    y0: np.ndarray
    g: np.ndarray
    oracle: GradientOracleResult
    scale: dict[str, float]
    s_norms: np.ndarray      # ||S_i|| for i >= 1
    ydd_norms: np.ndarray    # ||y''(t_i)|| for every i
    extra: dict[str, Any] = dc_field(default_factory=dict)

    @property
    def span(self) -> float:
        return abs(float(self.t[-1] - self.t[0]))

    def field(self, device="cpu") -> nn.Module:
        return gradient_field(self.problem, device=device)

    @property
    def key(self) -> tuple:
        return (self.problem.name, self.direction)


_SETUPS: dict[tuple, Setup] = {}


def _times(problem: Problem, direction: str) -> np.ndarray:
    """Output times: LAYOUT forward or mirrored ("reverse"), or GRID_LAYOUT ("grid")."""
    a, b = (problem.t1, problem.t0) if direction == "reverse" else (problem.t0, problem.t1)
    return np.array([a + (b - a) * s for s in (GRID_LAYOUT if direction == "grid" else LAYOUT)])


def _scales(f: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray):
    """Norms of the sensitivities S_i, P_i and of f and y'' at the output times (torchdiffeq at
    SCALE_TOL; they only set the size of the thresholds): harness.oracles.gradients'
    `sensitivity_scales`, cached on disk with the oracles."""
    sc = sensitivity_scales(f, y0, t, g, tol=SCALE_TOL)
    return sc.scale, sc.s_norms, sc.ydd_norms


def setup_for(problem_name: str, direction: str, seed: int) -> Setup:
    key = (problem_name, direction, seed)
    if key not in _SETUPS:
        problem = get_problem(problem_name)
        t = _times(problem, direction)
        y0 = problem.y0_array  # the start value at t[0], whichever end of the span that is
        g = np.random.default_rng([seed, 7]).standard_normal((len(t), problem.dim))
        f = gradient_field(problem)
        oracle = forward_sensitivity_oracle(f, y0, t, g)
        scale, s_norms, ydd = _scales(f, y0, t, g)
        _SETUPS[key] = Setup(problem, direction, t, y0, g, oracle, scale, s_norms, ydd)
    return _SETUPS[key]


def other_oracle(setup: Setup, which: str):
    """The torchdiffeq-backprop (full) or finite-difference (directional) oracle, once per run."""
    if which not in setup.extra:
        f = setup.field()
        if which == "torchdiffeq-backprop":
            setup.extra[which] = torchdiffeq_backprop_oracle(f, setup.y0, setup.t, setup.g)
        else:
            setup.extra[which] = finite_difference_oracle(f, setup.y0, setup.t, setup.g, seed=3)
    return setup.extra[which]


# ----------------------------------------------------------------------------------------------
# The implementation's gradients
# ----------------------------------------------------------------------------------------------


@dataclass
class IUTGradient:
    grads: dict[str, np.ndarray | None]   # per group; None when any part of it was None
    missing: list[str]                     # inputs that required grad and got None
    stats: dict
    param_grads: dict[str, torch.Tensor | None]


_IUT: dict[tuple, IUTGradient] = {}


def iut_gradient(case: OdeCase, setup: Setup, *, tol: float | None, h: float | None,
                 unused_param: bool = False) -> IUTGradient:
    """dL/d(y0, params, t) from the IUT (t only when claims.t_grad), cached per setting."""
    need_t = case.claims.t_grad
    key = (case.id, setup.key, tol, h, unused_param, need_t)
    if key in _IUT:
        return _IUT[key]
    f = setup.field(case.device)
    if unused_param:
        f.register_parameter(UNUSED, nn.Parameter(torch.ones(3, dtype=torch.float64, device=case.device)))
    named = [(n, p) for n, p in f.named_parameters() if p.requires_grad]
    y0 = torch.tensor(setup.y0, dtype=torch.float64, device=case.device, requires_grad=True)
    t = torch.tensor(setup.t, dtype=torch.float64, device=case.device, requires_grad=need_t)
    kw = dict(rtol=tol, atol=tol) if tol is not None else {}
    ys = case.odeint(f, y0, t, step_size=h, **kw)
    loss = (ys * torch.tensor(setup.g, dtype=ys.dtype, device=ys.device)).sum()
    inputs = [y0, *[p for _, p in named]] + ([t] if need_t else [])
    names = ["y0", *[n for n, _ in named]] + (["t"] if need_t else [])
    if loss.requires_grad:
        try:
            raw = torch.autograd.grad(loss, inputs, allow_unused=True)
        except Exception as exc:  # noqa: BLE001 - the IUT's backward pass failed: its finding
            raise IUTError(exc) from exc
    else:
        raw = (None,) * len(inputs)
    stats = case.stats()
    missing = [n for n, r in zip(names, raw) if r is None and n != UNUSED]
    by_name = dict(zip(names, raw))
    np_ = lambda x: x.detach().to(torch.float64).cpu().numpy().reshape(-1)  # noqa: E731
    used = [n for n, _ in named if n != UNUSED]
    grads: dict[str, np.ndarray | None] = {
        "y0": None if by_name["y0"] is None else np_(by_name["y0"]),
        "params": (None if any(by_name[n] is None for n in used)
                   else (np.concatenate([np_(by_name[n]) for n in used]) if used else np.zeros(0))),
        "t": None if not need_t or by_name["t"] is None else np_(by_name["t"]),
    }
    out = IUTGradient(grads, missing, stats, {n: by_name[n] for n, _ in named})
    _IUT[key] = out
    return out


def _setting(case: OdeCase, setup: Setup, tol: float) -> tuple[float | None, float | None]:
    """(tol, h) for the IUT: the tolerance for adaptive methods (the tightest the step budget
    affords the claimed order, if `tol` is tighter: harness/budget.py), h = span/FIXED_STEPS
    otherwise."""
    if case.claims.adaptive:
        return budget_tolerance(case, setup.problem, tol, span=setup.span, factor=BACKWARD_FACTOR), None
    return None, setup.span / FIXED_STEPS


def _fixed_step_once(case: OdeCase, tol: float, problem: str) -> None:
    """Fixed steps: measured at the first gradient tolerance only. Adaptive: a tolerance the step
    budget rules out for the claimed order is skipped with the numbers (suites/conftest.py
    `budget_point`)."""
    if not case.claims.adaptive and tol != case.profile.gradient_tolerances[0]:
        pytest.skip(f"{case.id}: fixed-step method, the step size does not depend on tol; measured once")
    setup = setup_for(problem, "forward", case.config.seed)
    # the loosest point runs at the tightest affordable tolerance (`_setting`), the others skip
    budget_point(case, setup.problem, tol, case.profile.gradient_tolerances, span=setup.span,
                 factor=BACKWARD_FACTOR)


# ----------------------------------------------------------------------------------------------
# Bounds
# ----------------------------------------------------------------------------------------------


def _orders(case: OdeCase) -> tuple[int | None, int | None]:
    p = case.claims.order
    q = case.claims.dense_order if case.claims.dense_order is not None else p
    return p, q


def alpha(case: OdeCase, group: str) -> float:
    """Exponent of eps(tol) = tol^alpha for adaptive methods: min((p-1)/p, (q+1)/p), and q/p in
    place of (q+1)/p for dL/dt (module docstring)."""
    case.skip_unless(needs_order=True)
    p, q = _orders(case)
    if p < 2:
        pytest.skip(f"{case.id}: adaptive with claimed order {p}: no embedded pair to derive alpha from")
    return min((p - 1) / p, (q if group == "t" else q + 1) / p)


def fixed_order(case: OdeCase, group: str) -> int:
    """Order in h of a fixed-step gradient group: min(p, q) for values at interpolated outputs,
    and one less (at least 1) for their time derivative."""
    p, q = _orders(case)
    if group == "t":
        return max(min(p, q - 1), 1)
    return min(p, q)


_BASELINES: dict[tuple, dict[str, float]] = {}


def _baseline(case: OdeCase, setup: Setup, h: float) -> tuple[str, dict[str, float]]:
    """Gradient error of the reference fixed-step method of order min(p, q) at the same h."""
    case.skip_unless(needs_order=True)
    ro = min(_orders(case))
    if ro not in REFERENCE_OF_ORDER:
        pytest.skip(f"{case.id}: no reference fixed-step method of order {ro} to compare with")
    names = REFERENCE_OF_ORDER[ro]
    method = names[1] if case.impl.family == "reference" and case.method == names[0] and len(names) > 1 \
        else names[0]
    key = (setup.key, method, h)
    if key not in _BASELINES:
        with cost.timed("harness"):  # the reference's gradient: harness work, not the IUT's backward
            _BASELINES[key] = _reference_errors(setup, method, h)
    return method, _BASELINES[key]


def _reference_errors(setup: Setup, method: str, h: float) -> dict[str, float]:
    """||G_ref - G_oracle|| per group for the reference fixed-step `method` at step h."""
    f = setup.field()
    params = [p for p in f.parameters() if p.requires_grad]
    y0 = torch.tensor(setup.y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(setup.t, dtype=torch.float64, requires_grad=True)
    ys = reference.odeint(f, y0, t, method=method, options={"step_size": h})
    loss = (ys * torch.from_numpy(setup.g)).sum()
    gr = torch.autograd.grad(loss, [y0, t, *params], allow_unused=True, materialize_grads=True)
    got = {"y0": gr[0].numpy(), "t": gr[1].numpy(),
           "params": np.concatenate([x.reshape(-1).numpy() for x in gr[2:]]) if params else np.zeros(0)}
    return {k: float(np.linalg.norm(got[k] - setup.oracle.group(k))) for k in GROUPS}


def bound(case: OdeCase, setup: Setup, group: str, *, tol: float | None, h: float | None,
          oracle_err: float, check) -> tuple[float, str, Derivation]:
    """The threshold on ||G_iut - G_oracle|| for one group, why (module docstring), and the
    inputs it was derived from."""
    scale = setup.scale[group]
    floor = oracle_err + ROUND * scale
    if h is None:
        a = alpha(case, group)
        eps = tol ** a
        check.scalar("oracle_error", oracle_err, Quantity.GRADIENT_ERROR)
        return K * eps * scale + floor, (f"K={K:g} x tol^{a:.3g} x scale {scale:.3g} (claimed order "
                                         f"{case.claims.order}, dense order {case.claims.dense_order}) "
                                         "+ oracle error + rounding"), Derivation(
            order=case.claims.order, tolerance=tol, exponent=a, eps=eps, safety_factor=K, scale=scale,
            oracle_error=oracle_err, floor=floor)
    method, base = _baseline(case, setup, h)
    allowance = 0.0
    if group == "t":
        gn = np.linalg.norm(setup.g, axis=1)
        allowance = 2 * h * float(np.sum(gn[1:] * setup.ydd_norms[1:]))
    check.scalars(Quantity.GRADIENT_ERROR, baseline_error=base[group], interpolation_allowance=allowance,
                  oracle_error=oracle_err)
    return (K * base[group] + allowance + floor,
            f"K={K:g} x reference {method} gradient error at h={h:.3g}"
            + (" + h max|y''| interpolation allowance" if group == "t" else "") + " + oracle error + rounding",
            Derivation(order=min(_orders(case)), step_size=h, safety_factor=K, baseline=base[group],
                       baseline_method=method, scale=scale, oracle_error=oracle_err, floor=floor + allowance))


def _record_setup(case: OdeCase, setup: Setup, check, *, tol: float | None, h: float | None,
                  group: str | None = None, oracle: str | None = None) -> None:
    """The problem (with its span and direction) and the reproducer inputs of a gradient check:
    the loss is sum(g * y) over the outputs at setup.t."""
    check.describe(problem=setup.problem, span=(float(setup.t[0]), float(setup.t[-1])),
                   reverse_time=bool(setup.t[-1] < setup.t[0]), label=setup.problem.name, dtype=torch.float64)
    check.inputs(case.repro_inputs(setup.problem, setup.t, tol=tol, step_size=h, y0=setup.y0,
                                   grad=GradMode.ADJOINT if case.claims.adjoint else GradMode.BACKPROP,
                                   loss_weights=setup.g))
    if group is not None:
        check.gradient(group, oracle)


def _need(case: OdeCase, group: str) -> None:
    case.skip_unless(needs_gradients=True, needs_t_grad=group == "t")


def _error(case: OdeCase, got: IUTGradient, setup: Setup, group: str, check) -> float:
    if got.grads[group] is None:
        check.note(missing=got.missing)
        check.scalar("missing_gradients", len(got.missing), Quantity.COUNT)
        check.expect(False, f"{case.id}: the gradient with respect to {group} is missing (None) "
                            f"although the input requires grad: {got.missing}")
    ref = setup.oracle.group(group)
    if ref.size == 0:
        pytest.skip(f"{setup.problem.name}: the field has no trainable parameters")
    return float(np.linalg.norm(got.grads[group] - ref))


def _against_forward_sensitivities(case: OdeCase, grad_problem: str, gtol: float, group: str,
                                   check, direction: str = "forward") -> None:
    _need(case, group)
    setup = setup_for(grad_problem, direction, case.config.seed)
    check.describe(problem=grad_problem, dtype=torch.float64)
    tol, h = _setting(case, setup, gtol)
    _record_setup(case, setup, check, tol=tol, h=h, group=group, oracle="forward sensitivities")
    got = iut_gradient(case, setup, tol=tol, h=h)
    err = _error(case, got, setup, group, check)
    b, why, deriv = bound(case, setup, group, tol=tol, h=h, oracle_err=setup.oracle.error_estimate[group],
                          check=check)
    check.solver_stats(got.stats)
    check.note(direction=direction)
    check.scalar("relative_error", err / max(float(np.linalg.norm(setup.oracle.group(group))), 1e-300),
                 Quantity.GRADIENT_ERROR)
    check.expect_le(f"grad_{group}_error", err, b, why, kind=Quantity.GRADIENT_ERROR, derivation=deriv)


# ----------------------------------------------------------------------------------------------
# 1-3: against forward sensitivities, at every gradient tolerance of the profile
# ----------------------------------------------------------------------------------------------


def test_grad_y0_vs_forward_sensitivity(ode_case, grad_problem, gtol, check):
    """dL/dy0 agrees with the forward-sensitivity oracle within the module's bound (adaptive:
    K tol^alpha scale; fixed steps: K x the same-order reference's error at the same h) plus the
    oracle's error estimate."""
    _fixed_step_once(ode_case, gtol, grad_problem)
    _against_forward_sensitivities(ode_case, grad_problem, gtol, "y0", check)


def test_grad_params_vs_forward_sensitivity(ode_case, grad_problem, gtol, check):
    """dL/dtheta agrees with the forward-sensitivity oracle within the module's bound (adaptive:
    K tol^alpha scale; fixed steps: K x the same-order reference's error at the same h) plus the
    oracle's error estimate."""
    _fixed_step_once(ode_case, gtol, grad_problem)
    _against_forward_sensitivities(ode_case, grad_problem, gtol, "params", check)


def test_grad_t_vs_forward_sensitivity(ode_case, grad_problem, gtol, check):
    """dL/dt (every output time, t_0 included) agrees with g_i . f(t_i, y_i) and
    -(sum S_i^T g_i) . f(t_0, y_0) from the forward sensitivities, within the module's bound
    (adaptive: K tol^alpha_t scale; fixed steps: K x the reference's error + the interpolation
    allowance A_t) plus the oracle's error estimate."""
    _fixed_step_once(ode_case, gtol, grad_problem)
    _against_forward_sensitivities(ode_case, grad_problem, gtol, "t", check)


# ----------------------------------------------------------------------------------------------
# 4: against the two other oracles (independent routes), at the tightest gradient tolerance
# ----------------------------------------------------------------------------------------------


def test_agrees_with_torchdiffeq_backprop(ode_case, grad_problem, group, check):
    """The gradient group agrees with backprop through torchdiffeq dopri5 at 1e-12 (output times
    as step ends), within the same bound as against forward sensitivities, that oracle's error
    estimate in place of theirs."""
    _need(ode_case, group)
    setup = setup_for(grad_problem, "forward", ode_case.config.seed)
    check.describe(problem=grad_problem, dtype=torch.float64)
    tol, h = _setting(ode_case, setup, min(ode_case.profile.gradient_tolerances))
    _record_setup(ode_case, setup, check, tol=tol, h=h, group=group)
    got = iut_gradient(ode_case, setup, tol=tol, h=h)
    _error(ode_case, got, setup, group, check)  # missing / no parameters
    td = other_oracle(setup, "torchdiffeq-backprop")
    err = float(np.linalg.norm(got.grads[group] - td.group(group)))
    b, why, deriv = bound(ode_case, setup, group, tol=tol, h=h, oracle_err=td.error_estimate[group], check=check)
    check.oracle(td.method)
    check.expect_le(f"grad_{group}_error_vs_torchdiffeq", err, b, why, kind=Quantity.GRADIENT_ERROR, derivation=deriv)


def test_agrees_with_finite_differences(ode_case, grad_problem, group, check):
    """Directional derivatives of the gradient group (two seeded unit directions for y0 and for the
    parameters, every t_i) agree with Richardson finite differences of scipy DOP853 solves at 1e-13:
    |(G_iut - G) . v| <= ||G_iut - G|| for unit v, so the same bound applies, plus the finite
    differences' own error estimate."""
    _need(ode_case, group)
    setup = setup_for(grad_problem, "forward", ode_case.config.seed)
    check.describe(problem=grad_problem, dtype=torch.float64)
    tol, h = _setting(ode_case, setup, min(ode_case.profile.gradient_tolerances))
    _record_setup(ode_case, setup, check, tol=tol, h=h, group=group)
    got = iut_gradient(ode_case, setup, tol=tol, h=h)
    _error(ode_case, got, setup, group, check)
    fd = other_oracle(setup, "finite-differences")
    f = setup.field()
    shapes = [tuple(p.shape) for p in f.parameters() if p.requires_grad]
    # only `group` is compared (checked present above); absent other groups are zero-filled
    gp = got.grads["params"] if got.grads["params"] is not None else np.zeros(setup.oracle.flat_params.size)
    parts, k = [], 0
    for s in shapes:
        n = int(np.prod(s))
        parts.append(gp[k:k + n].reshape(s))
        k += n
    full = GradientOracleResult(
        got.grads["y0"] if got.grads["y0"] is not None else np.zeros(len(setup.y0)), parts,
        got.grads["t"] if got.grads["t"] is not None else np.zeros(len(setup.t)),
        {g: 0.0 for g in GROUPS}, "iut")
    mine = project(full, fd)
    err = float(np.max(np.abs(mine.group(group) - fd.group(group))))
    b, why, deriv = bound(ode_case, setup, group, tol=tol, h=h, oracle_err=fd.error_estimate[group], check=check)
    check.oracle(fd.method)
    check.scalar("directions", len(fd.group(group)), Quantity.COUNT)
    check.expect_le(f"grad_{group}_directional_error_vs_fd", err, b, why, kind=Quantity.GRADIENT_ERROR,
                    derivation=deriv)


# ----------------------------------------------------------------------------------------------
# 5: reverse time
# ----------------------------------------------------------------------------------------------


def test_reverse_time(ode_case, grad_problem, group, check):
    """With decreasing output times (t1 back to t0, same layout mirrored), the gradient group
    agrees with the forward-sensitivity oracle within the same bound, at the tightest tolerance."""
    ode_case.skip_unless(needs_reverse_time=True)
    problem = get_problem(grad_problem)
    if "contracting" in problem.tags:
        pytest.skip(f"{grad_problem}: contracting, so integrating it backward amplifies errors like "
                    "e^(20 t); reverse time is measured on the other gradient problems")
    _against_forward_sensitivities(ode_case, grad_problem, min(ode_case.profile.gradient_tolerances),
                                   group, check, direction="reverse")


def test_grad_t_at_grid_output_times(ode_case, grad_problem, check):
    """Fixed-step methods with output times on their grid (t0 + span * (0, 1/4, 1/2, 1), the ends
    of steps 16, 32 and 64 of h = span/64): dL/dt agrees with the forward sensitivities within the
    same bound as between grid points. An output time that is a step end moves y(t_i) along the
    flow like any other: dL/dt_i = g_i . f(t_i, y_i), one-sided slopes of an interpolant included;
    a zero there is an O(1) error."""
    ode_case.skip_unless(needs_t_grad=True, needs_adaptive=False)
    _against_forward_sensitivities(ode_case, grad_problem, ode_case.profile.gradient_tolerances[0], "t",
                                   check, direction="grid")


# ----------------------------------------------------------------------------------------------
# 6, 7: unused parameters, missing gradients
# ----------------------------------------------------------------------------------------------


def test_unused_parameter_gets_zero_gradient(ode_case, grad_problem, check):
    """An nn.Parameter registered on the field but never used by it gets a gradient that is
    exactly zero. None -- autograd's answer, under allow_unused=True, for an input the loss does
    not reach -- counts as zero: it is the correct answer of a backprop IUT; an adjoint IUT that
    passes every parameter to its backward solve returns a tensor, which must then be all zeros
    (the parameter enters no computation, so no rounding can make it nonzero)."""
    ode_case.skip_unless(needs_gradients=True)
    setup = setup_for(grad_problem, "forward", ode_case.config.seed)
    check.describe(problem=grad_problem, dtype=torch.float64)
    tol, h = _setting(ode_case, setup, max(ode_case.profile.gradient_tolerances))[0], setup.span / 16
    _record_setup(ode_case, setup, check, tol=tol if ode_case.claims.adaptive else None,
                  h=None if ode_case.claims.adaptive else h, group="params")
    got = iut_gradient(ode_case, setup, tol=tol if ode_case.claims.adaptive else None,
                       h=None if ode_case.claims.adaptive else h, unused_param=True)
    gu = got.param_grads[UNUSED]
    value = 0.0 if gu is None else float(gu.detach().abs().max())
    check.note(returned="None" if gu is None else "tensor")
    check.oracle("exact zero")
    check.expect_le("unused_parameter_grad_max_abs", value, 0.0,
                    "the parameter does not enter the field: its gradient is exactly zero (None counts as zero)",
                    kind=Quantity.GRADIENT_ERROR)


def test_missing_gradient_is_failure(ode_case, grad_problem, check):
    """Every input that requires grad and that the loss depends on -- y0, every parameter the
    field uses, and t when t-gradients are claimed -- gets a gradient: torch.autograd.grad with
    allow_unused=True returns a tensor, not None, for each."""
    ode_case.skip_unless(needs_gradients=True)
    setup = setup_for(grad_problem, "forward", ode_case.config.seed)
    check.describe(problem=grad_problem, dtype=torch.float64)
    tol, h = _setting(ode_case, setup, max(ode_case.profile.gradient_tolerances))
    _record_setup(ode_case, setup, check, tol=tol, h=h)
    got = iut_gradient(ode_case, setup, tol=tol, h=h)
    check.note(inputs=["y0", *got.param_grads] + (["t"] if ode_case.claims.t_grad else []), missing=got.missing)
    check.expect_le("missing_gradients", len(got.missing), 0,
                    "a None gradient for an input that requires grad and is used is a dropped gradient path",
                    kind=Quantity.COUNT)


# ----------------------------------------------------------------------------------------------
# 8: the gradient error shrinks with the tolerance
# ----------------------------------------------------------------------------------------------


def test_error_shrinks_with_tolerance(ode_case, grad_problem, group, check):
    """The gradient error shrinks with the tolerance by a derived factor: over a sweep from the
    loosest to the tightest gradient tolerance of the profile in half-decade steps (fixed steps:
    8 to 256 steps per span, doubling), the error at the tightest setting is at most
    max(errors over the sweep) / F, F = R / 10, where R = (tol ratio)^alpha (fixed steps:
    (step ratio)^order, the order of fixed_order) is the predicted shrink.
    Why the maximum over the sweep and the 10: the error at one setting scatters by up to ~10x
    around its trend, by where the output times happen to sit in their steps (measured: over 12
    seeded layouts at one tolerance the largest error was up to 10x the median; reference dopri5
    on mlp-softplus-t shrank only 8.9x from 1e-6 to 1e-9 because its error at 1e-6 was 100x below
    tol scale), and at loose tolerances the steps are set by the output times and the initial
    step rather than by tol, so the error may even grow there (mlp-tanh: 2.4e-6, 6.5e-6, 1.0e-5 at
    1e-6, 3e-7, 1e-7). The maximum is the level the method reaches before it converges; one decade
    is left for the tightest setting being unlucky. A gradient error that does not shrink -- a bias
    no tolerance removes -- fails. Errors within 10x of the oracle's resolution measure the oracle:
    the bound is never below that. Skipped, visibly, where the sweep is too short (F < 2)."""
    _need(ode_case, group)
    setup = setup_for(grad_problem, "forward", ode_case.config.seed)
    check.describe(problem=grad_problem, dtype=torch.float64)
    _record_setup(ode_case, setup, check, tol=None, h=None, group=group, oracle="forward sensitivities")
    if ode_case.claims.adaptive:
        tols = ode_case.profile.gradient_tolerances
        a = alpha(ode_case, group)
        lo, hi = min(tols), max(tols)
        n = int(round(2 * math.log10(hi / lo))) + 1
        xs = budget_sweep(ode_case, setup.problem, np.geomspace(hi, lo, max(n, 2)), span=setup.span,
                          factor=BACKWARD_FACTOR)
        hi, lo = xs[0], xs[-1]
        runs = [iut_gradient(ode_case, setup, tol=x, h=None) for x in xs]
        R = (hi / lo) ** a
        x_label, kind = "tolerance", SeriesKind.GRADIENT_TOLERANCE
    else:
        ode_case.skip_unless(needs_order=True)
        a = fixed_order(ode_case, group)
        xs = [setup.span / n for n in SHRINK_STEPS]
        runs = [iut_gradient(ode_case, setup, tol=None, h=x) for x in xs]
        R = (SHRINK_STEPS[-1] / SHRINK_STEPS[0]) ** a
        x_label, kind = "step size h", SeriesKind.GRADIENT_CONVERGENCE
    F = R / 10
    if F < 2:
        pytest.skip(f"{ode_case.id}: predicted shrink {R:.3g} over the sweep leaves less than 2x beyond "
                    "the 10x scatter of a single error")
    errors = [_error(ode_case, r, setup, group, check) for r in runs]
    resolution = setup.oracle.error_estimate[group] + ROUND * setup.scale[group]
    E = max(errors)
    check.series(Series(kind=kind, x=xs, y=errors, x_label=x_label,
                        y_label=f"error of dL/d{group}", label=f"{grad_problem} dL/d{group}"))
    check.scalar("resolution", resolution, Quantity.GRADIENT_ERROR)
    check.scalars(Quantity.RATIO, predicted_factor=R, required_factor=F,
                  observed_factor=E / errors[-1] if errors[-1] > 0 else float("inf"))
    check.expect_le(f"grad_{group}_error_tightest", errors[-1], max(E / F, 10 * resolution),
                    f"the sweep's largest error / (predicted shrink {R:.3g} / 10), or 10x the oracle's "
                    "resolution", kind=Quantity.GRADIENT_ERROR,
                    derivation=Derivation(exponent=a, safety_factor=10.0, baseline=E,
                                          oracle_error=setup.oracle.error_estimate[group]))


# ----------------------------------------------------------------------------------------------
# 9: adjoints on the contracting problem
# ----------------------------------------------------------------------------------------------


def test_adjoint_on_contracting_problem(ode_case, gtol, check):
    """Adjoint IUTs on contracting-diag (diag(-20, -1), its span [0, 2], the matrix a parameter):
    every gradient group within its bound against forward sensitivities (the largest ratio of error
    to bound is at most 1). On failure the message names the reconstruction error of z the IUT
    reports; it is recorded in any case."""
    ode_case.skip_unless(needs_adjoint=True)
    _fixed_step_once(ode_case, gtol, CONTRACTING)
    setup = setup_for(CONTRACTING, "forward", ode_case.config.seed)
    check.describe(problem=CONTRACTING, dtype=torch.float64)
    tol, h = _setting(ode_case, setup, gtol)
    _record_setup(ode_case, setup, check, tol=tol, h=h, oracle="forward sensitivities")
    got = iut_gradient(ode_case, setup, tol=tol, h=h)
    recon = got.stats.get("reconstruction_error")
    check.solver_stats(got.stats)
    groups = [g for g in GROUPS if g != "t" or ode_case.claims.t_grad]
    ratios = {}
    for grp in groups:
        err = _error(ode_case, got, setup, grp, check)
        b, _, _ = bound(ode_case, setup, grp, tol=tol, h=h, oracle_err=setup.oracle.error_estimate[grp], check=check)
        check.scalar(f"grad_{grp}_error", err, Quantity.GRADIENT_ERROR)
        check.scalar(f"grad_{grp}_bound", b, Quantity.GRADIENT_ERROR)
        ratios[grp] = err / b
    worst = max(ratios, key=ratios.get)
    try:
        check.expect_le("max_error_over_bound", ratios[worst], 1.0,
                        f"each group's error within its bound (worst: {worst}); bound K x tol^alpha x scale",
                        kind=Quantity.RATIO, derivation=Derivation(tolerance=tol, step_size=h, safety_factor=K))
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}; reconstruction error of z reported by the IUT: "
                          + (f"{recon:.3g}" if recon is not None else "not exposed")) from None
