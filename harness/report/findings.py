"""The findings of a run, as the report shows them first.

Where the diagnosis comes from (`run_diagnosis`):

1. the diagnosis ``ode-harness check`` stored in the results file (one ``"diagnosis"`` line,
   harness.diagnosis.store), of the file's last run: the findings the gate decided on, with the
   categories it failed on and the probes it ran;
2. otherwise (a run of plain ``pytest suites/``, a results file of an older version, the shards
   of a run merged, whose stored diagnoses each saw one shard) the records are diagnosed again
   without running anything (``diagnose(..., run_probes=False)``), with the probe records the
   files' stored diagnoses hold as evidence; the gate is then the default one (all categories).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..diagnosis.model import CAUSES, Category, Diagnosis, Finding
from ..diagnosis.store import StoredDiagnosis, read_diagnoses
from ..gate import Gate
from .data import BAD, RunData, case_label, outcome, slug

__all__ = ["RunDiagnosis", "run_diagnosis", "findings_context"]

STORED, REDIAGNOSED, UNAVAILABLE = "stored", "re-diagnosed", "unavailable"


@dataclass(frozen=True)
class RunDiagnosis:
    diagnosis: Diagnosis
    fail_on: frozenset[Category]
    source: str          # STORED, REDIAGNOSED or UNAVAILABLE
    note: str = ""       # why it was diagnosed again, or why there is none


def _stored_of(run: RunData) -> list[StoredDiagnosis]:
    """The stored diagnoses of each file's last run (a merged run: one per shard that has one)."""
    out = []
    for part in run.shards or [run]:
        try:
            found = read_diagnoses(part.path)
        except OSError:
            continue
        if not found:
            continue
        last = part.header.run_id if part.header else None
        mine = [d for _, d in sorted(found.items()) if last is None or d.run_id == last]
        if mine:
            out.append(mine[-1])
    return out


def run_diagnosis(run: RunData, fail_on: frozenset[Category] | None = None) -> RunDiagnosis:
    """The run's diagnosis: the stored one, or the records diagnosed again (module docstring).
    ``fail_on`` (e.g. ``ode-harness report --fail-on``) replaces the categories the stored gate
    failed on (default when there is none: all)."""
    stored = _stored_of(run)
    if stored and not run.shards:
        s = stored[0]
        return RunDiagnosis(s.diagnosis, s.fail_on if fail_on is None else frozenset(fail_on), STORED)
    gate_on = frozenset(Category) if fail_on is None else frozenset(fail_on)
    why = ("the shards of a run, merged: diagnosed together" if run.shards
           else "no diagnosis stored with these results (not written by ode-harness check)")
    try:
        from ..diagnosis.engine import diagnose
    except ImportError as exc:
        return RunDiagnosis(Diagnosis(findings=()), gate_on, UNAVAILABLE,
                            f"{why}, and the diagnosis is not available here ({exc})")
    probes = [p for s in stored for p in s.diagnosis.probes]
    try:
        diagnosis = diagnose([*run.records, *probes], run_probes=False)
    except Exception as exc:  # noqa: BLE001 - the report of a run must not fail with its diagnosis
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return RunDiagnosis(Diagnosis(findings=()), gate_on, UNAVAILABLE,
                            f"{why}; diagnosing failed: {type(exc).__name__}: {first}")
    return RunDiagnosis(Diagnosis(findings=diagnosis.findings, probes=tuple(probes) + tuple(diagnosis.probes)),
                        gate_on, REDIAGNOSED, why + ", without running probes")




def _finding(i: int, f: Finding, gate: Gate, by_id: dict[str, Any]) -> dict[str, Any]:
    cause = CAUSES.get(f.cause_key)
    checks = []
    for cid in f.checks:
        r = by_id.get(cid)
        o = outcome(r) if r is not None else "fail"
        checks.append(dict(check_id=cid, outcome=o,
                           anchor=slug(f"f-{cid}") if r is not None and o in BAD else None,
                           message=" ".join((r.message or "").split()) if r is not None else "",
                           probe=r is not None and r.suite == "probe"))
    return dict(n=i, status=gate.status(f), category=f.category.value, confidence=f.confidence.value,
                title=f.title, cause_key=f.cause_key, unexplained=f.unexplained,
                cause=cause.summary if cause else "no rule explains this failing check: see its record",
                contrasts=[c.describe() for c in f.contrasts], detail=f.detail, reproducer=f.reproducer,
                expected=f.expected, label=case_label(f.iut, f.method), checks=checks,
                anchor=slug(f"finding-{i}"))


def findings_context(run: RunData, fail_on: frozenset[Category] | None = None) -> dict[str, Any]:
    """What the template's findings section shows: the headline, one entry per finding (gating
    first), the probes, and where the diagnosis came from (``fail_on``: see `run_diagnosis`)."""
    rd = run_diagnosis(run, fail_on)
    from ..gate import evaluate_gate

    gate = evaluate_gate(rd.diagnosis, rd.fail_on, ())
    by_id: dict[str, Any] = {r.check_id: r for r in run.records}
    by_id.update({p.check_id: p for p in rd.diagnosis.probes})
    ordered = gate.ordered()
    return dict(headline=gate.headline(), n=len(ordered), source=rd.source, note=rd.note,
                fail_on=gate.fail_on_text(), passed=gate.passed,
                entries=[_finding(i, f, gate, by_id) for i, f in enumerate(ordered, 1)],
                probes=[dict(check_id=p.check_id, outcome=outcome(p), message=" ".join((p.message or "").split()),
                             measured=p.measured) for p in rd.diagnosis.probes])
