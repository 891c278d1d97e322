"""Sweeps that fit the method: the cost model that decides how tight a tolerance (adaptive
methods) or how small a step (fixed-step methods) a check may ask of an implementation, from its
claimed order and the profile's per-check step budget. Every suite reads its sweeps through here.

Why: a sweep written for 5th-order codes (rtol = atol = 1e-8 on every problem) costs a correct
2nd-order code hundreds of thousands of steps (torchdiffeq 0.2.5's adaptive_heun took 370 s at
the quick profile, 54 checks timed out, issue 12). A gate that fails a correct solver because of
its own sweep is a false alarm; so the sweep is chosen for the method, and what the budget rules
out is skipped visibly, with the numbers.

Step count of an adaptive method (the derivation)
-------------------------------------------------
An embedded pair of orders p(p-1) with local extrapolation (every pair of reference/,
torchdiffeq, torchode and scipy's RK23/RK45/DOP853) propagates the order-p solution and
estimates the local error of the order-(p-1) one, err ~ C h^p |y^(p)|. The controller keeps it at
tol (mixed weights atol + rtol |y|, rtol = atol = tol), so h ~ (tol / C)^(1/p) / omega where omega
is the problem's rate (|y^(k)| ~ omega^k |y|), and the step count over the span T is

    N(p, tol) ~ T omega (C / tol)^(1/p) = W tol^(-1/p),        W = T omega C^(1/p).

(The issue's tol^(-1/(p+1)) is the count of a code that estimates the propagated solution's own
error, err ~ h^(p+1); with local extrapolation the estimator is one order lower and the count
grows faster, as tol^(-1/p). The budget must bound the cost from above, so it uses 1/p.)
Measured (torchdiffeq 0.2.5, accepted + rejected steps = NFE / evaluations per step, B1 and B4 on
[0, 20]): adaptive_heun (p = 2) 270 -> 2438 steps from 1e-3 to 1e-5 on B1, exponent 0.48 (1/2;
1/3 would give 0.33); bosh3 (p = 3) 152 -> 1393 from 1e-4 to 1e-7 on B4, 0.32 (1/3); dopri5
(p = 5) 58 -> 331 from 1e-5 to 1e-9 on B4, 0.19 (1/5); dopri8 (p = 8) 35 -> 117 from 1e-6 to
1e-11 on B4, 0.105 (1/8). So W is the one constant per problem, and it barely depends on the
method: W = N tol^(1/p) on B1 is 7.7-8.5 (adaptive_heun), 8.1-10.3 (bosh3), 7.2-9.0 (dopri5),
10.5-11.6 (dopri8); on B4 6.2-6.8, 6.5-7.1, 5.2-5.8, 4.1-4.9; on A3 5.0-5.5 (adaptive_heun,
bosh3) against 3.9-5.5 (dopri5). C^(1/p) moves little across methods of one order (Euler's error
constant 1/2 is about the largest a 1st-order estimator has; fehlberg2's estimator constant
1/512 makes its W 10x smaller, which the bound does not need to follow).

Calibration: W of a problem is measured once per process, by scipy's RK45 (a 5(4) pair with the
standard controller, HNW-I sec. II.4) from t0 to t1 at rtol = atol = 1e-6: W_RK45 = N_RK45
1e-6^(1/5) (B1 7.3, B4 5.5, A3 3.9, D4 7.5, E2 9.0, arenstorf 8.3, pleiades 9.6, mlp-tanh 0.25;
20-200 RK45 steps, a few milliseconds). The measured torchdiffeq W above are at most 1.7x W_RK45
(bosh3 on A3 and D4, dopri8 on B1), so the model is

    N(p, tol) = SAFETY W_RK45 (span / problem span) tol^(-1/p) + START_STEPS,  SAFETY = 2,

an upper bound for a correct method of claimed order p; START_STEPS = 10 covers the start-up
(initial-step selection, first rejections) that dominates at loose tolerances on easy problems.
An IUT that takes more steps than this is slower than a correct method of its claim: its
timeout is its own finding, not a false alarm of the sweep.

The tightest affordable tolerance of a check with step budget B follows by inverting N:

    tol_min(p) = (SAFETY W / (B - START_STEPS))^p,

and a sweep of several tolerances costs the sum of its solves (a geometric series: the tightest
solve dominates, 1 / (1 - 10^(-1/p)) times it at most for a decade sweep). Examples, budget
B = 3000 (standard) on B4 (W = 5.5): p = 2: tol_min = 1.3e-5 (1e-8 would need ~1.1e5 steps); p = 3: 5.0e-8;
p = 4: 1.8e-10 (bosh3 loses 1e-8 on B4, order 4 keeps the quick points); p = 5: 6.7e-13,
so 5th- and 8th-order methods keep the quick sweep (1e-5, 1e-8) and the standard one down to
1e-10 on every profile problem (dopri5 at 1e-10 on E2, W = 9.0, the hardest quick/standard
problem for it: ~1.8e3 steps).

Fixed-step methods
------------------
The step count is the check's choice: N = span / h. It must stay within the budget, and the
truncation error C h^p must stay above the round-off of N steps (~ sqrt(N) eps |y|, a random
walk of one rounding per step), or the check measures round-off: with C ~ 1 and span ~ 1,
h^p >= 100 sqrt(N) eps bounds N <= (100 eps)^(-1/(p + 1/2)) (p = 4: 1900; p = 8: 60). See
`fixed_step_count`.

The budgets (steps per check, all its solves together) are in harness/profiles.py with their
derivation from the profile's wall-time goal.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

SAFETY = 2.0             # W of a correct method over W_RK45: measured <= 1.7 (module docstring)
START_STEPS = 10         # start-up steps (initial step selection, first rejections)
CALIBRATION_TOL = 1e-6   # rtol = atol of the RK45 run that measures W
CALIBRATION_ORDER = 5    # RK45 propagates 5th order, estimates with the 4th: N ~ tol^(-1/5)
EPS64 = float(np.finfo(np.float64).eps)
ROUNDOFF_MARGIN = 100.0  # truncation error must exceed round-off by this factor (fixed steps)
FIXED_SOLVE_STEPS = 4000  # steps of one fixed-step accuracy solve at most: a fixed-step solve has no
# controller and no rejections, and its check runs it once beside the same-order reference at the
# same h. 4000 is what the 1st- and 2nd-order methods always took (euler 4000, midpoint 2000 steps
# over the interval); fewer, e.g. 500, push them out of the asymptotic range: reference heun2 on
# D2 at h = 0.04 (500 steps) is 1.2x the 10x-midpoint bound, a false alarm of the sweep
LOOSEST_TOL = 1e-2       # a sweep shifted up by the budget never goes looser than this
BACKWARD_FACTOR = 3.0    # a solve with its gradient: the forward steps, and a backward pass whose
# vector-Jacobian products cost ~2 forward evaluations each (backprop; an adjoint solves an
# augmented system of ~2-3x the state's size over as many steps)


@dataclass(frozen=True)
class Cost:
    """What a solve (or a sweep of solves) at these settings needs, against the budget."""

    needed: float   # predicted steps, all solves together
    budget: int
    order: int
    tol: float | None

    @property
    def ok(self) -> bool:
        return self.needed <= self.budget

    def reason(self) -> str:
        at = f"at {self.tol:g} " if self.tol is not None else ""
        return (f"order {self.order} {at}needs ~{_steps(self.needed)} steps; budget {_steps(self.budget)} "
                f"(harness.budget: N = {SAFETY:g} W tol^(-1/p) + {START_STEPS})")


def _steps(x: float) -> str:
    return f"{x:.0f}" if x < 1e4 else f"{x:.2g}"


@functools.lru_cache(maxsize=None)
def _rk45_scale(problem_name: str) -> float:
    from scipy.integrate import solve_ivp

    from .problems import get_problem

    problem = get_problem(problem_name)
    sol = solve_ivp(problem.numpy_rhs, (problem.t0, problem.t1), np.asarray(problem.y0, dtype=np.float64),
                    method="RK45", rtol=CALIBRATION_TOL, atol=CALIBRATION_TOL)
    steps = max(len(sol.t) - 1, 1)
    return steps * CALIBRATION_TOL ** (1.0 / CALIBRATION_ORDER)


def rate_scale(problem, span: float | None = None) -> float:
    """W of `problem` (module docstring) over `span` (default: its whole interval): steps of a
    correct method at tol = 1, the library's scale measured once by scipy RK45."""
    full = abs(problem.t1 - problem.t0)
    frac = 1.0 if span is None else abs(span) / full
    return _rk45_scale(problem.name) * frac


def adaptive_steps(order: int, tol: float, scale: float) -> float:
    """Predicted steps of a correct adaptive method of order p at rtol = atol = tol on a problem
    of rate scale W: SAFETY W tol^(-1/p) + START_STEPS."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    return SAFETY * scale * tol ** (-1.0 / order) + START_STEPS


def sweep_cost(order: int, tols: Sequence[float], scale: float, budget: int, factor: float = 1.0) -> Cost:
    """Cost of solving at every tolerance of `tols` (factor: work of one step relative to a
    forward step, e.g. 3 for a solve with its backward pass)."""
    needed = factor * sum(adaptive_steps(order, t, scale) for t in tols)
    return Cost(needed, budget, order, min(tols) if tols else None)


def tightest_tolerance(order: int, scale: float, budget: int, factor: float = 1.0) -> float:
    """The smallest tol whose single solve fits the budget: (SAFETY W / (B/factor - START))^p."""
    room = budget / factor - START_STEPS
    if room <= 0:
        return math.inf
    return (SAFETY * scale / room) ** order


def half_decade_above(x: float) -> float:
    """The smallest 10^(k/2) >= x (tolerances stay on a half-decade grid)."""
    k = math.ceil(2 * math.log10(x) - 1e-9)
    return 10.0 ** (k / 2)


def affordable_tolerance(order: int | None, tol: float, scale: float, budget: int,
                         factor: float = 1.0) -> float:
    """`tol`, or the tightest half-decade tolerance the budget affords if `tol` is too tight
    (for checks at one tolerance, which then run at the tightest one they can afford: the
    check keeps its power; the tolerance it ran at is recorded). Unknown order: order 1."""
    p = order or 1
    if sweep_cost(p, [tol], scale, budget, factor).ok:
        return tol
    return half_decade_above(tightest_tolerance(p, scale, budget, factor))


def fit_sweep(order: int | None, tols: Sequence[float], scale: float, budget: int, *,
              factor: float = 1.0) -> tuple[list[float], Cost]:
    """A sweep of the same length and spacing as `tols` (sorted loosest first) that fits the
    budget: shifted up by whole sweep ratios until its total cost fits, never looser than
    LOOSEST_TOL. Returns (tolerances, cost of the returned sweep); cost.ok is False when even
    the loosest position does not fit (then the caller skips with cost.reason())."""
    p = order or 1
    tols = sorted((float(t) for t in tols), reverse=True)
    if len(tols) < 2:
        ratio = 10.0
    else:
        ratio = (tols[0] / tols[-1]) ** (1.0 / (len(tols) - 1))
    current = list(tols)
    cost = sweep_cost(p, current, scale, budget, factor)
    while not cost.ok:
        shifted = [t * ratio for t in current]
        if shifted[0] > LOOSEST_TOL * (1 + 1e-9):
            break
        current = shifted
        cost = sweep_cost(p, current, scale, budget, factor)
    if not cost.ok:
        return list(tols), sweep_cost(p, tols, scale, budget, factor)
    return current, cost


def fixed_step_count(order: int, target: float, budget: int, *, min_steps: int = 8) -> float:
    """Steps over a problem's interval for a fixed-step check of an order-p method aiming at error ~ target:
    N = 2 span target^(-1/p) (error ~ (h/span)^p with an O(1) constant, halved for margin),
    at most the budget and at most the round-off limit (100 eps sqrt(N) <= h^p, module
    docstring), at least `min_steps`. Not rounded: h = span / N need not divide the interval
    (the grid's last step is then shortened, which an IUT must handle)."""
    want = 2.0 * target ** (-1.0 / order)
    roundoff = (ROUNDOFF_MARGIN * EPS64) ** (-1.0 / (order + 0.5))
    n = min(want, float(budget), max(roundoff, min_steps))
    return max(float(min_steps), n)


__all__ = ["BACKWARD_FACTOR", "FIXED_SOLVE_STEPS", "Cost", "LOOSEST_TOL", "SAFETY", "START_STEPS", "adaptive_steps", "affordable_tolerance", "fit_sweep",
           "fixed_step_count", "half_decade_above", "rate_scale", "sweep_cost", "tightest_tolerance"]
