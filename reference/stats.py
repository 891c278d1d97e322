"""What a solve cost, readable after it finished.

`reference.odeint` and `reference.odeint_adjoint` record a `SolveStats` for every solve in a
thread-local slot: `reference.last_stats()` returns the stats of the last completed forward solve
in this thread, `reference.last_adjoint_stats()` those of the last completed adjoint backward pass.
Benchmarks read them instead of wrapping `func`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class SolveStats:
    """Counters of one solve.

    nfe: evaluations of the vector field (the initial-step heuristic's two included).
    n_accepted / n_rejected: steps accepted and rejected by the controller (fixed-step: all accepted).
    initial_step: the first step size tried (adaptive methods).
    """

    method: str
    nfe: int = 0
    n_accepted: int = 0
    n_rejected: int = 0
    initial_step: float | None = None

    @property
    def n_attempted(self) -> int:
        return self.n_accepted + self.n_rejected


@dataclass
class AdjointStats:
    """Counters of one adjoint backward pass.

    backward_nfe: evaluations of `func` during the backward pass (each with one vector-Jacobian
        product), the backward solves' and the ones needed for gradients with respect to t.
    backward: stats of each backward solve, last output interval first (backsolve), or one entry
        for the whole replay (checkpoint).
    reconstruction_error: backsolve only: max-abs |z_hat(t0) - z(t0)| of the state rebuilt by
        integrating backward from the last output time to the first one, before the reset to the
        stored forward value. `reconstruction_errors` lists the same for every output interval,
        first interval first.
    """

    strategy: str
    forward: SolveStats
    backward: list[SolveStats] = field(default_factory=list)
    backward_nfe: int = 0
    reconstruction_error: float | None = None
    reconstruction_errors: list[float] = field(default_factory=list)


_LAST = threading.local()


def last_stats() -> SolveStats | None:
    """Stats of the last forward solve completed in this thread (None before the first)."""
    return getattr(_LAST, "forward", None)


def last_adjoint_stats() -> AdjointStats | None:
    """Stats of the last adjoint backward pass completed in this thread (None before the first)."""
    return getattr(_LAST, "adjoint", None)


def _record_forward(stats: SolveStats) -> None:
    _LAST.forward = stats


def _record_adjoint(stats: AdjointStats) -> None:
    _LAST.adjoint = stats
