"""Where a check's time goes: inside the implementation under test, inside the oracles, or in
the harness itself (issue 12, the harness's own cost; benchmarks/bench_harness_cost.py).

Two perf_counter reads per timed call, so it is always on: `OdeCase.odeint` times the IUT's
solves as "iut", the oracle entry points (harness.oracles) are decorated with
`timed_function("oracle")`, and `install_backward_timer` counts the backward passes that the
checks start (``Tensor.backward``, ``torch.autograd.grad``) as "iut": the gradient of an IUT's
output is its backward pass (backprop through its steps, or its adjoint solve). Nesting: the
outermost timed region owns the time, so an oracle that runs torchdiffeq or autograd inside
counts as oracle, never twice; the harness's own torch work (a reference method's gradient as a
baseline) is timed as "harness" for the same reason. The plugin stores each check's share in its record,
``extra["time_in"] = {"iut_s": ..., "oracle_s": ..., "harness_s": ..., "iut_cpu_s": ...,
"oracle_cpu_s": ..., "harness_cpu_s": ..., "iut_calls": ..., "oracle_calls": ..., "harness_calls": ...}``: wall seconds (perf_counter) and CPU seconds of this
process (process_time, all its threads; on a machine shared with other work the CPU seconds
are the steadier figure).
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, Callable, Iterator, TypeVar

# "harness": the harness's own computations that run torch (a reference method's baseline
# gradient, say), timed so that the backward timer does not book their autograd as the IUT's
KINDS = ("iut", "oracle", "harness")
_spent: dict[str, float] = {k: 0.0 for k in KINDS}
_cpu: dict[str, float] = {k: 0.0 for k in KINDS}
_calls: dict[str, int] = {k: 0 for k in KINDS}
_depth = [0]  # > 0 while a timed region is open (the outermost one owns the time)

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def timed(kind: str) -> Iterator[None]:
    """Add the time spent inside the block to `kind` (unless an outer timed block owns it)."""
    if kind not in _spent:
        raise ValueError(f"unknown cost kind {kind!r}; valid: {', '.join(KINDS)}")
    if _depth[0]:
        yield
        return
    _depth[0] += 1
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        _spent[kind] += time.perf_counter() - start
        _cpu[kind] += time.process_time() - start_cpu
        _calls[kind] += 1
        _depth[0] -= 1


def timed_function(kind: str) -> Callable[[F], F]:
    """Decorator: every call of the function is timed as `kind`."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with timed(kind):
                return fn(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap


def snapshot() -> dict[str, float]:
    """The running totals, to be passed to `since`."""
    return {**{f"{k}_s": v for k, v in _spent.items()}, **{f"{k}_cpu_s": v for k, v in _cpu.items()},
            **{f"{k}_calls": float(v) for k, v in _calls.items()}}


def since(start: dict[str, float] | None) -> dict[str, float | int]:
    """What was spent after `start` (a `snapshot`): seconds and calls per kind."""
    now = snapshot()
    start = start or {k: 0.0 for k in now}
    return {k: (int(v - start.get(k, 0.0)) if k.endswith("_calls") else v - start.get(k, 0.0))
            for k, v in now.items()}


_installed = [False]


def install_backward_timer() -> None:
    """Time ``torch.Tensor.backward`` and ``torch.autograd.grad`` as "iut" (once per process;
    only the processes that run suite checks call it: the plugin's ode_config)."""
    if _installed[0]:
        return
    import torch

    torch.Tensor.backward = timed_function("iut")(torch.Tensor.backward)  # type: ignore[method-assign]
    torch.autograd.grad = timed_function("iut")(torch.autograd.grad)
    _installed[0] = True
