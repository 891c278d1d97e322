"""Exceptions raised by the reference solvers (never bare asserts)."""

from __future__ import annotations


class ODESolverError(RuntimeError):
    """A solve could not be completed; the message names the time and step size."""


class TooManyStepsError(ODESolverError):
    """More steps were attempted than `options["max_num_steps"]` allows."""

    def __init__(self, t: float, h: float, max_num_steps: int):
        super().__init__(f"too many steps: {max_num_steps} steps attempted (max_num_steps) and the "
                         f"solve is still at t = {t!r} with step size dt = {h!r}")
        self.t, self.h, self.max_num_steps = t, h, max_num_steps


class StepSizeUnderflowError(ODESolverError):
    """The step-size controller asked for a step that cannot advance t."""

    def __init__(self, t: float, h: float, reason: str):
        super().__init__(f"step size underflow at t = {t!r}: dt = {h!r} ({reason})")
        self.t, self.h = t, h
