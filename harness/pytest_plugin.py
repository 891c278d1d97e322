"""The pytest plugin behind `pytest suites/` and ``pytest --pyargs harness.suites``.

The `pytest11` entry point is `harness.pytest_entry`, which defines the options and registers
this module only when a run collects the suites (so that installing ode-harness changes no one
else's pytest runs). Options: ``--ode-impl NAME_OR_IMPORT_PATH`` (repeatable; default: the embedded defaults,
reference and torchdiffeq), ``--ode-method M`` (repeatable; default: each implementation's
default methods), ``--ode-profile quick|standard|thorough``, ``--ode-device cpu|cuda``,
``--ode-claim [METHOD:]KEY=VALUE`` (repeatable, overrides a claim of every method or of one),
``--ode-results PATH`` (default ``$ODE_HARNESS_RESULTS`` or ``reports/results.jsonl``),
``--ode-seed S``, ``--ode-shard K/N`` (only the checks of shard K of N, `harness.shard`),
``--ode-override CHECK=JSON`` (repeatable, a tolerance override with its
reason, `harness.config.ToleranceOverride`), ``--ode-timeout SECONDS`` (per-check timeout; off
unless given; `ode-harness check` gives the profile's).

A suite test asks for the fixture `ode_case` (one implementation and method; parametrized here)
and `check` (where it states its measured values and threshold). Every such test yields one
`CheckRecord`, appended to the results file the moment the test finishes.

A faulty implementation is a finding, never a crash of the run:

- it raises: `OdeCase.odeint` turns the exception into `IUTError`, an *error* verdict naming the
  exception type and message;
- it returns something that is not a finite Tensor of shape ``(len(t), *y0.shape)`` with y0's
  dtype and device: `OdeCase.odeint` raises `CheckFailed` (a *fail* verdict) saying expected
  against got, or where the first non-finite value is (checks that expect non-finite output
  pass ``allow_nonfinite=True``; non-finite output from non-finite input is never flagged);
- it hangs: with ``--ode-timeout T`` every test runs under a watchdog. A SIGALRM timer raises
  `CheckTimeout` (a *timeout* verdict) in the test after T seconds, which ends Python-level
  hangs (loops, sleeps, waits). In a pytest-xdist worker a hard stop follows at T + grace
  (`faulthandler.dump_traceback_later(exit=True)`, a C thread that needs no GIL): it ends the
  worker even in a hang inside C code; the controller then writes the check's *timeout* record
  with the stack the hard stop dumped (`pytest_handlecrashitem`), and xdist starts a fresh
  worker;
- it ends its process (os._exit, a segfault): under xdist the controller writes an *error*
  record naming the exit status or signal (and the fatal-error stack faulthandler wrote), and
  the run goes on in a fresh worker;
- after `MAX_INCIDENTS` timeouts or crashed workers in one implementation-and-method case,
  its remaining checks are not run but recorded as errors saying so (no run that takes
  hours to time out one check after another).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import math
import os
import shutil
import signal
import sysconfig
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from . import cost
from .claims import Claims
from .evidence import (Comparison, Derivation, Evidence, Expectation, GradMode, Loss, Override, ProblemProperties, Quantity,
                       ReproInputs, Scalar, Series, SeriesKind)
from .config import ConfigError, ToleranceOverride, match_override
from .run_config import RunConfig, carried_run_config, from_pytest_options
from .diagnosis.model import CAUSES, Category
from .implementations import Implementation, ImplementationLoadError, load_implementation
from .profiles import DEFAULT_PROFILE, Profile, get_profile
from .results import (RESULTS_ENV, RUN_ID_ENV, CheckRecord, Verdict, append_record, current_run_id,
                      run_header_extra, write_run_header)
from .shard import check_id_of

DEFAULT_IMPLS = ("reference", "torchdiffeq")
WATCHDOG_ENV = "ODE_HARNESS_WATCHDOG_DIR"
MAX_INCIDENTS = 3  # timeouts or crashed workers per case before its remaining checks are not run


class CheckFailed(AssertionError):
    """A measured value broke its threshold."""


class CheckTimeout(BaseException):
    """The per-check timeout expired: a *timeout* verdict. A BaseException, so that an
    implementation's ``except Exception`` (or `OdeCase.odeint`'s) does not swallow it."""

    def __init__(self, seconds: float, where: str = ""):
        self.seconds = seconds
        self.where = where
        super().__init__(f"timed out after {seconds:g} s (per-check timeout)" + (f" in {where}" if where else ""))


class CheckNotRun(Exception):
    """A check that was not run because its case already timed out or crashed too often."""


class IUTError(Exception):
    """The implementation under test raised: an *error* verdict, not a harness crash."""

    def __init__(self, exc: BaseException):
        self.original = exc
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        super().__init__(f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__)


@dataclass
class OdeConfig:
    impls: list[Implementation]
    methods: list[str]
    profile: Profile
    device: str
    results: Path
    claims: dict[str, Any]
    seed: int
    argv: list[str] = field(default_factory=list)
    method_claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: list[ToleranceOverride] = field(default_factory=list)
    timeout: float | None = None
    shard: Any = None  # harness.shard.Shard of --ode-shard, or None

    def claims_for(self, method: str) -> dict[str, Any]:
        """The user's claim overrides for `method`: those of every method, then its own."""
        return {**self.claims, **self.method_claims.get(method, {})}

    def cases(self) -> list["OdeCase"]:
        out = []
        for impl in self.impls:
            methods = self.methods or list(impl.default_methods)
            for m in methods:
                out.append(OdeCase(impl, m, impl.claims(m, **self.claims_for(m)), self))
        return out

    def case_of_nodeid(self, nodeid: str) -> "OdeCase | None":
        """The case a test id belongs to (its parameter id names ``impl-method``); None if none."""
        params = nodeid.partition("[")[2].rpartition("]")[0]
        best = None
        for c in self.cases():
            if (params == c.id or params.startswith(c.id + "-") or params.endswith("-" + c.id)
                    or f"-{c.id}-" in params):
                if best is None or len(c.id) > len(best.id):
                    best = c
        return best


@dataclass
class OdeCase:
    """One implementation under test with one method, its claims and the run's settings."""

    impl: Implementation
    method: str
    claims: Claims
    config: OdeConfig

    @property
    def id(self) -> str:
        return f"{self.impl.name}-{self.method}"

    @property
    def profile(self) -> Profile:
        return self.config.profile

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.device)

    def skip_unless(self, **needs: Any) -> None:
        """Skip the calling check, visibly and with the reason, when the claims rule it out."""
        reason = self.claims.skip_reason(**needs)
        if reason:
            pytest.skip(f"{self.id}: {reason}")

    def odeint(self, func: Callable, y0: torch.Tensor, t: torch.Tensor, *, rtol: float = 1e-7,
               atol: float = 1e-9, step_size: float | None = None, options: dict | None = None,
               validate: bool = True, allow_nonfinite: bool = False) -> torch.Tensor:
        """Call the IUT with this case's method; its exceptions become `IUTError` (an error
        verdict). Fixed-step methods need `step_size`.

        With `validate` (default) the output must be a Tensor of shape ``(len(t), *y0.shape)``
        with y0's dtype and device (a tuple of such for a tuple y0), and finite wherever y0 and
        t are finite unless `allow_nonfinite`; otherwise `CheckFailed` says expected against got,
        or where the first non-finite value is. A check that studies such output itself passes
        ``validate=False`` or ``allow_nonfinite=True``."""
        opts = dict(options or {})
        if step_size is not None:
            opts["step_size"] = step_size
        try:
            with cost.timed("iut"):
                ys = self.impl.odeint(func, y0, t, rtol=rtol, atol=atol, method=self.method,
                                      options=opts or None)
        except Exception as exc:  # noqa: BLE001 - the IUT's failure is a finding
            raise IUTError(exc) from exc
        if validate:
            validate_output(ys, y0, t, allow_nonfinite=allow_nonfinite)
        return ys

    def stats(self) -> dict:
        try:
            return dict(self.impl.stats())
        except Exception:  # noqa: BLE001
            return {}

    def repro_inputs(self, problem: Any, times: Any, *, tol: float | None = None, atol: float | None = None,
                     step_size: float | None = None, dtype: Any = torch.float64, y0: Any = None,
                     grad: GradMode = GradMode.NONE, loss_weights: Any = None, loss: Loss = Loss.WEIGHTED_SUM,
                     batch: int | None = None) -> ReproInputs:
        """The `ReproInputs` of one solve of this case on a library problem (``y0``: the
        problem's unless given; ``tol``: rtol, and atol unless given; ``loss_weights``: the
        weights w of the loss sum(w * y) a gradient check differentiates, None for sum(y))."""
        import numpy as np

        start = problem.y0 if y0 is None else y0
        flat = lambda v: [float(x) for x in np.asarray(v, dtype=np.float64).reshape(-1)]  # noqa: E731
        return ReproInputs(problem=problem.name, y0=flat(start), t=flat(times), method=self.method,
                           dtype=str(dtype), device=str(self.config.device), rtol=tol,
                           atol=tol if atol is None else atol, step_size=step_size, grad=grad, loss=loss,
                           loss_weights=None if loss_weights is None else flat(loss_weights), batch=batch,
                           seed=self.config.seed)


def _fmt_index(idx: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in idx)


def validate_output(ys: Any, y0: Any, t: Any, *, allow_nonfinite: bool = False, what: str = "output") -> None:
    """Raise `CheckFailed` unless `ys` is what the contract promises for `y0` and `t` (see
    `OdeCase.odeint`)."""
    if isinstance(y0, (tuple, list)):
        if not isinstance(ys, (tuple, list)) or len(ys) != len(y0):
            got = f"{type(ys).__name__} of length {len(ys)}" if isinstance(ys, (tuple, list)) else type(ys).__name__
            raise CheckFailed(f"wrong {what}: expected a tuple of {len(y0)} tensors (y0 is a tuple), got {got}")
        for i, (a, b) in enumerate(zip(ys, y0)):
            validate_output(a, b, t, allow_nonfinite=allow_nonfinite, what=f"{what}[{i}]")
        return
    if not isinstance(y0, torch.Tensor):
        return  # nothing to compare with
    n_t = len(t) if hasattr(t, "__len__") else None
    expected = (n_t, *y0.shape) if n_t is not None else None
    if not isinstance(ys, torch.Tensor):
        shape = f" of shape {expected}" if expected else ""
        raise CheckFailed(f"wrong {what}: expected a torch.Tensor{shape}, got {type(ys).__name__}")
    problems = []
    if expected is not None and tuple(ys.shape) != expected:
        problems.append(f"shape expected {expected} = (len(t), *y0.shape), got {tuple(ys.shape)}")
    if ys.dtype != y0.dtype:
        problems.append(f"dtype expected {str(y0.dtype).removeprefix('torch.')} (y0's), "
                        f"got {str(ys.dtype).removeprefix('torch.')}")
    if ys.device != y0.device:
        problems.append(f"device expected {y0.device} (y0's), got {ys.device}")
    if problems:
        raise CheckFailed(f"wrong {what}: " + "; ".join(problems))
    if allow_nonfinite or not (ys.is_floating_point() or ys.is_complex()):
        return
    finite = torch.isfinite(ys.detach())
    if bool(finite.all()):
        return
    inputs_finite = bool(torch.isfinite(y0.detach()).all())
    if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()):
        inputs_finite = inputs_finite and bool(torch.isfinite(t.detach()).all())
    if not inputs_finite:
        return  # non-finite in, non-finite out: not the implementation's doing
    bad = (~finite).nonzero()
    idx = tuple(int(i) for i in bad[0].tolist())
    value = ys.detach()[idx].item()
    at = ""
    if isinstance(t, torch.Tensor) and t.ndim == 1 and idx:
        at = f" (t = {float(t[idx[0]]):.6g}, output time {idx[0]} of {len(t)})"
    raise CheckFailed(f"non-finite {what}: ys[{_fmt_index(idx)}] = {value}{at}; "
                      f"{len(bad)} of {ys.numel()} values are not finite")


class Check:
    """What one suite test measured, against what threshold and why; becomes a CheckRecord.

    What the check measured travels typed (`harness.evidence`): ``series`` (a measured
    `Series`), ``scalar`` (one named value with its `Quantity`), ``describe`` (the problem, with
    its properties when given a `Problem`), ``inputs`` (`ReproInputs`), ``gradient`` (which
    gradient, against what oracle), ``timing``; every ``expect_*`` fills the `Expectation` (with
    the `Derivation` inputs of its threshold when given). `note` keeps free-form, display-only
    notes (``CheckRecord.measured``): nothing downstream reads meaning from them.

    `name` and `suite` (filled in by the `check` fixture) name the check for the user's
    tolerance overrides (`overrides`, from ``[tool.ode-harness.overrides]`` / ``--ode-override``):
    every ``expect_*`` passes its threshold through `threshold_override`, which applies the
    override that names this check, if any, and records it."""

    def __init__(self, name: str = "", suite: str = "", overrides: list[ToleranceOverride] | tuple = ()) -> None:
        self.measured: dict[str, Any] = {}
        self.threshold: float | None = None
        self.threshold_reason = ""
        self.problem = ""
        self.dtype = ""
        self.extra: dict[str, Any] = {}
        self.name = name
        self.suite = suite
        self.overrides = list(overrides)
        self.expectation: Expectation | None = None
        self._series: list[Series] = []
        self._scalars: dict[str, Scalar] = {}
        self._properties: ProblemProperties | None = None
        self._inputs: ReproInputs | None = None
        self._wrt: str | None = None
        self._oracle: str | None = None
        self._override: Override | None = None

    def threshold_override(self, quantity: str, threshold: float, kind: str = "le") -> tuple[float, str]:
        """(the threshold to apply, a note for the reason). `kind` is "le" (value <= threshold),
        "ge" (value >= threshold) or "within" (|value - target| <= threshold). With no override
        for this check: (threshold, "")."""
        ov = match_override(self.overrides, self.name, self.suite) if self.name and self.overrides else None
        self._override = None
        if ov is None:
            return threshold, ""
        new = float(ov.apply(float(threshold), kind))
        applied = self.extra.setdefault("threshold_overrides", [])
        applied.append({**ov.as_dict(), "quantity": quantity, "kind": kind,
                        "original_threshold": float(threshold), "applied_threshold": new})
        self._override = Override(pattern=ov.pattern, reason=ov.reason, factor=ov.factor, threshold=ov.threshold,
                                  original_threshold=float(threshold), applied_threshold=new)
        return new, f" [threshold overridden ({ov.describe()}); check's own: {float(threshold):.4g}]"

    # ---- typed evidence
    def describe(self, *, problem: Any = "", dtype: Any = "", reverse_time: bool = False,
                 time_shift: float | None = None, span: tuple[float, float] | None = None,
                 label: str = "") -> None:
        """The problem (a name, or a `harness.problems.Problem`: then its properties are recorded,
        with the check's span, reverse-time / time-shift variation) and the dtype. ``label``: the
        problem as the record names it, when not its name (e.g. ``B4[0,2]``)."""
        if problem and not isinstance(problem, str):
            self._properties = ProblemProperties.of(problem, reverse_time=reverse_time, time_shift=time_shift,
                                                    span=span)
            problem = label or problem.name
        self.problem = problem or self.problem
        self.dtype = str(dtype).removeprefix("torch.") if dtype else self.dtype

    def series(self, series: Series) -> None:
        """Record a measured series."""
        if not isinstance(series, Series):
            raise TypeError(f"check.series takes a harness.evidence.Series, got {type(series).__name__}")
        self._series.append(series)

    def scalar(self, name: str, value: Any, kind: Quantity = Quantity.OTHER, unit: str = "") -> None:
        """Record one measured value (a later value of the same name replaces it)."""
        self._scalars[name] = Scalar(name=name, value=_as_float(value), kind=kind, unit=unit)

    def solver_stats(self, stats: dict) -> None:
        """An implementation's solver statistics (`OdeCase.stats`): NFE and step counts."""
        for k, v in stats.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.scalar(k, v, _STAT_KINDS.get(k, Quantity.COUNT))

    def scalars(self, kind: Quantity = Quantity.OTHER, unit: str = "", **values: Any) -> None:
        """Record several measured values of one kind."""
        for k, v in values.items():
            self.scalar(k, v, kind, unit)

    def inputs(self, inputs: ReproInputs) -> None:
        """What a standalone reproducer needs to rerun this case."""
        if not isinstance(inputs, ReproInputs):
            raise TypeError(f"check.inputs takes a harness.evidence.ReproInputs, got {type(inputs).__name__}")
        self._inputs = inputs

    def gradient(self, wrt: str, oracle: str | None = None) -> None:
        """Which gradient this check judges (``y0``, ``params``, ``t``), against what oracle."""
        self._wrt = wrt
        if oracle is not None:
            self._oracle = oracle

    def oracle(self, name: str) -> None:
        """What the result was compared against."""
        self._oracle = name

    def timing(self, timing: Any, *, at: float | None = None, at_label: str = "tolerance") -> None:
        """A repeated wall-time measurement (`harness.measure.timing.Timing`): its summary as
        seconds scalars, and a one-point TIMING series with its quartiles as the spread."""
        for k in ("min", "q1", "median", "q3", "max", "mean", "stddev", "iqr"):
            self.scalar(k, getattr(timing, k), Quantity.SECONDS, "s")
        self.scalar("rounds", timing.rounds, Quantity.COUNT)
        self.scalar("warmup_rounds", timing.warmup, Quantity.COUNT)
        self.series(Series(kind=SeriesKind.TIMING, x=[at if at is not None else 0.0], y=[timing.median],
                           low=[timing.q1], high=[timing.q3], x_label=at_label, y_label="wall time", y_unit="s"))

    def evidence(self) -> Evidence:
        """Everything typed this check recorded."""
        return Evidence(series=tuple(self._series), expectation=self.expectation, problem=self._properties,
                        inputs=self._inputs, scalars=tuple(self._scalars.values()), gradient_wrt=self._wrt,
                        oracle=self._oracle)

    def note(self, **values: Any) -> None:
        """Free-form, display-only notes (nothing reads meaning from their names)."""
        self.measured.update(values)

    # ---- expectations
    def _expect(self, name: str, value: Any, threshold: float, reason: str, comparison: Comparison,
                kind: Quantity, derivation: Derivation | None, target: float | None = None) -> tuple[float, float, str]:
        threshold, note = self.threshold_override(name, threshold, comparison.value)
        reason += note
        value = _as_float(value)
        self.threshold, self.threshold_reason = float(threshold), reason
        self.expectation = Expectation(quantity=name, kind=kind, comparison=comparison, value=value,
                                       threshold=float(threshold), reason=reason, target=target,
                                       derivation=derivation, override=self._override)
        self.scalar(name, value, kind)
        return value, float(threshold), reason

    def expect_le(self, name: str, value: float, threshold: float, reason: str, *,
                  kind: Quantity = Quantity.OTHER, derivation: Derivation | None = None) -> None:
        """Pass when value <= threshold (NaN never passes); records the `Expectation`."""
        value, threshold, reason = self._expect(name, value, threshold, reason, Comparison.LE, kind, derivation)
        if not value <= threshold:
            raise CheckFailed(f"{name} = {value:.4g} exceeds {threshold:.4g} ({reason})")

    def expect_ge(self, name: str, value: float, threshold: float, reason: str, *,
                  kind: Quantity = Quantity.OTHER, derivation: Derivation | None = None) -> None:
        """Pass when value >= threshold (NaN never passes); records the `Expectation`."""
        value, threshold, reason = self._expect(name, value, threshold, reason, Comparison.GE, kind, derivation)
        if not value >= threshold:
            raise CheckFailed(f"{name} = {value:.4g} is below {threshold:.4g} ({reason})")

    def expect_within(self, name: str, value: float, target: float, tol: float, reason: str, *,
                      kind: Quantity = Quantity.OTHER, derivation: Derivation | None = None) -> None:
        """Pass when |value - target| <= tol (NaN never passes); records the `Expectation`."""
        value, tol, reason = self._expect(name, value, tol, reason, Comparison.WITHIN, kind, derivation,
                                          target=float(target))
        if not abs(value - target) <= tol:
            raise CheckFailed(f"{name} = {value:.4g}, claimed {target:.4g}, off by more than {tol:.4g} ({reason})")

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise CheckFailed(message)


# the solver statistics implementations report (harness.implementations: stats())
_STAT_KINDS = {"nfe": Quantity.NFE, "nfe_forward": Quantity.NFE, "nfe_backward": Quantity.NFE_BACKWARD,
               "n_accepted": Quantity.COUNT, "n_rejected": Quantity.COUNT, "n_steps": Quantity.COUNT,
               "reconstruction_error": Quantity.RECONSTRUCTION_ERROR}


def _as_float(value: Any) -> float:
    """A measured number as a float (tensors and numpy scalars included; None is NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, torch.Tensor):
        return float(value.detach().cpu().item())
    return float(value)


# --------------------------------------------------------------------------- hooks
def run_config(config: pytest.Config) -> RunConfig:
    """This run's `RunConfig` (harness.run_config): the one ``ode-harness check`` handed over (an
    object; JSON through xdist's workerinput), else the ``--ode-*`` options'. Built once."""
    rc = getattr(config, "_ode_run", None)
    if rc is None:
        try:
            rc = carried_run_config(config) or from_pytest_options(config)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._ode_run = rc
    return rc


def _build_config(config: pytest.Config) -> OdeConfig:
    rc = run_config(config)
    impls = []
    for n in rc.impls or DEFAULT_IMPLS:
        try:
            impls.append(load_implementation(n))
        except ImplementationLoadError as exc:
            raise pytest.UsageError(str(exc)) from None
    try:
        profile = get_profile(rc.profile or os.environ.get("ODE_HARNESS_PROFILE") or DEFAULT_PROFILE)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    for changes in [rc.claims, *rc.method_claims.values()]:
        try:
            Claims().override(**changes)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    results = Path(rc.results or os.environ.get(RESULTS_ENV) or "reports/results.jsonl")
    return OdeConfig(impls, list(rc.methods), profile, rc.device, results.resolve(),
                     dict(rc.claims), rc.seed, list(config.invocation_params.args),
                     method_claims={m: dict(c) for m, c in rc.method_claims.items()}, overrides=list(rc.overrides),
                     timeout=rc.timeout, shard=rc.shard)


def _timeout_option(config: pytest.Config) -> float | None:
    return run_config(config).timeout


def _xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ode_check: a verification check that yields a result record")
    config._ode = None  # built lazily: only runs that collect suite checks need implementations
    config._ode_watchdog = None
    config._ode_watchdog_dir = None
    if not hasattr(config, "workerinput"):
        current_run_id()  # the controller fixes the run id; xdist workers inherit it by environment
        os.environ.setdefault(RUN_ID_ENV, current_run_id())
        if _xdist_controller(config) or _timeout_option(config):
            # where workers leave what a hard stop or a fatal error dumped, and the incidents
            # (timeouts, crashes) per case; the workers find it by environment
            d = tempfile.mkdtemp(prefix="ode-harness-watchdog-")
            config._ode_watchdog_dir = d
            os.environ[WATCHDOG_ENV] = d
    else:
        d = os.environ.get(WATCHDOG_ENV)
        config._ode_watchdog_dir = d if d and os.path.isdir(d) else None


def pytest_unconfigure(config: pytest.Config) -> None:
    wd = getattr(config, "_ode_watchdog", None)
    if wd is not None:
        wd.close()
    d = getattr(config, "_ode_watchdog_dir", None)
    if d and not hasattr(config, "workerinput"):
        shutil.rmtree(d, ignore_errors=True)
        if os.environ.get(WATCHDOG_ENV) == d:
            del os.environ[WATCHDOG_ENV]


def ode_config(config: pytest.Config) -> OdeConfig:
    if config._ode is None:
        config._ode = _build_config(config)
        cost.install_backward_timer()
        os.environ[RESULTS_ENV] = str(config._ode.results)
    return config._ode


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # after the suites' own parametrization (suites/conftest.py: problem, tol), whenever this
    # plugin was registered (at start-up, or when harness.pytest_entry activates it): the order of
    # the parameters in a test's id, and so its check id, is the same on every route
    if "ode_case" in metafunc.fixturenames:
        cases = ode_config(metafunc.config).cases()
        metafunc.parametrize("ode_case", cases, ids=[c.id for c in cases], scope="module")


def _check_names(item: pytest.Item) -> tuple[str, str]:
    """(check name, suite) of a test: its function name and its file's stem without test_."""
    name = getattr(item, "originalname", None) or item.name.partition("[")[0]
    return name, Path(str(item.path)).stem.removeprefix("test_")


def item_check_id(item: pytest.Item) -> str:
    """The check id of a test, as its record carries it and as `--ode-shard` partitions by."""
    name, suite = _check_names(item)
    param_id = item.callspec.id if hasattr(item, "callspec") else ""
    return f"{suite}.{name}[{param_id}]"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--ode-shard K/N``: keep the checks of shard K (`harness.shard`), deselect the others."""
    shard = run_config(config).shard
    if shard is None:
        return
    keep, drop = [], []
    for item in items:
        (keep if shard.holds(item_check_id(item)) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    cfg = ode_config(request.config) if "ode_case" in request.fixturenames else request.config._ode
    name, suite = _check_names(request.node)
    return Check(name=name, suite=suite, overrides=cfg.overrides if cfg is not None else ())


def _start_run(cfg: OdeConfig) -> None:
    """Once per run (across xdist workers): move an old results file aside and write the header."""
    import fcntl

    path = cfg.results
    path.parent.mkdir(parents=True, exist_ok=True)
    run_id = current_run_id()
    marker = path.with_name(path.name + ".run")
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text().strip() == run_id:
            return
        if path.exists():
            path.replace(path.with_name(path.stem + ".prev" + path.suffix))
        write_run_header(path, seed=cfg.seed, device=cfg.device, extra=run_header_extra(
            profile=cfg.profile.name, impls=[i.name for i in cfg.impls], methods=cfg.methods, claims=cfg.claims,
            method_claims=cfg.method_claims, overrides=[o.as_dict() for o in cfg.overrides],
            shard=None if cfg.shard is None else str(cfg.shard)))
        marker.write_text(run_id)


def pyargs_target(nodeid: str, module: str | None = None) -> str:
    """A suite test's node id as a ``--pyargs`` target that pytest finds wherever ode-harness is
    installed (wheel or checkout, any working folder):
    ``suites/test_x.py::test_y[p]`` -> ``harness.suites.test_x::test_y[p]``. `module`: the test
    file's stem, when the node id lacks it (pytest leaves the path out of the node ids of a file
    given by itself outside the rootdir, as ``--pyargs harness.suites.test_x`` does)."""
    path, _, rest = nodeid.partition("::")
    return f"harness.suites.{module or Path(path).stem}::{rest}"


def _module_of(nodeid: str) -> str:
    """The suite file's stem of a node id; from the suites' sources when the id has no path."""
    path = nodeid.partition("::")[0]
    if path:
        return Path(path).stem
    name = nodeid.partition("::")[2].rpartition("::")[2].partition("[")[0]
    from .pytest_entry import checkout_suites, installed_suites

    folder = checkout_suites() or installed_suites()
    found = [f.stem for f in sorted(folder.glob("test_*.py")) if f"def {name}(" in f.read_text()] if folder else []
    return found[0] if len(found) == 1 else ""


def _reproducer(nodeid: str, module: str, case: OdeCase) -> str:
    """A snippet that reruns exactly this check wherever ode-harness is installed (no path into a
    source tree): pytest finds the suites by their package name (``--pyargs``)."""
    cfg = case.config
    args = ["--pyargs", pyargs_target(nodeid, module), "--ode-impl", case.impl.name, "--ode-method", case.method,
            "--ode-profile", cfg.profile.name, "--ode-device", cfg.device, "--ode-seed", str(cfg.seed)]
    for k, v in cfg.claims_for(case.method).items():
        args += ["--ode-claim", f"{k}={v}"]
    for ov in cfg.overrides:
        args += ["--ode-override", ov.to_arg()]
    return f"import pytest\npytest.main({args!r})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    case = getattr(item, "callspec", None) and item.callspec.params.get("ode_case")
    if not isinstance(case, OdeCase):
        return
    if call.when == "setup" and not report.skipped and not report.failed:
        return
    if call.when == "teardown" and not report.failed:
        return
    chk: Check | None = item.funcargs.get("check") if hasattr(item, "funcargs") else None
    chk = chk or Check()
    message = ""
    expected = getattr(report, "wasxfail", None)
    exc = call.excinfo.value if call.excinfo is not None else None
    recorded = _recorded_error(item, exc.original) if isinstance(exc, IUTError) and expected is not None else None
    if isinstance(exc, CheckTimeout):
        # a timeout is a finding of its own, known finding (xfail) or not
        verdict, message = Verdict.TIMEOUT, str(exc)
        _add_incident(item.config, case, "timeout", item.nodeid)
        expected = _not_expected(report, expected)
    elif recorded is not None:
        # an exception of the implementation that its known finding records (Finding.raises):
        # an expected failure of category robustness, cause "crash"
        verdict, message = Verdict.FAIL, str(exc)
        chk_extra = {"expected_failure": recorded,
                     "expected_category": str(Category.ROBUSTNESS), "expected_cause": CAUSES["crash"].key}
    elif isinstance(exc, (IUTError, CheckNotRun)):
        # so is any other exception of the implementation: known findings are about what it
        # computes, or name the exceptions they record
        verdict, message = Verdict.ERROR, str(exc)
        expected = _not_expected(report, expected)
    elif expected is not None:
        # a known finding (suites/known_findings.py): the check failed as recorded, or now passes
        verdict = Verdict.FAIL if report.skipped else Verdict.PASS
        message = (str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "")
        chk_extra = {"expected_failure": expected or "known finding"}
    elif report.skipped:
        verdict = Verdict.SKIP
        message = str(exc.msg) if exc is not None and hasattr(exc, "msg") else "skipped"
    elif report.failed:
        if isinstance(exc, AssertionError):
            verdict, message = Verdict.FAIL, str(exc).strip().splitlines()[0] if str(exc).strip() else "assertion failed"
        else:
            verdict = Verdict.ERROR
            message = "harness error: " + "".join(traceback.format_exception_only(type(exc), exc)).strip() if exc else "error"
    else:
        verdict = Verdict.PASS
    if expected is None:
        chk_extra = {}
    cfg = case.config
    _start_run(cfg)
    name, suite = _check_names(item)
    rec = CheckRecord(
        check_id=item_check_id(item), suite=suite, check=name, iut=case.impl.name,
        method=case.method, problem=chk.problem, dtype=chk.dtype, device=cfg.device,
        verdict=verdict, measured=_jsonable(chk.measured), threshold=chk.threshold, evidence=_evidence(chk),
        threshold_reason=chk.threshold_reason, message=message, seed=cfg.seed,
        reproducer=_reproducer(item.nodeid, Path(str(item.path)).stem, case), duration_s=report.duration,
        extra={"claims": case.claims.as_dict(), "profile": cfg.profile.name, "nodeid": item.nodeid,
               "time_in": cost.since(getattr(item, "_ode_cost_start", None)), **chk_extra, **_jsonable(chk.extra),
               # a check refused after its case's incidents: nothing measured, the run is incomplete
               **({"not_run": True} if isinstance(exc, CheckNotRun) else {})},
    )
    append_record(cfg.results, rec)


_RECORDED_ERROR = pytest.StashKey[Callable[[BaseException], "str | None"]]()


def expect_known_finding(node: pytest.Item, evidence: str,
                         recorded_error: Callable[[BaseException], str | None]) -> None:
    """Mark a check as an expected failure (a known finding, suites/known_findings.py) with its
    evidence. `recorded_error(exc)`: the evidence of the finding that records the exception
    `exc` of the implementation, or None; an exception it does not record stays an error."""
    node.add_marker(pytest.mark.xfail(reason=f"known finding: {evidence}", strict=False))
    node.stash[_RECORDED_ERROR] = recorded_error


def _recorded_error(item: pytest.Item, exc: BaseException) -> str | None:
    recorded = item.stash.get(_RECORDED_ERROR, None)
    evidence = recorded(exc) if recorded is not None else None
    return f"known finding: {evidence}" if evidence else None


def _evidence(chk: Check) -> Evidence | None:
    """The check's typed evidence; a faulty record of it is a finding kept in the message, never a
    harness crash that loses the record."""
    try:
        return chk.evidence()
    except (TypeError, ValueError) as exc:
        chk.measured["evidence_error"] = str(exc)
        return None


def _not_expected(report: pytest.TestReport, expected: Any) -> None:
    """A known finding's xfail does not cover a timeout or an exception: report it failed."""
    if expected is not None:
        report.outcome = "failed"
        with contextlib.suppress(AttributeError):
            del report.wasxfail
    return None


def _jsonable(d: dict) -> dict:
    """Measured values as JSON data; anything else is kept as its repr, never lost or fatal."""
    out = {}
    for k, v in d.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().tolist()
        elif hasattr(v, "tolist"):
            v = v.tolist()
        elif isinstance(v, torch.dtype):
            v = str(v).removeprefix("torch.")
        if not isinstance(v, (str, int, float, bool, type(None), list, dict)):
            v = repr(v)
        out[str(k)] = v
    return out


# --------------------------------------------------------------------------- watchdog
_STDLIB = tuple({os.path.realpath(p) for p in (sysconfig.get_paths().get("stdlib"),
                                              sysconfig.get_paths().get("platstdlib")) if p})
_HARNESS_DIR = os.path.realpath(os.path.dirname(__file__))


def _frame_where(frame: Any) -> str:
    """``file.py:LINE in func`` of the innermost frame that is the implementation's (not the
    watchdog's, the standard library's or the harness's); the innermost one otherwise."""
    frames = list(traceback.walk_stack(frame))
    pick = None
    for f, lineno in frames:
        path = os.path.realpath(f.f_code.co_filename)
        if path == os.path.realpath(__file__):
            continue
        if pick is None:
            pick = (f.f_code.co_filename, lineno, f.f_code.co_name)
        if not path.startswith(_STDLIB) and not path.startswith(_HARNESS_DIR):
            pick = (f.f_code.co_filename, lineno, f.f_code.co_name)
            break
    if pick is None:
        return ""
    return f"{os.path.basename(pick[0])}:{pick[1]} in {pick[2]}"


def _grace(timeout: float) -> float:
    """How long after the timeout the hard stop comes: room for the soft stop to unwind."""
    return min(30.0, max(2.0, 0.2 * timeout))


class _Watchdog:
    """The per-check timeout of one process (see the module docstring): a SIGALRM timer (soft:
    `CheckTimeout` raised in the test, main thread only) and, in an xdist worker, a faulthandler
    hard stop that ends the process at timeout + grace."""

    def __init__(self, timeout: float, hard: bool, dirpath: str | None, worker: str) -> None:
        self.timeout = timeout
        self.soft = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        self.hard_file = None
        if hard and dirpath:
            self.hard_file = open(os.path.join(dirpath, f"{worker}.hang"), "w+")  # noqa: SIM115
        self.deadline = 0.0
        self.in_phase = False
        self.expired = False
        self._old_handler: Any = None
        self.active = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.in_phase:
            self.in_phase = False  # raise once
            raise CheckTimeout(self.timeout, _frame_where(frame))
        self.expired = True

    def start(self) -> None:
        self.deadline = time.monotonic() + self.timeout
        self.expired = False
        self.in_phase = False
        self.active = True
        if self.soft:
            self._old_handler = signal.signal(signal.SIGALRM, self._handler)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        if self.hard_file is not None:
            faulthandler.dump_traceback_later(self.timeout + _grace(self.timeout), repeat=False,
                                              file=self.hard_file, exit=True)

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        self.in_phase = False
        if self.hard_file is not None:
            faulthandler.cancel_dump_traceback_later()
        if self.soft:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if self._old_handler is not None:
                signal.signal(signal.SIGALRM, self._old_handler)
                self._old_handler = None

    @contextlib.contextmanager
    def phase(self, entry_check: bool = True):
        """Around a test phase (setup, call): the soft stop raises only inside one. With
        `entry_check`, a phase that begins after the deadline raises at once (the call phase:
        the other plugins' call wrappers keep no state that their teardown needs)."""
        if not self.active:
            yield
            return
        if entry_check and (self.expired or time.monotonic() > self.deadline):
            raise CheckTimeout(self.timeout, "between test phases")
        self.in_phase = True
        try:
            yield
        finally:
            self.in_phase = False

    def close(self) -> None:
        self.stop()
        if self.hard_file is not None:
            self.hard_file.close()
            self.hard_file = None


def _watchdog(config: pytest.Config) -> _Watchdog | None:
    wd = getattr(config, "_ode_watchdog", None)
    if wd is None:
        timeout = _timeout_option(config)
        if not timeout:
            return None
        worker = hasattr(config, "workerinput")
        wd = _Watchdog(timeout, hard=worker, dirpath=getattr(config, "_ode_watchdog_dir", None),
                       worker=os.environ.get("PYTEST_XDIST_WORKER", "main"))
        config._ode_watchdog = wd
    return wd


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    d = getattr(config, "_ode_watchdog_dir", None)
    if hasattr(config, "workerinput") and d:
        # a fatal error (segfault, abort) in this worker dumps its stacks here, where the
        # controller reads them for the crashed check's record (after pytest's own faulthandler)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        f = open(os.path.join(d, f"{worker}.fatal"), "w+")  # noqa: SIM115
        config._ode_fatal_file = f
        faulthandler.enable(file=f, all_threads=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    item._ode_cost_start = cost.snapshot()  # the record's time_in: this check's setup, call, teardown
    wd = _watchdog(item.config)
    if wd is None:
        return (yield)
    wd.start()
    try:
        return (yield)
    finally:
        wd.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):
    # Nothing is raised before the yield: the setup of the other plugins must run, their
    # teardown expects it. A refused check fails its setup after it.
    wd = _watchdog(item.config)
    if wd is None:
        result = yield
    else:
        with wd.phase(entry_check=False):
            result = yield
    _refuse_after_incidents(item)
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item):
    wd = _watchdog(item.config)
    if wd is None:
        return (yield)
    with wd.phase():
        return (yield)


# --------------------------------------------------------------------------- incidents
def _incidents_path(config: pytest.Config) -> Path | None:
    d = getattr(config, "_ode_watchdog_dir", None)
    return Path(d) / "incidents.jsonl" if d else None


def _add_incident(config: pytest.Config, case: OdeCase, kind: str, nodeid: str) -> None:
    path = _incidents_path(config)
    if path is None:
        return
    import fcntl

    line = json.dumps({"case": case.id, "kind": kind, "nodeid": nodeid}) + "\n"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line)
        f.flush()


def _incidents(config: pytest.Config, case_id: str) -> list[dict]:
    path = _incidents_path(config)
    if path is None or not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("case") == case_id:
            out.append(rec)
    return out


def _refuse_after_incidents(item: pytest.Item) -> None:
    case = getattr(item, "callspec", None) and item.callspec.params.get("ode_case")
    if not isinstance(case, OdeCase):
        return
    seen = _incidents(item.config, case.id)
    if len(seen) >= MAX_INCIDENTS:
        kinds = sorted({r["kind"] for r in seen})
        raise CheckNotRun(f"not run: {len(seen)} earlier checks of {case.id} ended by {' or '.join(kinds)}; "
                          f"after {MAX_INCIDENTS} such the case's remaining checks are not run")


# --------------------------------------------------------------------------- crashed workers
def _read_dump(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _dump_where(text: str) -> str:
    """``file.py:LINE in func`` from a faulthandler dump: the innermost frame of the thread that
    ran the check (the one naming a frame outside the standard library and the harness, if
    any), else the first frame."""
    import re

    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', text)
    if not frames:
        return ""
    for path, line, func in frames:
        real = os.path.realpath(path)
        if not real.startswith(_STDLIB) and not real.startswith(_HARNESS_DIR) and "site-packages" not in real:
            return f"{os.path.basename(path)}:{line} in {func}"
    path, line, func = frames[0]
    return f"{os.path.basename(path)}:{line} in {func}"


def _exit_status(worker: Any) -> int | None:
    """The crashed worker process's exit status (negative: killed by that signal), if known."""
    popen = getattr(getattr(getattr(worker, "gateway", None), "_io", None), "popen", None)
    if popen is None:
        return None
    try:
        return popen.wait(timeout=5)
    except Exception:  # noqa: BLE001
        return None


def _crash_verdict(config: pytest.Config, worker: Any) -> tuple[Verdict, str]:
    wid = getattr(getattr(worker, "gateway", None), "id", "") or ""
    d = getattr(config, "_ode_watchdog_dir", None)
    hang = _read_dump(Path(d) / f"{wid}.hang") if d and wid else ""
    fatal = _read_dump(Path(d) / f"{wid}.fatal") if d and wid else ""
    timeout = _timeout_option(config)
    if hang.startswith("Timeout") and timeout:
        where = _dump_where(hang)
        return Verdict.TIMEOUT, (f"timed out after {timeout:g} s (per-check timeout) and did not return to "
                                 f"Python; its worker process was ended at {timeout + _grace(timeout):g} s"
                                 + (f"; it was in {where}" if where else ""))
    status = _exit_status(worker)
    if status is not None and status < 0:
        try:
            how = f"was killed by signal {signal.Signals(-status).name}"
        except ValueError:
            how = f"was killed by signal {-status}"
    elif status is not None:
        how = f"exited with status {status}"
    else:
        how = "died"
    msg = f"the worker process running this check {how} (the implementation ended its own process)"
    first = next((ln.strip() for ln in fatal.splitlines() if ln.startswith("Fatal Python error")), "")
    if first:
        msg += f"; {first}"
        where = _dump_where(fatal)
        if where:
            msg += f" in {where}"
    return Verdict.ERROR, msg


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """xdist's controller: a worker died while running `crashitem` (the implementation ended its
    process, or the hard stop of the timeout ended it). Write the check's record, say why in the
    report, and count the incident (the replacement worker reads it)."""
    config = report.node.config if hasattr(report.node, "config") else None  # type: ignore[attr-defined]
    config = config or getattr(sched, "config", None)
    if config is None:
        return
    try:
        cfg = ode_config(config)
    except pytest.UsageError:
        return
    case = cfg.case_of_nodeid(crashitem)
    if case is None:
        return
    verdict, message = _crash_verdict(config, report.node)  # type: ignore[attr-defined]
    report.longrepr = f"{verdict.value.upper()}: {message}"
    _add_incident(config, case, "timeout" if verdict == Verdict.TIMEOUT else "crash", crashitem)
    module = _module_of(crashitem)
    check_id = check_id_of(crashitem, module=module)
    suite, name = check_id.partition("[")[0].split(".", 1)
    _start_run(cfg)
    rec = CheckRecord(
        check_id=check_id, suite=suite, check=name, iut=case.impl.name,
        method=case.method, device=cfg.device, verdict=verdict, message=message, seed=cfg.seed,
        reproducer=_reproducer(crashitem, module, case), duration_s=None,
        worker=getattr(getattr(report.node, "gateway", None), "id", "") or "main",  # type: ignore[attr-defined]
        extra={"claims": case.claims.as_dict(), "profile": cfg.profile.name, "nodeid": crashitem,
               "crashed_worker": True},
    )
    append_record(cfg.results, rec)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The controller (or a run without xdist) marks the end of a run that wrote records, for
    the report to tell a finished run from a killed one (harness.report.runend, when present)."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    cfg = config._ode
    path = Path(cfg.results) if cfg is not None else None
    if path is None:
        raw = run_config(config).results or os.environ.get(RESULTS_ENV)
        path = Path(raw).resolve() if raw else None
    if path is None:
        return
    marker = path.with_name(path.name + ".run")
    try:
        if not marker.exists() or marker.read_text().strip() != current_run_id():
            return
        from .report.runend import write_run_end
    except (ImportError, OSError):
        return
    try:
        write_run_end(path, exitstatus=int(exitstatus), collected=session.testscollected)
    except Exception:  # noqa: BLE001 - the marker is a courtesy to the report, never fatal
        pass
