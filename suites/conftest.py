"""Shared fixtures and helpers of the verification suites.

The fixtures `ode_case` (one implementation under test with one method) and `check` come from
the ode-harness pytest plugin (harness/pytest_plugin.py). Problem and tolerance sweeps come from
the run's profile, so `--ode-profile` decides how deep every suite goes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.budget import FIXED_SOLVE_STEPS, LOOSEST_TOL, affordable_tolerance, fit_sweep, fixed_step_count, rate_scale, sweep_cost
from harness.oracles import best_forward_oracle, scipy_interpolated_run, scipy_oracle
from harness.problems import Problem, get_problem
from harness.pytest_plugin import OdeCase, ode_config

EPS = {torch.float64: float(np.finfo(np.float64).eps), torch.float32: float(np.finfo(np.float32).eps)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    profile = ode_config(metafunc.config).profile
    if "problem_name" in metafunc.fixturenames:
        metafunc.parametrize("problem_name", profile.problems)
    if "tol" in metafunc.fixturenames:
        metafunc.parametrize("tol", profile.tolerances, ids=[f"tol={t:g}" for t in profile.tolerances])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the cases of suites/known_findings.py as expected failures, with their evidence."""
    from .known_findings import expect_finding

    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params
        case = params.get("ode_case") if params else None
        if not isinstance(case, OdeCase):
            continue
        expect_finding(item, case.impl.name, case.method, item.originalname, params.get("problem_name"),
                       case.profile.name)


@pytest.fixture
def problem(problem_name: str) -> Problem:
    return get_problem(problem_name)


def scipy_baseline_method(order: int | None) -> str:
    """scipy's explicit method of the same order class, the baseline an IUT is measured against:
    RK23 for order <= 3, RK45 for 4-5, DOP853 above."""
    if order is not None and order <= 3:
        return "RK23"
    if order is not None and order >= 6:
        return "DOP853"
    return "RK45"


def baseline_error(problem: Problem, times: np.ndarray, tol: float, order: int | None,
                   truth: np.ndarray, *, interpolated: bool = False) -> float:
    """Max-abs error of scipy's same-order-class method at rtol = atol = tol (cached).

    interpolated=False: every output time reached as a step end (scipy_oracle's restarts), the
    baseline for step-end outputs. interpolated=True: one run with t_eval, outputs between steps
    from scipy's continuous extension, the baseline for interior output times (a correct
    5th-order code's 4th-order interpolant is measured 10-15x less accurate than its step ends on
    mlp-tanh at 1e-8: 1.34e-7 vs < 1.1e-8, in reference dopri5 and scipy RK45 alike)."""
    method = scipy_baseline_method(order)
    times = np.asarray(times, dtype=np.float64)
    # memo per process: the typical baseline of every forward check reads the runs of all the
    # profile's tolerances, which would otherwise be re-read from the disk cache each time
    key = (problem.name, times.tobytes(), float(tol), method, interpolated)
    if key not in _BASELINE_VALUES:
        if interpolated:
            _BASELINE_VALUES[key] = scipy_interpolated_run(problem, times, rtol=tol, atol=tol, method=method)
        else:
            _BASELINE_VALUES[key] = scipy_oracle(problem, times, rtol=tol, atol=tol, method=method,
                                                 loose_factor=10.0).values
    return float(np.abs(_BASELINE_VALUES[key] - truth).max())


_BASELINE_VALUES: dict[tuple, np.ndarray] = {}


def solve_problem(case: OdeCase, problem: Problem, times, *, tol: float | None = None,
                  step_size: float | None = None, dtype=torch.float64, y0=None, batch: int | None = None):
    """Run the IUT on a library problem; returns numpy (len(times), [batch,] dim)."""
    field = problem.make_field(dtype=dtype, device=case.device)
    y0 = torch.tensor(problem.y0 if y0 is None else y0, dtype=dtype, device=case.device)
    if batch is not None:
        y0 = y0.expand(batch, -1).clone()
    t = torch.as_tensor(np.asarray(times, dtype=np.float64), dtype=dtype, device=case.device)
    kw = dict(rtol=tol, atol=tol) if tol is not None else {}
    with torch.no_grad():
        ys = case.odeint(field, y0, t, step_size=step_size, **kw)
    return ys.detach().to(torch.float64).cpu().numpy()


def fixed_step_for(case: OdeCase, problem: Problem, order: int, target: float = 1e-6) -> float:
    """A step size that brings an order-p method near `target` on the problem's interval:
    N = 2 target^(-1/p) steps (error ~ (h/span)^p with an O(1) constant), within the round-off
    limit and FIXED_SOLVE_STEPS (harness/budget.py), `harness.budget.fixed_step_count`."""
    span = abs(problem.t1 - problem.t0)
    return span / fixed_step_count(order, target, FIXED_SOLVE_STEPS)


# --------------------------------------------------------------------------- step budget
# Tolerances a check asks of an adaptive IUT go through these (harness/budget.py has the cost
# model and its derivation). Without an order claim the profile's tolerances are used as given:
# the model needs p.
PROPERTY_RATE_SCALE = 1.3  # W of the property suites' drawn fields (budget.rate_scale's units):
# spans <= 1 and ||A||_2 <= ~3.5 (suites/test_properties.py field_specs: ||M|| <= sqrt(n) <= 2, the
# stability shift <= 1.5), or rate 10 over spans <= 1/2 (batch independence). Measured like the
# library's W, by scipy RK45 at 1e-6: a rotation at 3.5 rad over [0, 1] 14 steps (W = 0.88), at 10
# rad over [0, 1/2] 20 steps (W = 1.26), a decay diag(-10, -5) over [0, 1/2] 15 steps (0.95).
PROPERTY_SOLVES = 10       # a property check solves once per example: per-solve budget B / 10


def _scale(problem: Problem | None, span: float | None) -> float:
    return PROPERTY_RATE_SCALE if problem is None else rate_scale(problem, span)


def budget_point(case: OdeCase, problem: Problem, tol: float, sweep, *, span: float | None = None,
                 factor: float = 1.0) -> float:
    """The tolerance a check parametrized over the profile's `sweep` runs at: `tol` where the
    profile's step budget affords it for the claimed order (one solve on `problem` over `span`,
    `factor` x a forward step's work); otherwise skipped with the numbers, except the loosest
    point of the sweep, which runs at the tightest tolerance the budget affords, so that every
    check runs at least once."""
    if not case.claims.adaptive or case.claims.order is None:
        return tol
    cost = sweep_cost(case.claims.order, [tol], _scale(problem, span), case.profile.step_budget, factor)
    if cost.ok:
        return tol
    if tol >= max(sweep):
        return budget_tolerance(case, problem, tol, span=span, factor=factor)
    pytest.skip(f"{case.id} on {problem.name}: {cost.reason()}")


def budget_tolerance(case: OdeCase, problem: Problem | None, tol: float, *, span: float | None = None,
                     factor: float = 1.0, solves: int = 1) -> float:
    """`tol`, or the tightest tolerance the step budget affords the claimed order (checks at one
    tolerance run there instead of being skipped; the tolerance is recorded with the check).
    problem None: the property suites' drawn fields (PROPERTY_RATE_SCALE)."""
    if not case.claims.adaptive or case.claims.order is None:
        return tol
    return affordable_tolerance(case.claims.order, tol, _scale(problem, span),
                                case.profile.step_budget // solves, factor)


def budget_sweep(case: OdeCase, problem: Problem, tols, *, span: float | None = None,
                 factor: float = 1.0) -> list[float]:
    """The sweep `tols` shifted up (same points, same ratios) until its solves fit the step
    budget for the claimed order; skipped with the numbers if even the loosest position does
    not fit (harness.budget.fit_sweep)."""
    tols = sorted((float(t) for t in tols), reverse=True)
    if not case.claims.adaptive or case.claims.order is None:
        return tols
    got, cost = fit_sweep(case.claims.order, tols, _scale(problem, span), case.profile.step_budget,
                          factor=factor)
    if not cost.ok:
        pytest.skip(f"{case.id} on {problem.name}: the sweep {tols[0]:g}..{tols[-1]:g} does not fit even "
                    f"shifted up to {LOOSEST_TOL:g}: {cost.reason()}")
    return got


def property_tolerance(case: OdeCase, tol: float | None = None) -> float:
    """`tol` (default: the profile's property tolerance), or the tightest tolerance a solve of the
    property suites' drawn fields affords within step_budget / PROPERTY_SOLVES steps; a no-op on a
    tolerance it returned before."""
    tol = case.profile.property_tolerance if tol is None else tol
    return budget_tolerance(case, None, tol, solves=PROPERTY_SOLVES)


__all__ = ["EPS", "baseline_error", "best_forward_oracle", "budget_point", "budget_sweep", "budget_tolerance",
           "fixed_step_for", "property_tolerance", "scipy_baseline_method", "solve_problem"]


# --------------------------------------------------------------------------- hypothesis profiles
# Property suites (suites/test_properties.py) draw their inputs with hypothesis. Three settings
# profiles, registered here so that `--hypothesis-profile NAME` finds them when pytest starts:
#   ci        derandomize=True: the same examples on every run (hypothesis seeds its generator
#             with a hash of the test function); hypothesis forbids a database with it.
#   dev       random examples; failing examples are saved in the example database at the fixed
#             path .hypothesis/ode-harness (repo root) and replayed first on the next run.
#   thorough  as dev, at least 200 examples per property.
# All: deadline=None (a solve's time varies with the drawn problem), report_multiple_bugs=False
# (one exception per failing property, the record's verdict), print_blob=True (the reproducer).
# Which profile: --hypothesis-profile NAME, else $HYPOTHESIS_PROFILE, else "ci": by default the
# same examples on every run and every machine, so that a verdict (and `ode-harness check`'s exit
# code) is reproducible; "dev" and "thorough" explore new examples on request. The number of
# examples is max(the profile's, the ode profile's `hypothesis_examples`: quick 10, standard 40,
# thorough 200).
import os as _os
from pathlib import Path as _Path

from hypothesis import HealthCheck as _HealthCheck
from hypothesis import settings as _hsettings
from hypothesis.database import DirectoryBasedExampleDatabase as _DirectoryDB

HYPOTHESIS_DB_PATH = _Path(__file__).resolve().parent.parent / ".hypothesis" / "ode-harness"
HYPOTHESIS_PROFILES = ("ci", "dev", "thorough")
_HYP_COMMON = dict(deadline=None, report_multiple_bugs=False, print_blob=True,
                   suppress_health_check=(_HealthCheck.too_slow,))
_hsettings.register_profile("ci", max_examples=10, derandomize=True, database=None, **_HYP_COMMON)
_hsettings.register_profile("dev", max_examples=10, database=_DirectoryDB(str(HYPOTHESIS_DB_PATH)),
                            **_HYP_COMMON)
_hsettings.register_profile("thorough", max_examples=200,
                            database=_DirectoryDB(str(HYPOTHESIS_DB_PATH)), **_HYP_COMMON)


def hypothesis_profile_name(config: pytest.Config) -> str:
    """--hypothesis-profile, else $HYPOTHESIS_PROFILE, else "ci" (derandomized)."""
    try:
        name = config.getoption("hypothesis_profile")
    except ValueError:  # hypothesis's pytest plugin not loaded
        name = None
    name = name or _os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    if name not in HYPOTHESIS_PROFILES:
        raise pytest.UsageError(f"hypothesis profile {name!r}: the suites register {', '.join(HYPOTHESIS_PROFILES)}")
    return name


def property_settings(config: pytest.Config, ode_profile) -> _hsettings:
    """The selected hypothesis profile with max_examples raised to the ode profile's
    `hypothesis_examples`; use as a decorator on a @given function."""
    parent = _hsettings.get_profile(hypothesis_profile_name(config))
    return _hsettings(parent=parent, max_examples=max(parent.max_examples, ode_profile.hypothesis_examples))
