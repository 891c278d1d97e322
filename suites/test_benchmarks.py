"""Benchmarks: wall time, function evaluations (NFE), work-precision and memory, per method.

These checks produce the figures of the report (everything measured goes to the result record
through the typed evidence of ``check``). They never fail on timings, which are noise; they fail on what is
deterministic: a solve's NFE and the bytes its graph saves for backward, against the budgets that
the claims or the configuration set, and on invariants every correct implementation meets.

Problems. ``mlp-tanh-t`` (a seeded Neural-ODE field, dim 4, [0, 1]) and DETEST E4
(y'' = 0.032 - 0.4 y'^2, closed form, [0, 20]; Hull et al., SIAM J. Numer. Anal. 9 (1972)): a
neural and a classical smooth non-stiff nonlinear problem, the cheapest of the DETEST set for the
low-order methods (torchdiffeq bosh3 at 1e-8: 455 evaluations, against 1100-1700 for A2-A5, B2,
C1, E5), so that the quick profile keeps its time budget. Adaptive methods are swept over
``profile.bench_tolerances`` (rtol = atol); fixed-step ones take n steps over the interval,
n = ``profile.order_steps[0]`` for the NFE checks and every n of ``profile.order_steps`` for
work-precision. Memory is measured on ``mlp-tanh-t`` at the
depths ``profile.benchmark_depths`` (fixed-step: step 1/n on [0, 1], exactly n steps) or, for
adaptive methods, across ``profile.bench_tolerances`` with the output times fixed (t0, t1).

Budgets (deterministic; optional). Set in the environment, as JSON objects:

``ODE_HARNESS_NFE_BUDGET``
    ``{"[IUT:]METHOD@TOL[/PROBLEM]": LIMIT, ...}``; LIMIT is the largest forward NFE allowed, or
    an object ``{"forward": N, "backward": M}``. TOL is a number (matched to a bench tolerance up
    to 1e-9 relative) or ``*`` (every tolerance); IUT and PROBLEM narrow the entry, METHOD may be
    ``*``. Every entry that matches a measurement applies. Example::

        ODE_HARNESS_NFE_BUDGET='{"dopri5@1e-8/E4": 150, "torchdiffeq-adjoint:dopri5@*": {"backward": 400}}'

``ODE_HARNESS_SAVED_BYTES_BUDGET``
    ``{"[IUT:]METHOD@AT[/PROBLEM]": BYTES, ...}``: the largest number of bytes the graph of one
    solve plus loss may save for backward (inputs and parameters not counted); AT is a depth
    (number of fixed steps), a tolerance (adaptive methods) or ``*``; the problem is always
    ``mlp-tanh-t``. Example: ``'{"reference-adjoint:dopri5@*": 64, "reference:rk4@100": 120000}'``.

A malformed budget is a harness error naming the variable, never silently ignored. The claims set
one budget themselves: an adjoint (``claims.adjoint``) saves the same bytes whatever the number of
steps (see `test_saved_bytes_against_depth`).

CUDA. With ``--ode-device cuda`` everything runs on the GPU and `test_cuda_peak_memory` records
the allocator's peak; without a CUDA device those checks skip with the reason.

pytest-benchmark. The wall-time checks use its ``benchmark`` fixture in pedantic mode (rounds by
profile: quick 3, standard 10, thorough 30, one warm-up round), so ``--benchmark-json``,
``--benchmark-skip`` and ``--benchmark-only`` behave as pytest-benchmark documents them. Under
pytest-xdist (as ``ode-harness check`` runs), which disables pytest-benchmark, the harness times
the call itself (`harness.measure.time_repeated`: one warm-up call, then k calls, k from the
profile's target time in `TIMING`) and records the same statistics (``seconds_min``,
``seconds_median``, ``seconds_iqr``, ... and ``rounds``) with ``benchmark_disabled: true``. With
``--benchmark-disable`` the fixture makes one call, as asked; the record then holds that call's
perf_counter time (``seconds_single_call``). Work-precision points are always timed by
`time_repeated`: one timing of a millisecond solve is noise (neighbouring tolerances zig-zagged
by 2x in the report), the median of k with its quartiles is a measurement with a spread.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import torch

from harness.budget import BACKWARD_FACTOR
from harness.evidence import UNIT_STEPS, Axis, Derivation, GradMode, Loss, Quantity, ReproInputs, Series, SeriesKind
from harness.measure import CountingField, Timing, cuda_peak_bytes, saved_tensor_bytes, time_repeated
from harness.oracles import best_forward_oracle
from harness.problems import Problem, get_problem
from harness.pytest_plugin import Check, IUTError, OdeCase

from .conftest import budget_sweep

BENCH_PROBLEMS = ("mlp-tanh-t", "E4")
MEMORY_PROBLEM = "mlp-tanh-t"
ROUNDS = {"quick": 3, "standard": 10, "thorough": 30}
# Repeated timings where pytest-benchmark does not time (under xdist, as `ode-harness check`
# runs, and for every point of a work-precision sweep): (target measurement time in seconds,
# fewest rounds) per profile; k = ceil(target / one call) rounds, at least the fewest, at most
# MAX_TIMING_ROUNDS (harness.measure.timing). Cost: a point costs max(target, k_min t_call) plus
# one warm-up call, so the quick sweep's 6 points (3 tolerances x 2 problems) add about
# 6 x 0.05 s = 0.3 s for millisecond solves and 3x the solve time for the slow ones (reference
# dopri5 on mlp-tanh-t at 1e-8: ~40 ms a solve here, 0.12 s); standard 6 x 0.2 s plus 5x. Three
# rounds is the fewest whose median ignores one outlier (a scheduler hiccup on a shared machine).
TIMING = {"quick": (0.05, 3), "standard": (0.2, 5), "thorough": (1.0, 10)}
MAX_TIMING_ROUNDS = 200
CUDA_BATCH = 64  # states of 64 x 4 float64 = 2 KiB, so that one state is far above allocator rounding
NFE_BUDGET_ENV = "ODE_HARNESS_NFE_BUDGET"
SAVED_BYTES_BUDGET_ENV = "ODE_HARNESS_SAVED_BYTES_BUDGET"
DTYPE = torch.float64


# --------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class Budget:
    """One budget entry: where it applies (None: anywhere) and its limits by kind."""

    key: str
    iut: str | None
    method: str
    at: float | None
    problem: str | None
    limits: tuple[tuple[str, float], ...]

    def applies(self, iut: str, method: str, at: float, problem: str | None) -> bool:
        return ((self.iut is None or self.iut == iut) and self.method in ("*", method)
                and (self.at is None or math.isclose(self.at, at, rel_tol=1e-9))
                and (self.problem is None or self.problem == problem))


def parse_budgets(env: str, kinds: tuple[str, ...]) -> tuple[Budget, ...]:
    """The entries of the JSON budget in environment variable `env` (see the module docstring).
    A bare number limits ``kinds[0]``; an object may limit any of `kinds`."""
    text = os.environ.get(env, "").strip()
    if not text:
        return ()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{env} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{env} must be a JSON object of \"[IUT:]METHOD@AT[/PROBLEM]\": limit entries")
    out = []
    for key, value in data.items():
        lhs, sep, rhs = key.rpartition("@")
        iut, _, method = lhs.rpartition(":")
        at_text, _, problem = rhs.partition("/")
        if not sep or not method or not at_text:
            raise ValueError(f"{env}: key {key!r} is not of the form [IUT:]METHOD@AT[/PROBLEM]")
        try:
            at = None if at_text == "*" else float(at_text)
        except ValueError:
            raise ValueError(f"{env}: key {key!r}: {at_text!r} is neither a number nor '*'") from None
        raw = value if isinstance(value, dict) else {kinds[0]: value}
        limits = []
        for kind, limit in raw.items():
            if kind not in kinds:
                raise ValueError(f"{env}: key {key!r}: unknown limit {kind!r}; valid: {', '.join(kinds)}")
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit >= 0:
                raise ValueError(f"{env}: key {key!r}: limit must be a number >= 0, got {limit!r}")
            limits.append((kind, float(limit)))
        out.append(Budget(key, iut or None, method, at, problem or None, tuple(limits)))
    return tuple(out)


def budget_ratio(budgets: tuple[Budget, ...], case: OdeCase, points: list[tuple[float, str | None, dict]]
                 ) -> tuple[float | None, list[str]]:
    """Worst measured/limit ratio over the budgets that apply to (at, problem, measured) points,
    and the entries that applied; (None, []) when none applies."""
    worst, used = None, []
    for b in budgets:
        for at, problem, measured in points:
            if not b.applies(case.impl.name, case.method, at, problem):
                continue
            for kind, limit in b.limits:
                if kind not in measured:
                    continue
                value = measured[kind]
                ratio = value / limit if limit > 0 else (0.0 if value == 0 else math.inf)
                worst = ratio if worst is None else max(worst, ratio)
                used.append(f"{b.key} {kind}: {value:g} / {limit:g}")
    return worst, used


# --------------------------------------------------------------------------- helpers
def _device(case: OdeCase) -> torch.device:
    """The run's device; the check skips, with the reason, when CUDA is asked for but absent."""
    dev = case.device
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available (--ode-device cuda on a machine without a CUDA device)")
    return dev


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _fixed_steps(problem: Problem, n: int) -> dict:
    """Solver arguments for n equal steps over the problem's interval (fixed-step methods)."""
    return {"step_size": abs(problem.t1 - problem.t0) / n}


def _solve_args(case: OdeCase, problem: Problem, tol: float) -> dict:
    """rtol = atol = tol; fixed-step methods also get n = profile.order_steps[0] steps."""
    kw: dict[str, Any] = {"rtol": tol, "atol": tol}
    if not case.claims.adaptive:
        kw.update(_fixed_steps(problem, case.profile.order_steps[0]))
    return kw


def _inputs(case: OdeCase, problem: Problem, dev: torch.device, *, grad: bool = False,
            batch: int | None = None) -> tuple[CountingField, torch.Tensor, torch.Tensor]:
    """A counting wrapper around a fresh field, y0 (a leaf; requires grad if `grad`; `batch`
    copies of it if given) and t = (t0, t1), float64 on `dev`."""
    field = CountingField(problem.make_field(dtype=DTYPE, device=dev))
    y0 = torch.tensor(problem.y0, dtype=DTYPE, device=dev)
    if batch is not None:
        y0 = y0.expand(batch, -1).clone()
    y0.requires_grad_(grad)
    t = torch.tensor([problem.t0, problem.t1], dtype=DTYPE, device=dev)
    return field, y0, t


def _repro(case: OdeCase, problem: Problem, kw: dict, *, grad: bool = False, batch: int | None = None) -> ReproInputs:
    """The reproducer inputs of one bench solve (solver arguments `kw`; gradients of ||y(t1)||^2)."""
    return case.repro_inputs(problem, [problem.t0, problem.t1], tol=kw.get("rtol"), atol=kw.get("atol"),
                             step_size=kw.get("step_size"), dtype=DTYPE,
                             grad=(GradMode.ADJOINT if case.claims.adjoint else GradMode.BACKPROP) if grad
                             else GradMode.NONE, loss=Loss.SQUARED_NORM_LAST, batch=batch)


def _memory_series(case: OdeCase, check: Check, problem: Problem, at: list, nfe: list, ys: list,
                   kind: SeriesKind, what: str) -> None:
    """Bytes against depth: the steps for fixed-step methods, the forward NFE (the graph's depth)
    for adaptive ones, whose sweep is over tolerances."""
    if case.claims.adaptive:
        check.series(Series(kind=kind, x=nfe, y=ys, x_label="forward NFE", y_label=what, y_unit="B",
                            label=problem.name))
        check.note(tol=at)
    else:
        check.series(Series(kind=kind, x=at, y=ys, x_label="steps", y_label=what, y_unit="B", label=problem.name))
        check.note(nfe_forward=nfe)


def _backward(loss: torch.Tensor) -> None:
    """loss.backward(); an exception of the IUT's backward pass is its error, not the harness's."""
    try:
        loss.backward()
    except Exception as exc:  # noqa: BLE001 - the IUT's failure is a finding
        raise IUTError(exc) from exc


def _has_gradients(case: OdeCase) -> bool:
    return case.claims.gradients != "none"


_NFE_RUNS: dict[tuple, list[dict]] = {}


def _nfe_run(case: OdeCase, problem: Problem, tol: float, dev: torch.device, repeat: int = 0) -> dict:
    """Forward and backward NFE of one solve at tol (and of the loss ||y(t1)||^2's backward pass
    when gradients are claimed), counted by CountingField in its automatic phase. Runs are cached
    per module so that the NFE checks share them; `repeat` = 1 is a second, identical call."""
    key = (case.id, str(dev), problem.name, tol)
    runs = _NFE_RUNS.setdefault(key, [])
    while len(runs) <= repeat:
        grads = _has_gradients(case)
        field, y0, t = _inputs(case, problem, dev, grad=grads)
        if grads:
            ys = case.odeint(field, y0, t, **_solve_args(case, problem, tol))
            stats = case.stats()
            _backward(ys[-1].square().sum())
        else:
            with torch.no_grad():
                ys = case.odeint(field, y0, t, **_solve_args(case, problem, tol))
            stats = case.stats()
        runs.append({"forward": field.nfe, "backward": field.nfe_backward if grads else None,
                     "other": {k: v for k, v in field.counts.items() if k not in ("forward", "backward")},
                     "n_accepted": stats.get("n_accepted"), "n_rejected": stats.get("n_rejected")})
    return runs[repeat]


def _bench_tolerances(case: OdeCase, problem: Problem) -> list[float]:
    """profile.bench_tolerances, loosest first, shifted up for a low claimed order until a sweep
    with its backward passes fits the step budget (suites/conftest.py `budget_sweep`)."""
    return budget_sweep(case, problem, case.profile.bench_tolerances, factor=BACKWARD_FACTOR)


def _nfe_sweep(case: OdeCase, problem: Problem, dev: torch.device, repeat: int = 0) -> list[dict]:
    return [_nfe_run(case, problem, tol, dev, repeat) for tol in _bench_tolerances(case, problem)]


# --------------------------------------------------------------------------- wall time
def _pedantic(benchmark: Any, case: OdeCase, target: Callable[[], Any], dev: torch.device,
              check: Check, **info: Any) -> Any:
    """Time `target` with pytest-benchmark (pedantic: few rounds, one warm-up) and note the
    statistics. Where xdist disabled pytest-benchmark, `time_repeated` times it instead (rounds
    from the profile's TIMING target) and the same statistics are noted; with
    --benchmark-disable, one call timed by perf_counter."""
    rounds = ROUNDS.get(case.profile.name, ROUNDS["quick"])
    benchmark.group = info.pop("group")
    benchmark.extra_info.update(iut=case.impl.name, method=case.method, device=str(dev), **info)

    def timed() -> Any:
        out = target()
        _sync(dev)
        return out

    if _disabled_by_xdist(benchmark):
        # the record still holds a median and its spread
        timing, result = benchmark.pedantic(lambda: _repeated(case, timed, dev), rounds=1, iterations=1)
        check.timing(timing, at=info.get("tol"))
        check.note(benchmark_disabled=True, timer="harness.measure.time_repeated", **info)
        return result
    start = time.perf_counter()
    result = benchmark.pedantic(timed, rounds=rounds, warmup_rounds=1, iterations=1)
    elapsed = time.perf_counter() - start
    if benchmark.stats is None:  # --benchmark-disable: one call, as the user asked
        check.note(benchmark_disabled=True)
        check.scalar("single_call", elapsed, Quantity.SECONDS, "s")
    else:
        s = benchmark.stats.stats
        check.note(benchmark_disabled=False)
        check.scalars(Quantity.SECONDS, "s", min=s.min, median=s.median, mean=s.mean, stddev=s.stddev, max=s.max,
                      iqr=s.iqr)
        check.scalar("rounds", s.rounds, Quantity.COUNT)
    check.note(**info)
    return result


def _disabled_by_xdist(benchmark: Any) -> bool:
    """pytest-benchmark disables itself in an xdist worker (its session's rule: PYTEST_XDIST_WORKER
    set); a disable by --benchmark-disable is the user's wish and is kept (one call)."""
    return bool(benchmark.disabled) and bool(os.environ.get("PYTEST_XDIST_WORKER"))


def _repeated(case: OdeCase, fn: Callable[[], Any], dev: torch.device, warmup: int = 1) -> tuple[Timing, Any]:
    """`fn` timed repeatedly for the profile's target time (TIMING)."""
    target, fewest = TIMING.get(case.profile.name, TIMING["quick"])
    return time_repeated(fn, target_s=target, min_rounds=fewest, max_rounds=MAX_TIMING_ROUNDS, warmup=warmup,
                         sync=lambda: _sync(dev))


def _wall_time_args(case: OdeCase, problem: Problem) -> tuple[float, dict]:
    tols = _bench_tolerances(case, problem)
    tol = tols[len(tols) // 2]
    return tol, _solve_args(case, problem, tol)


def test_wall_time_forward(ode_case, benchmark, check):
    """Wall time of a forward solve (no graph) of mlp-tanh-t at the middle bench tolerance.

    Recorded, never judged: timings are noise. The property checked is that what was timed is a
    solve: `ode_case.odeint` validates every call (a tensor of shape (len(t), *y0.shape), y0's
    dtype and device, finite), so a failing solver's time is never recorded as a pass."""
    dev = _device(ode_case)
    problem = get_problem(MEMORY_PROBLEM)
    tol, kw = _wall_time_args(ode_case, problem)
    field, y0, t = _inputs(ode_case, problem, dev)
    check.describe(problem=problem, dtype=DTYPE)
    check.inputs(_repro(ode_case, problem, kw))

    def solve() -> torch.Tensor:
        with torch.no_grad():
            return ode_case.odeint(field, y0, t, **kw)

    _pedantic(benchmark, ode_case, solve, dev, check, group="wall-time forward", problem=problem.name,
              tol=tol, step_size=kw.get("step_size"))
    field.reset()
    solve()
    check.scalar("nfe_per_call", field.nfe, Quantity.NFE)


def test_wall_time_gradient(ode_case, benchmark, check):
    """Wall time of a forward solve plus the backward pass of ||y(t1)||^2 (a training step's
    cost) on mlp-tanh-t at the middle bench tolerance. Recorded, never judged; the property
    checked is that the timed call produced gradients, finite, for y0 and every parameter."""
    ode_case.skip_unless(needs_gradients=True)
    dev = _device(ode_case)
    problem = get_problem(MEMORY_PROBLEM)
    tol, kw = _wall_time_args(ode_case, problem)
    field, y0, t = _inputs(ode_case, problem, dev, grad=True)
    params = list(field.parameters())
    check.describe(problem=problem, dtype=DTYPE)
    check.inputs(_repro(ode_case, problem, kw, grad=True))

    def step() -> list[torch.Tensor | None]:
        y0.grad = None
        for p in params:
            p.grad = None
        ys = ode_case.odeint(field, y0, t, **kw)
        _backward(ys[-1].square().sum())
        return [y0.grad] + [p.grad for p in params]

    grads = _pedantic(benchmark, ode_case, step, dev, check, group="wall-time forward+backward",
                      problem=problem.name, tol=tol, step_size=kw.get("step_size"))
    field.reset()
    step()
    check.scalar("nfe_forward_per_call", field.nfe, Quantity.NFE)
    check.scalar("nfe_backward_per_call", field.nfe_backward, Quantity.NFE_BACKWARD)
    missing = sum(g is None for g in grads)
    check.expect(missing == 0, f"{missing} of {len(grads)} inputs (y0 and parameters) got no gradient")
    check.expect(all(bool(torch.isfinite(g).all()) for g in grads), "the timed step produced non-finite gradients")


# --------------------------------------------------------------------------- NFE
def _nfe_note(check: Check, case: OdeCase, problem: Problem, runs: list[dict]) -> None:
    tols = _bench_tolerances(case, problem)
    fwd = [r["forward"] for r in runs]
    check.describe(problem=problem, dtype=DTYPE)
    check.inputs(_repro(case, problem, _solve_args(case, problem, tols[-1]), grad=_has_gradients(case)))
    bwd = [r["backward"] for r in runs]
    check.series(Series(kind=SeriesKind.NFE_SWEEP, x=tols, y=fwd, x_label="tolerance", y_label="forward NFE",
                        y_unit="NFE", label=problem.name))
    if all(b is not None for b in bwd):
        check.series(Series(kind=SeriesKind.NFE_BACKWARD_SWEEP, x=tols, y=bwd, x_label="tolerance",
                            y_label="backward NFE", y_unit="NFE", label=problem.name))
    check.note(n_accepted=[r["n_accepted"] for r in runs], n_rejected=[r["n_rejected"] for r in runs])
    if any(r["other"] for r in runs):
        check.note(nfe_other_phases=[r["other"] for r in runs])
    if not case.claims.adaptive:
        check.note(steps=case.profile.order_steps[0])
    elif case.claims.order is not None and len(tols) > 1:
        # Tolerance proportionality predicts NFE ~ tol^(-1/(p+1)) asymptotically (error per unit
        # step ~ h^(p+1) for the controlled order-p local error); recorded for the report, not
        # asserted: it is asymptotic, and a looser tolerance can cost more (see test docstring).
        check.note(nfe_growth=[b / a if a else None for a, b in zip(fwd, fwd[1:])],
                   nfe_growth_asymptotic=[(a / b) ** (1.0 / (case.claims.order + 1)) for a, b in zip(tols, tols[1:])])


@pytest.mark.parametrize("bench_problem", BENCH_PROBLEMS)
def test_nfe_per_tolerance(ode_case, bench_problem, check):
    """Forward and backward NFE at each bench tolerance: every solve evaluates f (NFE > 0), and
    stays within the configured NFE budget (ODE_HARNESS_NFE_BUDGET) where one applies.

    Not asserted: that NFE grows as the tolerance tightens. Tolerance proportionality is an
    asymptotic statement, and no theorem makes a controller's step count monotone in tol: at loose
    tolerances the initial-step heuristic and rejections dominate. Measured (float64, rtol = atol):
    DETEST B4 with reference dopri5 costs 506 evaluations at 1e-2 but 230 at 1e-4, torchdiffeq
    dopri5 254 and 224; C2 with torchdiffeq dopri8 600 at 1e-3, 574 at 1e-5."""
    dev = _device(ode_case)
    problem = get_problem(bench_problem)
    runs = _nfe_sweep(ode_case, problem, dev)
    _nfe_note(check, ode_case, problem, runs)
    fwd = [r["forward"] for r in runs]
    check.expect(min(fwd) > 0, f"forward NFE {fwd}: the solver never evaluated the field it was given")
    budgets = parse_budgets(NFE_BUDGET_ENV, ("forward", "backward"))
    points = [(tol, problem.name, {k: r[k] for k in ("forward", "backward") if r[k] is not None})
              for tol, r in zip(_bench_tolerances(ode_case, problem), runs)]
    ratio, used = budget_ratio(budgets, ode_case, points)
    if ratio is None:
        check.note(nfe_budget=f"none applies ({len(budgets)} entries configured)")
        return
    check.note(nfe_budget=used)
    check.expect_le("nfe_budget_ratio", ratio, 1.0, f"NFE / budget from {NFE_BUDGET_ENV}", kind=Quantity.RATIO)


@pytest.mark.parametrize("bench_problem", BENCH_PROBLEMS)
def test_nfe_is_reproducible(ode_case, bench_problem, check):
    """The cost of a solve is a function of its inputs: a second identical call evaluates f
    exactly as often, forward and backward, at every bench tolerance. (A deterministic float64
    computation on the CPU performs the same operations on the same data, so every accept/reject
    decision repeats; on CUDA, run-to-run bitwise reproducibility is not guaranteed, so the check
    is CPU-only.)"""
    dev = _device(ode_case)
    if dev.type != "cpu":
        pytest.skip(f"{dev.type}: kernels are not guaranteed bitwise reproducible run to run "
                    "(torch.use_deterministic_algorithms is off); measured on the CPU")
    problem = get_problem(bench_problem)
    first = _nfe_sweep(ode_case, problem, dev)
    second = _nfe_sweep(ode_case, problem, dev, repeat=1)
    check.describe(problem=problem, dtype=DTYPE)
    tols = _bench_tolerances(ode_case, problem)
    check.inputs(_repro(ode_case, problem, _solve_args(ode_case, problem, tols[-1]), grad=_has_gradients(ode_case)))
    pairs = [((a["forward"], a["backward"]), (b["forward"], b["backward"])) for a, b in zip(first, second)]
    for which, runs in (("first call", first), ("second call", second)):
        check.series(Series(kind=SeriesKind.NFE_SWEEP, x=tols, y=[r["forward"] for r in runs], x_label="tolerance",
                            y_label="forward NFE", y_unit="NFE", label=f"{problem.name} {which}"))
    check.note(nfe_first=[p[0] for p in pairs], nfe_second=[p[1] for p in pairs])
    differ = [(tol, a, b) for tol, (a, b) in zip(_bench_tolerances(ode_case, problem), pairs) if a != b]
    check.expect(not differ, f"(forward, backward) NFE differ between identical calls: "
                             + "; ".join(f"tol={tol:g}: {a} then {b}" for tol, a, b in differ))


@pytest.mark.parametrize("bench_problem", BENCH_PROBLEMS)
def test_fixed_step_nfe_ignores_tolerance(ode_case, bench_problem, check):
    """A fixed-step method takes the steps it is given: its forward NFE is the same at every
    rtol = atol of the bench sweep (n = profile.order_steps[0] steps each time). Not for an
    implicit method (claim `implicit`): its corrector iterates until two iterates agree within
    rtol/atol, so the same steps cost more evaluations at a tighter tolerance (torchdiffeq
    implicit_adams, 64 steps on B4: NFE 132, 133, 136, 160 at 1e-4, 1e-6, 1e-8, 1e-10,
    benchmarks/torchdiffeq_adams.py)."""
    ode_case.skip_unless(needs_adaptive=False, needs_explicit=True)
    dev = _device(ode_case)
    problem = get_problem(bench_problem)
    runs = _nfe_sweep(ode_case, problem, dev)
    _nfe_note(check, ode_case, problem, runs)
    fwd = [r["forward"] for r in runs]
    check.expect(len(set(fwd)) == 1, f"forward NFE {fwd} at tolerances {_bench_tolerances(ode_case, problem)} "
                                     "with the same step size: the step count depends on the tolerance")


@pytest.mark.parametrize("bench_problem", BENCH_PROBLEMS)
def test_adjoint_backward_evaluates_the_field(ode_case, bench_problem, check):
    """An adjoint computes gradients by solving the adjoint equation backward in time, which
    needs f (and its vector-Jacobian products) along the way: its backward NFE is > 0 at every
    tolerance. Zero means the gradient came from a stored forward graph, not an adjoint solve."""
    ode_case.skip_unless(needs_adjoint=True)
    dev = _device(ode_case)
    problem = get_problem(bench_problem)
    runs = _nfe_sweep(ode_case, problem, dev)
    _nfe_note(check, ode_case, problem, runs)
    bwd = [r["backward"] for r in runs]
    check.expect(all(b is not None and b > 0 for b in bwd),
                 f"backward NFE {bwd}: the backward pass never evaluated the field")


# --------------------------------------------------------------------------- work-precision
@pytest.mark.parametrize("bench_problem", BENCH_PROBLEMS)
def test_work_precision(ode_case, bench_problem, check):
    """Work-precision sweep: max-abs error at t1 against the best oracle, with the forward NFE
    and the wall time (no graph) of each solve: `seconds` is the median of k timed calls after
    a warm-up call (k from the profile's target time, TIMING), recorded with the samples' min,
    quartiles and max (`seconds_min`, `seconds_q1`, `seconds_q3`, `seconds_max`) and k
    (`timing_rounds`), so that the report draws each point with its spread; adaptive methods over
    profile.bench_tolerances, fixed-step ones over n = profile.order_steps steps. Recorded for
    the report's plots; the property checked is that every point is a solve: it evaluated the
    field (NFE > 0) and returned finite values (`ode_case.odeint` validates them). Points whose
    error is within 10x the oracle's error estimate are flagged `oracle_limited` (their error is
    the oracle's, not the solver's)."""
    dev = _device(ode_case)
    problem = get_problem(bench_problem)
    oracle = best_forward_oracle(problem, np.array([problem.t0, problem.t1]))
    truth, oracle_err = oracle.values[-1], float(oracle.error_estimate[-1])
    profile = ode_case.profile
    if ode_case.claims.adaptive:
        sweep = [(tol, {"rtol": tol, "atol": tol}) for tol in _bench_tolerances(ode_case, problem)]
    else:
        sweep = [(n, _fixed_steps(problem, n)) for n in profile.order_steps]
    errors, nfes, timings = [], [], []
    for _, kw in sweep:
        field, y0, t = _inputs(ode_case, problem, dev)

        def solve() -> torch.Tensor:
            with torch.no_grad():
                return ode_case.odeint(field, y0, t, **kw)

        ys = solve()  # counted, validated, and the warm-up of the timing
        nfes.append(field.nfe)
        errors.append(float(np.abs(ys[-1].detach().to(torch.float64).cpu().numpy() - truth).max()))
        _sync(dev)
        timings.append(_repeated(ode_case, solve, dev, warmup=0)[0])
    check.describe(problem=problem, dtype=DTYPE)
    check.inputs(_repro(ode_case, problem, sweep[-1][1]))
    swept = [s for s, _ in sweep]
    x_label = "tolerance" if ode_case.claims.adaptive else "steps"
    label = problem.name
    if ode_case.claims.adaptive:
        check.series(Series(kind=SeriesKind.TOLERANCE_SWEEP, x=swept, y=errors, x_label="tolerance",
                            y_label="max error at t1", label=label))
    check.series(Series(kind=SeriesKind.WORK_PRECISION, x=nfes, y=errors, x_label="function evaluations",
                        x_unit="NFE", y_label="max error at t1", label=label))
    check.series(Series(kind=SeriesKind.WORK_PRECISION, x=[tm.median for tm in timings], y=errors,
                        x_label="wall time (median)", x_unit="s", y_label="max error at t1", label=label,
                        low=[tm.q1 for tm in timings], high=[tm.q3 for tm in timings], spread_axis=Axis.X))
    x_unit = "" if ode_case.claims.adaptive else UNIT_STEPS
    check.series(Series(kind=SeriesKind.NFE_SWEEP, x=swept, y=nfes, x_label=x_label, x_unit=x_unit,
                        y_label="forward NFE", y_unit="NFE", label=label))
    check.series(Series(kind=SeriesKind.TIMING, x=swept, y=[tm.median for tm in timings], x_label=x_label,
                        x_unit=x_unit, y_label="wall time (median)", y_unit="s", label=label, low=[tm.q1 for tm in timings],
                        high=[tm.q3 for tm in timings]))
    check.oracle(oracle.kinds[-1])
    check.scalar("oracle_error", oracle_err, Quantity.ERROR)
    check.note(timing_rounds=[tm.rounds for tm in timings], seconds_min=[tm.min for tm in timings],
               seconds_max=[tm.max for tm in timings], oracle_limited=[e <= 10 * oracle_err for e in errors])
    check.expect(min(nfes) > 0, f"NFE {nfes}: a solve evaluated nothing")


# --------------------------------------------------------------------------- memory
def _memory_sweep(case: OdeCase, problem: Problem) -> list[tuple[float, dict]]:
    """(depth or tolerance, solver arguments), shallowest first: fixed-step methods at n steps of
    1/n on [0, 1] for n in profile.benchmark_depths; adaptive ones across bench_tolerances,
    loosest first (fewest steps)."""
    if case.claims.adaptive:
        return [(tol, {"rtol": tol, "atol": tol}) for tol in _bench_tolerances(case, problem)]
    return [(n, {"step_size": 1.0 / n}) for n in sorted(case.profile.benchmark_depths)]


def _graph(case: OdeCase, field, y0, t, kw) -> torch.Tensor:
    """Forward solve and the loss ||y(t1)||^2: the graph a training step would hold."""
    return case.odeint(field, y0, t, **kw)[-1].square().sum()


def test_saved_bytes_against_depth(ode_case, check):
    """Bytes saved for backward by a forward solve of mlp-tanh-t plus its loss (inputs and
    parameters not counted: they exist whatever the graph keeps), against depth (fixed steps) or
    tolerance (adaptive). Deterministic: it depends on the graph, not the allocator.

    The property: the saved bytes stay within their budgets. The claims set one: an adjoint
    (claims.adjoint; Chen et al. 2018, Alg. 1) keeps the outputs and what it needs to start the
    backward solve, never anything per step, so its bytes at every depth are at most those at the
    shallowest. The configuration may set more (ODE_HARNESS_SAVED_BYTES_BUDGET). Without either
    (backprop, checkpointing) the figures are recorded only: bytes per step (backprop: the stage
    inputs and activations of every evaluation, linear in the steps) for the report."""
    ode_case.skip_unless(needs_gradients=True)
    dev = _device(ode_case)
    problem = get_problem(MEMORY_PROBLEM)
    sweep = _memory_sweep(ode_case, problem)
    saved, nfe = [], []
    for _, kw in sweep:
        field, y0, t = _inputs(ode_case, problem, dev, grad=True)
        exclude = [y0, t, *field.parameters()]
        s = saved_tensor_bytes(lambda: _graph(ode_case, field, y0, t, kw), exclude=exclude)
        saved.append(s.bytes)
        nfe.append(field.nfe)
        del s
    at = [a for a, _ in sweep]
    state = problem.dim * torch.finfo(DTYPE).bits // 8
    check.describe(problem=problem, dtype=DTYPE)
    check.inputs(_repro(ode_case, problem, sweep[-1][1], grad=True))
    _memory_series(ode_case, check, problem, at, nfe, saved, SeriesKind.MEMORY_DEPTH, "saved bytes")
    check.scalar("state_bytes", state, Quantity.BYTES, "B")
    if len(at) > 1 and nfe[-1] != nfe[0]:
        per_eval = (saved[-1] - saved[0]) / (nfe[-1] - nfe[0])
        check.scalar("saved_bytes_per_evaluation", per_eval, Quantity.BYTES, "B")
        check.scalar("saved_states_per_evaluation", per_eval / state, Quantity.RATIO)
        if not ode_case.claims.adaptive:
            per_step = (saved[-1] - saved[0]) / (at[-1] - at[0])
            check.scalar("saved_bytes_per_step", per_step, Quantity.BYTES, "B")
            check.scalar("saved_states_per_step", per_step / state, Quantity.RATIO)
    budgets = parse_budgets(SAVED_BYTES_BUDGET_ENV, ("saved_bytes",))
    ratio, used = budget_ratio(budgets, ode_case, [(a, problem.name, {"saved_bytes": b}) for a, b in zip(at, saved)])
    if ratio is not None:
        check.note(saved_bytes_budget=used)
    if ode_case.claims.adjoint:
        growth = max(saved) - saved[0]
        check.scalar("saved_bytes_growth", growth, Quantity.BYTES, "B")
        check.expect(growth <= 0, f"an adjoint's saved bytes grow with depth: {saved} at "
                                  f"{'tol' if ode_case.claims.adaptive else 'depth'} {at} "
                                  f"({growth} bytes more than at the shallowest)")
    if ratio is None:
        if not ode_case.claims.adjoint:
            check.note(saved_bytes_budget=f"none claimed, none configured applies ({len(budgets)} entries): "
                                          "recorded only")
        return
    check.expect_le("saved_bytes_budget_ratio", ratio, 1.0, f"saved bytes / budget from {SAVED_BYTES_BUDGET_ENV}",
                    kind=Quantity.RATIO)


def test_cuda_peak_memory(ode_case, check):
    """Peak CUDA memory (torch.cuda.max_memory_allocated above what was allocated before) of a
    forward solve, loss and backward pass of mlp-tanh-t (a batch of 64 states when batching is
    claimed), against depth or tolerance as in test_saved_bytes_against_depth; recorded with the
    saved bytes on the device. One warm-up step first (cuBLAS workspaces, lazy initialisation).

    The property, for an adjoint with a batched state: its peak does not grow by as much as half a
    state per forward evaluation between the shallowest and the deepest solve. Backprop keeps at
    least the input of every evaluation of a nonlinear field (one state per NFE); an adjoint's
    memory is O(1) in the steps, and what it may keep per step (a time grid: scalars, one
    allocator block of 512 bytes at most) is below half a 2 KiB state. Other IUTs: recorded."""
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    if ode_case.device.type != "cuda":
        pytest.skip("CUDA peak memory is measured with --ode-device cuda (this run: "
                    f"--ode-device {ode_case.device.type})")
    ode_case.skip_unless(needs_gradients=True)
    dev = _device(ode_case)
    problem = get_problem(MEMORY_PROBLEM)
    batch = CUDA_BATCH if ode_case.claims.batching else None
    sweep = _memory_sweep(ode_case, problem)

    def training_step(kw: dict) -> tuple[dict, int]:
        field, y0, t = _inputs(ode_case, problem, dev, grad=True, batch=batch)
        exclude = [y0, t, *field.parameters()]
        s = saved_tensor_bytes(lambda: _graph(ode_case, field, y0, t, kw), exclude=exclude)
        by_device = dict(s.by_device)
        _backward(s.result)
        return by_device, field.nfe

    training_step(sweep[-1][1])  # warm-up at the deepest point
    peaks, increments, on_device, nfe = [], [], [], []
    for _, kw in sweep:
        res = cuda_peak_bytes(lambda: training_step(kw), device=dev)
        by_device, n = res.result
        peaks.append(res.peak_bytes)
        increments.append(res.increment_bytes)
        on_device.append(by_device)
        nfe.append(n)
    at = [a for a, _ in sweep]
    state = problem.dim * (batch or 1) * torch.finfo(DTYPE).bits // 8
    check.describe(problem=problem, dtype=DTYPE)
    check.inputs(_repro(ode_case, problem, sweep[-1][1], grad=True, batch=batch))
    _memory_series(ode_case, check, problem, at, nfe, peaks, SeriesKind.PEAK_MEMORY_DEPTH, "CUDA peak bytes")
    check.series(Series(kind=SeriesKind.PEAK_MEMORY_DEPTH, x=at if not ode_case.claims.adaptive else nfe, y=increments,
                        x_label="steps" if not ode_case.claims.adaptive else "forward NFE",
                        y_label="CUDA peak increment bytes", y_unit="B", label=f"{problem.name} increment"))
    check.scalar("state_bytes", state, Quantity.BYTES, "B")
    check.note(saved_bytes_by_device=on_device, batch=batch, device_name=torch.cuda.get_device_name(dev))
    if not ode_case.claims.adjoint or batch is None:
        return
    growth = max(increments) - increments[0]
    allowance = 0.5 * state * max(nfe[-1] - nfe[0], 1)
    check.expect_le("cuda_peak_growth_bytes", growth, allowance,
                    "an adjoint keeps O(1) memory in the steps: less than half a state per extra forward evaluation",
                    kind=Quantity.BYTES, derivation=Derivation(safety_factor=0.5, scale=state))
