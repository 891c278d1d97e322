"""The ``ode-harness`` command: one line in a library's CI.

    ode-harness check IMPL [IMPL ...] [--method M ...] [--order P] [--fixed-step | --adaptive]
                      [--gradients autograd|none] [--no-float32] [--no-reverse-time] [--no-t-grad]
                      [--claim [METHOD:]KEY=VALUE ...] [--override CHECK=factor:X:REASON ...]
                      [--profile quick|standard|thorough] [--select EXPR] [--report DIR]
                      [--junit FILE] [--json FILE] [--results FILE] [--jobs N]
                      [--timeout SECONDS] [--seed S] [--device cpu|cuda] [--shard K/N]
                      [--fail-on CATEGORY[,CATEGORY]] [--config FILE]
    ode-harness report RESULTS [RESULTS ...] ...   (harness.report.main_report)
    ode-harness compare OLD NEW ...                (harness.report.main_compare)
    ode-harness --version

``python -m harness`` is the same command.

`check` runs the verification suites (the same checks as ``pytest suites/``) through pytest,
in this process as the pytest-xdist controller, with every check in a worker process (``--jobs``
workers, one by default), so that an implementation that hangs, ends its process or segfaults
costs one check, never the run (harness/pytest_plugin.py). Settings come from
``[tool.ode-harness]`` in ./pyproject.toml (harness/config.py), the command line overriding it.

After the checks, the failing ones are diagnosed (harness.diagnosis.engine: findings with
causes, probes where a contrast is missing), the diagnosis is appended to the results file
(harness.diagnosis.store) and the gate decides (harness.gate): the closing table leads with the
findings, then the per-check summary.

Exit status: 0 the gate passed: no finding in a category of ``--fail-on`` (default: all), apart
from known findings; 1 a finding in a selected category, a failing check no finding covers, a
check not run or a run that stopped early; 2 a usage or configuration error (one line on
stderr, no traceback), before any check runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import re
import select
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

import pytest

from .config import (DEFAULT_FAIL_ON, ConfigError, ToleranceOverride, load_file_config, parse_claim_value,
                     parse_fail_on, parse_override_arg)
from .diagnosis.model import Category, Diagnosis
from .run_config import RunConfig, RunConfigPlugin
from .gate import Gate
from .shard import SHARD_OPTION, Shard

PROG = "ode-harness"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
VERDICT_ORDER = ("pass", "fail", "error", "timeout", "skip")
SUMMARY_SCHEMA = 2  # 2: "findings" and "gate"; the verdict is the gate's (a failing check outside --fail-on passes)


class UsageError(Exception):
    """A bad invocation or configuration: one line on stderr, exit 2."""


def suites_dir() -> Path:
    """The verification suites: the ``suites/`` folder of the source checkout this ``harness``
    package lives in, else the installed ``harness.suites`` package (a wheel install)."""
    from .pytest_entry import checkout_suites, installed_suites

    found = checkout_suites() or installed_suites()
    import harness

    return found or Path(harness.__file__).resolve().parent / "suites"


# --------------------------------------------------------------------------- argument parsing
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))  # checks are CPU-bound: one worker per core


def _number_arg(convert: Callable[[str], Any], ok: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """An argparse type: `convert` the text, then require `ok`; one message for both failures."""
    def parse(text: str) -> Any:
        try:
            v = convert(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v
    return parse


_positive_int = _number_arg(int, lambda v: v >= 1, "a positive integer")
_nonneg_int = _number_arg(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number_arg(float, lambda v: math.isfinite(v) and v > 0, "a number of seconds > 0")


def _fail_on_arg(text: str) -> frozenset[Category]:
    try:
        return parse_fail_on(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--fail-on: ")) from None


def _check_parser() -> _Parser:
    p = _Parser(prog=f"{PROG} check", description="Run the verification suites on implementations under test.",
                epilog="Settings also come from [tool.ode-harness] in ./pyproject.toml; the command line "
                       "overrides them. Exit status: 0 the gate passed (no finding in a --fail-on "
                       "category apart from known findings), 1 a gating finding, or checks not run, "
                       "2 usage or configuration error.")
    p.add_argument("impls", nargs="*", metavar="IMPL",
                   help="a built-in implementation (reference, torchdiffeq, torchode, scipy, ...) or "
                        "package.module:callable")
    g = p.add_argument_group("methods and claims (default: the well-known table)")
    g.add_argument("--method", action="append", default=[], metavar="M",
                   help="method name passed to the implementation (repeatable; default: its default methods)")
    g.add_argument("--order", type=_positive_int, metavar="P", help="claimed order of convergence")
    step = g.add_mutually_exclusive_group()
    step.add_argument("--fixed-step", dest="adaptive", action="store_false", default=None,
                      help="fixed-step method (the checks pass options={'step_size': h})")
    step.add_argument("--adaptive", dest="adaptive", action="store_true", default=None,
                      help="adaptive method (step-size control by rtol/atol)")
    g.add_argument("--gradients", choices=("autograd", "none"), help="gradients claimed (default autograd)")
    g.add_argument("--no-float32", dest="float32", action="store_false", default=None,
                   help="float32 states not claimed")
    g.add_argument("--no-reverse-time", dest="reverse_time", action="store_false", default=None,
                   help="decreasing t not claimed")
    g.add_argument("--no-t-grad", dest="t_grad", action="store_false", default=None,
                   help="gradients with respect to t not claimed")
    g.add_argument("--claim", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="any claim (order, dense_order, adaptive, gradients, float32, reverse_time, t_grad, "
                        "batching, stiff, adjoint, implicit), of every method or of one (repeatable)")
    g.add_argument("--override", action="append", default=[], metavar="CHECK=factor:X:REASON",
                   help="loosen one check's threshold by a factor, or set it (CHECK=threshold:X:REASON); "
                        "the reason is required and recorded (repeatable)")
    r = p.add_argument_group("run")
    r.add_argument("--profile", metavar="NAME", help="quick | standard | thorough (default quick)")
    r.add_argument("--select", metavar="EXPR", help="only checks matching this pytest -k expression")
    r.add_argument("--jobs", "-j", type=_positive_int, metavar="N", help="worker processes (default: one per CPU, at most 4)")
    r.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                   help="per-check timeout (default: the profile's)")
    r.add_argument("--seed", type=_nonneg_int, metavar="S", help="seed of every random input (default 0)")
    r.add_argument("--device", metavar="DEVICE", help="cpu or cuda (default cpu)")
    SHARD_OPTION.add_to(r, "--shard")
    r.add_argument("--fail-on", type=_fail_on_arg, metavar="CATEGORY[,CATEGORY]",
                   help="the categories of findings that fail the gate: "
                        + ", ".join(c.value for c in Category) + " or all (default all); findings of "
                        "the others are reported, marked not gating")
    o = p.add_argument_group("output")
    o.add_argument("--results", metavar="FILE", help="results file, JSON lines (default reports/results.jsonl)")
    o.add_argument("--report", metavar="DIR", help="write the HTML report into DIR")
    o.add_argument("--junit", metavar="FILE", help="write JUnit XML (pytest's --junitxml)")
    o.add_argument("--json", metavar="FILE", help="write a JSON summary: verdict counts, failing checks")
    o.add_argument("--config", metavar="FILE", help="read [tool.ode-harness] from FILE instead of ./pyproject.toml")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress, only the summary")
    return p


TOP_HELP = f"""usage: {PROG} COMMAND [ARGS]

commands:
  check IMPL [IMPL ...] [options]   run the verification suites on implementations under test
  report RESULTS [RESULTS ...]      build the HTML report of a results file, or of the shards'
                                    files (or folders of them) merged
  compare OLD NEW                   compare two runs (files, or folders of shards' files)
  survey [--profile P] [options]    every installed built-in on one comparison page (not a gate)
  tableau FILE [options]            check a Butcher tableau's order (JSON or module:attribute)
  --version                         print the version

'{PROG} COMMAND --help' describes a command. Exit status: 0 success, 1 the gate failed
(check: a finding in a --fail-on category, or checks not run), 2 usage or configuration error.
"""


# --------------------------------------------------------------------------- settings
@dataclass
class Settings:
    impl_specs: list[str]
    methods: list[str]
    profile: Any
    device: str
    jobs: int
    timeout: float
    seed: int
    select: str | None
    claims: dict[str, Any]
    method_claims: dict[str, dict[str, Any]]
    overrides: list[ToleranceOverride]
    results: Path
    report: Path | None
    junit: Path | None
    json: Path | None
    quiet: bool
    config_path: Path | None
    shard: Shard | None = None
    fail_on: frozenset[Category] = DEFAULT_FAIL_ON
    impls: list[Any] = field(default_factory=list)

    def cases(self) -> list[tuple[Any, str]]:
        return [(impl, m) for impl in self.impls for m in (self.methods or list(impl.default_methods))]

    def run_config(self) -> RunConfig:
        """The run configuration the suites read (harness.run_config), handed to pytest as is."""
        return RunConfig(impls=tuple(impl.name for impl in self.impls), methods=tuple(self.methods),
                         profile=self.profile.name, device=self.device, seed=self.seed, timeout=self.timeout,
                         results=self.results, claims=dict(self.claims),
                         method_claims={m: dict(c) for m, c in self.method_claims.items()},
                         overrides=tuple(self.overrides), shard=self.shard)


_FLAG_CLAIMS = ("order", "adaptive", "gradients", "float32", "reverse_time", "t_grad")


def _cli_claims(ns: argparse.Namespace) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    common: dict[str, Any] = {}
    per_method: dict[str, dict[str, Any]] = {}
    for text in ns.claim:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key or key.startswith(":") or key.endswith(":"):
            raise UsageError(f"--claim expects KEY=VALUE or METHOD:KEY=VALUE, got {text!r}")
        method, colon, name = key.rpartition(":")
        value = parse_claim_value(name, raw)
        (per_method.setdefault(method, {}) if colon else common)[name] = value
    for name in _FLAG_CLAIMS:
        v = getattr(ns, name)
        if v is not None:
            common[name] = v
    return common, per_method


def _resolve(ns: argparse.Namespace) -> Settings:
    from .claims import Claims
    from .profiles import DEFAULT_PROFILE, get_profile

    try:
        fc = load_file_config(ns.config, required=ns.config is not None)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    impls = list(ns.impls) or list(fc.implementations or [])
    if not impls:
        raise UsageError("no implementation given: name one (ode-harness check IMPL) or set "
                         "'implementations' in [tool.ode-harness] of pyproject.toml")
    try:
        profile = get_profile(ns.profile or fc.profile or DEFAULT_PROFILE)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    device = ns.device or fc.device or "cpu"
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; valid devices: cpu, cuda")
    common, per_method = dict(fc.claims), {m: dict(c) for m, c in fc.method_claims.items()}
    cli_common, cli_per_method = _cli_claims(ns)
    for key in cli_common:  # the command line wins over the file, for every method
        for c in per_method.values():
            c.pop(key, None)
    common.update(cli_common)
    for m, c in cli_per_method.items():
        per_method.setdefault(m, {}).update(c)
    for where, changes in [("", common), *((f" of method {m!r}", c) for m, c in per_method.items())]:
        try:
            Claims().override(**changes)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"bad claim{where}: {exc}") from None
    overrides = list(fc.overrides)
    try:
        overrides += [parse_override_arg(text) for text in ns.override]
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    timeout = ns.timeout or fc.timeout or profile.timeout_s
    cwd = Path.cwd()

    def _out(cli: str | None, file: Path | None, default: Path | None = None) -> Path | None:
        if cli:
            return (cwd / Path(cli).expanduser()).resolve()
        if file is not None:
            return file.resolve()
        return default

    return Settings(
        impl_specs=impls, methods=list(ns.method) or list(fc.methods or []), profile=profile, device=device,
        jobs=ns.jobs or fc.jobs or DEFAULT_JOBS, timeout=float(timeout),
        seed=ns.seed if ns.seed is not None else (fc.seed if fc.seed is not None else 0),
        select=ns.select or fc.select, claims=common, method_claims=per_method, overrides=overrides,
        results=_out(ns.results, fc.results, (cwd / "reports" / "results.jsonl").resolve()),  # type: ignore[arg-type]
        report=_out(ns.report, fc.report), junit=_out(ns.junit, fc.junit), json=_out(ns.json, fc.json),
        quiet=ns.quiet, config_path=fc.path, shard=ns.shard,
        fail_on=ns.fail_on or fc.fail_on or DEFAULT_FAIL_ON)


def _load_impls(st: Settings) -> None:
    from .implementations import ImplementationLoadError, load_implementation

    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # import paths resolve from here, as with `python -m`
    for spec in st.impl_specs:
        try:
            st.impls.append(load_implementation(spec))
        except ImplementationLoadError as exc:
            raise UsageError(str(exc)) from None
    for impl in st.impls:
        methods = st.methods or list(impl.default_methods)
        if not methods:
            raise UsageError(f"{impl.name}: no methods to check: give --method (or 'methods' in "
                             "[tool.ode-harness])")
        if impl.family != "custom" and impl.methods:
            unknown = [m for m in methods if m not in impl.methods]
            if unknown:
                raise UsageError(f"unknown method {unknown[0]!r} for {impl.name}; valid methods: "
                                 f"{', '.join(impl.methods)}")


def _check_device(st: Settings) -> None:
    if st.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: torch.cuda.is_available() is False on this machine")


def _check_report_available(st: Settings) -> None:
    if st.report is None:
        return
    try:
        import importlib

        importlib.import_module("harness.report").build_report  # noqa: B018
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--report: the HTML report is not available in this installation "
                         f"(harness.report: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


# --------------------------------------------------------------------------- pre-flight
_UNKNOWN_WORDS = re.compile(r"unknown|invalid|unsupported|not supported|not recogni[sz]ed|must be one of|"
                            r"no such|not a valid|not available|not implemented", re.IGNORECASE)


def names_unknown_method(message: str, method: str) -> bool:
    """Does an exception message say that `method` is not a method of the implementation?"""
    return method in message and bool(_UNKNOWN_WORDS.search(message))


def _smoke(impl: Any, method: str, adaptive: bool) -> str | None:
    """Call the IUT once on y' = -y; the message if it says the method is unknown, else None
    (success, or any other failure: those are for the checks to find)."""
    import torch

    y0 = torch.ones(2, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    attempts = [None, {"step_size": 0.05}] if adaptive else [{"step_size": 0.05}, None]
    messages = []
    for opts in attempts:
        try:
            with torch.no_grad():
                impl.odeint(lambda tt, y: -y, y0, t, rtol=1e-6, atol=1e-8, method=method, options=opts)
            return None
        except ValueError as exc:
            messages.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        except Exception:  # noqa: BLE001
            return None
    if messages and all(names_unknown_method(m, method) for m in messages):
        return messages[0]
    return None


def preflight(cases: list[tuple[Any, str, bool]], timeout: float) -> list[tuple[str, str, str]]:
    """Smoke-call every (implementation, method, adaptive) in a forked child, so that an
    implementation that crashes or hangs cannot take this process with it. Returns
    (implementation, method, message) for each method the implementation says it does not know.
    A child that dies or runs out of time proves nothing: the checks will find out."""
    if not cases or not hasattr(os, "fork"):
        return []
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 1)
            os.dup2(null, 2)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(int(math.ceil(timeout)) + 1)
            try:
                import torch

                torch.set_num_threads(1)
            except Exception:  # noqa: BLE001
                pass
            out = []
            for impl, method, adaptive in cases:
                msg = _smoke(impl, method, adaptive)
                if msg:
                    out.append([impl.name, method, msg])
            data = json.dumps(out).encode()
            while data:
                n = os.write(wfd, data)
                data = data[n:]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    done = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                break
            chunk = os.read(rfd, 65536)
            if not chunk:
                done = True
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
        if not done:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if not done:
        return []
    try:
        return [tuple(x) for x in json.loads(b"".join(chunks).decode() or "[]")]  # type: ignore[misc]
    except ValueError:
        return []


def _preflight(st: Settings) -> None:
    todo = []
    for impl, method in st.cases():
        if impl.family != "custom":
            continue  # built-ins list their methods, checked already
        claims = impl.claims(method, **{**st.claims, **st.method_claims.get(method, {})})
        todo.append((impl, method, claims.adaptive))
    bad = preflight(todo, timeout=min(15.0, st.timeout))
    if bad:
        name, method, msg = bad[0]
        raise UsageError(f"unknown method {method!r} for {name} (a smoke call y' = -y raised {msg[:300]})")


# --------------------------------------------------------------------------- progress
def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """A pytest plugin in the xdist controller: counts finished checks, reads their verdicts
    from the results file as workers append them, and shows progress with an estimate of the
    time left (a live line on a terminal; a line per quarter otherwise)."""

    def __init__(self, out: TextIO, *, live: bool, quiet: bool, results: Path, run_id: str, jobs: int) -> None:
        self.out = out
        self.live = live and not quiet
        self.quiet = quiet
        self.results = results
        self.run_id = run_id
        self.jobs = jobs
        self.total: int | None = None
        self.done = 0
        self.finished: set[str] = set()
        self.failed_reports: dict[str, str] = {}
        self.counts = {v: 0 for v in VERDICT_ORDER}
        self.t0 = time.monotonic()
        self.t_collected: float | None = None
        self._offset = 0
        self._partial = b""
        self._last_draw = 0.0
        self._quarter = 0
        self._width = shutil.get_terminal_size((100, 20)).columns
        self._current = ""

    # -- output
    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            pass

    def line(self, text: str) -> None:
        if self.live:
            self._write("\r\x1b[K")
        self._write(text + "\n")

    def clear(self) -> None:
        if self.live:
            self._write("\r\x1b[K")

    def _status(self) -> str:
        total = self.total or 0
        pct = 100.0 * self.done / total if total else 0.0
        c = self.counts
        elapsed = time.monotonic() - (self.t_collected or self.t0)
        left = ""
        if self.done and total:
            left = f", ~{_fmt_time(elapsed / self.done * (total - self.done))} left"
        return (f"[{self.done}/{total} {pct:3.0f}%] pass {c['pass']} fail {c['fail']} error {c['error']} "
                f"timeout {c['timeout']} skip {c['skip']} | {_fmt_time(elapsed)} elapsed{left}")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.live:
            if not force and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            text = self._status()
            if self._current:
                text += "  " + self._current
            self._write("\r\x1b[K" + text[: max(20, self._width - 1)])
        elif not self.quiet and self.total:
            quarter = int(4 * self.done / self.total)
            if quarter > self._quarter:
                self._quarter = quarter
                self._write(self._status() + "\n")

    def _read_new_records(self) -> None:
        try:
            with open(self.results, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            if b'"kind":"check"' not in raw[:40]:
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if rec.get("run_id") != self.run_id:
                continue
            v = rec.get("verdict")
            if v == "fail" and (rec.get("extra") or {}).get("expected_failure"):
                continue  # a known finding
            if v in self.counts:
                self.counts[v] += 1

    # -- hooks
    def pytest_sessionstart(self, session: Any) -> None:
        try:
            self._offset = self.results.stat().st_size if self.results.exists() else 0
        except OSError:
            self._offset = 0
        if self.live:
            self._write(f"starting {self.jobs} worker{'s' if self.jobs > 1 else ''} and collecting checks ...")

    def _collected(self, n: int) -> None:
        if self.total is None:
            self.total = n
            self.t_collected = time.monotonic()
            if not self.quiet:
                self.line(f"{n} checks, {self.jobs} worker{'s' if self.jobs > 1 else ''}")
            self._draw(force=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        self._collected(len(ids))

    def pytest_collection_finish(self, session: Any) -> None:  # without xdist
        if getattr(session.config, "workerinput", None) is None and not getattr(session.config.option, "numprocesses", None):
            self._collected(len(session.items))

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._current = nodeid.rpartition("::")[2]

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and report.nodeid not in self.failed_reports:
            text = str(getattr(report, "longreprtext", "") or report.longrepr or "").strip()
            self.failed_reports[report.nodeid] = text.splitlines()[-1] if text else "failed"
        if report.when in ("teardown", "???") and report.nodeid not in self.finished:
            self.finished.add(report.nodeid)
            self.done += 1
            self._read_new_records()
            self._draw()

    def pytest_sessionfinish(self, session: Any) -> None:
        self._read_new_records()
        self._draw(force=True)
        self.clear()


# --------------------------------------------------------------------------- summary
def _short_id(check_id: str) -> str:
    return check_id


@dataclass
class Summary:
    counts: dict[str, int]
    expected_failures: int
    by_case: dict[str, dict[str, int]]
    failing: list[dict[str, Any]]
    unmatched_overrides: list[str]
    overrides_applied: int
    n_records: int
    verdicts: dict[str, str] = field(default_factory=dict)  # check id -> verdict ("known" for a known finding)

    @property
    def failed(self) -> bool:
        return any(self.counts[v] for v in ("fail", "error", "timeout"))


def summarize(records: list[Any], st: Settings, progress: Progress | None) -> Summary:
    counts = {v: 0 for v in VERDICT_ORDER}
    expected = 0
    by_case: dict[str, dict[str, int]] = {}
    failing: list[dict[str, Any]] = []
    seen_nodeids = set()
    used_patterns = set()
    applied = 0
    for r in records:
        v = r.verdict.value
        extra = r.extra or {}
        seen_nodeids.add(extra.get("nodeid", ""))
        for ov in extra.get("threshold_overrides", []) or []:
            used_patterns.add(ov.get("pattern"))
            applied += 1
        case = by_case.setdefault(f"{r.iut}-{r.method}", {k: 0 for k in VERDICT_ORDER})
        if v == "fail" and extra.get("expected_failure"):
            expected += 1
            case.setdefault("expected", 0)
            case["expected"] = case.get("expected", 0) + 1
            continue
        counts[v] += 1
        case[v] += 1
        if v in ("fail", "error", "timeout"):
            failing.append({"check_id": r.check_id, "verdict": v, "message": r.message, "iut": r.iut,
                            "method": r.method, "problem": r.problem, "dtype": r.dtype,
                            "nodeid": extra.get("nodeid", ""), "measured": r.measured,
                            "threshold": r.threshold, "threshold_reason": r.threshold_reason,
                            "reproducer": r.reproducer, "duration_s": r.duration_s,
                            **({"incomplete": True} if extra.get("not_run") else {})})
    if progress is not None:
        # pytest failures without a record (a harness error outside a check), and checks that
        # never finished (the run stopped early)
        for nodeid, text in progress.failed_reports.items():
            if nodeid not in seen_nodeids:
                counts["error"] += 1
                failing.append({"check_id": nodeid, "verdict": "error", "nodeid": nodeid, "incomplete": True,
                                "message": f"no result recorded; pytest: {text}"})
                seen_nodeids.add(nodeid)
    unmatched = [ov.pattern for ov in st.overrides if ov.pattern not in used_patterns]
    verdicts = {r.check_id: ("known" if r.verdict.value == "fail" and (r.extra or {}).get("expected_failure")
                             else r.verdict.value) for r in records}
    return Summary(counts, expected, by_case, failing, unmatched, applied, len(records), verdicts)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  " + "  ".join(cells).rstrip())
    return out


CHECKS_PER_FINDING = 5  # check ids printed under a finding in the closing table; the rest are counted
TITLE_WIDTH = 100       # a title longer than this is cut in the table (whole in --json and the report)


# The diagnosis's probes are solves through the implementation under test, so the diagnosis runs
# in a child process: an implementation that segfaults, ends its process or hangs in C during a
# probe costs the probes, never the run's verdict (every check's record is in the results file
# already). The child gets the engine's probe budget plus this much for starting Python and
# importing torch and the implementation (~5 s on an idle machine, measured up to ~25 s on a
# loaded 2-core one).
DIAGNOSIS_START_S = 60.0


class DiagnosisChildError(Exception):
    """The diagnosis child did not return a diagnosis (died, timed out, raised)."""


def _diagnosis_child() -> None:
    """The child's side of `_diagnose_isolated`: the request on stdin, the diagnosis line into
    the request's output file."""
    req = json.loads(sys.stdin.read())
    os.chdir(req["cwd"])
    if req["cwd"] not in sys.path:
        sys.path.insert(0, req["cwd"])  # import paths of implementations resolve as in the run
    from .diagnosis.engine import diagnose
    from .diagnosis.store import diagnosis_record
    from .results import load_records

    records = [r for r in load_records(req["results"], missing_ok=True).records if r.run_id == req["run_id"]]
    line = diagnosis_record(diagnose(records), fail_on=(), run_id=req["run_id"]).to_json()
    Path(req["out"]).write_text(line + "\n")


def _diagnose_isolated(st: Settings, run_id: str, log: Path) -> Diagnosis:
    """`diagnose` of this run's records, probes included, in a child process (see
    DIAGNOSIS_START_S); DiagnosisChildError when it gives no diagnosis."""
    import subprocess
    import tempfile

    from .diagnosis.engine import DEFAULT_TIME_BUDGET_S
    from .diagnosis.store import parse_diagnosis_line

    limit = DEFAULT_TIME_BUDGET_S + DIAGNOSIS_START_S
    with tempfile.TemporaryDirectory(prefix="ode-harness-diagnosis-") as tmp:
        out = Path(tmp) / "diagnosis.jsonl"
        req = {"results": str(st.results), "run_id": run_id, "out": str(out), "cwd": str(Path.cwd())}
        with open(log, "a", encoding="utf-8", errors="replace") as err:
            err.write("\n--- diagnosis (probes) ---\n")
            err.flush()
            try:
                proc = subprocess.run([sys.executable, "-c", "from harness.cli import _diagnosis_child; _diagnosis_child()"],
                                      input=json.dumps(req), text=True, stdout=err, stderr=err, timeout=limit)
            except subprocess.TimeoutExpired:
                raise DiagnosisChildError(f"did not finish within {limit:g} s") from None
        if proc.returncode != 0:
            how = (f"killed by signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
                   else f"exited with status {proc.returncode}")
            raise DiagnosisChildError(f"{how} (see {log})")
        try:
            return parse_diagnosis_line(out.read_text()).diagnosis
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DiagnosisChildError(f"gave no diagnosis ({type(exc).__name__}: {_first_line(exc)})") from None


def diagnose_run(records: list[Any], summary: Summary, st: Settings, *, run_id: str,
                 log: Path | None = None) -> Gate:
    """Diagnose the run's records (probes included, harness.diagnosis.engine; in a child process
    when a check failed, see DIAGNOSIS_START_S), append the diagnosis to the results file, and
    decide the gate. A diagnosis with probes that fails falls back to the records alone; one
    that cannot be had at all is no verdict: the failing checks are then undiagnosed, and gate."""
    from .gate import evaluate_gate

    t0 = time.monotonic()
    diagnosis = Diagnosis(findings=())
    error = ""
    try:
        from .diagnosis.engine import diagnose
    except ImportError as exc:
        error = f"diagnosis not available ({exc})"
    else:
        try:
            if any(r.verdict.value in ("fail", "error", "timeout") for r in records):
                diagnosis = _diagnose_isolated(st, run_id, log or st.results.with_suffix(".log"))
            else:  # nothing to probe: the same diagnosis, without a child
                diagnosis = diagnose(records, run_probes=False)
        except Exception as exc:  # noqa: BLE001 - a diagnosis failure must not hide the verdict
            error = f"diagnosis with probes failed: {type(exc).__name__}: {_first_line(exc)}"
            try:
                diagnosis = diagnose(records, run_probes=False)
                error += "; diagnosed from the records alone, without probes"
            except Exception as exc2:  # noqa: BLE001
                error += f"; without probes too: {type(exc2).__name__}: {_first_line(exc2)}"
    if diagnosis.findings:
        diagnosis = _attach_reproducers(diagnosis, records, st, log)
    if not error or diagnosis.findings:
        from .diagnosis.store import write_diagnosis

        try:
            write_diagnosis(st.results, diagnosis, fail_on=st.fail_on, run_id=run_id)
        except (OSError, TypeError, ValueError) as exc:
            error = (error + "; " if error else "") + f"diagnosis not stored: {type(exc).__name__}: {_first_line(exc)}"
    return evaluate_gate(diagnosis, st.fail_on, summary.failing, diagnosis_error=error,
                         diagnosis_s=time.monotonic() - t0)


def reproducer_folder(st: Settings) -> Path:
    """Where the findings' reproducers go: the report folder's ``reproducers/`` (the report links
    them), else ``<results stem>-reproducers/`` beside the results file."""
    if st.report is not None:
        return st.report / "reproducers"
    return st.results.parent / f"{st.results.stem}-reproducers"


def _attach_reproducers(diagnosis: Diagnosis, records: list[Any], st: Settings, log: Path | None) -> Diagnosis:
    """The diagnosis with a standalone reproducer script per finding (harness.diagnosis.reproducer);
    the findings left without one are named in the log. Never raises: the verdict stands without."""
    try:
        from .diagnosis.reproducer import finding_reproducers

        diagnosis, reasons = finding_reproducers(diagnosis, records, reproducer_folder(st), relative_to=st.report)
    except Exception as exc:  # noqa: BLE001 - reproducers are an aid, never the verdict's cost
        reasons = [f"reproducers not written: {type(exc).__name__}: {_first_line(exc)}"]
    if reasons and log is not None:
        try:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write("\n--- reproducers ---\n" + "\n".join(reasons) + "\n")
        except OSError:
            pass
    return diagnosis


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _one_line(text: Any, limit: int | None = None) -> str:
    out = " ".join(str(text or "").split())
    return out if limit is None or len(out) <= limit else out[: limit - 3] + "..."


def _reproducer_path(reproducer: str | None, st: Settings) -> str:
    if not reproducer:
        return "-"
    p = Path(reproducer)
    return str(p if p.is_absolute() or st.report is None else st.report / p)


def render_findings(gate: Gate, st: Settings, verdicts: dict[str, str]) -> list[str]:
    """The closing table's lead: the findings, one line each (gate status, category, cause,
    confidence, number of checks, title, reproducer), the checks under each."""
    from .gate import FindingStatus

    n_probes = len(gate.diagnosis.probes)
    lines = [gate.headline() + f" (--fail-on {gate.fail_on_text()})"
             + (f"; the diagnosis ran {n_probes} probe{'' if n_probes == 1 else 's'}" if n_probes else "")
             + (f" in {gate.diagnosis_s:.1f} s" if n_probes and gate.diagnosis_s is not None else "")]
    findings = gate.ordered()
    if findings:
        rows = [["#", "gate", "category", "cause", "confidence", "checks", "title", "reproducer"]]
        for i, f in enumerate(findings, 1):
            rows.append([str(i), gate.status(f).upper() if gate.status(f) == FindingStatus.GATING else gate.status(f),
                         f.category.value, f.cause_key, f.confidence.value, str(len(f.checks)),
                         _one_line(f.title, TITLE_WIDTH), _reproducer_path(f.reproducer, st)])
        table = _table(rows, right={0, 5})
        lines.append(table[0])
        for (i, f), row in zip(enumerate(findings, 1), table[1:]):
            lines.append(row)
            for c in f.checks[:CHECKS_PER_FINDING]:
                lines.append(f"        {verdicts.get(c, 'known' if f.expected else 'fail').upper():<8} {c}")
            if len(f.checks) > CHECKS_PER_FINDING:
                lines.append(f"        ... and {len(f.checks) - CHECKS_PER_FINDING} more checks")
    for x in gate.undiagnosed:
        lines.append(f"  UNDIAGNOSED {str(x.get('verdict', '')).upper()} {x.get('check_id')}: gating (no finding covers it)")
    for x in gate.incomplete:
        lines.append(f"  INCOMPLETE  {x.get('check_id')}: {_one_line(x.get('message'), 160)}")
    if gate.diagnosis_error:
        lines.append(f"warning: {gate.diagnosis_error}")
    return lines


def render_summary(s: Summary, st: Settings, *, exit_code: int, elapsed: float, paths: dict[str, str],
                   width: int | None, gate: Gate | None = None) -> list[str]:
    c = s.counts
    verdict = "PASS" if exit_code == 0 else "FAIL"
    n = sum(c.values()) + s.expected_failures
    head = (f"ode-harness check: {verdict} (exit {exit_code}) in {_fmt_time(elapsed)}: {n} checks, "
            f"{c['pass']} passed, {c['fail']} failed, {c['error']} errors, {c['timeout']} timed out, "
            f"{c['skip']} skipped")
    if s.expected_failures:
        head += f", {s.expected_failures} known findings"
    lines = [head]
    if gate is not None:
        findings = render_findings(gate, st, s.verdicts)
        if width:
            findings = [ln if len(ln) <= width else ln[: width - 3] + "..." for ln in findings]
        lines += findings
    if s.by_case:
        rows = [["case", "pass", "fail", "error", "timeout", "skip", "known"]]
        for case, k in s.by_case.items():
            rows.append([case] + [str(k[v]) for v in VERDICT_ORDER] + [str(k.get("expected", 0))])
        lines += _table(rows, right=set(range(1, 7)))
    if s.failing:
        lines.append(f"failing checks ({len(s.failing)}):")
        rows = [["verdict", "check", "message"]]
        for f in s.failing:
            # condensed: the findings above carry the diagnosis; here each check's own message
            rows.append([f["verdict"].upper(), _short_id(f["check_id"]), _one_line(f["message"], 200)])
        table = _table(rows, right=set())
        if width:
            table = [ln if len(ln) <= width else ln[: width - 3] + "..." for ln in table]
        lines += table
    for pat in s.unmatched_overrides:
        lines.append(f"warning: tolerance override {pat!r} named no check of this run")
    lines.append("  ".join(f"{k}: {v}" for k, v in paths.items()))
    return lines


def summary_json(s: Summary, st: Settings, *, exit_code: int, elapsed: float, run_id: str,
                 pytest_status: int, paths: dict[str, str], gate: Gate | None = None) -> dict[str, Any]:
    from .diagnosis.store import finding_to_dict
    from .results import encode_value

    gate_part: dict[str, Any] = {}
    if gate is not None:
        gate_part = {"findings": [{**finding_to_dict(f), "status": gate.status(f)} for f in gate.diagnosis.findings],
                     "gate": gate.as_dict(),
                     "probes": [{"check_id": p.check_id, "verdict": p.verdict.value, "message": p.message,
                                 "measured": p.measured} for p in gate.diagnosis.probes]}

    return encode_value({
        "schema": SUMMARY_SCHEMA,
        "tool": "ode-harness",
        "run_id": run_id,
        "exit_code": exit_code,
        "verdict": "pass" if exit_code == 0 else "fail",
        "duration_s": round(elapsed, 3),
        "profile": st.profile.name,
        "implementations": [i.name for i in st.impls],
        "methods": {i.name: list(st.methods or i.default_methods) for i in st.impls},
        "claims": st.claims,
        "method_claims": st.method_claims,
        "overrides": [o.as_dict() for o in st.overrides],
        "overrides_applied": s.overrides_applied,
        "unmatched_overrides": s.unmatched_overrides,
        "select": st.select,
        "timeout_s": st.timeout,
        "jobs": st.jobs,
        "seed": st.seed,
        "device": st.device,
        "shard": None if st.shard is None else str(st.shard),
        "counts": {**s.counts, "expected_failure": s.expected_failures},
        "by_case": s.by_case,
        "failing": s.failing,
        "pytest_exit_status": pytest_status,
        **gate_part,
        **paths,
    })


# --------------------------------------------------------------------------- running
# The pytest plugins a run loads, by module (with autoload off, see `run_check`): the harness's,
# xdist, pytest-benchmark (the benchmark suite's `benchmark` fixture) and hypothesis's.
_PLUGINS = ("xdist.plugin", "harness.pytest_entry", "pytest_benchmark.plugin", "_hypothesis_pytestplugin")


def _pytest_args(st: Settings) -> list[str]:
    root = suites_dir()
    args = [str(root), "-c", os.devnull, "--rootdir", str(root.parent), "-p", "no:cacheprovider"]
    loaded = [p for p in _PLUGINS if importlib.util.find_spec(p) is not None]
    for plugin in loaded:
        args += ["-p", plugin]
    args += ["-n", str(st.jobs), "--dist", "load",
            "--max-worker-restart", str(len(st.cases()) * 3 + 4 * st.jobs + 4),
            "-o", "console_output_style=classic", "-q"]
    # what the suites verify and how travels as the RunConfig object (run_check), not as options
    if "pytest_benchmark.plugin" in loaded:
        # pytest-benchmark's storage folder goes to the user cache, not into the working folder
        args += ["--benchmark-storage", f"file://{user_cache_dir() / 'benchmarks'}"]
    if st.select:
        args += ["-k", st.select]
    if st.junit:
        args += ["--junitxml", str(st.junit)]
    return args


def user_cache_dir() -> Path:
    """ode-harness's folder in the user cache ($XDG_CACHE_HOME or ~/.cache), next to the oracle
    cache: what a run stores that is not a result (hypothesis's example database, pytest-benchmark's
    storage) goes here, so that the working folder only receives results, log and report."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "ode-harness"


@contextlib.contextmanager
def _output_to(log: Path):
    """pytest's own terminal output and every worker's stderr go to `log`; this process keeps
    the original stdout for progress and summary (returned) and stderr for its error line."""
    log.parent.mkdir(parents=True, exist_ok=True)
    real_out = sys.stdout
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log, "w", encoding="utf-8", errors="replace") as f:
        saved_err = os.dup(2)
        os.dup2(f.fileno(), 2)
        real_err_file = os.fdopen(os.dup(saved_err), "w", closefd=True)
        try:
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield real_out, real_err_file
        finally:
            f.flush()
            sys.stderr.flush()
            os.dup2(saved_err, 2)
            os.close(saved_err)
            real_err_file.close()


def _last_error_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for ln in reversed(lines):
        s = ln.strip()
        if s.startswith(("ERROR:", "E   ", "INTERNALERROR>")) or "Error" in s:
            return s.removeprefix("ERROR:").strip()
    return lines[-1].strip() if lines else ""


def _build_report(st: Settings) -> str:
    import importlib

    return str(importlib.import_module("harness.report").build_report(st.results, st.report))


def _empty_shard_results(st: Settings) -> None:
    """The results file of a shard without checks: its run header and run end."""
    from .report.runend import write_run_end
    from .results import run_header_extra, write_run_header

    if st.results.exists():
        st.results.replace(st.results.with_name(st.results.stem + ".prev" + st.results.suffix))
    write_run_header(st.results, seed=st.seed, device=st.device, extra=run_header_extra(
        profile=st.profile.name, impls=[i.name for i in st.impls], methods=st.methods, claims=st.claims,
        method_claims=st.method_claims, overrides=[o.as_dict() for o in st.overrides], shard=str(st.shard)))
    write_run_end(st.results, exitstatus=int(pytest.ExitCode.NO_TESTS_COLLECTED), collected=0)


def run_check(argv: Sequence[str]) -> int:
    t_start = time.monotonic()
    ns = _check_parser().parse_args(list(argv))
    st = _resolve(ns)
    if not (suites_dir() / "conftest.py").exists():
        raise UsageError(f"the verification suites are not installed: expected the package harness.suites "
                         f"at {suites_dir()} (reinstall ode-harness: pip install ode-harness)")
    _load_impls(st)
    _check_device(st)
    _check_report_available(st)
    _preflight(st)

    from .results import RUN_ID_ENV, current_run_id, load_records

    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.urandom(4).hex()}"
    os.environ[RUN_ID_ENV] = run_id
    assert current_run_id() == run_id
    st.results.parent.mkdir(parents=True, exist_ok=True)
    log = st.results.with_suffix(".log")
    live = sys.stdout.isatty() and not os.environ.get("CI")
    out = sys.stdout
    if not st.quiet:
        methods = ", ".join(f"{i.name} ({', '.join(st.methods or i.default_methods)})" for i in st.impls)
        out.write(f"ode-harness check: {methods}; profile {st.profile.name}, timeout {st.timeout:g} s"
                  + (f", select {st.select!r}" if st.select else "")
                  + (f", shard {st.shard}" if st.shard else "") + "\n")
        out.flush()
    progress = Progress(out, live=live, quiet=st.quiet, results=st.results, run_id=run_id, jobs=st.jobs)
    args = _pytest_args(st)
    # Plugins are named on the command line (_PLUGINS), not discovered: other pytest plugins of
    # the environment stay out of the run, and pytest does not assertion-rewrite every module
    # of every plugin's distribution (hypothesis alone costs seconds per process when bytecode
    # cannot be cached). The workers inherit the setting.
    saved_autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # hypothesis keeps its example database in ./.hypothesis unless told: the user cache instead
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(user_cache_dir() / "hypothesis"))
    with _output_to(log) as (real_out, _real_err):
        progress.out = real_out
        try:
            status = int(pytest.main(args, plugins=[progress, RunConfigPlugin(st.run_config())]))
        except SystemExit as exc:  # pragma: no cover - pytest.main returns, but be safe
            status = int(exc.code or 0)
        finally:
            if saved_autoload is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved_autoload
    progress.clear()
    if status == pytest.ExitCode.USAGE_ERROR:
        raise UsageError(f"pytest refused the run: {_last_error_line(log)} (see {log})")
    if status == pytest.ExitCode.NO_TESTS_COLLECTED or progress.total == 0:
        if st.shard is not None and status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            # a partition of few checks into many shards leaves some empty: nothing to run; the
            # results file gets the run header and end all the same, so that the merge sees
            # every shard of the run
            _empty_shard_results(st)
            out.write(f"ode-harness check: shard {st.shard} holds none of the selected checks; nothing to run "
                      f"(results: {st.results})\n")
            out.flush()
            return EXIT_OK
        raise UsageError("no checks selected" + (f" (--select {st.select!r} matched none)" if st.select else ""))
    res = load_records(st.results, missing_ok=True)
    records = [r for r in res.records if r.run_id == run_id]
    summary = summarize(records, st, progress)
    if progress.total is not None:
        missing = progress.total - len(progress.finished)
        if missing > 0:
            summary.counts["error"] += missing
            summary.failing.append({"check_id": f"{missing} checks", "verdict": "error", "nodeid": "",
                                    "incomplete": True,
                                    "message": f"not run: the run stopped early (pytest exit status {status}; see {log})"})
    harness_error = ""
    if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        harness_error = (f"harness error: pytest ended with status {status} "
                         f"({_last_error_line(log)}); see {log}")
    gate = diagnose_run(records, summary, st, run_id=run_id, log=log)
    exit_code = EXIT_FAILED if (not gate.passed or harness_error) else EXIT_OK
    if status == pytest.ExitCode.INTERRUPTED and not summary.failed:
        exit_code = 130
    paths = {"results": str(st.results), "log": str(log)}
    if st.junit:
        paths["junit"] = str(st.junit)
    report_error = ""
    if st.report is not None:
        try:
            paths["report"] = _build_report(st)
        except Exception as exc:  # noqa: BLE001 - a report failure must not hide the verdict
            report_error = f"report not written: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    elapsed = time.monotonic() - t_start
    if st.json:
        paths["json"] = str(st.json)
        data = summary_json(summary, st, exit_code=exit_code, elapsed=elapsed, run_id=run_id,
                            pytest_status=status, paths=paths, gate=gate)
        if harness_error:
            data["harness_error"] = harness_error
        if report_error:
            data["report_error"] = report_error
        st.json.parent.mkdir(parents=True, exist_ok=True)
        st.json.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    width = shutil.get_terminal_size((100, 20)).columns if live else None
    for ln in render_summary(summary, st, exit_code=exit_code, elapsed=elapsed, paths=paths, width=width,
                             gate=gate):
        out.write(ln + "\n")
    for msg in (harness_error, report_error):
        if msg:
            out.write(msg + "\n")
    out.flush()
    return exit_code


def _delegate(name: str, argv: list[str]) -> int:
    try:
        import importlib

        fn = getattr(importlib.import_module("harness.report"), name)
    except (ImportError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"'{PROG} {name.removeprefix('main_')}' is not available in this installation "
                         f"(harness.report.{name}: {detail})") from None
    return int(fn(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Returns the exit status (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args or args[0] in ("-h", "--help", "help"):
            sys.stdout.write(TOP_HELP)
            return EXIT_OK if args else EXIT_USAGE
        if args[0] in ("--version", "-V"):
            from . import __version__

            sys.stdout.write(f"{PROG} {__version__}\n")
            return EXIT_OK
        cmd, rest = args[0], args[1:]
        if cmd == "check":
            return run_check(rest)
        if cmd == "report":
            return _delegate("main_report", rest)
        if cmd == "compare":
            return _delegate("main_compare", rest)
        if cmd == "tableau":
            return importlib.import_module("harness.tableau_check").main(rest)
        if cmd == "survey":
            from .survey import run_survey

            return run_survey(rest)
        raise UsageError(f"unknown command {cmd!r}; commands: check, report, compare, survey, tableau")
    except UsageError as exc:
        msg = " ".join(str(exc).split())
        sys.stderr.write(f"{PROG}: error: {msg}\n")
        sys.stderr.flush()
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
