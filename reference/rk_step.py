"""The one generic explicit Runge-Kutta step, driven by a `ButcherTableau`.

Times and step sizes are either Python floats (float64) or 0-dim float64 tensors; the latter
carry gradients with respect to the output times when the caller asks for them. The state keeps
its own dtype: a 0-dim float64 tensor times a float32 tensor stays float32 under torch's type
promotion, so time is kept in float64 without promoting the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import torch

from .tableau import ButcherTableau

Time = Union[float, torch.Tensor]
VectorField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _lincomb(terms: list[tuple[int, float]], ks: list[torch.Tensor]) -> torch.Tensor:
    """sum_j coeff_j * ks[j] over the nonzero coefficients (zero when there are none)."""
    if not terms:
        return torch.zeros_like(ks[0])
    (j0, a0), rest = terms[0], terms[1:]
    acc = ks[j0] * a0
    for j, a in rest:
        acc = acc.add(ks[j], alpha=a)
    return acc


def _nonzero(row) -> list[tuple[int, float]]:
    return [(j, float(x)) for j, x in enumerate(row) if x != 0]


@dataclass
class Step:
    """One attempted step from (t, y) to t + h: stages, solution and error estimates."""

    t: Time
    h: Time
    y: torch.Tensor
    y_new: torch.Tensor
    k: list[torch.Tensor]
    error: torch.Tensor | None = None
    error_secondary: torch.Tensor | None = None
    extra_k: list[torch.Tensor] = field(default_factory=list)


class RKStepper:
    """Takes steps of one explicit RK method and evaluates its continuous extension."""

    def __init__(self, tableau: ButcherTableau):
        self.tableau = tableau
        arr = tableau.float64
        s = tableau.stages
        self.c = [float(x) for x in arr["c"]]
        self.a_rows = [_nonzero(arr["a"][i][:i]) for i in range(s)]
        self.b = _nonzero(arr["b"])
        self.e = _nonzero(arr["e"]) if "e" in arr else None
        self.e_secondary = _nonzero(arr["e_secondary"]) if "e_secondary" in arr else None
        if tableau.dense is not None:
            self.P = torch.as_tensor(arr["P"], dtype=torch.float64)
            self.c_extra = [float(x) for x in arr["c_extra"]]
            self.a_extra = [_nonzero(row) for row in arr["a_extra"]]
        else:
            self.P = None

    def step(self, func: VectorField, t: Time, y: torch.Tensor, h: Time,
             k1: torch.Tensor | None = None) -> Step:
        """One step of size h (signed). `k1` = f(t, y) when the caller already has it (FSAL)."""
        ks = [func(t, y) if k1 is None else k1]
        s = self.tableau.stages
        y_new = None
        for i in range(1, s):
            if self.tableau.fsal and i == s - 1:
                # The FSAL stage is f(t + h, y_new): its row of a is b.
                y_new = y + _lincomb(self.b, ks) * h
                ks.append(func(t + h, y_new))
            else:
                y_i = y + _lincomb(self.a_rows[i], ks) * h if self.a_rows[i] else y
                ks.append(func(t + self.c[i] * h, y_i))
        if y_new is None:
            y_new = y + _lincomb(self.b, ks) * h
        step = Step(t=t, h=h, y=y, y_new=y_new, k=ks)
        if self.e is not None:
            step.error = _lincomb(self.e, ks) * h
        if self.e_secondary is not None:
            step.error_secondary = _lincomb(self.e_secondary, ks) * h
        return step

    def dense(self, func: VectorField, step: Step, theta: Time) -> torch.Tensor:
        """y(t + theta h) from the method's continuous extension (theta in [0, 1]).

        Extra stages (DOP853) are evaluated on first use and kept on `step`.
        """
        if self.P is None:
            raise ValueError(f"method {self.tableau.name!r} has no continuous extension")
        for r in range(len(step.extra_k), len(self.c_extra)):
            ks = step.k + step.extra_k
            y_r = step.y + _lincomb(self.a_extra[r], ks) * step.h
            step.extra_k.append(func(step.t + self.c_extra[r] * step.h, y_r))
        ks = step.k + step.extra_k
        degree = self.P.shape[1]
        if isinstance(theta, torch.Tensor):
            powers = torch.stack([theta.to(torch.float64) ** (j + 1) for j in range(degree)])
            weights = self.P.to(powers.device) @ powers
            acc = None
            for i, k in enumerate(ks):
                term = k * weights[i]
                acc = term if acc is None else acc + term
        else:
            powers = [theta ** (j + 1) for j in range(degree)]
            weights = [sum(float(p) * w for p, w in zip(row, powers)) for row in self.P.tolist()]
            acc = _lincomb([(i, w) for i, w in enumerate(weights) if w != 0], ks)
        return step.y + acc * step.h
