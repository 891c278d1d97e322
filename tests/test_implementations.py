"""Harness engine issue: implementations under test, claims, and loading by import path (acceptance 3)."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from harness.claims import Claims, default_claims
from harness.implementations import BUILTINS, ImplementationLoadError, load_implementation

from .conftest import TanhMLP, require_torchdyn

T = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)


class Decay(torch.nn.Module):
    """y' = -y, as an nn.Module with one (unused-by-value) parameter so adjoint IUTs find one."""

    def __init__(self):
        super().__init__()
        self.zero = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, t, y):
        return -y + self.zero


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_adapters_meet_the_contract(name):
    """Each built-in solves y' = -y on a batch, forward and reverse, with its first default method
    (adaptive ones at rtol = atol = 1e-8; fixed-step rk4 at h = 0.01, error ~h^4 = 1e-8): y(1) to
    1e-5 relative, far above either error and far below any wrong answer."""
    if name.startswith("torchdyn"):
        require_torchdyn()
    impl = load_implementation(name)
    method = impl.default_methods[0]
    opts = None if impl.claims(method).adaptive else {"step_size": 0.01}
    y0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    for t in (T, T.flip(0)):
        ys = impl.odeint(Decay(), y0, t, rtol=1e-8, atol=1e-8, method=method, options=opts)
        assert ys.shape == (3, 2, 2)
        assert torch.allclose(ys[-1], y0 * math.exp(-float(t[-1] - t[0])), rtol=1e-5)


def test_import_path_loads_a_callable():
    impl = load_implementation("tests.fixtures.impls:good_odeint")
    assert impl.family == "custom" and impl.name == "tests.fixtures.impls:good_odeint"
    ys = impl.odeint(lambda t, y: -y, torch.ones(1, dtype=torch.float64), T, rtol=1e-8, atol=1e-8,
                     method="dopri5", options=None)
    assert ys.shape == (3, 1)


@pytest.mark.parametrize("spec, match", [
    ("no_such_module_xyz:odeint", r"^cannot load 'no_such_module_xyz:odeint': module 'no_such_module_xyz' not found$"),
    ("tests.fixtures.impls:missing", r"^cannot load 'tests.fixtures.impls:missing': .* has no attribute 'missing'$"),
    ("tests.fixtures.impls:not_callable", r"^cannot load 'tests.fixtures.impls:not_callable': it is a int, not callable$"),
    ("tests.fixtures.broken_on_import:odeint",
     r"^cannot load 'tests.fixtures.broken_on_import:odeint': importing 'tests.fixtures.broken_on_import' failed: "
     r"ZeroDivisionError: seeded failure on import$"),
    ("not-a-builtin", r"^unknown implementation 'not-a-builtin'; built-ins: reference, "),
    (":odeint", r"expected 'package.module:callable'"),
])
def test_load_errors_are_one_line_naming_path_and_cause(spec, match):
    with pytest.raises(ImplementationLoadError, match=match) as info:
        load_implementation(spec)
    assert "\n" not in str(info.value)


def test_claims_defaults_from_the_well_known_table():
    assert default_claims("torchdiffeq", "rk4") == Claims(order=4, dense_order=2, adaptive=False)
    assert default_claims("reference", "rk4").dense_order == 4  # lands on output times
    assert default_claims("reference", "dop853") == Claims(order=8, dense_order=7)
    assert default_claims("custom", "tsit5").order == 5  # import-path IUTs use the union of tables
    assert default_claims("custom", "my_method") == Claims()  # unknown: order checks will be skipped


def test_claims_override_and_skip_reasons():
    c = load_implementation("scipy").claims("RK45")
    assert c.gradients == "none" and c.skip_reason(needs_gradients=True) == "no gradients claimed"
    c2 = load_implementation("reference").claims("rk4", order=3, float32=False)
    assert c2.order == 3 and c2.skip_reason(needs_float32=True) == "float32 not claimed"
    assert c2.skip_reason(needs_adaptive=True).startswith("fixed-step")
    assert load_implementation("reference-adjoint").claims("dopri5").adjoint
    with pytest.raises(ValueError, match="unknown claim"):
        c.override(speed=3)
    with pytest.raises(ValueError, match="gradients must be one of"):
        c.override(gradients="maybe")


# --------------------------------------------------------------------------- torchdyn adapters
# (issue 13: torchdyn as a built-in; the adapter must follow the contract without hiding defects)
from harness.implementations import StallGuard, fixed_step_grid  # noqa: E402


def test_fixed_step_grid_steps_h_and_lands_on_every_output_time():
    """Each output interval in steps of h toward the next output time, the last step shortened
    onto it: [0, 0.25] with h = 0.1 is 0, 0.1, 0.2, 0.25 (remainder 0.05); [0.25, 0.3] shorter
    than h is one step; the positions of the output times are returned."""
    t = torch.tensor([0.0, 0.25, 0.3], dtype=torch.float64)
    grid, where = fixed_step_grid(t, 0.1)
    assert torch.allclose(grid, torch.tensor([0.0, 0.1, 0.2, 0.25, 0.3], dtype=torch.float64), rtol=0, atol=1e-15)
    assert where == [0, 3, 4] and torch.equal(grid[where], t)
    back, where_b = fixed_step_grid(t.flip(0), 0.1)  # decreasing t: steps of -h
    assert torch.allclose(back, torch.tensor([0.3, 0.25, 0.15, 0.05, 0.0], dtype=torch.float64), rtol=0, atol=1e-15)
    assert where_b == [0, 1, 4]


def test_fixed_step_grid_absorbs_rounding_remainders():
    """A remainder that is rounding, not a step, joins the last step: 1.0 / 0.1 = 10 up to 1 ulp
    in float64 (10 steps, not 11), and float32 t = [0, 0.001] with h = 0.001 / 7, where
    |t_1 - t_0| / h = 7.0000003 (t_1 = 0.0010000000475 in float32): 7 steps, not a 1.2e-10
    sliver (torchdyn's fixed-step loop rejects two grid points within torch.isclose)."""
    _, where = fixed_step_grid(torch.tensor([0.0, 1.0], dtype=torch.float64), 0.1)
    assert where == [0, 10]
    grid, where = fixed_step_grid(torch.tensor([0.0, 0.001], dtype=torch.float32), 0.001 / 7)
    assert where == [0, 7] and grid.dtype == torch.float32
    with pytest.raises(ValueError, match="step_size"):
        fixed_step_grid(torch.tensor([0.0, 1.0]), 0.0)


def test_fixed_step_grid_carries_gradients_to_t():
    t = torch.tensor([0.0, 0.25], dtype=torch.float64, requires_grad=True)
    grid, _ = fixed_step_grid(t, 0.1)
    grid.sum().backward()  # 0 + (0 + .1) + (0 + .2) + 0.25: dgrid/dt0 = 3, dgrid/dt1 = 1
    assert t.grad.tolist() == [3.0, 1.0]


def test_stall_guard_raises_on_a_solve_that_stops_advancing():
    """StallGuard passes f through, and raises once `limit` evaluations in a row share one time
    (torchdyn's zero-size steps); evaluations at changing times never trip it."""
    guard = StallGuard(lambda t, y: -y, limit=5)
    y = torch.ones(2)
    for k in range(20):
        assert torch.equal(guard(torch.tensor(0.1 * k), y), -y)
    for _ in range(4):
        guard(torch.tensor([0.5]), y)
    with pytest.raises(RuntimeError, match=r"no progress: 5 evaluations of f in a row at t = 0.5"):
        guard(torch.tensor([0.5]), y)
    module = TanhMLP()
    assert [p for p in StallGuard(module).parameters()] == [p for p in module.parameters()]


def test_torchdyn_claims():
    assert default_claims("torchdyn", "rk4") == Claims(order=4, dense_order=4, adaptive=False)
    assert default_claims("torchdyn", "tsit5") == Claims(order=5, dense_order=5)


def test_torchdyn_not_installed_is_a_one_line_load_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchdyn", None)  # import torchdyn raises ImportError
    with pytest.raises(ImplementationLoadError, match=r"^built-in implementation 'torchdyn' is not installed: "):
        load_implementation("torchdyn")


@pytest.mark.parametrize("name", ["torchdyn", "torchdyn-adjoint", "torchdyn-interp-adjoint"])
def test_torchdyn_builtins_and_their_claims(name, torchdyn_installed):
    impl = load_implementation(name)
    assert impl.family == "torchdyn" and set(impl.methods) == {"dopri5", "tsit5", "rk4", "euler", "midpoint"}
    assert impl.claims("dopri5").adjoint == (name != "torchdyn")
    assert impl.claims("dopri5").t_grad == (name != "torchdyn-interp-adjoint")


def test_torchdyn_fixed_step_takes_steps_of_h_and_returns_the_output_times(torchdyn_installed):
    """Euler on y' = -y with h = 0.1 over t = (0, 0.25, 1): the first interval is 0.1, 0.1,
    0.05, the second 7 steps of 0.1 and one of 0.05, so y = 0.9^2 0.95 and 0.9^9 0.95^2 exactly
    as torchdyn multiplies (1 - dt); only the three output times come back."""
    impl = load_implementation("torchdyn")
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    ys = impl.odeint(lambda tt, y: -y, torch.ones(2, dtype=torch.float64), t, rtol=1e-8, atol=1e-8,
                     method="euler", options={"step_size": 0.1})
    assert ys.shape == (3, 2)
    expect = torch.tensor([1.0, 0.9 ** 2 * 0.95, 0.9 ** 9 * 0.95 ** 2], dtype=torch.float64)
    assert torch.allclose(ys[:, 0], expect, rtol=1e-14)
    with pytest.raises(ValueError, match="needs options"):
        impl.odeint(lambda tt, y: -y, torch.ones(2), t, method="rk4")
    with pytest.raises(ValueError, match="unknown method 'bosh3' for torchdyn"):
        impl.odeint(lambda tt, y: -y, torch.ones(2), t, method="bosh3")


def test_torchdyn_interp_adjoint_returns_the_rows_at_the_output_times(torchdyn_installed):
    """The interpolated adjoint's forward returns a row per accepted step: the adapter returns the
    rows at the output times, in y0's shape (1-D here, handed to torchdyn as (1, n)); they are
    the values of torchdyn's plain odeint up to the float32 rounding of ODEProblem's tableau
    (str_to_solver's default dtype; a relative 1e-6 holds with room)."""
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    field = Decay()
    interp = load_implementation("torchdyn-interp-adjoint").odeint(field, y0, t, rtol=1e-8, atol=1e-8,
                                                                  method="dopri5", options=None)
    plain = load_implementation("torchdyn").odeint(field, y0, t, rtol=1e-8, atol=1e-8, method="dopri5", options=None)
    assert interp.shape == (3, 2) and plain.shape == (3, 2)
    assert torch.allclose(interp, plain, rtol=1e-6)


def test_torchdyn_interp_adjoint_takes_batches_as_they_are(torchdyn_installed):
    """A (batch, dim) state goes to the interpolated adjoint unchanged (flattening it to
    (1, batch dim) would hand a field on the last axis a state it cannot take)."""
    y0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    ys = load_implementation("torchdyn-interp-adjoint").odeint(lambda t, y: y @ torch.eye(2, dtype=y.dtype), y0, T,
                                                               rtol=1e-8, atol=1e-8, method="dopri5", options=None)
    assert ys.shape == (3, 2, 2) and torch.allclose(ys[-1], y0 * math.e, rtol=1e-6)


def test_missing_torchdyn_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchdyn", None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^torchdyn not installed$"):
        require_torchdyn()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="torchdyn not installed under CI"):
        require_torchdyn()
