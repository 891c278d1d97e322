"""The one accessor layer between check records and the diagnosis rules.

Rules never read `CheckRecord.measured` or `extra` by key themselves: they ask this module for
what a record measured (a `Fact`). When the typed evidence schema (harness/evidence.py) lands,
only this module changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.results import CheckRecord, Verdict

__all__ = ["Fact", "fact_of", "FAILING"]

# verdicts that make a check part of a diagnosis
FAILING = frozenset({Verdict.FAIL, Verdict.ERROR, Verdict.TIMEOUT})


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


@dataclass(frozen=True)
class Fact:
    """What one check (or probe) record says, in the terms the rules use."""

    record: CheckRecord
    check_id: str
    suite: str
    check: str              # the test function's name without ``test_`` (e.g. "error_at_end")
    iut: str
    method: str
    problem: str
    dtype: str
    verdict: Verdict
    message: str
    threshold: float | None
    measured: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    known: str | None = None  # evidence of the known finding that covers this check, if any

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING

    def number(self, *keys: str) -> float | None:
        """The first of `keys` that `measured` holds as a finite or non-finite number."""
        for k in keys:
            v = _num(self.measured.get(k))
            if v is not None:
                return v
        return None

    def series(self, key: str) -> list[float] | None:
        v = self.measured.get(key)
        if isinstance(v, (list, tuple)) and v and all(_num(x) is not None for x in v):
            return [float(x) for x in v]
        return None

    @property
    def headline(self) -> float | None:
        """The measured value the threshold bounds: the suites' checks name it first in their
        message (``"error = 3.5e-06 exceeds 1.1e-06 (...)"``). Until the typed evidence carries
        it as the expectation's value, it is read here and nowhere else."""
        key = self.message.partition(" ")[0] if self.message else ""
        return self.number(key) if key else None

    @property
    def ratio(self) -> float | None:
        """How far past its bound the check landed (headline / threshold), None where the record
        has no such pair."""
        val = self.headline
        if val is None or not self.threshold or not math.isfinite(self.threshold):
            return None
        return val / self.threshold


def _check_name(rec: CheckRecord) -> str:
    name = rec.check or rec.check_id.partition("[")[0].rpartition(".")[2]
    return name.removeprefix("test_")


def fact_of(rec: CheckRecord) -> Fact:
    extra = rec.extra if isinstance(rec.extra, dict) else {}
    claims = extra.get("claims") if isinstance(extra.get("claims"), dict) else {}
    known = extra.get("expected_failure")
    return Fact(record=rec, check_id=rec.check_id, suite=rec.suite, check=_check_name(rec), iut=rec.iut,
                method=rec.method, problem=rec.problem, dtype=rec.dtype, verdict=Verdict(rec.verdict),
                message=rec.message or "", threshold=rec.threshold, measured=dict(rec.measured or {}),
                claims=dict(claims), known=str(known) if known else None)


def facts_of(records: Iterable[CheckRecord]) -> list[Fact]:
    return [fact_of(r) for r in records]
