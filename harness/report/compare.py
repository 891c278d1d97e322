"""Compare two results files check by check: ``compare(old, new) -> Comparison``.

Regressions (each names the check id and the values):

- ``new failure``: a check that passed before and fails, errors or times out now;
- ``order lost``: an observed order (slope) that dropped by more than ``order_drop`` (0.2);
- ``error grown``: an error that grew by more than ``error_factor`` (2x) — errors below
  ``error_floor`` (or 10 eps of the record's dtype) on both sides are round-off and ignored;
- ``NFE up`` / ``saved bytes up``: function evaluations or bytes grown by more than
  ``nfe_increase`` / ``bytes_increase`` (10 %).

Values are the records' typed evidence (`harness.evidence`), matched by check id and then by
scalar name, or by series kind and label (a series element by element when both have the same
length); what a value is (an order, an error, NFE, bytes) is
its `Quantity` or `SeriesKind`, never guessed from its name. Times are never compared.
`Comparison.exit_code` is 1 when there is any regression, else 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

from ..evidence import ERROR_SERIES, Quantity, SeriesKind
from ..results import CheckRecord
from .data import BAD, evidence_of, fmt, is_num, outcome, read_runs

__all__ = ["Change", "Comparison", "compare"]

_EPS = {"float64": 2.220446049250313e-16, "float32": 1.1920928955078125e-07, "float16": 9.765625e-04,
        "bfloat16": 7.8125e-03}


@dataclass
class Change:
    """One difference between the runs: ``kind`` is "new failure", "order lost", "error grown",
    "NFE up", "saved bytes up" (regressions) or "fixed", "newly skipped", "missing", "added"."""

    kind: str
    check_id: str
    detail: str
    key: str = ""
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.check_id}: {self.detail}"


@dataclass
class Comparison:
    old_path: Path
    new_path: Path
    regressions: list[Change] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # not regressions: fixed, skipped, missing, added
    n_old: int = 0
    n_new: int = 0
    n_common: int = 0
    notes: list[str] = field(default_factory=list)
    settings: dict[str, float] = field(default_factory=dict)
    old_label: str = ""  # the files of a side, when several were merged
    new_label: str = ""

    @property
    def exit_code(self) -> int:
        """1 when there is any regression, else 0."""
        return 1 if self.regressions else 0

    @property
    def ok(self) -> bool:
        return not self.regressions

    def by_kind(self, kind: str) -> list[Change]:
        return [c for c in self.regressions + self.changes if c.kind == kind]

    def lines(self, *, limit: int | None = None) -> list[str]:
        """The comparison as text: a headline, then one line per regression and other change."""
        head = ((f"{len(self.regressions)} regression(s)" if self.regressions else "no regressions")
                + f" — {self.n_common} checks in both runs (old {self.n_old}: {self.old_label or self.old_path}; "
                f"new {self.n_new}: {self.new_label or self.new_path})")
        out = [head] + [f"  note: {n}" for n in self.notes]
        regs = self.regressions if limit is None else self.regressions[:limit]
        out += [f"  REGRESSION {c}" for c in regs]
        if limit is not None and len(self.regressions) > limit:
            out.append(f"  … and {len(self.regressions) - limit} more regressions")
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.kind] = counts.get(c.kind, 0) + 1
        for c in self.changes:
            if c.kind == "fixed":
                out.append(f"  fixed {c.check_id}: {c.detail}")
        rest = [f"{n} {k}" for k, n in counts.items() if k != "fixed"]
        if rest:
            out.append("  other changes: " + ", ".join(rest))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _floor(rec: CheckRecord, error_floor: float) -> float:
    return max(error_floor, 10 * _EPS.get(rec.dtype, 0.0))


_KIND_OF_QUANTITY = {Quantity.ORDER: "order", Quantity.ERROR: "error", Quantity.GRADIENT_ERROR: "error",
                     Quantity.RECONSTRUCTION_ERROR: "error", Quantity.NFE: "nfe", Quantity.NFE_BACKWARD: "nfe",
                     Quantity.BYTES: "bytes"}
_KIND_OF_SERIES = {**{k: "error" for k in ERROR_SERIES}, SeriesKind.NFE_SWEEP: "nfe",
                   SeriesKind.NFE_BACKWARD_SWEEP: "nfe", SeriesKind.MEMORY_DEPTH: "bytes",
                   SeriesKind.PEAK_MEMORY_DEPTH: "bytes"}


def _values(rec: CheckRecord) -> dict[str, tuple[str, list[float]]]:
    """What a record measured that compare judges, by a key stable across runs: its scalars
    (by name; the checked value is one, an observed order included) and its series (by kind and
    label, y element by element). Value: (what it is: "order", "error", "nfe", "bytes"; the numbers)."""
    ev = evidence_of(rec)
    out: dict[str, tuple[str, list[float]]] = {}
    for sc in ev.scalars:
        what = _KIND_OF_QUANTITY.get(sc.kind)
        if what:
            out[sc.name] = (what, [sc.value])
    for s in ev.series:
        base = f"{s.kind.value}:{s.label or s.y_label}"
        what = _KIND_OF_SERIES.get(s.kind)
        if what and base not in out:
            out[base] = (what, list(s.y))
    return out


def _compare_values(o: CheckRecord, n: CheckRecord, *, error_factor: float, error_floor: float,
                    order_drop: float, nfe_increase: float, bytes_increase: float) -> list[Change]:
    out = []
    nv_all = _values(n)
    for key, (what, ov) in _values(o).items():
        if key not in nv_all or nv_all[key][0] != what or len(nv_all[key][1]) != len(ov):
            continue
        nv = nv_all[key][1]
        pairs = [("" if len(ov) == 1 else f"[{i}]", a, b) for i, (a, b) in enumerate(zip(ov, nv))]
        if what == "order":
            _, a, b = pairs[0]
            if math.isfinite(a) and (not math.isfinite(b) or a - b > order_drop):
                out.append(Change("order lost", o.check_id, f"{key} {fmt(a)} -> {fmt(b)} "
                                  f"(dropped by more than {order_drop:g})", key, a, b))
        elif what == "error":
            floor = _floor(n, error_floor)
            worst = None
            for idx, a, b in pairs:
                if math.isnan(a):
                    continue
                if math.isnan(b) or (b > floor and b > error_factor * max(a, floor)):
                    r = math.inf if math.isnan(b) or a <= 0 else b / max(a, floor)
                    if worst is None or r > worst[0]:
                        worst = (r, idx, a, b)
            if worst:
                r, idx, a, b = worst
                ratio = "" if not math.isfinite(r) else f" (x{r:.3g} > x{error_factor:g})"
                out.append(Change("error grown", o.check_id, f"{key}{idx} {fmt(a)} -> {fmt(b)}{ratio}", key + idx, a, b))
        else:
            kind, limit = ("NFE up", nfe_increase) if what == "nfe" else ("saved bytes up", bytes_increase)
            worst = None
            for idx, a, b in pairs:
                if a >= 0 and b > a * (1 + limit) and b - a >= 1:
                    r = math.inf if a == 0 else b / a
                    if worst is None or r > worst[0]:
                        worst = (r, idx, a, b)
            if worst:
                r, idx, a, b = worst
                pct = "" if not math.isfinite(r) else f" (+{(r - 1) * 100:.0f} % > {limit * 100:g} %)"
                out.append(Change(kind, o.check_id, f"{key}{idx} {fmt(a)} -> {fmt(b)}{pct}", key + idx, a, b))
    return out


Paths = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


def compare(old_path: Paths, new_path: Paths, *, error_factor: float = 2.0, error_floor: float = 1e-14,
            order_drop: float = 0.2, nfe_increase: float = 0.10, bytes_increase: float = 0.10,
            allow_mixed: bool = False) -> Comparison:
    """Compare the run ``new_path`` against ``old_path`` (see the module docstring). Each is a
    results file, a folder of them, or a list of files and folders (the shards of a run, merged
    by `harness.report.data.read_runs`). Raises `harness.report.data.ResultsError` for a missing
    or unreadable file, overlapping shards, or shards of different settings (unless
    ``allow_mixed``)."""
    for name, v in (("error_factor", error_factor), ("order_drop", order_drop),
                    ("nfe_increase", nfe_increase), ("bytes_increase", bytes_increase),
                    ("error_floor", error_floor)):
        if not (is_num(v) and math.isfinite(v) and v >= 0) or (name == "error_factor" and v < 1):
            raise ValueError(f"{name} must be a finite number >= {1 if name == 'error_factor' else 0}, got {v!r}")
    old, new = read_runs(old_path, allow_mixed=allow_mixed), read_runs(new_path, allow_mixed=allow_mixed)
    cmp = Comparison(old.path, new.path, n_old=len(old.records), n_new=len(new.records),
                     old_label=old.label, new_label=new.label,
                     settings=dict(error_factor=error_factor, error_floor=error_floor, order_drop=order_drop,
                                   nfe_increase=nfe_increase, bytes_increase=bytes_increase))
    for label, run in (("old", old), ("new", new)):
        if not run.complete:
            cmp.notes.append(f"the {label} run is incomplete: {run.incomplete_reasons[0]}")
    old_by = {r.check_id: r for r in old.records}
    new_by = {r.check_id: r for r in new.records}
    common = [k for k in old_by if k in new_by]
    cmp.n_common = len(common)
    for cid in common:
        o, n = old_by[cid], new_by[cid]
        oo, no = outcome(o), outcome(n)
        if o.verdict.value == "pass" and n.verdict.value in BAD:
            known = " (marked a known finding)" if no == "known" else ""
            cmp.regressions.append(Change("new failure", cid, f"{o.verdict.value} -> {n.verdict.value}{known}: "
                                          f"{n.message or 'no message'}", "verdict", o.verdict.value, n.verdict.value))
        elif o.verdict.value in BAD and n.verdict.value == "pass":
            cmp.changes.append(Change("fixed", cid, f"{o.verdict.value} -> pass", "verdict", o.verdict.value, "pass"))
        elif oo != "skip" and no == "skip":
            cmp.changes.append(Change("newly skipped", cid, n.message, "verdict", oo, no))
        if o.verdict.value == "skip" or n.verdict.value == "skip":
            continue
        cmp.regressions += _compare_values(o, n, error_factor=error_factor, error_floor=error_floor,
                                           order_drop=order_drop, nfe_increase=nfe_increase,
                                           bytes_increase=bytes_increase)
    for cid in old_by:
        if cid not in new_by:
            cmp.changes.append(Change("missing", cid, "in the old run only"))
    for cid in new_by:
        if cid not in old_by:
            cmp.changes.append(Change("added", cid, "in the new run only"))
    missing = len([c for c in cmp.changes if c.kind == "missing"])
    if missing:
        cmp.notes.append(f"{missing} check(s) of the old run are not in the new one")
    if not common and old.records and new.records:
        cmp.notes.append("the runs have no check id in common (different implementations or suites?)")
    kinds = ["new failure", "order lost", "error grown", "NFE up", "saved bytes up"]
    cmp.regressions.sort(key=lambda c: (kinds.index(c.kind) if c.kind in kinds else len(kinds), c.check_id))
    return cmp
