"""Memory scaling of the three ways to differentiate a solve, by bytes saved for backward.

Saved-for-backward bytes (harness.measure.saved_tensor_bytes) are deterministic: they depend on
the graph, not on timing or the allocator, so these are exact tests, not timed ones. A fixed-step
method (rk4, step 1/n on [0, 1]) makes the number of steps exactly n = 10, 100, 1000.

What each way saves (reference/adjoint.py, reference/integrate.py):
  backsolve   ctx.save_for_backward(t, ys): the output times and the outputs only, whatever n.
  checkpoint  ctx.save_for_backward(t, states) with states = the start state of every accepted
              step, stacked: exactly one state per step, so the increment per step is 1 state
              size; the test allows <= 2 (one start state per step, plus slack for a strategy
              that would also keep, e.g., the step's end state or its first stage).
  backprop    the whole graph of every stage evaluation: linear in n with a per-step cost of
              several states (for the MLP below: 4 evaluations x (the stage input, 1 state, and
              tanh's output, hidden/dim = 4 states) = 20 states per step).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import reference
from harness.measure import saved_tensor_bytes

STEPS = (10, 100, 1000)
DIM, HIDDEN, BATCH = 4, 16, 8


class _MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(DIM, HIDDEN), nn.Linear(HIDDEN, DIM)

    def forward(self, t, y):
        return self.l2(torch.tanh(self.l1(y)))


@pytest.fixture(scope="module")
def problem():
    torch.manual_seed(0)
    func = _MLP().double()
    y0 = torch.randn(BATCH, DIM, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    return func, y0, t


def _solve(kind: str, func, y0, t, n: int) -> torch.Tensor:
    opts = {"step_size": 1.0 / n}
    if kind == "backprop":
        return reference.odeint(func, y0, t, method="rk4", options=opts)
    return reference.odeint_adjoint(func, y0, t, method="rk4", options=opts, strategy=kind)


def _saved(kind: str, problem, n: int) -> int:
    func, y0, t = problem
    y0 = y0.clone().requires_grad_()

    def loss():
        ys = _solve(kind, func, y0, t, n)
        assert reference.last_stats().n_accepted == n
        return ys[-1].pow(2).sum()

    return saved_tensor_bytes(loss).bytes


@pytest.fixture(scope="module")
def saved(problem):
    return {kind: {n: _saved(kind, problem, n) for n in STEPS}
            for kind in ("backsolve", "checkpoint", "backprop")}


def _state_bytes(problem) -> int:
    _, y0, _ = problem
    return y0.numel() * y0.element_size()


def _assert_exactly_linear(b: dict[int, int]) -> int:
    """b(n) = a + c n exactly at n = 10, 100, 1000; returns the per-step increment c."""
    c, rem = divmod(b[100] - b[10], 90)
    assert rem == 0, b
    assert b[1000] - b[100] == 900 * c, b
    return c


def test_backsolve_saved_bytes_are_independent_of_the_step_count(saved, problem):
    b = saved["backsolve"]
    assert b[10] == b[100] == b[1000]
    # t (2 float64) and ys (2 states); ys[-1].pow(2) saves a view of ys: nothing more.
    assert b[10] == 2 * 8 + 2 * _state_bytes(problem)


def test_checkpoint_saved_bytes_grow_linearly_by_at_most_two_states_per_step(saved, problem):
    c = _assert_exactly_linear(saved["checkpoint"])
    state = _state_bytes(problem)
    assert 0 < c <= 2 * state
    assert c == state  # what the strategy saves today: exactly the start state of each step


def test_backprop_saved_bytes_grow_linearly_with_the_graph(saved, problem):
    c = _assert_exactly_linear(saved["backprop"])
    state = _state_bytes(problem)
    # 4 stage evaluations per rk4 step, each saving the stage input (1 state) and tanh's output
    # (HIDDEN / DIM states), which the second Linear saves again (same storage, counted once).
    assert c == 4 * (1 + HIDDEN // DIM) * state
    assert saved["backprop"][1000] > 10 * saved["checkpoint"][1000]


@pytest.mark.parametrize("strategy", ["backsolve", "checkpoint"])
def test_adjoint_gradients_match_backprop(problem, strategy):
    func, y0, t = problem
    n = 100

    def grads(kind: str):
        y = y0.clone().requires_grad_()
        func.zero_grad()
        ys = _solve(kind, func, y, t, n)
        ys[-1].pow(2).sum().backward()
        return [y.grad] + [p.grad.clone() for p in func.parameters()]

    expected = grads("backprop")
    got = grads(strategy)
    # checkpoint replays the same discrete steps: the gradient of the discrete solve itself.
    # backsolve integrates the adjoint ODE backward with rk4 (h = 0.01): O(h^4) away from it.
    tol = dict(rtol=1e-10, atol=1e-12) if strategy == "checkpoint" else dict(rtol=1e-6, atol=1e-8)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, **tol)
