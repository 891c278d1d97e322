"""Implementations under test (IUTs): built-in adapters and loading by import path.

The contract (README, "The contract for an implementation under test"): an IUT is any callable

    odeint(func, y0, t, *, rtol, atol, method, options) -> Tensor[len(t), *y0.shape]

with torchdiffeq's semantics. Fixed-step methods receive ``options={"step_size": h}``. Gradients
flow however the IUT produces them to y0, t and the parameters of `func` (an nn.Module).
"""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .claims import Claims, default_claims


class ImplementationLoadError(ValueError):
    """An implementation could not be loaded; the message is one line naming the path and cause."""


@dataclass
class Implementation:
    """An IUT: its name, the contract callable, its claims family and the methods it offers.

    `stats()` returns what the IUT exposes about its last solve (NFE, accepted and rejected
    steps, reconstruction error), or {} when it exposes nothing.
    """

    name: str
    odeint: Callable[..., Any]
    family: str
    description: str
    methods: tuple[str, ...] = ()
    default_methods: tuple[str, ...] = ()
    adjoint: bool = False
    gradients: str = "autograd"
    stats: Callable[[], dict] = field(default=lambda: {})
    t_grad: bool = True  # False: the IUT gives no gradients with respect to t (claim t_grad=False)

    def claims(self, method: str, **overrides: Any) -> Claims:
        """Default claims of `method` for this IUT, with user overrides applied."""
        base = default_claims(self.family, method)
        base = base.override(adjoint=self.adjoint)
        if self.gradients == "none":
            base = base.override(gradients="none", t_grad=False)
        elif not self.t_grad:
            base = base.override(t_grad=False)
        return base.override(**overrides) if overrides else base


# --------------------------------------------------------------------------- built-in adapters
def _reference_stats() -> dict:
    import reference

    out: dict = {}
    s = reference.last_stats()
    if s is not None:
        out.update(nfe=s.nfe, n_accepted=s.n_accepted, n_rejected=s.n_rejected)
    a = reference.last_adjoint_stats()
    if a is not None:
        out.update(backward_nfe=a.backward_nfe, reconstruction_error=a.reconstruction_error)
    return out


def _reference(strategy: str | None) -> Implementation:
    import reference

    methods = tuple(reference.TABLEAUS)
    if strategy is None:
        return Implementation("reference", reference.odeint, "reference",
                              "ode-harness reference solvers, backprop through the steps",
                              methods, ("dopri5", "tsit5", "rk4"), stats=_reference_stats)
    fn = functools.partial(reference.odeint_adjoint, strategy=strategy)
    functools.update_wrapper(fn, reference.odeint_adjoint)
    name = "reference-adjoint" if strategy == "backsolve" else "reference-checkpoint"
    return Implementation(name, fn, "reference", f"ode-harness reference adjoint, strategy={strategy!r}",
                          methods, ("dopri5",), adjoint=strategy == "backsolve", stats=_reference_stats)


def _torchdiffeq(adjoint: bool) -> Implementation:
    import torchdiffeq

    methods = ("dopri5", "bosh3", "dopri8", "fehlberg2", "adaptive_heun", "euler", "midpoint",
               "rk4", "heun3", "explicit_adams", "implicit_adams")
    if adjoint:
        return Implementation("torchdiffeq-adjoint", torchdiffeq.odeint_adjoint, "torchdiffeq",
                              "torchdiffeq.odeint_adjoint", methods, ("dopri5",), adjoint=True)
    return Implementation("torchdiffeq", torchdiffeq.odeint, "torchdiffeq", "torchdiffeq.odeint",
                          methods, ("dopri5", "bosh3", "dopri8", "rk4", "midpoint", "euler"))


_TORCHODE_LAST: dict = {}


def torchode_odeint(func: Callable, y0: torch.Tensor, t: torch.Tensor, *, rtol: float = 1e-7,
                    atol: float = 1e-9, method: str = "tsit5", options: dict | None = None) -> torch.Tensor:
    """torchode 1.0.1 behind the contract: the whole state is one torchode batch element of
    y0.numel() features; torchode's integral controller with the given rtol/atol; gradients by
    backprop through its steps (AutoDiffAdjoint)."""
    import torchode

    steppers = {"dopri5": torchode.Dopri5, "tsit5": torchode.Tsit5}
    if method not in steppers:
        raise ValueError(f"unknown method {method!r} for torchode; valid methods: {', '.join(steppers)}")
    shape = y0.shape

    def f(tt: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return func(tt[0], y.reshape(shape)).reshape(1, -1)

    term = torchode.ODETerm(f)
    step = steppers[method](term=term)
    controller = torchode.IntegralController(atol=atol, rtol=rtol, term=term)
    solver = torchode.AutoDiffAdjoint(step, controller, max_steps=(options or {}).get("max_num_steps"))
    t_eval = t.to(y0.dtype).reshape(1, -1)
    sol = solver.solve(torchode.InitialValueProblem(y0=y0.reshape(1, -1), t_eval=t_eval))
    status = int(sol.status[0])
    if status != 0:
        raise RuntimeError(f"torchode stopped with status {torchode.Status(status).name}")
    _TORCHODE_LAST.clear()
    _TORCHODE_LAST.update({k: int(v[0]) if torch.is_tensor(v) and v.numel() else v
                           for k, v in sol.stats.items() if k in ("n_f_evals", "n_steps", "n_accepted")})
    return sol.ys[0].reshape(len(t), *shape)


def _torchode_stats() -> dict:
    s = _TORCHODE_LAST
    out = {}
    if "n_f_evals" in s:
        out["nfe"] = s["n_f_evals"]
    if "n_accepted" in s:
        out["n_accepted"] = s["n_accepted"]
        if "n_steps" in s:
            out["n_rejected"] = s["n_steps"] - s["n_accepted"]
    return out


def scipy_odeint(func: Callable, y0: torch.Tensor, t: torch.Tensor, *, rtol: float = 1e-7,
                 atol: float = 1e-9, method: str = "RK45", options: dict | None = None) -> torch.Tensor:
    """scipy.integrate.solve_ivp through torchdiffeq's `scipy_solver` (no gradients); `method`
    is scipy's method name."""
    import warnings

    import torchdiffeq

    opts = dict(options or {})
    opts["solver"] = method
    with warnings.catch_warnings():
        # torchdiffeq 0.2.5 always passes min_step, which scipy's RK methods ignore with a warning.
        warnings.filterwarnings("ignore", message="The following arguments have no effect")
        return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol, method="scipy_solver", options=opts)


# torchdyn 1.0.6 (optional extra, README "torchdyn"): read from its source, torchdyn/numerics/odeint.py,
# numerics/solvers/ode.py, core/problems.py and numerics/sensitivity.py.
TORCHDYN_METHODS = ("dopri5", "tsit5", "rk4", "euler", "midpoint")
TORCHDYN_FIXED = ("rk4", "euler", "midpoint")  # stepping_class == 'fixed': one step per t_span interval
TORCHDYN_SENSITIVITIES = {"torchdyn": "autograd", "torchdyn-adjoint": "adjoint",
                          "torchdyn-interp-adjoint": "interpolated_adjoint"}


def fixed_step_grid(t: torch.Tensor, h: float) -> tuple[torch.Tensor, list[int]]:
    """The grid a fixed-step solver that steps on its time grid needs for steps of `h`: each
    output interval [t_(i-1), t_i] in steps of h (toward t_i, sign of t_i - t_(i-1)), the last
    one shortened to land on t_i, so n_i = max(1, ceil(|t_i - t_(i-1)| / h - 1e-10)) steps (a
    remainder within 1e-10 h of h, rounding in the difference, is absorbed into the last step
    rather than left as a sliver; the rule of reference/integrate.py), and so is a remainder
    within 4 ulps of |t| in t's dtype: float32 t = [0, 0.001] with h = 0.001 / 7 has
    |t_1 - t_0| / h = 7.0000003 (t_1 = 0.0010000000475), a 1.2e-10 remainder that is rounding
    of t_1, not a step). Grid points are t_(i-1) + m h (built from t, so dL/dt flows through
    them) and t_i itself.

    Returns the grid and the positions of the output times in it."""
    if not isinstance(h, (int, float)) or isinstance(h, bool) or not math.isfinite(h) or h <= 0:
        raise ValueError(f"options['step_size'] must be a finite number > 0, got {h!r}")
    pieces, where = [t[:1]], [0]
    eps = torch.finfo(t.dtype).eps
    tv = t.detach().tolist()
    for i in range(1, len(t)):
        span = tv[i] - tv[i - 1]
        ulps = 4 * eps * max(abs(tv[i]), abs(tv[i - 1]))
        n = max(1, math.ceil(abs(span) / h - 1e-10 - ulps / h))
        if n > 1:
            m = torch.arange(1, n, dtype=t.dtype, device=t.device)
            pieces.append(t[i - 1] + math.copysign(h, span) * m)
        pieces.append(t[i:i + 1])
        where.append(where[-1] + n)
    return torch.cat(pieces), where


class StallGuard(torch.nn.Module):
    """The field handed to torchdyn: calls `func` unchanged, and raises once `limit` evaluations
    in a row fall on one time, which no solve that makes progress does (an explicit RK step
    evaluates f at most s = 7 times at one time: stages with equal c, plus a zero-length output
    interval; 1000 is 140 such steps). torchdyn 1.0.6 can take steps of size 0 forever
    (known_findings: its checkpoint logic sets dt = dt_old - dt = 0 after a rejected step onto
    the last output time, and adapt_step keeps 0 * 10 = 0); without the guard that is a hang
    until the per-check timeout, with it an error naming the time, the same defect on record.
    A module, so that ODEProblem finds `func`'s parameters as its own (same tensors, same order)."""

    def __init__(self, func: Callable, limit: int = 1000) -> None:
        super().__init__()
        self.func = func
        self.limit = limit
        self._last: float | None = None
        self._count = 0

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        now = float(torch.as_tensor(t).detach().reshape(-1)[0])
        self._count = self._count + 1 if now == self._last else 1
        self._last = now
        if self._count >= self.limit:
            raise RuntimeError(f"torchdyn made no progress: {self._count} evaluations of f in a row at t = {now!r} "
                               "(steps of size 0)")
        return self.func(t, x)


def torchdyn_odeint(func: Callable, y0: torch.Tensor, t: torch.Tensor, *, rtol: float = 1e-7,
                    atol: float = 1e-9, method: str = "dopri5", options: dict | None = None,
                    sensitivity: str = "autograd") -> torch.Tensor:
    """torchdyn 1.0.6 behind the contract.

    sensitivity "autograd": ``torchdyn.numerics.odeint(func, y0, t_span, method, atol, rtol)``,
    gradients by backprop through its steps; "adjoint" / "interpolated_adjoint":
    ``torchdyn.core.ODEProblem(func, method, sensitivity=..., atol, rtol, atol_adjoint=atol,
    rtol_adjoint=rtol)`` (the adjoint solve at the forward tolerances, torchdiffeq's default),
    `method` passed as the string a user passes. Adaptive methods get the output times as they
    are: torchdyn shortens a step onto each of them (no interpolator) and returns (t_eval, sol).
    Fixed-step methods take one step per t_span interval, so they get `fixed_step_grid(t, h)`
    and the rows at the output times are returned (torchdyn's own `save_at` selects rows by
    torch.isclose, rtol 1e-5, which would also pick a grid point within 1e-5 relative of an
    output time). The interpolated adjoint returns a row per accepted step (its forward sets
    return_all_eval): the rows whose t_eval equals an output time are returned (torchdyn
    reports -t in reverse time, its f(t) -> -f(-t) convention) and a missing one is an error.
    Its backward fits a torchcde spline over sol.permute(1, 0, 2), i.e. it takes states of
    shape (batch, dim), the shape torchdyn's documentation uses: a 1-D y0 goes in as (1, dim)
    (a batch of one, which any field on the last axis accepts) and comes back 1-D; other shapes
    go in as they are (3-D and more then fail in torchdyn's backward: its limit, on record).
    (Flattening a batch to (1, B dim) instead would hand the field a state it cannot take,
    e.g. (1, 13) to mlp-tanh-t's (.., 4 + 1) layer.) Nothing else is
    changed: no shape or dtype of the result is fixed up, no time is clamped; `func` is called
    through `StallGuard`, which turns a solve that stops advancing into an error."""
    import warnings

    opts = dict(options or {})
    fixed = method in TORCHDYN_FIXED
    if method not in TORCHDYN_METHODS:
        raise ValueError(f"unknown method {method!r} for torchdyn; valid methods: {', '.join(TORCHDYN_METHODS)}")
    where: list[int] | None = None
    t_span = t
    if fixed:
        if "step_size" not in opts:
            raise ValueError(f"fixed-step method {method!r} needs options={{'step_size': h}}")
        t_span, where = fixed_step_grid(t, opts["step_size"])
    with warnings.catch_warnings():
        # torchdyn warns on every fixed-step call whose tolerances differ from its defaults
        warnings.filterwarnings("ignore", message="Setting tolerances has no effect")
        if sensitivity == "autograd":
            from torchdyn.numerics import odeint

            _, sol = odeint(StallGuard(func), y0, t_span, method, atol=atol, rtol=rtol)
            return sol[where] if where is not None else sol
        from torchdyn.core import ODEProblem

        interp = sensitivity == "interpolated_adjoint"
        x0 = y0.unsqueeze(0) if interp and y0.dim() == 1 else y0
        problem = ODEProblem(StallGuard(func), method, sensitivity=sensitivity, atol=atol, rtol=rtol,
                             atol_adjoint=atol, rtol_adjoint=rtol)
        t_eval, sol = problem.odeint(x0, t_span)
    if where is None and interp:
        t_rep = t_span if len(t_span) < 2 or t_span[1] >= t_span[0] else -t_span
        where = []
        for tk in t_rep.detach().tolist():
            hits = (t_eval.detach() == tk).nonzero()
            if len(hits) == 0:
                raise RuntimeError(f"torchdyn returned no row at the output time {tk!r} (t_eval has {len(t_eval)} rows)")
            where.append(int(hits[0]))
    out = sol[where] if where is not None else sol
    return out.squeeze(1) if interp and y0.dim() == 1 else out


def _torchdyn(name: str) -> Implementation:
    import torchdyn  # noqa: F401 - ImportError here: the extra is not installed
    import torchdyn.core  # noqa: F401 - its import needs the extra's dependencies

    sensitivity = TORCHDYN_SENSITIVITIES[name]
    fn = functools.partial(torchdyn_odeint, sensitivity=sensitivity)
    functools.update_wrapper(fn, torchdyn_odeint)
    adjoint = sensitivity != "autograd"
    desc = ("torchdyn.numerics.odeint (backprop through the steps)" if not adjoint
            else f"torchdyn.core.ODEProblem(sensitivity={sensitivity!r})")
    return Implementation(name, fn, "torchdyn", f"torchdyn {torchdyn.__version__} {desc}", TORCHDYN_METHODS,
                          TORCHDYN_METHODS if not adjoint else ("dopri5",), adjoint=adjoint,
                          t_grad=sensitivity != "interpolated_adjoint")


BUILTINS: dict[str, Callable[[], Implementation]] = {
    "reference": lambda: _reference(None),
    "reference-adjoint": lambda: _reference("backsolve"),
    "reference-checkpoint": lambda: _reference("checkpoint"),
    "torchdiffeq": lambda: _torchdiffeq(False),
    "torchdiffeq-adjoint": lambda: _torchdiffeq(True),
    "torchode": lambda: Implementation("torchode", torchode_odeint, "torchode", "torchode 1.0.1 (AutoDiffAdjoint)",
                                       ("dopri5", "tsit5"), ("dopri5", "tsit5"), stats=_torchode_stats),
    "scipy": lambda: Implementation("scipy", scipy_odeint, "scipy", "scipy solve_ivp via torchdiffeq scipy_solver",
                                    ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA"), ("RK45", "DOP853"),
                                    gradients="none"),
    "torchdyn": lambda: _torchdyn("torchdyn"),
    "torchdyn-adjoint": lambda: _torchdyn("torchdyn-adjoint"),
    "torchdyn-interp-adjoint": lambda: _torchdyn("torchdyn-interp-adjoint"),
}


def load_implementation(spec: str) -> Implementation:
    """A built-in name (`BUILTINS`) or ``package.module:callable`` (attribute path after the colon)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ImplementationLoadError(f"implementation must be a built-in name or 'package.module:callable', got {spec!r}")
    if ":" not in spec:
        if spec not in BUILTINS:
            raise ImplementationLoadError(f"unknown implementation {spec!r}; built-ins: {', '.join(BUILTINS)}; "
                                          "or give 'package.module:callable'")
        try:
            return BUILTINS[spec]()
        except ImportError as exc:
            raise ImplementationLoadError(f"built-in implementation {spec!r} is not installed: {exc}") from None
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise ImplementationLoadError(f"{spec!r}: expected 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ImplementationLoadError(f"cannot load {spec!r}: module {exc.name!r} not found") from None
        raise ImplementationLoadError(f"cannot load {spec!r}: importing {module_name!r} failed: "
                                      f"ModuleNotFoundError: {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - any failure on import is the user's finding
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise ImplementationLoadError(f"cannot load {spec!r}: importing {module_name!r} failed: "
                                      f"{type(exc).__name__}: {msg}") from None
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ImplementationLoadError(f"cannot load {spec!r}: {type(obj).__name__} "
                                          f"{getattr(obj, '__name__', module_name)!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ImplementationLoadError(f"cannot load {spec!r}: it is a {type(obj).__name__}, not callable")
    # Optional attributes a callable may carry to describe itself (documented in the README):
    # ode_harness_methods (default methods), ode_harness_adjoint (gradients by an adjoint),
    # ode_harness_gradients ("autograd" or "none"), ode_harness_stats (a callable returning the
    # last solve's NFE etc.).
    methods = tuple(getattr(obj, "ode_harness_methods", ()))
    return Implementation(spec, obj, "custom", f"{spec} (loaded by import path)",
                          methods=methods, default_methods=methods,
                          adjoint=bool(getattr(obj, "ode_harness_adjoint", False)),
                          gradients=getattr(obj, "ode_harness_gradients", "autograd"),
                          stats=getattr(obj, "ode_harness_stats", lambda: {}))
