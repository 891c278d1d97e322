"""Properties every correct solver has, checked on inputs drawn by hypothesis.

One test per property; each draws `hypothesis_examples` inputs (ode profile: quick 10, standard
40, thorough 200; the hypothesis settings profiles ci / dev / thorough are registered in
suites/conftest.py) and records the example closest to breaking its threshold (or the shrunk
counterexample).

The drawn fields (`FieldSpec`) act row-wise on the last axis,

    f(t, y) = r (A y + c tanh(B y) + d t),   ||B||_2 <= 1,  |c| <= 1/2,

with A either "stable" (A = M - (mu_2(M) + |c| ||B||_2 + margin) I, so the one-sided Lipschitz constant
of y -> f in the 2-norm, ell = mu_2(rA) + |rc| ||B||_2, is <= -r margin) or "skew" (A = (M - M^T)/2,
ell <= r|c| forward and backward). Then (Dahlquist; HNW-I sec. I.10):

  (G)  two solutions drift apart by at most G = exp(max(ell, 0) T) over a span T, and
       ||y(t)||_2 <= G (||y0||_2 + r ||d||_2 tau T) =: Ymax, tau = max |t| on the span.

Global error bounds, by Lady Windermere's fan (HNW-I sec. II.3), the error after the last step
is at most the sum of the local errors, each carried by (G):

  adaptive  A step is accepted when the RMS over all n elements of err_est / sc is <= 1 with
            sc = atol + rtol max(|y_old|, |y_new|) <= atol + rtol Ymax (HNW-I eq. (4.10)-(4.11)),
            so ||err_est||_2 <= sqrt(n) (atol + rtol Ymax). Taking the true local error of the
            propagated solution to be no larger than the estimate (local extrapolation: the
            estimate is that of the lower-order embedded solution, HNW-I sec. II.4) and the
            number of accepted steps plus one interpolated output to be no more than the
            number of evaluations of f (every step evaluates f at least once), measured here:
                E_adaptive = G nfe sqrt(n) (atol + rtol Ymax)  +  10 nfe eps G Ymax (round-off).
            This is what the tolerance promises; it does not depend on the method's order, so
            the same bound holds for every adaptive IUT.
  fixed     derived for explicit Runge-Kutta methods with s = p stages, p <= 4 (Euler, midpoint,
            Heun3, RK4 and the 3/8 rule), on linear fields (c = 0): with z = (y, t, 1), the field
            is z' = M z with M = [[rA, rd, 0], [0, 0, 1], [0, 0, 0]], the method's step is
            z -> T_p(hM) z (stability function = Taylor polynomial of degree p; the t components
            are integrated exactly by any method with c_i = sum_j a_ij), and
            ||T_p(hM) - e^{hM}||_2 <= delta = (hm)^(p+1)/(p+1)! e^(hm), m = ||M||_2. The
            numerical propagator of the y error has norm <= e^(h mu+) + delta, hence
                E_fixed = N delta e^(N delta) G Zmax  +  16 N (n + p + 2) eps e^(N delta) G Zmax,
            N = ceil(T/h) + 1 steps, Zmax = sqrt(Ymax^2 + tau^2 + 1). Fixed-step methods of other
            orders are skipped by the checks that need this bound (visible reason).

Every comparison is in the max norm, which is <= the 2-norm used above. The tolerance is the
profile's `property_tolerance` (rtol = atol; for low claimed orders the tightest the step budget
affords, suites/conftest.py `property_tolerance`) where accuracy matters; checks where it cannot matter
(shapes, mutation, determinism, where f is evaluated) use a loose 1e-5 to keep each example fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from harness.evidence import Derivation, Quantity

from .conftest import EPS, property_settings, property_tolerance

EPS64 = EPS[torch.float64]
LOOSE_TOL = 1e-5  # checks whose property does not depend on accuracy
FIXED_STEP = {1: 1 / 64, 2: 1 / 32, 3: 1 / 16, 4: 1 / 16}  # dyadic h: grid times are exact in binary
MAX_SPAN = 1.0  # dim <= 4 and spans <= 1 keep each example a fast solve (quick profile: <= 4 s a case)


# --------------------------------------------------------------------------- drawn fields
def _sym_max_eig(A: np.ndarray) -> float:
    """mu_2(A), the logarithmic 2-norm: largest eigenvalue of (A + A^T)/2 (HNW-I sec. I.10)."""
    return float(np.linalg.eigvalsh(0.5 * (A + A.T)).max())


def _norm2(x: np.ndarray) -> float:
    return float(np.linalg.norm(x, 2)) if x.size else 0.0


@dataclass(frozen=True)
class FieldSpec:
    """f(t, y) = A y + c tanh(B y) + d t (the rate r is folded into A, c, d by `scaled`)."""

    A: np.ndarray
    B: np.ndarray
    c: float
    d: np.ndarray
    kind: str

    @property
    def n(self) -> int:
        return self.A.shape[0]

    @property
    def linear(self) -> bool:
        return self.c == 0.0

    def scaled(self, r: float) -> "FieldSpec":
        return replace(self, A=r * self.A, c=r * self.c, d=r * self.d)

    def ell(self, direction: float) -> float:
        """One-sided Lipschitz constant of y -> direction * f in the 2-norm: mu_2(+-A) + |c| ||B||_2
        (mu_2 of the Jacobian A + c diag(sech^2) B, 0 <= sech^2 <= 1)."""
        return _sym_max_eig(direction * self.A) + abs(self.c) * _norm2(self.B)

    def augmented(self) -> np.ndarray:
        """M with z' = M z for z = (y, t, 1) (linear fields)."""
        n = self.n
        M = np.zeros((n + 2, n + 2))
        M[:n, :n], M[:n, n], M[n, n + 1] = self.A, self.d, 1.0
        return M

    def exact(self, y0: np.ndarray, t0: float, tau: float, k: int) -> np.ndarray:
        """y at t0 + j tau, j = 0..k, for a linear field: z_j = E^j z0 with E = expm(tau M)
        (scipy.linalg.expm: Pade with scaling and squaring, Al-Mohy & Higham 2009). One call to
        expm an example: next to torch's threads scipy's BLAS call takes ~20 ms here."""
        assert self.linear
        E = scipy.linalg.expm(tau * self.augmented())
        zs = [np.concatenate([y0, [t0, 1.0]])]
        for _ in range(k):
            zs.append(E @ zs[-1])
        return np.stack(zs)[:, : self.n]


class DrawnField(nn.Module):
    """The torch side of a FieldSpec; `rate` broadcasts over the batch axes ((*batch, 1) or ())."""

    def __init__(self, spec: FieldSpec, dtype: torch.dtype = torch.float64, rate: Any = 1.0):
        super().__init__()
        self.A = nn.Parameter(torch.tensor(spec.A, dtype=dtype))
        self.B = nn.Parameter(torch.tensor(spec.B, dtype=dtype))
        self.c = nn.Parameter(torch.tensor(spec.c, dtype=dtype))
        self.d = nn.Parameter(torch.tensor(spec.d, dtype=dtype))
        self.register_buffer("rate", torch.as_tensor(rate, dtype=dtype))
        self.nonlinear = not spec.linear

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = y @ self.A.T + t * self.d
        if self.nonlinear:
            out = out + self.c * torch.tanh(y @ self.B.T)
        return self.rate * out


class ZeroField(nn.Module):
    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(y)


class Recorder(nn.Module):
    """Wraps a field (as a submodule, so adjoints see its parameters) and records every t."""

    def __init__(self, func: nn.Module):
        super().__init__()
        self.func = func
        self.times: list[float] = []

    @property
    def nfe(self) -> int:
        return len(self.times)

    def forward(self, t: Any, y: torch.Tensor) -> torch.Tensor:
        self.times.append(float(t))
        return self.func(t, y)


# --------------------------------------------------------------------------- bounds
def growth(spec: FieldSpec, direction: float, span: float) -> float:
    """G = exp(max(ell, 0) T), (G) in the module docstring."""
    return math.exp(max(spec.ell(direction), 0.0) * span)


def ymax_bound(spec: FieldSpec, y0: np.ndarray, ta: float, tb: float) -> float:
    """Ymax of (G): ||y(t)||_2 on [ta, tb] (either direction)."""
    T, tau = abs(tb - ta), max(abs(ta), abs(tb))
    return growth(spec, math.copysign(1.0, tb - ta), T) * (float(np.linalg.norm(y0)) + _norm2(spec.d) * tau * T)


def adaptive_bound(spec: FieldSpec, y0: np.ndarray, ta: float, tb: float, nfe: int, tol: float,
                   n_elems: int) -> float:
    """E_adaptive of the module docstring (rtol = atol = tol), for one element of a solve whose
    error norm runs over `n_elems` numbers."""
    G, Y = growth(spec, math.copysign(1.0, tb - ta), abs(tb - ta)), ymax_bound(spec, y0, ta, tb)
    return G * nfe * math.sqrt(n_elems) * (tol + tol * Y) + 10 * nfe * EPS64 * G * max(Y, 1.0)


def fixed_bound(spec: FieldSpec, y0: np.ndarray, ta: float, tb: float, h: float, p: int,
                roundoff_only: bool = False) -> float:
    """E_fixed of the module docstring (linear field; explicit RK with s = p <= 4 stages).
    With `roundoff_only`, only its round-off term: two runs of the same steps differ by that."""
    T = abs(tb - ta)
    N = math.ceil(T / h) + 1
    x = h * _norm2(spec.augmented())
    delta = x ** (p + 1) / math.factorial(p + 1) * math.exp(x)
    G = growth(spec, math.copysign(1.0, tb - ta), T)
    Z = math.sqrt(ymax_bound(spec, y0, ta, tb) ** 2 + max(abs(ta), abs(tb)) ** 2 + 1.0)
    amp = math.exp(N * delta) * G
    roundoff = 16 * N * (spec.n + p + 2) * EPS64 * amp * Z
    return roundoff if roundoff_only else N * delta * amp * Z + roundoff


# --------------------------------------------------------------------------- strategies
def _floats(lo: float, hi: float, width: int = 64) -> st.SearchStrategy[float]:
    if width == 32:  # hypothesis wants bounds exactly representable at the width
        lo, hi = float(np.float32(lo)), float(np.float32(hi))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)


_SEEDS = st.integers(0, 2**32 - 1)


@st.composite
def field_specs(draw: Callable, *, kind: str | None = None, nonlinear: bool = True, n: int | None = None) -> FieldSpec:
    """A random field of dimension n <= 4. Hypothesis draws the structure (n, kind, whether
    nonlinear, whether forced) and a seed; the numbers come from numpy's generator with that
    seed: M uniform in [-1, 1]/sqrt(n) (||M||_2 <= sqrt(n)), B uniform scaled to ||B||_2 <= 1,
    c uniform in [-1/2, 1/2], d uniform in [-1, 1], the stability margin uniform in [0, 1]. (A
    hypothesis draw costs ~0.5 ms here; drawing every entry would cost more than most solves.)"""
    n = n or draw(st.integers(1, 4))
    kind = kind or draw(st.sampled_from(("stable", "skew")))
    flags = draw(st.integers(0, 3))  # bit 0: nonlinear term, bit 1: forcing d t
    rng = np.random.default_rng(draw(_SEEDS))
    M = rng.uniform(-1, 1, (n, n)) / math.sqrt(n)
    c, B = 0.0, np.zeros((n, n))
    if nonlinear and flags & 1:
        c = float(rng.uniform(-0.5, 0.5))
        B = rng.uniform(-1, 1, (n, n))
        B = B / max(1.0, _norm2(B))
    d = rng.uniform(-1, 1, n) if flags & 2 else np.zeros(n)
    if kind == "stable":
        A = M - (_sym_max_eig(M) + abs(c) * _norm2(B) + rng.uniform(0.0, 1.0)) * np.eye(n)
    else:
        A = 0.5 * (M - M.T)
    return FieldSpec(A, B, c, d, kind)


def _vectors(n: int, lo: float = -2.0, hi: float = 2.0) -> st.SearchStrategy[np.ndarray]:
    """A seeded uniform vector (hypothesis draws the seed)."""
    return _SEEDS.map(lambda s: np.random.default_rng(s).uniform(lo, hi, n))


@st.composite
def adaptive_times(draw: Callable, n_out: tuple[int, int] = (2, 2)) -> np.ndarray:
    """t0 in [-1, 1], span in [0.05, MAX_SPAN], output times inside, increasing; last = t0 + span."""
    t0, span = draw(_floats(-1, 1)), draw(_floats(0.05, MAX_SPAN))
    k = draw(st.integers(*n_out))
    # interior fractions j/100 (distinct integers): distinct floats could round to one time
    inner = sorted(draw(st.lists(st.integers(1, 99), min_size=k - 2, max_size=k - 2, unique=True)))
    return np.array([t0] + [t0 + j / 100 * span for j in inner] + [t0 + span])


@st.composite
def grid_times(draw: Callable, h: float, n_out: tuple[int, int] = (2, 2), max_span: float = MAX_SPAN) -> np.ndarray:
    """Output times on the fixed-step grid: t0 = k/16 in [-1, 1], t_j = t0 + k_j h, span <= max_span."""
    t0 = draw(st.integers(-16, 16)) / 16
    kmax = int(max_span / h)
    k = draw(st.integers(*n_out))
    ks = sorted(draw(st.lists(st.integers(1, kmax), min_size=k - 1, max_size=k - 1, unique=True)))
    return np.array([t0] + [t0 + j * h for j in ks])


# --------------------------------------------------------------------------- running a property
@dataclass
class Outcome:
    """What one example measured: `value` must be <= `threshold`."""

    name: str
    value: float
    threshold: float
    reason: str
    notes: dict  # display-only: what the example was
    kind: Quantity = Quantity.COUNT
    derivation: Derivation | None = None

    @property
    def ratio(self) -> float:
        if self.threshold > 0:
            return self.value / self.threshold
        return 0.0 if self.value <= 0 else math.inf


def run_property(request: pytest.FixtureRequest, ode_case, check, strategy: st.SearchStrategy,
                 body: Callable[[Any], Outcome], problem: str, explicit: tuple = (), dtype: str = "float64") -> None:
    """Run `body` on the drawn examples. Each example's outcome goes through `check.expect_le`
    (a failure makes hypothesis shrink and re-raise it: the record shows the shrunk example);
    when all pass, the record shows the example with the largest value/threshold. A known
    finding (expected failure, suites/known_findings.py) is not shrunk: its evidence is on
    record, and shrinking would re-run many solves for nothing. `explicit` examples run first
    in every profile (hypothesis's @example): edge cases the property must cover that a
    handful of random draws rarely reach."""
    worst: list[Outcome] = []
    count = [0]
    hyp = property_settings(request.config, ode_case.profile)
    if request.node.get_closest_marker("xfail") is not None:
        hyp = settings(parent=hyp, phases=[p for p in hyp.phases if p != Phase.shrink])

    def prop(drawn: Any) -> None:
        out = body(drawn)
        count[0] += 1
        check.measured.clear()
        check.note(**out.notes)
        check.expect_le(out.name, out.value, out.threshold, out.reason, kind=out.kind, derivation=out.derivation)
        if not worst or out.ratio > worst[0].ratio:
            worst[:] = [out]

    for ex in reversed(explicit):
        prop = example(ex)(prop)
    prop = hyp(given(strategy)(prop))

    check.describe(problem=problem, dtype=dtype)
    prop()
    w = worst[0]
    check.measured.clear()
    check.note(**w.notes)
    check.scalar("examples", count[0], Quantity.COUNT)
    check.scalar("worst_ratio", w.ratio, Quantity.RATIO)
    check.expect_le(w.name, w.value, w.threshold, w.reason, kind=w.kind, derivation=w.derivation)


def solve(ode_case, field: nn.Module, y0: torch.Tensor, times: np.ndarray | torch.Tensor, *, tol: float,
          h: float | None, validate: bool = True) -> tuple[torch.Tensor, Recorder]:
    """One IUT call under no_grad with a recording wrapper; returns the output and the recorder.
    `validate=False` for the checks that measure the output's shape, dtype and finiteness
    themselves (the plugin's validation would fail them before they record what they saw)."""
    rec = Recorder(field)
    t = times if isinstance(times, torch.Tensor) else torch.tensor(times, dtype=y0.dtype)
    tol = property_tolerance(ode_case, tol)  # within the step budget (a no-op for affordable tol)
    with torch.no_grad():
        ys = ode_case.odeint(rec, y0, t, rtol=tol, atol=tol, step_size=h, validate=validate)
    return ys, rec


def _accuracy_mode(ode_case) -> tuple[bool, int | None, float | None]:
    """(adaptive, order, fixed step h); skips fixed-step methods the a-priori bound does not cover."""
    claims = ode_case.claims
    if claims.adaptive:
        return True, claims.order, None
    ode_case.skip_unless(needs_order=True)
    if claims.order not in FIXED_STEP:
        pytest.skip(f"{ode_case.id}: the fixed-step error bound is derived for explicit RK methods with "
                    f"s = p <= 4 stages; claimed order {claims.order}")
    return False, claims.order, FIXED_STEP[claims.order]


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _maxabs(a: torch.Tensor, b: torch.Tensor | np.ndarray) -> float:
    b = b if isinstance(b, torch.Tensor) else torch.as_tensor(b, dtype=torch.float64)
    return float((a.detach().to(torch.float64) - b).abs().max()) if a.numel() else 0.0


def _bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Identical bits (signed zeros and NaN payloads included)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    ints = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
            torch.bfloat16: torch.int16}
    return torch.equal(a.detach().contiguous().view(ints[a.dtype]), b.detach().contiguous().view(ints[b.dtype]))


# --------------------------------------------------------------------------- properties
def test_linear_systems_match_expm(ode_case, check, request):
    """Random linear systems y' = A y + d t (A stable or skew, n <= 4): the solution at every
    output time agrees with expm of the augmented matrix within E_adaptive / E_fixed (module
    docstring) plus the oracle's error, 1e3 eps (1 + T ||M||_2) Zmax: scaling and squaring is
    backward stable to a few eps times ||TM|| (Al-Mohy & Higham 2009), 1e3 leaves room for the
    conditioning of the exponential of a non-normal M."""
    adaptive, p, h = _accuracy_mode(ode_case)
    tol = property_tolerance(ode_case)

    @st.composite
    def examples(draw):
        spec = draw(field_specs(nonlinear=False))
        k = draw(st.integers(1, 3))  # output times t0 + j tau, j = 0..k (one expm an example)
        if adaptive:
            t0, tau = draw(_floats(-1, 1)), draw(_floats(0.05, MAX_SPAN)) / k
        else:  # on the step grid
            t0, tau = draw(st.integers(-16, 16)) / 16, draw(st.integers(1, int(MAX_SPAN / h) // k)) * h
        return spec, t0 + tau * np.arange(k + 1), draw(_vectors(spec.n))

    def body(ex) -> Outcome:
        spec, times, y0 = ex
        ys, rec = solve(ode_case, DrawnField(spec), _t(y0), times, tol=tol, h=h)
        exact = spec.exact(y0, times[0], times[1] - times[0], len(times) - 1)
        errs = (ys[1:].to(torch.float64) - _t(exact[1:])).abs().amax(dim=-1).numpy()
        bounds = []
        for tj in times[1:]:
            b = (adaptive_bound(spec, y0, times[0], tj, rec.nfe, tol, spec.n) if adaptive
                 else fixed_bound(spec, y0, times[0], tj, h, p))
            T = abs(tj - times[0])
            Z = math.sqrt(ymax_bound(spec, y0, times[0], tj) ** 2 + tj ** 2 + 1)
            bounds.append(b + 1e3 * EPS64 * (1 + T * _norm2(spec.augmented())) * Z)
        j = int(np.argmax(errs / np.array(bounds)))
        return Outcome("error_vs_expm", float(errs[j]), bounds[j],
                       "E_adaptive (tolerance, nfe, growth) or E_fixed (order, h) + expm's error",
                       dict(kind=spec.kind, n=spec.n, t=times.tolist(), at=float(times[j + 1]), nfe=rec.nfe,
                            tol=tol if adaptive else None, step_size=h), Quantity.ERROR,
                       Derivation(tolerance=tol if adaptive else None, step_size=h, eps=EPS64))

    run_property(request, ode_case, check, examples(), body, "drawn linear y' = Ay + dt")


def test_flow_property(ode_case, check, request):
    """Solving [t0, t2] equals solving [t0, t1] and then [t1, t2] from the result (the semigroup
    property of the flow), for a time-dependent field. Both are approximations of y(t2): the
    difference is at most E[t0, t2] + G(t1, t2) E[t0, t1] + E[t1, t2] (each bound as in the
    module docstring; the error at t1 is carried to t2 by (G))."""
    adaptive, p, h = _accuracy_mode(ode_case)
    tol = property_tolerance(ode_case)

    @st.composite
    def examples(draw):
        spec = draw(field_specs(nonlinear=adaptive))
        times = draw(adaptive_times((3, 3)) if adaptive else grid_times(h, (3, 3)))
        return spec, times, draw(_vectors(spec.n))

    def body(ex) -> Outcome:
        spec, (t0, t1, t2), y0 = ex
        field = DrawnField(spec)
        ya, ra = solve(ode_case, field, _t(y0), np.array([t0, t2]), tol=tol, h=h)
        yb, rb = solve(ode_case, field, _t(y0), np.array([t0, t1]), tol=tol, h=h)
        y1 = yb[-1].clone()
        yc, rc = solve(ode_case, field, y1, np.array([t1, t2]), tol=tol, h=h)
        diff = _maxabs(ya[-1], yc[-1])
        y1n = y1.numpy()
        if adaptive:
            thr = (adaptive_bound(spec, y0, t0, t2, ra.nfe, tol, spec.n)
                   + growth(spec, 1.0, t2 - t1) * adaptive_bound(spec, y0, t0, t1, rb.nfe, tol, spec.n)
                   + adaptive_bound(spec, y1n, t1, t2, rc.nfe, tol, spec.n))
        else:
            thr = (fixed_bound(spec, y0, t0, t2, h, p)
                   + growth(spec, 1.0, t2 - t1) * fixed_bound(spec, y0, t0, t1, h, p)
                   + fixed_bound(spec, y1n, t1, t2, h, p))
        return Outcome("flow_difference", diff, thr, "sum of the three solves' error bounds",
                       dict(kind=spec.kind, n=spec.n, nonlinear=not spec.linear, t=[t0, t1, t2],
                            nfe=[ra.nfe, rb.nfe, rc.nfe], tol=tol if adaptive else None, step_size=h),
                       Quantity.ERROR, Derivation(tolerance=tol if adaptive else None, step_size=h))

    run_property(request, ode_case, check, examples(), body, "drawn y' = Ay + c tanh(By) + dt")


def test_time_reversal(ode_case, check, request):
    """Forward from y0 over [t0, t1], then backward from the result to t0, returns y0 within
    E_back + G_back E_fwd (skew fields: growth e^(|c| T) at most in either direction)."""
    ode_case.skip_unless(needs_reverse_time=True)
    adaptive, p, h = _accuracy_mode(ode_case)
    tol = property_tolerance(ode_case)

    @st.composite
    def examples(draw):
        spec = draw(field_specs(kind="skew", nonlinear=adaptive))
        times = draw(adaptive_times((2, 2)) if adaptive else grid_times(h, (2, 2)))
        return spec, times, draw(_vectors(spec.n))

    def body(ex) -> Outcome:
        spec, (t0, t1), y0 = ex
        field = DrawnField(spec)
        yf, rf = solve(ode_case, field, _t(y0), np.array([t0, t1]), tol=tol, h=h)
        y1 = yf[-1].clone()
        yb, rb = solve(ode_case, field, y1, np.array([t1, t0]), tol=tol, h=h)
        diff = _maxabs(yb[-1], y0)
        y1n = y1.numpy()
        if adaptive:
            e_f = adaptive_bound(spec, y0, t0, t1, rf.nfe, tol, spec.n)
            e_b = adaptive_bound(spec, y1n, t1, t0, rb.nfe, tol, spec.n)
        else:
            e_f, e_b = fixed_bound(spec, y0, t0, t1, h, p), fixed_bound(spec, y1n, t1, t0, h, p)
        thr = e_b + growth(spec, -1.0, t1 - t0) * e_f
        return Outcome("return_error", diff, thr, "backward solve's bound + forward one's carried back",
                       dict(n=spec.n, nonlinear=not spec.linear, t=[t0, t1], nfe=[rf.nfe, rb.nfe],
                            tol=tol if adaptive else None, step_size=h),
                       Quantity.ERROR, Derivation(tolerance=tol if adaptive else None, step_size=h))

    run_property(request, ode_case, check, examples(), body, "drawn skew y' = Ay + c tanh(By) + dt")


def _state_shapes() -> st.SearchStrategy[tuple[int, ...]]:
    """(n,), (b, n) or (b1, b2, n): n <= 4, batch sizes <= 3."""
    return st.tuples(st.lists(st.integers(1, 3), max_size=2), st.integers(1, 4)).map(lambda a: (*a[0], a[1]))


def _dtypes(ode_case) -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from([torch.float64, torch.float32] if ode_case.claims.float32 else [torch.float64])


def _dtypes_label(ode_case) -> str:
    return "float64+float32" if ode_case.claims.float32 else "float64"


def test_one_time_point_returns_y0(ode_case, check, request):
    """t of one point: the output is y0 exactly, shape (1, *y0.shape), y0's dtype."""
    h = None if ode_case.claims.adaptive else 0.1

    @st.composite
    def examples(draw):
        dtype = draw(_dtypes(ode_case))
        shape = draw(_state_shapes())
        width = 64 if dtype == torch.float64 else 32
        y0 = draw(arrays(np.float64, shape, elements=_floats(-1e6, 1e6, width)))
        return draw(field_specs(n=shape[-1])), torch.tensor(y0, dtype=dtype), draw(_floats(-10, 10, width))

    def body(ex) -> Outcome:
        spec, y0, t0 = ex
        ys, rec = solve(ode_case, DrawnField(spec, y0.dtype), y0, torch.tensor([t0], dtype=y0.dtype),
                        tol=LOOSE_TOL, h=h, validate=False)
        ok_shape = isinstance(ys, torch.Tensor) and tuple(ys.shape) == (1, *y0.shape) and ys.dtype == y0.dtype
        mismatches = int((ys[0] != y0).sum()) if ok_shape else y0.numel()
        return Outcome("elements_differing_from_y0", mismatches + (not ok_shape), 0.0,
                       "exact: no step is taken", dict(shape=list(y0.shape), dtype=str(y0.dtype), t0=t0,
                                                       out_shape=list(ys.shape), out_dtype=str(ys.dtype), nfe=rec.nfe))

    run_property(request, ode_case, check, examples(), body, "t = [t0]", dtype=_dtypes_label(ode_case))


def test_zero_field_keeps_y_constant(ode_case, check, request):
    """f = 0: every output equals y0 exactly (y + h sum b_i * 0 = y in IEEE arithmetic, and so
    does any interpolant built from y and f) and is finite, for any magnitude of y0."""
    h_frac = None if ode_case.claims.adaptive else 1 / 7

    @st.composite
    def examples(draw):
        dtype = draw(_dtypes(ode_case))
        shape = draw(_state_shapes())
        width, big = (64, 1e100) if dtype == torch.float64 else (32, 1e30)
        y0 = draw(arrays(np.float64, shape, elements=st.one_of(_floats(-big, big, width), _floats(-1e-6, 1e-6, width))))
        t0, span = draw(_floats(-10, 10)), draw(_floats(1e-3, MAX_SPAN))
        k = draw(st.integers(1, 3))
        sign = draw(st.sampled_from([1.0, -1.0])) if ode_case.claims.reverse_time else 1.0
        times = np.array([t0 + sign * span * j / k for j in range(k + 1)])
        return torch.tensor(y0, dtype=dtype), times, span

    def body(ex) -> Outcome:
        y0, times, span = ex
        h = None if h_frac is None else span * h_frac
        ys, rec = solve(ode_case, ZeroField(), y0, torch.tensor(times, dtype=y0.dtype), tol=LOOSE_TOL, h=h,
                        validate=False)
        ok = isinstance(ys, torch.Tensor) and tuple(ys.shape) == (len(times), *y0.shape) and ys.dtype == y0.dtype
        bad = int(((ys != y0.expand_as(ys)) | ~torch.isfinite(ys)).sum()) if ok else y0.numel() * len(times) + 1
        return Outcome("elements_not_equal_to_y0", bad, 0.0, "exact: every increment is h * 0",
                       dict(shape=list(y0.shape), dtype=str(y0.dtype), t=times.tolist(),
                            out_shape=list(getattr(ys, "shape", [])), max_abs_y0=float(y0.abs().max()), nfe=rec.nfe))

    # non-dyadic values of three magnitudes (random draws favour 0, 1 and powers of 2, on which
    # an arithmetic slip such as 18y + 14y - 32y != 0 goes unseen)
    explicit = ((torch.tensor([1 / 3, 8.725897535233584e-07, -2.5e7], dtype=torch.float64),
                 np.array([0.0, 0.35, 0.7]), 0.7),)
    run_property(request, ode_case, check, examples(), body, "f = 0", explicit, dtype=_dtypes_label(ode_case))


def test_batch_independence(ode_case, check, request):
    """Each element of a batch solved alone equals it solved in the batch: copies with different
    y0, elements with rates 1 and 10 (step sizes 10x apart), and elements 1e6 apart in scale.

    Adaptive: the batch shares its steps (one RMS error norm over all B n numbers), so an element
    is solved to tolerance in either solve but along different steps: the difference is at most
    E_alone + E_batch, where in the batch RMS <= 1 over B n numbers bounds the element's own
    scaled error by sqrt(B n) (module docstring with n_elems = B n), with the element's own Ymax
    in its scale (so an element 1e6 times smaller is held to its own size, not the batch's).
    Fixed step: the same steps in both, so the solves differ only by round-off (batched
    arithmetic may sum in another order): the round-off term of E_fixed, twice."""
    ode_case.skip_unless(needs_batching=True)
    adaptive, p, h = _accuracy_mode(ode_case)
    tol = property_tolerance(ode_case)
    h_batch = h  # the round-off bound carries any growth of the steps (e^(N delta) G), stable or not

    @st.composite
    def examples(draw):
        spec = draw(field_specs(nonlinear=adaptive))
        scenario = draw(st.sampled_from(("copies", "rates", "scales")))
        bshape = draw(st.sampled_from([(2,), (3,), (1, 2)] if scenario == "copies" else [(2,), (3,)]))
        B = int(np.prod(bshape))
        y0 = draw(_vectors(B * spec.n)).reshape(*bshape, spec.n)
        rates = np.ones(bshape)
        if scenario == "rates":
            rates = np.array([1.0, 10.0, 1.0][:B]).reshape(bshape)
        elif scenario == "scales":
            y0 = y0 * np.array([1.0, 1e6, 1e-6][:B]).reshape(*bshape, 1)
        if adaptive:
            t0, span = draw(_floats(-1, 1)), draw(_floats(0.05, MAX_SPAN / 2))  # rate 10: 10x the work
            times = np.array([t0, t0 + span])
        else:
            times = draw(grid_times(h_batch, (2, 2), max_span=MAX_SPAN / 2))
        return spec, scenario, y0, rates, times

    def body(ex) -> Outcome:
        spec, scenario, y0, rates, (t0, t1) = ex
        bshape, n = y0.shape[:-1], spec.n
        field = DrawnField(spec, rate=rates[..., None])
        yb, rb = solve(ode_case, field, _t(y0), np.array([t0, t1]), tol=tol, h=h_batch)
        worst, worst_idx, thr_w, diff_w = -1.0, None, 0.0, 0.0
        for idx in np.ndindex(*bshape):
            r = float(rates[idx])
            ya, ra = solve(ode_case, DrawnField(spec, rate=r), _t(y0[idx]), np.array([t0, t1]), tol=tol, h=h_batch)
            diff = _maxabs(yb[(-1, *idx)], ya[-1])
            s = spec.scaled(r)
            if adaptive:
                thr = (adaptive_bound(s, y0[idx], t0, t1, ra.nfe, tol, n)
                       + adaptive_bound(s, y0[idx], t0, t1, rb.nfe, tol, n * int(np.prod(bshape))))
            else:
                thr = 2 * fixed_bound(s, y0[idx], t0, t1, h_batch, p, roundoff_only=True)
            if diff / thr > worst:
                worst, worst_idx, thr_w, diff_w = diff / thr, idx, thr, diff
        return Outcome("element_difference", diff_w, thr_w,
                       "E_alone + E_batch (adaptive) / round-off of the same steps (fixed)",
                       dict(scenario=scenario, batch_shape=list(bshape), n=n, element=list(worst_idx),
                            rates=rates.ravel().tolist(), t=[t0, t1], nfe_batch=rb.nfe,
                            tol=tol if adaptive else None, step_size=h_batch),
                       Quantity.ERROR, Derivation(tolerance=tol if adaptive else None, step_size=h_batch))

    # Always covered: a batch whose second element needs steps 10x smaller than the first (an
    # error norm that looked at one element only would under-resolve it).
    mixed = FieldSpec(np.array([[-1.0, 0.5], [-0.5, -1.0]]), np.eye(2), 0.5 if adaptive else 0.0,
                      np.zeros(2), "stable")
    times = np.array([0.0, 0.5]) if adaptive else np.array([0.0, 4 * h_batch])
    explicit = ((mixed, "rates", np.array([[0.7, -0.4], [0.3, 0.9]]), np.array([1.0, 10.0]), times),)
    run_property(request, ode_case, check, examples(), body, "drawn fields, batched", explicit)


def test_shapes_and_dtypes_kept(ode_case, check, request):
    """The output has shape (len(t), *y0.shape) and y0's dtype (float64; float32 where claimed)
    for any batch shape, and is finite."""
    ode_case.skip_unless(needs_batching=True)

    @st.composite
    def examples(draw):
        dtype = draw(_dtypes(ode_case))
        shape = draw(_state_shapes())
        spec = draw(field_specs(n=shape[-1]))
        y0 = draw(_vectors(int(np.prod(shape)))).reshape(shape)
        times = draw(adaptive_times((2, 4)))
        if ode_case.claims.reverse_time and draw(st.booleans()):
            times = times[::-1].copy()
        return spec, torch.tensor(y0, dtype=dtype), times

    def body(ex) -> Outcome:
        spec, y0, times = ex
        h = None if ode_case.claims.adaptive else abs(times[-1] - times[0]) / 8
        ys, rec = solve(ode_case, DrawnField(spec, y0.dtype), y0, torch.tensor(times, dtype=y0.dtype), tol=LOOSE_TOL,
                        h=h, validate=False)
        if not isinstance(ys, torch.Tensor):
            return Outcome("wrong_shape_dtype_or_nonfinite", 3, 0.0, "exact", dict(got=type(ys).__name__))
        wrong = int(tuple(ys.shape) != (len(times), *y0.shape)) + int(ys.dtype != y0.dtype)
        wrong += int(not bool(torch.isfinite(ys).all()))
        return Outcome("wrong_shape_dtype_or_nonfinite", wrong, 0.0, "exact",
                       dict(y0_shape=list(y0.shape), dtype=str(y0.dtype), n_t=len(times),
                            out_shape=list(ys.shape), out_dtype=str(ys.dtype)))

    run_property(request, ode_case, check, examples(), body, "drawn fields, any batch shape",
                 dtype=_dtypes_label(ode_case))


def test_inputs_not_mutated(ode_case, check, request):
    """y0, t and the field's parameters are bitwise the same after the solve (and after the
    backward pass through it, where gradients are claimed)."""
    grads = ode_case.claims.gradients != "none"

    @st.composite
    def examples(draw):
        spec = draw(field_specs())
        shape = draw(st.sampled_from([(spec.n,), (2, spec.n)]))
        y0 = draw(_vectors(int(np.prod(shape)))).reshape(shape)
        return spec, y0, draw(adaptive_times((2, 4)))

    def body(ex) -> Outcome:
        spec, y0n, times = ex
        field = DrawnField(spec)
        y0, t = _t(y0n), _t(times)
        if grads:
            y0.requires_grad_(True)
        before = [y0.detach().clone(), t.clone()] + [q.detach().clone() for q in field.parameters()]
        h = None if ode_case.claims.adaptive else (times[-1] - times[0]) / 8
        with torch.enable_grad():
            loose = property_tolerance(ode_case, LOOSE_TOL)
            ys = ode_case.odeint(field, y0, t, rtol=loose, atol=loose, step_size=h)
            if grads:
                try:
                    ys.sum().backward()
                except Exception as exc:  # noqa: BLE001 - the IUT's failure is a finding
                    from harness.pytest_plugin import IUTError
                    raise IUTError(exc) from exc
        after = [y0.detach(), t] + [q.detach() for q in field.parameters()]
        names = ["y0", "t", "A", "B", "c", "d"]
        changed = [name for name, a, b in zip(names, before, after) if not _bitwise_equal(a, b)]
        return Outcome("inputs_changed", len(changed), 0.0, "exact: inputs are read-only",
                       dict(changed=changed, backward=grads, y0_shape=list(y0.shape), n_t=len(times)))

    run_property(request, ode_case, check, examples(), body, "drawn fields")


def test_field_evaluated_only_inside_span(ode_case, check, request):
    """f is never evaluated at a time outside [min t, max t], up to 4 ulps of the largest |t|
    (a stage time t_n + c_i h computed in floating point may round past the end by an ulp).
    Outside the span the field may be undefined (data ends there, a singularity lies beyond)."""

    @st.composite
    def examples(draw):
        spec = draw(field_specs())
        y0 = draw(_vectors(spec.n))
        t0, span = draw(_floats(-1, 1)), draw(_floats(1e-3, MAX_SPAN))
        k = draw(st.integers(0, 3))  # k = 0: t of one point, whose span is that point
        sign = draw(st.sampled_from([1.0, -1.0])) if ode_case.claims.reverse_time else 1.0
        return spec, y0, np.array([t0 + sign * span * j / max(k, 1) for j in range(k + 1)])

    def body(ex) -> Outcome:
        spec, y0, times = ex
        span = abs(times[-1] - times[0])
        h = None if ode_case.claims.adaptive else max(span, 1.0) / 5
        ys, rec = solve(ode_case, DrawnField(spec), _t(y0), times, tol=LOOSE_TOL, h=h)
        lo, hi = float(times.min()), float(times.max())
        slack = 4 * float(np.spacing(max(abs(lo), abs(hi))))
        seen = np.array(rec.times)
        outside = float(max(lo - seen.min(), seen.max() - hi, 0.0)) if seen.size else 0.0
        return Outcome("distance_outside_span", outside, slack, "4 ulps of max |t|",
                       dict(t=times.tolist(), t_seen_min=float(seen.min()) if seen.size else None,
                            t_seen_max=float(seen.max()) if seen.size else None, nfe=rec.nfe,
                            outside_over_span=outside / span if span else None), Quantity.OTHER)

    # a slow field (|y| / |f| = 10) on a short span (1e-3), where a starting-step heuristic
    # (h0 = 0.01 |y| / |f|, HNW-I sec. II.4) probes beyond the span unless it clips h0 to it; and
    # t of one point, whose span is that point
    slow = FieldSpec(-0.1 * np.eye(2), np.zeros((2, 2)), 0.0, np.zeros(2), "stable")
    explicit = ((slow, np.array([1.0, -1.0]), np.array([0.0, 1e-3])),
                (slow, np.array([1.0, -1.0]), np.array([0.5])))
    run_property(request, ode_case, check, examples(), body, "drawn fields", explicit)


def test_deterministic(ode_case, check, request):
    """The same call twice gives bitwise identical output."""

    @st.composite
    def examples(draw):
        spec = draw(field_specs())
        shape = draw(st.sampled_from([(spec.n,), (3, spec.n)]))
        y0 = draw(_vectors(int(np.prod(shape)))).reshape(shape)
        return spec, y0, draw(adaptive_times((2, 4)))

    def body(ex) -> Outcome:
        spec, y0, times = ex
        h = None if ode_case.claims.adaptive else (times[-1] - times[0]) / 8
        field = DrawnField(spec)
        y1, _ = solve(ode_case, field, _t(y0), times, tol=LOOSE_TOL, h=h)
        y2, _ = solve(ode_case, field, _t(y0), times, tol=LOOSE_TOL, h=h)
        same = _bitwise_equal(y1, y2)
        return Outcome("runs_differing", int(not same), 0.0, "exact: bitwise equality",
                       dict(max_abs_difference=_maxabs(y1, y2) if y1.shape == y2.shape else None,
                            y0_shape=list(y0.shape), n_t=len(times)))

    run_property(request, ode_case, check, examples(), body, "drawn fields")



# --------------------------------------------------------------------------- without gradients
# Most Neural-ODE inference runs without autograd: inputs that do not require grad, under
# torch.no_grad() or under torch.inference_mode(). An implementation may take another path there
# (no graph to keep, so in-place updates, cached buffers, fused kernels), and an in-place update
# of a leaf that requires grad, which autograd refuses, goes through. Each property below that
# holds with gradients is therefore stated again in each of these grad modes; the check is the
# same property, the solves go through `WithoutGrad`.
GRAD_MODES = ("inputs_without_grad", "no_grad", "inference_mode")


class WithoutGrad:
    """`ode_case` whose IUT calls run in one grad mode:

    inputs_without_grad  grad enabled; y0 and t do not require grad, nor do the field's
                         parameters (``module.requires_grad_(False)``, a frozen model), so
                         autograd records nothing;
    no_grad              under ``torch.no_grad()`` (the parameters keep requires_grad);
    inference_mode       under ``torch.inference_mode()``: the IUT's output and everything it
                         computes are inference tensors, which the checks read afterwards outside
                         inference mode (as a caller does).

    Its claims say gradients "none", so a property that would differentiate the solve (the
    backward pass of test_inputs_not_mutated) does not; everything else is `ode_case`'s."""

    def __init__(self, case, mode: str, check) -> None:
        if mode not in GRAD_MODES:
            raise ValueError(f"grad mode must be one of {GRAD_MODES}, got {mode!r}")
        self._case, self.mode = case, mode
        self.claims = case.claims.override(gradients="none")
        check.extra["grad_mode"] = mode

    def __getattr__(self, name: str) -> Any:
        return getattr(self._case, name)

    def _context(self) -> Any:
        if self.mode == "no_grad":
            return torch.no_grad()
        if self.mode == "inference_mode":
            return torch.inference_mode()
        return torch.enable_grad()

    def odeint(self, func: Callable, y0: torch.Tensor, t: torch.Tensor, **kw: Any) -> torch.Tensor:
        if self.mode == "inputs_without_grad":
            if isinstance(func, nn.Module):
                func.requires_grad_(False)
            y0, t = y0.detach(), t.detach()  # the same storage: an in-place update still shows
        with self._context():
            return self._case.odeint(func, y0, t, **kw)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_without_grad_inputs_not_mutated(ode_case, check, request, grad_mode):
    """test_inputs_not_mutated's property without gradients: y0, t and the field's parameters are
    bitwise the same after a solve in `grad_mode` (where nothing stops an in-place update)."""
    test_inputs_not_mutated(WithoutGrad(ode_case, grad_mode, check), check, request)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_without_grad_deterministic(ode_case, check, request, grad_mode):
    """test_deterministic's property without gradients: the same call twice in `grad_mode` gives
    bitwise identical output."""
    test_deterministic(WithoutGrad(ode_case, grad_mode, check), check, request)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_without_grad_shapes_and_dtypes_kept(ode_case, check, request, grad_mode):
    """test_shapes_and_dtypes_kept's property without gradients: in `grad_mode` the output has
    shape (len(t), *y0.shape) and y0's dtype for any batch shape, and is finite."""
    test_shapes_and_dtypes_kept(WithoutGrad(ode_case, grad_mode, check), check, request)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_without_grad_zero_field_keeps_y_constant(ode_case, check, request, grad_mode):
    """test_zero_field_keeps_y_constant's property without gradients: f = 0 in `grad_mode`, every
    output equals y0 exactly and is finite."""
    test_zero_field_keeps_y_constant(WithoutGrad(ode_case, grad_mode, check), check, request)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_without_grad_one_time_point_returns_y0(ode_case, check, request, grad_mode):
    """test_one_time_point_returns_y0's property without gradients: t of one point in `grad_mode`,
    the output is y0 exactly, shape (1, *y0.shape), y0's dtype."""
    test_one_time_point_returns_y0(WithoutGrad(ode_case, grad_mode, check), check, request)
