"""``ode-harness survey``: every installed built-in implementation, one comparison page.

    ode-harness survey [--profile P] [--report DIR] [--jobs N] [--impl NAME ...] [--method M ...]
                       [--select EXPR] [--timeout S] [--seed S] [--rebuild] [--quiet]

Each built-in of `harness.implementations.BUILTINS` (reference, its adjoints, torchdiffeq,
torchode, scipy, and whatever else is registered there) is run with its default methods by
``ode-harness check`` in a child process of its own, writing its own results file
``DIR/results/<name>.jsonl``: a library that crashes the checker, or the interpreter, loses its
own run, never another's. Then the files are read together (`load_survey_run`) and
``DIR/index.html`` is written by the report builder's survey view
(`harness.report.survey.build_survey_report`). A built-in whose package is not importable is
listed on the page as "not installed".

A survey is not a gate: the exit status is 0 when the survey ran and its page was written,
whatever the libraries' verdicts; 1 when the page could not be written; 2 bad input (one line
on stderr); 130 interrupted (the page is still written from what finished).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .cli import DEFAULT_JOBS, PROG, UsageError, _fmt_time, _Parser, _positive_float, _positive_int, _nonneg_int

MANIFEST = "survey.json"
MANIFEST_SCHEMA = 1
RESULTS_SUBDIR = "results"

# Status of a library in the survey.
RAN, INCOMPLETE, CRASHED, NOT_INSTALLED, NO_METHODS, NOT_RUN = (
    "ran", "incomplete", "crashed", "not installed", "no method selected", "not run")

# The distribution whose version a built-in family reports (its `Implementation.family`).
_FAMILY_DIST = {"reference": "ode-harness"}
# The module a built-in family needs (default: the family's name). Some adapters import their
# library only when called (torchode's), so loading the adapter does not prove it is installed.
_FAMILY_MODULE = {"reference": "reference"}
# Always in the header, besides every library's distribution.
_BASE_DISTS = ("torch", "numpy")


@dataclass
class Library:
    """One built-in implementation in the survey and what became of its run."""

    name: str
    status: str
    description: str = ""
    family: str = ""
    methods: list[str] = field(default_factory=list)
    distribution: str | None = None
    version: str | None = None
    detail: str = ""               # why not installed / how it crashed
    results: str | None = None     # path of its results file
    log: str | None = None         # the child's output
    command: list[str] = field(default_factory=list)
    exit_code: int | None = None   # of `ode-harness check` (0 all passed, 1 findings)
    wall_s: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def has_results(self) -> bool:
        return bool(self.results) and Path(self.results).exists() and Path(self.results).stat().st_size > 0


# --------------------------------------------------------------------------- arguments
def _parser() -> _Parser:
    p = _Parser(prog=f"{PROG} survey",
                description="Run every installed built-in implementation with its default methods and write "
                            "one report comparing them (verdict grid, findings per library, work-precision, "
                            "NFE and memory against depth, versions).",
                epilog="This is a survey, not a gate: findings do not fail it. Exit status: 0 the survey ran "
                       "and its page was written (whatever the verdicts), 1 the page could not be written, "
                       "2 bad input, 130 interrupted. Each library runs in its own process and writes its "
                       "own results file under DIR/results/; a library that crashes loses only its own run.")
    p.add_argument("--profile", default=None, metavar="NAME", help="quick | standard | thorough (default quick)")
    p.add_argument("--report", default="reports/survey", metavar="DIR",
                   help="output folder: DIR/index.html and DIR/results/ (default reports/survey)")
    p.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                   help=f"worker processes per library (default {DEFAULT_JOBS}: one per CPU, at most 4)")
    p.add_argument("--impl", action="append", default=[], metavar="NAME",
                   help="survey only these built-ins (repeatable; default: every registered built-in)")
    p.add_argument("--method", action="append", default=[], metavar="M",
                   help="only these methods, of the libraries that offer them (repeatable; default: each "
                        "library's default methods); a library offering none is listed, not run")
    p.add_argument("--select", metavar="EXPR", help="only checks matching this pytest -k expression")
    p.add_argument("--timeout", type=_positive_float, metavar="SECONDS", help="per-check timeout (default: the profile's)")
    p.add_argument("--seed", type=_nonneg_int, metavar="S", help="seed of every random input (default 0)")
    p.add_argument("--update", action="store_true",
                   help="run only the --impl libraries and keep the other libraries' results of the survey "
                        "already in DIR (after upgrading one library, say)")
    p.add_argument("--rebuild", action="store_true",
                   help=f"run nothing: rebuild DIR/index.html from DIR/results/ and DIR/results/{MANIFEST}")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return p


# --------------------------------------------------------------------------- discovery
def _dist_version(dist: str | None) -> str | None:
    from importlib import metadata

    if not dist:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _missing_module(family: str) -> str | None:
    """The module of a built-in `family` when it cannot be imported here, else None."""
    import importlib.util

    if family == "custom":
        return None
    mod = _FAMILY_MODULE.get(family, family)
    try:
        return None if importlib.util.find_spec(mod) is not None else mod
    except (ImportError, ValueError):
        return mod


def discover(names: Sequence[str] = (), methods: Sequence[str] = ()) -> list[Library]:
    """The built-ins to survey, in registry order (or `names`' order), each loaded to find out
    whether it is installed and what its default methods are. An unknown name is a UsageError."""
    from . import implementations as impls

    registry = impls.BUILTINS
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UsageError(f"unknown built-in implementation {unknown[0]!r}; built-ins: {', '.join(registry)}")
    out = []
    for name in dict.fromkeys(names or registry):
        try:
            impl = impls.load_implementation(name)
        except impls.ImplementationLoadError as exc:
            out.append(Library(name, NOT_INSTALLED, detail=str(exc)))
            continue
        dist = _FAMILY_DIST.get(impl.family, impl.family)
        missing = _missing_module(impl.family)
        if missing:
            out.append(Library(name, NOT_INSTALLED, impl.description, impl.family, distribution=dist,
                               detail=f"built-in implementation {name!r} is not installed: module {missing!r} not "
                                      f"found (pip install -c constraints.txt {dist})"))
            continue
        chosen = [m for m in methods if m in impl.methods] if methods else list(impl.default_methods)
        lib = Library(name, NOT_RUN if chosen else NO_METHODS, impl.description, impl.family, chosen, dist,
                      _dist_version(dist))
        if not chosen:
            lib.detail = f"offers none of {', '.join(methods)} (its methods: {', '.join(impl.methods)})"
        out.append(lib)
    return out


def versions(libs: Sequence[Library]) -> dict[str, str | None]:
    """Python, torch, numpy and the distribution of every library (installed or not: None)."""
    import platform

    out: dict[str, str | None] = {"python": platform.python_version()}
    for d in _BASE_DISTS:
        out[d] = _dist_version(d)
    for lib in libs:
        dist = lib.distribution or lib.name
        out.setdefault(dist, _dist_version(dist))
    return out


# --------------------------------------------------------------------------- running one library
def check_command(lib: Library, ns: argparse.Namespace, results: Path, jobs: int) -> list[str]:
    """The ``ode-harness check`` command of one library (the survey's settings; the project's
    [tool.ode-harness] configuration is not read: a survey runs the built-ins as they come)."""
    cmd = [sys.executable, "-m", "harness", "check", lib.name, "--profile", ns.profile or "quick",
           "--results", str(results), "--json", str(results.with_suffix(".summary.json")),
           "--jobs", str(jobs), "--config", os.devnull, "--quiet"]
    for m in lib.methods:
        cmd += ["--method", m]
    if ns.select:
        cmd += ["--select", ns.select]
    if ns.timeout:
        cmd += ["--timeout", repr(ns.timeout)]
    if ns.seed is not None:
        cmd += ["--seed", str(ns.seed)]
    return cmd


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run_library(lib: Library, ns: argparse.Namespace, results_dir: Path, jobs: int) -> None:
    """Run `lib`'s checks in a child process; fill in its status, exit code, time and counts.
    Exit 0 or 1 of the child is a finished run (1: some check failed, a finding); anything else
    (a usage error, a crash, a signal) is CRASHED, keeping what its results file holds."""
    results = results_dir / f"{lib.name}.jsonl"
    log = results_dir / f"{lib.name}.out"
    for stale in (results, results.with_suffix(".summary.json"), results.with_suffix(".log"), log):
        stale.unlink(missing_ok=True)
    lib.results, lib.log = str(results), str(log)
    lib.command = check_command(lib, ns, results, jobs)
    t0 = time.monotonic()
    with open(log, "w", encoding="utf-8", errors="replace") as out:
        proc = subprocess.run(lib.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lib.wall_s = time.monotonic() - t0
    lib.exit_code = proc.returncode
    text = log.read_text(errors="replace")
    summary = results.with_suffix(".summary.json")
    if summary.exists():
        try:
            lib.counts = {k: int(v) for k, v in json.loads(summary.read_text()).get("counts", {}).items()}
        except (ValueError, AttributeError, TypeError):
            lib.counts = {}
    if proc.returncode in (0, 1):
        lib.status = RAN
    else:
        lib.status = CRASHED
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with status {proc.returncode}"
        last = _last_line(text)[:300]
        lib.detail = f"its ode-harness check {how}" + (f": {last}" if last else "")


# --------------------------------------------------------------------------- the manifest
def write_manifest(path: Path, libs: Sequence[Library], info: dict[str, Any]) -> None:
    data = {"schema": MANIFEST_SCHEMA, **info, "libraries": [asdict(lib) for lib in libs]}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def read_manifest(path: Path) -> tuple[list[Library], dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
        libs = [Library(**d) for d in data.pop("libraries")]
    except FileNotFoundError:
        raise UsageError(f"--rebuild: no survey manifest {path} (run the survey first)") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"--rebuild: cannot read the survey manifest {path}: {exc}") from None
    return libs, data


# --------------------------------------------------------------------------- merging the results files
def load_survey_run(paths: Sequence[Path]):
    """Read the libraries' results files (one run each) as one run for the report: the report's
    merge (`harness.report.data.read_runs`, tolerant of torn lines, every file's headers and
    reasons for being incomplete kept, prefixed by its path), with ``separate_runs`` since the
    runs differ in claims by design. Check ids carry the implementation's name, so records of
    different libraries never collide (read_runs refuses a check id in two files)."""
    from .report.data import RunData, read_runs
    from .results import LoadResult

    if not paths:
        return RunData(Path("."), LoadResult(), [], [], [])
    return read_runs(list(paths), separate_runs=True)


# --------------------------------------------------------------------------- the command
def _progress(quiet: bool, text: str) -> None:
    if not quiet:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _count_text(counts: dict[str, int]) -> str:
    keys = (("pass", "passed"), ("expected_failure", "known findings"), ("fail", "failed"), ("error", "errors"),
            ("timeout", "timed out"), ("skip", "skipped"))
    return ", ".join(f"{counts[k]} {label}" for k, label in keys if counts.get(k))


def build_page(out_dir: Path, libs: Sequence[Library], info: dict[str, Any]) -> Path:
    from .report.survey import build_survey_report

    paths = [Path(lib.results) for lib in libs if lib.results and lib.has_results]
    run = load_survey_run(paths)
    return build_survey_report(run, libs, info, out_dir)


def run_survey(argv: Sequence[str]) -> int:
    ns = _parser().parse_args(list(argv))
    from .profiles import DEFAULT_PROFILE, get_profile

    try:
        profile = get_profile(ns.profile or DEFAULT_PROFILE)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ns.profile = profile.name
    out_dir = (Path.cwd() / Path(ns.report).expanduser()).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--report {ns.report}: exists and is not a folder")
    results_dir = out_dir / RESULTS_SUBDIR
    manifest = results_dir / MANIFEST
    if ns.rebuild:
        libs, info = read_manifest(manifest)
        return _write_page(out_dir, libs, info, quiet=ns.quiet, code=0)
    try:
        import harness.report.survey  # noqa: F401 - the page needs jinja2 and matplotlib
    except ImportError as exc:
        raise UsageError(f"the HTML report is not available in this installation ({exc})") from None
    jobs = ns.jobs or DEFAULT_JOBS
    if ns.update and not ns.impl:
        raise UsageError("--update needs the libraries to rerun: --impl NAME")
    libs = discover(ns.impl, ns.method)
    todo = [lib for lib in libs if lib.status == NOT_RUN]
    earlier: dict[str, Any] = {}
    if ns.update and manifest.exists():
        old, earlier = read_manifest(manifest)
        if earlier.get("profile") != profile.name:
            raise UsageError(f"--update: the survey in {ns.report} was run at profile {earlier.get('profile')!r}, "
                             f"not {profile.name!r}")
        from .implementations import BUILTINS

        rank = {n: i for i, n in enumerate(BUILTINS)}
        names = {lib.name for lib in libs}
        # the earlier survey's time, less that of the libraries run again
        earlier["wall_s"] = float(earlier.get("wall_s") or 0.0) - sum(lib.wall_s or 0.0 for lib in old if lib.name in names)
        libs = sorted([*libs, *(lib for lib in old if lib.name not in names)],
                      key=lambda lib: rank.get(lib.name, len(rank)))
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--report {ns.report}: cannot create {results_dir}: {exc.strerror or exc}") from None
    info: dict[str, Any] = {
        "profile": profile.name, "jobs": jobs, "select": ns.select, "seed": ns.seed, "timeout": ns.timeout,
        "methods_filter": list(ns.method), "started_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "argv": [PROG, "survey", *argv], "versions": versions(libs), "cpus": os.cpu_count(),
    }
    if earlier:
        info.update(started_at=earlier.get("started_at", info["started_at"]), updated=[lib.name for lib in todo],
                    versions={**(earlier.get("versions") or {}), **info["versions"]})
    _progress(ns.quiet, f"ode-harness survey: profile {profile.name}, {len(todo)} libraries to run "
                        f"({', '.join(lib.name for lib in todo) or 'none'}), {jobs} worker(s) each"
                        + "".join(f"; {lib.name}: {lib.status}" for lib in libs
                                  if lib.status in (NOT_INSTALLED, NO_METHODS)))
    t0 = time.monotonic()
    code = 0
    try:
        for i, lib in enumerate(todo, 1):
            _progress(ns.quiet, f"[{i}/{len(todo)}] {lib.name} ({', '.join(lib.methods)}) ...")
            run_library(lib, ns, results_dir, jobs)
            _progress(ns.quiet, f"[{i}/{len(todo)}] {lib.name}: {lib.status} in {_fmt_time(lib.wall_s or 0)}"
                                + (f": {_count_text(lib.counts)}" if lib.counts else "")
                                + (f" ({lib.detail})" if lib.status == CRASHED else ""))
            write_manifest(manifest, libs, info)
    except KeyboardInterrupt:
        code = 130
        _progress(False, "interrupted: writing the page from what finished")
    for lib in todo:
        if lib.status == NOT_RUN and lib.has_results:
            lib.status = INCOMPLETE
    info["wall_s"] = time.monotonic() - t0 + float(earlier.get("wall_s") or 0.0)
    write_manifest(manifest, libs, info)
    return _write_page(out_dir, libs, info, quiet=ns.quiet, code=code)


def _write_page(out_dir: Path, libs: Sequence[Library], info: dict[str, Any], *, quiet: bool, code: int) -> int:
    try:
        index = build_page(out_dir, libs, info)
    except Exception as exc:  # noqa: BLE001 - the results files stay; say why the page is missing
        sys.stderr.write(f"{PROG} survey: the page was not written: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''} (the results are in "
                         f"{out_dir / RESULTS_SUBDIR})\n")
        return 1
    _progress(quiet, f"wrote {index}" + (f" (survey time {_fmt_time(info['wall_s'])})" if info.get("wall_s") else ""))
    return code
