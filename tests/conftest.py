"""Shared fixtures of the project's own tests. Seeds are fixed everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from reference.tableaus import TABLEAUS

FIXED = [n for n, t in TABLEAUS.items() if not t.adaptive]
ADAPTIVE = [n for n, t in TABLEAUS.items() if t.adaptive]
EPS64 = float(np.finfo(np.float64).eps)


class LinearProblem:
    """y' = A y with a seeded random A (float64); exact solution expm(t A) y0."""

    def __init__(self, n: int = 4, seed: int = 0, scale: float = 0.5):
        rng = np.random.default_rng(seed)
        self.A = scale * rng.standard_normal((n, n))
        self.y0 = rng.standard_normal(n)
        self.At = torch.as_tensor(self.A)

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.At.to(y.dtype).T

    def exact(self, t: float, t0: float = 0.0, y0=None) -> np.ndarray:
        y0 = self.y0 if y0 is None else y0
        return scipy.linalg.expm((t - t0) * self.A) @ y0


@pytest.fixture
def linear_problem() -> LinearProblem:
    return LinearProblem()


class TanhMLP(torch.nn.Module):
    """A seeded t-dependent tanh MLP field, the Neural-ODE workload: f(t, y) = W2 tanh(W1 [y, t] + b1) + b2.
    `unused` is a parameter the field never touches (its gradient must be zero)."""

    def __init__(self, dim: int = 3, hidden: int = 16, seed: int = 0, dtype=torch.float64):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W1 = torch.nn.Parameter(torch.randn(hidden, dim + 1, generator=g, dtype=dtype) / (dim + 1) ** 0.5)
        self.b1 = torch.nn.Parameter(0.1 * torch.randn(hidden, generator=g, dtype=dtype))
        self.W2 = torch.nn.Parameter(torch.randn(dim, hidden, generator=g, dtype=dtype) / hidden ** 0.5)
        self.b2 = torch.nn.Parameter(0.1 * torch.randn(dim, generator=g, dtype=dtype))
        self.unused = torch.nn.Parameter(torch.ones(2, dtype=dtype))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ty = torch.cat([y, t.expand(*y.shape[:-1], 1)], dim=-1)
        return torch.tanh(ty @ self.W1.T + self.b1) @ self.W2.T + self.b2


@pytest.fixture
def tanh_mlp() -> TanhMLP:
    return TanhMLP()


def require_torchdyn() -> None:
    """Skip the calling test, with the reason "torchdyn not installed", when the torchdyn extra
    (README "torchdyn") is missing; under CI (the environment variable CI set, as .ci/run runs)
    fail instead, since the README's test command installs it and a skip there would hide the
    adapters' tests."""
    import os

    try:
        import torchdyn.core  # noqa: F401
        import torchdyn.numerics  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"torchdyn not installed under CI (the README's test command installs it): {exc}")
        pytest.skip("torchdyn not installed")


@pytest.fixture
def torchdyn_installed() -> None:
    require_torchdyn()
