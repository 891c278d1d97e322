"""Standalone reproducer scripts for failing checks (issue 11, "Reproducers to file upstream").

`write_reproducer(record, folder)` writes ONE Python script for a failing check (the
representative check of a finding) that a library author can run with `python script.py`,
without ode-harness installed. The script imports only torch (numpy and scipy are used here, at
write time, and never by the script) and the implementation under test, loaded from a spec
``module:attr`` (the one the CLI takes; built-ins are written as theirs, e.g. ``torchdiffeq`` ->
``torchdiffeq:odeint``; an adapter that lives in ode-harness, e.g. torchode's, is embedded as
source and loaded as ``__main__:name``). ``--impl module:attr`` or ``$ODE_REPRO_IMPL`` point it
elsewhere, e.g. at ``reference:odeint``. It carries

* the problem: the vector field as plain torch code, generated from the problem's one definition
  (`harness.problems.vector_field_source`; the property checks' drawn fields from the suite's own
  class source);
* the inputs (y0, t, method, rtol/atol or step size, dtype, grad mode) and the expected values,
  computed by the harness's oracles now and pasted as numbers (repr: exact round trip), with the
  threshold and its reason in a comment;
* a `reproduce(odeint)` that prints expected against got and the error against the threshold.

Exit status: 1 while the defect is present (the check's criterion fails, the implementation
raises, or it does not return within the timeout), 0 once fixed, 2 on bad usage (an --impl that
cannot be loaded).

The inputs are rebuilt from the record and the suites' own definitions in ONE place,
`repro_case` (the check's constants, tolerance and step-size rules are the suites' functions,
called here, not copies). A property check (drawn inputs) is reproduced on one fixed, telling
example of the same property (the record keeps the drawn example's shape, not its numbers).
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import inspect
import json
import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch

from ..claims import Claims
from ..problems import Problem, get_problem, vector_field_source
from ..profiles import get_profile
from ..results import CheckRecord

__all__ = ["ReproKind", "ReproCase", "ReproducerUnsupported", "repro_case", "render_script", "write_reproducer",
           "impl_spec_for", "SUPPORTED_CHECKS", "IMPL_ENV"]

IMPL_ENV = "ODE_REPRO_IMPL"


class ReproducerUnsupported(ValueError):
    """No reproducer can be written for this record (one line: which check and why)."""


class ReproKind(str, enum.Enum):
    FORWARD = "forward"            # one solve, outputs against the oracle
    FIXED_ORDER = "fixed-order"    # errors at a few h, observed order against the claim
    GRADIENT = "gradient"          # dL/d(y0 | params | t) against the forward-sensitivity oracle
    MUTATION = "mutation"          # y0, t, parameters bitwise unchanged
    DETERMINISM = "determinism"    # two identical calls, bitwise equal
    ONE_POINT = "one-point"        # t of one point returns y0
    ZERO_FIELD = "zero-field"      # f = 0 keeps y
    OUTSIDE_SPAN = "outside-span"  # f evaluated only inside [min t, max t]
    SHAPES = "shapes"              # (len(t), *y0.shape), y0's dtype, finite
    BATCH = "batch"                # a batch element solved alone equals it in the batch
    LINEAR_EXPM = "linear-expm"    # a linear system against expm

    def __str__(self) -> str:
        return self.value


_FORWARD_CHECKS = {"test_error_at_end", "test_error_at_interior_times", "test_error_in_reverse_time",
                   "test_error_float32", "test_error_batched"}
_GRADIENT_CHECKS = {"test_grad_y0_vs_forward_sensitivity": "y0", "test_grad_params_vs_forward_sensitivity": "params",
                    "test_grad_t_vs_forward_sensitivity": "t", "test_missing_gradient_is_failure": None,
                    "test_grad_t_at_grid_output_times": "t"}
# the suite's setup direction of a gradient check (test_gradients.setup_for), "forward" unless named
_GRADIENT_DIRECTION = {"test_grad_t_at_grid_output_times": "grid"}
_PROPERTY_CHECKS = {
    "test_inputs_not_mutated": ReproKind.MUTATION, "test_deterministic": ReproKind.DETERMINISM,
    "test_one_time_point_returns_y0": ReproKind.ONE_POINT, "test_zero_field_keeps_y_constant": ReproKind.ZERO_FIELD,
    "test_field_evaluated_only_inside_span": ReproKind.OUTSIDE_SPAN, "test_shapes_and_dtypes_kept": ReproKind.SHAPES,
    "test_batch_independence": ReproKind.BATCH, "test_linear_systems_match_expm": ReproKind.LINEAR_EXPM,
}
_WITHOUT_GRAD = {f"test_without_grad_{k.removeprefix('test_')}": v for k, v in _PROPERTY_CHECKS.items()
                 if k in ("test_inputs_not_mutated", "test_deterministic", "test_shapes_and_dtypes_kept",
                          "test_zero_field_keeps_y_constant", "test_one_time_point_returns_y0")}
SUPPORTED_CHECKS: frozenset[str] = frozenset(_FORWARD_CHECKS | set(_GRADIENT_CHECKS) | set(_PROPERTY_CHECKS)
                                             | set(_WITHOUT_GRAD) | {"test_fixed_step_order"})

# Built-in implementations as the spec a script loads without ode-harness, plus keyword
# arguments bound to that default (only to it: another --impl gets none).
_BUILTIN_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "reference": ("reference:odeint", {}),
    "reference-adjoint": ("reference:odeint_adjoint", {"strategy": "backsolve"}),
    "reference-checkpoint": ("reference:odeint_adjoint", {"strategy": "checkpoint"}),
    "torchdiffeq": ("torchdiffeq:odeint", {}),
    "torchdiffeq-adjoint": ("torchdiffeq:odeint_adjoint", {}),
}
# Built-ins whose adapter lives in harness.implementations: its source is embedded in the script
# (the adapter function, the module constants it reads, the helpers it calls, keyword arguments
# bound to it)
_TORCHDYN_ADAPTER = ("torchdyn_odeint", ("TORCHDYN_METHODS", "TORCHDYN_FIXED"), ("fixed_step_grid", "StallGuard"))
_INLINE_ADAPTERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], dict[str, Any]]] = {
    "torchode": ("torchode_odeint", ("_TORCHODE_LAST",), (), {}),
    "scipy": ("scipy_odeint", (), (), {}),
    "torchdyn": (*_TORCHDYN_ADAPTER, {"sensitivity": "autograd"}),
    "torchdyn-adjoint": (*_TORCHDYN_ADAPTER, {"sensitivity": "adjoint"}),
    "torchdyn-interp-adjoint": (*_TORCHDYN_ADAPTER, {"sensitivity": "interpolated_adjoint"}),
}


# ----------------------------------------------------------------------------------------- case
@dataclass(frozen=True)
class ReproCase:
    """Everything a script needs, as data: rebuilt by `repro_case`, rendered by `render_script`."""

    kind: ReproKind
    check_id: str
    check: str
    iut: str
    method: str
    problem: str
    field_source: str                    # defines `class Field(dtype=..., device=...)`
    y0: Any                              # nested list of floats (batch shape included)
    t: list[float]
    dtype: str = "float64"
    rtol: float = 1e-7                   # what the harness passes (OdeCase.odeint's defaults)
    atol: float = 1e-9
    step_size: float | None = None
    expected: Any = None                 # nested list (kind-specific meaning)
    threshold: float | None = None
    threshold_reason: str = ""
    grad_mode: str = "autograd"          # autograd | inputs_without_grad | no_grad | inference_mode
    params: dict[str, Any] = field(default_factory=dict)  # kind-specific numbers
    notes: tuple[str, ...] = ()          # how the inputs were chosen (comments in the script)
    verdict: str = "fail"
    message: str = ""


def _suite(name: str) -> ModuleType:
    """A suite module, as installed (harness.suites) or from the checkout (suites)."""
    for prefix in ("harness.suites.", "suites."):
        try:
            return importlib.import_module(prefix + name)
        except ModuleNotFoundError:
            continue
    raise ReproducerUnsupported(f"the suite module {name!r} cannot be imported")


class _Case:
    """The parts of an OdeCase the suites' helpers read, rebuilt from a record."""

    def __init__(self, record: CheckRecord) -> None:
        extra = record.extra or {}
        claims = extra.get("claims")
        if not isinstance(claims, dict):
            raise ReproducerUnsupported(f"{record.check_id}: the record has no claims (extra['claims'])")
        self.claims = Claims(**claims)
        self.profile = get_profile(str(extra.get("profile") or "quick"))
        self.config = SimpleNamespace(seed=record.seed if record.seed is not None else 0)
        self.id = f"{record.iut}-{record.method}"
        self.method = record.method
        self._iut = record.iut

    @property
    def impl(self) -> Any:
        """The implementation (the suites read its family, e.g. to pick a baseline method)."""
        from ..implementations import ImplementationLoadError, load_implementation

        try:
            return load_implementation(self._iut)
        except ImplementationLoadError as exc:
            raise ReproducerUnsupported(f"{self.id}: {exc}") from None

    def skip_unless(self, **needs: Any) -> None:
        reason = self.claims.skip_reason(**needs)
        if reason:
            raise ReproducerUnsupported(f"{self.id}: {reason}")


def _tolist(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64).tolist()


def _measured_float(record: CheckRecord, key: str) -> float | None:
    v = (record.measured or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _typed_inputs(record: CheckRecord) -> Any:
    """The record's typed reproducer inputs (`harness.evidence.ReproInputs`, results schema 2:
    ``record.evidence.inputs``), or None for a record without them (schema 1)."""
    return getattr(getattr(record, "evidence", None), "inputs", None)


def _recorded_setting(record: CheckRecord) -> tuple[float | None, float | None]:
    """(tol, h) the check ran at: from the typed reproducer inputs when the record has them
    (rtol = atol = tol in every suite), else from its measured notes (schema 1: ``tol``, ``h``)."""
    inputs = _typed_inputs(record)
    if inputs is not None:
        rtol, h = getattr(inputs, "rtol", None), getattr(inputs, "step_size", None)
        return (float(rtol) if rtol is not None else None), (float(h) if h is not None else None)
    return _measured_float(record, "tol"), _measured_float(record, "h")


def repro_case(record: CheckRecord) -> ReproCase:
    """Rebuild the inputs of `record`'s check (the one place that knows how the suites choose
    them). ReproducerUnsupported for a check with no reproducer."""
    name = record.check
    if name in _FORWARD_CHECKS:
        return _forward_case(record)
    if name == "test_fixed_step_order":
        return _fixed_order_case(record)
    if name in _GRADIENT_CHECKS:
        return _gradient_case(record)
    if name in _PROPERTY_CHECKS or name in _WITHOUT_GRAD:
        return _property_case(record)
    raise ReproducerUnsupported(f"{record.check_id}: no reproducer for the check {name!r} "
                                f"(supported: {', '.join(sorted(SUPPORTED_CHECKS))})")


def _base(record: CheckRecord, kind: ReproKind, **kw: Any) -> ReproCase:
    return ReproCase(kind=kind, check_id=record.check_id, check=record.check, iut=record.iut, method=record.method,
                     verdict=str(record.verdict), message=record.message, **kw)


def _forward_case(record: CheckRecord) -> ReproCase:
    fa = _suite("test_forward_accuracy")
    from ..oracles import best_forward_oracle

    case = _Case(record)
    problem = get_problem(record.problem)
    claims = case.claims
    name = record.check
    dtype = torch.float32 if name == "test_error_float32" else torch.float64
    batch = 3 if name == "test_error_batched" else None
    y0 = np.asarray(problem.y0, dtype=np.float64)
    notes = []
    if name == "test_error_at_interior_times":
        times = problem.t0 + (problem.t1 - problem.t0) * np.array([0.0, 0.137, 0.5, 0.861, 1.0])
    elif name == "test_error_in_reverse_time":
        times = np.array([problem.t1, problem.t0])
        start = best_forward_oracle(problem, np.array([problem.t0, problem.t1]))
        y0 = start.values[1]
        notes.append(f"y0 is the oracle's y(t1) ({start.kinds[1]}, error estimate {start.error_estimate[1]:.3g}); "
                     "expected is the problem's y(t0)")
    else:
        times = np.array([problem.t0, problem.t1])
    tol = h = None
    if claims.adaptive:
        # the suite's rule: reverse and float32 run at one tolerance within the step budget; the
        # others note the tolerance they ran at (a record of an aborted check may lack it)
        single = fa.FLOAT32_TOL if name == "test_error_float32" else fa.SINGLE_TOL
        # typed inputs hold the tolerance of every forward check; schema 1 notes it for some
        tol = (_recorded_setting(record)[0] if _typed_inputs(record) is not None
               or name not in ("test_error_in_reverse_time", "test_error_float32") else None)
        if tol is None:
            tol = fa.budget_tolerance(case, problem, single)
            if name not in ("test_error_in_reverse_time", "test_error_float32"):
                notes.append(f"the record notes no tolerance: the suite's single-tolerance rule gives {tol:g}")
    else:
        case.skip_unless(needs_order=True)
        target = fa.FLOAT32_TOL if name == "test_error_float32" else 1e-6
        h = _recorded_setting(record)[1] or fa.fixed_step_for(case, problem, claims.order, target=target)
    if name == "test_error_in_reverse_time":
        expected = np.asarray(problem.y0, dtype=np.float64)[None, :]
        oracle_err = float(start.error_estimate[1])
    else:
        oracle = best_forward_oracle(problem, times)
        expected = oracle.values[1:]
        oracle_err = float(oracle.error_estimate[1:].max())
        notes.append(f"expected values: {oracle.kinds[-1]} (error estimate {oracle_err:.3g})")
    threshold, reason = record.threshold, record.threshold_reason
    figures = {k: record.measured[k] for k in ("baseline_error", "baseline_error_at_tol", "oracle_error")
               if isinstance((record.measured or {}).get(k), (int, float))}
    if figures and threshold is not None:
        notes.append("the threshold's inputs as the check measured them: "
                     + ", ".join(f"{k} = {float(v):.6g}" for k, v in figures.items()))
    if threshold is None:
        threshold, reason = _forward_threshold(fa, case, problem, name, times, y0, expected, tol, h, oracle_err)
        notes.append("the record has no threshold (the check did not complete): recomputed by the suite's rule")
    y0_in = np.broadcast_to(y0, (batch, problem.dim)) if batch else y0
    return _base(record, ReproKind.FORWARD, problem=problem.name, field_source=problem.torch_source(),
                 y0=_tolist(y0_in), t=_tolist(times), dtype=str(dtype).removeprefix("torch."),
                 rtol=tol if tol is not None else 1e-7, atol=tol if tol is not None else 1e-9, step_size=h,
                 expected=_tolist(expected), threshold=threshold, threshold_reason=reason,
                 params={"batch": batch}, notes=tuple(notes))


def _forward_threshold(fa: ModuleType, case: _Case, problem: Problem, name: str, times: np.ndarray, y0: np.ndarray,
                       expected: np.ndarray, tol: float | None, h: float | None, oracle_err: float) -> tuple[float, str]:
    """The suite's threshold, recomputed with its own functions (a record without one: an error
    or timeout verdict)."""
    claims = case.claims
    order = claims.order
    if name == "test_error_in_reverse_time":
        if claims.adaptive:
            from scipy.integrate import solve_ivp

            sol = solve_ivp(problem.numpy_rhs, (problem.t1, problem.t0), y0, rtol=tol, atol=tol,
                            method=_suite("conftest").scipy_baseline_method(order))
            base = float(np.abs(sol.y[:, -1] - np.array(problem.y0)).max())
        else:
            import reference

            with torch.no_grad():
                ref = reference.odeint(problem.make_field(), torch.tensor(y0), torch.tensor(times),
                                       method=fa.REFERENCE_OF_ORDER[order], options={"step_size": h})
            base = float(np.abs(ref[-1].numpy() - np.array(problem.y0)).max())
        return (fa._threshold(base, tol, np.array(problem.y0), oracle_err, torch.float64),
                f"{fa.FACTOR:g}x scipy's/reference's same-order error backward")
    if claims.adaptive:
        interior = name == "test_error_at_interior_times"
        if interior and claims.dense_order is not None and order is not None:
            order = min(order, claims.dense_order + 1)
        base, _ = fa._typical_baseline(case, problem, times[1:], tol, order, expected, interior)
        what = f"scipy same-order baseline at tol={tol:g}"
    else:
        base = fa._fixed_baseline(problem, times, h, order, expected)
        what = f"reference {fa.REFERENCE_OF_ORDER[order]} at h={h:.3g}"
    thr = fa._threshold(base, tol, expected, oracle_err, torch.float64)
    if name == "test_error_float32":
        thr += 1e3 * float(np.finfo(np.float32).eps) * max(float(np.abs(expected).max()), 1.0)
    return thr, f"{fa.FACTOR:g}x the {what}, plus oracle and round-off floors"


def _fixed_order_case(record: CheckRecord) -> ReproCase:
    co = _suite("test_convergence_order")
    case = _Case(record)
    case.skip_unless(needs_order=True, needs_adaptive=False)
    p = case.claims.order
    problem = get_problem(co.FIXED_PROBLEM)
    t0, t1 = problem.t0, problem.t0 + co.FIXED_SPAN
    times = np.array([t0, t1])
    hs = co._fixed_steps(p, co.FIXED_SPAN, case.profile.order_steps)
    floor = co._roundoff_floor(problem, t0, t1)
    return _base(record, ReproKind.FIXED_ORDER, problem=f"{co.FIXED_PROBLEM}[0,{co.FIXED_SPAN:g}]",
                 field_source=problem.torch_source(), y0=_tolist(problem.y0), t=_tolist(times),
                 expected=_tolist(problem.exact(times)[1]), threshold=float(co.ORDER_TOL),
                 threshold_reason="|observed order - claimed order| <= 0.2 (the issue's allowance; the slope moves "
                                  "by ~(C_(p+1)/C_p) h in the asymptotic range)",
                 params={"step_sizes": [float(h) for h in hs], "claimed_order": p, "roundoff_floor": floor},
                 notes=(f"h = span / (N + {co.SPAN_FRACTION}): no step size divides the interval",
                        "expected: the closed form of B4 at t1"))


def _gradient_case(record: CheckRecord) -> ReproCase:
    gr = _suite("test_gradients")
    case = _Case(record)
    group = _GRADIENT_CHECKS[record.check]
    setup = gr.setup_for(record.problem, _GRADIENT_DIRECTION.get(record.check, "forward"), case.config.seed)
    tol, h = _recorded_setting(record)
    if tol is None and h is None:
        gtol = (max(case.profile.gradient_tolerances) if group is None else min(case.profile.gradient_tolerances))
        tol, h = gr._setting(case, setup, gtol)
    f = setup.field()
    names = [n for n, p in f.named_parameters() if p.requires_grad]
    threshold, reason = record.threshold, record.threshold_reason
    if group is None:
        threshold, reason = 0.0, "every input that requires grad and is used gets a gradient (not None)"
    elif threshold is None:  # the check stopped before its bound (a missing gradient): the suite's bound
        from ..pytest_plugin import Check  # the bound records its inputs on a check: a scratch one

        threshold, reason, _ = gr.bound(case, setup, group, tol=tol, h=h if tol is None else None,
                                        oracle_err=setup.oracle.error_estimate[group], check=Check())
    expected = {"y0": _tolist(setup.oracle.group("y0")), "params": _tolist(setup.oracle.group("params")),
                "t": _tolist(setup.oracle.group("t"))}
    return _base(record, ReproKind.GRADIENT, problem=record.problem, field_source=vector_field_source(f),
                 y0=_tolist(setup.y0), t=_tolist(setup.t), rtol=tol if tol is not None else 1e-7,
                 atol=tol if tol is not None else 1e-9, step_size=h if tol is None else None,
                 expected=expected, threshold=threshold, threshold_reason=reason,
                 params={"group": group, "cotangents": _tolist(setup.g), "t_grad": case.claims.t_grad,
                         "param_names": names,
                         "oracle_error": {k: float(v) for k, v in setup.oracle.error_estimate.items()}},
                 notes=("L = sum_i g_i . y(t_i), seeded standard-normal cotangents g (suites/test_gradients.py)",
                        "expected gradients: forward sensitivities (variational equations, scipy DOP853 at 1e-12)",
                        "the field's constants are trainable parameters (buffers turned into parameters)"))


# --------------------------------------------------------------------------- property examples
# A property check draws its inputs; its record keeps the drawn example's shape (times, dims),
# not its numbers. The script reproduces the property on one fixed example that a defect of the
# kind the check catches cannot pass: the suites' own explicit examples where they have one.
_MIXED = dict(A=[[-1.0, 0.5], [-0.5, -1.0]], B=[[1.0, 0.0], [0.0, 1.0]], c=0.5, d=[0.0, 0.0])  # batch explicit
_SLOW = dict(A=[[-0.1, 0.0], [0.0, -0.1]], B=[[0.0, 0.0], [0.0, 0.0]], c=0.0, d=[0.0, 0.0])   # outside-span explicit
# y' = (t, -t): a quadratic solution, which a 3rd-order pair integrates exactly (error estimate 0,
# so its steps grow by the maximum factor and an output read off an interpolant after stepping
# past it shows: torchdiffeq bosh3's known finding), and a negative component in y0
_LINEAR = dict(A=[[0.0, 0.0], [0.0, 0.0]], B=[[0.0, 0.0], [0.0, 0.0]], c=0.0, d=[1.0, -1.0])
_LINEAR_Y0 = [0.5, -0.4]
_ZERO_Y0 = [1 / 3, 8.725897535233584e-07, -2.5e7]  # the zero-field check's explicit non-dyadic state


def _drawn_field_source(spec: dict[str, Any] | None) -> str:
    """The suite's DrawnField (or ZeroField for spec None) as standalone source, from the suite's
    own class text (one definition), with the example's numbers."""
    tp = _suite("test_properties")
    if spec is None:
        return ("import torch\nfrom torch import nn\n\n\n" + inspect.getsource(tp.ZeroField)
                + "\n\nclass Field(ZeroField):\n    def __init__(self, dtype=torch.float64, device='cpu'):\n"
                  "        super().__init__()\n")
    linear = spec["c"] == 0.0
    return ("import torch\nfrom torch import nn\n\n\n"
            "class Spec:\n    \"\"\"The drawn field's numbers (suites/test_properties.py FieldSpec).\"\"\"\n\n"
            f"    A = {spec['A']!r}\n    B = {spec['B']!r}\n    c = {float(spec['c'])!r}\n    d = {spec['d']!r}\n"
            f"    linear = {linear!r}\n\n\n" + inspect.getsource(tp.DrawnField)
            + "\n\nclass Field(DrawnField):\n    def __init__(self, dtype=torch.float64, device='cpu', rate=1.0):\n"
              "        super().__init__(Spec, dtype, rate)\n")


def _property_case(record: CheckRecord) -> ReproCase:
    tp = _suite("test_properties")
    case = _Case(record)
    claims = case.claims
    name = record.check
    kind = _PROPERTY_CHECKS.get(name) or _WITHOUT_GRAD[name]
    grad_mode = str((record.extra or {}).get("grad_mode") or "autograd") if name in _WITHOUT_GRAD else "autograd"
    loose = tp.LOOSE_TOL
    measured = record.measured or {}
    kw: dict[str, Any] = {}
    notes: list[str] = []
    if kind in (ReproKind.MUTATION, ReproKind.DETERMINISM):
        times = [0.0, 0.25, 0.5]
        notes.append("a batch of one (shape (1, 2)): an output that loses an axis of length 1 shows")
        kw = dict(field_source=_drawn_field_source(_MIXED), y0=[[0.7, -0.4]], t=times,
                  rtol=loose, atol=loose, step_size=None if claims.adaptive else (times[-1] - times[0]) / 8,
                  threshold=0.0, threshold_reason="exact: " + ("inputs are read-only" if kind is ReproKind.MUTATION
                                                              else "bitwise equality of two identical calls"),
                  params={"backward": kind is ReproKind.MUTATION and grad_mode == "autograd"
                          and claims.gradients != "none"})
    elif kind is ReproKind.ONE_POINT:
        t0 = float(measured["t0"]) if isinstance(measured.get("t0"), (int, float)) else 0.5
        kw = dict(field_source=_drawn_field_source(_MIXED), y0=[[0.7, -0.4]], t=[t0], rtol=loose, atol=loose,
                  step_size=None if claims.adaptive else 0.1, threshold=0.0,
                  threshold_reason="exact: no step is taken; shape (1, *y0.shape), y0's dtype")
        notes.append("a batch of one: an output that loses an axis of length 1 shows")
    elif kind is ReproKind.ZERO_FIELD:
        times = [0.0, 0.35, 0.7]
        kw = dict(field_source=_drawn_field_source(None), y0=[list(_ZERO_Y0)], t=times, rtol=loose, atol=loose,
                  step_size=None if claims.adaptive else 0.7 / 7, threshold=0.0,
                  threshold_reason="exact: every increment is h * 0")
        notes.append("non-dyadic values of three magnitudes (the suite's explicit example), as a batch of one")
    elif kind is ReproKind.OUTSIDE_SPAN:
        times = [float(x) for x in measured["t"]] if isinstance(measured.get("t"), list) and measured["t"] else [0.0, 1e-3]
        lo, hi = min(times), max(times)
        span = hi - lo
        kw = dict(field_source=_drawn_field_source(_SLOW), y0=[1.0, -1.0], t=times, rtol=loose, atol=loose,
                  step_size=None if claims.adaptive else max(span, 1.0) / 5,
                  threshold=4 * float(np.spacing(max(abs(lo), abs(hi)))),
                  threshold_reason="4 ulps of max |t| (a stage time c_i h may round past the end by an ulp)")
        notes.append("output times of the failing drawn example; a slow field (|y|/|f| = 10), the suite's explicit one")
    elif kind is ReproKind.SHAPES:
        kw = dict(field_source=_drawn_field_source(_MIXED), y0=[[0.7, -0.4]], t=[0.0, 0.3, 0.6], rtol=loose,
                  atol=loose, step_size=None if claims.adaptive else 0.6 / 8, threshold=0.0,
                  threshold_reason="exact: shape (len(t), *y0.shape), y0's dtype, finite",
                  params={"dtypes": ["float64", "float32"] if claims.float32 else ["float64"]})
        notes.append("a batch of one (shape (1, 2)), in float64" + (" and float32" if claims.float32 else ""))
    elif kind is ReproKind.BATCH:
        kw = _batch_params(tp, case)
    elif kind is ReproKind.LINEAR_EXPM:
        kw = _expm_params(tp, case)
    return _base(record, kind, problem=record.problem or "drawn field", grad_mode=grad_mode,
                 notes=tuple(notes) + tuple(kw.pop("notes", ())), **kw)


def _bound_coefficients(tp: ModuleType, spec: Any, y0: np.ndarray, ta: float, tb: float, tol: float,
                        n_elems: int) -> float:
    """E_adaptive per evaluation of f: the suite's bound is linear in nfe (G nfe sqrt(n) (atol +
    rtol Ymax) + 10 nfe eps G Ymax), so the script multiplies this by the nfe it counts."""
    return float(tp.adaptive_bound(spec, y0, ta, tb, 1, tol, n_elems))


def _batch_params(tp: ModuleType, case: _Case) -> dict[str, Any]:
    """The batch-independence check's explicit example: rates 1 and 10 (steps 10x apart)."""
    adaptive, p, h = tp._accuracy_mode(case)
    tol = _suite("conftest").property_tolerance(case)
    spec_d = dict(_MIXED, c=0.5 if adaptive else 0.0)
    spec = tp.FieldSpec(np.array(spec_d["A"]), np.array(spec_d["B"]), spec_d["c"], np.array(spec_d["d"]), "stable")
    y0 = np.array([[0.7, -0.4], [0.3, 0.9]])
    rates = [1.0, 10.0]
    times = [0.0, 0.5] if adaptive else [0.0, 4 * h]
    per = []
    for idx, r in enumerate(rates):
        s = spec.scaled(r)
        if adaptive:
            per.append({"alone_per_nfe": _bound_coefficients(tp, s, y0[idx], times[0], times[1], tol, 2),
                        "batch_per_nfe": _bound_coefficients(tp, s, y0[idx], times[0], times[1], tol, 4),
                        "fixed": 0.0})
        else:
            per.append({"alone_per_nfe": 0.0, "batch_per_nfe": 0.0,
                        "fixed": 2 * tp.fixed_bound(s, y0[idx], times[0], times[1], h, p, roundoff_only=True)})
    return dict(field_source=_drawn_field_source(spec_d), y0=y0.tolist(), t=times, rtol=tol, atol=tol, step_size=h,
                threshold=None, threshold_reason=("E_alone + E_batch (adaptive: G nfe sqrt(n) (atol + rtol Ymax) + "
                                                  "round-off, per solve, nfe counted) / twice the round-off of the "
                                                  "same steps (fixed)"),
                params={"rates": rates, "bounds": per},
                notes=("the suite's explicit example: the second element needs steps 10x smaller",))


def _expm_params(tp: ModuleType, case: _Case) -> dict[str, Any]:
    """A linear system y' = A y + d t with a negative component in y0, against expm."""
    adaptive, p, h = tp._accuracy_mode(case)
    tol = _suite("conftest").property_tolerance(case)
    spec = tp.FieldSpec(np.array(_LINEAR["A"]), np.array(_LINEAR["B"]), 0.0, np.array(_LINEAR["d"]), "stable")
    y0 = np.array(_LINEAR_Y0)
    if adaptive:
        times = np.array([0.0, 0.5, 1.0])
    else:
        times = np.arange(3) * (int(tp.MAX_SPAN / h) // 2) * h
    exact = spec.exact(y0, times[0], times[1] - times[0], len(times) - 1)
    per_nfe, fixed, expm_err = [], [], []
    for tj in times[1:]:
        T = abs(tj - times[0])
        Z = math.sqrt(tp.ymax_bound(spec, y0, times[0], tj) ** 2 + tj ** 2 + 1)
        expm_err.append(1e3 * tp.EPS64 * (1 + T * tp._norm2(spec.augmented())) * Z)
        per_nfe.append(_bound_coefficients(tp, spec, y0, times[0], tj, tol, spec.n) if adaptive else 0.0)
        fixed.append(0.0 if adaptive else tp.fixed_bound(spec, y0, times[0], tj, h, p))
    return dict(field_source=_drawn_field_source(_LINEAR), y0=y0.tolist(), t=times.tolist(), rtol=tol, atol=tol,
                step_size=h, expected=exact[1:].tolist(), threshold=None,
                threshold_reason="E_adaptive (G nfe sqrt(n) (atol + rtol Ymax) + round-off, nfe counted) or E_fixed "
                                 "(order, h) + expm's error 1e3 eps (1 + T ||M||) Zmax, per output time",
                params={"per_nfe": per_nfe, "fixed": fixed, "expm_error": expm_err},
                notes=("y' = A y + d t with A = 0, d = (1, -1): a quadratic solution; y0 has a negative component",
                       "expected: expm of the augmented matrix (scipy.linalg.expm, at write time)"))


# ------------------------------------------------------------------------------- implementations
def impl_spec_for(iut: str) -> tuple[str, dict[str, Any], str]:
    """(spec the script loads by default, keyword arguments bound to it, embedded adapter source
    or "") for an implementation name as a record carries it."""
    if iut in _BUILTIN_SPECS:
        spec, kwargs = _BUILTIN_SPECS[iut]
        return spec, dict(kwargs), ""
    if iut in _INLINE_ADAPTERS:
        from .. import implementations

        fn_name, globals_needed, helpers, kwargs = _INLINE_ADAPTERS[iut]
        parts = [f"{g} = {getattr(implementations, g)!r}" for g in globals_needed]
        parts += [inspect.getsource(getattr(implementations, h)) for h in helpers]
        parts.append(inspect.getsource(getattr(implementations, fn_name)))
        return f"__main__:{fn_name}", dict(kwargs), "\n\n".join(parts)
    if ":" in iut:
        return iut, {}, ""
    raise ReproducerUnsupported(f"implementation {iut!r}: no standalone spec (give 'module:callable')")


# ---------------------------------------------------------------------------------- rendering
_HEADER = '''#!/usr/bin/env python3
"""Reproducer: $TITLE

check:           $CHECK_ID
implementation:  $IUT   method: $METHOD
verdict:         $VERDICT$MESSAGE

Run:  python $FILENAME [--impl module:callable]   (or set $$$IMPL_ENV)
      e.g. --impl reference:odeint to see a correct solver pass.
Exit status: 1 while the defect is present, 0 once fixed, 2 on bad usage.
Needs torch and the implementation under test only (written by ode-harness $VERSION; it does not
need ode-harness to run). The implementation is called like torchdiffeq's
odeint(func, y0, t, rtol=, atol=, method=, options=).
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import importlib
import math
import os
import signal
import sys
import traceback

import torch

DEFAULT_IMPL = $DEFAULT_IMPL
IMPL_KWARGS = $IMPL_KWARGS  # bound to DEFAULT_IMPL only
METHOD = $METHOD_R
TIMEOUT_S = $TIMEOUT  # a call that does not return by then is a defect (hang)
'''

_RUNTIME = r'''

# ---------------------------------------------------------------------------- running it
class Timeout(BaseException):
    pass


def load_impl(spec):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        print(f"error: --impl expects 'module:callable', got {spec!r}", file=sys.stderr)
        sys.exit(2)
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001
        print(f"error: cannot load {spec!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    return functools.partial(obj, **IMPL_KWARGS) if spec == DEFAULT_IMPL and IMPL_KWARGS else obj


def call(odeint, func, y0, t):
    return odeint(func, y0, t, rtol=RTOL, atol=ATOL, method=METHOD, options=OPTIONS)


class Counting(torch.nn.Module):
    """Wraps the field (as a submodule, so adjoints see its parameters) and records every t."""

    def __init__(self, func):
        super().__init__()
        self.func = func
        self.times = []

    def forward(self, t, y):
        self.times.append(float(t))
        return self.func(t, y)


def solve(odeint, field, dtype=torch.float64, context=None):
    """One call on Y0, T; returns (ys, y0, t, what is wrong with the output or None)."""
    y0 = torch.tensor(Y0, dtype=dtype)
    t = torch.tensor(T, dtype=dtype)
    with context if context is not None else torch.no_grad():
        ys = call(odeint, field, y0, t)
    return ys, y0, t, contract_problem(ys, y0, t)


def property_context():
    """The property suites solve under torch.no_grad(); the without-grad variants in GRAD_MODE."""
    return torch.no_grad() if GRAD_MODE == "autograd" else grad_context()


def grad_context():
    if GRAD_MODE == "no_grad":
        return torch.no_grad()
    if GRAD_MODE == "inference_mode":
        return torch.inference_mode()
    return torch.enable_grad()


def contract_problem(ys, y0, t, finite=True):
    """What is wrong with the output's type, shape, dtype, or (`finite`) its finiteness for a
    finite input (None when nothing)."""
    if not isinstance(ys, torch.Tensor):
        return f"expected a torch.Tensor, got {type(ys).__name__}"
    want = (len(t), *y0.shape)
    bad = []
    if tuple(ys.shape) != want:
        bad.append(f"shape expected {want} = (len(t), *y0.shape), got {tuple(ys.shape)}")
    if ys.dtype != y0.dtype:
        bad.append(f"dtype expected {y0.dtype} (y0's), got {ys.dtype}")
    if not bad and finite and not bool(torch.isfinite(ys.detach()).all()):
        bad_at = (~torch.isfinite(ys.detach())).nonzero()[0].tolist()
        bad.append(f"non-finite output ys{bad_at} = {ys.detach()[tuple(bad_at)].item()} for finite y0 and t")
    return "; ".join(bad) or None


def show(label, values, limit=8):
    flat = [float(v) for v in torch.as_tensor(values, dtype=torch.float64).reshape(-1)]
    more = f" ... ({len(flat)} values)" if len(flat) > limit else ""
    print(f"  {label:<9}" + " ".join(f"{v: .17g}" for v in flat[:limit]) + more)


def main():
    global METHOD
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--impl", default=os.environ.get(IMPL_ENV) or DEFAULT_IMPL,
                        help=f"implementation under test, module:callable (default {DEFAULT_IMPL}; env {IMPL_ENV})")
    parser.add_argument("--method", default=None,
                        help=f"method name passed to it (default {METHOD!r}; e.g. another library's name of "
                             "the same method)")
    args = parser.parse_args()
    METHOD = args.method or METHOD
    odeint = load_impl(args.impl)
    print(f"implementation: {args.impl}   method: {METHOD}")

    def on_alarm(signum, frame):
        raise Timeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT_S)
    faulthandler.dump_traceback_later(TIMEOUT_S + 30, exit=True)  # a hang inside C code: hard stop, status 1
    try:
        ok, summary = reproduce(odeint)
    except Timeout:
        print(f"DEFECT: the call did not return within {TIMEOUT_S} s")
        return 1
    except Exception:  # noqa: BLE001 - the implementation raising is the defect
        traceback.print_exc()
        print("DEFECT: the implementation raised on this valid input (traceback above)")
        return 1
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()
    print(("OK: " if ok else "DEFECT: ") + summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
'''

_BODIES: dict[ReproKind, str] = {}

_BODIES[ReproKind.FORWARD] = r'''
def reproduce(odeint):
    ys, y0, t, bad = solve(odeint, Field(dtype=DTYPE), DTYPE)
    if bad:
        return False, bad
    got = ys[1:].to(torch.float64)
    expected = torch.tensor(EXPECTED, dtype=torch.float64)
    if BATCH:
        expected = expected.unsqueeze(-2).expand_as(got)
    for i in range(got.shape[0]):
        print(f"t = {float(t[i + 1])!r}:")
        show("expected", expected[i])
        show("got", got[i])
    err = float((got - expected).abs().max())
    return err <= THRESHOLD, f"max abs error {err:.6g} against threshold {THRESHOLD:.6g}"
'''

_BODIES[ReproKind.FIXED_ORDER] = r'''
def reproduce(odeint):
    """Errors at t1 for each h, and the least-squares slope of log(error) against log(h) over
    the errors above the round-off floor."""
    y0 = torch.tensor(Y0, dtype=torch.float64)
    t = torch.tensor(T, dtype=torch.float64)
    expected = torch.tensor(EXPECTED, dtype=torch.float64)
    show("expected", expected)
    hs, errs = [], []
    for h in STEP_SIZES:
        with torch.no_grad():
            ys = odeint(Field(), y0, t, rtol=RTOL, atol=ATOL, method=METHOD, options={"step_size": h})
        bad = contract_problem(ys, y0, t)
        if bad:
            return False, bad
        err = float((ys[-1].to(torch.float64) - expected).abs().max())
        print(f"  h = {h:.6g}: error at t1 {err:.6g}")
        if math.isfinite(err) and err > ROUNDOFF_FLOOR:
            hs.append(h)
            errs.append(err)
        elif not math.isfinite(err):
            return False, f"non-finite error at h = {h!r}"
    if len(hs) < 2:
        return False, f"fewer than two errors above the round-off floor {ROUNDOFF_FLOOR:.3g}: no convergence to fit"
    lx = [math.log(h) for h in hs]
    ly = [math.log(e) for e in errs]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
    return (abs(slope - CLAIMED_ORDER) <= THRESHOLD,
            f"observed order {slope:.3f}, claimed {CLAIMED_ORDER} (allowed difference {THRESHOLD})")
'''

_BODIES[ReproKind.GRADIENT] = r'''
def reproduce(odeint):
    field = Field()
    params = [p for p in field.parameters() if p.requires_grad]
    y0 = torch.tensor(Y0, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(T, dtype=torch.float64, requires_grad=T_GRAD)
    ys = call(odeint, field, y0, t)
    bad = contract_problem(ys, y0, t)
    if bad:
        return False, bad
    loss = (ys * torch.tensor(COTANGENTS, dtype=ys.dtype)).sum()
    inputs = [y0, *params] + ([t] if T_GRAD else [])
    names = ["y0", *PARAM_NAMES] + (["t"] if T_GRAD else [])
    grads = torch.autograd.grad(loss, inputs, allow_unused=True) if loss.requires_grad else [None] * len(inputs)
    missing = [n for n, g in zip(names, grads) if g is None]
    by_name = dict(zip(names, grads))
    if GROUP is None:
        return not missing, ("no gradient is missing" if not missing
                             else f"no gradient (None) reaches {', '.join(missing)}, which require grad and are used")
    if GROUP == "y0":
        parts = ["y0"]
    elif GROUP == "params":
        parts = PARAM_NAMES
    else:
        parts = ["t"]
    if any(by_name[n] is None for n in parts):
        return False, f"the gradient with respect to {GROUP} is missing (None) for {[n for n in parts if by_name[n] is None]}"
    got = torch.cat([by_name[n].detach().to(torch.float64).reshape(-1) for n in parts])
    expected = torch.tensor(EXPECTED[GROUP], dtype=torch.float64)
    show("expected", expected)
    show("got", got)
    err = float(torch.linalg.vector_norm(got - expected))
    rel = err / max(float(torch.linalg.vector_norm(expected)), 1e-300)
    return err <= THRESHOLD, (f"||dL/d{GROUP} - expected|| = {err:.6g} (relative {rel:.3g}) against threshold "
                              f"{THRESHOLD:.6g}")
'''

_BODIES[ReproKind.MUTATION] = r'''
def reproduce(odeint):
    field = Field()
    y0 = torch.tensor(Y0, dtype=torch.float64)
    t = torch.tensor(T, dtype=torch.float64)
    if GRAD_MODE == "inputs_without_grad":
        field.requires_grad_(False)
    elif BACKWARD:
        y0.requires_grad_(True)
    names = ["y0", "t", *[n for n, _ in field.named_parameters()]]
    before = [y0.detach().clone(), t.clone(), *[p.detach().clone() for p in field.parameters()]]

    def changed_inputs(when):
        after = [y0.detach(), t, *[p.detach() for p in field.parameters()]]
        changed = []
        for name, a, b in zip(names, before, after):
            if not torch.equal(a, b):
                changed.append(name)
                print(f"{name} changed {when}:")
                show("before", a)
                show("after", b)
        return changed

    with grad_context():
        ys = call(odeint, field, y0, t)
        bad = contract_problem(ys, y0, t)
        if bad:
            return False, bad
        changed = changed_inputs("by the solve")
        if changed:
            return False, f"inputs modified in place by the solve: {', '.join(changed)}"
        if BACKWARD:
            ys.sum().backward()
    changed = changed_inputs("by the backward pass")
    return not changed, ("no input changed" if not changed
                         else f"inputs modified in place by the backward pass: {', '.join(changed)}")
'''


_BODIES[ReproKind.DETERMINISM] = r'''
def reproduce(odeint):
    field = Field()
    if GRAD_MODE == "inputs_without_grad":
        field.requires_grad_(False)
    runs = []
    for _ in range(2):
        ys, y0, t, bad = solve(odeint, field, context=property_context())
        if bad:
            return False, bad
        runs.append(ys.detach().clone())
    a, b = runs
    show("run 1", a[-1])
    show("run 2", b[-1])
    same = a.shape == b.shape and a.dtype == b.dtype and torch.equal(
        a.contiguous().view(torch.int64), b.contiguous().view(torch.int64))
    diff = float((a - b).abs().max()) if a.shape == b.shape else float("nan")
    return same, "two identical calls are bitwise equal" if same else f"two identical calls differ (max {diff:.3g})"
'''

_BODIES[ReproKind.ONE_POINT] = r'''
def reproduce(odeint):
    field = Field()
    if GRAD_MODE == "inputs_without_grad":
        field.requires_grad_(False)
    ys, y0, t, bad = solve(odeint, field, context=property_context())
    if bad:
        return False, bad
    show("y0", y0)
    show("got", ys[0])
    n = int((ys[0] != y0).sum())
    return n == 0, "t of one point returns y0 exactly" if n == 0 else f"{n} element(s) differ from y0"
'''

_BODIES[ReproKind.ZERO_FIELD] = r'''
def reproduce(odeint):
    ys, y0, t, bad = solve(odeint, Field(), context=property_context())
    if bad:
        return False, bad
    show("y0", y0)
    for i in range(len(t)):
        show(f"t={float(t[i]):g}", ys[i])
    n = int(((ys != y0.expand_as(ys)) | ~torch.isfinite(ys)).sum())
    return n == 0, "f = 0 keeps y exactly" if n == 0 else f"f = 0, yet {n} output element(s) differ from y0"
'''

_BODIES[ReproKind.OUTSIDE_SPAN] = r'''
def reproduce(odeint):
    field = Counting(Field())
    ys, y0, t, bad = solve(odeint, field)
    if bad:
        return False, bad
    lo, hi = min(T), max(T)
    seen_lo, seen_hi = min(field.times, default=lo), max(field.times, default=hi)
    print(f"  span [{lo!r}, {hi!r}]; f evaluated on [{seen_lo!r}, {seen_hi!r}] ({len(field.times)} evaluations)")
    outside = max(lo - seen_lo, seen_hi - hi, 0.0)
    return outside <= THRESHOLD, f"f evaluated {outside:.6g} outside the span (allowed {THRESHOLD:.3g})"
'''

_BODIES[ReproKind.SHAPES] = r'''
def reproduce(odeint):
    wrong = []
    for name in DTYPES:
        dtype = getattr(torch, name)
        field = Field(dtype=dtype)
        if GRAD_MODE == "inputs_without_grad":
            field.requires_grad_(False)
        ys, y0, t, bad = solve(odeint, field, dtype, context=property_context())
        if bad is None and not bool(torch.isfinite(ys).all()):
            bad = "non-finite output"
        print(f"  {name}: y0 shape {tuple(y0.shape)}, output "
              f"{tuple(ys.shape) if isinstance(ys, torch.Tensor) else type(ys).__name__} "
              f"{ys.dtype if isinstance(ys, torch.Tensor) else ''}" + (f" -- {bad}" if bad else ""))
        if bad:
            wrong.append(f"{name}: {bad}")
    return not wrong, "shapes and dtypes kept" if not wrong else "; ".join(wrong)
'''

_BODIES[ReproKind.BATCH] = r'''
def reproduce(odeint):
    t = torch.tensor(T, dtype=torch.float64)
    rates = torch.tensor(RATES, dtype=torch.float64).reshape(-1, 1)
    batch = Counting(Field(rate=rates))
    with torch.no_grad():
        yb = call(odeint, batch, torch.tensor(Y0, dtype=torch.float64), t)
    bad = contract_problem(yb, torch.tensor(Y0, dtype=torch.float64), t)
    if bad:
        return False, bad
    worst, summary = -1.0, ""
    for i, r in enumerate(RATES):
        alone = Counting(Field(rate=r))
        with torch.no_grad():
            ya = call(odeint, alone, torch.tensor(Y0[i], dtype=torch.float64), t)
        bad = contract_problem(ya, torch.tensor(Y0[i], dtype=torch.float64), t)
        if bad:
            return False, f"element {i} alone: {bad}"
        diff = float((yb[-1, i].to(torch.float64) - ya[-1].to(torch.float64)).abs().max())
        b = BOUNDS[i]
        thr = b["alone_per_nfe"] * len(alone.times) + b["batch_per_nfe"] * len(batch.times) + b["fixed"]
        print(f"element {i} (rate {r:g}):")
        show("alone", ya[-1])
        show("batch", yb[-1, i])
        print(f"  difference {diff:.6g}, bound {thr:.6g}")
        if not diff <= thr or diff / thr > worst:
            worst = math.inf if not diff <= thr else diff / thr
            summary = f"element {i}: alone and in the batch differ by {diff:.6g} against the bound {thr:.6g}"
    return worst <= 1.0, summary
'''

_BODIES[ReproKind.LINEAR_EXPM] = r'''
def reproduce(odeint):
    field = Counting(Field())
    ys, y0, t, bad = solve(odeint, field)
    if bad:
        return False, bad
    nfe = len(field.times)
    ok, summary = True, ""
    for j in range(1, len(T)):
        expected = torch.tensor(EXPECTED[j - 1], dtype=torch.float64)
        err = float((ys[j].to(torch.float64) - expected).abs().max())
        thr = PER_NFE[j - 1] * nfe + FIXED[j - 1] + EXPM_ERROR[j - 1]
        print(f"t = {T[j]!r}:")
        show("expected", expected)
        show("got", ys[j])
        print(f"  error {err:.6g}, bound {thr:.6g} (nfe {nfe})")
        if not err <= thr:
            ok, summary = False, f"error {err:.6g} at t = {T[j]!r} against the bound {thr:.6g}"
    return ok, summary or "every output time within its bound"
'''


def _lit(x: Any) -> str:
    """A Python literal (floats by repr: exact round trip; nan/inf through float())."""
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return repr(x) if math.isfinite(x) else f"float({repr(x)!r})"
    if isinstance(x, np.integer):
        return repr(int(x))
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_lit(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_lit(v)}" for k, v in x.items()) + "}"
    return repr(x)


def _title(case: ReproCase) -> str:
    what = {ReproKind.FORWARD: "solution off the oracle", ReproKind.FIXED_ORDER: "observed order off the claim",
            ReproKind.GRADIENT: "gradient off the forward-sensitivity oracle",
            ReproKind.MUTATION: "an input is modified in place", ReproKind.DETERMINISM: "two identical calls differ",
            ReproKind.ONE_POINT: "t of one point does not return y0", ReproKind.ZERO_FIELD: "f = 0 moves y",
            ReproKind.OUTSIDE_SPAN: "f evaluated outside the span",
            ReproKind.SHAPES: "output shape or dtype broken", ReproKind.BATCH: "batch elements coupled",
            ReproKind.LINEAR_EXPM: "linear system off expm"}[case.kind]
    mode = f" ({case.grad_mode})" if case.grad_mode != "autograd" else ""
    return f"{case.iut} {case.method}: {what}{mode} [{case.check}]"


def render_script(case: ReproCase, *, impl_spec: str | None = None, filename: str = "reproducer.py",
                  timeout_s: int = 120) -> str:
    """The script's text for `case`; `impl_spec` overrides the default implementation."""
    from .. import __version__

    spec, kwargs, adapter = impl_spec_for(impl_spec or case.iut)
    header = string.Template(_HEADER).substitute(
        TITLE=_title(case), CHECK_ID=case.check_id, IUT=case.iut, METHOD=case.method, VERDICT=case.verdict,
        MESSAGE=("\n                 " + case.message.replace('"""', "'''")[:300]) if case.message else "",
        FILENAME=filename, IMPL_ENV=IMPL_ENV, VERSION=__version__, DEFAULT_IMPL=repr(spec),
        IMPL_KWARGS=_lit(kwargs), METHOD_R=repr(case.method), TIMEOUT=int(timeout_s))
    inputs = [f"IMPL_ENV = {IMPL_ENV!r}",
              f"PROBLEM = {case.problem!r}",
              f"DTYPE = torch.{case.dtype}",
              f"GRAD_MODE = {case.grad_mode!r}  # autograd | inputs_without_grad | no_grad | inference_mode",
              f"RTOL = {_lit(float(case.rtol))}",
              f"ATOL = {_lit(float(case.atol))}",
              f"OPTIONS = {_lit({'step_size': float(case.step_size)}) if case.step_size is not None else None}",
              f"Y0 = {_lit(case.y0)}",
              f"T = {_lit(case.t)}"]
    for note in case.notes:
        inputs.append(f"# {note}")
    inputs.append(f"EXPECTED = {_lit(case.expected)}")
    if case.threshold_reason:
        inputs.append(f"# threshold: {case.threshold_reason}")
    inputs.append(f"THRESHOLD = {_lit(float(case.threshold)) if case.threshold is not None else None}")
    for key, value in case.params.items():
        inputs.append(f"{key.upper()} = {_lit(value)}")
    parts = [header, "\n# " + "-" * 76 + " the problem\n", _strip_imports(case.field_source)]
    if adapter:
        parts += ["\n# " + "-" * 60 + " the implementation's adapter\n", adapter]
    parts += ["\n# " + "-" * 73 + " inputs, expected\n", "\n".join(inputs) + "\n", _BODIES[case.kind], _RUNTIME]
    return "\n".join(parts)


_KNOWN_IMPORTS = {"import torch", "from torch import nn", "import torch.nn.functional as F", "import math"}


def _strip_imports(source: str) -> str:
    """The field source without the imports the header has, plus the ones it needs."""
    lines = source.splitlines()
    extra = [ln for ln in lines if ln.startswith(("import ", "from ")) and ln not in ("import torch", "import math")]
    body = [ln for ln in lines if not ln.startswith(("import ", "from "))]
    return "\n".join(extra + body).strip("\n") + "\n"


def _slug(check_id: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", check_id.partition("[")[0]).strip("_")
    return f"{base}_{hashlib.sha1(check_id.encode()).hexdigest()[:8]}"


def write_reproducer(record: CheckRecord | ReproCase, folder: str | Path, *, impl_spec: str | None = None,
                     name: str | None = None, timeout_s: int = 120) -> Path:
    """Write the reproducer script of `record` (a failing CheckRecord, or a ReproCase built by
    `repro_case`) into `folder` and return its path (`Finding.reproducer` is it relative to the
    report folder). `impl_spec` replaces the record's implementation as the script's default
    (e.g. the ``module:callable`` the CLI was given). ReproducerUnsupported when the check has no
    reproducer."""
    case = record if isinstance(record, ReproCase) else repro_case(record)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    filename = name or f"repro_{_slug(case.check_id)}.py"
    path = folder / filename
    path.write_text(render_script(case, impl_spec=impl_spec, filename=filename, timeout_s=timeout_s))
    return path


def case_json(case: ReproCase) -> str:
    """The case as JSON (for debugging and for the report)."""
    return json.dumps({k: (str(v) if isinstance(v, enum.Enum) else v) for k, v in case.__dict__.items()
                       if k != "field_source"}, default=str)


# ------------------------------------------------------------------------- one per finding
# Writing a reproducer computes its expected values with the harness's oracles (a reference
# solve at tight tolerance, a forward-sensitivity solve for a gradient): about a second each on
# the quick problems, a few for the gradient ones. The budget bounds the whole pass so that a run
# with dozens of known findings does not spend minutes here; findings that gate come first.
DEFAULT_REPRO_BUDGET_S = 60.0


# Runs written scripts in ONE child interpreter (torch imported once), each as `python script.py`
# would (runpy, run_name "__main__"), and prints each exit status on a line of its own.
_VERIFY_DRIVER = """
import json, runpy, sys
for path in json.loads(sys.argv[1]):
    sys.argv = [path]
    try:
        runpy.run_path(path, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
    print("\\nODE_REPRO_VERIFIED " + json.dumps([path, code]), flush=True)
"""


def verify_reproducers(paths: list[Path], timeout_s: float) -> dict[str, int]:
    """Run the scripts (in one child process, at most `timeout_s` in all) against the
    implementation they were written for; the exit status of each that finished, by path (1: the
    defect shows, 0: it does not, 2: the implementation could not be loaded standalone)."""
    import subprocess
    import sys

    if not paths:
        return {}
    try:
        proc = subprocess.run([sys.executable, "-c", _VERIFY_DRIVER, json.dumps([str(p) for p in paths])],
                              capture_output=True, text=True, timeout=max(timeout_s, 1.0),
                              cwd=str(Path(paths[0]).parent))
        out = proc.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    codes: dict[str, int] = {}
    for line in out.splitlines():
        if line.startswith("ODE_REPRO_VERIFIED "):
            path, code = json.loads(line.removeprefix("ODE_REPRO_VERIFIED "))
            codes[path] = int(code)
    return codes


def finding_reproducers(diagnosis: Any, records: list[CheckRecord], folder: str | Path, *,
                        relative_to: str | Path | None = None, time_budget_s: float = DEFAULT_REPRO_BUDGET_S,
                        verify: bool = True) -> tuple[Any, list[str]]:
    """Write one reproducer per finding of `diagnosis` into `folder`, from the first of its checks
    that has one (`repro_case`), and return (the diagnosis with `Finding.reproducer` set, the
    one-line reasons of the findings left without one). Paths are relative to `relative_to` (the
    report folder) when the folder is inside it, else absolute. Findings that are not known come
    first; the pass stops when `time_budget_s` is spent (after the first; the rest are named in the
    reasons). With `verify`, the scripts are then run against the implementation they were written
    for (`verify_reproducers`, in the budget left, at least 30 s; a hang's script is not run, its
    exit on the timeout is by construction): one that does not show the defect (exit 0: its fixed
    example misses a drawn case, say) or cannot load the implementation standalone (exit 2) is
    removed and named in the reasons, so that a finding never links a script that says "OK". A
    failure to write one is a reason, never an exception: the diagnosis stands without it."""
    import dataclasses
    import time

    by_id = {r.check_id: r for r in records}
    folder = Path(folder)
    base = Path(relative_to).resolve() if relative_to is not None else None
    order = sorted(range(len(diagnosis.findings)), key=lambda i: diagnosis.findings[i].expected is not None)
    out = list(diagnosis.findings)
    reasons: list[str] = []
    used: set[str] = set()
    written: dict[int, Path] = {}
    t0 = time.monotonic()
    for i in order:
        f = out[i]
        label = f"{f.iut} {f.method} {f.cause_key}"
        if i != order[0] and time.monotonic() - t0 > time_budget_s:  # the first one always
            reasons.append(f"{label}: no reproducer (the {time_budget_s:.0f} s budget for reproducers was spent)")
            continue
        why = "none of its checks has a reproducer"
        for check_id in f.checks:
            rec = by_id.get(check_id)
            if rec is None:
                continue
            try:
                case = repro_case(rec)
                stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{f.iut}_{f.method}_{f.cause_key}").strip("_")
                name, n = f"{stem}.py", 1
                while name in used:
                    n += 1
                    name = f"{stem}_{n}.py"
                path = write_reproducer(case, folder, name=name)
            except ReproducerUnsupported as exc:
                why = str(exc).split(" (supported:")[0]
                continue
            except Exception as exc:  # noqa: BLE001 - a reproducer failure never costs the diagnosis
                why = f"{check_id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                continue
            used.add(name)
            p = path.resolve()
            shown = str(p.relative_to(base)) if base is not None and p.is_relative_to(base) else str(p)
            out[i] = dataclasses.replace(f, reproducer=shown)
            written[i] = p
            break
        else:
            reasons.append(f"{label}: no reproducer ({why})")
    if verify:
        to_run = {i: p for i, p in written.items() if out[i].cause_key != "hang"}
        codes = verify_reproducers(list(to_run.values()), max(30.0, time_budget_s - (time.monotonic() - t0)))
        for i, p in to_run.items():
            f = out[i]
            code = codes.get(str(p))
            label = f"{f.iut} {f.method} {f.cause_key}"
            if code is None:
                reasons.append(f"{label}: reproducer {p.name} not verified (the budget for reproducers was spent)")
            elif code != 1:
                p.unlink(missing_ok=True)
                out[i] = dataclasses.replace(f, reproducer=None)
                reasons.append(f"{label}: reproducer removed: " + (
                    "its fixed example does not show the defect on this implementation (exit 0)" if code == 0 else
                    f"it could not load the implementation standalone (exit {code})"))
    return dataclasses.replace(diagnosis, findings=tuple(out)), reasons
