"""Typed evidence: what a check measured, against what expectation, on what problem, from what inputs.

A `harness.results.CheckRecord` (schema 2) carries one `Evidence`, built by the suites through the
`harness.pytest_plugin.Check` API. Everything downstream (report, compare, diagnosis) reads these
fields; nothing recovers meaning from the names of free-form keys.

- `Series`: a measured series (`SeriesKind`: convergence, tolerance sweep, work-precision, memory vs
  depth, ...), with named axes and units, x and y values, an optional spread per point (low/high on
  one axis, e.g. quartiles of repeated timings), the points used in a fit and the fitted slope.
- `Expectation`: the checked quantity, the `Comparison` (le / ge / within), threshold, target (for
  within), the reason, the `Derivation` inputs of the threshold and the `Override` that changed it.
- `ProblemProperties`: the test problem's properties (span, autonomous, linear, stiff, ...), from a
  `harness.problems.Problem`, plus the reverse-time / time-shift variations of a check.
- `ReproInputs`: the plain numbers and names a standalone reproducer needs to rerun the case.
- `Scalar`: one named measured value with its `Quantity` (error, order, NFE, bytes, seconds, ...).

Every class is a frozen dataclass with ``to_dict()`` / ``from_dict()``: plain JSON data, non-finite
floats tagged by `harness.results.encode_value` (``{"$float": "nan"}``), read back bit for bit.
``from_dict`` raises ValueError (naming the class and the field) for missing or unknown fields and
for values of the wrong type.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "SeriesKind", "Axis", "Comparison", "Quantity", "GradMode", "Loss", "Series", "Derivation", "Override",
    "Expectation", "ProblemProperties", "ReproInputs", "Scalar", "Evidence", "EVIDENCE_VERSION",
    "UNIT_SECONDS", "UNIT_BYTES", "UNIT_NFE", "UNIT_STEPS", "UNIT_TOL", "ERROR_QUANTITIES", "ERROR_SERIES", "CONVERGENCE_SERIES", "scalars_from",
]

# Bumped with any change of the fields below; a record's schema (harness.results.SCHEMA_VERSION)
# names the evidence layout it holds.
EVIDENCE_VERSION = 1


class SeriesKind(str, enum.Enum):
    """What a series is: the meaning of its axes."""

    CONVERGENCE = "convergence"                    # x: step size h, y: error (order = slope)
    DENSE_CONVERGENCE = "dense_convergence"        # x: step size h, y: dense-output error
    GRADIENT_CONVERGENCE = "gradient_convergence"  # x: step size h, y: gradient error
    TOLERANCE_SWEEP = "tolerance_sweep"            # x: tolerance, y: error (or error in tol units)
    GRADIENT_TOLERANCE = "gradient_tolerance"      # x: tolerance (or step size), y: gradient error
    WORK_PRECISION = "work_precision"              # x: cost (NFE or wall seconds), y: error
    NFE_SWEEP = "nfe_sweep"                        # x: tolerance (or steps), y: forward-pass NFE
    NFE_BACKWARD_SWEEP = "nfe_backward_sweep"      # x: tolerance (or steps), y: backward-pass NFE
    MEMORY_DEPTH = "memory_depth"                  # x: depth (steps, or forward NFE), y: saved bytes
    PEAK_MEMORY_DEPTH = "peak_memory_depth"        # x: depth (steps, or forward NFE), y: device peak bytes
    TIMING = "timing"                              # x: tolerance (or steps), y: seconds (spread)

    def __str__(self) -> str:
        return self.value


class Axis(str, enum.Enum):
    X = "x"
    Y = "y"


class Comparison(str, enum.Enum):
    """How an expectation compares: value <= threshold, value >= threshold, or
    |value - target| <= threshold."""

    LE = "le"
    GE = "ge"
    WITHIN = "within"


class Quantity(str, enum.Enum):
    """What a measured number is (so that compare knows an error from an order or a count)."""

    ERROR = "error"              # an absolute, relative or weighted error (smaller is better)
    GRADIENT_ERROR = "gradient_error"
    ORDER = "order"              # an observed order / slope / exponent (larger is not worse)
    NFE = "nfe"                  # function evaluations (of the forward pass)
    NFE_BACKWARD = "nfe_backward"  # function evaluations of the backward pass
    RECONSTRUCTION_ERROR = "reconstruction_error"  # an adjoint's reconstruction of y(t0)
    BYTES = "bytes"
    SECONDS = "seconds"
    RATIO = "ratio"              # a dimensionless ratio (budget use, tolerance units ...)
    COUNT = "count"
    OTHER = "other"


# quantities compared as errors (grow = regression)
ERROR_QUANTITIES = frozenset({Quantity.ERROR, Quantity.GRADIENT_ERROR, Quantity.RECONSTRUCTION_ERROR})
# series whose y is an error
ERROR_SERIES = frozenset({SeriesKind.CONVERGENCE, SeriesKind.DENSE_CONVERGENCE, SeriesKind.GRADIENT_CONVERGENCE,
                          SeriesKind.TOLERANCE_SWEEP, SeriesKind.GRADIENT_TOLERANCE, SeriesKind.WORK_PRECISION})
CONVERGENCE_SERIES = (SeriesKind.CONVERGENCE, SeriesKind.DENSE_CONVERGENCE, SeriesKind.GRADIENT_CONVERGENCE)


class GradMode(str, enum.Enum):
    """How a reproducer differentiates: not at all, by backpropagation through the solver, or by
    the implementation's adjoint."""

    NONE = "none"
    BACKPROP = "backprop"
    ADJOINT = "adjoint"


class Loss(str, enum.Enum):
    """The scalar loss a gradient check differentiates: ``sum(w * y)`` over the outputs
    (`ReproInputs.loss_weights` w; None: all ones), or ``||y(t_last)||^2``."""

    WEIGHTED_SUM = "weighted_sum"
    SQUARED_NORM_LAST = "squared_norm_last"


# units of the axes and scalars the suites record
UNIT_SECONDS = "s"
UNIT_BYTES = "B"
UNIT_NFE = "NFE"
UNIT_STEPS = "steps"   # an x axis of step counts (fixed-step sweeps)
UNIT_TOL = "tol units"  # an error divided by its tolerance (atol + rtol |y|): dimensionless

# ----------------------------------------------------------------------------- (de)serialization


def _opt_float(v: Any, where: str) -> float | None:
    """A number (numpy / torch scalars included) as a float; None stays None."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        item = getattr(v, "item", None)  # numpy / torch scalars
        if callable(item):
            v = item()
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{where}: {v!r} is not a number")
    return float(v)


def _floats(values: Iterable[Any] | None, where: str, *, optional: bool = False) -> tuple[float, ...] | None:
    if values is None:
        if optional:
            return None
        raise ValueError(f"{where}: a sequence of numbers is required")
    out = []
    for i, v in enumerate(values):
        f = _opt_float(v, f"{where}[{i}]")
        if f is None:
            raise ValueError(f"{where}[{i}]: None is not a number")
        out.append(f)
    return tuple(out)


def _encode(v: Any) -> Any:
    from .results import encode_value

    if isinstance(v, _Typed):
        return v.to_dict()
    if isinstance(v, tuple) and v and isinstance(v[0], _Typed):
        return [x.to_dict() for x in v]
    return encode_value(v)


class _Typed:
    """to_dict / from_dict over the dataclass fields; subclasses name the typed fields."""

    # field name -> class (an enum, or a _Typed subclass; a tuple field of them: (cls,))
    _TYPES: Mapping[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        from .results import decode_value

        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}")
        kw: dict[str, Any] = {}
        for k, v in data.items():
            typ = cls._TYPES.get(k)
            try:
                if v is None or typ is None:
                    kw[k] = decode_value(v)
                elif isinstance(typ, tuple):
                    kw[k] = tuple(typ[0].from_dict(x) for x in v)
                elif isinstance(typ, type) and issubclass(typ, _Typed):
                    kw[k] = typ.from_dict(v)
                else:
                    kw[k] = typ(v)
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"{cls.__name__}.{k}: {exc}") from None
        try:
            return cls(**kw)
        except TypeError as exc:  # a missing required field
            raise ValueError(f"{cls.__name__}: {exc}") from None


# ----------------------------------------------------------------------------- the types


@dataclass(frozen=True, kw_only=True)
class Series(_Typed):
    """One measured series: ``y`` against ``x`` (same length), named axes with units.

    ``low``/``high``: the spread of each point on the axis ``spread_axis`` (e.g. first and third
    quartile of repeated timings), None when measured once. ``used``: indices of the points a fit
    used (None: no fit, or all); ``slope``: the fitted slope of log y against log x, when fitted.
    ``label``: which series this is (the problem, method, which gradient ...)."""

    kind: SeriesKind
    x: tuple[float, ...]
    y: tuple[float, ...]
    x_label: str
    y_label: str
    x_unit: str = ""
    y_unit: str = ""
    label: str = ""
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    spread_axis: Axis = Axis.Y
    used: tuple[int, ...] | None = None
    slope: float | None = None

    _TYPES = {"kind": SeriesKind, "spread_axis": Axis}

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SeriesKind(self.kind))
        object.__setattr__(self, "spread_axis", Axis(self.spread_axis))
        x = _floats(self.x, "Series.x")
        y = _floats(self.y, "Series.y")
        assert x is not None and y is not None
        if len(x) != len(y):
            raise ValueError(f"Series {self.label or self.kind.value}: {len(x)} x values, {len(y)} y values")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        lo = _floats(self.low, "Series.low", optional=True)
        hi = _floats(self.high, "Series.high", optional=True)
        if (lo is None) != (hi is None) or (lo is not None and (len(lo) != len(x) or len(hi) != len(x))):  # type: ignore[arg-type]
            raise ValueError("Series: low and high are given together, one value per point")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)
        if self.used is not None:
            used = tuple(int(i) for i in self.used)
            if any(i < 0 or i >= len(x) for i in used):
                raise ValueError(f"Series.used: index out of range 0..{len(x) - 1}: {used}")
            object.__setattr__(self, "used", used)
        object.__setattr__(self, "slope", _opt_float(self.slope, "Series.slope"))

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True, kw_only=True)
class Derivation(_Typed):
    """The inputs a threshold was derived from (all optional; those the check used are set).

    ``order``: the claimed order the threshold assumes; ``tolerance``: rtol (= atol unless given);
    ``eps``: the machine epsilon of the dtype; ``safety_factor``: the factor K over a baseline or
    model; ``baseline``: the baseline's value (e.g. scipy's same-order error); ``baseline_method``:
    what produced it; ``step_size``: the fixed step h; ``oracle_error``: the oracle's own error;
    ``floor``: the round-off floor added; ``scale``: a problem scale (e.g. the gradient's norm);
    ``exponent``: a model exponent (tolerance exponent alpha, step exponent kappa)."""

    order: float | None = None
    tolerance: float | None = None
    atol: float | None = None
    eps: float | None = None
    safety_factor: float | None = None
    baseline: float | None = None
    baseline_method: str | None = None
    step_size: float | None = None
    oracle_error: float | None = None
    floor: float | None = None
    scale: float | None = None
    exponent: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "baseline_method":
                object.__setattr__(self, f.name, _opt_float(getattr(self, f.name), f"Derivation.{f.name}"))

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True, kw_only=True)
class Override(_Typed):
    """A user's tolerance override that changed the threshold (``[tool.ode-harness.overrides]``)."""

    pattern: str
    reason: str
    factor: float | None = None
    threshold: float | None = None
    original_threshold: float
    applied_threshold: float

    def __post_init__(self) -> None:
        for n in ("factor", "threshold", "original_threshold", "applied_threshold"):
            object.__setattr__(self, n, _opt_float(getattr(self, n), f"Override.{n}"))


@dataclass(frozen=True, kw_only=True)
class Expectation(_Typed):
    """What the verdict rests on: ``value`` of ``quantity`` compared with ``threshold``
    (`Comparison`; for WITHIN, ``|value - target| <= threshold``), why, from what inputs."""

    quantity: str
    kind: Quantity
    comparison: Comparison
    value: float
    threshold: float
    reason: str
    target: float | None = None
    derivation: Derivation | None = None
    override: Override | None = None

    _TYPES = {"kind": Quantity, "comparison": Comparison, "derivation": Derivation, "override": Override}

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Quantity(self.kind))
        object.__setattr__(self, "comparison", Comparison(self.comparison))
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "target", _opt_float(self.target, "Expectation.target"))
        if (self.comparison is Comparison.WITHIN) != (self.target is not None):
            raise ValueError("Expectation: a target is given exactly for a 'within' comparison")

    @property
    def passed(self) -> bool:
        """Whether the value meets the expectation (NaN never does)."""
        if self.comparison is Comparison.LE:
            return self.value <= self.threshold
        if self.comparison is Comparison.GE:
            return self.value >= self.threshold
        return abs(self.value - self.target) <= self.threshold  # type: ignore[operator]


@dataclass(frozen=True, kw_only=True)
class ProblemProperties(_Typed):
    """A test problem's properties (from `harness.problems.Problem` and its tags), and the
    variations a check applied: integrated backward in time, or shifted in time by ``time_shift``."""

    name: str
    dim: int
    t0: float
    t1: float
    autonomous: bool
    linear: bool = False
    stiff: bool = False
    has_params: bool = False
    neural: bool = False
    chaotic: bool = False
    hamiltonian: bool = False
    reverse_time: bool = False
    time_shift: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", int(self.dim))
        object.__setattr__(self, "t0", float(self.t0))
        object.__setattr__(self, "t1", float(self.t1))
        object.__setattr__(self, "time_shift", _opt_float(self.time_shift, "ProblemProperties.time_shift"))
        for n in ("autonomous", "linear", "stiff", "has_params", "neural", "chaotic", "hamiltonian",
                  "reverse_time"):
            if not isinstance(getattr(self, n), bool):
                raise ValueError(f"ProblemProperties.{n} must be a bool, got {getattr(self, n)!r}")

    @property
    def span(self) -> float:
        return self.t1 - self.t0

    @classmethod
    def of(cls, problem: Any, *, reverse_time: bool = False, time_shift: float | None = None,
           span: tuple[float, float] | None = None) -> "ProblemProperties":
        """The properties of a `harness.problems.Problem` (its tags); ``span``: the (t0, t1) the
        check integrates over, when not the problem's own."""
        tags = set(problem.tags)
        t0, t1 = (problem.t0, problem.t1) if span is None else span
        return cls(name=problem.name, dim=problem.dim, t0=t0, t1=t1,
                   autonomous="non-autonomous" not in tags, linear="linear" in tags, stiff="stiff" in tags,
                   has_params="has-params" in tags, neural="neural" in tags, chaotic="chaotic" in tags,
                   hamiltonian="hamiltonian" in tags, reverse_time=bool(reverse_time), time_shift=time_shift)


@dataclass(frozen=True, kw_only=True)
class ReproInputs(_Typed):
    """What a standalone reproducer needs to rerun the case, as plain numbers and names: the
    problem (by name in `harness.problems`), the initial state and output times, the method and
    its tolerances or fixed step, dtype, device, how gradients are taken and of what `Loss`
    (``loss_weights``: for the weighted sum, ``sum(w * y)`` over the solution at the output times,
    flattened; None: ``sum(y)``), ``batch``: y0 repeated that many times along a leading batch
    dimension (None: unbatched), the seed."""

    problem: str
    y0: tuple[float, ...]
    t: tuple[float, ...]
    method: str
    dtype: str
    device: str = "cpu"
    rtol: float | None = None
    atol: float | None = None
    step_size: float | None = None
    grad: GradMode = GradMode.NONE
    loss: Loss = Loss.WEIGHTED_SUM
    loss_weights: tuple[float, ...] | None = None
    batch: int | None = None
    seed: int | None = None

    _TYPES = {"grad": GradMode, "loss": Loss}

    def __post_init__(self) -> None:
        object.__setattr__(self, "y0", _floats(self.y0, "ReproInputs.y0"))
        object.__setattr__(self, "t", _floats(self.t, "ReproInputs.t"))
        object.__setattr__(self, "dtype", str(self.dtype).removeprefix("torch."))
        object.__setattr__(self, "device", str(self.device))
        for n in ("rtol", "atol", "step_size"):
            object.__setattr__(self, n, _opt_float(getattr(self, n), f"ReproInputs.{n}"))
        object.__setattr__(self, "grad", GradMode(self.grad))
        object.__setattr__(self, "loss", Loss(self.loss))
        if self.batch is not None:
            object.__setattr__(self, "batch", int(self.batch))
        object.__setattr__(self, "loss_weights", _floats(self.loss_weights, "ReproInputs.loss_weights",
                                                         optional=True))
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))


@dataclass(frozen=True, kw_only=True)
class Scalar(_Typed):
    """One measured value: name, number, what it is and its unit."""

    name: str
    value: float
    kind: Quantity = Quantity.OTHER
    unit: str = ""

    _TYPES = {"kind": Quantity}

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Quantity(self.kind))
        v = _opt_float(self.value, f"Scalar {self.name}")
        if v is None:
            raise ValueError(f"Scalar {self.name}: a number is required")
        object.__setattr__(self, "value", v)


@dataclass(frozen=True, kw_only=True)
class Evidence(_Typed):
    """Everything typed a check recorded. ``gradient_wrt``: which gradient a gradient check
    judged (``y0``, ``params`` or ``t``); ``oracle``: what the result was compared against."""

    series: tuple[Series, ...] = ()
    expectation: Expectation | None = None
    problem: ProblemProperties | None = None
    inputs: ReproInputs | None = None
    scalars: tuple[Scalar, ...] = ()
    gradient_wrt: str | None = None
    oracle: str | None = None

    _TYPES = {"series": (Series,), "expectation": Expectation, "problem": ProblemProperties,
              "inputs": ReproInputs, "scalars": (Scalar,)}

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", tuple(self.series))
        object.__setattr__(self, "scalars", tuple(self.scalars))
        names = [s.name for s in self.scalars]
        if len(set(names)) != len(names):
            raise ValueError(f"Evidence: scalar names repeat: {sorted(n for n in set(names) if names.count(n) > 1)}")

    # ---- reading helpers
    def scalar(self, name: str) -> float | None:
        for s in self.scalars:
            if s.name == name:
                return s.value
        return None

    def scalars_of(self, *kinds: Quantity) -> list[Scalar]:
        return [s for s in self.scalars if s.kind in kinds]

    def series_of(self, *kinds: SeriesKind) -> list[Series]:
        return [s for s in self.series if s.kind in kinds]

    def observed_order(self) -> float | None:
        """The observed order the check judged (its expectation on an order), else a fitted
        slope of a convergence series, else an order scalar."""
        e = self.expectation
        if e is not None and e.kind is Quantity.ORDER and math.isfinite(e.value):
            return e.value
        for s in self.series:
            if s.slope is not None and s.kind in CONVERGENCE_SERIES:
                return s.slope
        orders = self.scalars_of(Quantity.ORDER)
        return orders[0].value if orders else None

    def claimed_order(self) -> float | None:
        """The order the check judged against: the target of an order expectation, or the order
        its threshold was derived from."""
        e = self.expectation
        if e is None:
            return None
        if e.kind is Quantity.ORDER and e.target is not None:
            return e.target
        return e.derivation.order if e.derivation is not None else None

    # ---- building
    def with_(self, **changes: Any) -> "Evidence":
        from dataclasses import replace

        return replace(self, **changes)


def scalars_from(values: Mapping[str, Any], kind: Quantity = Quantity.OTHER, unit: str = "") -> list[Scalar]:
    """`Scalar`s of the finite or non-finite numbers in ``values`` (non-numbers are left out)."""
    out = []
    for k, v in values.items():
        if isinstance(v, bool):
            continue
        try:
            f = _opt_float(v, k)
        except ValueError:
            continue
        if f is not None:
            out.append(Scalar(name=k, value=f, kind=kind, unit=unit))
    return out


def series_equal(a: Sequence[Series], b: Sequence[Series]) -> bool:
    """Equality that treats NaN as equal to NaN (dataclass equality does not)."""
    return [s.to_dict() for s in a] == [s.to_dict() for s in b]
