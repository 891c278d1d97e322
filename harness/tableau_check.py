"""``ode-harness tableau FILE``: does a user's Butcher tableau have the order it claims?

    ode-harness tableau my_method.json [--no-convergence] [--profile P] [--all-trees] ...
    ode-harness tableau mypkg.methods:MY_TABLEAU        (a ButcherTableau or a dict, see below)

In the spirit of DiffEqDevTools' ``check_tableau``, but it says which rooted trees fail and by
how much. Three stages:

1. Input and consistency (exit 2 on failure, one line naming the entry): A square and strictly
   lower triangular (explicit), b / c / b_hat of length s, every entry a number, c equal to the
   row sums of A, a dense output's b_i(1) equal to b_i.
2. Order conditions (`reference.order_conditions`, HNW I, Theorem 2.13 and eq. (6.7)) of b, of
   the embedded weights b_hat and of the dense output, in exact `Fraction` arithmetic; for
   decimal entries each residual is allowed the rigorous rounding bound B(t) of
   `reference.order_conditions.residual_bounds` for the coefficient tolerance delta.
3. The convergence-order suite (suites/test_convergence_order.py) on the tableau through the
   reference engine (`reference.odeint(..., method=ButcherTableau)`), via `odeint` below, an
   implementation under test that reads the tableau named by $ODE_HARNESS_TABLEAU; the claims
   come from the verified orders.

Exit status: 0 every claimed order is the true order (with no claim: the true order is
reported) and the convergence suite passed; 1 a claim fails or a convergence check fails; 2 bad
input.

The JSON format (indices 0-based; entries are JSON numbers or strings: "1/6", "-3", "0.25",
"1.5e-3"):

    {
      "name": "rk4",                         optional (default: the file name)
      "source": "Kutta (1901)",              optional citation
      "A": [[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]],   s x s, required
      "b": ["1/6", "1/3", "1/3", "1/6"],     required
      "c": [0, "1/2", "1/2", 1],             optional (default: the row sums of A)
      "order": 4,                            optional claim for b
      "b_hat": [...],                        optional embedded weights (alias "embedded"): adaptive
      "embedded_order": 3,                   optional claim for b_hat
      "b_hat_secondary": [...],              optional second embedded solution (DOP853's 3rd
      "secondary_order": 3,                  order one) and its claim; needs b_hat
      "error_order": 3,                      optional (default: min of the verified orders)
      "dense": {                             optional continuous extension
        "P": [[...], ...],                   one row per stage (extra stages last), column j the
                                             coefficient of theta^(j+1) in b_i(theta)
        "order": 3,                          optional claim
        "A_extra": [[...]], "c_extra": [...] optional extra stages, row r with s + r entries
      },
      "coefficient_tolerance": "1e-14"       optional rounding of decimal entries (see below)
    }

Coefficient tolerance delta: the given one; else 0 when every entry is exact (an integer or a
"p/q" string); else 2^-52 max|x| over the decimal entries, i.e. decimals are taken to be float64
values of the exact coefficients printed with all their digits (half an ulp of rounding to
float64 plus half an ulp of printing, each <= 2^-53 |x|). A tableau printed with fewer digits
must say how many by its coefficient_tolerance (Tsitouras's 16 digits: 1e-14, see
reference.tableaus).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

from reference.order_conditions import (TREE_COUNTS, Tree, continuous_order_residuals,
                                        continuous_residual_bounds, order_residuals, residual_bounds,
                                        trees_of_order)
from reference.order_conditions import Matrix
from reference.tableau import ButcherTableau, DenseOutput, TableauError

TABLEAU_ENV = "ODE_HARNESS_TABLEAU"
MAX_ORDER = max(TREE_COUNTS)  # rooted trees are generated and count-checked up to order 10
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Decimal entries without a stated tolerance: float64 values printed in full (module docstring).
FLOAT64_ROUNDING = Fraction(1, 2 ** 52)

_RATIONAL = re.compile(r"[+-]?\d+(/\d+)?")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_KEYS = ("name", "source", "A", "b", "c", "order", "b_hat", "embedded", "embedded_order",
         "b_hat_secondary", "secondary_order",
         "error_order", "dense", "coefficient_tolerance")
_DENSE_KEYS = ("P", "order", "A_extra", "c_extra")


class TableauInputError(ValueError):
    """Bad tableau input; the message is one line naming the entry (exit 2)."""


class _Decimal(str):
    """The text of a JSON number with a fraction or an exponent (kept exact, marked decimal)."""


# --------------------------------------------------------------------------- the tableau as data
@dataclass(frozen=True)
class TableauSpec:
    """A user's tableau, parsed and checked for consistency, with its order claims (None: none)."""

    name: str
    A: tuple[tuple[Fraction, ...], ...]
    b: tuple[Fraction, ...]
    c: tuple[Fraction, ...]
    order: int | None = None
    b_hat: tuple[Fraction, ...] | None = None
    embedded_order: int | None = None
    b_hat_secondary: tuple[Fraction, ...] | None = None
    secondary_order: int | None = None
    error_order: int | None = None
    P: tuple[tuple[Fraction, ...], ...] | None = None
    dense_order: int | None = None
    A_extra: tuple[tuple[Fraction, ...], ...] = ()
    c_extra: tuple[Fraction, ...] = ()
    coefficient_tolerance: Fraction = Fraction(0)
    tolerance_reason: str = "exact entries"
    source: str = ""

    @property
    def stages(self) -> int:
        return len(self.c)

    def extended_A(self) -> tuple[tuple[Fraction, ...], ...]:
        """A over the main and the extra stages, square and lower triangular."""
        n = self.stages + len(self.c_extra)
        rows = list(self.A) + list(self.A_extra)
        return tuple(tuple(r) + (Fraction(0),) * (n - len(r)) for r in rows)


class _Reader:
    """Turns JSON-like data into Fractions, naming each entry in errors; notes decimal entries."""

    def __init__(self) -> None:
        self.decimal_max = Fraction(-1)  # largest |x| over the decimal entries; -1: none

    def number(self, x: Any, where: str) -> Fraction:
        if isinstance(x, Fraction):
            return x
        if isinstance(x, bool) or x is None or isinstance(x, (list, dict)):
            raise TableauInputError(f"{where}: not a number: {json.dumps(x)}")
        if isinstance(x, int):
            return Fraction(x)
        if isinstance(x, float):
            if not math.isfinite(x):
                raise TableauInputError(f"{where}: not a finite number: {x!r}")
            x = _Decimal(repr(x))
        if not isinstance(x, str):
            raise TableauInputError(f"{where}: not a number: {x!r}")
        text = x.strip()
        if not isinstance(x, _Decimal) and _RATIONAL.fullmatch(text):
            num, _, den = text.partition("/")
            if den and int(den) == 0:
                raise TableauInputError(f"{where}: zero denominator: {x!r}")
            return Fraction(text)
        if _DECIMAL.fullmatch(text):
            v = Fraction(text)
            self.decimal_max = max(self.decimal_max, abs(v))
            return v
        raise TableauInputError(f"{where}: not a number: {x!r}")

    def vector(self, xs: Any, where: str, n: int | None = None) -> tuple[Fraction, ...]:
        if not isinstance(xs, (list, tuple)):
            raise TableauInputError(f"{where}: expected a list of numbers, got {json.dumps(xs, default=str)[:60]}")
        if n is not None and len(xs) != n:
            raise TableauInputError(f"{where}: {len(xs)} entries for {n} stages")
        return tuple(self.number(x, f"{where}[{i}]") for i, x in enumerate(xs))

    def matrix(self, rows: Any, where: str, widths: Sequence[int], what: str) -> tuple[tuple[Fraction, ...], ...]:
        if not isinstance(rows, (list, tuple)):
            raise TableauInputError(f"{where}: expected a list of rows, got {json.dumps(rows, default=str)[:60]}")
        if len(rows) != len(widths):
            raise TableauInputError(f"{where}: {len(rows)} rows, {what}")
        out = []
        for i, (row, w) in enumerate(zip(rows, widths)):
            if not isinstance(row, (list, tuple)):
                raise TableauInputError(f"{where}[{i}]: expected a row (a list of numbers), got "
                                        f"{json.dumps(row, default=str)[:60]}")
            if len(row) != w:
                raise TableauInputError(f"{where}[{i}]: {len(row)} entries, {what}")
            out.append(tuple(self.number(x, f"{where}[{i}][{j}]") for j, x in enumerate(row)))
        return tuple(out)


def _claim(data: dict, key: str, where: str = "") -> int | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise TableauInputError(f"{where}{key}: an order claim must be a positive integer, got {json.dumps(v)}")
    if v > MAX_ORDER:
        raise TableauInputError(f"{where}{key}: claims above order {MAX_ORDER} cannot be checked "
                                f"(rooted trees are generated up to order {MAX_ORDER}), got {v}")
    return v


def _slack(row: Sequence[Fraction], delta: Fraction) -> Fraction:
    """How far a sum of the nonzero entries of `row` may be from an exact value that is itself
    rounded: one delta per rounded entry, plus one for the value compared against."""
    return delta * (sum(1 for x in row if x) + 1)


def _reject_unknown_keys(data: dict, valid: Sequence[str], where: str) -> None:
    """TableauInputError naming the first key of `data` that is not in `valid`."""
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise TableauInputError(f"{where}{unknown[0]}: unknown key; valid keys: {', '.join(valid)}")


def spec_from_data(data: Any, default_name: str) -> TableauSpec:
    """Parse and check a tableau given as JSON data (the module docstring's format)."""
    if not isinstance(data, dict):
        raise TableauInputError("expected a JSON object with the keys A and b (and c, b_hat, dense, ...), "
                                f"got {type(data).__name__}")
    _reject_unknown_keys(data, _KEYS, "")
    for key in ("A", "b"):
        if key not in data:
            raise TableauInputError(f"{key}: missing (a tableau needs A and b)")
    if "b_hat" in data and "embedded" in data:
        raise TableauInputError("embedded: give the embedded weights once, as b_hat or as embedded")
    rd = _Reader()
    A_raw = data["A"]
    if not isinstance(A_raw, list) or not A_raw:
        raise TableauInputError("A: expected a non-empty square list of rows, got "
                                f"{json.dumps(A_raw, default=str)[:60]}")
    s = len(A_raw)
    A = rd.matrix(A_raw, "A", [s] * s, f"A must be square ({s} x {s})")
    b = rd.vector(data["b"], "b", s)
    c = rd.vector(data["c"], "c", s) if data.get("c") is not None else None
    bh_raw = data.get("b_hat", data.get("embedded"))
    bh_key = "b_hat" if "b_hat" in data else "embedded"
    b_hat = rd.vector(bh_raw, bh_key, s) if bh_raw is not None else None
    b_sec = None
    if data.get("b_hat_secondary") is not None:
        if b_hat is None:
            raise TableauInputError("b_hat_secondary: a second embedded solution needs b_hat")
        b_sec = rd.vector(data["b_hat_secondary"], "b_hat_secondary", s)
    P = A_extra = c_extra = None
    dense_order = None
    dense = data.get("dense")
    if dense is not None:
        if not isinstance(dense, dict):
            raise TableauInputError("dense: expected an object with the key P, got "
                                    f"{json.dumps(dense, default=str)[:60]}")
        _reject_unknown_keys(dense, _DENSE_KEYS, "dense.")
        if "P" not in dense:
            raise TableauInputError("dense.P: missing (the stage polynomials b_i(theta))")
        extra_raw = dense.get("A_extra") or []
        n_extra = len(extra_raw) if isinstance(extra_raw, list) else 0
        A_extra = rd.matrix(extra_raw, "dense.A_extra", [s + r for r in range(n_extra)],
                            f"extra stage r needs s + r = {s} + r entries")
        if dense.get("c_extra") is not None:
            c_extra = rd.vector(dense["c_extra"], "dense.c_extra", n_extra)
        P_raw = dense["P"]
        if not isinstance(P_raw, list) or not P_raw or not isinstance(P_raw[0], list) or not P_raw[0]:
            raise TableauInputError("dense.P: expected one non-empty row of theta-coefficients per stage")
        deg = len(P_raw[0])
        P = rd.matrix(P_raw, "dense.P", [deg] * (s + n_extra),
                      f"P needs {s + n_extra} rows (one per stage) of {deg} theta-coefficients")
        dense_order = _claim(dense, "order", "dense.")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise TableauInputError(f"name: expected a non-empty string, got {json.dumps(name)}")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise TableauInputError(f"source: expected a string, got {json.dumps(source)}")
    if data.get("coefficient_tolerance") is not None:
        delta = rd.number(data["coefficient_tolerance"], "coefficient_tolerance")
        if delta < 0:
            raise TableauInputError(f"coefficient_tolerance: must be >= 0, got {data['coefficient_tolerance']!r}")
        reason = "stated in the tableau"
    elif rd.decimal_max >= 0:
        delta = FLOAT64_ROUNDING * rd.decimal_max
        reason = "decimal entries taken as float64 values printed in full: 2^-52 max|x|"
    else:
        delta, reason = Fraction(0), "exact entries"
    spec = TableauSpec(
        name=name.strip(), A=A, b=b, c=c if c is not None else tuple(sum(r, Fraction(0)) for r in A),
        order=_claim(data, "order"), b_hat=b_hat, embedded_order=_claim(data, "embedded_order"),
        b_hat_secondary=b_sec, secondary_order=_claim(data, "secondary_order"),
        error_order=_claim(data, "error_order"), P=P, dense_order=dense_order, A_extra=A_extra or (),
        c_extra=c_extra if c_extra is not None else tuple(sum(r, Fraction(0)) for r in (A_extra or ())),
        coefficient_tolerance=delta, tolerance_reason=reason, source=source)
    check_consistency(spec)
    return spec


def check_consistency(spec: TableauSpec) -> None:
    """Explicit (A strictly lower triangular, extra stages using only earlier ones), c = row sums
    of A, and b_i(1) = b_i for a dense output; raises TableauInputError naming the entry. With
    decimal entries a sum is accepted within `_slack`."""
    delta = spec.coefficient_tolerance
    for label, rows, nodes, first in (("A", spec.A, spec.c, 0),
                                      ("dense.A_extra", spec.A_extra, spec.c_extra, spec.stages)):
        for i, row in enumerate(rows):
            for j in range(first + i, len(row)):
                if row[j] != 0:
                    raise TableauInputError(f"{label}[{i}][{j}]: {row[j]} is on or above the diagonal; an "
                                            "explicit method needs a strictly lower-triangular A")
            if abs(sum(row, Fraction(0)) - nodes[i]) > _slack(row, delta):
                where = "c" if label == "A" else "dense.c_extra"
                raise TableauInputError(f"{where}[{i}]: {_show(nodes[i])}, but row {i} of {label} sums to "
                                        f"{_show(sum(row, Fraction(0)))} (c must be the row sums)")
    if spec.P is not None:
        for i, row in enumerate(spec.P):
            bi = spec.b[i] if i < spec.stages else Fraction(0)
            if abs(sum(row, Fraction(0)) - bi) > _slack(row, delta):
                what = f"b[{i}] = {_show(bi)}" if i < spec.stages else "0 for an extra stage"
                raise TableauInputError(f"dense.P[{i}]: b_{i}(1) = {_show(sum(row, Fraction(0)))}, but {what} "
                                        "(the interpolant must meet the step's solution at theta = 1)")


def spec_from_tableau(tab: ButcherTableau) -> TableauSpec:
    """A `reference.ButcherTableau` (already consistent) with its orders as the claims."""
    d = tab.dense
    return TableauSpec(
        name=tab.name, A=tab.a, b=tab.b, c=tab.c, order=tab.order, b_hat=tab.b_hat,
        embedded_order=tab.embedded_order, b_hat_secondary=tab.b_hat_secondary,
        secondary_order=tab.secondary_order, error_order=tab.error_order,
        P=d.P if d is not None else None, dense_order=d.order if d is not None else None,
        A_extra=tuple(tuple(r) for r in d.a_extra) if d is not None else (),
        c_extra=tuple(d.c_extra) if d is not None else (),
        coefficient_tolerance=tab.coefficient_tolerance,
        tolerance_reason="the tableau's own" if tab.coefficient_tolerance else "exact entries",
        source=tab.source)


def tableau_to_data(tab: ButcherTableau) -> dict:
    """A `ButcherTableau` in the JSON format, every entry an exact "p/q" string."""
    q = lambda xs: [str(x) for x in xs]  # noqa: E731
    out: dict[str, Any] = {"name": tab.name, "source": tab.source, "A": [q(r) for r in tab.a],
                           "b": q(tab.b), "c": q(tab.c), "order": tab.order}
    if tab.b_hat is not None:
        out.update(b_hat=q(tab.b_hat), embedded_order=tab.embedded_order, error_order=tab.error_order)
    if tab.b_hat_secondary is not None:
        out.update(b_hat_secondary=q(tab.b_hat_secondary), secondary_order=tab.secondary_order)
    if tab.dense is not None:
        out["dense"] = {"P": [q(r) for r in tab.dense.P], "order": tab.dense.order}
        if tab.dense.c_extra:
            out["dense"].update(A_extra=[q(r) for r in tab.dense.a_extra], c_extra=q(tab.dense.c_extra))
    if tab.coefficient_tolerance:
        out["coefficient_tolerance"] = str(tab.coefficient_tolerance)
    return out


# --------------------------------------------------------------------------- loading
def _looks_like_import_path(source: str) -> bool:
    mod, sep, attr = source.partition(":")
    return bool(sep and mod and attr and "/" not in mod and "\\" not in mod and not mod.endswith(".json"))


def load_spec(source: str) -> TableauSpec:
    """FILE (JSON) or ``package.module:attribute`` (a ButcherTableau, or a dict in the JSON
    format; dotted attributes, and dict keys: ``reference.tableaus:TABLEAUS.rk4``)."""
    path = Path(source).expanduser()
    if path.is_file() or not _looks_like_import_path(source):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TableauInputError(f"{source}: cannot read the file: {why}") from None
        try:
            data = json.loads(text, parse_float=_Decimal, parse_constant=lambda c: c)
        except json.JSONDecodeError as exc:
            raise TableauInputError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} "
                                    f"column {exc.colno}") from None
        return spec_from_data(data, path.stem)
    obj = _import_attribute(source)
    if isinstance(obj, ButcherTableau):
        return spec_from_tableau(obj)
    if isinstance(obj, dict):
        return spec_from_data(obj, source.partition(":")[2])
    raise TableauInputError(f"{source}: is a {type(obj).__name__}, not a reference.ButcherTableau or a dict "
                            "in the JSON format")


def _import_attribute(source: str) -> Any:
    module_name, _, attr_path = source.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise TableauInputError(f"{source}: module {exc.name or module_name!r} not found") from None
    except BaseException as exc:  # noqa: BLE001 - any failure on import is a bad input
        raise TableauInputError(f"{source}: importing {module_name!r} failed: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    for part in attr_path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif hasattr(obj, part) and not isinstance(obj, dict):
            obj = getattr(obj, part)
        else:
            raise TableauInputError(f"{source}: {type(obj).__name__} {getattr(obj, '__name__', '')!r} has no "
                                    f"{'key' if isinstance(obj, dict) else 'attribute'} {part!r}")
    return obj


# --------------------------------------------------------------------------- order analysis
@dataclass(frozen=True)
class TreeFailure:
    """One order condition that fails: the tree, its residual and the bound it exceeds (for the
    dense output, the worst theta-coefficient `power`)."""

    tree: Tree
    residual: Fraction
    bound: Fraction
    power: int | None = None


@dataclass(frozen=True)
class WeightOrder:
    """The order of one weight set: `true` is the largest p whose conditions all hold (checked
    up to `checked`; true == checked means "at least"), `failures` per failing order."""

    weights: str
    claimed: int | None
    true: int
    checked: int
    failures: dict[int, list[TreeFailure]] = field(default_factory=dict)

    @property
    def at_least(self) -> bool:
        return self.true == self.checked

    @property
    def ok(self) -> bool:
        """The claim is the true order (as `reference.order_conditions.check_tableau` requires:
        a claim below the true order is wrong too); no claim: nothing to fail."""
        if self.claimed is None:
            return True
        return self.true == self.claimed or (self.at_least and self.claimed >= self.true)


Conditions = Callable[[int], list[TreeFailure | None]]  # order p -> a failure or None per tree of order p


def _weight_order(label: str, claimed: int | None,
                  residuals: Conditions) -> WeightOrder:
    """Raise the order one by one until the first failing one (at most MAX_ORDER), and on to
    the claim (so every failing tree the claim forbids is listed)."""
    top = MAX_ORDER
    failures: dict[int, list[TreeFailure]] = {}
    true, p = None, 1
    while p <= top:
        bad = [f for f in residuals(p) if f is not None]
        if bad:
            failures[p] = bad
            if true is None:
                true = p - 1
        if true is not None and p >= max(true + 1, claimed or 0):
            break
        p += 1
    checked = min(p, top)
    return WeightOrder(label, claimed, checked if true is None else true, checked, failures)


def _b_conditions(A: Matrix, w: Sequence[Fraction], delta: Fraction) -> Conditions:
    """sum_i w_i Phi_i(t) = 1/gamma(t) within the rounding bound B(t) (HNW I, Theorem 2.13)."""
    def at(p: int) -> list[TreeFailure | None]:
        res = [(t, r) for t, r in order_residuals(A, w, p) if t.order == p]
        bds = [bd for t, bd in residual_bounds(A, w, delta, p) if t.order == p]
        return [TreeFailure(t, r, bd) if abs(r) > bd else None for (t, r), bd in zip(res, bds)]
    return at


def _dense_conditions(A: Matrix, P: Matrix, delta: Fraction) -> Conditions:
    """sum_i b_i(theta) Phi_i(t) = theta^rho(t)/gamma(t) per theta-coefficient (HNW I, eq. (6.7));
    a tree fails on its worst coefficient (the largest excess over its bound)."""
    def at(p: int) -> list[TreeFailure | None]:
        res = [(t, r) for t, r in continuous_order_residuals(A, P, p) if t.order == p]
        bds = [bd for t, bd in continuous_residual_bounds(A, P, delta, p) if t.order == p]
        out = []
        for (t, r), bd in zip(res, bds):
            j = max(range(len(r)), key=lambda k: abs(r[k]) - bd[k])
            out.append(TreeFailure(t, r[j], bd[j], power=j + 1) if abs(r[j]) > bd[j] else None)
        return out
    return at


@dataclass(frozen=True)
class Analysis:
    spec: TableauSpec
    orders: tuple[WeightOrder, ...]

    @property
    def ok(self) -> bool:
        return all(w.ok for w in self.orders)

    def __getitem__(self, weights: str) -> WeightOrder:
        return next(w for w in self.orders if w.weights == weights)


def analyse(spec: TableauSpec) -> Analysis:
    """The true order of b, of b_hat and of the dense output, with the failing trees."""
    delta = spec.coefficient_tolerance
    orders = [_weight_order("b", spec.order, _b_conditions(spec.A, spec.b, delta))]
    if spec.b_hat is not None:
        orders.append(_weight_order("b_hat", spec.embedded_order, _b_conditions(spec.A, spec.b_hat, delta)))
    if spec.b_hat_secondary is not None:
        orders.append(_weight_order("b_hat_secondary", spec.secondary_order,
                                    _b_conditions(spec.A, spec.b_hat_secondary, delta)))
    if spec.P is not None:
        orders.append(_weight_order("dense", spec.dense_order,
                                    _dense_conditions(spec.extended_A(), spec.P, delta)))
    return Analysis(spec, tuple(orders))


# --------------------------------------------------------------------------- presentation
def _show(x: Fraction) -> str:
    """Exact for short rationals, else a float."""
    return str(x) if x.denominator <= 10 ** 6 and abs(x.numerator) <= 10 ** 9 else f"{float(x):.6g}"


def weight_expression(t: Tree) -> str:
    """The elementary weight Phi(t) in vector notation (HNW I, Table 2.2): 1 for the leaf, for
    t = [u_1, ..., u_m] the componentwise product of the A Phi(u_k), with A 1 = c; so
    b.Phi(t) = 1/gamma(t) reads e.g. ``b.(c*Ac) = 1/8`` for [[t],t]."""
    if not t.children:
        return "1"
    parts: list[str] = []
    i = 0
    kids = t.children
    while i < len(kids):
        j = i
        while j < len(kids) and kids[j] == kids[i]:
            j += 1
        u = kids[i]
        inner = "c" if not u.children else "A" + _paren(weight_expression(u))
        parts.append(inner + (f"^{j - i}" if j - i > 1 else ""))
        i = j
    return "*".join(parts)


def _paren(e: str) -> str:
    return e if re.fullmatch(r"[A-Za-z]+", e) else f"({e})"


def _condition(f: TreeFailure, label: str) -> str:
    """The condition of the failing tree, e.g. ``b.(c*Ac) = 1/8`` or ``b(theta).c = theta^2/2``."""
    lhs = "b(theta)" if label == "dense" else label
    t = f.tree
    rhs = "1" if label != "dense" else ("theta" if t.order == 1 else f"theta^{t.order}")
    if t.density != 1:
        rhs = f"{rhs}/{t.density}" if label == "dense" else f"1/{t.density}"
    if not t.children:
        return f"sum({lhs}) = {rhs}"
    return f"{lhs}.{_paren(weight_expression(t))} = {rhs}"


def _failure_line(f: TreeFailure, label: str) -> str:
    coeff = f" (theta^{f.power} coefficient)" if f.power is not None else ""
    return (f"      tree {str(f.tree):<14} order {f.tree.order}  {_condition(f, label):<30} "
            f"residual {float(f.residual):+.3e}{coeff}, bound {float(f.bound):.3e}")


def render(an: Analysis, *, all_trees: bool = False, limit: int = 12) -> list[str]:
    """The report: per weight set the claimed and the true order, and the failing trees of each
    failing order checked (tree in Butcher's bracket notation, its order, the condition, the
    residual sum - 1/gamma and the bound it exceeds). Trees whose failure a claim forbids are all
    listed (up to `limit` per order); the failures one order above a correct claim, which make
    the order exact, are counted and the worst three shown."""
    spec = an.spec
    kind = "adaptive (embedded weights b_hat)" if spec.b_hat is not None else "fixed step (no embedded weights)"
    head = f"tableau {spec.name}: {spec.stages} stage{'s' if spec.stages > 1 else ''}, explicit, {kind}"
    if spec.P is not None:
        head += f", dense output of degree {len(spec.P[0])}"
        head += f" ({len(spec.c_extra)} extra stages)" if spec.c_extra else ""
    lines = [head] + ([f"  source: {spec.source}"] if spec.source else [])
    arith = ("exact rational arithmetic" if not spec.coefficient_tolerance else
             f"coefficient tolerance {float(spec.coefficient_tolerance):.3g} ({spec.tolerance_reason}), "
             "each residual allowed its rounding bound")
    lines.append(f"  consistency: A strictly lower triangular, c = row sums of A: ok; {arith}")
    for w in an.orders:
        true = f">= {w.true}" if w.at_least else str(w.true)
        if w.claimed is None:
            verdict = "no claim"
        elif w.ok:
            verdict = f"claimed {w.claimed}: ok"
        else:
            verdict = f"claimed {w.claimed}: FAILS ({'lower' if w.true < w.claimed else 'higher'} than claimed)"
        lines.append(f"  {w.weights:<6} true order {true}; {verdict}")
        for p, fails in sorted(w.failures.items()):
            required = w.claimed is not None and p <= w.claimed
            why = "the claim needs them" if required else f"so the order is exactly {w.true}"
            lines.append(f"    order {p}: {len(fails)} of {len(trees_of_order(p))} conditions fail ({why})")
            shown = sorted(fails, key=lambda f: -abs(f.residual))
            n = len(shown) if all_trees else (limit if required else 3)
            lines += [_failure_line(f, w.weights) for f in shown[:n]]
            if len(shown) > n:
                lines.append(f"      ... and {len(shown) - n} more (--all-trees lists them)")
    return lines


# --------------------------------------------------------------------------- the runnable method
def _verified(w: WeightOrder) -> int:
    return w.claimed if w.at_least and w.claimed is not None else w.true


def build_tableau(an: Analysis) -> ButcherTableau:
    """The tableau as a `reference.ButcherTableau` with its verified orders, for the engine.

    Its construction checks compare sums of at most k rounded coefficients (k <= stages + extra
    stages, or the degree of P) with an exact or rounded value, so a tableau that passed
    `check_consistency` passes them with tolerance 2 (k + 1) delta; TableauError when some weight
    set has order 0 (not a consistent method)."""
    spec = an.spec
    p = _verified(an["b"])
    if p < 1:
        raise TableauError(f"b has order 0 (sum(b) != 1): not a consistent method")
    q = _verified(an["b_hat"]) if spec.b_hat is not None else None
    sec = _verified(an["b_hat_secondary"]) if spec.b_hat_secondary is not None else None
    dense = None
    if spec.P is not None and _verified(an["dense"]) >= 1:
        dense = DenseOutput(P=spec.P, order=_verified(an["dense"]), source=spec.source or spec.name,
                            a_extra=spec.A_extra, c_extra=spec.c_extra)
    k = max(spec.stages + len(spec.c_extra), len(spec.P[0]) if spec.P is not None else 0)
    fsal = bool(spec.stages > 1 and spec.c[-1] == 1 and spec.A[-1] == spec.b)
    return ButcherTableau(
        name=spec.name, c=spec.c, a=spec.A, b=spec.b, order=p, source=spec.source or spec.name,
        b_hat=spec.b_hat, embedded_order=q, b_hat_secondary=spec.b_hat_secondary,
        secondary_order=sec,
        error_order=(spec.error_order or _error_order(p, q, sec)) if q is not None else None,
        fsal=fsal, dense=dense, coefficient_tolerance=2 * (k + 1) * spec.coefficient_tolerance)


def _error_order(p: int, q: int, secondary: int | None) -> int:
    """q_err such that the controller's error estimate behaves like h^(q_err + 1).

    One embedded solution of order q: y_1 - y_hat_1 = O(h^(min(p, q) + 1)). With a secondary one
    of order q2 the controller combines err^2 / sqrt(err^2 + 0.01 err2^2) (Hairer's DOP853,
    reference.step_control) ~ h^(2 (q + 1) - (q2 + 1)) when q2 < q (the denominator is then
    ~ 0.1 err2), so q_err = 2 q - q2 (DOP853: 2*5 - 3 = 7); when q2 >= q it is ~ err, q_err = q."""
    q_err = min(p, q)
    return q_err if secondary is None else min(p, max(q_err, 2 * q_err - secondary))


def claims_of(tab: ButcherTableau) -> dict[str, Any]:
    """Claims for the convergence suite: the verified orders. Fixed-step and dense-less adaptive
    solves land on every output time (reference.integrate), so their dense order is the order."""
    dense = tab.dense.order if tab.dense is not None else tab.order
    return {"order": tab.order, "dense_order": dense, "adaptive": tab.adaptive}


@functools.lru_cache(maxsize=8)
def runnable(source: str) -> ButcherTableau:
    return build_tableau(analyse(load_spec(source)))


def odeint(func, y0, t, *, rtol: float = 1e-7, atol: float = 1e-9, method: str | None = None,
           options: dict | None = None):
    """The implementation under test of the convergence run: `reference.odeint` with the
    tableau named by $ODE_HARNESS_TABLEAU (a FILE or module:attribute); `method` must be its
    name."""
    import reference

    source = os.environ.get(TABLEAU_ENV)
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as in `main`: module:attribute resolves from here
    if not source:
        raise ValueError(f"${TABLEAU_ENV} is not set: it names the tableau (FILE or module:attribute)")
    tab = runnable(source)
    if method is not None and method != tab.name:
        raise ValueError(f"unknown method {method!r}; valid methods: {tab.name} (the tableau of ${TABLEAU_ENV})")
    return reference.odeint(func, y0, t, rtol=rtol, atol=atol, method=tab, options=options)


# --------------------------------------------------------------------------- the command
def _parser() -> argparse.ArgumentParser:
    from .cli import PROG, _Parser

    p = _Parser(prog=f"{PROG} tableau", description="Check a Butcher tableau: consistency, the order "
                "conditions of b, b_hat and the dense output, then the convergence-order suite on it.",
                epilog="Exit status: 0 the claimed orders are the true ones (no claim: reported) and the "
                       "convergence checks passed, 1 a claim or a convergence check fails, 2 bad input.")
    p.add_argument("tableau", metavar="FILE", help="a JSON file (format: README, 'ode-harness tableau') "
                   "or package.module:attribute (a reference.ButcherTableau or such a dict)")
    p.add_argument("--no-convergence", action="store_true", help="only the order conditions, not the suite")
    p.add_argument("--all-trees", action="store_true", help="list every failing tree")
    p.add_argument("--profile", metavar="NAME", default="quick", help="profile of the convergence run (default quick)")
    p.add_argument("--jobs", "-j", metavar="N", help="worker processes of the convergence run")
    p.add_argument("--select", metavar="EXPR", help="only the convergence checks matching this pytest -k "
                   "expression (e.g. tolerance_proportionality)")
    p.add_argument("--results", metavar="FILE", help="results file of the convergence run "
                   "(default reports/results.jsonl)")
    return p


def _convergence(source: str, tab: ButcherTableau, ns: argparse.Namespace, out) -> int:
    from .cli import run_check

    path = Path(source).expanduser()
    os.environ[TABLEAU_ENV] = str(path.resolve()) if path.is_file() else source
    argv = [f"{__name__}:odeint", "--method", tab.name, "--select",
            "test_convergence_order" + (f" and ({ns.select})" if ns.select else ""),
            "--profile", ns.profile, "--config", os.devnull]
    for k, v in claims_of(tab).items():
        argv += ["--claim", f"{k}={str(v).lower()}"]
    if ns.jobs:
        argv += ["--jobs", ns.jobs]
    if ns.results:
        argv += ["--results", ns.results]
    out.write(f"convergence-order suite on {tab.name} through reference.odeint (claims: "
              + ", ".join(f"{k}={v}" for k, v in claims_of(tab).items()) + f"; profile {ns.profile}):\n")
    out.flush()
    return run_check(argv)


def main(argv: Sequence[str]) -> int:
    """`ode-harness tableau`; raises `harness.cli.UsageError` for bad arguments and input."""
    from .cli import UsageError
    from .profiles import get_profile

    ns = _parser().parse_args(list(argv))
    try:
        get_profile(ns.profile)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # module:attribute resolves from here, as with `python -m`
    try:
        spec = load_spec(ns.tableau)
    except TableauInputError as exc:
        raise UsageError(str(exc)) from None
    an = analyse(spec)
    out = sys.stdout
    for ln in render(an, all_trees=ns.all_trees):
        out.write(ln + "\n")
    status = EXIT_OK if an.ok else EXIT_FAILED
    out.write(f"order conditions: {'OK' if an.ok else 'FAILED'} ("
              + "; ".join(f"{w.weights} {'>= ' if w.at_least else ''}{w.true}"
                          + (f" vs claimed {w.claimed}" if w.claimed is not None else "") for w in an.orders)
              + ")\n")
    out.flush()
    if ns.no_convergence:
        return status
    try:
        tab = build_tableau(an)
    except TableauError as exc:
        out.write(f"convergence-order suite not run: {exc}\n")
        return EXIT_FAILED
    return max(status, _convergence(ns.tableau, tab, ns, out))
