"""The diagnosis of a run, stored with its results: one ``"diagnosis"`` line in the results file.

    {"kind":"diagnosis","schema":1,"run_id":"...","written_at":"...","fail_on":["results",...],
     "findings":[{"iut":...,"method":...,"cause_key":...,"title":...,"category":"results",
                  "confidence":"high","checks":[...],"contrasts":[{...}],"detail":...,
                  "reproducer":...,"expected":null}, ...],
     "probes":[{"kind":"check",...}, ...]}

`ode-harness check` writes it once, after the checks and the diagnosis have run
(`write_diagnosis`), with the same locked, newline-terminated append as every record
(`harness.results.append_record`), so that ``ode-harness report results.jsonl`` shows the
findings the gate decided on, probes included, without running anything. `read_diagnoses`
reads such lines back into typed `Diagnosis` objects (enums and dataclasses, never free-form
keys). `load_records` of this version lists a diagnosis line among its ``bad_lines`` (unknown
kind), as it does the run-end marker; the report's reader discounts both.

`finding_to_dict` is also the form of a finding in ``ode-harness check --json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

from harness.diagnosis.model import Category, Confidence, Contrast, Diagnosis, Finding, parse_categories
from harness.results import SCHEMA_VERSION, CheckRecord, _Record, append_record, current_run_id, utc_now

__all__ = ["DIAGNOSIS_KIND", "DiagnosisRecord", "StoredDiagnosis", "finding_to_dict", "finding_from_dict",
           "write_diagnosis", "read_diagnoses", "diagnosis_line_numbers", "diagnosis_record",
           "parse_diagnosis_line"]

DIAGNOSIS_KIND = "diagnosis"


def _contrast_to_dict(c: Contrast) -> dict[str, Any]:
    return {"quantity": c.quantity, "bad_label": c.bad_label, "bad_value": float(c.bad_value),
            "good_label": c.good_label, "good_value": float(c.good_value), "sources": list(c.sources)}


def _contrast_from_dict(d: Mapping[str, Any]) -> Contrast:
    return Contrast(quantity=str(d["quantity"]), bad_label=str(d["bad_label"]), bad_value=float(d["bad_value"]),
                    good_label=str(d["good_label"]), good_value=float(d["good_value"]),
                    sources=tuple(str(s) for s in d.get("sources", ())))


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """The typed fields of a finding as plain JSON data (enums by value)."""
    return {"iut": f.iut, "method": f.method, "cause_key": f.cause_key, "title": f.title,
            "category": f.category.value, "confidence": f.confidence.value, "checks": list(f.checks),
            "contrasts": [_contrast_to_dict(c) for c in f.contrasts], "detail": f.detail,
            "reproducer": f.reproducer, "expected": f.expected}


def finding_from_dict(d: Mapping[str, Any]) -> Finding:
    """Inverse of `finding_to_dict`; ValueError (or KeyError) for a malformed finding."""
    return Finding(iut=str(d["iut"]), method=str(d["method"]), cause_key=str(d["cause_key"]), title=str(d["title"]),
                   category=Category(d["category"]), confidence=Confidence(d["confidence"]),
                   checks=tuple(str(c) for c in d["checks"]),
                   contrasts=tuple(_contrast_from_dict(c) for c in d.get("contrasts", ())),
                   detail=str(d.get("detail") or ""), reproducer=d.get("reproducer"), expected=d.get("expected"))


@dataclass(kw_only=True)
class DiagnosisRecord(_Record):
    """The stored form of a run's `Diagnosis` and the categories its gate failed on."""

    KIND: ClassVar[str] = DIAGNOSIS_KIND

    run_id: str = field(default_factory=current_run_id)
    written_at: str = field(default_factory=utc_now)
    fail_on: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredDiagnosis:
    """A diagnosis read back from a results file."""

    run_id: str
    written_at: str
    diagnosis: Diagnosis
    fail_on: frozenset[Category]


def diagnosis_record(diagnosis: Diagnosis, *, fail_on: Iterable[Category], run_id: str | None = None) -> DiagnosisRecord:
    """The stored form of ``diagnosis`` (``run_id``: `current_run_id` unless given)."""
    return DiagnosisRecord(run_id=run_id or current_run_id(),
                           fail_on=sorted(Category(c).value for c in fail_on),
                           findings=[finding_to_dict(f) for f in diagnosis.findings],
                           probes=[_raw(p) for p in diagnosis.probes])


def write_diagnosis(path: str | os.PathLike[str], diagnosis: Diagnosis, *, fail_on: Iterable[Category],
                    run_id: str | None = None, fsync: bool = True) -> DiagnosisRecord:
    """Append the diagnosis line of this run (``run_id``: `current_run_id` unless given)."""
    rec = diagnosis_record(diagnosis, fail_on=fail_on, run_id=run_id)
    append_record(path, rec, fsync=fsync)  # type: ignore[arg-type]
    return rec


def parse_diagnosis_line(line: str | bytes) -> StoredDiagnosis:
    """One diagnosis line (`DiagnosisRecord.to_json`) read back; ValueError, TypeError or
    KeyError when it is not one."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"a diagnosis line is a JSON object, got {type(data).__name__}")
    return _stored(data)


def _raw(rec: CheckRecord) -> dict[str, Any]:
    """A probe record's fields, not yet JSON-encoded (the diagnosis line encodes once, whole)."""
    return {"kind": rec.KIND, "schema": SCHEMA_VERSION, **{f.name: getattr(rec, f.name) for f in fields(rec)}}


def _stored(data: Mapping[str, Any]) -> StoredDiagnosis:
    rec = DiagnosisRecord.from_dict(data)
    findings = tuple(finding_from_dict(f) for f in rec.findings)
    probes = tuple(CheckRecord.from_dict(p) for p in rec.probes)
    return StoredDiagnosis(run_id=rec.run_id, written_at=rec.written_at,
                           diagnosis=Diagnosis(findings=findings, probes=probes),
                           fail_on=parse_categories(rec.fail_on) if rec.fail_on else frozenset(Category))


def _diagnosis_lines(path: str | os.PathLike[str]) -> Iterable[tuple[int, bytes]]:
    needle = b'"kind":"' + DIAGNOSIS_KIND.encode() + b'"'
    with open(Path(path), "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if raw.endswith(b"\n") and needle in raw[:40]:
                yield lineno, raw


def diagnosis_line_numbers(path: str | os.PathLike[str]) -> set[int]:
    """The 1-based numbers of the complete lines of ``path`` that are diagnosis lines (read back
    or not): a reader of check records skips them."""
    return {n for n, _ in _diagnosis_lines(path)}


def read_diagnoses(path: str | os.PathLike[str]) -> dict[int, StoredDiagnosis]:
    """The complete diagnosis lines of ``path``: {1-based line number: the stored diagnosis}.
    A line of this kind that does not read back (written by a newer version, or damaged) is left
    out: the report then diagnoses the records again."""
    out: dict[int, StoredDiagnosis] = {}
    for lineno, raw in _diagnosis_lines(path):
        try:
            out[lineno] = parse_diagnosis_line(raw.decode("utf-8"))
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            continue
    return out
