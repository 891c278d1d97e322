"""Library of ODE test problems: torch vector fields, numpy right-hand sides, closed forms and
published reference values.

Every problem is an initial value problem y' = f(t, y), y(t0) = y0 on [t0, t1] (second-order
equations are written as first-order systems, state = (positions, velocities)). A `Problem`
carries

* `make_field(dtype, device)`: a FRESH `torch.nn.Module` with `forward(t, y)`; `t` is a 0-dim
  tensor (a Python float is accepted too), `y` has shape (..., dim) with any batch dimensions, and
  the field acts on the last axis. It is differentiable by autograd with respect to y, t and its
  parameters. Problems tagged "has-params" keep their constants as `nn.Parameter` (seeded,
  deterministic); all other problems have no parameters (matrices are buffers, scalars are
  Python floats).
* `numpy_rhs(t, y)` (y of shape (dim,)) for scipy, written by hand independently of the torch
  field for every published problem so that each guards the other (tests compare them), and
  `numpy_jac(t, y)` where an analytic Jacobian is useful (the stiff problems, linear problems).
* `exact(t_array) -> (len(t), dim)` where a closed form exists, with `exact_accuracy`, the
  relative accuracy (w.r.t. max|y(t)|) to which that evaluation can be trusted in float64.
* `reference`: published values (`ReferenceValue`: time, values, claimed absolute accuracy,
  source).
* `oracle_rtol`, `oracle_atol`: the tolerances `harness.oracles.forward.scipy_oracle` uses by
  default for this problem (1e-13 unless a comment explains why not).
* `tags` (subset of TAGS): "stiff" (scipy oracle uses Radau); "chaotic" (errors grow
  exponentially: no long-time pointwise comparisons); "hamiltonian" (conservative: energy or a
  quadratic invariant); "non-autonomous" (f depends on t); "has-params" (nn.Parameters in the
  field; all other fields have none); "contracting" (Euclidean log-norm of df/dy < 0 everywhere,
  so reconstructing y(t) backward from y(t1) amplifies errors, by e^20 for A1, ~e^78 for C3,
  e^40 for contracting-diag); "linear"; "neural" (seeded MLP fields, no closed form).

Numbers next to a comment are copied from (or checked against) the cited source; the collected
citations are in /work/shared/reference-values.md. Abbreviations used in comments:

  DETEST  T.E. Hull, W.H. Enright, B.M. Fellen, A.E. Sedgwick, "Comparing numerical methods for
          ordinary differential equations", SIAM J. Numer. Anal. 9 (1972) 603-637.
  TOMS648 W.H. Enright, J.D. Pryce, "Two FORTRAN packages for assessing initial value methods",
          ACM TOMS 13 (1987) 1-27 (Algorithm 648), routine EVALU: DETEST y(20) values.
  HNW-I   E. Hairer, S.P. Norsett, G. Wanner, Solving Ordinary Differential Equations I, 2nd ed.
  HW-II   E. Hairer, G. Wanner, Solving Ordinary Differential Equations II, 2nd ed.
  BARI    F. Mazzia, C. Magherini et al., Test Set for IVP Solvers, Univ. of Bari
          (https://archimede.uniba.it/~testset/), problem descriptions and reference solutions.
"""

from __future__ import annotations

import functools
import inspect
import math
import textwrap
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Problem", "ReferenceValue", "VectorField", "PROBLEMS", "TAGS", "get_problem",
           "problem_names"]

TAGS = frozenset({"stiff", "chaotic", "hamiltonian", "non-autonomous", "has-params",
                  "contracting", "linear", "neural"})

# Accuracy of the TOMS 648 y(20) values. reference-values.md says "good to about 1e-14 absolute",
# but against the closed forms (evaluated here and checked with mpmath at 40 digits) they deviate
# by up to 9.8e-14 (B4 y2; B4 y1 5.4e-14, E5 y1 3.4e-14, A5 1.8e-14, A4 1.1e-14), so 2e-13 is
# the accuracy we attach to them.
_TOMS648_ACC = 2e-13
_TOMS648 = "Enright & Pryce 1987, ACM TOMS Algorithm 648 (DETEST), routine EVALU, y(20)"
_DETEST = "Hull, Enright, Fellen, Sedgwick, SIAM J. Numer. Anal. 9 (1972), DETEST problem class"


@dataclass(frozen=True)
class ReferenceValue:
    """A published value y(time) = values, claimed good to `abs_accuracy` (absolute, every
    component), with the citation `source`."""

    time: float
    values: tuple[float, ...]
    abs_accuracy: float
    source: str


@dataclass(frozen=True)
class Problem:
    name: str
    description: str
    dim: int
    y0: tuple[float, ...]
    t0: float
    t1: float
    field_factory: Callable[[torch.dtype, torch.device], nn.Module]
    numpy_rhs: Callable[[float, np.ndarray], np.ndarray]
    source: str
    tags: frozenset[str]
    exact: Callable[[np.ndarray], np.ndarray] | None = None
    reference: tuple[ReferenceValue, ...] = ()
    numpy_jac: Callable[[float, np.ndarray], np.ndarray] | None = None
    # relative (to max_i |y_i(t)|) accuracy of the float64 evaluation of `exact`
    exact_accuracy: float = 1e-15
    oracle_rtol: float = 1e-13
    oracle_atol: float = 1e-13

    def __post_init__(self):
        if len(self.y0) != self.dim:
            raise ValueError(f"{self.name}: len(y0) = {len(self.y0)} != dim = {self.dim}")
        bad = set(self.tags) - TAGS
        if bad:
            raise ValueError(f"{self.name}: unknown tags {sorted(bad)}; valid: {sorted(TAGS)}")
        for ref in self.reference:
            if len(ref.values) != self.dim:
                raise ValueError(f"{self.name}: reference at t={ref.time} has {len(ref.values)} "
                                 f"values, dim = {self.dim}")

    def make_field(self, dtype: torch.dtype = torch.float64, device="cpu") -> nn.Module:
        """A fresh vector-field module (new parameter/buffer tensors on every call)."""
        return self.field_factory(dtype, torch.device(device))

    @property
    def y0_array(self) -> np.ndarray:
        return np.array(self.y0, dtype=np.float64)

    @property
    def is_stiff(self) -> bool:
        return "stiff" in self.tags


# ----------------------------------------------------------------------------------------------
# The torch side: one generic module, the formula is a module-level function fn(module, t, y).
# ----------------------------------------------------------------------------------------------


class VectorField(nn.Module):
    """f(t, y) on the last axis of y. `fn(module, t, y)` reads its constants from the module's
    buffers/parameters (registered here from numpy arrays, copied) or from Python floats."""

    def __init__(self, name: str, fn, dtype: torch.dtype, device: torch.device, *,
                 buffers: dict | None = None, parameters: dict | None = None):
        super().__init__()
        self.problem_name = name
        self._fn = fn
        for key, value in (buffers or {}).items():
            self.register_buffer(key, torch.tensor(np.asarray(value), dtype=dtype, device=device))
        for key, value in (parameters or {}).items():
            setattr(self, key, nn.Parameter(torch.tensor(np.asarray(value), dtype=dtype,
                                                         device=device)))

    def forward(self, t, y):
        t = torch.as_tensor(t, dtype=y.dtype, device=y.device)
        return self._fn(self, t, y)

    def extra_repr(self) -> str:
        return f"problem={self.problem_name!r}"


def _factory(name, fn, buffers=None, parameters=None):
    """field_factory for `VectorField`; buffers/parameters are dicts name -> numpy array."""

    def make(dtype, device):
        return VectorField(name, fn, dtype, device, buffers=buffers, parameters=parameters)

    make.__name__ = f"make_field_{name}"
    return make


def _stack(*cols):
    return torch.stack(cols, dim=-1)


def _linear_torch(m, t, y):
    # y' = A y on the last axis: (..., n) @ A^T
    return y @ m.A.transpose(0, 1)


def _linear_np_factory(A: np.ndarray):
    A = np.array(A, dtype=np.float64)

    def rhs(t, y):
        return A @ y

    def jac(t, y):
        return A.copy()

    return rhs, jac


def _expm_exact_factory(A: np.ndarray, y0: Sequence[float], t0: float = 0.0):
    A = np.array(A, dtype=np.float64)
    y0 = np.array(y0, dtype=np.float64)

    def exact(t):
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return np.stack([scipy.linalg.expm((ti - t0) * A) @ y0 for ti in t])

    return exact


def _skew_exact_factory(A: np.ndarray, y0: Sequence[float]):
    """exp(tA) y0 for real skew-symmetric A through the eigen-decomposition of the Hermitian
    matrix H = -iA = V diag(lam) V^H: exp(tA) = V diag(e^(i t lam)) V^H (a unitary V keeps the
    rounding error at ~ eps |y0| (1 + t ||A||))."""
    lam, V = np.linalg.eigh(-1j * np.array(A, dtype=np.float64))
    c = V.conj().T @ np.array(y0, dtype=np.float64)

    def exact(t):
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return np.stack([(V @ (np.exp(1j * ti * lam) * c)).real for ti in t])

    return exact


def _vec_exact(fn):
    """Wrap fn(t: float64 array) -> tuple of component arrays into t -> (len(t), dim)."""

    @functools.wraps(fn)
    def exact(t):
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), t.shape)
                         for c in fn(t)], axis=-1)

    return exact


PROBLEMS: dict[str, Problem] = {}


def _register(p: Problem) -> Problem:
    if p.name in PROBLEMS:
        raise ValueError(f"duplicate problem name {p.name!r}")
    PROBLEMS[p.name] = p
    return p


def problem_names(tag: str | None = None) -> list[str]:
    """Registered names (optionally only those carrying `tag`), in registration order."""
    if tag is not None and tag not in TAGS:
        raise ValueError(f"unknown tag {tag!r}; valid tags: {sorted(TAGS)}")
    return [n for n, p in PROBLEMS.items() if tag is None or tag in p.tags]


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; valid names: {', '.join(PROBLEMS)}") from None


# ==============================================================================================
# DETEST class A (scalar), all on [0, 20]                                        source: DETEST
# ==============================================================================================


def _a1_t(m, t, y):
    return -y


def _a1_np(t, y):
    return -y  # DETEST A1: y' = -y


_register(Problem(
    name="A1", description="DETEST A1: y' = -y, y(0) = 1 (exact e^-t)", dim=1,
    y0=(1.0,), t0=0.0, t1=20.0,  # DETEST A1: y(0) = 1, [0, 20]
    field_factory=_factory("A1", _a1_t), numpy_rhs=_a1_np,
    exact=_vec_exact(lambda t: (np.exp(-t),)),
    # No published value: the TOMS 648 printed y(20) is wrong in the 8th digit
    # (reference-values.md); e^-20 is used instead via `exact`.
    reference=(), source=_DETEST + " A1", tags=frozenset({"linear", "contracting"}),
))


def _a2_t(m, t, y):
    return -0.5 * y**3  # DETEST A2: y' = -y^3/2


def _a2_np(t, y):
    return -0.5 * y**3


_register(Problem(
    name="A2", description="DETEST A2: y' = -y^3/2, y(0) = 1 (exact 1/sqrt(1+t))", dim=1,
    y0=(1.0,), t0=0.0, t1=20.0,
    field_factory=_factory("A2", _a2_t), numpy_rhs=_a2_np,
    exact=_vec_exact(lambda t: (1.0 / np.sqrt(1.0 + t),)),
    reference=(ReferenceValue(20.0, (2.182178902359887e-01,), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " A2", tags=frozenset(),
))


def _a3_t(m, t, y):
    return y * torch.cos(t)  # DETEST A3: y' = y cos t


def _a3_np(t, y):
    return y * np.cos(t)


_register(Problem(
    name="A3", description="DETEST A3: y' = y cos t, y(0) = 1 (exact e^sin t)", dim=1,
    y0=(1.0,), t0=0.0, t1=20.0,
    field_factory=_factory("A3", _a3_t), numpy_rhs=_a3_np,
    exact=_vec_exact(lambda t: (np.exp(np.sin(t)),)),
    reference=(ReferenceValue(20.0, (2.491650271850414e+00,), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " A3", tags=frozenset({"non-autonomous"}),
))


def _a4_t(m, t, y):
    return 0.25 * y * (1.0 - y / 20.0)  # DETEST A4: y' = (y/4)(1 - y/20)


def _a4_np(t, y):
    return 0.25 * y * (1.0 - y / 20.0)


_register(Problem(
    name="A4", description="DETEST A4: logistic y' = (y/4)(1 - y/20), y(0) = 1", dim=1,
    y0=(1.0,), t0=0.0, t1=20.0,
    field_factory=_factory("A4", _a4_t), numpy_rhs=_a4_np,
    # exact 20 / (1 + 19 e^(-t/4))  (DETEST A4)
    exact=_vec_exact(lambda t: (20.0 / (1.0 + 19.0 * np.exp(-0.25 * t)),)),
    reference=(ReferenceValue(20.0, (1.773016648131483e+01,), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " A4", tags=frozenset(),
))


def _a5_t(m, t, y):
    return (y - t) / (y + t)  # DETEST A5: y' = (y - t)/(y + t)


def _a5_np(t, y):
    return (y - t) / (y + t)


def _a5_exact_scalar(t: float) -> float:
    """DETEST A5 in polar coordinates (t, y) = r (cos th, sin th): dr/dth = -r, so
    r = 4 exp(pi/2 - th) (y(0) = 4 at th = pi/2). t(th) = 4 e^(pi/2-th) cos th decreases strictly
    on (-pi/4, pi/2] (dt/dth = -r (cos th + sin th) < 0) from 29.8 to 0, and y + t > 0 there, so
    for 0 <= t < 29.8 th is the unique root in that interval."""
    if t == 0.0:
        return 4.0
    lo, hi = -math.pi / 4 + 1e-12, math.pi / 2

    def g(th):
        return 4.0 * math.exp(math.pi / 2 - th) * math.cos(th) - t

    if not 0.0 < t < g(lo) + t:  # g(lo) + t = t(lo) ~ 29.8
        raise ValueError(f"A5 closed form only valid for 0 <= t < 29.8, got {t}")
    th = scipy.optimize.brentq(g, lo, hi, xtol=1e-18, rtol=4 * np.finfo(float).eps, maxiter=500)
    # one Newton polish step (g'(th) = -r (cos th + sin th))
    r = 4.0 * math.exp(math.pi / 2 - th)
    th -= g(th) / (-r * (math.cos(th) + math.sin(th)))
    return 4.0 * math.exp(math.pi / 2 - th) * math.sin(th)


_register(Problem(
    name="A5", description="DETEST A5: y' = (y - t)/(y + t), y(0) = 4 (implicit closed form)",
    dim=1, y0=(4.0,), t0=0.0, t1=20.0,  # DETEST A5: y(0) = 4
    field_factory=_factory("A5", _a5_t), numpy_rhs=_a5_np,
    exact=_vec_exact(lambda t: (np.array([_a5_exact_scalar(float(s)) for s in t]),)),
    # root finding in th then y = r sin th: error ~ eps * r (r ~ 20 at t = 20, |y| ~ 0.8 there),
    # so relative to |y| it grows where y crosses 0; measured vs mpmath (40 digits) on [0, 20]:
    # 2.4e-15 abs, 8.6e-15 relative to |y|.
    exact_accuracy=3e-14,
    reference=(ReferenceValue(20.0, (-7.887826688964196e-01,), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " A5", tags=frozenset({"non-autonomous"}),
))

# ==============================================================================================
# DETEST class B (small systems), all on [0, 20]                                 source: DETEST
# ==============================================================================================


def _b1_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    return _stack(2.0 * (y1 - y1 * y2), -(y2 - y1 * y2))  # DETEST B1 (Lotka-Volterra)


def _b1_np(t, y):
    y1, y2 = y
    return np.array([2.0 * (y1 - y1 * y2), -(y2 - y1 * y2)])


_B1_REF = ReferenceValue(20.0, (6.761876008576667e-01, 1.860816099640036e-01), _TOMS648_ACC,
                         _TOMS648)

_register(Problem(
    name="B1", description="DETEST B1: Lotka-Volterra y1' = 2(y1 - y1 y2), y2' = -(y2 - y1 y2)",
    dim=2, y0=(1.0, 3.0), t0=0.0, t1=20.0,  # DETEST B1: y(0) = (1, 3)
    field_factory=_factory("B1", _b1_t), numpy_rhs=_b1_np,
    reference=(_B1_REF,), source=_DETEST + " B1", tags=frozenset(),
))

_B2_A = np.array([[-1.0, 1.0, 0.0], [1.0, -2.0, 1.0], [0.0, 1.0, -1.0]])  # DETEST B2


def _b2_exact(t):
    # (1,1,1) + 1/2 e^-t (1,0,-1) + 1/2 e^-3t (1,-2,1)  (eigenvectors of the DETEST B2 matrix)
    a, b = 0.5 * np.exp(-t), 0.5 * np.exp(-3.0 * t)
    return (1.0 + a + b, 1.0 - 2.0 * b, 1.0 - a + b)


def _b2_np(t, y):
    y1, y2, y3 = y
    return np.array([-y1 + y2, y1 - 2.0 * y2 + y3, y2 - y3])  # DETEST B2


_register(Problem(
    name="B2", description="DETEST B2: linear y' = [[-1,1,0],[1,-2,1],[0,1,-1]] y", dim=3,
    y0=(2.0, 0.0, 1.0), t0=0.0, t1=20.0,  # DETEST B2: y(0) = (2, 0, 1)
    field_factory=_factory("B2", _linear_torch, buffers={"A": _B2_A}),
    numpy_rhs=_b2_np, numpy_jac=lambda t, y: _B2_A.copy(),
    exact=_vec_exact(_b2_exact),
    reference=(ReferenceValue(20.0, (1.000000001030576, 1.0, 9.999999989694235e-01),
                              _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " B2", tags=frozenset({"linear"}),
))


def _b3_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    return _stack(-y1, y1 - y2 * y2, y2 * y2)  # DETEST B3


def _b3_np(t, y):
    y1, y2, y3 = y
    return np.array([-y1, y1 - y2 * y2, y2 * y2])


_register(Problem(
    name="B3", description="DETEST B3: y1' = -y1, y2' = y1 - y2^2, y3' = y2^2", dim=3,
    y0=(1.0, 0.0, 0.0), t0=0.0, t1=20.0,  # DETEST B3: y(0) = (1, 0, 0)
    field_factory=_factory("B3", _b3_t), numpy_rhs=_b3_np,
    # The closed form involves Bessel functions (Riccati equation for y2); not implemented, the
    # published value is used. (Its y1 = 2.061153488557776e-09 differs from e^-20 =
    # 2.0611536224e-09 by 1.3e-16: TOMS 648 values are absolute-accurate only.)
    reference=(ReferenceValue(20.0, (2.061153488557776e-09, 5.257228022048349e-02,
                                     9.474277177183630e-01), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " B3", tags=frozenset(),
))


def _b4_t(m, t, y):
    y1, y2, y3 = y[..., 0], y[..., 1], y[..., 2]
    r = torch.sqrt(y1 * y1 + y2 * y2)  # DETEST B4
    return _stack(-y2 - y1 * y3 / r, y1 - y2 * y3 / r, y1 / r)


def _b4_np(t, y):
    y1, y2, y3 = y
    r = math.sqrt(y1 * y1 + y2 * y2)
    return np.array([-y2 - y1 * y3 / r, y1 - y2 * y3 / r, y1 / r])


_register(Problem(
    name="B4", description="DETEST B4: y1' = -y2 - y1 y3/r, y2' = y1 - y2 y3/r, y3' = y1/r",
    dim=3, y0=(3.0, 0.0, 0.0), t0=0.0, t1=20.0,  # DETEST B4: y(0) = (3, 0, 0)
    field_factory=_factory("B4", _b4_t), numpy_rhs=_b4_np,
    # exact ((2 + cos t) cos t, (2 + cos t) sin t, sin t)  (r = 2 + cos t)
    exact=_vec_exact(lambda t: ((2.0 + np.cos(t)) * np.cos(t), (2.0 + np.cos(t)) * np.sin(t),
                                np.sin(t))),
    reference=(ReferenceValue(20.0, (9.826950928005993e-01, 2.198447081694832,
                                     9.129452507276399e-01), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " B4", tags=frozenset(),
))

_B5_K = 0.51  # DETEST B5: y3' = -0.51 y1 y2  (Jacobi elliptic functions with parameter m = 0.51)


def _b5_t(m, t, y):
    y1, y2, y3 = y[..., 0], y[..., 1], y[..., 2]
    return _stack(y2 * y3, -y1 * y3, -0.51 * y1 * y2)  # DETEST B5 (Euler rigid body)


def _b5_np(t, y):
    y1, y2, y3 = y
    return np.array([y2 * y3, -y1 * y3, -0.51 * y1 * y2])


def _b5_exact(t):
    sn, cn, dn, _ = scipy.special.ellipj(t, _B5_K)
    return (sn, cn, dn)


_register(Problem(
    name="B5", description="DETEST B5: Euler equations of a rigid body, exact (sn, cn, dn)(t|0.51)",
    dim=3, y0=(0.0, 1.0, 1.0), t0=0.0, t1=20.0,  # DETEST B5: y(0) = (0, 1, 1)
    field_factory=_factory("B5", _b5_t), numpy_rhs=_b5_np, exact=_vec_exact(_b5_exact),
    # scipy.special.ellipj vs mpmath.ellipfun (40 digits) on [0, 20]: max abs error 4.7e-15
    exact_accuracy=1e-14,
    reference=(ReferenceValue(20.0, (-9.396570798729192e-01, -3.421177754000779e-01,
                                     7.414126596199957e-01), _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " B5", tags=frozenset(),
))

# ==============================================================================================
# DETEST class C (linear chains, n = 10), all on [0, 20], y(0) = e1                source: DETEST
# (No TOMS 648 values are used: the closed forms are exact.)
# ==============================================================================================

_C_N = 10  # DETEST C1-C3: 10 equations
_C_Y0 = (1.0,) + (0.0,) * 9  # DETEST C1-C3: y(0) = e1

# C1: y1' = -y1, yi' = y(i-1) - yi (i = 2..9), y10' = y9
_C1_A = np.zeros((10, 10))
_C1_A[0, 0] = -1.0
for _i in range(1, 9):
    _C1_A[_i, _i - 1], _C1_A[_i, _i] = 1.0, -1.0
_C1_A[9, 8] = 1.0


def _c1_np(t, y):
    f = np.empty(10)
    f[0] = -y[0]
    for i in range(1, 9):
        f[i] = y[i - 1] - y[i]
    f[9] = y[8]
    return f


def _c1_exact(t):
    # yi = t^(i-1) e^-t/(i-1)! (Poisson probabilities), y10 = 1 - sum = P(9, t) (regularized
    # lower incomplete gamma; avoids the cancellation of 1 - sum).
    cols = [np.exp(-t) * t**k / math.factorial(k) for k in range(9)]
    return tuple(cols) + (scipy.special.gammainc(9, t),)


_register(Problem(
    name="C1", description="DETEST C1: linear chain y1' = -y1, yi' = y(i-1) - yi, y10' = y9",
    dim=_C_N, y0=_C_Y0, t0=0.0, t1=20.0,
    field_factory=_factory("C1", _linear_torch, buffers={"A": _C1_A}),
    numpy_rhs=_c1_np, numpy_jac=lambda t, y: _C1_A.copy(), exact=_vec_exact(_c1_exact),
    source=_DETEST + " C1", tags=frozenset({"linear"}),
))

# C2: yi' = (i-1) y(i-1) - i yi (i <= 9), y10' = 9 y9
_C2_A = np.zeros((10, 10))
for _i in range(9):  # 0-based row _i is equation i = _i + 1
    _C2_A[_i, _i] = -(_i + 1.0)
    if _i > 0:
        _C2_A[_i, _i - 1] = float(_i)
_C2_A[9, 8] = 9.0


def _c2_np(t, y):
    f = np.empty(10)
    f[0] = -y[0]
    for i in range(2, 10):  # 1-based equation index
        f[i - 1] = (i - 1) * y[i - 2] - i * y[i - 1]
    f[9] = 9.0 * y[8]
    return f


def _c2_exact(t):
    # yi = e^-t (1 - e^-t)^(i-1) (i <= 9), y10 = 1 - sum = (1 - e^-t)^9 (geometric sum)
    e = np.exp(-t)
    q = -np.expm1(-t)
    return tuple(e * q**k for k in range(9)) + (q**9,)


_register(Problem(
    name="C2", description="DETEST C2: linear chain yi' = (i-1) y(i-1) - i yi, y10' = 9 y9",
    dim=_C_N, y0=_C_Y0, t0=0.0, t1=20.0,
    field_factory=_factory("C2", _linear_torch, buffers={"A": _C2_A}),
    numpy_rhs=_c2_np, numpy_jac=lambda t, y: _C2_A.copy(), exact=_vec_exact(_c2_exact),
    source=_DETEST + " C2", tags=frozenset({"linear"}),
))

# C3: tridiagonal (1, -2, 1), n = 10
_C3_A = -2.0 * np.eye(10) + np.eye(10, k=1) + np.eye(10, k=-1)


def _c3_np(t, y):
    f = -2.0 * y
    f[1:] += y[:-1]
    f[:-1] += y[1:]
    return f


_register(Problem(
    name="C3", description="DETEST C3: tridiagonal (1, -2, 1) linear system, n = 10",
    dim=_C_N, y0=_C_Y0, t0=0.0, t1=20.0,
    field_factory=_factory("C3", _linear_torch, buffers={"A": _C3_A}),
    numpy_rhs=_c3_np, numpy_jac=lambda t, y: _C3_A.copy(),
    exact=_expm_exact_factory(_C3_A, _C_Y0),
    # expm of a symmetric negative definite matrix: measured vs mpmath expm (40 digits) on
    # [0, 20]: 1.8e-15 abs, 8.1e-15 relative to max|y| (the solution decays to ~0.2).
    exact_accuracy=3e-14,
    # symmetric negative definite A: the Euclidean log-norm is max eig = -2 + 2 cos(pi/11) < 0
    source=_DETEST + " C3", tags=frozenset({"linear", "contracting"}),
))

# ==============================================================================================
# DETEST class D: two-body problem (Kepler), eccentricities .1 .3 .5 .7 .9, on [0, 20]
# state (y1, y2, y1', y2'), y(0) = (1-e, 0, 0, sqrt((1+e)/(1-e)))                source: DETEST
# ==============================================================================================


def _kepler_t(m, t, y):
    q1, q2, p1, p2 = y[..., 0], y[..., 1], y[..., 2], y[..., 3]
    r3 = (q1 * q1 + q2 * q2) ** 1.5
    return _stack(p1, p2, -q1 / r3, -q2 / r3)


def _kepler_np(t, y):
    q1, q2, p1, p2 = y
    r3 = (q1 * q1 + q2 * q2) ** 1.5
    return np.array([p1, p2, -q1 / r3, -q2 / r3])


def _kepler_exact_factory(e: float):
    def exact(t):
        # Kepler's equation u - e sin u = t: u - t - e sin u is increasing (derivative 1 - e cos u
        # >= 1 - e > 0) and has its root in [t - e, t + e].
        u = np.array([scipy.optimize.brentq(lambda v, s=s: v - e * math.sin(v) - s, s - e, s + e,
                                            xtol=1e-18, rtol=4 * np.finfo(float).eps, maxiter=500)
                      for s in np.atleast_1d(t)])
        den = 1.0 - e * np.cos(u)
        w = math.sqrt(1.0 - e * e)
        return (np.cos(u) - e, w * np.sin(u), -np.sin(u) / den, w * np.cos(u) / den)

    return _vec_exact(exact)


_D_REF = {  # DETEST D1-D5 y(20) = (y1, y2, y1', y2'), TOMS 648 EVALU
    "D1": (2.198835352008397e-01, 9.427076846341813e-01, -9.787659841058176e-01,
           3.287977990962036e-01),
    "D2": (-1.777027357140412e-01, 9.467784719905892e-01, -1.030294163192969,
           1.211074890053952e-01),
    "D3": (-5.780432953035361e-01, 8.633840009194193e-01, -9.595083730380727e-01,
           -6.504915126712089e-02),
    "D4": (-9.538990293416394e-01, 6.907409024219432e-01, -8.212674270877433e-01,
           -1.539574259125825e-01),
    "D5": (-1.295266250987574, 4.003938963792321e-01, -6.775390924707566e-01,
           -1.270838154278686e-01),
}

for _k, _e in enumerate((0.1, 0.3, 0.5, 0.7, 0.9), start=1):  # DETEST D1-D5 eccentricities
    _name = f"D{_k}"
    _register(Problem(
        name=_name, description=f"DETEST {_name}: two-body orbit, eccentricity {_e}", dim=4,
        y0=(1.0 - _e, 0.0, 0.0, math.sqrt((1.0 + _e) / (1.0 - _e))), t0=0.0, t1=20.0,
        field_factory=_factory(_name, _kepler_t), numpy_rhs=_kepler_np,
        exact=_kepler_exact_factory(_e),
        # u from brentq carries ~eps |t| / (1 - e cos u) error, amplified by up to 1/(1 - e) in
        # the velocities near perihelion. Measured vs mpmath (40 digits), relative to max|y|, on
        # [0, 20] and densely around the perihelia t = 2 pi k: 5.1e-15 (D1), 3.5e-14 (D5).
        exact_accuracy=1e-14 / (1.0 - _e),
        reference=(ReferenceValue(20.0, _D_REF[_name], _TOMS648_ACC, _TOMS648),),
        source=_DETEST + f" {_name}", tags=frozenset({"hamiltonian"}),
    ))

# ==============================================================================================
# DETEST class E (second order, written as (y, y')), all on [0, 20]               source: DETEST
# ==============================================================================================


def _e1_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    s = t + 1.0
    return _stack(y2, -y2 / s - (1.0 - 0.25 / (s * s)) * y1)  # DETEST E1 (Bessel, order 1/2)


def _e1_np(t, y):
    y1, y2 = y
    s = t + 1.0
    return np.array([y2, -y2 / s - (1.0 - 0.25 / (s * s)) * y1])


def _e1_exact(t):
    # y = J_{1/2}(t + 1) = sqrt(2/(pi x)) sin x, x = t + 1
    x = t + 1.0
    c = math.sqrt(2.0 / math.pi)
    return (c * np.sin(x) / np.sqrt(x), c * (np.cos(x) / np.sqrt(x) - 0.5 * np.sin(x) / x**1.5))


_e1_y0 = tuple(float(v) for v in _vec_exact(_e1_exact)(np.array([0.0]))[0])

_register(Problem(
    name="E1", description="DETEST E1: Bessel y'' = -y'/(t+1) - (1 - 0.25/(t+1)^2) y", dim=2,
    # DETEST E1 prints y(0) = 0.6713967071418030, y'(0) = 0.09540051444747446 = the closed form at 0
    y0=_e1_y0, t0=0.0, t1=20.0,
    field_factory=_factory("E1", _e1_t), numpy_rhs=_e1_np, exact=_vec_exact(_e1_exact),
    reference=(ReferenceValue(20.0, (1.456723600728308e-01, -9.883500195574063e-02),
                              _TOMS648_ACC, _TOMS648),),
    source=_DETEST + " E1", tags=frozenset({"non-autonomous"}),
))


def _e2_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    return _stack(y2, (1.0 - y1 * y1) * y2 - y1)  # DETEST E2: Van der Pol, mu = 1


def _e2_np(t, y):
    y1, y2 = y
    return np.array([y2, (1.0 - y1 * y1) * y2 - y1])


_register(Problem(
    name="E2", description="DETEST E2: Van der Pol y'' = (1 - y^2) y' - y (mu = 1)", dim=2,
    y0=(2.0, 0.0), t0=0.0, t1=20.0,  # DETEST E2: (y, y')(0) = (2, 0)
    field_factory=_factory("E2", _e2_t), numpy_rhs=_e2_np,
    reference=(ReferenceValue(20.0, (2.008149762174948, -4.250887527320057e-02), _TOMS648_ACC,
                              _TOMS648),),
    source=_DETEST + " E2", tags=frozenset(),
))


def _e3_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    # DETEST E3: Duffing y'' = y^3/6 - y + 2 sin(2.78535 t)
    return _stack(y2, y1**3 / 6.0 - y1 + 2.0 * torch.sin(2.78535 * t))


def _e3_np(t, y):
    y1, y2 = y
    return np.array([y2, y1**3 / 6.0 - y1 + 2.0 * math.sin(2.78535 * t)])


_register(Problem(
    name="E3", description="DETEST E3: forced Duffing y'' = y^3/6 - y + 2 sin(2.78535 t)", dim=2,
    y0=(0.0, 0.0), t0=0.0, t1=20.0,  # DETEST E3: (y, y')(0) = (0, 0)
    field_factory=_factory("E3", _e3_t), numpy_rhs=_e3_np,
    reference=(ReferenceValue(20.0, (-1.004178858647128e-01, 2.411400132095954e-01), _TOMS648_ACC,
                              _TOMS648),),
    source=_DETEST + " E3", tags=frozenset({"non-autonomous"}),
))


def _e4_t(m, t, y):
    y2 = y[..., 1]
    # DETEST E4: y'' = 0.032 - 0.4 y'^2 (torchdiffeq's copy has 0.32: a known typo)
    return _stack(y2, 0.032 - 0.4 * y2 * y2)


def _e4_np(t, y):
    y1, y2 = y
    return np.array([y2, 0.032 - 0.4 * y2 * y2])


def _e4_exact(t):
    # y = 30 + 2.5 ln cosh(sqrt(0.0128) t), y' = sqrt(0.08) tanh(sqrt(0.0128) t)
    # (sqrt(0.032/0.4) = sqrt(0.08), sqrt(0.032*0.4) = sqrt(0.0128), ratio 2.5)
    w = math.sqrt(0.0128) * t
    # ln cosh w = w + log1p(e^-2w) - ln 2 (w >= 0), stable for large w
    lncosh = np.abs(w) + np.log1p(np.exp(-2.0 * np.abs(w))) - math.log(2.0)
    return (30.0 + 2.5 * lncosh, math.sqrt(0.08) * np.tanh(w))


_register(Problem(
    name="E4", description="DETEST E4: y'' = 0.032 - 0.4 y'^2", dim=2,
    y0=(30.0, 0.0), t0=0.0, t1=20.0,  # DETEST E4: (y, y')(0) = (30, 0)
    field_factory=_factory("E4", _e4_t), numpy_rhs=_e4_np, exact=_vec_exact(_e4_exact),
    reference=(ReferenceValue(20.0, (3.395091444646555e+01, 2.767822659672869e-01), _TOMS648_ACC,
                              _TOMS648),),
    source=_DETEST + " E4", tags=frozenset(),
))


def _e5_t(m, t, y):
    y2 = y[..., 1]
    return _stack(y2, torch.sqrt(1.0 + y2 * y2) / (25.0 - t))  # DETEST E5


def _e5_np(t, y):
    y1, y2 = y
    return np.array([y2, math.sqrt(1.0 + y2 * y2) / (25.0 - t)])


def _e5_exact(t):
    # s = 1 - t/25: y' = (1/s - s)/2, y = 12.5 (-ln s - (1 - s^2)/2) = 12.5 (x^2 + sum_{k>=3}
    # x^k/k) with x = t/25 (since -ln(1-x) = sum x^k/k and (1 - s^2)/2 = x - x^2/2). The series
    # avoids the cancellation of the direct form for small x (x^60/60 < 1e-20 for x <= 0.5).
    x = t / 25.0
    s = 1.0 - x
    direct = 12.5 * (-np.log1p(-x) - x * (1.0 - 0.5 * x))
    k = np.arange(3, 61)
    xs = np.minimum(x, 0.5)
    series = 12.5 * (xs * xs + np.sum(np.power.outer(xs, k) / k, axis=-1))
    return (np.where(x <= 0.5, series, direct), 0.5 * (1.0 / s - s))


_register(Problem(
    name="E5", description="DETEST E5: pursuit curve y'' = sqrt(1 + y'^2)/(25 - t)", dim=2,
    y0=(0.0, 0.0), t0=0.0, t1=20.0,  # DETEST E5: (y, y')(0) = (0, 0)
    field_factory=_factory("E5", _e5_t), numpy_rhs=_e5_np, exact=_vec_exact(_e5_exact),
    exact_accuracy=4e-15,  # measured vs mpmath (40 digits) on [0, 20]: 1.4e-15 relative to max|y|
    reference=(ReferenceValue(20.0, (1.411797390542629e+01, 2.400000000000002), _TOMS648_ACC,
                              _TOMS648),),
    source=_DETEST + " E5", tags=frozenset({"non-autonomous"}),
))

# ==============================================================================================
# Arenstorf orbit (restricted three-body problem), HNW-I eqs. (0.1)-(0.2)
# ==============================================================================================

_AREN_MU = 0.012277471  # HNW-I (0.1): mu = 0.012277471, mu' = 1 - mu
_AREN_T = 17.0652165601579625588917206249  # HNW-I (0.2) / Hairer's dopri5_aren.f: period
_AREN_Y0 = (0.994, 0.0, 0.0, -2.00158510637908252240537862224)  # HNW-I (0.2): y1, y2, y1', y2'


def _aren_t(m, t, y):
    y1, y2, v1, v2 = y[..., 0], y[..., 1], y[..., 2], y[..., 3]
    mu = _AREN_MU
    mup = 1.0 - mu
    d1 = ((y1 + mu) ** 2 + y2 * y2) ** 1.5
    d2 = ((y1 - mup) ** 2 + y2 * y2) ** 1.5
    a1 = y1 + 2.0 * v2 - mup * (y1 + mu) / d1 - mu * (y1 - mup) / d2
    a2 = y2 - 2.0 * v1 - mup * y2 / d1 - mu * y2 / d2
    return _stack(v1, v2, a1, a2)


def _aren_np(t, y):
    y1, y2, v1, v2 = y
    mu = _AREN_MU
    mup = 1.0 - mu
    d1 = ((y1 + mu) ** 2 + y2 * y2) ** 1.5
    d2 = ((y1 - mup) ** 2 + y2 * y2) ** 1.5
    return np.array([v1, v2,
                     y1 + 2.0 * v2 - mup * (y1 + mu) / d1 - mu * (y1 - mup) / d2,
                     y2 - 2.0 * v1 - mup * y2 / d1 - mu * y2 / d2])


_register(Problem(
    name="arenstorf", description="Arenstorf orbit (periodic, restricted three-body), one period",
    dim=4, y0=_AREN_Y0, t0=0.0, t1=_AREN_T,
    field_factory=_factory("arenstorf", _aren_t), numpy_rhs=_aren_np,
    # y(T) = y(0); the printed initial data close the orbit only to ~1e-11, so 1e-10
    # (reference-values.md; Hairer's dopri5_aren.f driver).
    reference=(ReferenceValue(_AREN_T, _AREN_Y0, 1e-10,
                              "Hairer, Norsett, Wanner, Solving ODEs I, (0.1)-(0.2): periodic "
                              "orbit, y(T) = y(0) (data from Hairer's dopri5_aren.f)"),),
    source="Hairer, Norsett, Wanner, Solving ODEs I, 2nd ed., eqs. (0.1)-(0.2) (Arenstorf 1963)",
    tags=frozenset({"hamiltonian"}),
    # y(T) is very sensitive: |d y(T)/d y1(0)| ~ 2.2e6 (measured by finite differences), so
    # small components must be resolved: with atol = 1e-13, DOP853 at rtol 1e-13 misses y(T) by
    # 1.1e-9 (and its 10x-looser twin by about as much, so the error estimate fails); with
    # atol = 1e-16 the error is 9e-11 (6350 f-evals, 0.2 s). (Float64 rounding of the printed y0
    # moves y(T) by only 1.4e-11.)
    oracle_rtol=1e-13, oracle_atol=1e-16,
))

# ==============================================================================================
# Pleiades: 7 bodies, masses m_j = j, planar; state (x1..x7, y1..y7, x'1..x'7, y'1..y'7)
# HNW-I sec. II.10; BARI plei.f
# ==============================================================================================

_PLEI_M = np.arange(1.0, 8.0)  # HNW-I / BARI plei: m_j = j
_PLEI_Y0 = (3.0, 3.0, -1.0, -3.0, 2.0, -2.0, 2.0,  # x(0)   (BARI plei.f init)
            3.0, -3.0, 2.0, 0.0, 0.0, -4.0, 4.0,  # y(0)
            0.0, 0.0, 0.0, 0.0, 0.0, 1.75, -1.5,  # x'(0)
            0.0, 0.0, 0.0, -1.25, 1.0, 0.0, 0.0)  # y'(0)
_PLEI_REF = (  # BARI plei, reference solution at t = 3 (PSIDE, rtol = atol = 1e-16)
    0.3706139143970502, 3.237284092057233, -3.222559032418324, 0.6597091455775310,
    0.3425581707156584, 1.562172101400631, -0.7003092922212495,
    -3.943437585517392, -3.271380973972550, 5.225081843456543, -2.590612434977470,
    1.198213693392275, -0.2429682344935824, 1.091449240428980,
    3.417003806314313, 1.354584501625501, -2.590065597810775, 2.025053734714242,
    -1.155815100160448, -0.8072988170223021, 0.5952396354208710,
    -3.741244961234010, 0.3773459685750630, 0.9386858869551073, 0.3667922227200571,
    -0.3474046353808490, 2.344915448180937, -1.947020434263292,
)


def _plei_t(m, t, y):
    x, yy, vx, vy = y[..., 0:7], y[..., 7:14], y[..., 14:21], y[..., 21:28]
    dx = x.unsqueeze(-2) - x.unsqueeze(-1)  # [..., i, j] = x_j - x_i
    dy = yy.unsqueeze(-2) - yy.unsqueeze(-1)
    # + identity keeps the diagonal (dx = dy = 0) finite, so its contribution is exactly 0 and
    # no NaN reaches the backward pass
    r2 = dx * dx + dy * dy + m.eye
    w = m.masses / (r2 * torch.sqrt(r2))  # m_j / r_ij^3
    return torch.cat([vx, vy, (w * dx).sum(-1), (w * dy).sum(-1)], dim=-1)


def _plei_np(t, y):
    x, yy = y[0:7], y[7:14]
    dx = x[None, :] - x[:, None]  # [i, j] = x_j - x_i
    dy = yy[None, :] - yy[:, None]
    r2 = dx * dx + dy * dy
    np.fill_diagonal(r2, np.inf)  # j = i excluded: m_j (x_j - x_i) / inf = 0
    w = np.arange(1.0, 8.0)[None, :] / (r2 * np.sqrt(r2))  # m_j / r_ij^3, m_j = j
    return np.concatenate([y[14:21], y[21:28], (w * dx).sum(axis=1), (w * dy).sum(axis=1)])


_register(Problem(
    name="pleiades", description="Pleiades: 7-body planar problem, masses j, t in [0, 3]", dim=28,
    y0=_PLEI_Y0, t0=0.0, t1=3.0,  # BARI plei: t in [0, 3]
    field_factory=_factory("pleiades", _plei_t, buffers={"masses": _PLEI_M, "eye": np.eye(7)}),
    numpy_rhs=_plei_np,
    # The source prints 16 digits but states no error bound; its solver ran at 1e-16. We assume
    # 1e-12 absolute: the close encounters amplify errors (measured: DOP853 at rtol 1e-13 agrees
    # with it to ~1e-12, see tests/test_problems.py).
    reference=(ReferenceValue(3.0, _PLEI_REF, 1e-12,
                              "Mazzia & Magherini, Bari IVP test set, problem plei, reference "
                              "solution at t = 3 (PSIDE, rtol = atol = 1e-16)"),),
    source="Hairer, Norsett, Wanner, Solving ODEs I, sec. II.10; Bari IVP test set (plei)",
    tags=frozenset({"hamiltonian"}),
))

# ==============================================================================================
# Stiff problems (BARI; HW-II)
# ==============================================================================================


def _rob_t(m, t, y):
    y1, y2, y3 = y[..., 0], y[..., 1], y[..., 2]
    # BARI rober / HW-II (1.4): rate constants 0.04, 1e4, 3e7
    return _stack(-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 * y2,
                  3e7 * y2 * y2)


def _rob_np(t, y):
    y1, y2, y3 = y
    return np.array([-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 * y2,
                     3e7 * y2 * y2])


def _rob_jac(t, y):
    y1, y2, y3 = y
    return np.array([[-0.04, 1e4 * y3, 1e4 * y2],
                     [0.04, -1e4 * y3 - 6e7 * y2, -1e4 * y2],
                     [0.0, 6e7 * y2, 0.0]])


_register(Problem(
    name="robertson", description="Robertson chemical kinetics (stiff), t in [0, 1e11]", dim=3,
    y0=(1.0, 0.0, 0.0), t0=0.0, t1=1e11,  # BARI rober: y(0) = (1, 0, 0), t_end = 1e11
    field_factory=_factory("robertson", _rob_t), numpy_rhs=_rob_np, numpy_jac=_rob_jac,
    # BARI rober reference at 1e11. No error bound is printed. The printed values violate the
    # invariant y1 + y2 + y3 = 1 by -1.02e-14 (exact rational arithmetic), and scipy Radau
    # agrees with y1, y2 to 1e-19 but is 8e-15 above y3: the printed y3 is ~1e-14 low.
    # Hence 2e-14.
    reference=(ReferenceValue(1e11, (0.2083340149701255e-07, 0.8333360770334713e-13,
                                     0.9999999791665050), 2e-14,
                              "Mazzia & Magherini, Bari IVP test set, problem rober, reference "
                              "solution at t = 1e11"),),
    source="Robertson 1966; Hairer & Wanner, Solving ODEs II, sec. IV.1; Bari IVP test set (rober)",
    tags=frozenset({"stiff"}),
    # Radau at rtol 1e-13 (atol 1e-19) takes ~20 s here (178k f-evals), 1e-10 (atol 1e-16) ~2 s
    # and already agrees with the reference to 8e-15 abs. atol 1e-16 resolves y2 (~1e-13 at the
    # end, ~3.6e-5 at its peak) to ~1e-3 relative; comparisons are absolute.
    oracle_rtol=1e-10, oracle_atol=1e-16,
))


def _hires_t(m, t, y):
    y1, y2, y3, y4, y5, y6, y7, y8 = (y[..., i] for i in range(8))
    f7 = 280.0 * y6 * y8 - 1.81 * y7  # BARI hires / HW-II (10.3)
    return _stack(
        -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
        1.71 * y1 - 8.75 * y2,
        -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
        8.32 * y2 + 1.71 * y3 - 1.12 * y4,
        -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
        -280.0 * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
        f7, -f7)


def _hires_np(t, y):
    y1, y2, y3, y4, y5, y6, y7, y8 = y
    f7 = 280.0 * y6 * y8 - 1.81 * y7  # BARI hires / HW-II (10.3)
    return np.array([
        -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
        1.71 * y1 - 8.75 * y2,
        -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
        8.32 * y2 + 1.71 * y3 - 1.12 * y4,
        -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
        -280.0 * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
        f7, -f7])


def _hires_jac(t, y):
    y6, y8 = y[5], y[7]
    J = np.zeros((8, 8))
    J[0, 0], J[0, 1], J[0, 2] = -1.71, 0.43, 8.32
    J[1, 0], J[1, 1] = 1.71, -8.75
    J[2, 2], J[2, 3], J[2, 4] = -10.03, 0.43, 0.035
    J[3, 1], J[3, 2], J[3, 3] = 8.32, 1.71, -1.12
    J[4, 4], J[4, 5], J[4, 6] = -1.745, 0.43, 0.43
    J[5, 3], J[5, 4], J[5, 5], J[5, 6], J[5, 7] = 0.69, 1.71, -0.43 - 280.0 * y8, 0.69, -280.0 * y6
    J[6, 5], J[6, 6], J[6, 7] = 280.0 * y8, -1.81, 280.0 * y6
    J[7] = -J[6]
    return J


_register(Problem(
    name="hires", description="HIRES: 8-species plant physiology kinetics (stiff)", dim=8,
    # BARI hires: y(0) = (1, 0, 0, 0, 0, 0, 0, 0.0057), t in [0, 321.8122]
    y0=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057), t0=0.0, t1=321.8122,
    field_factory=_factory("hires", _hires_t), numpy_rhs=_hires_np, numpy_jac=_hires_jac,
    # BARI hires reference at t_end; no error bound printed, assumed 1e-15 absolute (components
    # are ~1e-3; 16 digits printed). Measured: Radau at rtol 1e-12 agrees to 1.5e-16.
    reference=(ReferenceValue(321.8122, (
        0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4,
        0.1175651343283149e-2, 0.2386356198831331e-2, 0.6238968252742796e-2,
        0.2849998395185769e-2, 0.2850001604814231e-2), 1e-15,
        "Mazzia & Magherini, Bari IVP test set, problem hires, reference solution at t_end"),),
    source="Schaefer 1975; Hairer & Wanner, Solving ODEs II, sec. IV.10; Bari IVP test set (hires)",
    tags=frozenset({"stiff"}),
    # Radau rtol 1e-11 (atol 1e-15): ~2 s with the analytic Jacobian (1e-13: ~8 s); components
    # are <= 1, so atol = rtol * 1e-4 keeps the small ones relatively resolved.
    oracle_rtol=1e-11, oracle_atol=1e-15,
))

_VDP_EPS = 1e-6  # BARI vdpol: epsilon = 1e-6


def _vdpol_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    return _stack(y2, ((1.0 - y1 * y1) * y2 - y1) / 1e-6)  # BARI vdpol


def _vdpol_np(t, y):
    y1, y2 = y
    return np.array([y2, ((1.0 - y1 * y1) * y2 - y1) / 1e-6])


def _vdpol_jac(t, y):
    y1, y2 = y
    return np.array([[0.0, 1.0],
                     [(-2.0 * y1 * y2 - 1.0) / 1e-6, (1.0 - y1 * y1) / 1e-6]])


_register(Problem(
    name="vdpol", description="Van der Pol, stiff scaled form, epsilon = 1e-6, t in [0, 2]", dim=2,
    y0=(2.0, 0.0), t0=0.0, t1=2.0,  # BARI vdpol: y(0) = (2, 0), [0, 2]
    field_factory=_factory("vdpol", _vdpol_t), numpy_rhs=_vdpol_np, numpy_jac=_vdpol_jac,
    # BARI vdpol reference at t = 2; assumed 1e-13 absolute (no bound printed; measured: Radau at
    # rtol 1e-12 agrees to 1.1e-14, at 1e-10 to 2e-13).
    reference=(ReferenceValue(2.0, (0.1706167732170483e+01, -0.8928097010247975), 1e-13,
                              "Mazzia & Magherini, Bari IVP test set, problem vdpol, reference "
                              "solution at t = 2"),),
    source="Hairer & Wanner, Solving ODEs II, sec. IV.1 and IV.10; Bari IVP test set (vdpol)",
    tags=frozenset({"stiff"}),
    # Radau: rtol 1e-10 ~4 s, 1e-12 ~9 s, 1e-13 ~29 s (330k f-evals) on this machine.
    oracle_rtol=1e-10, oracle_atol=1e-10,
))

# ==============================================================================================
# Linear problems with closed forms
# ==============================================================================================

# Random stable 10x10 (diffrax's test_ode_order uses A = 0.5 randn(10, 10) on [0, 4]); here
# shifted so that max Re(eig) is in [-0.51, -0.5): A <- A - s I, s = ceil(100 max Re)/100 + 0.5.
_rng = np.random.default_rng(20240601)  # seed: arbitrary, fixed
_RS_A = 0.5 * _rng.standard_normal((10, 10))
_RS_A = _RS_A - (math.ceil(100.0 * np.linalg.eigvals(_RS_A).real.max()) / 100.0 + 0.5) * np.eye(10)
_RS_Y0 = tuple(float(v) for v in _rng.standard_normal(10))
_rs_rhs, _rs_jac = _linear_np_factory(_RS_A)

_register(Problem(
    name="linear-random-stable",
    description="y' = A y, A = 0.5 randn(10,10) (seeded) shifted to max Re eig ~ -0.5, t in [0, 4]",
    dim=10, y0=_RS_Y0, t0=0.0, t1=4.0,
    field_factory=_factory("linear-random-stable", _linear_torch, buffers={"A": _RS_A}),
    numpy_rhs=_rs_rhs, numpy_jac=_rs_jac, exact=_expm_exact_factory(_RS_A, _RS_Y0),
    # scipy expm (Pade + scaling/squaring) vs mpmath expm (40 digits): measured < 1e-15 abs
    exact_accuracy=1e-14,
    source="diffrax test_ode_order (random linear system); closed form expm(tA) y0",
    tags=frozenset({"linear"}),
))

_rng = np.random.default_rng(20240602)  # seed: arbitrary, fixed
_M = _rng.standard_normal((6, 6))
_SK_A = 0.5 * (_M - _M.T)  # skew-symmetric: |y| is conserved, eigenvalues on the imaginary axis
_SK_Y0 = tuple(float(v) for v in _rng.standard_normal(6))
_sk_rhs, _sk_jac = _linear_np_factory(_SK_A)

_register(Problem(
    name="linear-skew",
    description="y' = A y, A = (M - M^T)/2 skew-symmetric 6x6 (seeded), t in [0, 10]",
    dim=6, y0=_SK_Y0, t0=0.0, t1=10.0,
    field_factory=_factory("linear-skew", _linear_torch, buffers={"A": _SK_A}),
    numpy_rhs=_sk_rhs, numpy_jac=_sk_jac, exact=_skew_exact_factory(_SK_A, _SK_Y0),
    # measured vs mpmath expm (40 digits) on [0, 10]: 4e-15 abs (|y| ~ 2); scipy.linalg.expm(tA)
    # was off by up to 4.6e-13 here (scaling and squaring), hence the eigen-decomposition.
    exact_accuracy=1e-14,
    source="linear Hamiltonian (energy |y|^2/2 conserved); closed form expm(tA) y0",
    tags=frozenset({"linear", "hamiltonian"}),
))


def _sciml_lin_t(m, t, y):
    return 1.01 * y  # SciML prob_ode_linear: u' = 1.01 u


def _sciml_lin_np(t, y):
    return 1.01 * y


_register(Problem(
    name="sciml-linear", description="u' = 1.01 u, u(0) = 1/2, t in [0, 1]", dim=1,
    y0=(0.5,), t0=0.0, t1=1.0,  # SciML prob_ode_linear: u0 = 1/2, tspan (0, 1)
    field_factory=_factory("sciml-linear", _sciml_lin_t), numpy_rhs=_sciml_lin_np,
    numpy_jac=lambda t, y: np.array([[1.01]]),
    exact=_vec_exact(lambda t: (0.5 * np.exp(1.01 * t),)),
    source="SciML DiffEqProblemLibrary prob_ode_linear", tags=frozenset({"linear"}),
))

_SCIPY_LIN_A = np.array([[-1.0, -5.0], [1.0, 1.0]])  # scipy integrate tests: y' = [[-1,-5],[1,1]] y

_register(Problem(
    name="scipy-linear", description="y' = [[-1,-5],[1,1]] y, y(0) = (0, 2), t in [0, 10]", dim=2,
    y0=(0.0, 2.0), t0=0.0, t1=10.0,  # scipy tests: y0 = (0, 2)
    field_factory=_factory("scipy-linear", _linear_torch, buffers={"A": _SCIPY_LIN_A}),
    numpy_rhs=lambda t, y: np.array([-y[0] - 5.0 * y[1], y[0] + y[1]]),
    numpy_jac=lambda t, y: _SCIPY_LIN_A.copy(),
    # exact (-5 sin 2t, 2 cos 2t + sin 2t)
    exact=_vec_exact(lambda t: (-5.0 * np.sin(2.0 * t), 2.0 * np.cos(2.0 * t) + np.sin(2.0 * t))),
    source="scipy/integrate/_ivp/tests/test_ivp.py (linear test problem, closed form)",
    tags=frozenset({"linear"}),
))


def _rational_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    return _stack(y2 / t, y2 * (y1 + 2.0 * y2 - 1.0) / (t * (y1 - 1.0)))


def _rational_np(t, y):
    y1, y2 = y
    return np.array([y2 / t, y2 * (y1 + 2.0 * y2 - 1.0) / (t * (y1 - 1.0))])


_register(Problem(
    name="scipy-rational",
    description="y' = [y2/t, y2 (y1 + 2 y2 - 1)/(t (y1 - 1))], y(5) = (1/3, 2/9), t in [5, 9]",
    dim=2, y0=(1.0 / 3.0, 2.0 / 9.0), t0=5.0, t1=9.0,  # scipy tests: t_span (5, 9)
    field_factory=_factory("scipy-rational", _rational_t), numpy_rhs=_rational_np,
    # exact (t/(t+10), 10 t/(t+10)^2)
    exact=_vec_exact(lambda t: (t / (t + 10.0), 10.0 * t / (t + 10.0) ** 2)),
    source="scipy/integrate/_ivp/tests/test_ivp.py (rational test problem, closed form)",
    tags=frozenset({"non-autonomous"}),
))

_CONTR_A = np.diag([-20.0, -1.0])

_register(Problem(
    name="contracting-diag",
    description="y' = diag(-20, -1) y, y(0) = (1, 1), t in [0, 2]: strongly contracting, so "
                "rebuilding z(t) backward in time (adjoint without checkpoints) is ill-conditioned",
    dim=2, y0=(1.0, 1.0), t0=0.0, t1=2.0,
    field_factory=_factory("contracting-diag", _linear_torch, buffers={"A": _CONTR_A}),
    numpy_rhs=lambda t, y: np.array([-20.0 * y[0], -1.0 * y[1]]),
    numpy_jac=lambda t, y: _CONTR_A.copy(),
    exact=_vec_exact(lambda t: (np.exp(-20.0 * t), np.exp(-t))),
    source="diagonal linear test problem (closed form)",
    tags=frozenset({"linear", "contracting"}),
))

# Linear with a trainable matrix (gradient oracles: d y(T)/dA via the Frechet derivative of expm).
_LP_A = np.array([[-0.5, 1.0, 0.0],   # hand-chosen, eigenvalues with negative real parts
                  [-1.0, -0.5, 0.3],
                  [0.2, 0.0, -0.8]])
_LP_Y0 = (1.0, 0.5, -0.5)  # hand-chosen
_lp_rhs, _lp_jac = _linear_np_factory(_LP_A)

_register(Problem(
    name="linear-param", description="y' = A y with A (3x3) an nn.Parameter, t in [0, 2]", dim=3,
    y0=_LP_Y0, t0=0.0, t1=2.0,
    field_factory=_factory("linear-param", _linear_torch, parameters={"A": _LP_A}),
    numpy_rhs=_lp_rhs, numpy_jac=_lp_jac, exact=_expm_exact_factory(_LP_A, _LP_Y0),
    exact_accuracy=1e-14,
    source="hand-chosen linear system (closed form expm(tA) y0)",
    tags=frozenset({"linear", "has-params"}),
))


def _lv_t(m, t, y):
    y1, y2 = y[..., 0], y[..., 1]
    return _stack(m.alpha * y1 - m.beta * y1 * y2, -m.gamma * y2 + m.delta * y1 * y2)


def _lv_np(t, y):
    # alpha, beta, gamma, delta = 2, 2, 1, 1 reproduce DETEST B1
    y1, y2 = y
    return np.array([2.0 * y1 - 2.0 * y1 * y2, -1.0 * y2 + 1.0 * y1 * y2])


_register(Problem(
    name="lotka-volterra",
    description="Lotka-Volterra with parameters (alpha, beta, gamma, delta) = (2, 2, 1, 1) as "
                "nn.Parameters: the DETEST B1 system",
    dim=2, y0=(1.0, 3.0), t0=0.0, t1=20.0,  # DETEST B1
    field_factory=_factory("lotka-volterra", _lv_t,
                           parameters={"alpha": 2.0, "beta": 2.0, "gamma": 1.0, "delta": 1.0}),
    numpy_rhs=_lv_np, reference=(_B1_REF,),
    source=_DETEST + " B1 (parametrised)", tags=frozenset({"has-params"}),
))


def _lorenz_t(m, t, y):
    x, yy, z = y[..., 0], y[..., 1], y[..., 2]
    # Lorenz 1963: sigma = 10, rho = 28, beta = 8/3
    return _stack(10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - (8.0 / 3.0) * z)


def _lorenz_np(t, y):
    x, yy, z = y
    return np.array([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - (8.0 / 3.0) * z])


_register(Problem(
    name="lorenz63", description="Lorenz 1963 (sigma 10, rho 28, beta 8/3), y(0) = (1, 1, 1), "
                                 "t in [0, 5]; errors grow like e^(0.9 t)",
    dim=3, y0=(1.0, 1.0, 1.0), t0=0.0, t1=5.0,
    field_factory=_factory("lorenz63", _lorenz_t), numpy_rhs=_lorenz_np,
    source="E.N. Lorenz, Deterministic nonperiodic flow, J. Atmos. Sci. 20 (1963) 130-141",
    tags=frozenset({"chaotic"}),
))

# ==============================================================================================
# Neural vector fields: seeded MLPs, dim 4, two hidden layers of width 16. Weights ~ N(0, 1/fan_in)
# and biases ~ N(0, 0.1^2) from numpy's PCG64 generator, stored as nn.Parameters. No exact
# solution. The numpy rhs is an independent evaluation with the same (copied) weights.
# ==============================================================================================

_NN_DIM, _NN_HIDDEN = 4, 16


@functools.lru_cache(maxsize=None)
def _mlp_weights(seed: int, n_in: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    sizes = [(n_in, _NN_HIDDEN), (_NN_HIDDEN, _NN_HIDDEN), (_NN_HIDDEN, _NN_DIM)]
    out = []
    for fan_in, fan_out in sizes:
        out.append(rng.standard_normal((fan_out, fan_in)) / math.sqrt(fan_in))
        out.append(0.1 * rng.standard_normal(fan_out))
    for a in out:
        a.setflags(write=False)
    return tuple(out)


def _softplus_torch(x):
    # log(1 + e^x) computed stably and exactly smooth (F.softplus switches to x above 20)
    return torch.logaddexp(x, torch.zeros_like(x))


def _mlp_torch(act, with_t: bool):
    def fn(m, t, y):
        x = y
        if with_t:
            x = torch.cat([y, t.expand(y.shape[:-1] + (1,))], dim=-1)
        h = act(F.linear(x, m.W1, m.b1))
        h = act(F.linear(h, m.W2, m.b2))
        return F.linear(h, m.W3, m.b3)

    return fn


_mlp_tanh_auto = _mlp_torch(torch.tanh, False)
_mlp_tanh_t = _mlp_torch(torch.tanh, True)
_mlp_softplus_auto = _mlp_torch(_softplus_torch, False)
_mlp_softplus_t = _mlp_torch(_softplus_torch, True)


def _mlp_np_factory(weights, act_name: str, with_t: bool):
    W1, b1, W2, b2, W3, b3 = weights
    act = np.tanh if act_name == "tanh" else (lambda x: np.logaddexp(x, 0.0))

    def rhs(t, y):
        x = np.concatenate([y, [t]]) if with_t else y
        h = act(W1 @ x + b1)
        h = act(W2 @ h + b2)
        return W3 @ h + b3

    return rhs


for _act, _with_t, _seed, _fn in (("tanh", False, 1001, _mlp_tanh_auto),
                                  ("tanh", True, 1002, _mlp_tanh_t),
                                  ("softplus", False, 1003, _mlp_softplus_auto),
                                  ("softplus", True, 1004, _mlp_softplus_t)):
    _name = f"mlp-{_act}" + ("-t" if _with_t else "")
    _w = _mlp_weights(_seed, _NN_DIM + (1 if _with_t else 0))
    _register(Problem(
        name=_name,
        description=f"seeded {_act} MLP vector field, dim 4, hidden 16x2"
                    + (", t appended as an input" if _with_t else ", autonomous") + ", t in [0, 1]",
        dim=_NN_DIM, y0=(0.5, -0.5, 1.0, -1.0), t0=0.0, t1=1.0,
        field_factory=_factory(_name, _fn, parameters=dict(zip(
            ("W1", "b1", "W2", "b2", "W3", "b3"), _w))),
        numpy_rhs=_mlp_np_factory(_w, _act, _with_t),
        source=f"seeded random MLP (numpy PCG64 seed {_seed})",
        tags=frozenset({"neural", "has-params"} | ({"non-autonomous"} if _with_t else set())),
    ))

del _rng, _M, _k, _e, _name, _act, _with_t, _seed, _fn, _w, _i


# ==============================================================================================
# Standalone torch source of a field (reproducer scripts, harness/diagnosis/reproducer.py)
# ==============================================================================================
# A reproducer must run without ode-harness, so it carries the vector field as plain torch code.
# That code is GENERATED from the one definition above (the formula function `fn` of the
# `VectorField`, the helpers and constants it uses, and the module's tensors), never written a
# second time: tests/test_reproducers.py checks, for every registered problem, that the field
# built from the text equals `make_field`'s bit for bit on random inputs (float64 and float32).

_SOURCE_IMPORTS = {"torch": "import torch", "F": "import torch.nn.functional as F", "math": "import math"}


def _code_names(code) -> set[str]:
    """Global names a code object (and the code objects nested in it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def _torch_builtin_name(obj) -> str | None:
    """``torch.tanh`` for the builtin torch.tanh, ``F.linear`` for torch.nn.functional.linear."""
    name = getattr(obj, "__name__", None)
    if name and getattr(torch, name, None) is obj:
        return f"torch.{name}"
    if name and getattr(F, name, None) is obj:
        return f"F.{name}"
    return None


class _SourceBuilder:
    """Collects the definitions a formula function needs, dependencies first."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}
        self.blocks: dict[str, str] = {}  # name -> its source text, in dependency order

    def value(self, name: str, obj) -> str:
        """The source text that binds `name` to `obj` (a constant, a torch builtin or a function)."""
        if isinstance(obj, bool) or obj is None:
            return f"{name} = {obj!r}"
        if isinstance(obj, (int, float)):
            return f"{name} = {float(obj)!r}" if isinstance(obj, float) else f"{name} = {obj!r}"
        builtin = _torch_builtin_name(obj)
        if builtin is not None:
            self.imports.setdefault(builtin.partition(".")[0], _SOURCE_IMPORTS[builtin.partition(".")[0]])
            return f"{name} = {builtin}"
        if inspect.isfunction(obj) and obj.__module__ == __name__:
            self.function(obj)
            return "" if obj.__name__ == name else f"{name} = {obj.__name__}"
        raise TypeError(f"cannot write {name!r} ({type(obj).__name__}) as standalone source")

    def function(self, fn) -> str:
        """Add `fn` (a function of this module) and what it reads; returns its name."""
        if fn.__name__ in self.blocks:
            return fn.__name__
        code = fn.__code__
        for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
            text = self.value(var, cell.cell_contents)
            if text:
                self.blocks.setdefault(f"{fn.__name__}.{var}", text)
        for name in sorted(_code_names(code)):
            if name not in fn.__globals__ or name in code.co_freevars:
                continue
            obj = fn.__globals__[name]
            if inspect.ismodule(obj):
                if name not in _SOURCE_IMPORTS:
                    raise TypeError(f"{fn.__name__} uses module {name!r}, not available to a standalone field")
                self.imports.setdefault(name, _SOURCE_IMPORTS[name])
                continue
            text = self.value(name, obj)
            if text:
                self.blocks.setdefault(name, text)
        self.blocks[fn.__name__] = textwrap.dedent(inspect.getsource(fn)).strip()
        return fn.__name__


def _tensor_literal(x: torch.Tensor) -> str:
    """A float64 tensor as a nested list of floats (repr: exact round trip)."""
    return repr(x.detach().to(torch.float64).cpu().tolist())


def vector_field_source(field: "VectorField", class_name: str = "Field") -> str:
    """Standalone torch source defining `class_name(dtype=torch.float64, device="cpu")`, an
    nn.Module computing the same f(t, y) as `field` (a `VectorField`, e.g. `Problem.make_field()`
    or a copy whose buffers became parameters): its formula function with the helpers and
    constants it reads, its buffers and parameters as float literals (in float64, cast to the
    requested dtype exactly as `VectorField` casts its numpy constants) in `field`'s order."""
    if not isinstance(field, VectorField):
        raise TypeError(f"expected a VectorField, got {type(field).__name__}")
    b = _SourceBuilder()
    b.imports["torch"] = _SOURCE_IMPORTS["torch"]
    fn_name = b.function(field._fn)
    init = ["        super().__init__()"]
    for name, buf in field.named_buffers(recurse=False):
        init.append(f"        self.register_buffer({name!r}, torch.tensor({_tensor_literal(buf)}, "
                    "dtype=torch.float64).to(dtype=dtype, device=device))")
    for name, par in field.named_parameters(recurse=False):
        init.append(f"        self.{name} = torch.nn.Parameter(torch.tensor({_tensor_literal(par)}, "
                    "dtype=torch.float64).to(dtype=dtype, device=device))")
    cls = "\n".join([f"class {class_name}(torch.nn.Module):",
                     f"    \"\"\"f(t, y) of the problem {field.problem_name!r} on the last axis of y.\"\"\"", "",
                     "    def __init__(self, dtype=torch.float64, device=\"cpu\"):", *init, "",
                     "    def forward(self, t, y):",
                     "        t = torch.as_tensor(t, dtype=y.dtype, device=y.device)",
                     f"        return {fn_name}(self, t, y)"])
    return "\n\n\n".join(["\n".join(b.imports.values()), *b.blocks.values(), cls]) + "\n"


def _problem_torch_source(self: Problem, class_name: str = "Field") -> str:
    """The standalone torch source of this problem's field (`vector_field_source`)."""
    return vector_field_source(self.make_field(), class_name)


Problem.torch_source = _problem_torch_source  # type: ignore[attr-defined]
