"""The three gradient oracles of harness.oracles.gradients agree with each other.

Acceptance (gradient-oracle issue): forward sensitivities (scipy DOP853, rtol = atol = 1e-12),
backprop through torchdiffeq (dopri5, 1e-12) and Richardson finite differences (scipy DOP853,
1e-13) agree pairwise to 1e-7 relative on at least 5 library problems -- a t-dependent neural
field among them -- for the gradients with respect to y0, the parameters and every output time,
and no comparison is tighter than its oracles are accurate.

Loss: L = sum_i g_i . y(t_i) with seeded random cotangents g_i on four output times, so that the
intermediate cotangents matter (and dL/dt_0 is not trivially -dL/dt_last). Spans are short
(<= 1.5) to keep each solve cheap; the whole file runs in well under a minute on 2 cores.

Why relative to the norm of the gradient group (y0, params or t) rather than entry by entry: an
oracle's absolute error scales with the size of the whole group (for a unit direction v,
|(G - G') . v| <= ||G - G'||), while individual entries or directional derivatives can be close to
zero by cancellation, where an entry-wise relative check would demand more than any oracle
delivers. The finite-difference directions are unit vectors, so the same scale applies to them.

Measured (2 CPU cores, torch float64): pairwise disagreements 1e-14 .. 9e-10 relative; error
estimates relative to the group norms: forward sensitivities <= 9e-11, torchdiffeq <= 3e-9,
finite differences <= 3e-8 (Van der Pol, whose dL/dy0 is small, 0.11, by cancellation of the
cotangents). The sum of two oracles' estimates stays >= 3x below 1e-7, while a 1e-6 relative
error is still resolved, which the last tests prove by seeding one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.oracles.gradients import (
    GROUPS,
    compare,
    disagreement,
    finite_difference_oracle,
    forward_sensitivity_oracle,
    group_norms,
    project,
    torchdiffeq_backprop_oracle,
)
from harness.problems import get_problem

REL = 1e-7

# name -> (problem, output times). Problems: a t-dependent neural field, an autonomous neural
# field, a linear problem with a parameter matrix, Lotka-Volterra (DETEST B1 with its four
# coefficients as parameters), the contracting diag(-20, -1) problem and Van der Pol mu = 1
# (DETEST E2), both parameter-free; plus one reverse-time case on a second t-dependent field.
CASES = {
    "mlp-tanh-t": ("mlp-tanh-t", [0.0, 0.3, 0.7, 1.0]),
    "mlp-tanh": ("mlp-tanh", [0.0, 0.25, 0.6, 1.0]),
    "linear-param": ("linear-param", [0.0, 0.4, 1.0, 1.5]),
    "lotka-volterra": ("lotka-volterra", [0.0, 0.3, 0.7, 1.0]),
    "contracting-diag": ("contracting-diag", [0.0, 0.1, 0.25, 0.5]),
    "vdp-E2": ("E2", [0.0, 0.4, 0.8, 1.2]),
    "mlp-softplus-t-reverse": ("mlp-softplus-t", [1.0, 0.6, 0.2, -0.3]),
}
FULL = ("forward-sensitivity", "torchdiffeq")


def cotangents(n_times: int, dim: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n_times, dim))


_RESULTS: dict[str, dict] = {}


def oracles(case: str) -> dict:
    """All three oracles for one case, computed once per session."""
    if case not in _RESULTS:
        name, times = CASES[case]
        problem = get_problem(name)
        field = problem.make_field(torch.float64)
        y0, t = problem.y0_array, np.array(times)
        g = cotangents(len(t), problem.dim)
        fs = forward_sensitivity_oracle(field, y0, t, g)
        td = torchdiffeq_backprop_oracle(field, y0, t, g)
        fd = finite_difference_oracle(field, y0, t, g, seed=3)
        _RESULTS[case] = {"forward-sensitivity": fs, "torchdiffeq": td, "fd": fd,
                          "scale": group_norms(fs), "problem": problem, "field": field, "t": t}
    return _RESULTS[case]


def test_acceptance_covers_five_problems_with_a_t_dependent_neural_field():
    names = {CASES[c][0] for c in CASES}
    assert len(names) >= 5
    neural_t = [n for n in names if {"neural", "non-autonomous"} <= get_problem(n).tags]
    assert neural_t
    assert any(get_problem(n).tags >= {"has-params", "linear"} for n in names)
    assert any(CASES[c][1][0] > CASES[c][1][-1] for c in CASES)  # a reverse-time case


@pytest.mark.parametrize("case", list(CASES))
def test_error_estimates_are_below_the_bound(case):
    """Each oracle's own error estimate is below the 1e-7 bound, in every group: otherwise the
    agreement checks below would be tighter than the oracles are accurate."""
    r = oracles(case)
    for key in (*FULL, "fd"):
        for group in GROUPS:
            if r["fd"].group(group).size == 0:
                continue
            assert r["scale"][group] > 0
            est = r[key].error_estimate[group]
            assert 0 < est <= REL * r["scale"][group], (case, key, group, est, r["scale"][group])


@pytest.mark.parametrize("case", list(CASES))
def test_forward_sensitivities_and_torchdiffeq_backprop_agree(case):
    r = oracles(case)
    assert compare(r["forward-sensitivity"], r["torchdiffeq"], REL) == []


@pytest.mark.parametrize("oracle", FULL)
@pytest.mark.parametrize("case", list(CASES))
def test_full_gradients_agree_with_finite_differences(case, oracle):
    """Projected on the finite-difference directions (2 unit directions each for y0 and the
    parameters, every t_i)."""
    r = oracles(case)
    fd = r["fd"]
    assert len(fd.y0) == 2 and len(fd.t) == len(r["t"])
    assert len(fd.params) == (2 if r["forward-sensitivity"].grad_params else 0)
    assert compare(project(r[oracle], fd), fd, REL, r["scale"]) == []


AUTONOMOUS = [c for c in CASES if "non-autonomous" not in get_problem(CASES[c][0]).tags]


@pytest.mark.parametrize("case", AUTONOMOUS)
@pytest.mark.parametrize("oracle", FULL)
def test_time_gradients_of_autonomous_fields_sum_to_zero(case, oracle):
    """Shifting every t_i by the same s does not change L for an autonomous field, so
    sum_i dL/dt_i = 0: a check of dL/dt_0 (the derived formula) against the others."""
    r = oracles(case)
    assert abs(r[oracle].grad_t.sum()) <= REL * r["scale"]["t"]


def test_parameter_free_problem():
    r = oracles("contracting-diag")
    assert r["forward-sensitivity"].grad_params == [] and r["torchdiffeq"].grad_params == []
    assert r["fd"].params.size == 0
    assert disagreement(r["forward-sensitivity"], r["torchdiffeq"])["params"] == 0.0


def test_finite_differences_restore_the_parameters():
    r = oracles("linear-param")
    fresh = r["problem"].make_field(torch.float64)
    for p, q in zip(r["field"].parameters(), fresh.parameters()):
        assert torch.equal(p, q)


def test_reverse_time_gradient_of_the_first_output_time():
    """dL/dt_0 = -(dL/dy0 - g_0) . f(t_0, y0) holds in reverse time too (forward sensitivities
    use it; torchdiffeq's autograd does not)."""
    r = oracles("mlp-softplus-t-reverse")
    td, fs = r["torchdiffeq"], r["forward-sensitivity"]
    assert r["t"][0] > r["t"][-1]
    assert abs(td.grad_t[0] - fs.grad_t[0]) <= REL * r["scale"]["t"]


# --- the comparison can fail ---------------------------------------------------------------


def _wrong_params(result):
    return dataclasses.replace(result, grad_params=[(1 + 1e-6) * p for p in result.grad_params])


def _wrong_t(result):
    grad_t = result.grad_t.copy()
    grad_t[0] = -grad_t[0]
    return dataclasses.replace(result, grad_t=grad_t)


@pytest.mark.parametrize("case", ["mlp-tanh-t", "lotka-volterra"])
@pytest.mark.parametrize("spoil, group", [(_wrong_params, "params"), (_wrong_t, "t")])
def test_a_seeded_wrong_gradient_is_detected(spoil, group, case):
    """A parameter gradient off by 1e-6 relative, or dL/dt_0 with the wrong sign, fails against
    the other full-gradient oracle; the other groups still pass.

    Against finite differences too, with one limit that the test makes explicit: a directional
    check sees a gradient error d only through d . v. dL/dt is checked along every e_i, so a
    wrong dL/dt_i is always seen; but for a random unit direction in P parameter dimensions
    |d . v| is about ||d|| / sqrt(P), so on the 440 parameters of the MLP a 1e-6 relative
    scaling shows up as only ~1e-6 |G . v| / ||G|| ~ 5e-8 < 1e-7: finite differences with two
    random directions cannot resolve it there, and the full-gradient pair is the sharp check. On
    Lotka-Volterra (4 parameters) they do."""
    r = oracles(case)
    bad = spoil(r["torchdiffeq"])
    checks = [compare(r["forward-sensitivity"], bad, REL)]
    if group == "t" or len(r["forward-sensitivity"].flat_params) <= 4:
        checks.append(compare(project(bad, r["fd"]), r["fd"], REL, r["scale"]))
    for failures in checks:
        assert failures, (case, group)
        assert all(f.startswith(f"{group}:") and "disagree" in f for f in failures), failures


def test_an_inaccurate_oracle_cannot_pass_a_check():
    """An oracle whose own error estimate exceeds the bound fails the check even when its values
    happen to agree: a 1e-3 loose solve is not evidence of 1e-7 agreement."""
    r = oracles("mlp-tanh")
    loose = torchdiffeq_backprop_oracle(r["field"], r["problem"].y0_array, r["t"],
                                        cotangents(len(r["t"]), r["problem"].dim), rtol=1e-5,
                                        atol=1e-5)
    failures = compare(r["forward-sensitivity"], loose, REL)
    assert any("tighter than the oracles" in f for f in failures), failures


def test_inputs_are_validated():
    problem = get_problem("mlp-tanh")
    g = cotangents(3, problem.dim)
    with pytest.raises(ValueError, match="monotone"):
        forward_sensitivity_oracle(problem.make_field(torch.float64), problem.y0_array,
                                   [0.0, 0.5, 0.2], g)
    with pytest.raises(TypeError, match="float64"):
        torchdiffeq_backprop_oracle(problem.make_field(torch.float32), problem.y0_array,
                                    [0.0, 0.2, 0.5], g)
    with pytest.raises(ValueError, match="shape"):
        forward_sensitivity_oracle(problem.make_field(torch.float64), problem.y0_array,
                                   [0.0, 0.2], g)
