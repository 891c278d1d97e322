"""Harness engine issue: implementations under test, claims, and loading by import path (acceptance 3)."""

from __future__ import annotations

import math

import pytest
import torch

from harness.claims import Claims, default_claims
from harness.implementations import BUILTINS, ImplementationLoadError, load_implementation

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
