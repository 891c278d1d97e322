"""Counting evaluations of a vector field, separately for the forward and the backward pass.

Solvers report their own NFE (`reference.last_stats()`), but a comparison with another library
needs a count taken the same way on both sides: wrap the field once and hand the wrapper to
either solver.

    field = CountingField(mlp)                  # mlp: nn.Module, f(t, y)
    ys = torchdiffeq.odeint_adjoint(field, y0, t)
    ys.sum().backward()
    field.nfe, field.nfe_backward               # forward-solve and backward-pass evaluations

Which pass a call belongs to is `phase`: set it explicitly ("forward", "backward", or any other
label, counted in `counts`), or leave it at "auto", where a call made while autograd's engine is
running a backward pass (an adjoint's `backward`, a checkpoint's recomputation) counts as
"backward" and any other call as "forward".
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

__all__ = ["CountingField", "in_backward_pass"]

AUTO = "auto"


def in_backward_pass() -> bool:
    """True while autograd's engine executes a backward pass in this thread (a custom Function's
    `backward`, a hook, ...). Relies on ``torch._C._current_graph_task_id`` (-1 outside a backward
    pass); without it, always False."""
    task_id = getattr(torch._C, "_current_graph_task_id", None)
    return task_id is not None and task_id() != -1


class CountingField(nn.Module):
    """Wraps a vector field ``func(t, y, ...)`` and counts its calls by phase.

    func: an nn.Module (registered as the submodule ``func``, so ``.parameters()``,
        ``.to()``, ``state_dict()`` are the wrapped module's) or any callable.
    phase: the label the next calls are counted under; ``"auto"`` (default) picks
        "backward" inside an autograd backward pass and "forward" otherwise.
    """

    def __init__(self, func: Callable[..., torch.Tensor], phase: str = AUTO):
        super().__init__()
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}")
        self.func = func
        self.phase = phase
        self.counts: dict[str, int] = {}

    def forward(self, t: torch.Tensor, y: Any, *args: Any, **kwargs: Any) -> Any:
        phase = self.phase
        if phase == AUTO:
            phase = "backward" if in_backward_pass() else "forward"
        self.counts[phase] = self.counts.get(phase, 0) + 1
        return self.func(t, y, *args, **kwargs)

    @property
    def nfe(self) -> int:
        """Calls counted as "forward"."""
        return self.counts.get("forward", 0)

    @property
    def nfe_backward(self) -> int:
        """Calls counted as "backward"."""
        return self.counts.get("backward", 0)

    @property
    def total(self) -> int:
        """All calls, whatever their phase."""
        return sum(self.counts.values())

    def reset(self) -> None:
        """Zero every counter (the phase is kept)."""
        self.counts = {}

    @contextmanager
    def counting_as(self, phase: str) -> Iterator["CountingField"]:
        """Count the calls made inside the block under `phase`, then restore the previous one."""
        previous, self.phase = self.phase, phase
        try:
            yield self
        finally:
            self.phase = previous

    def extra_repr(self) -> str:
        return f"phase={self.phase!r}, counts={self.counts}"
