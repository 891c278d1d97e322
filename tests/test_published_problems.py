"""Reference issue, acceptance 3: published problems at rtol = atol = 1e-12, measured side by side
with scipy's implementation of the same method in the same run.

The Arenstorf orbit after one period (its published data close the orbit to about 1e-11, so the
reference value y(T) = y(0) is good to about 1e-10: shared/reference-values.md, from Hairer's
dopri5_aren.f) and Pleiades at t = 3 (Bari IVP test set, PSIDE at 1e-16). The reference's error
may be at most 2x scipy's (the issue's bound: two implementations of one method differ in their
controllers, not in their order, so their errors at the same tolerance agree within a small
factor). dopri5 and tsit5 are compared with RK45 (the same order 5(4) class), dop853 with DOP853.

"Never worse because of the output time falling between steps": the same final time is also
requested as an *interior* output time (the solve runs on past it), where both libraries use
their continuous extension, and again the reference must be within 2x of scipy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from harness.problems import get_problem
from reference import odeint

TOL = 1e-12
PAIRS = [("dopri5", "RK45"), ("tsit5", "RK45"), ("dop853", "DOP853")]
FACTOR = 2.0


def _reference_value(problem) -> np.ndarray:
    (ref,) = [r for r in problem.reference if r.time == problem.t1]
    return np.array(ref.values)


def _errors(problem, method: str, scipy_method: str, interior: bool) -> tuple[float, float]:
    t0, t1 = problem.t0, problem.t1
    t_end = t1 + 0.1 * (t1 - t0) if interior else t1
    ts = torch.tensor([t0, t1, t_end] if interior else [t0, t1], dtype=torch.float64)
    ys = odeint(problem.make_field(), torch.tensor(problem.y0, dtype=torch.float64), ts,
                rtol=TOL, atol=TOL, method=method)
    ours = ys[1].numpy()
    sol = solve_ivp(problem.numpy_rhs, (t0, t_end), problem.y0_array, method=scipy_method,
                    rtol=TOL, atol=TOL, t_eval=[t1])
    theirs = sol.y[:, 0]
    ref = _reference_value(problem)
    return float(np.abs(ours - ref).max()), float(np.abs(theirs - ref).max())


@pytest.mark.parametrize("name", ["arenstorf", "pleiades"])
@pytest.mark.parametrize("method, scipy_method", PAIRS)
@pytest.mark.parametrize("interior", [False, True], ids=["at-end", "between-steps"])
def test_error_within_2x_of_scipy(name, method, scipy_method, interior):
    problem = get_problem(name)
    ours, theirs = _errors(problem, method, scipy_method, interior)
    assert ours <= FACTOR * theirs, f"{name} {method}: error {ours:.3e} vs scipy {scipy_method} {theirs:.3e}"
