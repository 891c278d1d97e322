"""Known answers for harness.measure: saved-for-backward bytes and the counting vector field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import reference
from harness.measure import (CountingField, SavedTensorsMeter, cuda_peak_bytes, in_backward_pass,
                             peak_rss_bytes, saved_tensor_bytes)

F64 = 8  # bytes per float64 element


# --------------------------------------------------------------------------- saved bytes
def test_known_graph_mul_sin():
    # y = sin(x * w), x: 1000 float64 without grad, w: 1000 float64 requiring grad.
    #   mul saves x, the factor d(x*w)/dw needs (it saves w only when x requires grad): 8000 B
    #   sin saves its input u = x*w, a new 1000-element tensor:                          8000 B
    # total 16000 B in 2 distinct storages.
    x = torch.randn(1000, dtype=torch.float64)
    w = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    saved = saved_tensor_bytes(lambda: (x * w).sin())
    assert saved.bytes == 2 * 1000 * F64 == 16000
    assert saved.n_saved == 2 and saved.n_storages == 2
    assert saved.by_device == {"cpu": 16000}
    assert saved.result.grad_fn is not None  # the graph is usable afterwards
    saved.result.sum().backward()
    torch.testing.assert_close(w.grad, x * (x * w).cos())


def test_known_graph_both_inputs_require_grad():
    # Now mul needs both factors: x (8000) + w (8000) + sin's input (8000).
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    w = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    assert saved_tensor_bytes(lambda: (x * w).sin()).bytes == 3 * 1000 * F64


def test_same_tensor_saved_twice_counts_once():
    w = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    saved = saved_tensor_bytes(lambda: w * w)  # mul saves w as both `self` and `other`
    assert saved.n_saved == 2
    assert saved.n_storages == 1
    assert saved.bytes == 1000 * F64


def test_views_of_a_counted_storage_add_nothing():
    a = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    with SavedTensorsMeter() as meter:
        a.sin()                   # saves a:                8000 B
        a.view(10, 100).cos()     # saves a view of a:     +0
        a[:10].exp().sum()        # exp saves its *result*, a new 10-element storage: +80
        a[500:].sin()             # another view of a:      +0
    assert meter.n_saved == 4
    assert meter.bytes == 1000 * F64 + 10 * F64


def test_view_saved_first_charges_its_whole_storage():
    base = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    saved = saved_tensor_bytes(lambda: base[:10].sin())
    # slicing saves no tensor; sin saves the 10-element view, which keeps all of base's storage alive
    assert saved.n_saved == 1
    assert saved.bytes == 1000 * F64


def test_gradients_unchanged_under_the_meter():
    # Higher-order gradients through saved leaves and saved outputs, with and without the meter.
    torch.manual_seed(0)
    w0 = torch.randn(50, dtype=torch.float64)

    def second_derivative(measure: bool) -> torch.Tensor:
        w = w0.clone().requires_grad_()
        with SavedTensorsMeter() if measure else torch.enable_grad():
            z = (w.tanh().exp() * w * w).sum()
        (g,) = torch.autograd.grad(z, w, create_graph=True)
        return torch.autograd.grad(g.sum(), w)[0]

    torch.testing.assert_close(second_derivative(True), second_derivative(False), rtol=0, atol=0)


def test_custom_function_save_for_backward_is_counted():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = torch.randn(250, dtype=torch.float32, requires_grad=True)
    saved = saved_tensor_bytes(lambda: Square.apply(x))
    assert saved.bytes == 250 * 4


def test_exclude_and_no_grad():
    x = torch.randn(1000, dtype=torch.float64)
    w = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    assert saved_tensor_bytes(lambda: (x * w).sin(), exclude=[x]).bytes == 1000 * F64
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: (x * w).sin()).bytes == 0


def test_meta_tensors_are_told_apart():
    # Meta tensors have no data pointer; distinct storages must still count separately.
    x = torch.empty(100, device="meta", requires_grad=True)
    w = torch.empty(100, device="meta", requires_grad=True)
    saved = saved_tensor_bytes(lambda: (x * w).sin())
    assert saved.n_storages == 3
    assert saved.by_device == {"meta": 3 * 100 * 4}


def test_meter_does_not_keep_graphs_alive():
    # Regression: an identity pack hook makes a saved *output* (exp saves its result) reference
    # its own grad_fn, a cycle invisible to the garbage collector; the meter must not leak it.
    import gc
    import weakref

    w = torch.randn(10, requires_grad=True)
    with SavedTensorsMeter() as meter:
        tmp = w.exp()  # saves its result
        ref = weakref.ref(tmp)
    before = meter.bytes
    del tmp
    gc.collect()
    assert ref() is None
    assert meter.bytes == before == 10 * 4


# --------------------------------------------------------------------------- peak memory
def test_cuda_peak_bytes_without_cuda_raises_clearly():
    if torch.cuda.is_available():
        peak = cuda_peak_bytes(lambda: torch.empty(1 << 20, device="cuda"))
        assert peak.increment_bytes >= (1 << 20) * 4
    else:
        with pytest.raises(RuntimeError, match="CUDA"):
            cuda_peak_bytes(lambda: None)


def test_peak_rss_is_a_high_water_mark():
    before = peak_rss_bytes()
    assert before > 0
    block = torch.ones(64 << 20, dtype=torch.uint8)  # 64 MiB, touched
    after = peak_rss_bytes()
    del block
    assert after >= before
    assert peak_rss_bytes() >= after  # never decreases


# --------------------------------------------------------------------------- CountingField
class _MLP(nn.Module):
    def __init__(self, d: int = 4, h: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, d))

    def forward(self, t, y):
        return self.net(y)


def _mlp(seed: int = 0) -> _MLP:
    torch.manual_seed(seed)
    return _MLP().double()


def test_counting_field_parameters_are_the_wrapped_modules():
    mlp = _mlp()
    field = CountingField(mlp)
    assert [id(p) for p in field.parameters()] == [id(p) for p in mlp.parameters()]
    assert field.func is mlp
    sd = field.state_dict()
    assert all(k.startswith("func.") for k in sd)


def test_counting_field_wraps_plain_callables():
    field = CountingField(lambda t, y: -y)
    y = torch.ones(3)
    torch.testing.assert_close(field(torch.tensor(0.0), y), -y)
    assert field.nfe == 1 and list(field.parameters()) == []
    with pytest.raises(TypeError):
        CountingField(42)


@pytest.mark.parametrize("out_times", [2, 7])
def test_dopri5_nfe_is_two_plus_six_per_attempted_step(out_times):
    # From reference/integrate.py `_solve_adaptive` and reference/step_control.py `initial_step`:
    #   1 evaluation k1 = f(t0, y0) before the loop,
    #   1 evaluation inside the starting-step heuristic (f at t0 + h0),
    #   then every attempted step calls RKStepper.step with k1 given, evaluating stages 2..7:
    #   6 new evaluations. dopri5 is FSAL: an accepted step's 7th stage is the next k1, and a
    #   rejected step keeps the old k1 (the loop `continue`s before updating it). Dense output at
    #   interior output times uses no extra stages for dopri5 (its c_extra is empty).
    # Hence NFE = 2 + 6 x (accepted + rejected).
    field = CountingField(_mlp())
    torch.manual_seed(1)
    y0 = torch.randn(5, 4, dtype=torch.float64)
    t = torch.linspace(0.0, 3.0, out_times, dtype=torch.float64)
    with torch.no_grad():
        reference.odeint(field, y0, t, rtol=1e-9, atol=1e-11, method="dopri5")
    stats = reference.last_stats()
    assert stats.n_accepted > 3
    assert field.nfe == stats.nfe == 2 + 6 * stats.n_attempted
    assert field.nfe_backward == 0


def test_dopri5_nfe_with_rejections():
    # A problem that forces rejections (a large first step), to exercise the `rejected` branch.
    field = CountingField(lambda t, y: torch.stack([y[1], -50.0 * y[0]]))
    y0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    reference.odeint(field, y0, torch.tensor([0.0, 2.0], dtype=torch.float64), rtol=1e-8, atol=1e-10,
                     options={"first_step": 0.5})
    stats = reference.last_stats()
    assert stats.n_rejected > 0
    # with first_step given, the heuristic's evaluation is skipped: 1 + 6 per attempt
    assert field.nfe == stats.nfe == 1 + 6 * stats.n_attempted


def test_phases_auto_and_explicit():
    field = CountingField(_mlp())
    y0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ys = reference.odeint_adjoint(field, y0, t, strategy="backsolve")
    assert field.nfe == reference.last_stats().nfe and field.nfe_backward == 0
    ys[-1].sum().backward()
    # the adjoint's evaluations run inside autograd's backward pass: counted as "backward"
    assert field.nfe_backward == reference.last_adjoint_stats().backward_nfe > 0
    assert not in_backward_pass()

    field.reset()
    with field.counting_as("probe"):
        field(torch.tensor(0.0), y0)
    assert field.counts == {"probe": 1} and field.phase == "auto"
    field.phase = "backward"
    field(torch.tensor(0.0), y0)
    assert field.nfe_backward == 1 and field.total == 2


# ----------------------------------------------------------------------------- error measures
def test_error_measures_known_answer():
    """Tolerance units as in scipy's tests: one component off by (atol + rtol |y*|) in a
    2-component state gives RMS sqrt(1/2)."""
    from harness.measure import error_measures

    y_true = np.array([[1.0, 2.0], [4.0, -8.0]])
    y = y_true.copy()
    y[1, 0] += 1e-6 + 1e-3 * 4.0
    e = error_measures(y, y_true, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(e.tol_units, [0.0, np.sqrt(0.5)], rtol=1e-12)
    np.testing.assert_allclose(e.abs, [0.0, 1e-6 + 4e-3], rtol=1e-12)
    np.testing.assert_allclose(e.rel, [0.0, (1e-6 + 4e-3) / 8.0], rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        error_measures(y[:1], y_true, rtol=1e-3, atol=1e-6)
