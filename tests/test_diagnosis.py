"""The diagnosis engine (issue 11): findings from check records, causes told apart by measured
contrasts, probes through the implementation under test.

Rules that read the run's own records are tested on constructed records; rules that need a
probe are tested live on the one seeded bug they name (harness.mutants, or a seeded bug here
where the catalog has none), from a single failing record: the probe has to find the cause.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from harness import mutants
from harness.diagnosis import UNEXPLAINED, Category, Confidence
from harness.diagnosis.engine import diagnose
from harness.diagnosis.known import match_known
from harness.diagnosis.facts import fact_of
from harness.diagnosis.probes import Prober
from harness.implementations import load_implementation
from harness.results import CheckRecord, Verdict

ADAPTIVE = {"order": 5, "dense_order": 4, "adaptive": True, "t_grad": True, "adjoint": False}
FIXED4 = {"order": 4, "dense_order": 4, "adaptive": False, "t_grad": True, "adjoint": False}


def _rec(check: str, suite: str, verdict: Verdict = Verdict.FAIL, *, problem: str = "A1", message: str = "",
         iut: str = "x", method: str = "dopri5", claims: dict | None = None, tag: str = "", **kw) -> CheckRecord:
    return CheckRecord(check_id=f"{suite}.{check}[{problem}{tag}-{iut}-{method}]", suite=suite, check=check,
                       iut=iut, method=method, problem=problem, verdict=verdict, message=message,
                       extra={"claims": dict(claims or ADAPTIVE)}, **kw)


def _causes(diag) -> list[str]:
    return [f.cause_key for f in diag.findings]


# ------------------------------------------------------------------ fallback and categories
def test_fallback_every_unexplained_failing_check_is_its_own_finding():
    recs = [
        _rec("test_error_at_end", "forward_accuracy", Verdict.PASS),
        _rec("test_error_at_end", "forward_accuracy", problem="A3", message="error = 1 exceeds 0.1",
             measured={"error": 1.0}, threshold=0.1),
        _rec("test_grad_y0_vs_forward_sensitivity", "gradients"),
        _rec("test_flow_property", "properties"),
        _rec("test_error_batched", "forward_accuracy", Verdict.SKIP, problem="B1"),
        _rec("test_error_at_end", "forward_accuracy", Verdict.ERROR, problem="B4",
             message="harness error: KeyError: 'x'"),
    ]
    diag = diagnose(recs, run_probes=False)  # no probe: the forward and gradient rules stand back
    assert _causes(diag) == [UNEXPLAINED] * 4
    cats = {f.checks[0].split("[")[0] + f.checks[0].split("[")[1][:2]: f.category for f in diag.findings}
    assert cats == {"forward_accuracy.test_error_at_endA3": Category.RESULTS,
                    "gradients.test_grad_y0_vs_forward_sensitivityA1": Category.GRADIENTS,
                    "properties.test_flow_propertyA1": Category.RESULTS,
                    "forward_accuracy.test_error_at_endB4": Category.ROBUSTNESS}
    assert not diag.gate()
    assert "error = 1 exceeds 0.1" in next(f.title for f in diag.findings if "A3" in f.checks[0])


def test_no_failing_check_no_finding_and_no_probe():
    recs = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS),
            _rec("test_error_batched", "forward_accuracy", Verdict.SKIP)]
    diag = diagnose(recs, impl_spec="reference")
    assert diag.findings == () and diag.probes == () and diag.gate()


# ------------------------------------------------------------------ rules on the run's records
def test_direct_contract_and_robustness_rules():
    recs = [
        _rec("test_inputs_not_mutated", "properties", message="y0 changed"),
        _rec("test_without_grad_inputs_not_mutated", "properties", Verdict.PASS),
        _rec("test_deterministic", "properties"),
        _rec("test_field_evaluated_only_inside_span", "properties",
             measured={"t": [0.0, 1.0], "t_seen_min": 0.0, "t_seen_max": 1.5}),
        _rec("test_without_grad_shapes_and_dtypes_kept", "properties", message="dtype float32, expected float64"),
        _rec("test_without_grad_one_time_point_returns_y0", "properties", message="elements_differing_from_y0 = 3",
             measured={"shape": [3], "dtype": "float64", "t0": 0.0, "out_shape": [3], "out_dtype": "float64"}),
        _rec("test_one_time_point_returns_y0", "properties", message="y(t0) = 0.1 differs from y0"),
        _rec("test_without_grad_zero_field_keeps_y_constant", "properties"),
        _rec("test_error_at_end", "forward_accuracy", Verdict.TIMEOUT, problem="B5"),
        _rec("test_error_at_end", "forward_accuracy", Verdict.ERROR, problem="C1", message="ValueError: bad"),
        _rec("test_error_at_end", "forward_accuracy", Verdict.ERROR, problem="C2", message="ValueError: worse"),
        _rec("test_linear_systems_match_expm", "properties", message="non-finite output: ys[1, 0] = nan"),
        _rec("test_nfe_per_tolerance", "benchmarks", message="nfe = 900 exceeds 600", measured={"nfe": 900},
             threshold=600),
    ]
    diag = diagnose(recs, run_probes=False)
    got = {f.cause_key: f for f in diag.findings}
    assert sorted(got) == sorted(["input-mutation", "nondeterminism", "outside-span", "shape-dtype-device",
                                  "one-time-point", "precision-loss", "hang", "crash", "nan", "cost-nfe"])
    assert len(got["shape-dtype-device"].checks) == 2      # the squeezed one-point output is the same defect
    assert len(got["crash"].checks) == 2 and "ValueError" in got["crash"].title
    assert got["input-mutation"].confidence == Confidence.HIGH  # the grad-free twin passed
    assert got["cost-nfe"].category == Category.COST and got["cost-nfe"].contrasts[0].bad_value == 1.5
    assert got["hang"].category == Category.ROBUSTNESS


def test_dense_output_rule_contrasts_interior_with_step_ends():
    recs = [
        _rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="A3", tag="-tol=1e-08",
             measured={"error": 2e-9, "tol": 1e-8}, message="error = 2e-09"),
        _rec("test_error_at_interior_times", "forward_accuracy", problem="A3", measured={"error_interior": 3e-5, "tol": 1e-8},
             threshold=1e-6, message="error_interior = 3e-05 exceeds 1e-06"),
        _rec("test_dense_output_order_adaptive", "convergence_order", problem="B4[0,2]"),
        _rec("test_grad_params_vs_forward_sensitivity", "gradients", problem="mlp-tanh-t"),
    ]
    diag = diagnose(recs, run_probes=False)
    assert _causes(diag) == ["dense-output"] and len(diag.findings[0].checks) == 3
    c = diag.findings[0].contrasts[0]
    assert (c.bad_value, c.good_value) == (3e-5, 2e-9)
    # without the passing step-end twin the contrast is missing: no diagnosis
    diag = diagnose(recs[1:], run_probes=False)
    assert UNEXPLAINED in _causes(diag) and "dense-output" not in _causes(diag)
    # nor without a measured interior error worse than that problem's step ends (an order fit
    # alone, or the interior no worse than the end: torchdyn's adjoints and tsit5, whose float32
    # internals hurt both alike)
    diag = diagnose([recs[0], recs[2], recs[3]], run_probes=False)
    assert "dense-output" not in _causes(diag)
    worse_end = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="A3", tag="-tol=1e-08",
                      measured={"error": 5e-5, "tol": 1e-8}), recs[1]]
    assert "dense-output" not in _causes(diagnose(worse_end, run_probes=False))


def _linear_output(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None, past=0.25):
    """A seeded dense-output bug: solves (reference dopri5) onto the grid t0 + span * k/4 up to
    (1 + past) * span, and returns every output time by linear interpolation between its nodes;
    past > 0 steps past t1 (as torchdiffeq does), past = 0 lands on it."""
    import reference

    t0, t1 = float(t[0]), float(t[-1])
    nodes = torch.tensor([t0 + (t1 - t0) * k / 4 for k in range(int(4 * (1 + past)) + 1)], dtype=t.dtype)
    ys = reference.odeint(func, y0, nodes, rtol=rtol, atol=atol, method="dopri5")
    idx = torch.clamp(torch.searchsorted(nodes, t.detach(), right=True) - 1, 0, len(nodes) - 2)
    w = ((t - nodes[idx]) / (nodes[idx + 1] - nodes[idx])).reshape(-1, *([1] * y0.dim()))
    return ys[idx] + w * (ys[idx + 1] - ys[idx])


def _landing_linear_output(func, y0, t, **kw):
    return _linear_output(func, y0, t, past=0.0, **kw)


@pytest.mark.parametrize("spec, claimed", [(f"{__name__}:_linear_output", True),
                                           (f"{__name__}:_landing_linear_output", False)])
def test_dense_output_claims_the_last_output_when_the_solver_steps_past_it(spec, claimed):
    """The step-end checks failing with the interior ones belong to the dense-output finding only
    when a probe measures f evaluated past t1 (the last output read off the interpolant too); a
    solver landing on t1 leaves them unexplained (seeded bug, both ways)."""
    recs = [
        _rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="A3", tag="-tol=1e-08", iut=spec,
             measured={"error": 2e-9, "tol": 1e-8}),
        _rec("test_error_at_interior_times", "forward_accuracy", problem="A3", iut=spec,
             measured={"error_interior": 3e-5, "tol": 1e-8}, threshold=1e-6),
        _rec("test_error_at_end", "forward_accuracy", problem="mlp-tanh-t", tag="-tol=1e-08", iut=spec),
        _rec("test_error_batched", "forward_accuracy", problem="mlp-tanh-t", iut=spec),
    ]
    diag = diagnose(recs, time_budget_s=60.0)
    dense = [f for f in diag.findings if f.cause_key == "dense-output"]
    assert len(dense) == 1
    if claimed:
        assert _causes(diag) == ["dense-output"] and len(dense[0].checks) == 3, [f.title for f in diag.findings]
        c = dense[0].contrasts[1]
        assert c.sources == (f"probe.steps_past_last_output[{spec}-dopri5]",)
        assert c.bad_value == pytest.approx(2.5) and c.good_value == 2.0
    else:
        assert len(dense[0].checks) == 1 and _causes(diag).count(UNEXPLAINED) == 2, [f.title for f in diag.findings]


def test_batch_rule_needs_the_unbatched_twin_to_pass():
    recs = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS),
            _rec("test_batch_independence", "properties", measured={"element_difference": 0.17}),
            _rec("test_error_batched", "forward_accuracy")]
    assert _causes(diagnose(recs, run_probes=False)) == ["batch-coupling"]
    assert "batch-coupling" not in _causes(diagnose(recs[1:], run_probes=False))
    # error_batched needs its own problem's error_at_end to pass, at every tolerance: a problem whose
    # unbatched solve fails too (or is not there) is no contrast
    other = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="A3"),
             _rec("test_error_batched", "forward_accuracy", problem="D3")]
    assert "batch-coupling" not in _causes(diagnose(other, run_probes=False))
    both = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="D3", tag="-tol=1e-04"),
            _rec("test_error_at_end", "forward_accuracy", problem="D3", tag="-tol=1e-10"),
            _rec("test_error_batched", "forward_accuracy", problem="D3")]
    assert "batch-coupling" not in _causes(diagnose(both, run_probes=False))
    twin = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="D3"),
            _rec("test_error_batched", "forward_accuracy", problem="D3")]
    assert _causes(diagnose(twin, run_probes=False)) == ["batch-coupling"]


def test_reverse_rule_claims_the_mirrored_span():
    recs = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="A3"),
            _rec("test_error_in_reverse_time", "forward_accuracy", problem="A3"),
            _rec("test_field_evaluated_only_inside_span", "properties",
                 measured={"t": [0.0, -1.0], "t_seen_min": 0.0, "t_seen_max": 1.0})]
    diag = diagnose(recs, run_probes=False)
    assert _causes(diag) == ["reverse-time"] and len(diag.findings[0].checks) == 2
    # f outside the span of an increasing t is its own defect
    recs[2] = _rec("test_field_evaluated_only_inside_span", "properties",
                   measured={"t": [0.0, 1.0], "t_seen_min": 0.0, "t_seen_max": 1.2})
    assert sorted(_causes(diagnose(recs, run_probes=False))) == ["outside-span", "reverse-time"]


def test_contracting_drift_reads_the_reconstruction_error():
    m = {"reconstruction_error": 0.019, "grad_y0_error": 1.8e-9, "grad_y0_bound": 3.7e-4,
         "grad_params_error": 2.8e-2, "grad_params_bound": 2.2e-4, "max_error_over_bound": 126.0}
    recs = [_rec("test_adjoint_on_contracting_problem", "gradients", problem="contracting-diag", measured=m),
            _rec("test_grad_params_vs_forward_sensitivity", "gradients", problem="contracting-diag")]
    diag = diagnose(recs, run_probes=False)
    assert _causes(diag) == ["grad-reconstruction-drift"] and len(diag.findings[0].checks) == 2
    # dL/dy0 off too: not the reconstruction's signature
    recs[0] = _rec("test_adjoint_on_contracting_problem", "gradients", problem="contracting-diag",
                   measured=dict(m, grad_y0_error=1.0))
    assert "grad-reconstruction-drift" not in _causes(diagnose(recs, run_probes=False))


# ------------------------------------------------------------------ known findings
class _Known:
    def __init__(self, iut, methods, cause, evidence):
        self.iut, self.methods, self.cause, self.evidence = iut, methods, cause, evidence


def test_known_findings_match_on_iut_method_and_cause_only():
    recs = [_rec("test_inputs_not_mutated", "properties", iut="lib", method="m1"),
            _rec("test_deterministic", "properties", iut="lib", method="m1")]
    entries = [_Known(("lib", "lib-adjoint"), ("m1",), "input-mutation", "writes y0 (measured)"),
               _Known("lib", ("m2",), "nondeterminism", "other method")]
    diag = diagnose(recs, run_probes=False, known=entries)
    by = {f.cause_key: f for f in diag.findings}
    assert by["input-mutation"].expected == "writes y0 (measured)"
    assert by["nondeterminism"].expected is None
    assert [f.cause_key for f in diag.failing(frozenset(Category))] == ["nondeterminism"]
    # an unexplained check marked as an expected failure by the suites keeps its evidence
    rec = _rec("test_flow_property", "properties", iut="lib", method="m1")
    rec.extra["expected_failure"] = "known: flow"
    (f,) = diagnose([rec], run_probes=False, known=entries).findings
    assert f.unexplained and f.expected == "known: flow"
    assert match_known((), {}, entries) == ()


# ------------------------------------------------------------------ probes, live, one seeded bug each
def _live(spec: str, method: str, claims: dict, *failing: tuple[str, str], budget: float = 60.0, problem="A3"):
    recs = [_rec("test_error_at_end", "forward_accuracy", Verdict.PASS, problem="B1", iut=spec, method=method,
                 claims=claims)]
    recs += [_rec(check, suite, problem=problem, iut=spec, method=method, claims=claims) for check, suite in failing]
    return diagnose(recs, time_budget_s=budget)


_END = ("test_error_at_end", "forward_accuracy")
_GRAD = ("test_grad_y0_vs_forward_sensitivity", "gradients")


@pytest.mark.parametrize("mutant, method, claims, cause", [
    ("wrong_weight_rk4", "rk4", FIXED4, "wrong-coefficient"),
    ("dropped_last_partial_step", "rk4", FIXED4, "last-partial-step"),
    ("perturbed_coefficient_dopri5", "dopri5", ADAPTIVE, "wrong-coefficient"),
    ("tolerance_ignored", "dopri5", ADAPTIVE, "error-control"),
    ("float32_internal", "dopri5", ADAPTIVE, "precision-loss"),
])
def test_forward_probes_name_the_seeded_cause(mutant, method, claims, cause):
    diag = _live(f"harness.mutants:{mutant}", method, claims, _END, _GRAD)
    assert _causes(diag) == [cause], [f.title for f in diag.findings]
    (f,) = diag.findings
    assert len(f.checks) == 2 and f.confidence == Confidence.HIGH   # the gradient is a consequence
    assert f.contrasts and all(s.startswith("probe.") for s in f.contrasts[0].sources)
    assert diag.probes and all(p.suite == "probe" for p in diag.probes)
    assert any(p.verdict == Verdict.FAIL for p in diag.probes)


def _stage_times_rk4(func, y0, t, *, rtol=1e-7, atol=1e-9, method="rk4", options=None):
    """rk4 whose stage times are t, t + h/2, t + h/2, t + h/2 (c_4 = 1/2 instead of 1): the
    weights are right, so the order is kept where f does not depend on t (torchdyn 1.0.6's bug
    is of this kind, suites/known_findings.py)."""
    tab = mutants._with_tableau("rk4", c=(Fraction(0), Fraction(1, 2), Fraction(1, 2), Fraction(1, 2)))
    with mutants._tableau_swapped(tab):
        return mutants._solve(func, y0, t, rtol, atol, "rk4", options)


def _estimate_shrunk_dopri5(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """dopri5 whose error estimate is 1/1000 of the true one (b_hat moved to b - (b - b_hat)/1000):
    the steps still follow the tolerance, but each commits ~1000x it (loose error control, like
    torchdiffeq fehlberg2's estimate, suites/known_findings.py)."""
    base = mutants.TABLEAUS["dopri5"]
    b_hat = tuple(b - (b - bh) / 1000 for b, bh in zip(base.b, base.b_hat))
    with mutants._tableau_swapped(mutants._with_tableau("dopri5", b_hat=b_hat)):
        return mutants._solve(func, y0, t, rtol, atol, "dopri5", options)


def test_loose_error_control_is_told_from_an_interpolated_end():
    """Error proportional to the tolerance but hundreds of times it: error control too loose (the
    seeded bug); the reference, whose error stays within a few tolerance units, gets no finding
    from the same records."""
    diag = _live(f"{__name__}:_estimate_shrunk_dopri5", "dopri5", ADAPTIVE, _END)
    assert _causes(diag) == ["error-control"], [f.title for f in diag.findings]
    c = diag.findings[0].contrasts[0]
    assert c.bad_value > 50 and "tolerance units" in c.quantity
    ref = _live("reference", "dopri5", ADAPTIVE, _END)
    assert _causes(ref) == [UNEXPLAINED]


def test_stage_times_probe_contrasts_the_autonomous_twin():
    diag = _live(f"{__name__}:_stage_times_rk4", "rk4", FIXED4, _END)
    assert _causes(diag) == ["stage-times"], [f.title for f in diag.findings]
    c = diag.findings[0].contrasts[0]
    assert c.bad_value < 3.5 and c.good_value > 3.8   # order on rotation-t against rotation


def test_reverse_probe():
    diag = _live("harness.mutants:reverse_time_ignored", "dopri5", ADAPTIVE,
                 ("test_error_in_reverse_time", "forward_accuracy"))
    assert _causes(diag) == ["reverse-time"] and diag.findings[0].confidence == Confidence.HIGH


@pytest.mark.parametrize("mutant, claims, cause", [
    ("gradients_scaled", ADAPTIVE, "grad-scale"),
    ("t_gradient_sign_flipped", ADAPTIVE, "grad-sign"),
    ("missing_y0_gradient", ADAPTIVE, "grad-missing"),
    ("adjoint_param_grad_sign", dict(ADAPTIVE, adjoint=True), "grad-sign"),
    ("adjoint_ignores_intermediate_cotangents", dict(ADAPTIVE, adjoint=True), "grad-dropped-cotangents"),
    ("adjoint_wrong_time", dict(ADAPTIVE, adjoint=True), "grad-wrong-time"),
    ("adjoint_crude_backward", dict(ADAPTIVE, adjoint=True), "grad-reconstruction-drift"),
])
def test_gradient_probes_name_the_seeded_cause(mutant, claims, cause):
    diag = _live(f"harness.mutants:{mutant}", "dopri5", claims, _GRAD,
                 ("test_grad_params_vs_forward_sensitivity", "gradients"), problem="mlp-tanh-t")
    assert _causes(diag) == [cause], [f.title for f in diag.findings]
    assert diag.findings[0].category == Category.GRADIENTS and len(diag.findings[0].checks) == 2


def test_probes_find_nothing_on_the_reference():
    """The probes' thresholds leave the correct solvers alone (each rule's probe, on its base)."""
    for spec, method, claims in (("reference", "dopri5", ADAPTIVE), ("reference", "rk4", FIXED4),
                                 ("reference-adjoint", "dopri5", dict(ADAPTIVE, adjoint=True))):
        pr = Prober(spec, method, load_implementation(spec).odeint, claims, lambda: 60.0)
        runs = ([pr.tolerance_sweep(False), pr.tolerance_sweep(True)] if claims["adaptive"] else
                [pr.fixed_order(False), pr.fixed_order(True), pr.partial_last_step()])
        if spec == "reference":
            runs += [pr.zero_field_precision(grad_mode="grad"), pr.reverse_time(), pr.steps_past_last_output()]
        runs += [pr.gradients(False), pr.gradients(False, last_only=True)]
        assert [r.name for r in runs if r.verdict != Verdict.PASS] == [], [(r.name, r.message) for r in runs]


def test_probe_budget_and_hang_bounded(monkeypatch):
    # no time left: no probe runs, the check stays unexplained
    diag = _live("harness.mutants:tolerance_ignored", "dopri5", ADAPTIVE, _END, budget=0.0)
    assert _causes(diag) == [UNEXPLAINED] and diag.probes == ()
    # a hanging implementation costs the probe's limit, and the probe says so
    monkeypatch.setattr("harness.diagnosis.probes.PROBE_TIMEOUT_S", 1.5)
    pr = Prober("hang", "dopri5", mutants.hang, ADAPTIVE, lambda: 60.0)
    res = pr.zero_field_precision(grad_mode="grad")
    assert res is not None and res.verdict == Verdict.TIMEOUT and res.record.suite == "probe"
    # an exception of the implementation is a measurement, not a crash of the diagnosis
    def raises(*a, **k):
        raise RuntimeError("boom")
    res = Prober("raises", "dopri5", raises, ADAPTIVE, lambda: 60.0).reverse_time()
    assert res.verdict == Verdict.ERROR and "RuntimeError: boom" in res.message


def test_fact_accessor_reads_headline_and_ratio():
    f = fact_of(_rec("test_error_at_end", "forward_accuracy", message="error = 3.5e-06 exceeds 1.1e-06",
                     measured={"error": 3.5e-6, "tol": 1e-8}, threshold=1.1e-6))
    assert f.check == "error_at_end" and f.headline == 3.5e-6 and abs(f.ratio - 3.5 / 1.1) < 1e-12


def test_every_known_finding_names_causes_of_the_contract():
    from harness.diagnosis.model import CAUSES
    from suites.known_findings import KNOWN_FINDINGS

    for k in KNOWN_FINDINGS:
        causes = (k.cause,) if isinstance(k.cause, str) else k.cause
        assert causes and all(c in CAUSES for c in causes), (k.iut, k.methods, k.cause)
        if k.raises:  # a recorded exception is matched as a crash
            assert "crash" in causes, (k.iut, k.methods)


def test_recorded_crash_is_a_crash_finding_matched_to_its_known_entry():
    rec = _rec("test_one_time_point_returns_y0", "properties", iut="lib", method="m1",
               message="IndexError: index 1 is out of bounds")
    rec.extra.update(expected_failure="known finding: t of one point", expected_cause="crash")
    entries = [_Known("lib", ("m1",), ("crash", "one-time-point"), "t of one point raises")]
    (f,) = diagnose([rec], run_probes=False, known=entries).findings
    assert f.cause_key == "crash" and f.expected == "t of one point raises" and "IndexError" in f.title


def test_every_mutant_has_a_seeded_cause_of_the_contract():
    from harness.diagnosis.catalog import SEEDED_CAUSE
    from harness.diagnosis.model import CAUSES

    assert set(SEEDED_CAUSE) == {m.name for m in mutants.MUTANTS}
    assert all(c in CAUSES for c in SEEDED_CAUSE.values())


def test_output_contract_probe_explains_exactness_failures_of_a_float32_output():
    diag = _live("harness.mutants:float32_output_without_autograd", "dopri5", ADAPTIVE,
                 ("test_without_grad_shapes_and_dtypes_kept", "properties"),
                 ("test_zero_field_keeps_y_constant", "properties"))
    assert _causes(diag) == ["shape-dtype-device"] and len(diag.findings[0].checks) == 2
    # the same exactness failure without a broken contract is a zero field moving y
    diag = _live("harness.mutants:centred_state_without_autograd", "dopri5", ADAPTIVE,
                 ("test_without_grad_zero_field_keeps_y_constant", "properties"))
    assert _causes(diag) == ["precision-loss"]


def test_zero_dl_dt_at_grid_outputs_is_a_missing_gradient_not_dropped_cotangents():
    """torchdiffeq 0.2.5's fixed-grid solvers return dL/dt_i = 0 at grid output times (a known
    finding) while dL/dy0 and dL/dtheta are right; dropped cotangents make those wrong too."""
    claims = dict(FIXED4, order=1, dense_order=1)
    diag = _live("torchdiffeq", "euler", claims, ("test_grad_t_at_grid_output_times", "gradients"),
                 problem="mlp-tanh-t")
    assert _causes(diag) == ["grad-missing"] and "t" in diag.findings[0].title
    assert diag.findings[0].expected is not None   # matched to the known finding on (iut, method, cause)
