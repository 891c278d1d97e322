"""The one accessor layer between check records and the diagnosis rules.

Rules never read `CheckRecord.measured` or `extra` by key themselves: they ask this module for
what a record measured (a `Fact`). A record of schema 2 carries typed evidence
(`CheckRecord.evidence`, harness/evidence.py): its expectation (the checked value and threshold)
and its named scalars are read first; the free-form `measured` of a schema-1 record is the
fallback, read here and nowhere else.
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
    known_cause: str | None = None  # the cause the suites recorded with it ("crash": an exception)

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING

    @property
    def nonfinite(self) -> bool:
        """The check found NaN or inf in the output (the suites' solve helper reports it so)."""
        return self.message.startswith("non-finite output")

    @property
    def output_contract_broken(self) -> bool | None:
        """Whether the output's shape or dtype, as the check recorded them, break the contract
        (len(t), *y0.shape) and y0's dtype; None where the record does not say."""
        shape, out_shape = self.measured.get("shape"), self.measured.get("out_shape")
        dtype, out_dtype = self.measured.get("dtype"), self.measured.get("out_dtype")
        n_t = len(self.measured["t"]) if isinstance(self.measured.get("t"), list) else (
            1 if "t0" in self.measured else None)
        broken: bool | None = None
        if isinstance(dtype, str) and isinstance(out_dtype, str):
            broken = dtype != out_dtype
        if isinstance(shape, list) and isinstance(out_shape, list) and n_t is not None:
            broken = bool(broken) or out_shape != [n_t, *shape]
        return broken

    @property
    def not_run(self) -> bool:
        """The harness did not run the check (after repeated timeouts of the case, or a worker
        lost): an error verdict saying so, not an exception of the implementation."""
        return self.verdict == Verdict.ERROR and self.message.startswith("not run:")

    @property
    def raised(self) -> bool:
        """The implementation raised (an error verdict, or an exception a known finding records)."""
        return ((self.verdict == Verdict.ERROR and not self.message.startswith("harness error")
                 and not self.not_run) or self.known_cause == "crash")

    @property
    def evidence(self) -> Any:
        """The record's typed evidence (schema 2), or None."""
        return getattr(self.record, "evidence", None)

    def number(self, *keys: str) -> float | None:
        """The first of `keys` that the record measured as a number: a scalar of its typed
        evidence, else a value of `measured`."""
        ev = self.evidence
        for k in keys:
            v = ev.scalar(k) if ev is not None and hasattr(ev, "scalar") else None
            if v is None:
                v = _num(self.measured.get(k))
            if v is not None:
                return float(v)
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
        ev = self.evidence
        exp = getattr(ev, "expectation", None) if ev is not None else None
        if exp is not None:
            return float(exp.value)
        key = self.message.partition(" ")[0] if self.message else ""
        return self.number(key) if key else None

    @property
    def ratio(self) -> float | None:
        """How far past its bound the check landed (headline / threshold), None where the record
        has no such pair."""
        val = self.headline
        ev = self.evidence
        exp = getattr(ev, "expectation", None) if ev is not None else None
        threshold = float(exp.threshold) if exp is not None else self.threshold
        if val is None or not threshold or not math.isfinite(threshold):
            return None
        return val / threshold


def _check_name(rec: CheckRecord) -> str:
    name = rec.check or rec.check_id.partition("[")[0].rpartition(".")[2]
    return name.removeprefix("test_")


def fact_of(rec: CheckRecord) -> Fact:
    extra = rec.extra if isinstance(rec.extra, dict) else {}
    claims = extra.get("claims") if isinstance(extra.get("claims"), dict) else {}
    known = extra.get("expected_failure")
    known_cause = extra.get("expected_cause")
    return Fact(record=rec, check_id=rec.check_id, suite=rec.suite, check=_check_name(rec), iut=rec.iut,
                method=rec.method, problem=rec.problem, dtype=rec.dtype, verdict=Verdict(rec.verdict),
                message=rec.message or "", threshold=rec.threshold, measured=dict(rec.measured or {}),
                claims=dict(claims), known=str(known) if known else None,
                known_cause=str(known_cause) if known_cause else None)


def facts_of(records: Iterable[CheckRecord]) -> list[Fact]:
    return [fact_of(r) for r in records]
