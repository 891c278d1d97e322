"""Reference issue: the torchdiffeq-compatible API of `reference.odeint`, and bad input (acceptance 6)."""

from __future__ import annotations

import math

import pytest
import torch

import reference
from reference import TABLEAUS, odeint, odeint_adjoint
from reference.errors import StepSizeUnderflowError, TooManyStepsError

from .conftest import ADAPTIVE, FIXED

T3 = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)


def decay(t, y):
    return -y


def opts(method: str) -> dict | None:
    return {"step_size": 0.01} if method in FIXED else None


# ----------------------------------------------------------------------------- shapes and dtypes
@pytest.mark.parametrize("method", list(TABLEAUS))
@pytest.mark.parametrize("shape", [(3,), (2, 3), (4, 1, 2)])
def test_output_shape_any_batch(method, shape):
    y0 = torch.ones(shape, dtype=torch.float64)
    ys = odeint(decay, y0, T3, method=method, options=opts(method))
    assert ys.shape == (3, *shape)
    assert torch.equal(ys[0], y0)
    # y' = -y: y(1) = e^-1. Loose bound (Euler at h = 0.01 is off by h t / 2 = 0.5 %, the others by
    # far less); accuracy is the convergence tests' business.
    assert torch.allclose(ys[-1], torch.full(shape, math.exp(-1), dtype=torch.float64), rtol=1e-2)


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_float32_state_keeps_its_dtype(method):
    y0 = torch.ones(3, dtype=torch.float32)
    seen = []
    ys = odeint(lambda t, y: (seen.append(t.dtype), -y)[1], y0, T3.float(), method=method,
                rtol=1e-5, atol=1e-6, options=opts(method))
    assert ys.dtype == torch.float32
    assert set(seen) == {torch.float32}  # func sees t in the state's dtype; time itself is float64 inside


def test_tuple_state():
    y0 = (torch.tensor([1.0], dtype=torch.float64), torch.tensor([[0.0, 2.0]], dtype=torch.float64))
    ys = odeint(lambda t, y: (-y[0], y[1] * 0 + 1), y0, T3)
    assert isinstance(ys, tuple) and ys[0].shape == (3, 1) and ys[1].shape == (3, 1, 2)
    assert torch.allclose(ys[0][-1], torch.tensor([math.exp(-1)], dtype=torch.float64), rtol=1e-6)
    assert torch.allclose(ys[1][-1], torch.tensor([[1.0, 3.0]], dtype=torch.float64), rtol=1e-9)


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_reverse_time(method):
    t = torch.tensor([1.0, 0.4, -0.5], dtype=torch.float64)
    y0 = torch.tensor([2.0], dtype=torch.float64)
    ys = odeint(decay, y0, t, method=method, rtol=1e-10, atol=1e-10, options=opts(method))
    expected = 2.0 * torch.exp(-(t - 1.0))
    # rk4 at h = 0.01: global error ~ h^4 |y| = 1e-8 x 9; dopri5 at 1e-10: ~1e-9 relative
    assert torch.allclose(ys[:, 0], expected, rtol=1e-7)


def test_fixed_step_lands_exactly_on_output_times():
    """Steps shortened onto each output time: a field that records t sees every output time."""
    seen = []
    t = torch.tensor([0.0, 0.25, 0.3], dtype=torch.float64)
    odeint(lambda t, y: (seen.append(float(t)), -y)[1], torch.ones(1, dtype=torch.float64), t,
           method="euler", options={"step_size": 0.1})
    assert seen == pytest.approx([0.0, 0.1, 0.2, 0.25])  # steps 0.1, 0.1, 0.05 | 0.05


def test_stats_readable_after_solve():
    odeint(decay, torch.ones(2, dtype=torch.float64), T3, method="dopri5")
    s = reference.last_stats()
    assert s.method == "dopri5" and s.n_accepted > 0
    assert s.nfe == 2 + 6 * s.n_attempted  # FSAL: 6 new stages per attempt, 2 for the initial step
    odeint(decay, torch.ones(2, dtype=torch.float64), T3, method="rk4", options={"step_size": 0.1})
    s = reference.last_stats()
    assert (s.n_accepted, s.n_rejected, s.nfe) == (10, 0, 40)


@pytest.mark.parametrize("method", ADAPTIVE)
def test_step_counts_match_hairer_controller_bounds(method):
    """Every accepted step met the error test: solving with the steps' own error estimates at a
    loose tolerance needs fewer steps than at a tight one (the controller responds to tolerance)."""
    y0 = torch.ones(2, dtype=torch.float64)
    odeint(decay, y0, T3, method=method, rtol=1e-4, atol=1e-4)
    loose = reference.last_stats().n_accepted
    odeint(decay, y0, T3, method=method, rtol=1e-10, atol=1e-10)
    assert reference.last_stats().n_accepted > loose


def test_one_time_point_returns_y0():
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    ys = odeint(decay, y0, torch.tensor([0.3], dtype=torch.float64))
    assert ys.shape == (1, 2) and torch.equal(ys[0], y0)


def test_inputs_not_mutated():
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    t = T3.clone()
    y0c, tc = y0.clone(), t.clone()
    odeint(decay, y0, t)
    assert torch.equal(y0, y0c) and torch.equal(t, tc)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("t, match", [
    ([0.0, 1.0, 0.5], "strictly increasing or strictly decreasing"),
    ([0.0, 1.0, 1.0], "strictly increasing or strictly decreasing"),
    ([0.0, float("nan")], "NaN"),
    ([[0.0, 1.0]], "1-D"),
])
def test_bad_times(t, match):
    with pytest.raises(ValueError, match=match):
        odeint(decay, torch.ones(1, dtype=torch.float64), torch.tensor(t, dtype=torch.float64))


def test_nan_in_y0():
    with pytest.raises(ValueError, match="y0 contains NaN"):
        odeint(decay, torch.tensor([1.0, float("nan")]), T3)


def test_integer_y0():
    with pytest.raises(TypeError, match="floating-point"):
        odeint(decay, torch.tensor([1, 2]), T3)


@pytest.mark.parametrize("options, match", [
    (None, "needs options"),
    ({}, "needs options"),
    ({"step_size": 0.0}, "step_size"),
    ({"step_size": -0.1}, "step_size"),
    ({"step_size": float("nan")}, "step_size"),
    ({"step_size": 0.1, "first_step": 0.1}, "unknown option"),
])
def test_bad_fixed_step_options(options, match):
    with pytest.raises(ValueError, match=match):
        odeint(decay, torch.ones(1), T3, method="rk4", options=options)


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'rk5'.*dopri5.*rk4"):
        odeint(decay, torch.ones(1), T3, method="rk5")


def test_unknown_option_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown option.*'step_size'.*first_step"):
        odeint(decay, torch.ones(1), T3, method="dopri5", options={"step_size": 0.1})


@pytest.mark.parametrize("kw", [{"rtol": -1e-3}, {"atol": float("nan")}, {"rtol": 0.0, "atol": 0.0}])
def test_bad_tolerances(kw):
    with pytest.raises(ValueError, match="rtol|atol"):
        odeint(decay, torch.ones(1), T3, **kw)


def test_wrong_output_shape_of_func():
    with pytest.raises(ValueError, match=r"returned shape \(1, 2\), expected .* \(2,\)"):
        odeint(lambda t, y: y[None], torch.ones(2), T3)


def test_too_many_steps_names_t_and_dt():
    with pytest.raises(TooManyStepsError, match=r"t = .* dt = "):
        odeint(decay, torch.ones(1), T3, options={"max_num_steps": 3}, rtol=1e-12, atol=1e-12)


def test_step_size_underflow_names_t_and_dt():
    """y' = y^2 from 1 blows up at t = 1: the controller shrinks h until t + h == t."""
    with pytest.raises(StepSizeUnderflowError, match=r"t = (0\.99|1\.0).* dt = "):
        odeint(lambda t, y: y * y, torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64))


def test_min_step_violation():
    with pytest.raises(StepSizeUnderflowError, match="min_step"):
        odeint(lambda t, y: y * y, torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64),
               options={"min_step": 1e-3})


def test_adjoint_bad_input():
    with pytest.raises(ValueError, match="unknown adjoint strategy"):
        odeint_adjoint(torch.nn.Linear(1, 1), torch.ones(1), T3, strategy="magic")
    with pytest.raises(ValueError, match="nn.Module"):
        odeint_adjoint(decay, torch.ones(1), T3)
    with pytest.raises(ValueError, match="norm"):
        odeint_adjoint(torch.nn.Linear(1, 1), torch.ones(1), T3, adjoint_options={"norm": "l1"})
