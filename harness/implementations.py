"""Implementations under test (IUTs): built-in adapters and loading by import path.

The contract (README, "The contract for an implementation under test"): an IUT is any callable

    odeint(func, y0, t, *, rtol, atol, method, options) -> Tensor[len(t), *y0.shape]

with torchdiffeq's semantics. Fixed-step methods receive ``options={"step_size": h}``. Gradients
flow however the IUT produces them to y0, t and the parameters of `func` (an nn.Module).
"""

from __future__ import annotations

import functools
import importlib
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

    def claims(self, method: str, **overrides: Any) -> Claims:
        """Default claims of `method` for this IUT, with user overrides applied."""
        base = default_claims(self.family, method)
        base = base.override(adjoint=self.adjoint)
        if self.gradients == "none":
            base = base.override(gradients="none", t_grad=False)
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
