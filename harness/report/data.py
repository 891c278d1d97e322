"""Reading a results file for the report and the comparison: records, headers, run-end markers,
whether the run finished, and what the records measured (found by the names of their fields,
so that records from any suite work, and a field that is missing only leaves a gap).
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

_OBSERVED_ORDER_KEYS = ("observed_order", "order_observed", "observed_slope", "slope", "fitted_slope",
                        "fit_slope", "order_estimate", "estimated_order")
_CLAIMED_ORDER_KEYS = ("claimed_order", "order_claimed", "expected_order", "target_order", "order")


def primary_value(rec: CheckRecord) -> tuple[str, Any] | None:
    """The measured value the check's verdict rests on: the one with a ``<name>_target`` next
    to it, else the last scalar number (the suites note the context first, then the checked
    value), else None."""
    m = rec.measured
    for k in reversed(list(m)):
        if k.endswith("_target") and k[:-7] in m and is_num(m[k[:-7]]):
            return k[:-7], m[k[:-7]]
    for k in reversed(list(m)):
        if is_num(m[k]) and not k.endswith("_target"):
            return k, m[k]
    return None


def lookup(rec: CheckRecord, *names: str) -> Any:
    """The first of ``names`` present in measured, then in extra (None if none)."""
    for src in (rec.measured, rec.extra):
        for n in names:
            if n in src and src[n] is not None:
                return src[n]
    return None


def _observed_order_key(rec: CheckRecord) -> str | None:
    for k in _OBSERVED_ORDER_KEYS:
        if is_num(rec.measured.get(k)):
            return k
    for k, v in rec.measured.items():
        if re.match(r"^observed_\w*order$", k) and is_num(v):
            return k
    return None


def observed_order(rec: CheckRecord) -> float | None:
    k = _observed_order_key(rec)
    if k is not None:
        return float(rec.measured[k])
    v = lookup(rec, *_OBSERVED_ORDER_KEYS)
    return float(v) if is_num(v) else None


def claimed_order(rec: CheckRecord) -> float | None:
    """The order a convergence record is judged against: ``<slope>_target`` or an explicit
    claimed-order field, else the claims (dense order for dense-output checks)."""
    for k in (_observed_order_key(rec), *_OBSERVED_ORDER_KEYS):
        t = rec.measured.get(f"{k}_target") if k else None
        if is_num(t):
            return float(t)
    for k in _CLAIMED_ORDER_KEYS:
        v = rec.measured.get(k)
        if is_num(v) and k != "order":
            return float(v)
    claims = rec.extra.get("claims") if isinstance(rec.extra.get("claims"), dict) else {}
    key = "dense_order" if "dense" in (rec.check + rec.check_id).lower() else "order"
    v = claims.get(key)
    if is_num(v):
        return float(v)
    v = rec.measured.get("order")
    return float(v) if is_num(v) else None


_RE_STEP = re.compile(r"^(h|hs|dt|dts|step_?sizes?|steps?_size|h_values|hs_used)$")
_RE_NSTEPS = re.compile(r"^(n_?steps|steps|steps_per_unit|n_steps_list|num_steps)$")
_RE_TOL = re.compile(r"^(tols?|tolerances?|rtols?)$")
_RE_NFE = re.compile(r"(^|_)nfes?($|_)|n_f_evals")
_RE_TIME = re.compile(r"(wall|seconds|^times?_s$|^time_s$|^times$|_time_s$|^t_wall|_s$)")
_RE_DEPTH = re.compile(r"^(depths?|n_?steps|steps|layers|n_layers)$")
_RE_BYTES = re.compile(r"bytes")
_RE_USED = re.compile(r"^(used|used_points|used_indices|fit_points|fit_indices|window|in_fit)$")


def is_error_key(k: str) -> bool:
    kl = k.lower()
    return ("err" in kl and not kl.startswith(("baseline", "oracle", "ref", "scipy"))
            and not kl.endswith("_target") and "estimate" not in kl)


def _series(rec: CheckRecord) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for src in (rec.extra, rec.measured):  # measured wins
        for k, v in src.items():
            lst = num_list(v)
            if lst is not None:
                out[k] = lst
    return out


def _first(series: dict[str, list[float]], rx: re.Pattern) -> tuple[str, list[float]] | None:
    for k, v in series.items():
        if rx.search(k):
            return k, v
    return None


def _error_series(series: dict[str, list[float]], n: int | None = None) -> list[tuple[str, list[float]]]:
    return [(k, v) for k, v in series.items() if is_error_key(k) and (n is None or len(v) == n)]


@dataclass
class Convergence:
    rec: CheckRecord
    x: list[float]              # step sizes (or 1/steps)
    x_label: str
    errors: list[float]
    error_key: str
    used: list[int] | None
    slope: float | None
    claimed: float | None


def convergence_of(rec: CheckRecord) -> Convergence | None:
    """Step sizes and errors of a convergence record (``h`` or ``steps`` and an error list)."""
    s = _series(rec)
    hx = _first(s, _RE_STEP)
    label = "step size h"
    if hx is None:
        ns = _first(s, _RE_NSTEPS)
        if ns is None or any(v <= 0 for v in ns[1]):
            return None
        hx = (ns[0], [1.0 / v for v in ns[1]])
        label = "1 / steps"
    errs = _error_series(s, len(hx[1]))
    if len(hx[1]) < 2 or not errs:
        return None
    if any(_RE_NFE.search(k) or (_RE_TIME.search(k) and not is_error_key(k))
           for k, v in s.items() if len(v) == len(hx[1]) and k != hx[0] and not _RE_STEP.match(k)
           and not _RE_NSTEPS.match(k)):
        return None  # a work-precision sweep, drawn as such
    ek, ev = errs[0]
    used_raw = lookup(rec, *(k for k in list(rec.measured) + list(rec.extra) if _RE_USED.match(k)))
    used = None
    if isinstance(used_raw, list) and used_raw:
        if all(isinstance(u, bool) for u in used_raw) and len(used_raw) == len(ev):
            used = [i for i, u in enumerate(used_raw) if u]
        elif all(isinstance(u, int) and not isinstance(u, bool) and 0 <= u < len(ev) for u in used_raw):
            used = sorted(set(used_raw))
    return Convergence(rec, hx[1], label, ev, ek, used, observed_order(rec), claimed_order(rec))


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


def curves_in_record(rec: CheckRecord) -> Curve | None:
    """A record that carries arrays: errors with tolerances and/or NFE and/or wall times."""
    s = _series(rec)
    errs = _error_series(s)
    if not errs:
        return None
    ek, ev = errs[0]
    n = len(ev)
    tol = _first({k: v for k, v in s.items() if len(v) == n}, _RE_TOL)
    nfe = _first({k: v for k, v in s.items() if len(v) == n and not is_error_key(k)}, _RE_NFE)
    tm = _first({k: v for k, v in s.items() if len(v) == n and not is_error_key(k)
                 and not _RE_NFE.search(k) and not _RE_TOL.match(k) and not _RE_BYTES.search(k)}, _RE_TIME)
    if tol is None and nfe is None and tm is None:
        return None
    if n < 2:
        return None
    lo = hi = None
    if tm is not None:
        lo, hi = s.get(f"{tm[0]}_q1"), s.get(f"{tm[0]}_q3")
        if lo is None or hi is None or len(lo) != n or len(hi) != n:
            lo = hi = None
    return Curve(case_label(rec.iut, rec.method), rec.iut, rec.method, rec.problem, ev,
                 tol[1] if tol else None, nfe[1] if nfe else None, tm[1] if tm else None, lo, hi)


def curves_across_records(records: Iterable[CheckRecord]) -> list[Curve]:
    """Scalar records of one check that differ only in the tolerance (``measured['tol']``):
    joined into one curve per (check, implementation, method, problem, dtype)."""
    groups: dict[tuple, list[tuple[float, float, float | None]]] = {}
    for r in records:
        tol = r.measured.get("tol")
        if not is_finite_num(tol) or tol <= 0 or r.verdict.value == "skip":
            continue
        pv = primary_value(r)
        if pv is None or not is_error_key(pv[0]) or not is_finite_num(pv[1]):
            continue
        nfe = r.measured.get("nfe")
        key = (r.suite, r.check, r.iut, r.method, r.problem, r.dtype)
        groups.setdefault(key, []).append((float(tol), float(pv[1]), float(nfe) if is_finite_num(nfe) else None))
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
    """Saved bytes (and GPU peak) against depth: arrays in one record, or scalars per record."""
    s = _series(rec)
    label = lookup(rec, "strategy", "gradient_path", "path", "mode")
    label = f"{case_label(rec.iut, rec.method)}" + (f" ({label})" if isinstance(label, str) else "")
    depth = _first(s, _RE_DEPTH)
    byte_series = {k: v for k, v in s.items() if _RE_BYTES.search(k)}
    if depth is None and byte_series:  # adaptive methods: the graph's depth is the forward NFE
        depth = _first({k: v for k, v in s.items() if "backward" not in k}, _RE_NFE)
    out = []
    if depth and byte_series:
        n = len(depth[1])
        saved = next((v for k, v in byte_series.items() if len(v) == n and "peak" not in k), None)
        peak = next((v for k, v in byte_series.items() if len(v) == n and "peak" in k), None)
        if saved or peak:
            for i, d in enumerate(depth[1]):
                out.append(MemoryPoint(label, rec.iut, rec.method, rec.problem, d,
                                       saved[i] if saved else None, peak[i] if peak else None))
        return out
    d = lookup(rec, "depth", "n_steps", "steps", "layers")
    if is_finite_num(d):
        saved = next((v for k, v in rec.measured.items() if _RE_BYTES.search(k) and "peak" not in k
                      and is_finite_num(v)), None)
        peak = next((v for k, v in rec.measured.items() if _RE_BYTES.search(k) and "peak" in k
                     and is_finite_num(v)), None)
        if saved is not None or peak is not None:
            out.append(MemoryPoint(label, rec.iut, rec.method, rec.problem, float(d),
                                   None if saved is None else float(saved),
                                   None if peak is None else float(peak)))
    return out


_GRAD_GROUPS = ("y0", "params", "t")


def gradient_group(rec: CheckRecord) -> str | None:
    g = lookup(rec, "group", "wrt", "grad_wrt", "with_respect_to")
    if isinstance(g, str) and g:
        return g
    pv = primary_value(rec)
    m = re.match(r"grad_(y0|params|param|theta|t)(_|$)", pv[0]) if pv else None
    if m:
        return {"param": "params", "theta": "params"}.get(m.group(1), m.group(1))
    text = f"{rec.check} {check_params(rec.check_id)}".lower()
    for gname in ("y0", "params", "param", "theta", "t"):
        if re.search(rf"(^|[^a-z0-9]){gname}($|[^a-z0-9])", text):
            return {"param": "params", "theta": "params"}.get(gname, gname)
    return None


def gradient_oracle(rec: CheckRecord) -> str | None:
    o = lookup(rec, "oracle", "oracle_name", "reference_gradient", "against")
    if isinstance(o, str) and o:
        return o
    text = rec.check.lower()
    for pat, name in (("finite_diff", "finite differences"), ("_fd", "finite differences"),
                      ("sensitiv", "forward sensitivities"), ("backprop", "backprop"),
                      ("complex_step", "complex step")):
        if pat in text:
            return name
    return None


def is_gradient_record(rec: CheckRecord) -> bool:
    """A gradient suite's record, or one whose checked value is a gradient error."""
    if "grad" in rec.suite.lower():
        return True
    pv = primary_value(rec)
    return bool(pv and "grad" in pv[0].lower() and is_error_key(pv[0]))


_BENCH_KEYS = ("mean", "median", "min", "max", "stddev", "rounds", "iterations", "ops", "iqr",
               "mean_s", "median_s", "min_s", "max_s", "stddev_s")


def benchmark_stats(rec: CheckRecord) -> dict[str, Any] | None:
    m = rec.measured
    if any(is_num(m.get(k)) for k in ("seconds_mean", "seconds_median", "seconds_single_call")):
        out = {k: m[f"seconds_{k}"] for k in ("mean", "median", "min", "max", "stddev", "iqr")
               if is_num(m.get(f"seconds_{k}"))}
        if is_num(m.get("rounds")):
            out["rounds"] = m["rounds"]
        if is_num(m.get("seconds_single_call")):
            out["single_call"] = m["seconds_single_call"]
        for k in ("nfe_per_call", "nfe_forward_per_call", "nfe_backward_per_call", "tol"):
            if is_num(m.get(k)):
                out[k] = m[k]
        return out
    return _benchmark_stats_generic(rec)


def _benchmark_stats_generic(rec: CheckRecord) -> dict[str, Any] | None:
    """pytest-benchmark statistics of a record: ``extra['benchmark']`` / ``measured['benchmark']``
    (a dict of stats), or stats keys directly in measured."""
    for src in (rec.measured, rec.extra):
        b = src.get("benchmark") or src.get("benchmark_stats") or src.get("stats")
        if isinstance(b, dict) and any(k in b for k in _BENCH_KEYS):
            return {k: b[k] for k in _BENCH_KEYS if k in b}
    found = {k: rec.measured[k] for k in _BENCH_KEYS if is_num(rec.measured.get(k))}
    if ("mean" in found or "median" in found or "mean_s" in found or "median_s" in found) and \
            ("bench" in rec.suite.lower() or "rounds" in found or "stddev" in found or "stddev_s" in found):
        return found
    return None


_FALSIFY_KEYS = ("falsifying_example", "minimal_example", "hypothesis_example", "hypothesis",
                 "counterexample", "falsifying")


def falsifying_example(rec: CheckRecord) -> str | None:
    """hypothesis's minimal falsifying example, from extra/measured or the message."""
    for src in (rec.extra, rec.measured):
        for k in _FALSIFY_KEYS:
            v = src.get(k)
            if v:
                return v if isinstance(v, str) else fmt(v)
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
