"""Diagnosed findings against known findings (suites/known_findings.py): the one place that
matches them.

A known finding is a real library's recorded defect with its evidence; each entry carries the
cause key (`CAUSES`) its evidence establishes. A diagnosed finding matches a known one on
(implementation, method, cause key) and then carries the known evidence in `Finding.expected`
(the gate passes it: `Diagnosis.failing`). Test names, node ids and messages play no part.

A failing check that no rule explained (cause "unexplained") has no cause to match on; when
every check of such a finding is an expected failure of the run (the suites marked it with a
known finding's evidence), the finding carries that evidence too, saying that the diagnosis
did not reach the recorded cause: it is reported, and it does not gate, as before issue 11.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping, Protocol, Sequence

from harness.diagnosis.facts import Fact
from harness.diagnosis.model import UNEXPLAINED, Finding

__all__ = ["KnownEntry", "known_entries", "match_known"]


class KnownEntry(Protocol):
    """What the matching needs of a suites/known_findings.py entry."""

    iut: str | tuple[str, ...]
    methods: tuple[str, ...]
    evidence: str


def _causes(entry: object) -> tuple[str, ...]:
    c = getattr(entry, "cause", None) or ()
    return (c,) if isinstance(c, str) else tuple(c)


def known_entries() -> tuple[object, ...]:
    """The known findings of the suites (empty when they cannot be imported)."""
    try:
        from harness.suites.known_findings import KNOWN_FINDINGS  # installed layout
    except ImportError:
        try:
            from suites.known_findings import KNOWN_FINDINGS  # the checkout
        except ImportError:
            return ()
    return tuple(KNOWN_FINDINGS)


def _lookup(entries: Iterable[object], iut: str, method: str, cause: str) -> object | None:
    for e in entries:
        iuts = (e.iut,) if isinstance(e.iut, str) else tuple(e.iut)  # type: ignore[attr-defined]
        if iut in iuts and method in e.methods and cause in _causes(e):  # type: ignore[attr-defined]
            return e
    return None


def match_known(findings: Sequence[Finding], facts: Mapping[str, Fact],
                entries: Iterable[object] | None = None) -> tuple[Finding, ...]:
    """`findings` with `expected` set where a known finding matches (see the module docstring).
    facts: the run's facts by check id (for the expected-failure marks of unexplained checks)."""
    entries = tuple(known_entries() if entries is None else entries)
    out = []
    for f in findings:
        if f.unexplained or f.cause_key == UNEXPLAINED:
            marks = {facts[c].known for c in f.checks if c in facts}
            if marks and None not in marks and len(marks) == 1:
                f = replace(f, expected=next(iter(marks)))  # type: ignore[arg-type]
            out.append(f)
            continue
        e = _lookup(entries, f.iut, f.method, f.cause_key)
        if e is not None:
            f = replace(f, expected=str(e.evidence))  # type: ignore[attr-defined]
        out.append(f)
    return tuple(out)
