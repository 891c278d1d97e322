"""Schema 2 of the results store: typed evidence in every check record, schema-1 files still
read (through the legacy adapter, harness/results_v1.py), newer schemas refused in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness.evidence import (Comparison, Derivation, Evidence, Expectation, GradMode, Override, ProblemProperties,
                              Quantity, ReproInputs, Scalar, Series, SeriesKind)
from harness.problems import get_problem
from harness.pytest_plugin import Check, CheckFailed
from harness.report.data import ResultsError, read_run
from harness.results import SCHEMA_VERSION, CheckRecord, Verdict, append_record, load_records

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "tests" / "fixtures" / "results_v1.jsonl"  # lines of a `check reference --method dopri5` run of schema 1


def _record() -> CheckRecord:
    ev = Evidence(
        series=(Series(kind=SeriesKind.CONVERGENCE, x=[0.1, 0.05], y=[1e-4, math.nan], x_label="h", y_label="err",
                       used=[0], slope=-0.0),
                Series(kind=SeriesKind.WORK_PRECISION, x=[1e-3, 2e-3], y=[1e-4, math.inf], x_label="wall", x_unit="s",
                       y_label="err", low=[9e-4, 1.9e-3], high=[1.1e-3, 2.1e-3], spread_axis="x")),
        expectation=Expectation(quantity="observed_order", kind=Quantity.ORDER, comparison=Comparison.WITHIN,
                                value=3.9, target=4, threshold=0.2, reason="claimed order",
                                derivation=Derivation(order=4, eps=2.220446049250313e-16),
                                override=Override(pattern="x", reason="y", factor=2, original_threshold=0.1,
                                                  applied_threshold=0.2)),
        problem=ProblemProperties.of(get_problem("A3"), reverse_time=True),
        inputs=ReproInputs(problem="A3", y0=[1.0], t=[0.0, 20.0], method="dopri5", dtype="float64", rtol=1e-6,
                           grad=GradMode.BACKPROP, loss_weights=[0.5, -1.0], seed=3),
        scalars=(Scalar(name="observed_order", value=3.9, kind=Quantity.ORDER),
                 Scalar(name="nfe", value=1e308 * 10, kind=Quantity.NFE)),
        gradient_wrt="y0", oracle="closed-form")
    return CheckRecord(check_id="s.c[x]", suite="s", check="c", verdict=Verdict.PASS, measured={"note": "free"},
                       threshold=0.2, evidence=ev)


def test_v2_round_trip_bit_for_bit(tmp_path):
    rec = _record()
    line = rec.to_json()
    data = json.loads(line)
    assert data["schema"] == SCHEMA_VERSION == 2 and data["evidence"]["series"][0]["kind"] == "convergence"
    back = CheckRecord.from_json(line)
    assert back.to_json() == line
    assert back.evidence.inputs.grad is GradMode.BACKPROP and back.evidence.scalars[1].value == math.inf
    assert math.isnan(back.evidence.series[0].y[1]) and math.copysign(1, back.evidence.series[0].slope) == -1
    path = tmp_path / "r.jsonl"
    append_record(path, rec, fsync=False)
    (got,) = load_records(path, strict=True).records
    assert got.to_json() == line


def test_v2_record_without_evidence():
    rec = CheckRecord(check_id="s.c", verdict="skip")
    back = CheckRecord.from_json(rec.to_json())
    assert back.evidence is None and back.to_json() == rec.to_json()
    with pytest.raises(TypeError, match="evidence must be"):
        CheckRecord(check_id="s.c", verdict="pass", evidence={"series": []})


def test_v2_bad_evidence_is_a_clear_error():
    data = json.loads(_record().to_json())
    data["evidence"]["series"][0]["kind"] = "no such kind"
    with pytest.raises(ValueError, match="Series.kind"):
        CheckRecord.from_dict(data)
    data = json.loads(_record().to_json())
    del data["evidence"]
    with pytest.raises(ValueError, match=r"missing fields \['evidence'\]"):
        CheckRecord.from_dict(data)


def test_v1_lines_of_a_real_run_load():
    res = load_records(V1)
    assert res.records and not res.torn_lines and res.headers
    # the run-end line is read by the report (harness.report.runend), not by load_records
    assert len(res.bad_lines) == 1
    by = {r.check: r for r in res.records}
    assert all(json.loads(line)["schema"] == 1 for line in V1.read_text().splitlines() if '"kind":"check"' in line)
    end = by["test_error_at_end"].evidence
    assert end.expectation.quantity == "error" and end.expectation.kind is Quantity.ERROR
    assert end.expectation.comparison is Comparison.LE and end.expectation.derivation.tolerance == 1e-5
    assert end.oracle and end.scalar("nfe") > 0 and end.inputs is None and end.problem is None
    wp = by["test_work_precision"].evidence
    kinds = [s.kind for s in wp.series]
    assert SeriesKind.TOLERANCE_SWEEP in kinds and kinds.count(SeriesKind.WORK_PRECISION) == 2
    timed = next(s for s in wp.series if s.kind is SeriesKind.WORK_PRECISION and s.x_unit == "s")
    assert timed.low is not None and timed.spread_axis.value == "x"
    mem = by["test_saved_bytes_against_depth"].evidence
    assert mem.series_of(SeriesKind.MEMORY_DEPTH)
    fd = by["test_agrees_with_finite_differences"].evidence
    assert fd.gradient_wrt in ("y0", "params", "t") and fd.expectation.kind is Quantity.GRADIENT_ERROR
    assert by["test_wall_time_forward"].evidence.scalar("median") > 0
    skipped = next(r for r in res.records if r.verdict is Verdict.SKIP)
    assert skipped.evidence is None
    # and written again they are schema-2 lines
    again = CheckRecord.from_json(by["test_error_at_end"].to_json())
    assert json.loads(again.to_json())["schema"] == 2 and again.evidence == end


def test_v1_file_reports(tmp_path):
    run = read_run(V1)
    assert run.records and run.complete


def test_newer_schema_is_refused_in_one_line(tmp_path):
    data = json.loads(_record().to_json())
    data["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="schema 3 was written by a newer ode-harness"):
        CheckRecord.from_dict(data)
    path = tmp_path / "new.jsonl"
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(ResultsError) as exc:
        read_run(path)
    msg = str(exc.value)
    assert "\n" not in msg and f"{path}:1" in msg and "newer ode-harness" in msg and "upgrade" in msg
    # the report command: the same line, exit status 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "harness", "report", str(path), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert "newer ode-harness" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- the Check API


def test_check_records_typed_evidence():
    chk = Check()
    chk.describe(problem=get_problem("A3"), dtype="torch.float64", span=(0.0, 2.0), label="A3[0,2]")
    chk.series(Series(kind=SeriesKind.TOLERANCE_SWEEP, x=[1e-4, 1e-6], y=[1e-5, 1e-7], x_label="tol",
                      y_label="err"))
    chk.scalars(Quantity.ERROR, baseline_error=1e-7, oracle_error=1e-15)
    chk.solver_stats({"nfe": 38, "n_accepted": 6, "name": "not a number"})
    chk.gradient("params", "finite differences")
    chk.note(display="only")
    chk.expect_le("error", 1e-6, 1e-5, "10x baseline", kind=Quantity.ERROR, derivation=Derivation(tolerance=1e-6))
    ev = chk.evidence()
    assert chk.problem == "A3[0,2]" and chk.dtype == "float64"
    assert ev.problem.t1 == 2.0 and not ev.problem.autonomous
    assert ev.expectation.derivation.tolerance == 1e-6 and ev.expectation.comparison is Comparison.LE
    assert [s.name for s in ev.scalars] == ["baseline_error", "oracle_error", "nfe", "n_accepted", "error"]
    assert ev.scalars_of(Quantity.NFE)[0].value == 38 and ev.gradient_wrt == "params"
    assert chk.measured == {"display": "only"}  # the checked value is typed, not a free-form key
    with pytest.raises(CheckFailed, match="is below"):
        chk.expect_ge("tolerance_exponent", 0.5, 0.8, "p/(p+1)", kind=Quantity.ORDER)
    assert chk.evidence().expectation.comparison is Comparison.GE and not chk.evidence().expectation.passed
    with pytest.raises(CheckFailed, match="claimed 4"):
        chk.expect_within("observed_order", 3.5, 4, 0.2, "order", kind=Quantity.ORDER)
    e = chk.evidence().expectation
    assert (e.target, e.threshold, e.value) == (4.0, 0.2, 3.5)
    with pytest.raises(TypeError):
        chk.series({"x": [1]})


def test_check_records_the_override_typed():
    from harness.config import ToleranceOverride

    chk = Check(name="test_x", suite="s", overrides=[ToleranceOverride(pattern="test_x", reason="noisy", factor=3.0)])
    chk.expect_le("error", 2e-6, 1e-6, "baseline", kind=Quantity.ERROR)
    ov = chk.evidence().expectation.override
    assert (ov.factor, ov.original_threshold, ov.applied_threshold, ov.reason) == (3.0, 1e-6, 3e-6, "noisy")
    assert chk.extra["threshold_overrides"][0]["applied_threshold"] == 3e-6  # still there for `check --json`
