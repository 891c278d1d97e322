"""The gate of `ode-harness check` (harness/gate.py), ``--fail-on`` / ``fail-on`` (harness/config.py),
the closing table and JSON summary that lead with findings (harness/cli.py), and the diagnosis
stored with the results (harness/diagnosis/store.py).

Acceptance 4 of issue 11 (`test_contract_only_defect_passes_with_fail_on_results_gradients`): the
mutant ``harness.mutants:evaluates_outside_span`` (f evaluated outside the span, results correct)
passes the gate with ``--fail-on results,gradients`` and fails it by default, through the real
command in subprocesses on three checks.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import cli
from harness.config import DEFAULT_FAIL_ON, ConfigError, load_file_config, parse_fail_on
from harness.diagnosis.model import (UNEXPLAINED, Category, Confidence, Contrast, Diagnosis, Finding,
                                     parse_categories)
from harness.diagnosis.store import (diagnosis_line_numbers, finding_from_dict, finding_to_dict, read_diagnoses,
                                     write_diagnosis)
from harness.gate import FindingStatus, evaluate_gate
from harness.results import CheckRecord, Verdict, append_record, load_records

C = Category


def _finding(cat: Category, cause: str = "stage-times", *, checks=("a",), known: str | None = None,
             title: str = "", reproducer: str | None = None, contrasts=()) -> Finding:
    return Finding(iut="lib", method="rk4", cause_key=cause, title=title or f"{cat.value} defect",
                   category=cat, confidence=Confidence.HIGH, checks=tuple(checks), contrasts=tuple(contrasts),
                   reproducer=reproducer, expected=known)


def _failing(*ids: str, **extra) -> list[dict]:
    return [{"check_id": i, "verdict": "fail", "message": "m", **extra} for i in ids]


# --------------------------------------------------------------------------- the gate
def test_only_selected_categories_fail_the_gate_and_the_others_are_reported():
    d = Diagnosis(findings=(_finding(C.RESULTS, checks=("r",)), _finding(C.CONTRACT, "outside-span", checks=("c",))))
    failing = _failing("r", "c")
    all_gate = evaluate_gate(d, DEFAULT_FAIL_ON, failing)
    assert not all_gate.passed and len(all_gate.gating) == 2
    contract_only = Diagnosis(findings=(d.findings[1],))
    g = evaluate_gate(contract_only, parse_categories("results,gradients"), _failing("c"))
    assert g.passed and g.gating == () and g.not_gating == contract_only.findings
    assert g.status(contract_only.findings[0]) == FindingStatus.NOT_GATING
    g = evaluate_gate(d, parse_categories("results"), failing)
    assert not g.passed and [f.category for f in g.gating] == [C.RESULTS]
    assert g.headline() == "2 findings: 1 gating, 1 not gating"
    assert g.fail_on_text() == "results" and all_gate.fail_on_text() == "all"


def test_known_findings_never_fail_the_gate():
    d = Diagnosis(findings=(_finding(C.RESULTS, known="torchdiffeq#123: recorded"),))
    g = evaluate_gate(d, DEFAULT_FAIL_ON, [])
    assert g.passed and g.known == d.findings and g.status(d.findings[0]) == FindingStatus.KNOWN


def test_three_findings_headline():
    d = Diagnosis(findings=(_finding(C.RESULTS, checks=("a",)), _finding(C.GRADIENTS, "grad-sign", checks=("b",)),
                            _finding(C.RESULTS, checks=("k",), known="recorded")))
    g = evaluate_gate(d, DEFAULT_FAIL_ON, _failing("a", "b"))
    assert g.headline() == "3 findings: 2 gating, 1 known"


def test_an_undiagnosed_failing_check_gates_whatever_the_categories():
    """A failing check that no finding covers (no diagnosis, or one that left it out) is no
    verdict on the implementation: it fails the gate."""
    g = evaluate_gate(Diagnosis(findings=()), parse_categories("cost"), _failing("lost"),
                      diagnosis_error="diagnosis not available")
    assert not g.passed and [x["check_id"] for x in g.undiagnosed] == ["lost"]
    assert g.as_dict()["undiagnosed"] == ["lost"] and g.as_dict()["diagnosis_error"] == "diagnosis not available"


def test_an_incomplete_run_fails_whatever_the_categories():
    """Checks not run (the case stopped after repeated timeouts, the run stopped early) and
    failures without a record fail the gate even when every finding is outside --fail-on."""
    d = Diagnosis(findings=(_finding(C.ROBUSTNESS, "hang", checks=("t1",)),))
    failing = [{"check_id": "t1", "verdict": "timeout", "message": "timed out"},
               {"check_id": "x", "verdict": "error", "message": "not run", "incomplete": True}]
    g = evaluate_gate(d, parse_categories("results"), failing)
    assert g.gating == () and not g.passed and [x["check_id"] for x in g.incomplete] == ["x"]
    assert evaluate_gate(d, parse_categories("results"), failing[:1]).passed


# --------------------------------------------------------------------------- fail-on: parsing and config
def test_fail_on_parsing():
    assert parse_fail_on("results,gradients") == {C.RESULTS, C.GRADIENTS}
    assert parse_fail_on(["all"]) == DEFAULT_FAIL_ON == frozenset(Category)
    assert parse_fail_on(" contract ") == {C.CONTRACT}
    for bad in ("results,bogus", "", ["results", 3], 7):
        with pytest.raises(ConfigError):
            parse_fail_on(bad)


def test_fail_on_from_pyproject_and_the_command_line_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.ode-harness]\nimplementations = ['reference']\n"
                                             "fail-on = ['results', 'gradients']\n")
    assert load_file_config(tmp_path / "pyproject.toml").fail_on == {C.RESULTS, C.GRADIENTS}
    st = cli._resolve(cli._check_parser().parse_args([]))
    assert st.fail_on == {C.RESULTS, C.GRADIENTS}
    st = cli._resolve(cli._check_parser().parse_args(["--fail-on", "cost"]))
    assert st.fail_on == {C.COST}
    (tmp_path / "pyproject.toml").write_text("[tool.ode-harness]\nimplementations = ['reference']\n")
    assert cli._resolve(cli._check_parser().parse_args([])).fail_on == DEFAULT_FAIL_ON


@pytest.mark.parametrize("args, table, needle", [
    (["--fail-on", "results,speed"], "", "unknown category 'speed'"),
    (["--fail-on", ","], "", "no category given"),
    ([], "fail-on = ['wrong']\n", "'fail-on': unknown category 'wrong'"),
    ([], "fail-on = 3\n", "'fail-on': expected a category name"),
])
def test_bad_category_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, args, table, needle):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "1")
    (tmp_path / "pyproject.toml").write_text("[tool.ode-harness]\n" + table)
    code = cli.main(["check", "reference", *args])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ode-harness: error: ") and needle in lines[0], err
    assert "valid: results, gradients, contract, robustness, cost, all" in lines[0] or "expected" in lines[0]


# --------------------------------------------------------------------------- the stored diagnosis
def _probe() -> CheckRecord:
    return CheckRecord(check_id="probe.autonomous_twin[lib-rk4]", suite="probe", check="autonomous_twin",
                       iut="lib", method="rk4", verdict=Verdict.PASS, measured={"order": 3.98, "err": math.inf},
                       run_id="r1")


def test_the_diagnosis_round_trips_through_the_results_file(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, CheckRecord(check_id="a", verdict=Verdict.FAIL, run_id="r1"), fsync=False)
    contrast = Contrast("observed order", "time-dependent problems (B1)", 1.01, "autonomous problems (A1)",
                        math.nan, sources=("a", "probe.autonomous_twin[lib-rk4]"))
    d = Diagnosis(findings=(_finding(C.RESULTS, checks=("a",), contrasts=(contrast,), reproducer="repro/f1.py"),
                            _finding(C.CONTRACT, UNEXPLAINED, checks=("b",), known="recorded")),
                  probes=(_probe(),))
    write_diagnosis(path, d, fail_on={C.RESULTS}, run_id="r1", fsync=False)
    (line,) = diagnosis_line_numbers(path)
    assert line == 2 and load_records(path).bad_lines == [2]  # an unknown kind to the record reader
    stored = read_diagnoses(path)[2]
    assert stored.run_id == "r1" and stored.fail_on == {C.RESULTS}
    got = stored.diagnosis
    assert got.findings[1] == d.findings[1]
    f0 = got.findings[0]
    assert f0.category is C.RESULTS and f0.confidence is Confidence.HIGH and f0.reproducer == "repro/f1.py"
    assert math.isnan(f0.contrasts[0].good_value) and f0.contrasts[0].sources == contrast.sources
    assert got.probes[0].measured == {"order": 3.98, "err": math.inf} and got.probes[0].suite == "probe"
    assert finding_from_dict(json.loads(json.dumps(finding_to_dict(d.findings[1])))) == d.findings[1]


# --------------------------------------------------------------------------- the closing table
def _settings(tmp_path: Path, fail_on=DEFAULT_FAIL_ON) -> cli.Settings:
    st = cli._resolve(cli._check_parser().parse_args(
        ["reference", "--report", str(tmp_path / "html"), "--results", str(tmp_path / "r.jsonl")]))
    st.fail_on = frozenset(fail_on)
    return st


def test_closing_table_leads_with_findings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    st = _settings(tmp_path, parse_categories("results,gradients"))
    d = Diagnosis(findings=(
        _finding(C.CONTRACT, "outside-span", checks=("c1",), title="f is evaluated at t = 1.0005 outside [0, 1]"),
        _finding(C.RESULTS, checks=("r1", "r2", "r3", "r4", "r5", "r6", "r7"), reproducer="repro/stage_times.py",
                 title="stage times are wrong: 4th order on autonomous problems, 1st order on time-dependent ones"),
        _finding(C.GRADIENTS, "grad-sign", checks=("k1",), known="recorded upstream", title="dL/dt0 has the wrong sign"),
    ), probes=(_probe(),))
    failing = _failing("c1", "r1", "r2", "r3", "r4", "r5", "r6", "r7")
    gate = evaluate_gate(d, st.fail_on, failing)
    summary = cli.Summary(counts={"pass": 3, "fail": 8, "error": 0, "timeout": 0, "skip": 0}, expected_failures=1,
                          by_case={"lib-rk4": {"pass": 3, "fail": 8, "error": 0, "timeout": 0, "skip": 0, "expected": 1}},
                          failing=failing, unmatched_overrides=[], overrides_applied=0, n_records=12,
                          verdicts={**{c: "fail" for c in ("c1", "r1", "r2", "r3", "r4", "r5", "r6", "r7")}, "k1": "known"})
    lines = cli.render_summary(summary, st, exit_code=1, elapsed=3.0, paths={"results": "r.jsonl"}, width=None, gate=gate)
    text = "\n".join(lines)
    assert lines[1] == ("3 findings: 1 gating, 1 not gating, 1 known (--fail-on results,gradients); "
                        "the diagnosis ran 1 probe")
    head = lines[2].split()
    assert head == ["#", "gate", "category", "cause", "confidence", "checks", "title", "reproducer"]
    # gating first; one line per finding with category, cause, confidence, checks, title, reproducer
    row = lines[3]
    for part in ("GATING", "results", "stage-times", "high", " 7 ", "stage times are wrong: 4th order",
                 str(tmp_path / "html" / "repro" / "stage_times.py")):
        assert part in row, (part, row)
    assert lines[4].split() == ["FAIL", "r1"] and "... and 2 more checks" in text
    assert "not gating" in text and "outside-span" in text and "known" in text and "KNOWN    k1" in text
    # then the per-check summary as before
    assert text.index("3 findings") < text.index("  case ") < text.index("failing checks (8):")
    data = cli.summary_json(summary, st, exit_code=1, elapsed=3.0, run_id="r", pytest_status=1, paths={}, gate=gate)
    assert data["gate"]["fail_on"] == ["results", "gradients"] and data["gate"]["passed"] is False
    assert [f["status"] for f in data["findings"]] == ["not gating", "gating", "known"]
    assert data["findings"][1]["cause_key"] == "stage-times" and data["findings"][1]["category"] == "results"
    assert data["findings"][1]["checks"] == ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
    assert data["probes"] == [{"check_id": "probe.autonomous_twin[lib-rk4]", "verdict": "pass", "message": "",
                               "measured": {"order": 3.98, "err": {"$float": "inf"}}}]
    json.dumps(data, allow_nan=False)


def test_the_run_is_diagnosed_stored_and_gated(tmp_path, monkeypatch):
    """`diagnose_run` on a run's records: the engine's findings, the line in the results file,
    the gate of the selected categories."""
    monkeypatch.chdir(tmp_path)
    st = _settings(tmp_path, parse_categories("results"))
    rec = CheckRecord(check_id="properties.test_field_evaluated_only_inside_span[lib-rk4]", suite="properties",
                      check="test_field_evaluated_only_inside_span", iut="lib", method="rk4", verdict=Verdict.FAIL,
                      message="distance_outside_span = 0.0005 exceeds 8.7e-19", run_id="r1")
    append_record(st.results, rec, fsync=False)
    summary = cli.summarize([rec], st, None)
    gate = cli.diagnose_run([rec], summary, st, run_id="r1")
    assert gate.diagnosis_error == ""
    (f,) = gate.diagnosis.findings
    assert f.checks == (rec.check_id,) and f.category is C.CONTRACT
    assert gate.passed  # contract is not among the selected categories
    (stored,) = read_diagnoses(st.results).values()
    assert stored.run_id == "r1" and stored.diagnosis.findings == gate.diagnosis.findings
    assert stored.fail_on == {C.RESULTS}
    assert not evaluate_gate(gate.diagnosis, DEFAULT_FAIL_ON, summary.failing).passed


def _rec(st: cli.Settings, iut: str = "lib", **kw) -> CheckRecord:
    base = dict(check_id=f"forward_accuracy.test_error_at_end[A3-iut={iut}-method=dopri5]", suite="forward_accuracy",
                check="test_error_at_end", iut=iut, method="dopri5", problem="A3", verdict=Verdict.FAIL,
                message="error = 3e-3 exceeds 1e-6", run_id="r1")
    base.update(kw)
    rec = CheckRecord(**base)
    append_record(st.results, rec, fsync=False)
    return rec


def test_a_diagnosis_that_cannot_be_had_leaves_the_checks_gating(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import harness.diagnosis.engine as engine

    def child_fails(st, run_id, log):
        raise cli.DiagnosisChildError("seeded: the child died")

    def broken(records, **kw):
        raise RuntimeError("seeded diagnosis failure")

    monkeypatch.setattr(cli, "_diagnose_isolated", child_fails)
    st = _settings(tmp_path, parse_categories("cost"))
    rec = _rec(st)
    # the child failed: the records alone are diagnosed, in this process
    gate = cli.diagnose_run([rec], cli.summarize([rec], st, None), st, run_id="r1")
    assert "seeded: the child died" in gate.diagnosis_error and "records alone" in gate.diagnosis_error
    assert {c for f in gate.diagnosis.findings for c in f.checks} == {rec.check_id} and not gate.undiagnosed
    # no diagnosis at all: the failing check is undiagnosed and gates whatever the categories
    monkeypatch.setattr(engine, "diagnose", broken)
    st.results = tmp_path / "second.jsonl"
    rec = _rec(st)
    gate = cli.diagnose_run([rec], cli.summarize([rec], st, None), st, run_id="r1")
    assert not gate.passed and "seeded diagnosis failure" in gate.diagnosis_error
    assert [x["check_id"] for x in gate.undiagnosed] == [rec.check_id]
    assert not read_diagnoses(st.results)  # nothing stored that would mislead the report


@pytest.mark.slow
def test_an_implementation_that_segfaults_in_a_probe_costs_the_probes_not_the_run(tmp_path, monkeypatch):
    """The probes run in a child process: a segfault there leaves the verdict to the records."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    st = _settings(tmp_path)
    rec = _rec(st, iut="tests.fixtures.faulty_segfault:odeint")
    gate = cli.diagnose_run([rec], cli.summarize([rec], st, None), st, run_id="r1", log=tmp_path / "run.log")
    assert "killed by signal SIGSEGV" in gate.diagnosis_error, gate.diagnosis_error
    assert not gate.passed and {c for f in gate.diagnosis.findings for c in f.checks} == {rec.check_id}
    assert "--- diagnosis (probes) ---" in (tmp_path / "run.log").read_text()


# --------------------------------------------------------------------------- acceptance 4 (subprocess)
MUTANT = "harness.mutants:evaluates_outside_span"
# the contract check that catches it, and a results check that shows its results are right
SELECT = "test_field_evaluated_only_inside_span or (test_error_at_end and A3 and 1e-05)"


@pytest.mark.slow
def test_contract_only_defect_passes_with_fail_on_results_gradients(tmp_path):
    from tests.test_cli import run_cli

    base = ["check", MUTANT, "--method", "dopri5", "--select", SELECT, "--jobs", "1"]

    def run(args: list[str], out: Path):  # results and JSON summary; no report, no JUnit (time)
        return run_cli([*args, "--results", str(out / "results.jsonl"), "--json", str(out / "summary.json")],
                       out, outputs=False)

    with ThreadPoolExecutor(max_workers=2) as pool:
        narrow = pool.submit(run, [*base, "--fail-on", "results,gradients"], tmp_path / "narrow")
        default = pool.submit(run, base, tmp_path / "default")
        narrow_run, default_run = narrow.result(), default.result()
    for run in (narrow_run, default_run):
        assert not run.timed_out and "Traceback" not in run.stderr + run.stdout, run.stderr[-3000:]
        s = run.summary
        assert s["counts"]["pass"] >= 1 and s["counts"]["fail"] == 1  # results right, contract broken
        (f,) = s["findings"]
        assert f["category"] == "contract" and f["iut"] == MUTANT
        assert f["checks"] == [x["check_id"] for x in s["failing"]]
        assert "test_field_evaluated_only_inside_span" in f["checks"][0]
        assert f["title"] in run.stdout or f["title"][:80] in run.stdout
    assert narrow_run.returncode == 0, narrow_run.stdout[-3000:]
    s = narrow_run.summary
    assert s["exit_code"] == 0 and s["gate"] == {**s["gate"], "passed": True, "gating": 0, "not_gating": 1,
                                                 "fail_on": ["results", "gradients"]}
    assert s["findings"][0]["status"] == "not gating"
    assert "1 finding: 0 gating, 1 not gating (--fail-on results,gradients)" in narrow_run.stdout
    assert default_run.returncode == 1, default_run.stdout[-3000:]
    s = default_run.summary
    assert s["exit_code"] == 1 and s["gate"]["passed"] is False and s["gate"]["gating"] == 1
    assert s["findings"][0]["status"] == "gating"
    assert "1 finding: 1 gating (--fail-on all)" in default_run.stdout
    # the diagnosis is stored with the results, with the categories the gate failed on
    (stored,) = read_diagnoses(narrow_run.out_dir / "results.jsonl").values()
    assert stored.fail_on == {C.RESULTS, C.GRADIENTS} and stored.run_id == narrow_run.summary["run_id"]
