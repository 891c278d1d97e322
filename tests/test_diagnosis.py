"""The diagnosis engine (issue 11): findings from check records, causes told apart by measured
contrasts, probes through the implementation under test."""

from __future__ import annotations

from harness.diagnosis import UNEXPLAINED, Category
from harness.diagnosis.engine import diagnose
from harness.results import CheckRecord, Verdict


def _rec(check: str, suite: str, verdict: Verdict, *, problem: str = "A1", message: str = "",
         iut: str = "x", method: str = "dopri5", **kw) -> CheckRecord:
    return CheckRecord(check_id=f"{suite}.{check}[{iut}-{method}-{problem}]", suite=suite, check=check,
                       iut=iut, method=method, problem=problem, verdict=verdict, message=message, **kw)


def test_fallback_every_failing_check_is_its_own_unexplained_finding():
    recs = [
        _rec("test_error_at_end", "forward_accuracy", Verdict.PASS),
        _rec("test_error_at_end", "forward_accuracy", Verdict.FAIL, problem="A3", message="error = 1 exceeds 0.1"),
        _rec("test_grad_y0_vs_forward_sensitivity", "gradients", Verdict.FAIL),
        _rec("test_inputs_not_mutated", "properties", Verdict.FAIL),
        _rec("test_flow_property", "properties", Verdict.FAIL),
        _rec("test_nfe_per_tolerance", "benchmarks", Verdict.FAIL),
        _rec("test_error_float32", "forward_accuracy", Verdict.ERROR, message="RuntimeError: boom"),
        _rec("test_error_batched", "forward_accuracy", Verdict.TIMEOUT),
        _rec("test_error_batched", "forward_accuracy", Verdict.SKIP, problem="B1"),
    ]
    diag = diagnose(recs, run_probes=False)
    got = {f.checks: (f.cause_key, f.category) for f in diag.findings}
    assert all(c == UNEXPLAINED for c, _ in got.values())
    by_check = {ids[0].split("[")[0]: cat for ids, (_, cat) in got.items()}
    assert by_check == {
        "forward_accuracy.test_error_at_end": Category.RESULTS,
        "gradients.test_grad_y0_vs_forward_sensitivity": Category.GRADIENTS,
        "properties.test_inputs_not_mutated": Category.CONTRACT,
        "properties.test_flow_property": Category.RESULTS,
        "benchmarks.test_nfe_per_tolerance": Category.COST,
        "forward_accuracy.test_error_float32": Category.ROBUSTNESS,
        "forward_accuracy.test_error_batched": Category.ROBUSTNESS,
    }
    assert len(diag.findings) == 7 and not diag.gate()
    assert "error = 1 exceeds 0.1" in next(f.title for f in diag.findings if "A3" in f.checks[0])


def test_no_failing_check_no_finding():
    recs = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS),
            _rec("test_error_batched", "forward_accuracy", Verdict.SKIP)]
    diag = diagnose(recs, run_probes=False)
    assert diag.findings == () and diag.gate()
