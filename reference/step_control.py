"""Step-size control, in one place: error norm, initial step, controller.

References: Hairer, Norsett, Wanner, Solving ODEs I, 2nd ed. (HNW), sec. II.4 (error norm,
initial step "Starting Step Size", controller with safety factor and facmin/facmax); Gustafsson's
PI controller as used in Hairer's DOPRI5 (beta stabilisation, HNW sec. IV.2); DOP853's combined
error estimate (HNW sec. II.10, and the code dop853.f).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Norm = Callable[[torch.Tensor], torch.Tensor]


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """Root-mean-square over all elements (HNW eq. (4.11)): every batch element counts."""
    return x.detach().abs().pow(2).mean().sqrt()


def scaled(x: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, rtol: float, atol: float) -> torch.Tensor:
    """x / (atol + rtol max(|y0|, |y1|)), the mixed absolute/relative scaling of HNW eq. (4.10)."""
    return x.detach() / (atol + rtol * torch.maximum(y0.detach().abs(), y1.detach().abs()))


def error_ratio(step, rtol: float, atol: float, norm: Norm) -> float:
    """The controller's error measure of an attempted step; <= 1 means accept.

    With a secondary estimate (DOP853) Hairer's combination err5^2 / sqrt(err5^2 + 0.01 err3^2)
    is used, which behaves like h^8 (dop853.f, HNW sec. II.10).
    """
    e5 = float(norm(scaled(step.error, step.y, step.y_new, rtol, atol)))
    if step.error_secondary is None:
        return e5
    e3 = float(norm(scaled(step.error_secondary, step.y, step.y_new, rtol, atol)))
    denom = e5 * e5 + 0.01 * e3 * e3
    return 0.0 if denom == 0.0 else e5 * e5 / math.sqrt(denom)


def initial_step(func, t0, y0: torch.Tensor, f0: torch.Tensor, direction: float, error_order: int,
                 rtol: float, atol: float, norm: Norm, max_step: float) -> float:
    """Hairer's starting step size (HNW sec. II.4, "Starting Step Size", steps a-f). One extra
    evaluation of f. Returns |h|.

    The exponent is 1/(q+1) with q the order of the *error estimate*, as in Hairer's codes
    (dopri5.f HINIT with IORD = 5 for DOPRI5's 4th-order estimate, dop853.f with IORD = 8): the
    step is chosen so that the controlled quantity, which scales like h^(q+1), starts near 0.01."""
    sc = atol + rtol * y0.detach().abs()
    d0 = float(norm(y0.detach() / sc))
    d1 = float(norm(f0.detach() / sc))
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, max_step)
    y1 = y0 + (direction * h0) * f0
    f1 = func(t0 + direction * h0, y1)
    d2 = float(norm((f1.detach() - f0.detach()) / sc)) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (error_order + 1))
    return min(100 * h0, h1, max_step)


@dataclass
class Controller:
    """Integral (I) or proportional-integral (PI) step-size controller.

    factor = safety * err^(-alpha) * err_prev^beta, clipped to [min_factor, max_factor], with
    alpha = 1/(q+1) - 0.75 beta (HNW sec. IV.2, as in DOPRI5); beta = 0 is the classical I
    controller of HNW eq. (4.13). After a rejection the next step may not grow (HNW sec. II.4).
    """

    error_order: int
    safety: float = 0.9
    min_factor: float = 0.2
    max_factor: float = 10.0
    beta: float = 0.0
    _err_prev: float = 1e-4
    _rejected_last: bool = False

    def factor(self, err: float) -> float:
        """Step-size factor for the next attempt after a step with error measure `err`."""
        alpha = 1.0 / (self.error_order + 1) - 0.75 * self.beta
        if not math.isfinite(err):
            fac = self.min_factor
        elif err == 0.0:
            fac = self.max_factor
        else:
            fac = self.safety * err ** (-alpha) * (self._err_prev ** self.beta if err <= 1 else 1.0)
        fac = min(self.max_factor, max(self.min_factor, fac))
        accepted = math.isfinite(err) and err <= 1.0
        if accepted:
            if self._rejected_last:
                fac = min(fac, 1.0)
            self._err_prev = max(err, 1e-4)
        else:
            fac = min(fac, 1.0)
        self._rejected_last = not accepted
        return fac
