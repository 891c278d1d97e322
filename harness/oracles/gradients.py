"""Gradient oracles: three independent ways to get the gradient of L = sum_i g_i . y(t_i).

The loss is the one every gradient test of the harness uses: y(t) solves y' = f(t, y),
y(t_0) = y0 for a torch vector field `field(t, y)` (an `nn.Module`, float64) whose trainable
parameters are theta; t = (t_0, ..., t_{n-1}) is strictly monotone in either direction and g is
an (n, dim) array of cotangents. Gradients are wanted with respect to y0, theta and every t_i.

The three oracles
-----------------
* `forward_sensitivity_oracle`: the variational (forward sensitivity) equations
  S_y0' = J_y S_y0, S_y0(t_0) = I and S_th' = J_y S_th + J_th, S_th(t_0) = 0, with
  J_y = df/dy and J_th = df/dtheta evaluated by torch autograd from the torch field (float64,
  reverse mode, one pass per row of the Jacobian, batched with `is_grads_batched`), integrated
  together with y by scipy's DOP853 (`solve_ivp`) at tight tolerance. Derivation: differentiate
  y' = f(t, y(t; y0, theta), theta) with respect to y0 and theta and swap the order of
  differentiation (Hairer, Norsett, Wanner, Solving Ordinary Differential Equations I, 2nd ed.,
  sec. I.14, derivatives with respect to initial values and parameters). Then
      dL/dy0    = sum_i S_y0(t_i)^T g_i            (S_y0(t_0) = I, so g_0 enters as itself)
      dL/dtheta = sum_i S_th(t_i)^T g_i
      dL/dt_i   = g_i . f(t_i, y(t_i))             for i >= 1 (y(t_i) moves with its end time)
      dL/dt_0   = -(sum_{i>=1} S_y0(t_i)^T g_i) . f(t_0, y0).
  The last line: the flow map satisfies Phi(t; t_0, y0) = Phi(t; t_0 + s, Phi(t_0 + s; t_0, y0)),
  and differentiating at s = 0 gives 0 = dPhi/dt_0 + dPhi/dy0 . f(t_0, y0), i.e.
  dPhi/dt_0 = -S_y0 f(t_0, y0). y(t_0) = y0 does not depend on t_0, so g_0 does not contribute.
  Each output time is reached as a step end (one `solve_ivp` per interval, restarted from the
  previous end), never by dense-output interpolation, for the reason given in
  `harness.oracles.forward`.
* `torchdiffeq_backprop_oracle`: `torch.autograd` through `torchdiffeq.odeint` (float64, dopri5 by
  default) at tight tolerance, i.e. the exact derivative of the discrete solver -- including
  dL/dt, which autograd takes through the step times and the interpolant, not from the formula
  above (torchdiffeq: R.T.Q. Chen et al., "Neural Ordinary Differential Equations", NeurIPS
  2018). It converges to the exact gradient as the tolerance goes to zero. By default the output
  times are made step ends (torchdiffeq's `step_t` option; see the function's docstring).
* `finite_difference_oracle`: Richardson-extrapolated central differences
  (`harness.oracles.finite_differences.directional_derivative`) of L evaluated by scipy DOP853 at
  rtol = atol = 1e-13. Finite differences give directional derivatives, so this oracle reports
  dL/dy0 . v and dL/dtheta . w along a few seeded unit directions (2 each by default: the cost
  must not grow with the number of parameters) and dL/dt_i along every unit vector e_i.

Comparing them
--------------
The first two return a `GradientOracleResult` (full gradients); the third a
`DirectionalDerivatives`. `project(result, v_y0, v_params)` turns a full gradient into the
directional derivatives along the same directions, so every pair can be compared by `compare`.

Disagreements are measured relative to the 2-norm of the gradient group (y0, params or t), not
entry by entry: an individual entry or directional derivative can be arbitrarily close to zero
by cancellation, while its absolute error is governed by the size of the whole group (for a unit
direction v, |(G - G') . v| <= ||G - G'||), so "relative to the group norm" is the scale on which
an oracle's accuracy is meaningful.

Error estimates
---------------
Every oracle reports `error_estimate[group]`, an absolute estimate of its error for that group
(2-norm of the gradient's error for full gradients, the largest entry's error for directional
derivatives). `compare` refuses to call a check passed when the oracles' error estimates add up
to more than the bound being checked: no check is tighter than its oracles are accurate.

* ODE-based oracles (forward sensitivities, torchdiffeq backprop): the computation is repeated at
  100x looser rtol and atol, and the estimate is the norm of the difference of the two
  gradients. Why this is conservative: with tolerance proportionality the global error is
  about C tol^q, q between p/(p+1) and 1 for error-per-step control with an error estimator of
  order p (the argument of `harness.oracles.forward`), so the loose solve's error is
  100^q >= 100^(4/5) ~ 40 times the tight one's for dopri5 (p = 4; ~56x for DOP853, p = 7), and
  |loose - tight| >= (40 - 1) |tight error|. The estimate therefore overstates the tight solve's
  error by more than an order of magnitude, which leaves room for proportionality holding only
  roughly. A floor of 64 eps times the group norm accounts for rounding, which both solves
  share. The argument needs the tolerance to set the step sizes: where the steps are forced
  instead (by output times close together, the initial step heuristic, a step limit -- e.g.
  dopri5 at 1e-5 and at 1e-3 took the identical 26 evaluations on mlp-tanh-t over [0, 1]) both
  solves coincide and their difference is no estimate at all. So when the looser solve is not
  cheaper (fewer field evaluations) the estimate is infinite, and any check against it fails as
  "tighter than the oracle". An error common to both solves (a wrong Jacobian, a wrong field) is
  invisible to it; that is what comparing three independent oracles is for.
* Finite differences: `directional_derivative`'s own estimate, |R(h) - R(h/2)| of two Richardson
  extrapolations plus the propagated noise of the loss values (see that module), after step
  selection (the step moves by factors of 4 towards the balance of truncation and noise while the
  estimate improves; `_fd_step_selected`).

Measured (tests/test_gradient_oracles.py: 6 library problems incl. two t-dependent neural fields,
one in reverse time; four output times over spans <= 1.5; tight tolerance 1e-12): pairwise
disagreements 1e-14 .. 9e-10 relative to the group norms; error estimates relative to them
forward sensitivities <= 9e-11, torchdiffeq <= 3e-9, finite differences <= 3e-8. Directional
checks see an error d of a full gradient only through d . v: for a random unit v among P
parameters that is about ||d|| / sqrt(P), so with many parameters the finite-difference check is
a weak detector of small parameter-gradient errors and the full-gradient pair is the sharp one.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Sequence

import numpy as np
import torch
import torchdiffeq
from scipy.integrate import solve_ivp
from torch import nn

from harness.cost import timed_function
from harness.oracles.finite_differences import FDResult, directional_derivative, scipy_solution
from harness.oracles.gradient_cache import cached_oracle

__all__ = ["GradientOracleResult", "DirectionalDerivatives", "SensitivityScales", "GROUPS",
           "forward_sensitivity_oracle", "sensitivity_scales",
           "torchdiffeq_backprop_oracle", "finite_difference_oracle", "project",
           "random_directions", "group_norms", "disagreement", "compare"]

GROUPS = ("y0", "params", "t")
_EPS = float(np.finfo(np.float64).eps)
_ROUNDING_FLOOR = 64 * _EPS  # relative to the group norm, see the module docstring


# ----------------------------------------------------------------------------------------------
# Result types
# ----------------------------------------------------------------------------------------------


@dataclass
class GradientOracleResult:
    """Full gradient of L = sum_i g_i . y(t_i).

    grad_y0: (dim,); grad_params: one array per trainable parameter of the field, in
    `named_parameters()` order, each of that parameter's shape; grad_t: (len(t),).
    error_estimate: per group ("y0", "params", "t"), an absolute estimate of the 2-norm of the
    error. method: which oracle; settings: tolerances, costs and the like."""

    grad_y0: np.ndarray
    grad_params: list[np.ndarray]
    grad_t: np.ndarray
    error_estimate: dict[str, float]
    method: str
    settings: dict = dc_field(default_factory=dict)

    @property
    def flat_params(self) -> np.ndarray:
        if not self.grad_params:
            return np.zeros(0)
        return np.concatenate([np.ravel(p) for p in self.grad_params])

    def group(self, name: str) -> np.ndarray:
        return {"y0": self.grad_y0, "params": self.flat_params, "t": self.grad_t}[name]


@dataclass
class DirectionalDerivatives:
    """Directional derivatives of L: y0[j] = dL/dy0 . v_y0[j], params[k] = dL/dtheta . v_params[k],
    t[i] = dL/dt_i. error_estimate: per group, an absolute estimate of the largest entry's error."""

    y0: np.ndarray
    params: np.ndarray
    t: np.ndarray
    error_estimate: dict[str, float]
    method: str
    settings: dict = dc_field(default_factory=dict)

    def group(self, name: str) -> np.ndarray:
        return {"y0": self.y0, "params": self.params, "t": self.t}[name]


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _trainable(field: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in field.named_parameters() if p.requires_grad]


def _check_inputs(field: nn.Module, y0, t, g) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y0, t, g = (np.array(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x,
                         dtype=np.float64) for x in (y0, t, g))
    y0, t = y0.reshape(-1), t.reshape(-1)
    if g.shape != (len(t), len(y0)):
        raise ValueError(f"cotangents g must have shape (len(t), dim) = {(len(t), len(y0))}, "
                         f"got {g.shape}")
    if len(t) > 1:
        d = np.diff(t)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError("t must be strictly monotone (increasing or decreasing)")
    for n, p in field.named_parameters():
        if p.dtype != torch.float64:
            raise TypeError(f"gradient oracles need a float64 field; parameter {n!r} is {p.dtype}")
    return y0, t, g


def _field_value(field: nn.Module, t: float, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return field(torch.tensor(t, dtype=torch.float64), torch.from_numpy(np.array(y))).numpy()


def _errors(tight: "GradientOracleResult", loose: "GradientOracleResult", cost_tight: int,
            cost_loose: int) -> dict[str, float]:
    """Per-group error estimate |tight - loose| (+ rounding floor); infinite when the looser
    tolerance did not make the solve any cheaper: then both took the same steps (forced by the
    output times, the initial step heuristic or a step limit rather than by the tolerance) and
    their difference says nothing about the error."""
    if cost_loose >= cost_tight:
        return {name: float("inf") for name in GROUPS}
    out = {}
    for name in GROUPS:
        a, b = tight.group(name), loose.group(name)
        out[name] = float(np.linalg.norm(a - b)) + _ROUNDING_FLOOR * float(np.linalg.norm(a))
    return out


# ----------------------------------------------------------------------------------------------
# Oracle 1: forward sensitivities
# ----------------------------------------------------------------------------------------------


def _forward_sensitivity(field: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray,
                         rtol: float, atol: float) -> GradientOracleResult:
    dim = len(y0)
    named = _trainable(field)
    shapes = [tuple(p.shape) for _, p in named]
    sizes = [int(np.prod(s)) for s in shapes]
    n_par = sum(sizes)
    params = [p for _, p in named]
    batched = [True]

    def jacobian(s: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f(s, y) and the rows of [J_y | J_theta] (dim x (dim + n_par)), one reverse pass per
        row (batched through vmap where the field's operations allow it, else a loop)."""
        y = y.clone().requires_grad_(True)
        with torch.enable_grad():
            f = field(s, y)
            if f.shape != (dim,):
                raise ValueError(f"field returned shape {tuple(f.shape)}, expected {(dim,)}")
            if not f.requires_grad:  # f depends on neither y nor theta
                return f.detach(), torch.zeros(dim, dim + n_par, dtype=f.dtype)
            if batched[0]:
                try:
                    rows = torch.autograd.grad(f, [y, *params],
                                               grad_outputs=torch.eye(dim, dtype=f.dtype),
                                               is_grads_batched=True, allow_unused=True,
                                               materialize_grads=True, retain_graph=True)
                    J = torch.cat([r.reshape(dim, -1) for r in rows], dim=1)
                    return f.detach(), J
                except RuntimeError:
                    batched[0] = False
            J = torch.stack([torch.cat([r.reshape(-1) for r in torch.autograd.grad(
                f[k], [y, *params], allow_unused=True, materialize_grads=True, retain_graph=True)])
                for k in range(dim)])
        return f.detach(), J

    def rhs(s: float, z: np.ndarray) -> np.ndarray:
        f, J = jacobian(torch.tensor(s, dtype=torch.float64), torch.from_numpy(z[:dim].copy()))
        J = J.numpy()
        J_y, J_th = J[:, :dim], J[:, dim:]
        S_y0 = z[dim:dim + dim * dim].reshape(dim, dim)
        out = [f.numpy(), (J_y @ S_y0).ravel()]
        if n_par:
            S_th = z[dim + dim * dim:].reshape(dim, n_par)
            out.append((J_y @ S_th + J_th).ravel())
        return np.concatenate(out)

    z = np.concatenate([y0, np.eye(dim).ravel(), np.zeros(dim * n_par)])
    grad_y0 = g[0].copy()
    grad_th = np.zeros(n_par)
    nfev, steps = 0, 0
    ys = [y0.copy()]
    for i in range(1, len(t)):
        sol = solve_ivp(rhs, (t[i - 1], t[i]), z, method="DOP853", rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"forward sensitivities: scipy DOP853 failed: {sol.message}")
        nfev += int(sol.nfev)
        steps += sol.t.size - 1
        z = sol.y[:, -1]
        ys.append(z[:dim].copy())
        S_y0 = z[dim:dim + dim * dim].reshape(dim, dim)
        grad_y0 += S_y0.T @ g[i]
        if n_par:
            grad_th += z[dim + dim * dim:].reshape(dim, n_par).T @ g[i]

    grad_t = np.zeros(len(t))
    for i in range(1, len(t)):
        grad_t[i] = g[i] @ _field_value(field, t[i], ys[i])
    if len(t) > 1:
        grad_t[0] = -(grad_y0 - g[0]) @ _field_value(field, t[0], y0)

    grad_params, k = [], 0
    for shape, size in zip(shapes, sizes):
        grad_params.append(grad_th[k:k + size].reshape(shape))
        k += size
    return GradientOracleResult(
        grad_y0=grad_y0, grad_params=grad_params, grad_t=grad_t, error_estimate={},
        method="forward-sensitivity",
        settings=dict(rtol=rtol, atol=atol, solver="scipy DOP853", nfev=nfev, steps=steps,
                      augmented_dim=dim * (1 + dim + n_par)))


@timed_function("oracle")
def forward_sensitivity_oracle(field: nn.Module, y0, t, g, rtol: float = 1e-12, atol: float = 1e-12,
                               loose_factor: float = 100.0, use_cache: bool = True) -> GradientOracleResult:
    """Gradient of L = sum_i g_i . y(t_i) from the forward sensitivity equations (module docstring),
    solved by scipy DOP853 at (rtol, atol); error estimate from a second solve at
    (loose_factor * rtol, loose_factor * atol). Works for parameter-free fields (grad_params is
    then empty) and for decreasing t. `field` must be float64; it is not modified. Cached on disk
    (harness.oracles.gradient_cache) unless use_cache is False."""
    y0, t, g = _check_inputs(field, y0, t, g)
    return cached_oracle("forward-sensitivity",
                         lambda: _forward_sensitivity_oracle(field, y0, t, g, rtol, atol, loose_factor),
                         field, dict(y0=y0, t=t, g=g, rtol=rtol, atol=atol, loose_factor=loose_factor),
                         GradientOracleResult, use_cache)


def _forward_sensitivity_oracle(field: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray,
                                rtol: float, atol: float, loose_factor: float) -> GradientOracleResult:
    if len(t) == 1:  # y(t_0) = y0: nothing to integrate, the gradient is exact
        zeros = [np.zeros(tuple(p.shape)) for _, p in _trainable(field)]
        return GradientOracleResult(g[0].copy(), zeros, np.zeros(1), {k: 0.0 for k in GROUPS},
                                    "forward-sensitivity", dict(rtol=rtol, atol=atol, nfev=0))
    tight = _forward_sensitivity(field, y0, t, g, rtol, atol)
    loose = _forward_sensitivity(field, y0, t, g, loose_factor * rtol, loose_factor * atol)
    tight.error_estimate = _errors(tight, loose, tight.settings["nfev"], loose.settings["nfev"])
    tight.settings.update(loose_factor=loose_factor, loose_nfev=loose.settings["nfev"])
    return tight


# ----------------------------------------------------------------------------------------------
# Oracle 2: backprop through torchdiffeq
# ----------------------------------------------------------------------------------------------


def _is_adaptive_rk(method: str) -> bool:
    from torchdiffeq._impl.odeint import SOLVERS
    from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver
    cls = SOLVERS.get(method)
    return isinstance(cls, type) and issubclass(cls, RKAdaptiveStepsizeODESolver)


def _torchdiffeq_backprop(field: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray,
                          rtol: float, atol: float, method: str, options: dict | None,
                          hit_output_times: bool) -> GradientOracleResult:
    named = _trainable(field)
    params = [p for _, p in named]
    y0_t = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
    t_t = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    nfe = [0]

    def counted(s, y):
        nfe[0] += 1
        return field(s, y)

    options = dict(options or {})
    if hit_output_times and "step_t" not in options and _is_adaptive_rk(method):
        options["step_t"] = torch.tensor(t, dtype=torch.float64)  # detached: no gradient path
    ys = torchdiffeq.odeint(counted, y0_t, t_t, rtol=rtol, atol=atol, method=method,
                            options=options)
    loss = (ys * torch.from_numpy(g)).sum()
    grads = torch.autograd.grad(loss, [y0_t, t_t, *params], allow_unused=True,
                                materialize_grads=True)
    return GradientOracleResult(
        grad_y0=grads[0].numpy().copy(), grad_params=[x.detach().numpy().copy() for x in grads[2:]],
        grad_t=grads[1].numpy().copy(), error_estimate={}, method=f"torchdiffeq-backprop-{method}",
        settings=dict(rtol=rtol, atol=atol, method=method, nfe=nfe[0],
                      hit_output_times="step_t" in options,
                      options={k: v for k, v in options.items() if k != "step_t"},
                      torchdiffeq=torchdiffeq.__version__))


@timed_function("oracle")
def torchdiffeq_backprop_oracle(field: nn.Module, y0, t, g, rtol: float = 1e-12,
                                atol: float = 1e-12, method: str = "dopri5",
                                options: dict | None = None, hit_output_times: bool = True,
                                loose_factor: float = 100.0, use_cache: bool = True) -> GradientOracleResult:
    """Gradient of L = sum_i g_i . y(t_i) by torch.autograd through `torchdiffeq.odeint`
    (float64) at (rtol, atol); error estimate from a second solve at
    (loose_factor * rtol, loose_factor * atol). All gradients, dL/dt included, are autograd's.

    hit_output_times (adaptive Runge-Kutta methods only): pass the output times, detached, as
    torchdiffeq's `step_t` option, so that every t_i is the end of a step. Then y(t_i) carries no
    interpolation error, and autograd's dL/dt_i -- the derivative of the step's interpolant at its
    end point, which the dopri5/dopri8 interpolants match to the field value there -- is
    g_i . f(t_i, y_i) of the computed y_i. Without it dL/dt_i is the derivative of the interpolant
    inside a step, a lower-order quantity: measured on the library's neural fields at 1e-12, its
    error was ~5e-9 relative with dopri5 (the 100x looser solve's ~1e-7, too coarse for a 1e-7
    check) and ~5e-7 with dopri8, against 1e-13 .. 1e-10 with step_t. The gradient path is otherwise
    plain backprop through the solver. Cached on disk (harness.oracles.gradient_cache) unless
    use_cache is False."""
    y0, t, g = _check_inputs(field, y0, t, g)
    return cached_oracle(
        "torchdiffeq-backprop",
        lambda: _torchdiffeq_backprop_oracle(field, y0, t, g, rtol, atol, method, options, hit_output_times,
                                             loose_factor),
        field, dict(y0=y0, t=t, g=g, rtol=rtol, atol=atol, method=method, options=options,
                    hit_output_times=hit_output_times, loose_factor=loose_factor),
        GradientOracleResult, use_cache)


def _torchdiffeq_backprop_oracle(field: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray,
                                 rtol: float, atol: float, method: str, options: dict | None,
                                 hit_output_times: bool, loose_factor: float) -> GradientOracleResult:
    if len(t) == 1:  # odeint returns y0 itself: nothing to integrate
        named = _trainable(field)
        return GradientOracleResult(g[0].copy(), [np.zeros(tuple(p.shape)) for _, p in named],
                                    np.zeros(1), {k: 0.0 for k in GROUPS},
                                    f"torchdiffeq-backprop-{method}", dict(rtol=rtol, atol=atol))
    tight = _torchdiffeq_backprop(field, y0, t, g, rtol, atol, method, options, hit_output_times)
    loose = _torchdiffeq_backprop(field, y0, t, g, loose_factor * rtol, loose_factor * atol,
                                  method, options, hit_output_times)
    tight.error_estimate = _errors(tight, loose, tight.settings["nfe"], loose.settings["nfe"])
    tight.settings.update(loose_factor=loose_factor, loose_nfe=loose.settings["nfe"])
    return tight


# ----------------------------------------------------------------------------------------------
# Scales of the gradient checks' thresholds
# ----------------------------------------------------------------------------------------------


@dataclass
class SensitivityScales:
    """What sets the size of the gradient suite's thresholds (suites/test_gradients.py, module
    docstring): `scale` per group ("y0", "params", "t"), ||S_i||_2 for i >= 1 (`s_norms`) and
    ||y''(t_i)|| for every i (`ydd_norms`)."""

    scale: dict[str, float]
    s_norms: np.ndarray
    ydd_norms: np.ndarray
    settings: dict = dc_field(default_factory=dict)


@timed_function("oracle")
def sensitivity_scales(field: nn.Module, y0, t, g, tol: float = 1e-10,
                       use_cache: bool = True) -> SensitivityScales:
    """Norms of the sensitivities S_i = dy(t_i)/dy0 and P_i = dy(t_i)/dtheta and of f and
    y'' = f_t + f_y f at the output times, by torchdiffeq (dopri5, rtol = atol = tol) and
    autograd: a reference computation independent of the IUT (timed as oracle; they only set the
    size of thresholds, so tol need not be tight). Cached on disk unless use_cache is False."""
    y0, t, g = _check_inputs(field, y0, t, g)
    return cached_oracle("sensitivity-scales", lambda: _sensitivity_scales(field, y0, t, g, tol), field,
                         dict(y0=y0, t=t, g=g, tol=tol), SensitivityScales, use_cache)


def _sensitivity_scales(field: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray,
                        tol: float) -> SensitivityScales:
    params = [p for p in field.parameters() if p.requires_grad]
    y0_t = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
    ys = torchdiffeq.odeint(field, y0_t, torch.tensor(t), rtol=tol, atol=tol)
    s_norms, p_norms = [], []
    for i in range(1, len(t)):
        rows = [torch.autograd.grad(ys[i, k], [y0_t, *params], retain_graph=True, allow_unused=True,
                                    materialize_grads=True) for k in range(len(y0))]
        S = torch.stack([r[0] for r in rows]).numpy()
        s_norms.append(float(np.linalg.norm(S, 2)))
        if params:
            P = torch.stack([torch.cat([x.reshape(-1) for x in r[1:]]) for r in rows]).numpy()
            p_norms.append(float(np.linalg.norm(P, 2)))
    y_at = ys.detach()
    f_norms, ydd = [], []
    for i in range(len(t)):
        s = torch.tensor(float(t[i]), dtype=torch.float64)
        with torch.no_grad():
            fy = field(s, y_at[i])
        _, dd = torch.autograd.functional.jvp(lambda tt, yy: field(tt, yy), (s, y_at[i]),
                                              (torch.ones((), dtype=torch.float64), fy))
        f_norms.append(float(fy.norm()))
        ydd.append(float(dd.norm()))
    gn = np.linalg.norm(g, axis=1)
    sum_s = float(np.sum(gn[1:] * s_norms))
    scale = {"y0": float(gn[0]) + sum_s,
             "params": float(np.sum(gn[1:] * p_norms)) if params else 0.0,
             "t": float(np.sum(gn[1:] * f_norms[1:])) + sum_s * f_norms[0]}
    return SensitivityScales(scale, np.array(s_norms), np.array(ydd),
                             dict(tol=tol, solver=f"torchdiffeq {torchdiffeq.__version__} dopri5"))


# ----------------------------------------------------------------------------------------------
# Oracle 3: finite differences (directional)
# ----------------------------------------------------------------------------------------------


def random_directions(field: nn.Module, dim: int, n_y0: int = 2, n_params: int = 2, seed: int = 0
                      ) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Seeded random unit directions: n_y0 vectors of length dim, and n_params directions in
    parameter space (each a list of arrays shaped like the field's trainable parameters, of unit
    2-norm over all of them together). No parameter directions when the field has none."""
    rng = np.random.default_rng(seed)
    v_y0 = []
    for _ in range(n_y0):
        v = rng.standard_normal(dim)
        v_y0.append(v / np.linalg.norm(v))
    shapes = [tuple(p.shape) for _, p in _trainable(field)]
    v_params = []
    if shapes:
        for _ in range(n_params):
            parts = [rng.standard_normal(s) for s in shapes]
            norm = np.sqrt(sum(float(np.sum(x * x)) for x in parts))
            v_params.append([x / norm for x in parts])
    return v_y0, v_params


def _fd_step_selected(loss, *, noise: float, scale: float, max_scale: float = np.inf,
                      refinements: int = 2) -> FDResult:
    """`directional_derivative` with step selection. Its step h ~ noise^(1/5) * scale balances the
    noise against the truncation error for a loss with O(1) derivatives along the direction. Its
    error estimate is |R(h) - R(h/2)| (truncation) + 8 noise / h (noise). The step is then moved
    by factors of 4 towards the balance, in one direction only, for as long as the estimate
    improves (at most `refinements` times): down while the truncation part dominates (a fast
    mode such as e^(-20 t): the extrapolated difference's truncation ~ h^4 drops ~256x, the noise
    part grows 4x), up (not beyond `max_scale`) while the noise part is more than 4x the
    truncation part. This is the usual rule of choosing the step that minimises the estimated
    total error (e.g. Sauer, Numerical Analysis, sec. 5.1, on the truncation/rounding
    trade-off)."""
    best = directional_derivative(loss, noise=noise, scale=scale)
    factor = None
    for _ in range(refinements):
        noise_part = 8 * noise / best.h
        trunc = best.error_estimate - noise_part
        if factor is None:
            factor = 0.25 if trunc > noise_part else (4.0 if noise_part > 4 * trunc else None)
            if factor is None:
                break
        elif (factor < 1) != (trunc > noise_part):
            break
        if scale * factor > max_scale:
            break
        trial = directional_derivative(loss, noise=noise, scale=scale * factor)
        if not trial.error_estimate < best.error_estimate:
            break
        best, scale = trial, scale * factor
    return best


@timed_function("oracle")
def finite_difference_oracle(field: nn.Module, y0, t, g, v_y0: Sequence[np.ndarray] | None = None,
                             v_params: Sequence[Sequence[np.ndarray]] | None = None, *,
                             n_y0: int = 2, n_params: int = 2, seed: int = 0,
                             rtol: float = 1e-13, atol: float = 1e-13, noise: float | None = None,
                             noise_rel: float = 1e-12, use_cache: bool = True) -> DirectionalDerivatives:
    """Directional derivatives of L = sum_i g_i . y(t_i) by Richardson-extrapolated central
    differences of scipy DOP853 solves at (rtol, atol).

    Directions: `v_y0` (vectors) and `v_params` (each a list of arrays shaped like the trainable
    parameters); when not given, `random_directions(field, dim, n_y0, n_params, seed)`. dL/dt_i is
    computed for every i (one-hot directions). The directions used are returned in
    `settings["v_y0"]` / `settings["v_params"]` so that full gradients can be `project`ed on them.

    `noise` is the absolute accuracy of the loss values fed to the differences; by default
    noise_rel * max(1, sum_i |g_i| . |y(t_i)|) (DOP853 at 1e-13 keeps each y(t_i) to about 1e-12
    relative on the short, well-conditioned spans these oracles are meant for). Parameters are
    perturbed in place and always restored. Cached on disk (harness.oracles.gradient_cache) unless
    use_cache is False."""
    y0, t, g = _check_inputs(field, y0, t, g)
    return cached_oracle(
        "finite-differences",
        lambda: _finite_difference_oracle(field, y0, t, g, v_y0, v_params, n_y0=n_y0, n_params=n_params,
                                          seed=seed, rtol=rtol, atol=atol, noise=noise, noise_rel=noise_rel),
        field, dict(y0=y0, t=t, g=g, v_y0=v_y0, v_params=v_params, n_y0=n_y0, n_params=n_params, seed=seed,
                    rtol=rtol, atol=atol, noise=noise, noise_rel=noise_rel),
        DirectionalDerivatives, use_cache)


def _finite_difference_oracle(field: nn.Module, y0: np.ndarray, t: np.ndarray, g: np.ndarray,
                              v_y0: Sequence[np.ndarray] | None, v_params: Sequence[Sequence[np.ndarray]] | None,
                              *, n_y0: int, n_params: int, seed: int, rtol: float, atol: float,
                              noise: float | None, noise_rel: float) -> DirectionalDerivatives:
    named = _trainable(field)
    params = [p for _, p in named]
    if v_y0 is None and v_params is None:
        v_y0, v_params = random_directions(field, len(y0), n_y0, n_params, seed)
    elif v_y0 is None or v_params is None:
        d_y0, d_p = random_directions(field, len(y0), n_y0, n_params, seed)
        v_y0 = d_y0 if v_y0 is None else v_y0
        v_params = d_p if v_params is None else v_params
    v_y0 = [np.asarray(v, dtype=np.float64) for v in v_y0]
    v_params = [[np.asarray(x, dtype=np.float64) for x in v] for v in v_params]
    if v_params and not params:
        raise ValueError("parameter directions given for a field without trainable parameters")

    def loss(y0_=None, t_=None) -> float:
        ys = scipy_solution(field, y0 if y0_ is None else y0_, t if t_ is None else t_,
                            rtol=rtol, atol=atol)
        return float(np.sum(ys * g))

    if noise is None:
        ys = scipy_solution(field, y0, t, rtol=rtol, atol=atol)
        noise = noise_rel * max(1.0, float(np.sum(np.abs(g) * np.abs(ys))))

    # y0 and parameter steps may grow at most 4x (one refinement): larger perturbations could
    # leave the region where the field is defined or tame
    def fd(loss_along, scale: float) -> FDResult:
        return _fd_step_selected(loss_along, noise=noise, scale=scale, max_scale=4 * scale)

    fd_y0 = [fd(lambda s, v=v: loss(y0_=y0 + s * v), float(np.linalg.norm(v))) for v in v_y0]

    saved = [p.detach().clone() for p in params]

    def loss_params(s: float, v) -> float:
        with torch.no_grad():
            for p, p0, dv in zip(params, saved, v):
                p.copy_(p0 + s * torch.from_numpy(dv))
        try:
            return loss()
        finally:
            with torch.no_grad():
                for p, p0 in zip(params, saved):
                    p.copy_(p0)

    fd_p = [fd(lambda s, v=v: loss_params(s, v), float(np.sqrt(sum(np.sum(x * x) for x in v))))
            for v in v_params]

    # one-hot steps in t must keep it monotone: the largest step of directional_derivative (h)
    # stays below a quarter of the smallest gap, step selection included
    fd_t = []
    if len(t) > 1:
        h_unit = max(noise, 1e-16) ** 0.2
        t_max = 0.25 * float(np.min(np.abs(np.diff(t)))) / h_unit
        t_scale = min(1.0, t_max)
        for i in range(len(t)):
            e = np.zeros_like(t)
            e[i] = 1.0
            fd_t.append(_fd_step_selected(lambda s, e=e: loss(t_=t + s * e), noise=noise,
                                          scale=t_scale, max_scale=t_max))
    t_vals = np.array([r.value for r in fd_t]) if fd_t else np.zeros(len(t))

    def worst(rs) -> float:
        return max((r.error_estimate for r in rs), default=0.0)

    return DirectionalDerivatives(
        y0=np.array([r.value for r in fd_y0]), params=np.array([r.value for r in fd_p]),
        t=t_vals, error_estimate={"y0": worst(fd_y0), "params": worst(fd_p), "t": worst(fd_t)},
        method="finite-differences",
        settings=dict(rtol=rtol, atol=atol, noise=noise, v_y0=v_y0, v_params=v_params,
                      errors={"y0": [r.error_estimate for r in fd_y0],
                              "params": [r.error_estimate for r in fd_p],
                              "t": [r.error_estimate for r in fd_t]},
                      steps={"y0": [r.h for r in fd_y0], "params": [r.h for r in fd_p],
                             "t": [r.h for r in fd_t]}))


# ----------------------------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------------------------


def project(result: GradientOracleResult, v_y0: Sequence[np.ndarray] | None = None,
            v_params: Sequence[Sequence[np.ndarray]] | None = None) -> DirectionalDerivatives:
    """The directional derivatives of a full gradient along v_y0 / v_params (default: the
    directions `settings` of a `DirectionalDerivatives` passed as `v_y0`), and dL/dt as is.
    Error estimates: |dG . v| <= ||dG|| ||v|| (Cauchy-Schwarz), and an entry of dL/dt is at most
    the 2-norm of the t group's error."""
    if isinstance(v_y0, DirectionalDerivatives):
        v_y0, v_params = v_y0.settings["v_y0"], v_y0.settings["v_params"]
    v_y0 = [] if v_y0 is None else list(v_y0)
    v_params = [] if v_params is None else list(v_params)
    y0 = np.array([float(result.grad_y0 @ np.asarray(v)) for v in v_y0])
    params = np.array([float(sum(np.sum(gp * np.asarray(x))
                                 for gp, x in zip(result.grad_params, v))) for v in v_params])
    n_y0 = max((float(np.linalg.norm(v)) for v in v_y0), default=0.0)
    n_p = max((float(np.sqrt(sum(np.sum(np.asarray(x) ** 2) for x in v))) for v in v_params),
              default=0.0)
    est = result.error_estimate
    err = {"y0": est["y0"] * n_y0, "params": est["params"] * n_p, "t": est["t"]}
    return DirectionalDerivatives(y0=y0, params=params, t=result.grad_t.copy(), error_estimate=err,
                                  method=result.method + " (projected)",
                                  settings=dict(result.settings, v_y0=v_y0, v_params=v_params))


def group_norms(result: GradientOracleResult) -> dict[str, float]:
    """2-norm of each gradient group: the scale disagreements are measured relative to."""
    return {name: float(np.linalg.norm(result.group(name))) for name in GROUPS}


def _gap(a, b, name: str) -> float:
    x, y = a.group(name), b.group(name)
    if x.shape != y.shape:
        raise ValueError(f"group {name!r}: shapes {x.shape} and {y.shape} differ (compare full "
                         "gradients with full gradients, directional with directional)")
    if x.size == 0:
        return 0.0
    d = x - y
    if isinstance(a, GradientOracleResult):
        return float(np.linalg.norm(d))
    return float(np.max(np.abs(d)))


def disagreement(a, b, scale: dict[str, float] | None = None) -> dict[str, float]:
    """Relative disagreement per group: ||a - b|| / scale[group] for full gradients (2-norm),
    max_j |a_j - b_j| / scale[group] for directional derivatives. `scale` defaults to the group
    norms of `a` (full gradients only; pass `group_norms(full_result)` for directional ones, whose
    entries are bounded by those norms for unit directions). Empty groups give 0."""
    if scale is None:
        if not isinstance(a, GradientOracleResult):
            raise ValueError("directional derivatives need an explicit scale (group_norms of a "
                             "full gradient)")
        scale = group_norms(a)
    out = {}
    for name in GROUPS:
        gap = _gap(a, b, name)
        out[name] = 0.0 if gap == 0.0 else gap / scale[name]
    return out


def compare(a, b, rel: float, scale: dict[str, float] | None = None) -> list[str]:
    """Check that two oracles agree to `rel` relative (see `disagreement`) in every group.
    Returns the failures as messages (empty: agreement). A group also fails when the two oracles'
    own error estimates add up to more than the bound rel * scale: such a check would be tighter
    than the oracles are accurate, so neither agreement nor disagreement would mean anything."""
    if scale is None:
        if not isinstance(a, GradientOracleResult):
            raise ValueError("directional derivatives need an explicit scale")
        scale = group_norms(a)
    rels = disagreement(a, b, scale)
    failures = []
    for name in GROUPS:
        if a.group(name).size == 0:
            continue
        bound = rel * scale[name]
        err = a.error_estimate[name] + b.error_estimate[name]
        if not err <= bound:
            failures.append(f"{name}: oracle error estimates {a.method} "
                            f"{a.error_estimate[name]:.3g} + {b.method} "
                            f"{b.error_estimate[name]:.3g} exceed the bound {bound:.3g} "
                            f"(rel {rel:g} x {scale[name]:.3g}); the check is tighter than the "
                            "oracles")
        if not rels[name] <= rel:
            failures.append(f"{name}: {a.method} and {b.method} disagree by {rels[name]:.3g} "
                            f"relative > {rel:g}")
    return failures
