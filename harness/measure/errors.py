"""Error measures of a computed solution against an oracle.

- In tolerance units, as scipy's own tests measure solve_ivp (scipy/integrate/_ivp/tests/
  test_ivp.py, `compute_error`): e = (y - y*) / (atol + rtol |y*|), reduced by RMS over the
  components at each time; a correct code at (rtol, atol) keeps this O(1) on short spans.
- Plain absolute and relative errors (max over components), per time.

Times are classified by the caller as step ends, interior output times or dense points; the
functions here take whatever rows they are given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ErrorMeasures:
    tol_units: np.ndarray   # per time: RMS over components of (y - y*) / (atol + rtol |y*|)
    abs: np.ndarray         # per time: max |y - y*|
    rel: np.ndarray         # per time: max |y - y*| / max(|y*|, tiny)

    def summary(self) -> dict[str, float]:
        return {"tol_units_max": float(self.tol_units.max()), "abs_max": float(self.abs.max()),
                "rel_max": float(self.rel.max())}


def error_measures(y, y_true, *, rtol: float, atol: float) -> ErrorMeasures:
    """y, y_true: arrays (n_times, ..., dim); leading batch axes are folded into the components."""
    y = np.asarray(y, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.float64)
    if y.shape != y_true.shape:
        raise ValueError(f"solution shape {y.shape} differs from the oracle's {y_true.shape}")
    d = (y - y_true).reshape(len(y), -1)
    ref = np.abs(y_true).reshape(len(y), -1)
    scale = atol + rtol * ref
    if np.any(scale <= 0):
        raise ValueError("atol + rtol |y*| must be positive for errors in tolerance units")
    tol_units = np.sqrt(np.mean((d / scale) ** 2, axis=1))
    absolute = np.abs(d).max(axis=1)
    relative = absolute / np.maximum(ref.max(axis=1), np.finfo(np.float64).tiny)
    return ErrorMeasures(tol_units, absolute, relative)
