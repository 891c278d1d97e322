"""The known-findings table (suites/known_findings.py) matches exactly the cases it describes:
a typo in an implementation, method or check name would silently match nothing."""

from __future__ import annotations

import importlib
import re

import pytest

from harness.implementations import load_implementation
from harness.profiles import PROFILES
from harness.problems import problem_names
from suites.known_findings import KNOWN_FINDINGS, finding_for

from .conftest import require_torchdyn

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
