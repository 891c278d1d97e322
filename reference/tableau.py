"""Butcher tableaus as data that checks its own consistency.

An explicit Runge-Kutta method with s stages is (Hairer, Norsett, Wanner, *Solving Ordinary
Differential Equations I*, 2nd ed., sec. II.1)

    k_i = f(t + c_i h, y + h sum_{j<i} a_ij k_j),    y_1 = y_0 + h sum_i b_i k_i,

with an optional embedded solution y_hat_1 = y_0 + h sum_i b_hat_i k_i for error estimation and an
optional continuous extension (dense output)

    y(t + theta h) = y_0 + h sum_i b_i(theta) k_i,    b_i(theta) = sum_j P[i][j] theta^(j+1),

whose stages may include extra stages (rows `a_extra`, nodes `c_extra`) evaluated only when an
output falls inside the step (DOP853 needs three).

Coefficients are stored exactly as `fractions.Fraction`, built from the strings in which the
source prints them ("35/384" or a decimal expansion), so the consistency checks here and the
order-condition checks in `reference.order_conditions` run in exact arithmetic. A tableau whose
source prints decimal approximations (Tsitouras 2011, DOP853) sets `coefficient_tolerance` to the
precision of that printing; rational tableaus use 0 (exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence, Union

import numpy as np

Number = Union[str, int, Fraction]


def _frac(x: Number) -> Fraction:
    if isinstance(x, float):
        raise TypeError("tableau coefficients must be given exactly (str, int or Fraction), not float")
    return Fraction(x)


def _vec(xs: Sequence[Number] | None) -> tuple[Fraction, ...] | None:
    return None if xs is None else tuple(_frac(x) for x in xs)


def _mat(rows: Sequence[Sequence[Number]] | None) -> tuple[tuple[Fraction, ...], ...] | None:
    return None if rows is None else tuple(tuple(_frac(x) for x in row) for row in rows)


class TableauError(ValueError):
    """A Butcher tableau violates a consistency condition."""


@dataclass(frozen=True)
class DenseOutput:
    """Continuous extension y(t + theta h) = y0 + h sum_i k_i sum_j P[i][j] theta^(j+1).

    `P` has one row per stage, the main stages first and then the extra stages; `order` is the
    order of the interpolant (its local error is O(h^(order+1))).
    """

    P: tuple[tuple[Fraction, ...], ...]
    order: int
    source: str
    a_extra: tuple[tuple[Fraction, ...], ...] = ()
    c_extra: tuple[Fraction, ...] = ()


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta method as data; construction checks its consistency.

    Attributes:
        name: the method name used by `reference.odeint` (``method=name``).
        c, a, b: nodes, the strictly lower-triangular coefficient matrix (full s x s), weights.
        order: classical order of the solution ``b``.
        source: the publication the coefficients come from.
        b_hat: weights of the embedded solution (adaptive methods), order ``embedded_order``.
        b_hat_secondary: a second embedded solution (DOP853's 3rd-order one), order
            ``secondary_order``; the step-size controller combines both estimates as Hairer does.
        error_order: q such that the error estimate used by the controller behaves like
            h^(q+1); the controller's exponent is 1/(q+1).
        fsal: first same as last: the last stage is f(t + h, y_1) and serves as the next step's
            first stage.
        dense: the method's own continuous extension, if any.
        coefficient_tolerance: 0 for exact rational data; otherwise the precision of the printed
            decimals, used as the tolerance of the consistency and order-condition checks.
    """

    name: str
    c: tuple[Fraction, ...]
    a: tuple[tuple[Fraction, ...], ...]
    b: tuple[Fraction, ...]
    order: int
    source: str
    b_hat: tuple[Fraction, ...] | None = None
    embedded_order: int | None = None
    b_hat_secondary: tuple[Fraction, ...] | None = None
    secondary_order: int | None = None
    error_order: int | None = None
    fsal: bool = False
    dense: DenseOutput | None = None
    coefficient_tolerance: Fraction = Fraction(0)
    float64: dict = field(init=False, repr=False, compare=False)

    @classmethod
    def from_strings(
        cls,
        name: str,
        *,
        c: Sequence[Number],
        a: Sequence[Sequence[Number]],
        b: Sequence[Number],
        order: int,
        source: str,
        b_hat: Sequence[Number] | None = None,
        embedded_order: int | None = None,
        b_hat_secondary: Sequence[Number] | None = None,
        secondary_order: int | None = None,
        error_order: int | None = None,
        fsal: bool = False,
        dense: DenseOutput | None = None,
        coefficient_tolerance: Number = 0,
    ) -> "ButcherTableau":
        """Build a tableau from exact strings; `a` may list only the rows below the diagonal
        (row i with i entries) or full rows; missing entries are zero."""
        s = len(c)
        full = [[Fraction(0)] * s for _ in range(s)]
        for i, row in enumerate(a):
            for j, x in enumerate(row):
                full[i][j] = _frac(x)
        return cls(
            name=name,
            c=_vec(c),
            a=tuple(tuple(r) for r in full),
            b=_vec(b),
            order=order,
            source=source,
            b_hat=_vec(b_hat),
            embedded_order=embedded_order,
            b_hat_secondary=_vec(b_hat_secondary),
            secondary_order=secondary_order,
            error_order=error_order,
            fsal=fsal,
            dense=dense,
            coefficient_tolerance=_frac(coefficient_tolerance),
        )

    # ------------------------------------------------------------------ consistency
    def __post_init__(self) -> None:
        self._check()
        object.__setattr__(self, "float64", self._float_arrays())

    @property
    def stages(self) -> int:
        return len(self.c)

    @property
    def adaptive(self) -> bool:
        return self.b_hat is not None

    def _close(self, x: Fraction, y: Fraction) -> bool:
        return abs(x - y) <= self.coefficient_tolerance

    def _check(self) -> None:
        s, name = len(self.c), self.name
        if self.order < 1:
            raise TableauError(f"{name}: order must be >= 1, got {self.order}")
        if len(self.a) != s or any(len(r) != s for r in self.a):
            raise TableauError(f"{name}: a must be {s}x{s}")
        if len(self.b) != s:
            raise TableauError(f"{name}: b has {len(self.b)} entries for {s} stages")
        for i in range(s):
            for j in range(i, s):
                if self.a[i][j] != 0:
                    raise TableauError(f"{name}: a[{i}][{j}] = {self.a[i][j]} is on or above the "
                                       "diagonal; an explicit method needs a strictly lower-triangular a")
            if not self._close(sum(self.a[i]), self.c[i]):
                raise TableauError(f"{name}: row {i} of a sums to {float(sum(self.a[i]))!r}, "
                                   f"but c[{i}] = {float(self.c[i])!r}")
        if not self._close(sum(self.b), Fraction(1)):
            raise TableauError(f"{name}: sum(b) = {float(sum(self.b))!r}, not 1")
        for label, bh, q in (("b_hat", self.b_hat, self.embedded_order),
                             ("b_hat_secondary", self.b_hat_secondary, self.secondary_order)):
            if bh is None:
                continue
            if len(bh) != s:
                raise TableauError(f"{name}: {label} has {len(bh)} entries for {s} stages")
            if q is None:
                raise TableauError(f"{name}: {label} given without its order")
            if not self._close(sum(b - h for b, h in zip(self.b, bh)), Fraction(0)):
                raise TableauError(f"{name}: sum(b - {label}) = "
                                   f"{float(sum(b - h for b, h in zip(self.b, bh)))!r}, not 0")
        if self.b_hat is not None and self.error_order is None:
            raise TableauError(f"{name}: an adaptive tableau needs error_order")
        if self.fsal:
            if self.c[-1] != 1 or not all(self._close(x, y) for x, y in zip(self.a[-1], self.b)):
                raise TableauError(f"{name}: FSAL needs c[-1] = 1 and the last row of a equal to b")
        if self.dense is not None:
            self._check_dense()

    def _check_dense(self) -> None:
        d, s, name = self.dense, len(self.c), self.name
        n_extra = len(d.c_extra)
        if len(d.a_extra) != n_extra:
            raise TableauError(f"{name}: dense output has {len(d.a_extra)} extra rows for "
                               f"{n_extra} extra nodes")
        for r, (row, ci) in enumerate(zip(d.a_extra, d.c_extra)):
            if len(row) > s + r:
                raise TableauError(f"{name}: extra stage {r} uses a later stage")
            if not self._close(sum(row), ci):
                raise TableauError(f"{name}: extra stage {r} row sums to {float(sum(row))!r}, "
                                   f"but its node is {float(ci)!r}")
        if len(d.P) != s + n_extra:
            raise TableauError(f"{name}: dense output P has {len(d.P)} rows for {s + n_extra} stages")
        degree = len(d.P[0])
        if any(len(row) != degree for row in d.P):
            raise TableauError(f"{name}: rows of dense output P differ in length")
        # b_i(1) = b_i: the interpolant meets the step's own solution at theta = 1.
        for i in range(s + n_extra):
            bi = self.b[i] if i < s else Fraction(0)
            if not self._close(sum(d.P[i]), bi):
                raise TableauError(f"{name}: dense output b_{i}(1) = {float(sum(d.P[i]))!r} "
                                   f"but b_{i} = {float(bi)!r}")
        # sum_i b_i(theta) = theta: exact for y' = const (first-order consistency of the interpolant).
        for j in range(degree):
            col = sum(row[j] for row in d.P)
            if not self._close(col, Fraction(1 if j == 0 else 0)):
                raise TableauError(f"{name}: dense output sum_i b_i(theta) != theta "
                                   f"(coefficient of theta^{j + 1} is {float(col)!r})")

    def _float_arrays(self) -> dict:
        f = lambda xs: np.array([float(x) for x in xs], dtype=np.float64)  # noqa: E731
        out = {
            "c": f(self.c),
            "a": np.array([[float(x) for x in row] for row in self.a], dtype=np.float64),
            "b": f(self.b),
        }
        if self.b_hat is not None:
            out["e"] = out["b"] - f(self.b_hat)
        if self.b_hat_secondary is not None:
            out["e_secondary"] = out["b"] - f(self.b_hat_secondary)
        if self.dense is not None:
            out["P"] = np.array([[float(x) for x in row] for row in self.dense.P], dtype=np.float64)
            out["c_extra"] = f(self.dense.c_extra)
            out["a_extra"] = [f(row) for row in self.dense.a_extra]
        return out


def hermite_dense_output(b: Sequence[Fraction], *, source: str) -> DenseOutput:
    """Cubic Hermite interpolant of an FSAL method, written as stage polynomials.

    Uses y0, y1, f0 = k_1 and f1 = k_s (the FSAL stage): with the Hermite basis on [0, 1]
    h01 = 3 theta^2 - 2 theta^3, h10 = theta - 2 theta^2 + theta^3, h11 = -theta^2 + theta^3,
    y(theta) = y0 + h01 (y1 - y0) + h h10 f0 + h h11 f1, hence
    b_i(theta) = b_i h01 + [i = 1] h10 + [i = s] h11. Order 3 (local error O(h^4)).
    """
    s = len(b)
    rows = []
    for i, bi in enumerate(b):
        row = [Fraction(0), 3 * bi, -2 * bi]
        if i == 0:
            row = [row[0] + 1, row[1] - 2, row[2] + 1]
        if i == s - 1:
            row = [row[0], row[1] - 1, row[2] + 1]
        rows.append(tuple(row))
    return DenseOutput(P=tuple(rows), order=3, source=source)


def _poly_mul(p: Sequence[Fraction], q: Sequence[Fraction]) -> list[Fraction]:
    """Product of two polynomials given by their coefficients in ascending powers."""
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, x in enumerate(p):
        for j, y in enumerate(q):
            out[i + j] += x * y
    return out


def nested_dense_output_P(r: Sequence[Sequence[Number]]) -> tuple[tuple[Fraction, ...], ...]:
    """Stage polynomials P of a continuous extension written in Hairer's nested form.

    Hairer's codes (DOPRI5, DOP853; HNW sec. II.6 and II.10) store the interpolant as

        y(t0 + theta h) = r_1 + theta (r_2 + (1 - theta) (r_3 + theta (r_4 + (1 - theta) (r_5 + ...))))

    with r_1 = y0 and the factors alternating theta, 1 - theta, theta, ... from r_2 on. When every
    r_m (m >= 2) is a combination of the stages, r_m = h sum_i r[m - 2][i] k_i, multiplying out
    gives y(t0 + theta h) = y0 + h sum_i k_i sum_m r[m - 2][i] w_m(theta) with
    w_2 = theta, w_3 = theta (1 - theta), w_4 = theta^2 (1 - theta), ... The result is the
    `DenseOutput.P` matrix: one row per stage, columns theta^1 .. theta^len(r), exact.
    """
    rows = [[_frac(x) for x in rm] for rm in r]
    n = len(rows[0])
    if any(len(rm) != n for rm in rows):
        raise TableauError("nested dense output: the r_m differ in their number of stages")
    theta, one_minus_theta = [Fraction(0), Fraction(1)], [Fraction(1), Fraction(-1)]
    degree = len(rows)
    P = [[Fraction(0)] * degree for _ in range(n)]
    w = [Fraction(1)]
    for m, rm in enumerate(rows):
        w = _poly_mul(w, theta if m % 2 == 0 else one_minus_theta)  # w_{m+2}; w[0] == 0
        for i, coef in enumerate(rm):
            if coef:
                for j in range(1, len(w)):
                    P[i][j - 1] += coef * w[j]
    return tuple(tuple(row) for row in P)
