"""Readable reference ODE solvers and adjoints with torchdiffeq's `odeint` API.

    from reference import odeint, odeint_adjoint, last_stats
    ys = odeint(func, y0, t, rtol=1e-7, atol=1e-9, method="dopri5")
"""

from .adjoint import odeint_adjoint
from .errors import ODESolverError, StepSizeUnderflowError, TooManyStepsError
from .integrate import odeint
from .stats import AdjointStats, SolveStats, last_adjoint_stats, last_stats
from .tableau import ButcherTableau, DenseOutput, TableauError
from .tableaus import TABLEAUS

__all__ = [
    "odeint", "odeint_adjoint", "last_stats", "last_adjoint_stats", "SolveStats", "AdjointStats",
    "ODESolverError", "TooManyStepsError", "StepSizeUnderflowError",
    "ButcherTableau", "DenseOutput", "TableauError", "TABLEAUS",
]
