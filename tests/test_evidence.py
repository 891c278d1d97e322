"""harness.evidence: the typed evidence of a check record, and its JSON round trip."""

from __future__ import annotations

import json
import math

import pytest

from harness.evidence import (Comparison, Derivation, Evidence, Expectation, GradMode, Override, ProblemProperties,
                              Quantity, ReproInputs, Scalar, Series, SeriesKind)
from harness.problems import get_problem


def _full() -> Evidence:
    conv = Series(kind=SeriesKind.CONVERGENCE, x=[0.1, 0.05, 0.025], y=[1e-3, 6.25e-5, math.nan],
                  x_label="step size h", y_label="error at t1", label="A1 dopri5", used=[0, 1], slope=4.0)
    wp = Series(kind=SeriesKind.WORK_PRECISION, x=[0.001, 0.002], y=[1e-4, math.inf], x_label="wall time",
                x_unit="s", y_label="error", low=[0.0009, 0.0019], high=[0.0011, 0.0021], spread_axis="x")
    exp = Expectation(quantity="observed_order", kind=Quantity.ORDER, comparison=Comparison.WITHIN, value=3.9,
                      target=4, threshold=0.3, reason="slope within 0.3 of the claim",
                      derivation=Derivation(order=4, eps=2.220446049250313e-16, baseline_method="scipy RK45"),
                      override=Override(pattern="suite::x", reason="known", factor=2.0, original_threshold=0.15,
                                        applied_threshold=0.3))
    prob = ProblemProperties.of(get_problem("A1"), reverse_time=True, time_shift=-0.0)
    inp = ReproInputs(problem="A1", y0=[1.0], t=[0.0, 1.0], method="dopri5", dtype="torch.float64", rtol=1e-6,
                      atol=1e-9, grad=GradMode.ADJOINT, loss_weights=[1.0, -2.5], seed=0)
    return Evidence(series=(conv, wp), expectation=exp, problem=prob, inputs=inp,
                    scalars=(Scalar(name="max_rel_err", value=-0.0, kind=Quantity.ERROR),
                             Scalar(name="nfe", value=38, kind=Quantity.NFE, unit="evaluations")),
                    gradient_wrt="y0", oracle="finite differences")


def _dumps(d) -> str:
    return json.dumps(d, allow_nan=False, separators=(",", ":"))


def test_round_trip_bit_for_bit():
    ev = _full()
    text = _dumps(ev.to_dict())  # plain JSON: no NaN literal (allow_nan=False would raise)
    back = Evidence.from_dict(json.loads(text))
    assert _dumps(back.to_dict()) == text
    assert back.series[0].y[2] != back.series[0].y[2]  # nan came back as a float
    assert math.copysign(1.0, back.scalars[0].value) == -1.0  # -0.0 kept
    assert back.series[1].y[1] == math.inf
    assert back.expectation.derivation.order == 4.0 and back.expectation.override.factor == 2.0
    assert back.inputs.dtype == "float64" and back.inputs.grad is GradMode.ADJOINT
    assert back.problem.name == "A1" and back.problem.reverse_time
    assert isinstance(back.series[0].x, tuple) and back.series[0].used == (0, 1)
    assert back.series[1].spread_axis.value == "x"


def test_empty_round_trip():
    ev = Evidence()
    assert Evidence.from_dict(json.loads(_dumps(ev.to_dict()))) == ev


def test_problem_properties_from_tags():
    p = ProblemProperties.of(get_problem("A1"))
    assert (p.name, p.dim, p.autonomous, p.linear, p.stiff) == ("A1", get_problem("A1").dim, True, True, False)
    assert p.span == get_problem("A1").t1 - get_problem("A1").t0
    assert not ProblemProperties.of(get_problem("A3")).autonomous
    assert ProblemProperties.of(get_problem("robertson")).stiff
    n = ProblemProperties.of(get_problem("mlp-tanh-t"))
    assert (n.neural, n.has_params, n.autonomous) == (True, True, False)
    assert ProblemProperties.of(get_problem("lorenz63")).chaotic
    assert ProblemProperties.of(get_problem("D1")).hamiltonian


def test_validation():
    with pytest.raises(ValueError, match="x values"):
        Series(kind="convergence", x=[1, 2], y=[1], x_label="h", y_label="e")
    with pytest.raises(ValueError, match="low and high"):
        Series(kind="convergence", x=[1, 2], y=[1, 2], x_label="h", y_label="e", low=[1, 2])
    with pytest.raises(ValueError, match="used"):
        Series(kind="convergence", x=[1, 2], y=[1, 2], x_label="h", y_label="e", used=[2])
    with pytest.raises(ValueError):
        Series(kind="no such kind", x=[1], y=[1], x_label="h", y_label="e")
    with pytest.raises(ValueError, match="target"):
        Expectation(quantity="q", kind="error", comparison="le", value=1, threshold=1, reason="r", target=1)
    with pytest.raises(ValueError, match="target"):
        Expectation(quantity="q", kind="order", comparison="within", value=1, threshold=1, reason="r")
    with pytest.raises(ValueError, match="repeat"):
        Evidence(scalars=(Scalar(name="a", value=1), Scalar(name="a", value=2)))
    with pytest.raises(ValueError, match="bool"):
        ProblemProperties(name="x", dim=1, t0=0, t1=1, autonomous="yes")


def test_from_dict_refuses_unknown_and_bad_fields():
    d = _full().to_dict()
    d["series"][0]["colour"] = "red"
    with pytest.raises(ValueError, match="Series: unknown fields \\['colour'\\]"):
        Evidence.from_dict(d)
    d = _full().to_dict()
    d["expectation"]["comparison"] = "lt"
    with pytest.raises(ValueError, match="Expectation.comparison"):
        Evidence.from_dict(d)
    d = _full().to_dict()
    del d["inputs"]["method"]
    with pytest.raises(ValueError, match="ReproInputs"):
        Evidence.from_dict(d)


def test_expectation_passed_and_orders():
    e = Expectation(quantity="err", kind="error", comparison="le", value=math.nan, threshold=1, reason="r")
    assert not e.passed
    assert Expectation(quantity="o", kind="order", comparison="ge", value=2, threshold=1.5, reason="r").passed
    ev = _full()
    assert ev.observed_order() == 3.9 and ev.claimed_order() == 4.0
    assert ev.scalar("nfe") == 38.0 and ev.scalar("nope") is None
    assert [s.name for s in ev.scalars_of(Quantity.NFE)] == ["nfe"]
    assert ev.series_of(SeriesKind.WORK_PRECISION)[0].x_unit == "s"
