"""Reference issue, acceptance 4: gradients of plain backprop through `reference.odeint` and of both
adjoint strategies agree with central finite differences to 1e-6 relative.

Field: a seeded t-dependent tanh MLP (tests/conftest.py, with one parameter it never uses).
Loss: L = sum_i g_i . y(t_i) with seeded random cotangents g_i on every output time, so the
intermediate cotangents matter. Directional derivatives along seeded random directions (y0,
parameters) and along each t_i are compared with the finite-difference oracle
(harness.oracles.finite_differences: Richardson-extrapolated central differences of scipy DOP853
solves at rtol = atol = 1e-13).

Why 1e-6 is a fair bound here: the gradient paths solve at rtol = atol = 1e-10, so their gradients
carry errors of about 1e-10 times the sensitivity condition (O(10) on these spans); the oracle's
own error estimate is asserted to be below 1e-7 relative before it is used.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference
from harness.oracles.finite_differences import directional_derivative, scipy_solution

from .conftest import TanhMLP

PATHS = ["backprop", "backsolve", "backsolve-seminorm", "checkpoint"]
SPANS = {"forward": [0.0, 0.5, 1.3, 2.0], "reverse": [2.0, 1.1, 0.2, -0.5]}
SOLVER_TOL = 1e-10
FD_NOISE = 1e-12  # absolute accuracy of L from DOP853 at 1e-13 (|L| = O(1), a few hundred steps)
REL = 1e-6


def cotangents(n_times: int, dim: int) -> torch.Tensor:
    return torch.randn(n_times, dim, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def run_path(path: str, field: TanhMLP, y0: torch.Tensor, t: torch.Tensor, method: str = "dopri5",
             options: dict | None = None):
    """(dL/dy0, dL/dt, dL/dparams) by one gradient path; unused inputs give zeros."""
    y0 = y0.clone().requires_grad_(True)
    t = t.clone().requires_grad_(True)
    kw = dict(rtol=SOLVER_TOL, atol=SOLVER_TOL, method=method, options=options)
    if path == "backprop":
        ys = reference.odeint(field, y0, t, **kw)
    else:
        strategy = "checkpoint" if path == "checkpoint" else "backsolve"
        adj = {"norm": "seminorm"} if path.endswith("seminorm") else None
        ys = reference.odeint_adjoint(field, y0, t, strategy=strategy, adjoint_options=adj, **kw)
    loss = (ys * cotangents(len(t), y0.shape[-1])).sum()
    params = list(field.parameters())
    grads = torch.autograd.grad(loss, [y0, t, *params], allow_unused=True, materialize_grads=True)
    return grads[0], grads[1], grads[2:]


class FDOracle:
    """Finite-difference directional derivatives of L for one time span."""

    def __init__(self, field: TanhMLP, y0: torch.Tensor, t: torch.Tensor):
        self.field, self.y0, self.t = field, y0.numpy(), t.numpy()
        self.g = cotangents(len(t), len(self.y0)).numpy()

    def loss(self, y0=None, t=None) -> float:
        ys = scipy_solution(self.field, self.y0 if y0 is None else y0, self.t if t is None else t)
        return float((ys * self.g).sum())

    def along_y0(self, v: np.ndarray):
        return directional_derivative(lambda s: self.loss(y0=self.y0 + s * v), noise=FD_NOISE)

    def along_t(self, i: int):
        e = np.zeros_like(self.t)
        e[i] = 1.0
        return directional_derivative(lambda s: self.loss(t=self.t + s * e), noise=FD_NOISE)

    def along_params(self, vs: list[torch.Tensor]):
        params = list(self.field.parameters())
        saved = [p.detach().clone() for p in params]

        def loss(s: float) -> float:
            with torch.no_grad():
                for p, p0, v in zip(params, saved, vs):
                    p.copy_(p0 + s * v)
            try:
                return self.loss()
            finally:
                with torch.no_grad():
                    for p, p0 in zip(params, saved):
                        p.copy_(p0)

        return directional_derivative(loss, noise=FD_NOISE)


@pytest.fixture(scope="module")
def field() -> TanhMLP:
    return TanhMLP(dim=3, hidden=16, seed=0)


@pytest.fixture(scope="module", params=list(SPANS))
def case(request, field):
    """FD directional derivatives for one span, computed once and shared by every path."""
    t = torch.tensor(SPANS[request.param], dtype=torch.float64)
    y0 = torch.tensor([0.5, -0.3, 0.8], dtype=torch.float64)
    gen = torch.Generator().manual_seed(11)
    v_y0 = torch.randn(3, generator=gen, dtype=torch.float64)
    v_p = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in field.parameters()]
    oracle = FDOracle(field, y0, t)
    fd = {"y0": oracle.along_y0(v_y0.numpy()), "params": oracle.along_params(v_p)}
    for i in range(len(t)):
        fd[f"t{i}"] = oracle.along_t(i)
    return dict(t=t, y0=y0, v_y0=v_y0, v_p=v_p, fd=fd)


def _close(got: float, fd, what: str) -> None:
    assert fd.error_estimate <= 0.1 * REL * abs(fd.value), f"FD oracle not accurate enough for {what}: {fd}"
    assert abs(got - fd.value) <= REL * abs(fd.value), f"{what}: got {got!r}, FD {fd.value!r} ({fd})"


@pytest.mark.parametrize("path", PATHS)
def test_gradients_match_finite_differences(path, case, field):
    g_y0, g_t, g_p = run_path(path, field, case["y0"], case["t"])
    fd = case["fd"]
    _close(float(g_y0 @ case["v_y0"]), fd["y0"], "dL/dy0 . v")
    _close(float(sum((g * v).sum() for g, v in zip(g_p, case["v_p"]))), fd["params"], "dL/dtheta . v")
    for i in range(len(case["t"])):
        _close(float(g_t[i]), fd[f"t{i}"], f"dL/dt[{i}]")


@pytest.mark.parametrize("path", PATHS)
def test_unused_parameter_gets_zero_gradient(path, field):
    _, _, g_p = run_path(path, field, torch.tensor([0.5, -0.3, 0.8], dtype=torch.float64),
                         torch.tensor(SPANS["forward"], dtype=torch.float64))
    names = [n for n, _ in field.named_parameters()]
    g_unused = g_p[names.index("unused")]
    assert g_unused is not None and torch.equal(g_unused, torch.zeros_like(g_unused))


@pytest.mark.parametrize("method, options", [("dopri5", None), ("rk4", {"step_size": 0.07})])
def test_checkpoint_equals_backprop_of_the_discrete_solve(method, options, field):
    """The checkpoint strategy replays the accepted steps, so its gradient is backprop's through the
    same discrete map: equal up to the rounding of summing in another order (1e-12 relative)."""
    y0 = torch.tensor([0.5, -0.3, 0.8], dtype=torch.float64)
    t = torch.tensor(SPANS["reverse"], dtype=torch.float64)
    bp = run_path("backprop", field, y0, t, method, options)
    cp = run_path("checkpoint", field, y0, t, method, options)
    for x, y in zip((bp[0], bp[1], *bp[2]), (cp[0], cp[1], *cp[2])):
        assert torch.allclose(x, y, rtol=1e-12, atol=1e-14)


def test_backsolve_records_reconstruction_error(field):
    y0 = torch.tensor([0.5, -0.3, 0.8], dtype=torch.float64, requires_grad=True)
    ys = reference.odeint_adjoint(field, y0, torch.tensor(SPANS["forward"], dtype=torch.float64),
                                  rtol=1e-8, atol=1e-8)
    ys[-1].sum().backward()
    stats = reference.last_adjoint_stats()
    assert stats.strategy == "backsolve" and len(stats.reconstruction_errors) == 3
    # the backward solve at 1e-8 rebuilds z(t0) to about the tolerance (the MLP flow is not contracting)
    assert 0 < stats.reconstruction_error < 1e-6
    assert stats.backward_nfe > 0 and stats.forward.nfe > 0
