"""The gate of `ode-harness check`: which findings fail the run, from the run's diagnosis and the
categories selected by ``--fail-on`` / ``[tool.ode-harness] fail-on`` (default: all).

The verdict comes from `Diagnosis.gate(fail_on)`: a finding fails the gate when its category is
selected and it is not a known finding (`Finding.expected` set). Findings of the other
categories are still reported, marked as not gating. Beyond the diagnosis, three things always
fail the gate, whatever the categories, because they are no verdict on the implementation but a
run that could not say: a failing check that no finding covers (`undiagnosed`: the diagnosis did
not run, or left a check out), a check that was not run (its case stopped after repeated
timeouts or crashes, or the run stopped early), and a pytest failure without a record. Results
computed are never dropped: every check record stays in the results file and the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .diagnosis.model import Category, Diagnosis, Finding

__all__ = ["Gate", "FindingStatus", "evaluate_gate"]


class FindingStatus:
    GATING = "gating"
    NOT_GATING = "not gating"
    KNOWN = "known"


@dataclass(frozen=True)
class Gate:
    """The gate's decision for one run."""

    fail_on: frozenset[Category]
    diagnosis: Diagnosis
    undiagnosed: tuple[Mapping[str, Any], ...] = ()   # failing checks no finding covers: they gate
    incomplete: tuple[Mapping[str, Any], ...] = ()    # checks not run, failures without a record: they gate
    diagnosis_error: str = ""                         # why the diagnosis did not run, if it did not
    diagnosis_s: float | None = None                  # wall time of the diagnosis, probes included

    def status(self, f: Finding) -> str:
        if f.expected is not None:
            return FindingStatus.KNOWN
        return FindingStatus.GATING if f.category in self.fail_on else FindingStatus.NOT_GATING

    @property
    def gating(self) -> tuple[Finding, ...]:
        return self.diagnosis.failing(self.fail_on)

    @property
    def not_gating(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.diagnosis.findings if self.status(f) == FindingStatus.NOT_GATING)

    def ordered(self) -> list[Finding]:
        """The findings as every view lists them: gating, then not gating, then known."""
        order = (FindingStatus.GATING, FindingStatus.NOT_GATING, FindingStatus.KNOWN)
        return sorted(self.diagnosis.findings, key=lambda f: order.index(self.status(f)))

    @property
    def known(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.diagnosis.findings if f.expected is not None)

    @property
    def passed(self) -> bool:
        return self.diagnosis.gate(self.fail_on) and not self.undiagnosed and not self.incomplete

    def headline(self) -> str:
        """``3 findings: 2 gating, 1 known`` (the parts that are not zero)."""
        n = len(self.diagnosis.findings)
        parts = [f"{len(self.gating)} gating"]
        if self.not_gating:
            parts.append(f"{len(self.not_gating)} not gating")
        if self.known:
            parts.append(f"{len(self.known)} known")
        text = f"{n} finding{'' if n == 1 else 's'}: " + ", ".join(parts)
        if self.undiagnosed:
            text += f"; {len(self.undiagnosed)} failing check{'' if len(self.undiagnosed) == 1 else 's'} undiagnosed (gating)"
        if self.incomplete:
            text += f"; incomplete: {len(self.incomplete)} entr{'y' if len(self.incomplete) == 1 else 'ies'} not run or not recorded (gating)"
        return text

    def fail_on_text(self) -> str:
        if self.fail_on == frozenset(Category):
            return "all"
        return ",".join(c.value for c in Category if c in self.fail_on)

    def as_dict(self) -> dict[str, Any]:
        """The ``gate`` object of the JSON summary."""
        return {"fail_on": [c.value for c in Category if c in self.fail_on], "passed": self.passed,
                "findings": len(self.diagnosis.findings), "gating": len(self.gating),
                "not_gating": len(self.not_gating), "known": len(self.known),
                "undiagnosed": [str(x.get("check_id", "")) for x in self.undiagnosed],
                "incomplete": [str(x.get("check_id", "")) for x in self.incomplete],
                "diagnosis_error": self.diagnosis_error or None,
                "diagnosis_s": None if self.diagnosis_s is None else round(self.diagnosis_s, 3)}


def evaluate_gate(diagnosis: Diagnosis, fail_on: Iterable[Category], failing: Iterable[Mapping[str, Any]], *,
                  diagnosis_error: str = "", diagnosis_s: float | None = None) -> Gate:
    """The gate of a run: its `diagnosis`, the selected categories, and the run's failing entries
    (the CLI summary's: a dict per failing check with ``check_id``, plus ``incomplete: True``
    for the checks not run and the failures without a record)."""
    covered = {c for f in diagnosis.findings for c in f.checks}
    undiagnosed: list[Mapping[str, Any]] = []
    incomplete: list[Mapping[str, Any]] = []
    for x in failing:
        if x.get("incomplete"):
            incomplete.append(x)
        elif x.get("check_id") not in covered:
            undiagnosed.append(x)
    return Gate(frozenset(fail_on), diagnosis, tuple(undiagnosed), tuple(incomplete), diagnosis_error, diagnosis_s)
