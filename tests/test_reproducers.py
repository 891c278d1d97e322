"""Reproducer scripts (issue 11, acceptance 3) and the standalone field sources they carry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.problems import PROBLEMS, get_problem, vector_field_source


def _field_from_source(text: str, dtype: torch.dtype) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(text, "<field source>", "exec"), namespace)  # noqa: S102 - our own generated text
    return namespace["Field"](dtype=dtype)


def _bits(x: torch.Tensor) -> torch.Tensor:
    return x.detach().contiguous().view(torch.int64 if x.dtype == torch.float64 else torch.int32)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_field_source_equals_make_field_bitwise(dtype):
    """The one definition: for every problem, the generated source computes make_field's f
    bit for bit (values and parameters, random t and batched y), so the two cannot drift."""
    rng = np.random.default_rng(11)
    for name, problem in PROBLEMS.items():
        ref = problem.make_field(dtype=dtype)
        got = _field_from_source(problem.torch_source(), dtype)
        assert [n for n, _ in got.named_parameters()] == [n for n, _ in ref.named_parameters()], name
        assert [n for n, _ in got.named_buffers()] == [n for n, _ in ref.named_buffers()], name
        for (n, a), (_, b) in zip(ref.state_dict().items(), got.state_dict().items()):
            assert a.dtype == b.dtype and torch.equal(_bits(a), _bits(b)), (name, n)
        y0 = np.asarray(problem.y0)
        for _ in range(3):
            t = float(problem.t0 + (problem.t1 - problem.t0) * rng.uniform(0.05, 0.95))
            y = torch.tensor(y0 + 0.1 * rng.standard_normal((2, problem.dim)) * (1 + np.abs(y0)), dtype=dtype)
            a, b = ref(torch.tensor(t, dtype=dtype), y), got(torch.tensor(t, dtype=dtype), y)
            assert a.dtype == b.dtype == dtype and torch.equal(_bits(a), _bits(b)), (name, t)


def test_field_source_of_a_changed_field_differs():
    """The comparison above can fail: a source generated from a field with one constant changed
    does not reproduce the original (seeded defect)."""
    f = get_problem("linear-param").make_field()
    with torch.no_grad():
        f.A[0, 0] += 1e-12
    got = _field_from_source(vector_field_source(f), torch.float64)
    ref = get_problem("linear-param").make_field()
    y = torch.tensor([[1.0, 0.5, -0.5]], dtype=torch.float64)
    assert not torch.equal(got(0.0, y), ref(0.0, y))
