"""Order conditions of every tableau in `reference.tableaus.TABLEAUS`, checked three ways:

* exactly, by `reference.order_conditions` (rooted trees, Fraction arithmetic): every claimed
  order (b, embedded, secondary, dense output) holds and is exact -- one order higher fails;
* independently, by nodepy (its own tree enumeration and order-condition code), in floats and,
  for rational tableaus, exactly with sympy Rationals;
* by mutants: perturbed tableaus must lose order, and inconsistent ones must not construct.

Tolerances: exact rational tableaus are checked with tolerance 0. Decimal tableaus (coefficient
tolerance delta > 0) use the rigorous per-tree rounding bound B(t) of
`order_conditions.residual_bounds` (see its docstring): a residual within B(t) is what rounding
every nonzero coefficient by at most delta can produce, so a tableau within delta of an exact
method always passes. Every other tolerance below carries a comment with its reason.
"""

from __future__ import annotations

import dataclasses
import random
from fractions import Fraction
from math import factorial

import numpy as np
import pytest

from reference import order_conditions as oc
from reference.tableau import ButcherTableau, TableauError
from reference.tableaus import TABLEAUS

NAMES = sorted(TABLEAUS)

# A perturbation that must be detected. 1e-3 is far above every tableau's rounding bound at the
# orders where the mutants bite (order <= 3: B(t) <= 4e-10 for tsit5 and dop853, dense output
# included; 0 for the rational tableaus) and far below the coefficients themselves, so each mutant is a small
# change that any correct check catches, not a gross one.
EPS = Fraction(1, 1000)


def _weight_sets(t: ButcherTableau):
    out = [("b", t.b, t.order)]
    if t.b_hat is not None:
        out.append(("b_hat", t.b_hat, t.embedded_order))
    if t.b_hat_secondary is not None:
        out.append(("b_hat_secondary", t.b_hat_secondary, t.secondary_order))
    return out


WEIGHT_CASES = [pytest.param(n, label, id=f"{n}-{label}")
                for n in NAMES for label, _, _ in _weight_sets(TABLEAUS[n])]
DENSE_NAMES = [n for n in NAMES if TABLEAUS[n].dense is not None]


def _weights(name: str, label: str):
    t = TABLEAUS[name]
    return {lab: (w, p) for lab, w, p in _weight_sets(t)}[label]


def _replace(t: ButcherTableau, **changes) -> ButcherTableau:
    """A modified copy; constructing it re-runs the tableau's consistency checks."""
    return dataclasses.replace(t, **changes)


def _set(vec, i, value):
    v = list(vec)
    v[i] = value
    return tuple(v)


def _set2(mat, i, j, value):
    return _set(mat, i, _set(mat[i], j, value))


# ===================================================================================== rooted trees
def test_tree_counts_per_order():
    assert [len(oc.trees_of_order(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]
    assert len(oc.rooted_trees(8)) == 200  # = 1 + 1 + 2 + 4 + 9 + 20 + 48 + 115


def test_tree_counts_match_recurrence():
    """Counts from the generating-function recurrence of rooted trees (Cayley 1857; OEIS A000081):
    a(n+1) = (1/n) sum_{k=1..n} (sum_{d | k} d a(d)) a(n-k+1) -- independent of the generator."""
    a = {1: 1}
    for n in range(1, 10):
        s = sum(sum(d * a[d] for d in range(1, k + 1) if k % d == 0) * a[n - k + 1]
                for k in range(1, n + 1))
        assert s % n == 0
        a[n + 1] = s // n
    assert [len(oc.trees_of_order(n)) for n in range(1, 11)] == [a[n] for n in range(1, 11)]


def test_trees_are_distinct_and_canonical():
    trees = oc.rooted_trees(8)
    assert len({t.key for t in trees}) == len(trees)

    def canonical(key):
        return list(key) == sorted(key) and all(canonical(k) for k in key)

    assert all(canonical(t.key) for t in trees)
    assert all(t.order == 1 + sum(u.order for u in t.children) for t in trees)


@pytest.mark.parametrize("n", range(1, 9))
def test_density_and_symmetry_counting_identities(n):
    """Two classical counts check gamma and sigma on every tree of order n:
    n!/sigma(t) is the number of labellings of t, and rooted labelled trees on n vertices number
    n^(n-1) (Cayley); n!/(sigma(t) gamma(t)) is the number of monotonic labellings (HNW I,
    sec. II.2), and increasing trees on n vertices number (n-1)!."""
    trees = oc.trees_of_order(n)
    assert sum(Fraction(factorial(n), t.symmetry) for t in trees) == n ** (n - 1)
    assert sum(Fraction(factorial(n), t.symmetry * t.density) for t in trees) == factorial(n - 1)


def test_small_trees_and_elementary_weights():
    """The order-4 trees and their densities (HNW I, sec. II.2) and Phi against the explicit
    sums of the order conditions, for DOPRI5."""
    dens = sorted(t.density for t in oc.trees_of_order(4))
    assert dens == [4, 8, 12, 24]
    tall = oc.tree(((((),),),))        # [[[t]]]
    bushy = oc.tree(((), (), ()))      # [t, t, t]
    assert (tall.density, bushy.density, str(tall), str(bushy)) == (24, 4, "[[[t]]]", "[t^3]")
    assert tall.symmetry == 1 and bushy.symmetry == 6
    t = TABLEAUS["dopri5"]
    A, c, s = t.a, t.c, t.stages
    Ac = [sum(A[i][j] * c[j] for j in range(s)) for i in range(s)]
    AAc = [sum(A[i][j] * Ac[j] for j in range(s)) for i in range(s)]
    assert oc.elementary_weights(A, oc.tree(((),))) == tuple(c)               # [t]: c_i
    assert oc.elementary_weights(A, bushy) == tuple(x ** 3 for x in c)         # c_i^3
    assert oc.elementary_weights(A, tall) == tuple(AAc)                        # (A A c)_i
    assert oc.elementary_weights(A, oc.tree(((), ((),)))) == tuple(x * y for x, y in zip(c, Ac))


# ============================================================ claimed orders hold and are exact
@pytest.mark.parametrize("name,label", WEIGHT_CASES)
def test_claimed_order_holds_and_is_exact(name, label):
    t = TABLEAUS[name]
    w, p = _weights(name, label)
    delta = t.coefficient_tolerance
    res = oc.order_residuals(t.a, w, p + 1)
    bnd = oc.residual_bounds(t.a, w, delta, p + 1)
    below = [(tr, r, bd) for (tr, r), (_, bd) in zip(res, bnd) if tr.order <= p]
    above = [(tr, r, bd) for (tr, r), (_, bd) in zip(res, bnd) if tr.order == p + 1]
    if delta == 0:
        # exact rational coefficients: tolerance 0, the conditions hold identically
        assert all(r == 0 for _, r, _ in below), [(str(tr), r) for tr, r, _ in below if r]
    bad = [(str(tr), float(r), float(bd)) for tr, r, bd in below if abs(r) > bd]
    assert not bad, f"{name} {label}: conditions of order <= {p} violated: {bad}"
    assert any(abs(r) > bd for _, r, bd in above), f"{name} {label} has order > {p}"
    assert oc.satisfied_order(t.a, w, max_order=p + 1, coefficient_tolerance=delta) == p


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_dense_output_order_holds_and_is_exact(name):
    t = TABLEAUS[name]
    p = t.dense.order
    res = oc.dense_order_residuals(t, p + 1)
    bnd = oc.dense_residual_bounds(t, p + 1)
    below = [(tr, r, bd) for (tr, r), (_, bd) in zip(res, bnd) if tr.order <= p]
    if t.coefficient_tolerance == 0:
        # exact rational coefficients: every theta-coefficient vanishes identically
        assert all(x == 0 for _, r, _ in below for x in r)
    assert all(abs(x) <= y for _, r, bd in below for x, y in zip(r, bd))
    assert oc.satisfied_dense_order(t, max_order=p + 1) == p


@pytest.mark.parametrize("name", NAMES)
def test_check_tableau_report(name):
    t = TABLEAUS[name]
    report = oc.check_tableau(t)
    assert report.ok, str(report)
    expected = {lab: p for lab, _, p in _weight_sets(t)}
    if t.dense is not None:
        expected["dense"] = t.dense.order
    assert {c.weights: c.satisfied for c in report.checks} == expected
    # each check names the condition of order claimed + 1 that fails
    assert all(c.violation is not None and c.violation[0].order == c.claimed + 1
               for c in report.checks)
    assert name in str(report) and "MISMATCH" not in str(report)


@pytest.mark.parametrize("name", [n for n in NAMES if TABLEAUS[n].order >= 2])
def test_check_tableau_rejects_an_understated_order(name):
    """The claimed order must be the exact order, not merely a lower bound."""
    report = oc.check_tableau(_replace(TABLEAUS[name], order=TABLEAUS[name].order - 1))
    assert not report.ok
    assert report["b"].satisfied == TABLEAUS[name].order  # = claimed + 1: "higher than claimed"


# ==================================================================== the rounding bound itself
def test_rounding_bound_is_attained_for_a_nonnegative_tableau():
    """For RK4 (all coefficients >= 0) raising every nonzero coefficient by delta changes each
    sum_i b_i Phi_i(t) by exactly B(t): the bound is sharp, not merely safe."""
    t, delta = TABLEAUS["rk4"], Fraction(1, 10 ** 6)
    A = tuple(tuple(x + delta if x else x for x in row) for row in t.a)
    b = tuple(x + delta if x else x for x in t.b)
    res = oc.order_residuals(A, b, 4)
    bnd = oc.residual_bounds(A, b, delta, 4)
    # the bound is computed from the perturbed coefficients, so it is a little larger than the
    # change it must cover; it is never smaller
    assert all(0 < r <= bd for (_, r), (_, bd) in zip(res, bnd))
    ref = oc.residual_bounds(t.a, t.b, delta, 4)
    assert all(r == bd for (_, r), (_, bd) in zip(res, ref))


def test_rounding_bound_covers_random_roundings_of_dopri5():
    """Round DOPRI5's exact coefficients at random within delta: the order-5 conditions still
    pass with the bound (and fail without it), and order 6 still fails."""
    t, delta = TABLEAUS["dopri5"], Fraction(1, 10 ** 12)
    rng = random.Random(20240601)

    def rnd(x):
        return x + Fraction(rng.randint(-10 ** 6, 10 ** 6), 10 ** 6) * delta if x else x

    A = tuple(tuple(rnd(x) for x in row) for row in t.a)
    b = tuple(rnd(x) for x in t.b)
    assert oc.satisfied_order(A, b, max_order=6, coefficient_tolerance=delta) == 5
    assert oc.satisfied_order(A, b, max_order=6) < 5


# ============================================================== independent route: nodepy
# nodepy evaluates its order conditions in float64. Residuals of conditions that hold come out
# below 1e-13 for every tableau here (float64 rounding of coefficients up to ~12 in size, and
# of the theta-scaled dense methods below, which amplify by theta^-rho <= 2^8); the largest
# residual of the first failing order is >= 2.7e-5 (DOP853's order-9 trees are the smallest).
# NODEPY_TOL = 1e-9 sits four decades from both; the guards in the tests re-check the second
# margin from the exact residuals, so a new tableau that breaks it fails loudly.
NODEPY_TOL = 1e-9


def _float(m):
    return np.array([[float(x) for x in row] for row in m], dtype=np.float64)


def _nodepy_order(A, b) -> int:
    rk = pytest.importorskip("nodepy.runge_kutta_method")
    method = rk.ExplicitRungeKuttaMethod(A=np.asarray(A, dtype=np.float64),
                                         b=np.array([float(x) for x in b], dtype=np.float64))
    return method.order(tol=NODEPY_TOL)


@pytest.mark.parametrize("name,label", WEIGHT_CASES)
def test_nodepy_float_order_agrees(name, label):
    t = TABLEAUS[name]
    w, p = _weights(name, label)
    top = [abs(r) for tr, r in oc.order_residuals(t.a, w, p + 1) if tr.order == p + 1]
    assert max(top) > 1000 * NODEPY_TOL  # guard: the failing order is visible in floats
    assert _nodepy_order(_float(t.a), w) == p


@pytest.mark.parametrize("name,label", [c for c in WEIGHT_CASES
                                        if TABLEAUS[c.values[0]].coefficient_tolerance == 0])
def test_nodepy_exact_order_agrees(name, label):
    """Rational tableaus in exact sympy arithmetic: tolerance 0, as in our exact check."""
    sympy = pytest.importorskip("sympy")
    rk = pytest.importorskip("nodepy.runge_kutta_method")
    t = TABLEAUS[name]
    w, p = _weights(name, label)
    R = lambda x: sympy.Rational(x.numerator, x.denominator)  # noqa: E731
    method = rk.ExplicitRungeKuttaMethod(
        A=np.array([[R(x) for x in row] for row in t.a], dtype=object),
        b=np.array([R(x) for x in w], dtype=object))
    assert method.order(mode="exact", tol=0) == p


# theta = 1/2, 2/3, 9/10: generic points inside the step (theta = 1 is the step's own solution,
# which has the higher order p; small theta amplifies float error by theta^-rho).
THETAS = (Fraction(1, 2), Fraction(2, 3), Fraction(9, 10))


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_nodepy_dense_order_agrees(name):
    """The dense output at a fixed theta is itself a Runge-Kutta step of size theta h with
    coefficients (A_ext / theta, b(theta) / theta): Phi(t; A/theta) = Phi(t; A) theta^(1-rho),
    so its order conditions are exactly eq. (6.7) at that theta. nodepy must find order p*
    at every theta checked, and not p* + 1 at some theta (an identity in theta can fail at
    a particular point only if it fails as an identity, so this is a one-sided but independent
    check of the exactness)."""
    t = TABLEAUS[name]
    p = t.dense.order
    A = _float(oc.extended_matrix(t))
    res = oc.dense_order_residuals(t, p + 1)
    orders = []
    for theta in THETAS:
        b_theta = [sum(x * theta ** (j + 1) for j, x in enumerate(row)) for row in t.dense.P]
        # guard: at this theta some order-(p*+1) condition of the scaled method visibly fails
        scaled = [abs(sum(x * theta ** (j + 1) for j, x in enumerate(r))) / theta ** tr.order
                  for tr, r in res if tr.order == p + 1]
        assert max(scaled) > 1000 * NODEPY_TOL
        orders.append(_nodepy_order(A / float(theta), [x / theta for x in b_theta]))
    assert orders == [p] * len(THETAS)


# ============================================================ mutants: the checks can fail
def _distinct_c_pair(t: ButcherTableau, w=None):
    """Stages (i, j) with c_i != c_j (and w_i != w_j when w is given)."""
    for i in range(t.stages):
        for j in range(i + 1, t.stages):
            if t.c[i] != t.c[j] and (w is None or w[i] != w[j]):
                return i, j
    return None


MUTABLE_CASES = [c for c in WEIGHT_CASES if _weights(*c.values)[1] >= 2]


@pytest.mark.parametrize("name,label", MUTABLE_CASES)
def test_moving_weight_between_two_stages_lowers_order(name, label):
    """w_i -= 1e-3, w_j += 1e-3 with c_i != c_j keeps sum(w) but changes sum_k w_k c_k by
    1e-3 (c_j - c_i): the order drops to exactly 1 (rk4 and dopri5 included)."""
    t = TABLEAUS[name]
    w, p = _weights(name, label)
    i, j = _distinct_c_pair(t)
    m = _set(_set(w, i, w[i] - EPS), j, w[j] + EPS)
    assert sum(m) == sum(w)
    assert oc.satisfied_order(t.a, m, max_order=p + 1,
                              coefficient_tolerance=t.coefficient_tolerance) == 1


SWAPPABLE_CASES = [c for c in MUTABLE_CASES  # heun2's b = (1/2, 1/2) has no two weights to swap
                   if _distinct_c_pair(TABLEAUS[c.values[0]], _weights(*c.values)[0])]


@pytest.mark.parametrize("name,label", SWAPPABLE_CASES)
def test_swapping_two_weights_lowers_order(name, label):
    """Swapping w_i and w_j (c_i != c_j, w_i != w_j) changes sum_k w_k c_k by
    (w_j - w_i)(c_i - c_j) != 0: order 1."""
    t = TABLEAUS[name]
    w, p = _weights(name, label)
    i, j = _distinct_c_pair(t, w)
    m = _set(_set(w, i, w[j]), j, w[i])
    assert oc.satisfied_order(t.a, m, max_order=p + 1,
                              coefficient_tolerance=t.coefficient_tolerance) == 1


def _row_mutant(t: ButcherTableau):
    """a_rj += 1e-3, a_rk -= 1e-3 in a row r with b_r != 0 and c_j != c_k: row sums (so the
    order <= 2 conditions) are unchanged, sum_i b_i (A c)_i changes by 1e-3 b_r (c_j - c_k)."""
    last = t.stages - 1 if t.fsal else t.stages  # the FSAL row must stay equal to b
    for r in range(last):
        if t.b[r] == 0:
            continue
        for j in range(r):
            for k in range(j + 1, r):
                if t.c[j] != t.c[k]:
                    a = _set2(_set2(t.a, r, j, t.a[r][j] + EPS), r, k, t.a[r][k] - EPS)
                    return _replace(t, a=a)
    return None


@pytest.mark.parametrize("name", [n for n in NAMES if TABLEAUS[n].order >= 3])
def test_perturbing_a_within_a_row_lowers_order(name):
    mutant = _row_mutant(TABLEAUS[name])
    assert mutant is not None  # constructs: it is a consistent tableau, just a worse method
    assert oc.satisfied_order(mutant.a, mutant.b, max_order=mutant.order + 1,
                              coefficient_tolerance=mutant.coefficient_tolerance) == 2
    report = oc.check_tableau(mutant)
    assert not report.ok and report["b"].satisfied == 2
    assert "MISMATCH" in str(report)


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_dense_output_mutant_lowers_dense_order(name):
    """Move 1e-3 of the theta^1 coefficient from stage i to stage j and back through the theta^2
    coefficient: every b_k(1) = b_k and sum_k b_k(theta) = theta still hold (the tableau
    constructs), but sum_k b_k(theta) c_k gains 1e-3 (c_j - c_i)(theta - theta^2): order 1."""
    t = TABLEAUS[name]
    i, j = _distinct_c_pair(t)
    P = t.dense.P
    P = _set2(_set2(P, i, 0, P[i][0] - EPS), j, 0, P[j][0] + EPS)
    P = _set2(_set2(P, i, 1, P[i][1] + EPS), j, 1, P[j][1] - EPS)
    mutant = _replace(t, dense=dataclasses.replace(t.dense, P=P))
    assert oc.satisfied_dense_order(mutant, max_order=t.dense.order + 1) == 1
    report = oc.check_tableau(mutant)
    assert report["dense"].satisfied == 1 and report["b"].ok and not report.ok


# ======================================================= mutants: inconsistent data won't build
@pytest.mark.parametrize("name", [n for n in NAMES if TABLEAUS[n].stages >= 2])
def test_row_of_a_not_summing_to_c_raises(name):
    t = TABLEAUS[name]
    with pytest.raises(TableauError, match="row 1 of a sums to"):
        _replace(t, c=_set(t.c, 1, t.c[1] + EPS))


@pytest.mark.parametrize("name", [n for n in NAMES if _distinct_c_pair(TABLEAUS[n])])
def test_swapping_two_nodes_raises(name):
    t = TABLEAUS[name]
    i, j = _distinct_c_pair(t)
    with pytest.raises(TableauError, match="of a sums to"):
        _replace(t, c=_set(_set(t.c, i, t.c[j]), j, t.c[i]))


@pytest.mark.parametrize("name", NAMES)
def test_weights_not_summing_to_one_raise(name):
    t = TABLEAUS[name]
    with pytest.raises(TableauError, match=r"sum\(b\) = "):
        _replace(t, b=_set(t.b, 0, t.b[0] + EPS))


@pytest.mark.parametrize("name,label", [c for c in WEIGHT_CASES if c.values[1] != "b"])
def test_embedded_weights_not_summing_like_b_raise(name, label):
    t = TABLEAUS[name]
    w, _ = _weights(name, label)
    with pytest.raises(TableauError, match=rf"sum\(b - {label}\)"):
        _replace(t, **{label: _set(w, 0, w[0] + EPS)})


@pytest.mark.parametrize("name", [n for n in NAMES if TABLEAUS[n].stages >= 2])
def test_nonzero_above_diagonal_raises(name):
    """a_01 != 0 (stage 1 would use stage 2), with c_0 moved along so the row sum still
    matches: only explicitness fails."""
    t = TABLEAUS[name]
    with pytest.raises(TableauError, match="on or above the diagonal"):
        _replace(t, a=_set2(t.a, 0, 1, EPS), c=_set(t.c, 0, EPS))


@pytest.mark.parametrize("name", [n for n in NAMES if TABLEAUS[n].stages >= 2])
def test_nonzero_on_diagonal_raises(name):
    """a_11 += 1e-3, a_10 -= 1e-3 (an implicit stage; the row sum is unchanged)."""
    t = TABLEAUS[name]
    a = _set2(_set2(t.a, 1, 1, EPS), 1, 0, t.a[1][0] - EPS)
    with pytest.raises(TableauError, match="on or above the diagonal"):
        _replace(t, a=a)


@pytest.mark.parametrize("name", [n for n in NAMES if not TABLEAUS[n].fsal])
def test_fsal_flag_on_non_fsal_tableau_raises(name):
    with pytest.raises(TableauError, match="FSAL needs"):
        _replace(TABLEAUS[name], fsal=True)


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_dense_output_not_meeting_b_at_theta_1_raises(name):
    """Move 1e-3 of the theta^1 coefficient between two stages: sum_k b_k(theta) = theta still
    holds, but b_i(1) != b_i."""
    t = TABLEAUS[name]
    P = t.dense.P
    P = _set2(_set2(P, 0, 0, P[0][0] - EPS), 1, 0, P[1][0] + EPS)
    with pytest.raises(TableauError, match=r"dense output b_0\(1\)"):
        _replace(t, dense=dataclasses.replace(t.dense, P=P))


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_dense_output_not_summing_to_theta_raises(name):
    """Move 1e-3 within one stage polynomial from theta^1 to theta^2: b_0(1) is kept, but
    sum_k b_k(theta) != theta."""
    t = TABLEAUS[name]
    P = t.dense.P
    P = _set2(_set2(P, 0, 0, P[0][0] - EPS), 0, 1, P[0][1] + EPS)
    with pytest.raises(TableauError, match=r"sum_i b_i\(theta\) != theta"):
        _replace(t, dense=dataclasses.replace(t.dense, P=P))


@pytest.mark.parametrize("name", [n for n in DENSE_NAMES if TABLEAUS[n].dense.c_extra])
def test_extra_stage_row_not_summing_to_its_node_raises(name):
    t = TABLEAUS[name]
    c_extra = _set(t.dense.c_extra, 0, t.dense.c_extra[0] + EPS)
    with pytest.raises(TableauError, match="extra stage 0 row sums"):
        _replace(t, dense=dataclasses.replace(t.dense, c_extra=c_extra))
