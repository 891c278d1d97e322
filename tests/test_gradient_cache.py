"""The gradient oracles' disk cache (harness/oracles/gradient_cache.py): a second call reads the
stored answer (and computes nothing), and every change of what the answer depends on -- the
field's values, its formula, its trainable set, the inputs, the oracle's settings -- is a
different key; fields the key cannot describe are never cached."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.oracles import clear_cache
from harness.oracles import gradient_cache, gradients
from harness.oracles.gradient_cache import field_fingerprint, gradient_cache_key
from harness.oracles.gradients import (finite_difference_oracle, forward_sensitivity_oracle,
                                       torchdiffeq_backprop_oracle)
from harness.problems import VectorField

# loose oracle tolerances: the cache does not care, and the test stays fast
TOL = dict(rtol=1e-7, atol=1e-7)


def _lin(m, t, y):
    return y @ m.A.transpose(0, 1)


def _lin_t(m, t, y):  # a different formula with the same parameters: y' = A y + t
    return y @ m.A.transpose(0, 1) + t


def _field(fn=_lin, scale: float = 1.0) -> VectorField:
    A = scale * np.array([[-0.5, 0.3], [-0.2, -0.4]])
    return VectorField("cache-test", fn, torch.float64, torch.device("cpu"), parameters={"A": A})


Y0, T = np.array([1.0, 0.5]), np.array([0.0, 0.5, 1.0])
G = np.random.default_rng(0).standard_normal((3, 2))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ODE_HARNESS_CACHE", str(tmp_path))
    return tmp_path


def _same(a, b) -> None:
    for name in gradients.GROUPS:
        np.testing.assert_array_equal(a.group(name), b.group(name))
    assert a.error_estimate == b.error_estimate and a.method == b.method


@pytest.mark.parametrize("oracle", [forward_sensitivity_oracle, torchdiffeq_backprop_oracle])
def test_second_call_reads_the_cache(oracle, _cache, monkeypatch):
    first = oracle(_field(), Y0, T, G, **TOL)
    assert len(list(_cache.glob("grad-*.npz"))) == 1
    # the second call must not compute: make computing impossible
    monkeypatch.setattr(gradients, "_forward_sensitivity", lambda *a, **k: pytest.fail("recomputed"))
    monkeypatch.setattr(gradients, "_torchdiffeq_backprop", lambda *a, **k: pytest.fail("recomputed"))
    second = oracle(_field(), Y0, T, G, **TOL)
    _same(first, second)
    assert second.settings == first.settings
    assert [p.shape for p in second.grad_params] == [p.shape for p in first.grad_params]


def test_finite_differences_round_trip_keeps_directions():
    first = finite_difference_oracle(_field(), Y0, T, G, seed=3, **TOL)
    second = finite_difference_oracle(_field(), Y0, T, G, seed=3, **TOL)
    _same(first, second)
    for a, b in zip(first.settings["v_params"], second.settings["v_params"]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # projection onto the stored directions works as with the computed ones
    full = forward_sensitivity_oracle(_field(), Y0, T, G, **TOL)
    np.testing.assert_array_equal(gradients.project(full, first).params, gradients.project(full, second).params)


def test_what_the_answer_depends_on_changes_the_key():
    base = gradient_cache_key("x", _field(), dict(y0=Y0, t=T, g=G))
    assert base is not None
    assert gradient_cache_key("x", _field(), dict(y0=Y0, t=T, g=G)) == base  # fresh field, same key
    assert gradient_cache_key("x", _field(scale=1.0 + 1e-15), dict(y0=Y0, t=T, g=G)) != base
    assert gradient_cache_key("x", _field(_lin_t), dict(y0=Y0, t=T, g=G)) != base
    assert gradient_cache_key("x", _field(), dict(y0=Y0, t=T, g=G, rtol=1e-9)) != base
    assert gradient_cache_key("x", _field(), dict(y0=Y0, t=T * 1.5, g=G)) != base
    frozen = _field()
    frozen.A.requires_grad_(False)
    assert gradient_cache_key("x", frozen, dict(y0=Y0, t=T, g=G)) != base
    assert gradient_cache_key("y", _field(), dict(y0=Y0, t=T, g=G)) != base


def test_a_changed_formula_is_never_served_a_stale_gradient():
    """Seeded bug: a key without the field's formula would hand the y' = A y gradient to the
    y' = A y + t field (same class, same parameters)."""
    forward_sensitivity_oracle(_field(_lin), Y0, T, G, **TOL)
    cached = forward_sensitivity_oracle(_field(_lin_t), Y0, T, G, **TOL)
    fresh = forward_sensitivity_oracle(_field(_lin_t), Y0, T, G, use_cache=False, **TOL)
    _same(cached, fresh)
    stale = forward_sensitivity_oracle(_field(_lin), Y0, T, G, use_cache=False, **TOL)
    assert not np.allclose(stale.grad_t, fresh.grad_t)


def test_undescribable_fields_and_use_cache_false_store_nothing(_cache):
    hooked = _field()
    hooked.register_forward_hook(lambda m, inp, out: out * 2)
    assert field_fingerprint(hooked) is None
    forward_sensitivity_oracle(hooked, Y0, T, G, **TOL)
    forward_sensitivity_oracle(_field(), Y0, T, G, use_cache=False, **TOL)
    assert not list(_cache.glob("*.npz"))


def test_unreadable_entry_is_recomputed_and_cleared(_cache):
    first = forward_sensitivity_oracle(_field(), Y0, T, G, **TOL)
    (entry,) = _cache.glob("grad-*.npz")
    entry.write_bytes(b"not a zip file")
    again = forward_sensitivity_oracle(_field(), Y0, T, G, **TOL)
    _same(first, again)
    assert clear_cache() == 1 and not list(_cache.glob("*.npz"))


def test_oracle_code_is_part_of_the_key(monkeypatch):
    base = gradient_cache_key("x", _field(), dict(y0=Y0, t=T, g=G))
    monkeypatch.setattr(gradient_cache, "_code_digest", lambda: "edited")
    assert gradient_cache_key("x", _field(), dict(y0=Y0, t=T, g=G)) != base


def test_sensitivity_scales_cached_and_equal_to_computed(_cache):
    first = gradients.sensitivity_scales(_field(), Y0, T, G, tol=1e-8)
    cached = gradients.sensitivity_scales(_field(), Y0, T, G, tol=1e-8)
    fresh = gradients.sensitivity_scales(_field(), Y0, T, G, tol=1e-8, use_cache=False)
    assert len(list(_cache.glob("grad-sensitivity-scales-*.npz"))) == 1
    for a in (cached, fresh):
        assert a.scale == first.scale
        np.testing.assert_array_equal(a.s_norms, first.s_norms)
        np.testing.assert_array_equal(a.ydd_norms, first.ydd_norms)
