"""The pytest plugin behind `pytest suites/` (registered through the `pytest11` entry point).

Options: ``--ode-impl NAME_OR_IMPORT_PATH`` (repeatable; default: the embedded defaults,
reference and torchdiffeq), ``--ode-method M`` (repeatable; default: each implementation's
default methods), ``--ode-profile quick|standard|thorough``, ``--ode-device cpu|cuda``,
``--ode-claim KEY=VALUE`` (repeatable, overrides a claim), ``--ode-results PATH`` (default
``$ODE_HARNESS_RESULTS`` or ``reports/results.jsonl``), ``--ode-seed S``.

A suite test asks for the fixture `ode_case` (one implementation and method; parametrized here)
and `check` (where it states its measured values and threshold). Every such test yields one
`CheckRecord`, appended to the results file the moment the test finishes.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from .claims import Claims
from .implementations import Implementation, ImplementationLoadError, load_implementation
from .profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile
from .results import RESULTS_ENV, RUN_ID_ENV, CheckRecord, Verdict, append_record, current_run_id, write_run_header

DEFAULT_IMPLS = ("reference", "torchdiffeq")


class CheckFailed(AssertionError):
    """A measured value broke its threshold."""


class IUTError(Exception):
    """The implementation under test raised: an *error* verdict, not a harness crash."""

    def __init__(self, exc: BaseException):
        self.original = exc
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        super().__init__(f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__)


def _parse_claim(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise pytest.UsageError(f"--ode-claim expects KEY=VALUE, got {text!r}")
    low = raw.strip().lower()
    if low in ("true", "yes", "1") and key not in ("order", "dense_order"):
        return key, True
    if low in ("false", "no", "0") and key not in ("order", "dense_order"):
        return key, False
    if low == "none":
        return key, None
    try:
        return key, int(raw)
    except ValueError:
        return key, raw


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

    def cases(self) -> list["OdeCase"]:
        out = []
        for impl in self.impls:
            methods = self.methods or list(impl.default_methods)
            for m in methods:
                out.append(OdeCase(impl, m, impl.claims(m, **self.claims), self))
        return out


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
               atol: float = 1e-9, step_size: float | None = None, options: dict | None = None) -> torch.Tensor:
        """Call the IUT with this case's method; its exceptions become `IUTError` (an error
        verdict). Fixed-step methods need `step_size`."""
        opts = dict(options or {})
        if step_size is not None:
            opts["step_size"] = step_size
        try:
            return self.impl.odeint(func, y0, t, rtol=rtol, atol=atol, method=self.method,
                                    options=opts or None)
        except Exception as exc:  # noqa: BLE001 - the IUT's failure is a finding
            raise IUTError(exc) from exc

    def stats(self) -> dict:
        try:
            return dict(self.impl.stats())
        except Exception:  # noqa: BLE001
            return {}


class Check:
    """What one suite test measured, against what threshold and why; becomes a CheckRecord."""

    def __init__(self) -> None:
        self.measured: dict[str, Any] = {}
        self.threshold: float | None = None
        self.threshold_reason = ""
        self.problem = ""
        self.dtype = ""
        self.extra: dict[str, Any] = {}

    def describe(self, *, problem: str = "", dtype: Any = "") -> None:
        self.problem = problem or self.problem
        self.dtype = str(dtype).removeprefix("torch.") if dtype else self.dtype

    def note(self, **values: Any) -> None:
        self.measured.update(values)

    def expect_le(self, name: str, value: float, threshold: float, reason: str) -> None:
        """Pass when value <= threshold (NaN never passes); records both and the reason."""
        value = float(value)
        self.measured[name] = value
        self.threshold, self.threshold_reason = float(threshold), reason
        if not value <= threshold:
            raise CheckFailed(f"{name} = {value:.4g} exceeds {threshold:.4g} ({reason})")

    def expect_ge(self, name: str, value: float, threshold: float, reason: str) -> None:
        value = float(value)
        self.measured[name] = value
        self.threshold, self.threshold_reason = float(threshold), reason
        if not value >= threshold:
            raise CheckFailed(f"{name} = {value:.4g} is below {threshold:.4g} ({reason})")

    def expect_within(self, name: str, value: float, target: float, tol: float, reason: str) -> None:
        value = float(value)
        self.measured[name] = value
        self.measured[f"{name}_target"] = target
        self.threshold, self.threshold_reason = float(tol), reason
        if not abs(value - target) <= tol:
            raise CheckFailed(f"{name} = {value:.4g}, claimed {target:.4g}, off by more than {tol:.4g} ({reason})")

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise CheckFailed(message)


# --------------------------------------------------------------------------- hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ode-harness", "ode-harness verification suites")
    g.addoption("--ode-impl", action="append", default=[], metavar="NAME_OR_IMPORT_PATH",
                help="implementation under test: a built-in name or package.module:callable (repeatable)")
    g.addoption("--ode-method", action="append", default=[], metavar="METHOD",
                help="method passed to the implementation (repeatable; default: its default methods)")
    g.addoption("--ode-profile", default=None, metavar="PROFILE",
                help=f"depth of the checks: {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    g.addoption("--ode-device", default="cpu", metavar="DEVICE", help="cpu or cuda")
    g.addoption("--ode-claim", action="append", default=[], metavar="KEY=VALUE",
                help="override a claim, e.g. order=4, float32=false (repeatable)")
    g.addoption("--ode-results", default=None, metavar="PATH",
                help="results file (JSON lines; default $ODE_HARNESS_RESULTS or reports/results.jsonl)")
    g.addoption("--ode-seed", default=0, type=int, metavar="S", help="seed of every random input (default 0)")


def _build_config(config: pytest.Config) -> OdeConfig:
    names = config.getoption("ode_impl") or list(DEFAULT_IMPLS)
    impls = []
    for n in names:
        try:
            impls.append(load_implementation(n))
        except ImplementationLoadError as exc:
            raise pytest.UsageError(str(exc)) from None
    try:
        profile = get_profile(config.getoption("ode_profile") or os.environ.get("ODE_HARNESS_PROFILE") or DEFAULT_PROFILE)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    device = config.getoption("ode_device")
    if device not in ("cpu", "cuda"):
        raise pytest.UsageError(f"--ode-device must be cpu or cuda, got {device!r}")
    claims = dict(_parse_claim(c) for c in config.getoption("ode_claim"))
    try:
        Claims().override(**claims)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    results = Path(config.getoption("ode_results") or os.environ.get(RESULTS_ENV) or "reports/results.jsonl")
    return OdeConfig(impls, list(config.getoption("ode_method")), profile, device, results.resolve(),
                     claims, config.getoption("ode_seed"), list(config.invocation_params.args))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ode_check: a verification check that yields a result record")
    config._ode = None  # built lazily: only runs that collect suite checks need implementations
    if not hasattr(config, "workerinput"):
        current_run_id()  # the controller fixes the run id; xdist workers inherit it by environment
        os.environ.setdefault(RUN_ID_ENV, current_run_id())


def ode_config(config: pytest.Config) -> OdeConfig:
    if config._ode is None:
        config._ode = _build_config(config)
        os.environ[RESULTS_ENV] = str(config._ode.results)
    return config._ode


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ode_case" in metafunc.fixturenames:
        cases = ode_config(metafunc.config).cases()
        metafunc.parametrize("ode_case", cases, ids=[c.id for c in cases], scope="module")


@pytest.fixture
def check() -> Check:
    return Check()


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
        write_run_header(path, seed=cfg.seed, device=cfg.device,
                         extra={"profile": cfg.profile.name, "impls": [i.name for i in cfg.impls],
                                "methods": cfg.methods, "claims": cfg.claims})
        marker.write_text(run_id)


def _reproducer(item: pytest.Item, case: OdeCase) -> str:
    cfg = case.config
    args = [item.nodeid, "--ode-impl", case.impl.name, "--ode-method", case.method,
            "--ode-profile", cfg.profile.name, "--ode-device", cfg.device, "--ode-seed", str(cfg.seed)]
    for k, v in cfg.claims.items():
        args += ["--ode-claim", f"{k}={v}"]
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
    if expected is not None:
        # a known finding (suites/known_findings.py): the check failed as recorded, or now passes
        verdict = Verdict.FAIL if report.skipped else Verdict.PASS
        exc = call.excinfo.value if call.excinfo is not None else None
        message = (str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "")
        chk_extra = {"expected_failure": expected or "known finding"}
    elif report.skipped:
        verdict = Verdict.SKIP
        message = str(call.excinfo.value.msg) if call.excinfo is not None and hasattr(call.excinfo.value, "msg") else "skipped"
    elif report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, IUTError):
            verdict, message = Verdict.ERROR, str(exc)
        elif isinstance(exc, AssertionError):
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
    name = item.originalname or item.name
    suite = Path(str(item.path)).stem.removeprefix("test_")
    param_id = item.callspec.id if hasattr(item, "callspec") else ""
    rec = CheckRecord(
        check_id=f"{suite}.{name}[{param_id}]", suite=suite, check=name, iut=case.impl.name,
        method=case.method, problem=chk.problem, dtype=chk.dtype, device=cfg.device,
        verdict=verdict, measured=_jsonable(chk.measured), threshold=chk.threshold,
        threshold_reason=chk.threshold_reason, message=message, seed=cfg.seed,
        reproducer=_reproducer(item, case), duration_s=report.duration,
        extra={"claims": case.claims.as_dict(), "profile": cfg.profile.name, "nodeid": item.nodeid,
               **chk_extra, **_jsonable(chk.extra)},
    )
    append_record(cfg.results, rec)


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
