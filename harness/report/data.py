"""Reading a results file for the report and the comparison: records, headers, run-end markers,
whether the run finished, and what the records measured (their typed evidence,
`harness.evidence`; a record without a series or an expectation only leaves a gap).
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..evidence import (CONVERGENCE_SERIES, ERROR_QUANTITIES, UNIT_SECONDS, UNIT_TOL, Axis, Evidence, Expectation, Quantity,
                        Series, SeriesKind)
from ..results import CheckRecord, LoadResult, RunHeader, load_records
from ..diagnosis.store import diagnosis_line_numbers
from .runend import RUN_END_KIND, read_run_ends

# Outcomes as the report shows them: the verdict, with expected failures (known findings) apart.
OUTCOMES = ("pass", "known", "xpass", "fail", "error", "timeout", "skip")
OUTCOME_LABELS = {"pass": "pass", "known": "known finding", "xpass": "known, passed",
                  "fail": "fail", "error": "error", "timeout": "timeout", "skip": "skipped"}
BAD = ("fail", "error", "timeout")


class ResultsError(ValueError):
    """A results file that cannot be read as one (one line, names the file)."""


# ----------------------------------------------------------------------------- small helpers


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_finite_num(v: Any) -> bool:
    return is_num(v) and math.isfinite(v)


def num_list(v: Any) -> list[float] | None:
    """``v`` as a list of numbers (None when it is not a non-empty list of numbers)."""
    if isinstance(v, (list, tuple)) and v and all(is_num(x) for x in v):
        return [float(x) for x in v]
    return None


def fmt(v: Any, digits: int = 3) -> str:
    """A short human form of a measured value."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0:
            return "0"
        if 1e-2 <= abs(v) < 1e5:
            s = f"{v:.{digits + 1}g}"
        else:
            s = f"{v:.{digits - 1}e}"
            mant, _, exp = s.partition("e")
            if "." in mant:
                mant = mant.rstrip("0").rstrip(".")
            s = f"{mant}e{int(exp)}"
        return s
    if isinstance(v, (list, tuple)):
        if len(v) <= 6:
            return "[" + ", ".join(fmt(x, digits) for x in v) + "]"
        return f"[{len(v)} values: {fmt(v[0], digits)} … {fmt(v[-1], digits)}]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt(x, digits)}" for k, x in list(v.items())[:6]) + \
            (", …}" if len(v) > 6 else "}")
    s = str(v)
    return s if len(s) <= 300 else s[:297] + "…"


def fmt_bytes(v: Any) -> str:
    if not is_finite_num(v):
        return fmt(v)
    v = float(v)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.3g} {unit}"
        v /= 1024
    return fmt(v)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 120:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def parse_time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def case_label(iut: str, method: str) -> str:
    return f"{iut} · {method}" if method else (iut or "(no implementation)")


def outcome(rec: CheckRecord) -> str:
    """The verdict, with known findings apart: ``known`` for an expected failure that failed,
    ``xpass`` for one that passed (the finding no longer reproduces)."""
    v = rec.verdict.value
    if rec.extra.get("expected_failure"):
        if v in BAD:
            return "known"
        if v == "pass":
            return "xpass"
    return v


def check_params(check_id: str) -> str:
    """The parameter part of a check id: ``suite.check[params]`` -> ``params``."""
    i = check_id.find("[")
    return check_id[i + 1:-1] if i >= 0 and check_id.endswith("]") else ""


def strip_case_prefix(message: str, rec: CheckRecord) -> str:
    """Skip reasons start with ``<iut>-<method>: ``; drop it so that equal reasons group."""
    prefix = f"{rec.iut}-{rec.method}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def reproducer_command(reproducer: str) -> str | None:
    """The shell command of a ``pytest.main([...])`` reproducer, when it is one."""
    m = re.search(r"pytest\.main\((\[.*\])\)", reproducer or "", re.S)
    if not m:
        return None
    try:
        args = ast.literal_eval(m.group(1))
    except (ValueError, SyntaxError):
        return None
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None
    return "python -m pytest " + " ".join(shlex.quote(a) for a in args)


# ----------------------------------------------------------------------------- what was measured
# Everything below reads the records' typed evidence (harness.evidence); schema-1 records got
# theirs from the legacy adapter (harness.results_v1) when they were read.

_NO_EVIDENCE = Evidence()


def evidence_of(rec: CheckRecord) -> Evidence:
    """The record's evidence (an empty one when it has none)."""
    return rec.evidence if rec.evidence is not None else _NO_EVIDENCE


def expectation_of(rec: CheckRecord) -> Expectation | None:
    return evidence_of(rec).expectation


def primary_value(rec: CheckRecord) -> tuple[str, Any] | None:
    """(quantity, value) the check's verdict rests on: its expectation; None without one."""
    e = expectation_of(rec)
    return (e.quantity, e.value) if e is not None else None


def target_of(rec: CheckRecord) -> float | None:
    """The target of a ``within`` expectation (a claimed order), else None."""
    e = expectation_of(rec)
    return e.target if e is not None else None


def is_error_value(rec: CheckRecord) -> bool:
    """The checked value is an error (forward, gradient or reconstruction)."""
    e = expectation_of(rec)
    return e is not None and e.kind in ERROR_QUANTITIES


def tolerance_of(rec: CheckRecord) -> tuple[bool, float | None]:
    """(whether the check ran at a tolerance setting, the rtol or None for a fixed step): from
    its reproducer inputs, else the tolerance its threshold was derived from."""
    ev = evidence_of(rec)
    if ev.inputs is not None:
        if ev.inputs.rtol is not None:
            return True, ev.inputs.rtol
        return (ev.inputs.step_size is not None), None
    e = ev.expectation
    if e is not None and e.derivation is not None and e.derivation.tolerance is not None:
        return True, e.derivation.tolerance
    return False, None


def scalar_of(rec: CheckRecord, *kinds: Quantity) -> float | None:
    """The first measured scalar of one of `kinds` (None if none)."""
    found = evidence_of(rec).scalars_of(*kinds)
    return found[0].value if found else None


def observed_order(rec: CheckRecord) -> float | None:
    return evidence_of(rec).observed_order()


def order_what(rec: CheckRecord) -> str:
    """Which order a convergence record measured: "order", "dense order", "gradient order"."""
    kinds = {s.kind for s in evidence_of(rec).series}
    if SeriesKind.DENSE_CONVERGENCE in kinds:
        return "dense order"
    if SeriesKind.GRADIENT_CONVERGENCE in kinds:
        return "gradient order"
    return "order"


def claimed_order(rec: CheckRecord) -> float | None:
    """The order a convergence record is judged against: its expectation's target or the order
    its threshold was derived from, else the claims (dense order for a dense-output series)."""
    v = evidence_of(rec).claimed_order()
    if v is not None:
        return v
    claims = rec.extra.get("claims") if isinstance(rec.extra.get("claims"), dict) else {}
    key = "dense_order" if order_what(rec) == "dense order" else "order"
    v = claims.get(key)
    return float(v) if is_num(v) else None


@dataclass
class Convergence:
    rec: CheckRecord
    x: list[float]              # step sizes
    x_label: str
    errors: list[float]
    error_key: str              # the y axis' label
    used: list[int] | None
    slope: float | None
    claimed: float | None


def convergence_of(rec: CheckRecord) -> Convergence | None:
    """The first convergence series (error against step size) of a record."""
    for s in evidence_of(rec).series_of(*CONVERGENCE_SERIES):
        if len(s) >= 2:
            return Convergence(rec, list(s.x), s.x_label, list(s.y), s.y_label,
                               None if s.used is None else list(s.used), s.slope, claimed_order(rec))
    return None


@dataclass
class Curve:
    """One implementation's series on one problem: errors against a cost or tolerance."""

    label: str
    iut: str
    method: str
    problem: str
    errors: list[float]
    tol: list[float] | None = None
    nfe: list[float] | None = None
    time: list[float] | None = None
    # the spread of each time (repeated measurements: first and third quartile of the samples;
    # None for records of one timing a point, as results files before issue 12 hold)
    time_lo: list[float] | None = None
    time_hi: list[float] | None = None


_CURVE_KINDS = (SeriesKind.TOLERANCE_SWEEP, SeriesKind.GRADIENT_TOLERANCE, SeriesKind.WORK_PRECISION)


def curves_in_record(rec: CheckRecord) -> Curve | None:
    """A record's sweep: the error series of its first label, against the tolerance
    (TOLERANCE_SWEEP / GRADIENT_TOLERANCE in tolerance) and the cost (WORK_PRECISION in NFE or
    seconds, with the seconds' spread)."""
    # errors only: an error in tolerance units is a ratio, not drawn on an error axis
    series = [s for s in evidence_of(rec).series_of(*_CURVE_KINDS) if len(s) >= 2 and s.y_unit != UNIT_TOL]
    if not series:
        return None
    label = series[0].label
    group = [s for s in series if s.label == label and len(s) == len(series[0])]
    c = Curve(case_label(rec.iut, rec.method), rec.iut, rec.method, rec.problem, list(group[0].y))
    for s in group:
        if s.kind is SeriesKind.WORK_PRECISION and s.x_unit == UNIT_SECONDS:
            if c.time is None:
                c.time = list(s.x)
                if s.low is not None and s.high is not None and s.spread_axis is Axis.X:
                    c.time_lo, c.time_hi = list(s.low), list(s.high)
        elif s.kind is SeriesKind.WORK_PRECISION:
            c.nfe = c.nfe or list(s.x)
        elif c.tol is None:
            c.tol = list(s.x)
    if c.tol is None and c.nfe is None and c.time is None:
        return None
    return c


def curves_across_records(records: Iterable[CheckRecord]) -> list[Curve]:
    """Records of one check whose checked value is an error and that differ only in the
    tolerance (`tolerance_of`): joined into one curve per (check, implementation, method,
    problem, dtype), with the forward NFE where recorded."""
    groups: dict[tuple, list[tuple[float, float, float | None]]] = {}
    for r in records:
        has_tol, tol = tolerance_of(r)
        if not has_tol or not is_finite_num(tol) or tol <= 0 or r.verdict.value == "skip":  # type: ignore[operator]
            continue
        pv = primary_value(r)
        if pv is None or not is_error_value(r) or not is_finite_num(pv[1]):
            continue
        nfe = scalar_of(r, Quantity.NFE)
        key = (r.suite, r.check, r.iut, r.method, r.problem, r.dtype)
        groups.setdefault(key, []).append((float(tol), float(pv[1]), nfe if is_finite_num(nfe) else None))  # type: ignore[arg-type]
    out = []
    for (suite, check, iut, method, problem, dtype), pts in groups.items():
        if len({p[0] for p in pts}) < 2:
            continue
        pts.sort(key=lambda p: -p[0])
        nfe = [p[2] for p in pts]
        out.append(Curve(case_label(iut, method), iut, method, problem, [p[1] for p in pts],
                         tol=[p[0] for p in pts],
                         nfe=nfe if all(x is not None for x in nfe) else None))  # type: ignore[misc]
    return out


@dataclass
class MemoryPoint:
    label: str
    iut: str
    method: str
    problem: str
    depth: float
    saved_bytes: float | None
    peak_bytes: float | None


def memory_points(rec: CheckRecord) -> list[MemoryPoint]:
    """Saved bytes (MEMORY_DEPTH) and device peak (PEAK_MEMORY_DEPTH) against depth."""
    ev = evidence_of(rec)
    saved = next(iter(ev.series_of(SeriesKind.MEMORY_DEPTH)), None)
    peak = next(iter(ev.series_of(SeriesKind.PEAK_MEMORY_DEPTH)), None)
    label = case_label(rec.iut, rec.method)
    by_depth: dict[float, list[float | None]] = {}
    for s, i in ((saved, 0), (peak, 1)):
        if s is None:
            continue
        for d, b in zip(s.x, s.y):
            by_depth.setdefault(d, [None, None])[i] = b
    return [MemoryPoint(label, rec.iut, rec.method, rec.problem, d, v[0], v[1]) for d, v in by_depth.items()]


def gradient_group(rec: CheckRecord) -> str | None:
    return evidence_of(rec).gradient_wrt


def gradient_oracle(rec: CheckRecord) -> str | None:
    return evidence_of(rec).oracle


def is_gradient_record(rec: CheckRecord) -> bool:
    """A gradient suite's record, or one whose checked value is a gradient error."""
    if "grad" in rec.suite.lower():
        return True
    e = expectation_of(rec)
    return e is not None and e.kind is Quantity.GRADIENT_ERROR


def reconstruction_error(rec: CheckRecord) -> float | None:
    """An adjoint's reported reconstruction error of y(t0), where the record has one."""
    return scalar_of(rec, Quantity.RECONSTRUCTION_ERROR)


def nfe_of(rec: CheckRecord) -> tuple[float | None, float | None]:
    """(forward NFE, backward NFE) scalars of a record."""
    return scalar_of(rec, Quantity.NFE), scalar_of(rec, Quantity.NFE_BACKWARD)


def nfe_sweep_of(rec: CheckRecord) -> tuple[Series | None, Series | None]:
    """The (forward, backward) NFE-against-setting series of a record."""
    ev = evidence_of(rec)
    fwd = next(iter(ev.series_of(SeriesKind.NFE_SWEEP)), None)
    bwd = next((s for s in ev.series_of(SeriesKind.NFE_BACKWARD_SWEEP)
                if fwd is not None and s.x == fwd.x), None)
    return fwd, bwd


def benchmark_stats(rec: CheckRecord) -> dict[str, Any] | None:
    """Timing statistics (SECONDS scalars: mean, median, min, max, stddev, iqr, single_call;
    the rounds) with the NFE per call and the tolerance; None for a record without timings."""
    ev = evidence_of(rec)
    secs = ev.scalars_of(Quantity.SECONDS)
    if not secs:
        return None
    out: dict[str, Any] = {s.name: s.value for s in secs}
    rounds = ev.scalar("rounds")
    if rounds is not None:
        out["rounds"] = int(rounds) if float(rounds).is_integer() else rounds
    for s in ev.scalars_of(Quantity.NFE, Quantity.NFE_BACKWARD):
        out[s.name] = s.value
    has_tol, tol = tolerance_of(rec)
    if has_tol and tol is not None:
        out["tol"] = tol
    return out


def falsifying_example(rec: CheckRecord) -> str | None:
    """hypothesis's minimal falsifying example, from the message."""
    msg = rec.message or ""
    i = msg.find("Falsifying example")
    if i >= 0:
        return msg[i:]
    return None


# ----------------------------------------------------------------------------- the run


@dataclass
class RunData:
    """One results file read for a report, or the shards' files merged (`read_runs`)."""

    path: Path
    load: LoadResult
    records: list[CheckRecord]          # one per check id (the last one written wins)
    headers: list[RunHeader]
    run_ends: list[dict[str, Any]]
    superseded: int = 0
    incomplete_reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shards: list["RunData"] = field(default_factory=list)  # a merged run: each file's own run

    @property
    def label(self) -> str:
        """The file, or for a merged run its files."""
        if not self.shards:
            return str(self.path)
        return f"{len(self.shards)} files ({', '.join(str(s.path) for s in self.shards)})"

    def impl_order(self) -> list[str]:
        """The implementations in the order the run headers name them."""
        return list(dict.fromkeys(i for h in self.headers for i in h.extra.get("impls", []) or []))

    @property
    def header(self) -> RunHeader | None:
        return self.headers[-1] if self.headers else None

    @property
    def run_end(self) -> dict[str, Any] | None:
        return self.run_ends[-1] if self.run_ends else None

    @property
    def complete(self) -> bool:
        return not self.incomplete_reasons

    def started(self) -> _dt.datetime | None:
        if self.shards:
            return min((t for s in self.shards if (t := s.started()) is not None), default=None)
        t = parse_time(self.header.started_at) if self.header else None
        if t is None and self.records:
            t = min((parse_time(r.started_at) for r in self.records if parse_time(r.started_at)),
                    default=None)
        return t

    def finished(self) -> _dt.datetime | None:
        if self.shards:
            return max((t for s in self.shards if (t := s.finished()) is not None), default=None)
        if self.run_end and parse_time(self.run_end.get("finished_at")):
            return parse_time(self.run_end.get("finished_at"))
        last = None
        for r in self.records:
            t = parse_time(r.started_at)
            if t is None:
                continue
            t = t + _dt.timedelta(seconds=r.duration_s or 0.0)
            last = t if last is None or t > last else last
        return last

    def wall_time(self) -> float | None:
        a, b = self.started(), self.finished()
        if a is None or b is None:
            return None
        return max((b - a).total_seconds(), 0.0)


def read_run(path: str | Path) -> RunData:
    """Read the results file ``path`` for a report. A torn last line (a writer killed mid-record,
    or a run still going) is tolerated and makes the run incomplete. Raises ResultsError (one
    line naming the file, and the line where there is one) for a missing or unreadable file, an
    empty one, a line that is not an ode-harness record, and a record cut short mid-line with
    more lines after it."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"results file not found: {path}")
    if path.is_dir():
        raise ResultsError(f"results path is a folder, not a file: {path}")
    try:
        load = load_records(path)
        ends_by_line = read_run_ends(path)
        diagnosis_lines = diagnosis_line_numbers(path)  # harness.diagnosis.store: read by the report
    except PermissionError:
        raise ResultsError(f"cannot read results file (permission denied): {path}") from None
    except OSError as exc:
        raise ResultsError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    bad = [n for n in load.bad_lines if n not in ends_by_line and n not in diagnosis_lines]
    if bad:
        first = bad[0]
        what = "not an ode-harness results file" if not (load.records or load.headers or ends_by_line) \
            else "not an ode-harness record"
        raise ResultsError(f"{path}:{first}: {what} ({load.errors.get(first, 'not a record')})")
    if load.torn_lines:
        first = load.torn_lines[0]
        raise ResultsError(f"{path}:{first}: a record cut short mid-line, with more lines after it (a writer "
                           f"was killed and the file appended to, or files were concatenated); delete that "
                           f"line to read the rest")
    if not (load.records or load.headers or ends_by_line):
        if load.torn_tail:
            raise ResultsError(f"{path}:1: truncated mid-line: the file holds no complete record")
        raise ResultsError(f"{path}: empty results file (no record)")
    headers = [h for h in load.headers if getattr(h, "KIND", "") == "run_header"]
    ends = [vars(h) | {"kind": RUN_END_KIND} for h in load.headers if getattr(h, "KIND", "") == RUN_END_KIND]
    ends += list(ends_by_line.values())
    by_id: dict[str, CheckRecord] = {}
    for r in load.records:
        by_id.pop(r.check_id, None)
        by_id[r.check_id] = r
    run = RunData(path, load, list(by_id.values()), headers, ends,
                  superseded=len(load.records) - len(by_id))
    # Is the run finished?
    if load.torn_tail:
        run.incomplete_reasons.append("the last line is torn: a writer was killed in the middle of a record")
    if load.torn_lines:
        run.incomplete_reasons.append(f"{len(load.torn_lines)} truncated record(s) inside the file "
                                      f"(line {', '.join(map(str, load.torn_lines[:5]))})")
    last_run = run.header.run_id if run.header else None
    ends_of_run = [e for e in ends if last_run is None or e.get("run_id") == last_run]
    if not ends_of_run:
        run.incomplete_reasons.append("no run-end marker: the run was killed, or is still running")
    else:
        status = ends_of_run[-1].get("exitstatus")
        if status in (2, 3):  # pytest: interrupted, internal error
            run.incomplete_reasons.append(f"the run stopped early (pytest exit status {status})")
        collected = ends_of_run[-1].get("collected")
        if is_num(collected) and 0 < len(run.records) < collected:
            run.warnings.append(f"{int(collected) - len(run.records)} of the {int(collected)} collected "
                                f"tests left no record (not suite checks, or lost)")
    if run.header is None:
        run.warnings.append("no run header: versions, command line and seed are unknown")
    if run.superseded:
        run.warnings.append(f"{run.superseded} record(s) superseded by a later record of the same check")
    if len({h.run_id for h in headers}) > 1:
        run.warnings.append(f"the file holds {len({h.run_id for h in headers})} runs; "
                            f"the latest record of each check is shown")
    return run


# ----------------------------------------------------------------------------- merging shards

RESULTS_GLOB = "*.jsonl"


def results_files(paths: Iterable[str | Path]) -> list[Path]:
    """The results files named by `paths`: files as given, folders expanded to the ``*.jsonl``
    files anywhere below them (sorted; ``*.prev.jsonl``, the previous run kept aside, left out).
    ResultsError for a path that does not exist or a folder without results files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob(RESULTS_GLOB) if f.is_file() and not f.name.endswith(".prev.jsonl"))
            if not found:
                raise ResultsError(f"no results files ({RESULTS_GLOB}) in folder {p}")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise ResultsError(f"results file not found: {p}")
    if not out:
        raise ResultsError("no results file given")
    seen: dict[Path, Path] = {}
    for f in out:
        key = f.resolve()
        if key in seen:
            raise ResultsError(f"results file named twice: {f}")
        seen[key] = f
    return out


def run_settings(run: RunData) -> dict[str, Any]:
    """What must agree between the shards of one run: the code (harness and project commits,
    versions) and the settings (profile, seed, device, claims, overrides, shard count). From the
    last run header of the file; {} without one."""
    h = run.header
    if h is None:
        return {}
    x = h.extra or {}
    shard = x.get("shard")
    return {
        "ode-harness commit": h.git_commit,
        "project commit": x.get("project_commit"),
        **{f"{k} version": v for k, v in sorted((h.versions or {}).items())},
        "profile": x.get("profile"),
        "seed": h.seed,
        "device": h.device,
        "claims": x.get("claims"),
        "method claims": x.get("method_claims"),
        "tolerance overrides": x.get("overrides"),
        "shard count": str(shard).partition("/")[2] if shard else None,
    }


def _differences(runs: list[RunData]) -> list[str]:
    """One line per setting in which a file's run differs from the first file's."""
    base = runs[0]
    base_s = run_settings(base)
    out = []
    for other in runs[1:]:
        s = run_settings(other)
        for key in dict.fromkeys([*base_s, *s]):
            a, b = base_s.get(key), s.get(key)
            if a != b:
                out.append(f"{key} differs: {base.path} has {fmt(a) if a is not None else 'none'}, "
                           f"{other.path} has {fmt(b) if b is not None else 'none'}")
    return out


def read_runs(paths: str | Path | Iterable[str | Path], *, allow_mixed: bool = False,
              separate_runs: bool = False) -> RunData:
    """Read one results file, or merge several (the shards of a run, files or folders of them)
    into one run: the union of their checks, every run header kept (`RunData.shards`, each
    file's own run). ResultsError (one line) when a check id is in two files, or when the files'
    runs differ in code or settings (`run_settings`) unless `allow_mixed` (then a warning).
    `separate_runs`: the files are different runs by design (the survey's, one per library,
    each with its own claims), merged without comparing their settings or looking for shards."""
    files = results_files([paths] if isinstance(paths, (str, Path)) else list(paths))
    if len(files) == 1:
        return read_run(files[0])
    runs = [read_run(f) for f in files]
    headed = [r for r in runs if r.header is not None]
    diffs = _differences(headed) if len(headed) > 1 and not separate_runs else []
    if diffs and not allow_mixed:
        raise ResultsError(f"the results files are not shards of one run: {diffs[0]}"
                           f"{f' (and {len(diffs) - 1} more differences)' if len(diffs) > 1 else ''}; "
                           f"pass --allow-mixed to merge them anyway")
    owner: dict[str, Path] = {}
    records: list[CheckRecord] = []
    for r in runs:
        for rec in r.records:
            if rec.check_id in owner:
                raise ResultsError(f"check {rec.check_id} is in both {owner[rec.check_id]} and {r.path}: "
                                   f"the files overlap (a shard given twice, or shards of different N)")
            owner[rec.check_id] = r.path
            records.append(rec)
    load = LoadResult(records=list(records), headers=[h for r in runs for h in r.headers])
    merged = RunData(files[0], load, records, [h for r in runs for h in r.headers],
                     [e for r in runs for e in r.run_ends], superseded=sum(r.superseded for r in runs),
                     shards=runs)
    for r in runs:
        merged.incomplete_reasons += [f"{r.path}: {why}" for why in r.incomplete_reasons]
        merged.warnings += [f"{r.path}: {why}" for why in r.warnings]
    if allow_mixed:
        merged.warnings += [f"merged with --allow-mixed: {d}" for d in diffs]
    missing = [] if separate_runs else missing_shards(runs)
    if missing:
        merged.incomplete_reasons.append(f"shard {', '.join(missing)} is not among the files (every shard "
                                         f"writes a results file, an empty one too)")
    return merged


def missing_shards(runs: list[RunData]) -> list[str]:
    """The shards K/N absent from `runs` when every file is a shard of the same N; else []."""
    specs = [str(r.header.extra.get("shard") or "") if r.header else "" for r in runs]
    if not all(specs):
        return []
    totals = {s.partition("/")[2] for s in specs}
    if len(totals) != 1 or not next(iter(totals)).isdigit():
        return []
    n = int(next(iter(totals)))
    present = {s.partition("/")[0] for s in specs}
    return [f"{k}/{n}" for k in range(1, n + 1) if str(k) not in present]
