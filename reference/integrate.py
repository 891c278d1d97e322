"""The two integration loops (fixed step and adaptive) and `odeint`, torchdiffeq's API.

Time bookkeeping: every step starts at ``T(anchor) + offset`` where ``T(i)`` is the i-th requested
output time (a float64 tensor element when gradients with respect to t are wanted, else a float)
and ``offset`` a float. A step that must land on an output time is *clipped*: its size is
``T(i) - start``. Unclipped step sizes are floats chosen by the controller and carry no gradient,
so backprop through the solve differentiates the discrete map with its step sequence frozen; the
gradient with respect to each output time flows through the clipped steps and through the dense
output's theta = (T(i) - start) / h.

Fixed-step methods integrate each interval [t_i, t_{i+1}] separately with steps of size h and
shorten the last one to land exactly on t_{i+1}. Adaptive methods step freely inside (t_0, t_N),
evaluate interior output times with the method's continuous extension, and clip the final step
onto t_N (stretching it by up to 1 % rather than leaving a sliver, as dopri5.f does). An adaptive
tableau without a continuous extension (a user's `ButcherTableau` with ``b_hat`` and no
``dense``) clips its steps onto every output time instead, so each output is a step end.

The method is a name of `reference.TABLEAUS` or a `ButcherTableau` itself (scipy's idiom of
passing the method as an object, `solve_ivp(method=OdeSolver subclass)`): fixed-step when it has
no embedded weights ``b_hat``, adaptive when it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

import torch

from .errors import StepSizeUnderflowError, TooManyStepsError
from .rk_step import RKStepper, Step, Time
from .stats import SolveStats, _record_forward
from .step_control import Controller, Norm, error_ratio, initial_step, rms_norm
from .tableau import ButcherTableau
from .tableaus import TABLEAUS

Method = Union[str, ButcherTableau]

_EPS = 2.220446049250313e-16  # float64 machine epsilon: time is always kept in float64

FIXED_OPTIONS = {"step_size": "step size h > 0 (required)",
                 "max_num_steps": "abort after this many steps (default 1_000_000)"}
ADAPTIVE_OPTIONS = {
    "first_step": "initial |h| (default: Hairer's starting step, HNW II.4)",
    "min_step": "smallest |h| the controller may ask for before the solve fails (default 0)",
    "max_step": "largest |h| (default inf)",
    "max_num_steps": "abort after this many attempted steps (default 100_000)",
    "safety": "controller safety factor (default 0.9)",
    "min_factor": "smallest step-size factor per step (default 0.2)",
    "max_factor": "largest step-size factor per step (default 10)",
    "pi_beta": "PI controller's beta; 0 gives the I controller (default 0; DOPRI5 uses 0.04)",
    "norm": "callable mapping the scaled error tensor to a scalar (default RMS over all elements)",
}


# --------------------------------------------------------------------------- the vector field
class _Field:
    """Calls the user's f(t, y) with t as a tensor of the state's dtype, and counts calls."""

    def __init__(self, func: Callable, dtype: torch.dtype, device: torch.device, shape: torch.Size):
        self.func, self.dtype, self.device, self.shape = func, dtype, device, shape
        self.nfe = 0

    def __call__(self, t: Time, y: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        tt = t.to(self.dtype) if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=self.dtype, device=self.device)
        out = self.func(tt, y)
        if self.nfe == 1:
            _check_field_output(out, y)
        return out


def _check_field_output(out: Any, y: torch.Tensor) -> None:
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"func(t, y) must return a Tensor, got {type(out).__name__}")
    if out.shape != y.shape:
        raise ValueError(f"func(t, y) returned shape {tuple(out.shape)}, expected the state's shape {tuple(y.shape)}")


# --------------------------------------------------------------------------- recorded trajectory
@dataclass
class StepRecord:
    """An accepted step, enough to rebuild it: starts at T(anchor) + offset, size h or clipped
    onto T(clip); `outputs` are the output indices it produces (dense, or at its end if clipped)."""

    anchor: int
    offset: float
    h: float
    clip: int | None
    outputs: list[int] = field(default_factory=list)

    def start(self, T: Callable[[int], Time]) -> Time:
        return T(self.anchor) + self.offset if self.offset != 0.0 else T(self.anchor)

    def size(self, T: Callable[[int], Time]) -> Time:
        return T(self.clip) - self.start(T) if self.clip is not None else self.h


def step_output(stepper: RKStepper, f: _Field, step: Step, rec: StepRecord, i: int,
                T: Callable[[int], Time]) -> torch.Tensor:
    """The value at output time i produced by the step `rec`.

    When theta = (t_i - t_n)/h carries a gradient (t requires grad), the value is the continuous
    extension at theta, but its derivative with respect to theta is taken as h f(t_i, y(t_i))
    rather than the interpolant's own derivative: the latter is one order less accurate (a
    degree-4 interpolant of dopri5 differentiates to O(h^4)), while f at the interpolated point
    is as accurate as the value itself. Costs one evaluation of f per such output."""
    if rec.clip == i:
        return step.y_new
    theta = (T(i) - step.t) / step.h
    if not (isinstance(theta, torch.Tensor) and theta.requires_grad):
        return stepper.dense(f, step, theta)
    th = theta.detach()
    y = stepper.dense(f, step, th)
    h = step.h.detach() if isinstance(step.h, torch.Tensor) else step.h
    slope = f(T(i).detach(), y.detach()) * h
    return y + (theta - th).to(y.dtype) * slope


@dataclass
class Trajectory:
    """What a solve did: accepted steps with their start states (for the checkpoint adjoint)."""

    records: list[StepRecord] = field(default_factory=list)
    states: list[torch.Tensor] = field(default_factory=list)


# --------------------------------------------------------------------------- loops
def _solve_fixed(f: _Field, stepper: RKStepper, y0: torch.Tensor, times: list[float],
                 T: Callable[[int], Time], opts: dict, stats: SolveStats,
                 traj: Trajectory | None) -> list[torch.Tensor]:
    h_abs = opts["step_size"]
    max_steps = opts.get("max_num_steps", 1_000_000)
    ys, y = [y0], y0
    for i in range(1, len(times)):
        direction = 1.0 if times[i] > times[i - 1] else -1.0
        # Steps of h, the last one shortened onto t_i; a remainder within 1e-10 h of h (rounding
        # in t_i - t_{i-1}) is absorbed into the last step rather than left as a sliver.
        n = max(1, math.ceil(abs(times[i] - times[i - 1]) / h_abs - 1e-10))
        for m in range(n):
            if stats.n_accepted >= max_steps:
                raise TooManyStepsError(times[i - 1] + direction * m * h_abs, direction * h_abs, max_steps)
            last = m == n - 1
            rec = StepRecord(anchor=i - 1, offset=direction * m * h_abs, h=direction * h_abs,
                             clip=i if last else None, outputs=[i] if last else [])
            if traj is not None:
                traj.records.append(rec)
                traj.states.append(y)
            y = stepper.step(f, rec.start(T), y, rec.size(T)).y_new
            stats.n_accepted += 1
        ys.append(y)
    return ys


def _solve_adaptive(f: _Field, stepper: RKStepper, y0: torch.Tensor, times: list[float],
                    T: Callable[[int], Time], rtol: float, atol: float, opts: dict,
                    stats: SolveStats, traj: Trajectory | None) -> list[torch.Tensor]:
    tab = stepper.tableau
    direction = 1.0 if times[-1] > times[0] else -1.0
    t_end, N = times[-1], len(times)
    norm: Norm = opts.get("norm", rms_norm)
    max_step = float(opts.get("max_step", math.inf))
    min_step = float(opts.get("min_step", 0.0))
    max_steps = int(opts.get("max_num_steps", 100_000))
    ctrl = Controller(error_order=tab.error_order, safety=opts.get("safety", 0.9),
                      min_factor=opts.get("min_factor", 0.2), max_factor=opts.get("max_factor", 10.0),
                      beta=opts.get("pi_beta", 0.0))

    offset = 0.0  # the step starts at T(0) + offset
    y, k1 = y0, f(T(0), y0)
    if "first_step" in opts:
        h_abs = float(opts["first_step"])
    else:
        # capped at the span, so that the heuristic's probe f(t0 + h0) stays inside it (as
        # dopri5.f's HINIT and scipy's select_initial_step do)
        h_abs = initial_step(f, T(0), y0, k1, direction, tab.error_order, rtol, atol, norm,
                             min(max_step, abs(t_end - times[0])))
    h_abs = min(h_abs, abs(t_end - times[0]))
    stats.initial_step = h_abs
    ys, i_next = [y0], 1
    while i_next < N:
        # the output time the step may be clipped onto: t_N, or the next output time when the
        # method has no continuous extension to evaluate interior times with
        land = N - 1 if tab.dense is not None else i_next
        t_f = times[0] + offset
        if stats.n_attempted >= max_steps:
            raise TooManyStepsError(t_f, direction * h_abs, max_steps)
        if h_abs < min_step or h_abs <= 10 * _EPS * abs(t_f):
            why = (f"below min_step = {min_step!r}" if h_abs < min_step
                   else "t + dt == t in float64")
            raise StepSizeUnderflowError(t_f, direction * h_abs, why)
        # Land exactly on t_land, stretching the step by up to 1 % rather than leaving a sliver.
        clip = land if direction * (t_f + 1.01 * direction * h_abs - times[land]) >= 0 else None
        rec = StepRecord(anchor=0, offset=offset, h=direction * h_abs, clip=clip)
        step = stepper.step(f, rec.start(T), y, rec.size(T), k1)
        h_attempt = abs(times[land] - t_f) if clip is not None else h_abs
        err = error_ratio(step, rtol, atol, norm)
        factor = ctrl.factor(err)
        if not err <= 1.0:  # also rejects a non-finite error estimate
            stats.n_rejected += 1
            h_abs = h_attempt * factor
            continue
        stats.n_accepted += 1
        t_new = times[land] if clip is not None else t_f + direction * h_abs
        while i_next < N and direction * (times[i_next] - t_new) <= 0:
            rec.outputs.append(i_next)
            ys.append(step_output(stepper, f, step, rec, i_next, T))
            i_next += 1
        if traj is not None:
            traj.records.append(rec)
            traj.states.append(y)
        offset = t_new - times[0]
        y = step.y_new
        k1 = step.k[-1] if tab.fsal else None
        h_abs = min(h_attempt * factor, max_step)
    return ys


# --------------------------------------------------------------------------- validation
def _validate_tensor_state(y0: torch.Tensor, what: str = "y0") -> None:
    if not isinstance(y0, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor or a tuple of tensors, got {type(y0).__name__}")
    if not y0.is_floating_point():
        raise TypeError(f"{what} must have a floating-point dtype (float32 or float64), got {y0.dtype}")
    if not bool(torch.isfinite(y0.detach()).all()):
        raise ValueError(f"{what} contains NaN or Inf")


def validate_times(t: Any) -> tuple[torch.Tensor, list[float]]:
    """t as given (a 1-D tensor) and its values as float64 Python floats; checks monotonicity."""
    if not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(t, dtype=torch.float64)
        except Exception as exc:
            raise TypeError(f"t must be a 1-D tensor of times, got {type(t).__name__}") from exc
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"t must be a non-empty 1-D tensor, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"t must have a floating-point dtype, got {t.dtype}")
    times = t.detach().to(torch.float64).cpu().tolist()
    if not all(math.isfinite(x) for x in times):
        raise ValueError("t contains NaN or Inf")
    diffs = [b - a for a, b in zip(times, times[1:])]
    if diffs and not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        bad = next(k for k, d in enumerate(diffs) if (d <= 0) != (diffs[0] <= 0) or d == 0)
        raise ValueError(f"t must be strictly increasing or strictly decreasing; t[{bad}] = {times[bad]!r}, "
                         f"t[{bad + 1}] = {times[bad + 1]!r}")
    return t, times


def resolve_method(method: Method) -> ButcherTableau:
    """The tableau of `method`: a name of `reference.TABLEAUS` (looked up at call time) or a
    `ButcherTableau` (whose construction has already checked its consistency)."""
    if isinstance(method, ButcherTableau):
        return method
    if not isinstance(method, str) or method not in TABLEAUS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(sorted(TABLEAUS))}, "
                         "or a reference.ButcherTableau")
    return TABLEAUS[method]


def validate_method(method: Method, options: dict | None, rtol: Any, atol: Any) -> tuple[dict, float, float]:
    tab = resolve_method(method)
    method = tab.name
    opts = dict(options or {})
    valid = ADAPTIVE_OPTIONS if tab.adaptive else FIXED_OPTIONS
    unknown = sorted(set(opts) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid options: {', '.join(valid)}")
    rtol, atol = _tolerance("rtol", rtol), _tolerance("atol", atol)
    if tab.adaptive:
        if rtol == 0 and atol == 0:
            raise ValueError("rtol and atol are both 0: the error test could never pass")
        for key in ("first_step", "max_step", "min_step"):
            if key in opts and not (isinstance(opts[key], (int, float)) and opts[key] >= 0
                                    and (opts[key] > 0 or key == "min_step")):
                raise ValueError(f"options[{key!r}] must be a positive number, got {opts[key]!r}")
        if "norm" in opts and not callable(opts["norm"]):
            raise ValueError("options['norm'] must be callable")
    else:
        h = opts.get("step_size")
        if h is None:
            raise ValueError(f"fixed-step method {method!r} needs options={{'step_size': h}}")
        if isinstance(h, torch.Tensor):
            h = float(h)
        if not isinstance(h, (int, float)) or not math.isfinite(h) or h <= 0:
            raise ValueError(f"options['step_size'] must be a finite number > 0, got {opts['step_size']!r}")
        opts["step_size"] = float(h)
    if "max_num_steps" in opts and not (isinstance(opts["max_num_steps"], int) and opts["max_num_steps"] > 0):
        raise ValueError(f"options['max_num_steps'] must be a positive int, got {opts['max_num_steps']!r}")
    return opts, rtol, atol


def _tolerance(name: str, x: Any) -> float:
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = float(x)
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return float(x)


# --------------------------------------------------------------------------- tuple states
class TupleState:
    """Packs a tuple of tensors into one flat vector and back (torchdiffeq's tuple API)."""

    def __init__(self, y0: Sequence[torch.Tensor]):
        for k, y in enumerate(y0):
            _validate_tensor_state(y, f"y0[{k}]")
        self.shapes = [y.shape for y in y0]
        self.numels = [y.numel() for y in y0]
        dtypes = {y.dtype for y in y0}
        if len(dtypes) != 1:
            raise TypeError(f"all tensors of a tuple state must share one dtype, got {sorted(map(str, dtypes))}")

    def pack(self, ys: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([y.reshape(-1) for y in ys])

    def unpack(self, flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        lead = flat.shape[:-1]
        parts = torch.split(flat, self.numels, dim=-1)
        return tuple(p.reshape(*lead, *s) for p, s in zip(parts, self.shapes))

    def wrap(self, func: Callable) -> Callable:
        def packed(t, y):
            out = func(t, self.unpack(y))
            if not isinstance(out, (tuple, list)) or len(out) != len(self.shapes):
                raise ValueError(f"func(t, y) must return a tuple of {len(self.shapes)} tensors for a tuple state")
            for k, (o, s) in enumerate(zip(out, self.shapes)):
                if not isinstance(o, torch.Tensor) or o.shape != s:
                    got = tuple(o.shape) if isinstance(o, torch.Tensor) else type(o).__name__
                    raise ValueError(f"func(t, y)[{k}] has shape {got}, expected {tuple(s)}")
            return self.pack(out)
        return packed


# --------------------------------------------------------------------------- the solve
def solve(func: Callable, y0: torch.Tensor, t: torch.Tensor, times: list[float], *, rtol: float,
          atol: float, method: Method, opts: dict, track_t: bool,
          trajectory: Trajectory | None = None, record: bool = True) -> tuple[torch.Tensor, SolveStats]:
    """Integrate a validated single-tensor problem; returns (solution (len(t), *y0.shape), stats)."""
    tab = resolve_method(method)
    stats = SolveStats(method=tab.name)
    f = _Field(func, y0.dtype, y0.device, y0.shape)
    if track_t:
        tt = t.to(device=y0.device, dtype=torch.float64)
        T = tt.__getitem__
    else:
        T = times.__getitem__
    stepper = RKStepper(tab)
    try:
        if len(times) == 1:
            ys = [y0]
        elif tab.adaptive:
            ys = _solve_adaptive(f, stepper, y0, times, T, rtol, atol, opts, stats, trajectory)
        else:
            ys = _solve_fixed(f, stepper, y0, times, T, opts, stats, trajectory)
    finally:
        stats.nfe = f.nfe
        if record:
            _record_forward(stats)
    return torch.stack(ys), stats


def odeint(func: Callable, y0: Union[torch.Tensor, tuple[torch.Tensor, ...]], t: torch.Tensor, *,
           rtol: float = 1e-7, atol: float = 1e-9, method: Method = "dopri5",
           options: dict | None = None) -> Union[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Solve dy/dt = func(t, y), y(t[0]) = y0, and return y at every time in t.

    Same API as torchdiffeq's `odeint`: the result has shape (len(t), *y0.shape) (a tuple of such
    tensors for a tuple state); t strictly increasing or strictly decreasing; any batch shape;
    float32 or float64 state (time always float64); CPU or CUDA. Gradients flow by backprop
    through the steps to y0, t and any tensor func uses. Methods: a name of `reference.TABLEAUS`
    or a `reference.ButcherTableau` (adaptive when it has embedded weights ``b_hat``); fixed-step
    ones need ``options={"step_size": h}``. After the call, `reference.last_stats()` gives NFE and
    accepted/rejected steps.
    """
    opts, rtol, atol = validate_method(method, options, rtol, atol)
    t, times = validate_times(t)
    if isinstance(y0, (tuple, list)):
        packer = TupleState(y0)
        flat = packer.pack(y0)
        sol, _ = solve(packer.wrap(func), flat, t, times, rtol=rtol, atol=atol, method=method,
                       opts=opts, track_t=t.requires_grad)
        return packer.unpack(sol)
    _validate_tensor_state(y0)
    sol, _ = solve(func, y0, t, times, rtol=rtol, atol=atol, method=method, opts=opts,
                   track_t=t.requires_grad)
    return sol
