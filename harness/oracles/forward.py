"""Forward oracles: y(t) of a `harness.problems.Problem` at given times, with an error estimate.

`scipy_oracle` integrates the problem's hand-written numpy right-hand side with scipy's
`solve_ivp` (DOP853 for non-stiff problems, Radau with the analytic Jacobian, when the problem has
one, for problems tagged "stiff"; no dense-output object is kept).

Values: each requested time is reached as the END of a step (solve_ivp restarted at every output
time from the previous one, with the last full step size as first step), never by interpolation.
scipy's continuous extensions (what `t_eval` returns between steps) were measured to be up to 30x
less accurate than step endpoints at rtol 1e-8..1e-13 (DETEST C2, C3, E4), with errors that do not
shrink in proportion to the tolerance.

Error estimate (absolute, max over components, one number per time)
--------------------------------------------------------------------
The usual recipe -- solve again at a 10x looser tolerance and take |difference| -- relies on
tolerance proportionality: global error ~ C tol^q, q between p/(p+1) (error-per-step control;
8/9 for DOP853, 5/6 for Radau) and 1, so the tight solve's error is 1/7..1/10 of the loose one's
and the difference is 6x-9x the tight solve's error; using the difference itself is a
conservative bound. Measured here, that holds for single tolerance-driven runs, but:

* with interpolated (t_eval) outputs on a dense grid the interpolation error is not proportional:
  true error / estimate reached 250 (E5, 200 outputs);
* with step-end outputs on a dense grid both runs take nearly the same grid-constrained steps and
  their errors are correlated: true error / estimate reached 6.8 (A1, 50 outputs) and 2.4
  (scipy-rational, 4 outputs).

So the values Y (step-end, tolerance rtol) are compared with a tolerance-driven run at the same
tolerance, Yi (one solve_ivp with t_eval), and Yi with the same at loose_factor (10) times the
tolerances, Yl; by the triangle inequality

    |Y - y| <= |Y - Yi| + |Yi - y|,   with |Yi - y| estimated by |Yi - Yl|,

and the estimate is |Y - Yi| + |Yi - Yl|, floored at the requested tolerance rtol |Y|_inf + atol
(we do not claim more than was asked for: the solver's controller only aims at that) and at
30 eps |Y|_inf (hundreds to thousands of rounded steps; scipy-rational, 23 steps, is 23 ulps off).
For a single output time Yi is Y itself (no third solve). Measured over all 26 closed-form
problems with 1, 4, 50 and 200 equally spaced outputs: true error / estimate <= 0.84 (median
estimate/error ~10 for few outputs; ~1000 for 200 outputs, where |Y - Yi| is the interpolation
error of Yi -- conservative, but honest). An error common to all solves (a wrong rhs) is invisible
to this, which is why the problems' closed forms and published values are checked against the
oracle in tests/test_problems.py.

Cache
-----
Results are cached on disk as .npz files (numpy arrays and strings only; loaded with
`allow_pickle=False`) in the directory named by the environment variable ODE_HARNESS_CACHE,
default ~/.cache/ode-harness/oracles. The file name carries a sha256 key of

* the problem definition: name, dim, y0, t0, t1, tags, the source text of `numpy_rhs` and
  `numpy_jac` (inspect.getsource) together with the numeric constants and helper functions they
  refer to (globals and closure cells, recursively), and the values of the torch field's
  parameters and buffers;
* the oracle settings: method, rtol, atol, loose_factor, the scipy version, a format version;
* the requested times (their float64 bytes).

So a changed problem definition or setting never reads a stale entry. `clear_cache()` deletes the
cached .npz files.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from scipy.integrate import solve_ivp

from harness.cost import timed_function
from harness.problems import Problem

__all__ = ["OracleSolution", "ForwardReference", "scipy_oracle", "scipy_interpolated_run",
           "best_forward_oracle", "cache_dir", "cache_key", "clear_cache", "problem_fingerprint"]

CACHE_ENV = "ODE_HARNESS_CACHE"
DEFAULT_CACHE_DIR = "~/.cache/ode-harness/oracles"
_FORMAT_VERSION = 1
_EPS = np.finfo(np.float64).eps
_IMPLICIT = {"Radau", "BDF", "LSODA"}


@dataclass(frozen=True, eq=False)
class OracleSolution:
    """y(times) from scipy. `values` has shape (len(times), dim); `error_estimate` has shape
    (len(times),): an absolute bound estimate on max_i |values[k, i] - y_i(times[k])|."""

    times: np.ndarray
    values: np.ndarray
    error_estimate: np.ndarray
    method: str
    rtol: float
    atol: float
    loose_factor: float
    nfev: int
    wall_time: float  # seconds the two solves took when computed (not when loaded from cache)
    from_cache: bool
    key: str


@dataclass(frozen=True, eq=False)
class ForwardReference:
    """The most trustworthy available y(times): values (len(times), dim), an absolute error
    estimate per time (len(times),), and what each row came from (`kinds`: "closed-form",
    "published: <source>" or "scipy: <method> rtol=.. atol=..")."""

    times: np.ndarray
    values: np.ndarray
    error_estimate: np.ndarray
    kinds: tuple[str, ...]


# ----------------------------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The cache directory ($ODE_HARNESS_CACHE or ~/.cache/ode-harness/oracles), read at call
    time (not created)."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def clear_cache() -> int:
    """Delete the cached oracle files (*.npz written by this module); returns how many."""
    d = cache_dir()
    if not d.is_dir():
        return 0
    n = 0
    for f in d.glob("*.npz"):
        try:
            f.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n


def _data_digest(value: Any) -> Any:
    """A JSON-able deterministic digest of numeric data, or None if `value` is not data."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (float, complex, np.floating, np.integer, np.complexfloating)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        return {"dtype": str(a.dtype), "shape": list(a.shape),
                "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    if isinstance(value, (tuple, list)):
        parts = [_data_digest(v) for v in value]
        if all(p is not None or v is None for p, v in zip(parts, value)):
            return parts
    return None


def _callable_fingerprint(fn: Any, depth: int = 0) -> Any:
    """Source text of fn plus the numeric data and same-module helpers it refers to."""
    if fn is None:
        return None
    if isinstance(fn, functools.partial):
        return {"partial": _callable_fingerprint(fn.func, depth + 1),
                "args": [_data_digest(a) for a in fn.args],
                "kwargs": {k: _data_digest(v) for k, v in sorted(fn.keywords.items())}}
    if isinstance(fn, np.ufunc):
        return f"ufunc:{fn.__name__}"
    code = getattr(fn, "__code__", None)
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        src = None
    out: dict[str, Any] = {"qualname": getattr(fn, "__qualname__", type(fn).__name__),
                           "source": src}
    if code is None or depth > 4:
        return out
    if src is None:  # no source available: fall back to the bytecode
        out["code"] = hashlib.sha256(code.co_code).hexdigest() + repr(code.co_consts)
    refs: dict[str, Any] = {}
    module = getattr(fn, "__module__", None)
    g = getattr(fn, "__globals__", {})
    names = list(code.co_names)
    for const in code.co_consts:  # names used by nested code objects (comprehensions, lambdas)
        if hasattr(const, "co_names"):
            names.extend(const.co_names)
    for name in sorted(set(names)):
        if name not in g:
            continue
        value = g[name]
        digest = _data_digest(value)
        if digest is not None:
            refs["global:" + name] = digest
        elif callable(value) and getattr(value, "__module__", None) == module \
                and hasattr(value, "__code__"):
            refs["global:" + name] = _callable_fingerprint(value, depth + 1)
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # empty cell
            continue
        digest = _data_digest(value)
        if digest is None and callable(value):
            digest = _callable_fingerprint(value, depth + 1)
        refs["closure:" + name] = digest if digest is not None else type(value).__qualname__
    out["refs"] = refs
    return out


def problem_fingerprint(problem: Problem) -> dict:
    """JSON-able description of everything that determines the problem's solution."""
    import torch

    field = problem.make_field(dtype=torch.float64)
    tensors = {k: _data_digest(v.detach().cpu().numpy())
               for k, v in sorted(field.state_dict().items())}
    return {
        "name": problem.name, "dim": problem.dim,
        "y0": [repr(float(v)) for v in problem.y0],
        "t0": repr(float(problem.t0)), "t1": repr(float(problem.t1)),
        "tags": sorted(problem.tags),
        "numpy_rhs": _callable_fingerprint(problem.numpy_rhs),
        "numpy_jac": _callable_fingerprint(problem.numpy_jac),
        "field_tensors": tensors,
    }


def cache_key(problem: Problem, times: np.ndarray, *, method: str, rtol: float, atol: float,
              loose_factor: float) -> str:
    times = np.ascontiguousarray(np.asarray(times, dtype=np.float64))
    payload = {
        "format": _FORMAT_VERSION,
        "problem": problem_fingerprint(problem),
        "settings": {"method": method, "rtol": repr(float(rtol)), "atol": repr(float(atol)),
                     "loose_factor": repr(float(loose_factor)), "scipy": scipy.__version__},
        "times": {"n": int(times.size), "sha256": hashlib.sha256(times.tobytes()).hexdigest()},
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _cache_path(problem: Problem, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in problem.name)
    return cache_dir() / f"{safe}-{key[:40]}.npz"


def _load(path: Path, key: str, times: np.ndarray) -> OracleSolution | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key or not np.array_equal(z["times"], times):
                return None
            return OracleSolution(
                times=z["times"].copy(), values=z["values"].copy(),
                error_estimate=z["error_estimate"].copy(), method=str(z["method"]),
                rtol=float(z["rtol"]), atol=float(z["atol"]),
                loose_factor=float(z["loose_factor"]), nfev=int(z["nfev"]),
                wall_time=float(z["wall_time"]), from_cache=True, key=key)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # missing or unreadable entry: recompute


def _store(path: Path, sol: OracleSolution) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, key=np.array(sol.key), times=sol.times, values=sol.values,
                 error_estimate=sol.error_estimate, method=np.array(sol.method),
                 rtol=np.float64(sol.rtol), atol=np.float64(sol.atol),
                 loose_factor=np.float64(sol.loose_factor), nfev=np.int64(sol.nfev),
                 wall_time=np.float64(sol.wall_time))
    os.replace(tmp, path)  # atomic: concurrent readers never see a partial file


# ----------------------------------------------------------------------------------------------
# oracles
# ----------------------------------------------------------------------------------------------


def _check_times(problem: Problem, times) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array, got shape {np.shape(times)}")
    if not np.all(np.isfinite(t)):
        raise ValueError("times must be finite")
    if np.any(t > problem.t0) and np.any(t < problem.t0):
        raise ValueError(f"times must all lie on one side of t0 = {problem.t0} "
                         f"(got {t.min()} .. {t.max()})")
    return t


def _solve(problem: Problem, t_out: np.ndarray, method: str, rtol: float, atol: float):
    """y at each of the sorted times t_out (monotone away from t0), each reached as the END of a
    step: solve_ivp is restarted at every output time from the previous output, with the last
    full step size as first_step. Interpolated t_eval output (scipy's continuous extensions) was
    measured to be up to 30x less accurate than step endpoints at rtol 1e-8..1e-13 and not to
    shrink in proportion to the tolerance, which breaks the two-tolerance error estimate."""
    kwargs = {}
    if method in _IMPLICIT and problem.numpy_jac is not None:
        kwargs["jac"] = problem.numpy_jac
    out = np.empty((t_out.size, problem.dim))
    t_prev, y_prev, h = float(problem.t0), problem.y0_array, None
    nfev = 0
    for k, t_next in enumerate(t_out):
        t_next = float(t_next)
        if t_next == t_prev:
            out[k] = y_prev
            continue
        if h is not None:
            kwargs["first_step"] = min(h, abs(t_next - t_prev))
        res = solve_ivp(problem.numpy_rhs, (t_prev, t_next), y_prev, method=method, rtol=rtol,
                        atol=atol, dense_output=False, **kwargs)
        if not res.success:
            raise RuntimeError(f"scipy oracle failed on {problem.name!r} ({method}, rtol={rtol}, "
                               f"atol={atol}) between t = {t_prev} and {t_next}: {res.message}")
        nfev += res.nfev
        y_prev = res.y[:, -1].copy()
        out[k] = y_prev
        steps = np.abs(np.diff(res.t))
        # the last step was cut to hit t_next; the one before it is a controller-chosen size
        h = float(steps[-2] if steps.size >= 2 else steps[-1])
        t_prev = t_next
    return out, nfev


def _solve_interpolated(problem: Problem, t_out: np.ndarray, method: str, rtol: float,
                        atol: float):
    """One solve_ivp run over [t0, t_out[-1]] with t_eval = t_out: its step sizes are chosen by
    the tolerance alone, whatever the output grid (its outputs come from scipy's interpolants)."""
    kwargs = {}
    if method in _IMPLICIT and problem.numpy_jac is not None:
        kwargs["jac"] = problem.numpy_jac
    if t_out[-1] == problem.t0:
        return np.tile(problem.y0_array, (t_out.size, 1)), 0
    res = solve_ivp(problem.numpy_rhs, (problem.t0, float(t_out[-1])), problem.y0_array,
                    method=method, t_eval=t_out, rtol=rtol, atol=atol, dense_output=False,
                    **kwargs)
    if not res.success:
        raise RuntimeError(f"scipy oracle failed on {problem.name!r} ({method}, rtol={rtol}, "
                           f"atol={atol}): {res.message}")
    return res.y.T, res.nfev


@timed_function("oracle")
def scipy_oracle(problem: Problem, times, *, rtol: float | None = None,
                 atol: float | None = None, method: str | None = None,
                 loose_factor: float = 10.0, use_cache: bool = True) -> OracleSolution:
    """y(times) by scipy's solve_ivp with an error estimate (see the module docstring).

    rtol/atol default to the problem's `oracle_rtol`/`oracle_atol` (1e-13 unless the problem
    says why not); method defaults to "Radau" for problems tagged "stiff", else "DOP853".
    `times` may be unsorted and repeat values but must all lie on one side of t0."""
    t = _check_times(problem, times)
    rtol = float(problem.oracle_rtol if rtol is None else rtol)
    atol = float(problem.oracle_atol if atol is None else atol)
    if method is None:
        method = "Radau" if problem.is_stiff else "DOP853"
    if not loose_factor > 1.0:
        raise ValueError("loose_factor must be > 1")

    key = cache_key(problem, t, method=method, rtol=rtol, atol=atol, loose_factor=loose_factor)
    path = _cache_path(problem, key)
    if use_cache:
        hit = _load(path, key, t)
        if hit is not None:
            return hit

    forward = not np.all(t <= problem.t0)
    uniq, inverse = np.unique(t, return_inverse=True)
    if not forward:
        uniq = uniq[::-1]
        inverse = uniq.size - 1 - inverse
    start = time.perf_counter()
    tight, n1 = _solve(problem, uniq, method, rtol, atol)  # step-end values (returned)
    if uniq.size == 1:  # a single output is a step end in every run: no interpolation involved
        tight_i, n2 = tight, 0
    else:  # tolerance-driven run at the same tolerance, outputs interpolated
        tight_i, n2 = _solve_interpolated(problem, uniq, method, rtol, atol)
    loose_i, n3 = _solve_interpolated(problem, uniq, method, rtol * loose_factor,
                                      atol * loose_factor)
    nfev = n1 + n2 + n3
    wall = time.perf_counter() - start
    ymax = np.max(np.abs(tight), axis=1)
    est = np.max(np.abs(tight - tight_i), axis=1) + np.max(np.abs(tight_i - loose_i), axis=1)
    est = np.maximum.reduce([est, rtol * ymax + atol, 30.0 * _EPS * ymax])
    sol = OracleSolution(times=t, values=tight[inverse], error_estimate=est[inverse],
                         method=method, rtol=rtol, atol=atol, loose_factor=float(loose_factor),
                         nfev=int(nfev), wall_time=wall, from_cache=False, key=key)
    if use_cache:
        try:
            _store(path, sol)
        except OSError:
            pass  # an unwritable cache only costs recomputation
    return sol


@timed_function("oracle")
def scipy_interpolated_run(problem: Problem, times, *, rtol: float, atol: float, method: str,
                           use_cache: bool = True) -> np.ndarray:
    """y(times) as a user of scipy gets it: ONE tolerance-driven solve_ivp run with
    t_eval = times, outputs between steps from the method's own continuous extension.

    Not an oracle (no error estimate): the *baseline* for output times that fall between steps,
    where a correct code of the same order delivers its interpolant's accuracy, not its step
    ends' (scipy_oracle restarts at each output time and so measures step ends only). `times`
    sorted away from t0. Cached like the oracles (the key marks the run as interpolated)."""
    t = _check_times(problem, times)
    key = cache_key(problem, t, method=f"{method}+t_eval", rtol=rtol, atol=atol, loose_factor=0.0)
    path = _cache_path(problem, key)
    if use_cache:
        hit = _load(path, key, t)
        if hit is not None:
            return hit.values
    start = time.perf_counter()
    values, nfev = _solve_interpolated(problem, t, method, float(rtol), float(atol))
    sol = OracleSolution(times=t, values=values, error_estimate=np.full(t.size, np.nan), method=method,
                         rtol=float(rtol), atol=float(atol), loose_factor=0.0, nfev=int(nfev),
                         wall_time=time.perf_counter() - start, from_cache=False, key=key)
    if use_cache:
        try:
            _store(path, sol)
        except OSError:
            pass
    return values


@timed_function("oracle")
def best_forward_oracle(problem: Problem, times, *, rtol: float | None = None,
                        atol: float | None = None, use_cache: bool = True) -> ForwardReference:
    """y(times) from the best source available per time: the closed form (error estimate
    `problem.exact_accuracy * |y(t)|_inf`, float64 evaluation) > y0 itself at t = t0 (error 0)
    > a published value at exactly that time (its claimed accuracy) > `scipy_oracle` (its
    estimate)."""
    t = _check_times(problem, times)
    n = t.size
    values = np.empty((n, problem.dim))
    est = np.empty(n)
    kinds: list[str] = [""] * n
    if problem.exact is not None:
        values[:] = problem.exact(t)
        est[:] = problem.exact_accuracy * np.max(np.abs(values), axis=1)
        kinds = ["closed-form"] * n
        return ForwardReference(times=t, values=values, error_estimate=est, kinds=tuple(kinds))
    rest = []
    for k, tk in enumerate(t):
        if tk == problem.t0:
            values[k], est[k], kinds[k] = problem.y0_array, 0.0, "initial value"
            continue
        for ref in problem.reference:
            # same time up to a few ulps (the published time is usually problem.t1 itself)
            if abs(tk - ref.time) <= 4.0 * _EPS * max(abs(ref.time), 1.0):
                values[k] = ref.values
                est[k] = ref.abs_accuracy
                kinds[k] = f"published: {ref.source}"
                break
        else:
            rest.append(k)
    if rest:
        sol = scipy_oracle(problem, t[rest], rtol=rtol, atol=atol, use_cache=use_cache)
        values[rest] = sol.values
        est[rest] = sol.error_estimate
        for k in rest:
            kinds[k] = f"scipy: {sol.method} rtol={sol.rtol:g} atol={sol.atol:g}"
    return ForwardReference(times=t, values=values, error_estimate=est, kinds=tuple(kinds))
