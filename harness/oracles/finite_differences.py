"""Finite-difference gradient oracle: central differences with Richardson extrapolation.

The loss is evaluated by scipy's DOP853 (`solve_ivp`) at tight tolerance, independently of any
implementation under test. Directional derivatives dL/dx . v are used (one per random direction
or unit vector) so the cost does not grow with the number of parameters.

Error model (e.g. Sauer, Numerical Analysis, sec. 5.1): the central difference
D(h) = (L(x + h v) - L(x - h v)) / 2h has truncation error c2 h^2 + c4 h^4 + ...; one Richardson
step R(h) = (4 D(h/2) - D(h)) / 3 removes the h^2 term. With L known only to an absolute noise
delta (the solver's accuracy), R carries an extra error of about delta / h; balancing it against
c4 h^4 gives h ~ delta^(1/5) (times the scale of x). The reported error estimate is
|R(h) - R(h/2)| plus 2 delta / h: the disagreement of two extrapolations and the noise term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.integrate import solve_ivp


@dataclass
class FDResult:
    value: float
    error_estimate: float
    h: float


def directional_derivative(loss: Callable[[float], float], *, noise: float, scale: float = 1.0) -> FDResult:
    """d/ds loss(s) at s = 0 by Richardson-extrapolated central differences.

    `loss(s)` evaluates L(x + s v); `noise` is the absolute accuracy of its values; `scale` the size
    of x along v (the step is relative to it)."""
    h = max(noise, 1e-16) ** 0.2 * max(scale, 1e-3)

    def D(step: float) -> float:
        return (loss(step) - loss(-step)) / (2 * step)

    d1, d2, d3 = D(h), D(h / 2), D(h / 4)
    r1, r2 = (4 * d2 - d1) / 3, (4 * d3 - d2) / 3
    return FDResult(value=r2, error_estimate=abs(r2 - r1) + 2 * noise / (h / 4), h=h)


def scipy_solution(func: Callable, y0: np.ndarray, t: np.ndarray, *, rtol: float = 1e-13,
                   atol: float = 1e-13) -> np.ndarray:
    """y at every time of t (monotone, either direction) for a torch field `func(t, y)` of a 1-D
    float64 state, solved by scipy DOP853; returns (len(t), len(y0))."""
    t = np.asarray(t, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    if len(t) == 1:
        return y0[None].copy()

    def rhs(s: float, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return func(torch.tensor(s, dtype=torch.float64), torch.from_numpy(y)).numpy()

    sol = solve_ivp(rhs, (t[0], t[-1]), y0, method="DOP853", t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"scipy DOP853 failed: {sol.message}")
    return sol.y.T
