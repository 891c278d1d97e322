"""Runge-Kutta order conditions via rooted trees, in exact arithmetic.

Butcher's theory (Hairer, Norsett, Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.,
sec. II.2): a Runge-Kutta method (A, b) has order p iff for every rooted tree t with
rho(t) <= p vertices

    sum_i b_i Phi_i(t) = 1 / gamma(t)                               (HNW I, Theorem 2.13)

where the elementary weight vector is Phi_i(leaf) = 1 and, for t = [u_1, ..., u_m] (a root whose
children are the subtrees u_k),

    Phi_i(t) = prod_k sum_j a_ij Phi_j(u_k)                          (HNW I, sec. II.2)

and the density is gamma(leaf) = 1, gamma(t) = rho(t) prod_k gamma(u_k) (HNW I, sec. II.2).
These are the conditions for the autonomous form y' = f(y); `reference.tableau` checks
c_i = sum_j a_ij, under which they are also the conditions for non-autonomous problems.

A continuous extension y(t + theta h) = y0 + h sum_i b_i(theta) k_i has order p* iff

    sum_i b_i(theta) Phi_i(t) = theta^rho(t) / gamma(t)     for rho(t) <= p*,

as polynomial identities in theta (HNW I, sec. II.6, eq. (6.7)); the sum runs over the main stages
and the extra dense-output stages, whose rows (`a_extra`) extend A.

Everything is computed in `fractions.Fraction`. Tableaus printed as rounded decimals
(`coefficient_tolerance` delta > 0) do not satisfy the conditions exactly; for them a residual is
accepted when it is within a rigorous bound of what rounding by delta can cause (see
`residual_bounds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from math import factorial, lcm
from typing import Callable, Sequence

from .tableau import ButcherTableau

Matrix = Sequence[Sequence[Fraction]]
Vector = Sequence[Fraction]
ExactMatrix = tuple[tuple[Fraction, ...], ...]
Violations = dict[int, list[tuple["Tree", Fraction, Fraction]]]  # order -> (tree, residual, allowed)

# Number of rooted trees with n vertices, OEIS A000081 (also tabulated in HNW I, sec. II.2).
TREE_COUNTS: dict[int, int] = {1: 1, 2: 1, 3: 2, 4: 4, 5: 9, 6: 20, 7: 48, 8: 115, 9: 286, 10: 719}

_ZERO = Fraction(0)


# ---------------------------------------------------------------------------------- rooted trees
@dataclass(frozen=True, eq=False)
class Tree:
    """A rooted tree, identified by its canonical form `key`.

    `key` is the sorted tuple of the children's keys (a leaf is ``()``), so two trees are equal
    iff their keys are. `order` is rho(t) (number of vertices), `density` gamma(t), `symmetry`
    sigma(t) (the order of its automorphism group; sigma(leaf) = 1 and sigma(t) =
    prod over distinct children u of sigma(u)^m * m!, m the multiplicity of u; HNW I, sec. II.2).
    """

    key: tuple
    children: tuple["Tree", ...] = field(repr=False)
    order: int
    density: int
    symmetry: int
    _hash: int = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and self.key == other.key

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        """Butcher's bracket notation: ``t`` is the one-vertex tree, ``[u, v]`` grafts u and v
        onto a new root; repeated children are written ``u^k``."""
        if not self.children:
            return "t"
        parts: list[str] = []
        i = 0
        while i < len(self.children):
            j = i
            while j < len(self.children) and self.children[j] == self.children[i]:
                j += 1
            parts.append(str(self.children[i]) + (f"^{j - i}" if j - i > 1 else ""))
            i = j
        return "[" + ",".join(parts) + "]"


@lru_cache(maxsize=None)
def tree(key: tuple) -> Tree:
    """The (interned) tree with canonical key `key`; children keys must already be sorted."""
    children = tuple(tree(k) for k in key)
    order = 1 + sum(u.order for u in children)
    density = order
    symmetry = 1
    for u in children:
        density *= u.density
    for k in set(key):
        m = key.count(k)
        symmetry *= tree(k).symmetry ** m * factorial(m)
    return Tree(key=key, children=children, order=order, density=density, symmetry=symmetry,
                _hash=hash(key))


def _graft(key: tuple) -> set[tuple]:
    """Canonical keys of all trees obtained by attaching one new leaf to some vertex of `key`."""
    out = {tuple(sorted(key + ((),)))}
    for i, child in enumerate(key):
        if i and key[i - 1] == child:
            continue  # an identical sibling gives the same trees
        for g in _graft(child):
            out.add(tuple(sorted(key[:i] + (g,) + key[i + 1:])))
    return out


@lru_cache(maxsize=None)
def trees_of_order(n: int) -> tuple[Tree, ...]:
    """All rooted trees with exactly n vertices (each tree of order n arises from one of order
    n - 1 by attaching a leaf; HNW I, sec. II.2), sorted by canonical key."""
    if n < 1:
        raise ValueError(f"tree order must be >= 1, got {n}")
    if n == 1:
        keys: set[tuple] = {()}
    else:
        keys = set()
        for t in trees_of_order(n - 1):
            keys |= _graft(t.key)
    trees = tuple(tree(k) for k in sorted(keys))
    expected = TREE_COUNTS.get(n)
    if expected is not None and len(trees) != expected:
        raise RuntimeError(f"generated {len(trees)} rooted trees of order {n}, expected {expected}")
    return trees


def rooted_trees(max_order: int) -> list[Tree]:
    """All rooted trees with 1..max_order vertices, by increasing order (Butcher 1963;
    HNW I, sec. II.2). Counts are checked against OEIS A000081 up to order 10."""
    return [t for n in range(1, max_order + 1) for t in trees_of_order(n)]


# ------------------------------------------------------------------------------ elementary weights
class _WeightTable:
    """Elementary weights Phi(t) for one matrix A, memoised per tree.

    For speed everything is kept in integers: with D the least common denominator of A and
    A_int = D A, Phi(t) = N(t) / D^(rho(t) - 1) where N(leaf) = 1 and
    N(t) = prod_k A_int N(u_k) (each child contributes rho(u_k) factors of D). No gcd is taken
    until a residual is formed, which keeps order 9 with 16 stages of 25-digit decimals fast.
    """

    def __init__(self, A: ExactMatrix):
        self.s = len(A)
        self.D = lcm(1, *(x.denominator for row in A for x in row))
        # sparse integer rows: explicit tableaus are lower triangular and often have many zeros
        self.rows = tuple(tuple((j, x.numerator * (self.D // x.denominator))
                                for j, x in enumerate(row) if x) for row in A)
        self.num: dict[Tree, tuple[int, ...]] = {}
        self.anum: dict[Tree, tuple[int, ...]] = {}

    def N(self, t: Tree) -> tuple[int, ...]:
        v = self.num.get(t)
        if v is None:
            if not t.children:
                v = (1,) * self.s
            else:
                v = self.AN(t.children[0])
                for u in t.children[1:]:
                    v = tuple(x * y for x, y in zip(v, self.AN(u)))
            self.num[t] = v
        return v

    def AN(self, t: Tree) -> tuple[int, ...]:
        v = self.anum.get(t)
        if v is None:
            p = self.N(t)
            v = tuple(sum(a * p[j] for j, a in row) for row in self.rows)
            self.anum[t] = v
        return v

    def Phi(self, t: Tree) -> tuple[Fraction, ...]:
        den = self.D ** (t.order - 1)
        return tuple(Fraction(x, den) for x in self.N(t))

    def dot(self, w: tuple[tuple[int, ...], int], t: Tree) -> Fraction:
        """sum_i w_i Phi_i(t), exact, for w given as `_int_vector(w)`."""
        wn, wd = w
        return Fraction(sum(x * y for x, y in zip(wn, self.N(t)) if x), wd * self.D ** (t.order - 1))


def _int_vector(w: Vector) -> tuple[tuple[int, ...], int]:
    """(w_int, d) with w = w_int / d, d the least common denominator."""
    d = lcm(1, *(x.denominator for x in w))
    return tuple(x.numerator * (d // x.denominator) for x in w), d


def _as_matrix(A: Matrix) -> ExactMatrix:
    return tuple(tuple(Fraction(x) for x in row) for row in A)


@lru_cache(maxsize=64)
def _table(A: ExactMatrix) -> _WeightTable:
    return _WeightTable(A)


def elementary_weights(A: Matrix, t: Tree) -> tuple[Fraction, ...]:
    """Phi(t), the elementary weight vector of tree t for coefficient matrix A
    (HNW I, sec. II.2), exact."""
    return _table(_as_matrix(A)).Phi(t)


def _abs_tables(A: ExactMatrix, delta: Fraction) -> tuple[_WeightTable, _WeightTable]:
    """Weight tables of |A| and of |A| + delta on A's nonzero pattern."""
    absA = tuple(tuple(abs(x) for x in row) for row in A)
    upA = tuple(tuple(abs(x) + delta if x else _ZERO for x in row) for row in A)
    return _table(absA), _table(upA)


def _bounder(w: Vector, A: ExactMatrix, delta: Fraction) -> Callable[[Tree], Fraction]:
    """t -> sum_i (|w_i| + delta) Phi_i(t; |A| + delta) - sum_i |w_i| Phi_i(t; |A|), summed
    over nonzero w_i, with A perturbed only on its nonzero entries."""
    t_abs, t_up = _abs_tables(A, delta)
    w_abs = _int_vector([abs(x) for x in w])
    w_up = _int_vector([abs(x) + delta if x else _ZERO for x in w])
    return lambda t: t_up.dot(w_up, t) - t_abs.dot(w_abs, t)


# ------------------------------------------------------------------------ conditions for b weights
def order_residuals(A: Matrix, b: Vector, max_order: int) -> list[tuple[Tree, Fraction]]:
    """[(t, sum_i b_i Phi_i(t) - 1/gamma(t))] for every tree with rho(t) <= max_order; all
    residuals up to order p vanish iff (A, b) has order >= p (HNW I, Theorem 2.13)."""
    table = _table(_as_matrix(A))
    w = _int_vector([Fraction(x) for x in b])
    return [(t, table.dot(w, t) - Fraction(1, t.density)) for t in rooted_trees(max_order)]


def residual_bounds(A: Matrix, b: Vector, coefficient_tolerance: Fraction,
                    max_order: int) -> list[tuple[Tree, Fraction]]:
    """[(t, B(t))]: a rigorous bound on how far sum_i b_i Phi_i(t) can be from the value of a
    method whose nonzero coefficients each differ from the given ones by at most delta =
    `coefficient_tolerance` (an entry printed as 0 is a structural zero of the method, not a
    rounded value, and is taken as exact).

    Why this bound (the tolerance used for tableaus printed as rounded decimals): expanding
    Phi, sum_i b_i Phi_i(t) = sum over labellings of b_{i0} * prod_{edges} a_{ij}, a sum of
    monomials with coefficient +1, each a product of rho(t) coefficients (one b and rho(t) - 1
    entries of A). For one monomial, |prod (x_k + e_k) - prod x_k| <= prod (|x_k| + delta) -
    prod |x_k| when every |e_k| <= delta (expand the product: every term that contains an e_k is
    bounded by the same term with |x|'s and delta's). Summing over monomials,

        B(t) = sum_i (|b_i| + delta) Phi_i(t; |A| + delta) - sum_i |b_i| Phi_i(t; |A|),

    where |A| + delta adds delta to the nonzero entries only, computed exactly with the same tree
    recursion. To first order B(t) = delta * K(t), a multiple
    of delta with K(t) <= N_b alpha^(rho-1) + (rho-1) N_A beta alpha^(rho-2) (alpha the largest
    absolute row sum of A, beta = sum |b_i|, N_b and N_A the numbers of nonzero b_i and of nonzero
    entries in a row of A): rounding errors grow with the number of coefficient products in a
    tree, and with the size of the coefficients they multiply. If the tableau is within delta of
    an exact order-p method, every residual of order <= p is at most B(t), so the check never
    rejects it; conversely, an accepted residual means the exact method the decimals
    approximate has |residual| <= 2 B(t).
    """
    delta = Fraction(coefficient_tolerance)
    if not delta:
        return [(t, _ZERO) for t in rooted_trees(max_order)]
    bound = _bounder([Fraction(x) for x in b], _as_matrix(A), delta)
    return [(t, bound(t)) for t in rooted_trees(max_order)]


def _violations(residuals: list[tuple[Tree, Fraction]], bounds: list[tuple[Tree, Fraction]],
                tol: Fraction) -> Violations:
    out: dict[int, list] = {}
    for (t, r), (_, bd) in zip(residuals, bounds):
        if abs(r) > bd + tol:
            out.setdefault(t.order, []).append((t, r, bd + tol))
    return out


def satisfied_order(A: Matrix, b: Vector, tol: Fraction = Fraction(0), max_order: int = 8,
                    coefficient_tolerance: Fraction = Fraction(0)) -> int:
    """Largest p <= max_order such that every tree with rho(t) <= p has
    |sum_i b_i Phi_i(t) - 1/gamma(t)| <= tol + B(t), with B the rounding bound of
    `residual_bounds` for `coefficient_tolerance` (0: exact check). HNW I, Theorem 2.13."""
    v = _violations(order_residuals(A, b, max_order),
                    residual_bounds(A, b, coefficient_tolerance, max_order), Fraction(tol))
    return min(v) - 1 if v else max_order


# ----------------------------------------------------------------------- dense-output conditions
def extended_matrix(tableau: ButcherTableau) -> ExactMatrix:
    """A of the main stages followed by the dense output's extra stages (rows `a_extra`), as one
    square lower-triangular matrix over all s + n_extra stages."""
    if tableau.dense is None:
        raise ValueError(f"{tableau.name} has no dense output")
    n = tableau.stages + len(tableau.dense.c_extra)
    rows = [tuple(row) + (_ZERO,) * (n - len(row)) for row in tableau.a]
    rows += [tuple(row) + (_ZERO,) * (n - len(row)) for row in tableau.dense.a_extra]
    return tuple(rows)


def _dense_columns(tableau: ButcherTableau) -> list[tuple[Fraction, ...]]:
    """Column j of P: the weights multiplying theta^(j+1)."""
    return _columns(tableau.dense.P)


def _columns(P: Matrix) -> list[tuple[Fraction, ...]]:
    return [tuple(Fraction(row[j]) for row in P) for j in range(len(P[0]))]


def dense_order_residuals(tableau: ButcherTableau,
                          max_order: int) -> list[tuple[Tree, tuple[Fraction, ...]]]:
    """[(t, r)] with r[j] the coefficient of theta^(j+1) in
    sum_i b_i(theta) Phi_i(t) - theta^rho(t)/gamma(t) over the extended stages
    (HNW I, sec. II.6, eq. (6.7)); r has max(deg P, rho(t)) entries."""
    return continuous_order_residuals(extended_matrix(tableau), tableau.dense.P, max_order)


def continuous_order_residuals(A: Matrix, P: Matrix,
                               max_order: int) -> list[tuple[Tree, tuple[Fraction, ...]]]:
    """`dense_order_residuals` for a coefficient matrix A over all stages (extra stages
    included, square and lower triangular) and stage polynomials P (one row per stage, column j
    the coefficient of theta^(j+1)), given as data rather than as a `ButcherTableau`."""
    table = _table(_as_matrix(A))
    cols = [_int_vector(col) for col in _columns(P)]
    out = []
    for t in rooted_trees(max_order):
        n = max(len(cols), t.order)
        r = [(table.dot(cols[j], t) if j < len(cols) else _ZERO) for j in range(n)]
        r[t.order - 1] -= Fraction(1, t.density)
        out.append((t, tuple(r)))
    return out


def dense_residual_bounds(tableau: ButcherTableau, max_order: int,
                          coefficient_tolerance: Fraction | None = None,
                          ) -> list[tuple[Tree, tuple[Fraction, ...]]]:
    """Per-coefficient rounding bounds for `dense_order_residuals`, as in `residual_bounds`
    with each column of P playing the part of b."""
    delta = Fraction(tableau.coefficient_tolerance if coefficient_tolerance is None
                     else coefficient_tolerance)
    return continuous_residual_bounds(extended_matrix(tableau), tableau.dense.P, delta, max_order)


def continuous_residual_bounds(A: Matrix, P: Matrix, coefficient_tolerance: Fraction,
                               max_order: int) -> list[tuple[Tree, tuple[Fraction, ...]]]:
    """`dense_residual_bounds` for A and P given as data (see `continuous_order_residuals`)."""
    delta = Fraction(coefficient_tolerance)
    cols = _columns(P)
    trees = rooted_trees(max_order)
    if not delta:
        return [(t, (_ZERO,) * max(len(cols), t.order)) for t in trees]
    bounds = [_bounder(col, _as_matrix(A), delta) for col in cols]
    out = []
    for t in trees:
        n = max(len(cols), t.order)
        out.append((t, tuple(bounds[j](t) if j < len(cols) else _ZERO for j in range(n))))
    return out


def _dense_violations(tableau: ButcherTableau, max_order: int, tol: Fraction,
                      coefficient_tolerance: Fraction | None) -> Violations:
    out: dict[int, list] = {}
    for (t, r), (_, bd) in zip(dense_order_residuals(tableau, max_order),
                               dense_residual_bounds(tableau, max_order, coefficient_tolerance)):
        worst = max(range(len(r)), key=lambda j: abs(r[j]) - bd[j])
        if abs(r[worst]) > bd[worst] + tol:
            out.setdefault(t.order, []).append((t, r[worst], bd[worst] + tol))
    return out


def satisfied_dense_order(tableau: ButcherTableau, tol: Fraction = Fraction(0), max_order: int = 8,
                          coefficient_tolerance: Fraction | None = None) -> int:
    """Largest p* <= max_order such that the continuous order conditions (HNW I, eq. (6.7)) hold
    for all trees with rho(t) <= p*, every theta-coefficient within tol + its rounding bound
    (`coefficient_tolerance` defaults to the tableau's)."""
    v = _dense_violations(tableau, max_order, Fraction(tol), coefficient_tolerance)
    return min(v) - 1 if v else max_order


# ----------------------------------------------------------------------------------- tableau check
@dataclass(frozen=True)
class OrderCheck:
    """One weight set of a tableau checked against its claimed order.

    `satisfied` is the largest p <= claimed + 1 whose conditions all hold, so `satisfied ==
    claimed + 1` means the order is at least one higher than claimed. `violation` is the worst
    failing condition of order satisfied + 1: (tree, residual, allowed).
    """

    weights: str
    claimed: int
    satisfied: int
    violation: tuple[Tree, Fraction, Fraction] | None

    @property
    def ok(self) -> bool:
        return self.satisfied == self.claimed

    def __str__(self) -> str:
        s = f"{self.weights}: claimed order {self.claimed}, "
        if self.satisfied > self.claimed:
            s += f"conditions hold up to order {self.satisfied} (order higher than claimed)"
        else:
            s += f"conditions hold up to order {self.satisfied}"
        if self.violation is not None:
            t, r, allowed = self.violation
            s += (f"; tree {t} (order {t.order}) has residual {float(r):.3e}"
                  f" (allowed {float(allowed):.3e})")
        return s + ("" if self.ok else "  <-- MISMATCH")


@dataclass(frozen=True)
class TableauReport:
    """Result of `check_tableau`: one `OrderCheck` per weight set (b, b_hat, b_hat_secondary,
    dense)."""

    name: str
    coefficient_tolerance: Fraction
    checks: tuple[OrderCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __getitem__(self, weights: str) -> OrderCheck:
        for c in self.checks:
            if c.weights == weights:
                return c
        raise KeyError(weights)

    def __str__(self) -> str:
        head = f"{self.name} (coefficient tolerance {float(self.coefficient_tolerance):.1e}): "
        head += "OK" if self.ok else "FAILED"
        return "\n".join([head] + ["  " + str(c) for c in self.checks])


def _worst(violations: Violations, order: int) -> tuple[Tree, Fraction, Fraction] | None:
    cands = violations.get(order, [])
    return max(cands, key=lambda v: abs(v[1]) - v[2]) if cands else None


def check_tableau(tableau: ButcherTableau) -> TableauReport:
    """Check every order a tableau claims: b has order `order`, b_hat `embedded_order`,
    b_hat_secondary `secondary_order`, the dense output `dense.order` -- each exactly, i.e. the
    conditions hold up to the claimed order and some condition of the next order fails.

    Tolerance: 0 for exact rational tableaus; for decimal ones (coefficient_tolerance delta > 0)
    each residual is allowed the rigorous rounding bound B(t) of `residual_bounds` (a multiple
    of delta growing with the number of coefficient products in the tree), which accepts any
    tableau within delta of an exact method of the claimed order.
    """
    delta = tableau.coefficient_tolerance
    checks = []
    for label, w, claimed in (("b", tableau.b, tableau.order),
                              ("b_hat", tableau.b_hat, tableau.embedded_order),
                              ("b_hat_secondary", tableau.b_hat_secondary, tableau.secondary_order)):
        if w is None:
            continue
        top = claimed + 1
        v = _violations(order_residuals(tableau.a, w, top),
                        residual_bounds(tableau.a, w, delta, top), _ZERO)
        sat = min(v) - 1 if v else top
        checks.append(OrderCheck(label, claimed, sat, _worst(v, sat + 1)))
    if tableau.dense is not None:
        top = tableau.dense.order + 1
        v = _dense_violations(tableau, top, _ZERO, delta)
        sat = min(v) - 1 if v else top
        checks.append(OrderCheck("dense", tableau.dense.order, sat, _worst(v, sat + 1)))
    return TableauReport(tableau.name, delta, tuple(checks))
