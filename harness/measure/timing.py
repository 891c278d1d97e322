"""Repeated wall-time measurements with their spread.

One perf_counter timing of a millisecond-long solve is noise: the scheduler, the allocator, a
cache that is cold, a neighbour on the machine. `time_repeated` times a call k times after
warm-up calls that are not timed, with k derived from a target measurement time (as
pytest-benchmark calibrates its rounds to ``--benchmark-min-time``): k = ceil(target / t_warm),
clamped to [min_rounds, max_rounds], where t_warm is the last warm-up call's time. The result
keeps every sample and summarises them by the order statistics that do not assume a
distribution: min, quartiles, median and max (the median is what the report plots, the
interquartile range is its spread).

    timing, out = time_repeated(lambda: odeint(f, y0, t), target_s=0.2)
    timing.median, timing.iqr, timing.notes()
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Timing:
    """The samples (seconds, in the order taken) of one repeated measurement."""

    samples: tuple[float, ...]
    warmup: int

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a Timing needs at least one sample")

    @property
    def rounds(self) -> int:
        return len(self.samples)

    def quantile(self, q: float) -> float:
        """Linear interpolation between order statistics (numpy's default)."""
        return float(np.quantile(np.asarray(self.samples, float), q))

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def q1(self) -> float:
        return self.quantile(0.25)

    @property
    def q3(self) -> float:
        return self.quantile(0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def stddev(self) -> float:
        return float(np.std(self.samples, ddof=1)) if self.rounds > 1 else 0.0

    @property
    def max_over_min(self) -> float:
        return self.max / self.min if self.min > 0 else math.inf

    def notes(self, prefix: str = "seconds") -> dict[str, float | int]:
        """The summary as record fields: ``{prefix}_min``, ``_q1``, ``_median``, ``_q3``, ``_max``,
        ``_mean``, ``_stddev``, ``_iqr`` and ``rounds``, ``warmup_rounds``."""
        out: dict[str, float | int] = {f"{prefix}_{k}": getattr(self, k)
                                       for k in ("min", "q1", "median", "q3", "max", "mean", "stddev", "iqr")}
        out.update(rounds=self.rounds, warmup_rounds=self.warmup)
        return out


def rounds_for(target_s: float, call_s: float, min_rounds: int, max_rounds: int) -> int:
    """k = ceil(target_s / call_s) clamped to [min_rounds, max_rounds] (call_s <= 0: max)."""
    if min_rounds < 1 or max_rounds < min_rounds:
        raise ValueError(f"need 1 <= min_rounds <= max_rounds, got {min_rounds}, {max_rounds}")
    k = max_rounds if call_s <= 0 else math.ceil(target_s / call_s)
    return int(min(max(k, min_rounds), max_rounds))


def time_repeated(fn: Callable[[], Any], *, target_s: float, min_rounds: int = 3, max_rounds: int = 100,
                  warmup: int = 1, sync: Callable[[], None] | None = None) -> tuple[Timing, Any]:
    """Call `fn` `warmup` times untimed, then k times timed (k from `rounds_for` with the last
    warm-up call's time; with warmup = 0 the first timed call sizes k and counts as a sample).
    `sync` runs after each call inside the timing (e.g. torch.cuda.synchronize). Returns the
    Timing and the last call's result."""
    def once() -> tuple[float, Any]:
        start = time.perf_counter()
        out = fn()
        if sync is not None:
            sync()
        return time.perf_counter() - start, out

    samples: list[float] = []
    call_s, result = 0.0, None
    for _ in range(warmup):
        call_s, result = once()
    if warmup == 0:
        call_s, result = once()
        samples.append(call_s)
    k = rounds_for(target_s, call_s, min_rounds, max_rounds)
    while len(samples) < k:
        s, result = once()
        samples.append(s)
    return Timing(tuple(samples), warmup), result


def spread_exceeds_gaps(centre: list[float], lo: list[float], hi: list[float]) -> list[bool]:
    """For points ordered along a curve, whether each one's spread (hi - lo) is larger than the
    gap to its nearest neighbour's centre: then the step from that neighbour to it is within the
    noise of the measurement, and the plot marks it. A curve of one point marks nothing."""
    n = len(centre)
    out = []
    for i in range(n):
        gaps = [abs(centre[i] - centre[j]) for j in (i - 1, i + 1) if 0 <= j < n]
        out.append(bool(gaps) and (hi[i] - lo[i]) > min(gaps))
    return out
