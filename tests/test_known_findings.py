"""The known-findings table (suites/known_findings.py) matches exactly the cases it describes:
a typo in an implementation, method or check name would silently match nothing."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.implementations import load_implementation
from harness.profiles import PROFILES
from harness.problems import problem_names
from harness.results import load_records
from suites.known_findings import KNOWN_FINDINGS, Finding, Raised, finding_for

from .conftest import require_torchdyn
from .fixtures.recorded_crash import CHECK, EVIDENCE, IUTS, MESSAGE

REPO = Path(__file__).resolve().parent.parent

SUITES = ("test_forward_accuracy", "test_convergence_order", "test_gradients", "test_properties",
          "test_benchmarks")
_CHECKS = {name for mod in SUITES for name in dir(importlib.import_module(f"suites.{mod}"))
           if name.startswith("test_")}


@pytest.mark.parametrize("finding", KNOWN_FINDINGS, ids=lambda f: f"{f.iut}-{'+'.join(f.methods)}-{f.checks[0]}")
def test_every_finding_names_real_cases(finding):
    iuts = (finding.iut,) if isinstance(finding.iut, str) else finding.iut
    if any(iut.startswith("torchdyn") for iut in iuts):
        require_torchdyn()
    for iut in iuts:
        impl = load_implementation(iut)
        assert set(finding.methods) <= set(impl.methods), (iut, finding.methods)
    for check in finding.checks:
        assert re.sub(r"\[.*\]$", "", check) in _CHECKS, check
    assert set(finding.problems) <= set(problem_names()), finding.problems
    assert set(finding.profiles) <= set(PROFILES), finding.profiles
    assert finding.evidence.strip()


def test_a_finding_may_name_several_implementations():
    for iut in ("torchdiffeq", "torchdiffeq-adjoint"):
        assert finding_for(iut, "bosh3", "test_error_at_end", "A3", "quick") is not None
    assert finding_for("reference", "bosh3", "test_error_at_end", "A3", "quick") is None


def test_problem_and_profile_keys_restrict_a_finding():
    contracting = ("reference-adjoint", "dopri5", "test_adjoint_on_contracting_problem")
    assert finding_for(*contracting, "contracting-diag", "quick") is not None
    assert finding_for(*contracting, "mlp-tanh", "quick") is None
    deep = ("torchdiffeq", "dopri8", "test_error_falls_with_tolerance", None)
    assert finding_for(*deep, "standard") is not None and finding_for(*deep, "thorough") is not None
    assert finding_for(*deep, "quick") is None


def test_dopri8_float32_is_not_claimed():
    assert finding_for("torchdiffeq", "dopri8", "test_error_float32", "A3", "standard") is None
    assert finding_for("torchdiffeq", "bosh3", "test_error_float32", "A3", "standard") is not None


def test_torchdyn_findings_are_keyed_to_their_causes():
    """rk4's stage-time defect only where f depends on t; the one-point IndexError for every method."""
    assert finding_for("torchdyn", "rk4", "test_error_at_end", "A3", "standard") is not None
    assert finding_for("torchdyn", "rk4", "test_error_at_end", "B4", "standard") is None  # autonomous
    for method in ("dopri5", "euler"):
        assert finding_for("torchdyn", method, "test_one_time_point_returns_y0", None, "quick") is not None
    assert finding_for("torchdyn-adjoint", "dopri5", "test_grad_y0_vs_forward_sensitivity", "mlp-tanh-t", "quick")


# --------------------------------------------------------------------------- recorded exceptions
def test_a_finding_covers_only_the_exceptions_it_records():
    """`Finding.raises`: the exception's type name exactly and a fragment of its message."""
    f = Finding(iut="x", methods=("m",), checks=("c",), evidence="e",
                raises=(Raised("IndexError", "out of bounds"),))
    case = ("x", "m", "c", None, "quick")
    assert f.matches(*case)  # the case itself, no exception
    assert f.matches(*case, IndexError("index 1 is out of bounds for dimension 0 with size 1"))
    assert not f.matches(*case, IndexError("list index"))             # another message
    assert not f.matches(*case, ValueError("index 1 is out of bounds"))  # another type
    assert not f.matches(*case, KeyError("out of bounds"))            # a subclass of LookupError, not IndexError
    assert not f.matches("y", "m", "c", None, "quick", IndexError("out of bounds"))  # another case
    plain = Finding(iut="x", methods=("m",), checks=("c",), evidence="e")
    assert not plain.matches(*case, IndexError("out of bounds"))      # records no exception


def test_torchdyn_one_point_index_error_is_on_record():
    one = ("torchdyn", "euler", "test_one_time_point_returns_y0", None, "standard")
    assert finding_for(*one, IndexError("index 1 is out of bounds for dimension 0 with size 1")) is not None
    assert finding_for(*one, RuntimeError("index 1 is out of bounds for dimension 0 with size 1")) is None
    # the span check's one-point example raises it too: the one-point entry covers it there
    span = ("torchdyn", "dopri5", "test_field_evaluated_only_inside_span", None, "standard")
    assert "t of one point" in finding_for(*span, IndexError("index 1 is out of bounds for dimension 0 with size 1")).evidence


def _pytest_run(iut: str, out: Path) -> tuple[int, list]:
    """The suites' forward check on A3 at one tolerance for `iut`, in a pytest process that has
    the seeded finding of tests/fixtures/recorded_crash.py in its table (one process, no xdist)."""
    results = out / "results.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO), CI="1")
    env.pop("ODE_HARNESS_RUN_ID", None)
    p = subprocess.run([sys.executable, "-m", "pytest", "suites/test_forward_accuracy.py", "-q", "-p", "no:cacheprovider",
                        "-p", "tests.fixtures.recorded_crash", "--ode-impl", iut, "--ode-method", "dopri5",
                        "--ode-results", str(results), "-k", f"{CHECK} and A3 and 1e-05"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, load_records(results).records


@pytest.mark.slow
def test_recorded_exception_is_a_known_finding_another_stays_an_error(tmp_path):
    """End to end through the plugin: the seeded implementation that raises the recorded
    IndexError gets an expected failure (category robustness, cause crash, the evidence and the
    exception in the record) and the run passes; the one that raises a ValueError with the same
    message in the same check gets an error verdict and the run fails."""
    rc, recs = _pytest_run(IUTS[0], tmp_path / "recorded")
    (rec,) = recs
    assert rc == 0 and rec.verdict.value == "fail", (rc, rec)
    assert rec.extra["expected_failure"] == f"known finding: {EVIDENCE}"
    assert rec.extra["expected_category"] == "robustness" and rec.extra["expected_cause"] == "crash"
    assert rec.message == f"IndexError: {MESSAGE}"
    rc, recs = _pytest_run(IUTS[1], tmp_path / "other")
    (rec,) = recs
    assert rc == 1 and rec.verdict.value == "error", (rc, rec)
    assert "expected_failure" not in rec.extra and rec.message == f"ValueError: {MESSAGE}"
