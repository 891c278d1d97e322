"""Observed order of convergence from (step size, error) pairs.

Two estimates (cf. Hairer, Norsett, Wanner I, sec. II.3, "numerical experiments" for the
log-log slope, and the classical successive-halving ratio log2(e(h)/e(h/2))):

- the least-squares slope of log(error) against log(h) over the *asymptotic window*;
- the local slopes between neighbouring points, log(e_k/e_{k+1}) / log(h_k/h_{k+1}).

The window is found automatically, from the small-h end, where the asymptotic regime lives:
points at or below the round-off floor are dropped; trailing points whose local slope is below
1/2 (the error no longer falls: a round-off plateau) are dropped; the `min_points` smallest
remaining h whose local slopes agree with each other anchor the window, and it grows towards larger h while each new local slope stays
within `spread` of the anchor's slope (beyond that, the next error term is no longer negligible:
the pre-asymptotic range). Which points were used is recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class OrderEstimate:
    slope: float                      # least-squares slope over the used points (nan if too few)
    local_slopes: list[float]         # between neighbouring points, sorted by decreasing h
    used: list[int]                   # indices (into the input order) of the points in the fit
    h: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.slope)


def _ls_slope(h: np.ndarray, e: np.ndarray) -> float:
    return float(np.polyfit(np.log(h), np.log(e), 1)[0])


def observed_order(h, error, *, floor=0.0, min_points: int = 3,
                   spread: float = 0.2) -> OrderEstimate:
    """Estimate the order p in error ~ C h^p.

    Args:
        h, error: step sizes and errors (any order; errors >= 0).
        floor: errors at or below this are round-off, not truncation error, and are dropped
            (callers pass a few hundred float eps times the solution's scale); a scalar, or one
            value per point when the floor depends on h.
        min_points: the fewest points a window may have.
        spread: how far a local slope may stray from the anchor's slope: the relative size of
            the next error term, (C_{p+1}/C_p) h, that is still taken as asymptotic (0.2).
    """
    h = np.asarray(h, dtype=np.float64)
    e = np.asarray(error, dtype=np.float64)
    order = np.argsort(-h)                     # largest h first
    hs, es = h[order], e[order]
    floors = np.broadcast_to(np.asarray(floor, dtype=np.float64), h.shape)[order]

    def local(k: int) -> float:
        if es[k] > 0 and es[k + 1] > 0:
            return float(math.log(es[k] / es[k + 1]) / math.log(hs[k] / hs[k + 1]))
        return float("nan")

    slopes = [local(k) for k in range(len(hs) - 1)]
    good = [k for k in range(len(hs)) if math.isfinite(es[k]) and es[k] > floors[k]]
    # the longest run of consecutive good points ending at the smallest good h
    run: list[int] = []
    for k in reversed(good):
        if run and k != run[0] - 1:
            break
        run.insert(0, k)
    while len(run) >= 2 and not slopes[run[-2]] >= 0.5:  # a plateau: round-off, not truncation
        run.pop()
    if len(run) < min_points:
        return OrderEstimate(float("nan"), slopes, [], h.tolist(), e.tolist(),
                             reason=f"fewer than {min_points} consecutive points above the round-off "
                                    f"floor with falling error")
    # The anchor: the smallest-h window of `min_points` whose local slopes agree with each other.
    for end in range(len(run), min_points - 1, -1):
        idx = run[end - min_points:end]
        window = [slopes[k] for k in idx[:-1]]
        if max(window) - min(window) <= spread:
            break
    else:
        return OrderEstimate(float("nan"), slopes, [], h.tolist(), e.tolist(),
                             reason=f"no {min_points} consecutive points with local slopes within {spread}")
    anchor = _ls_slope(hs[idx], es[idx])
    for k in reversed(run[:run.index(idx[0])]):
        if abs(slopes[k] - anchor) > spread:
            break
        idx.insert(0, k)
    return OrderEstimate(_ls_slope(hs[idx], es[idx]), slopes, sorted(int(order[k]) for k in idx),
                         h.tolist(), e.tolist())
