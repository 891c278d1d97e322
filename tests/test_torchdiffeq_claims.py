"""The claims table covers every method torchdiffeq 0.2.5 offers (harness/claims.py)."""

from __future__ import annotations

from torchdiffeq._impl.odeint import SOLVERS

from harness.claims import KNOWN_METHODS


def test_every_torchdiffeq_method_has_an_order_claim():
    table = KNOWN_METHODS["torchdiffeq"]
    # scipy_solver wraps scipy (its own family); fixed_adams is an alias of implicit_adams
    methods = set(SOLVERS) - {"scipy_solver", "fixed_adams"}
    missing = sorted(m for m in methods if m not in table or table[m].order is None)
    assert not missing, missing
    assert SOLVERS["fixed_adams"] is SOLVERS["implicit_adams"]


def test_only_the_implicit_adams_method_is_implicit():
    table = KNOWN_METHODS["torchdiffeq"]
    assert [m for m, c in table.items() if c.implicit] == ["implicit_adams"]
    assert table["implicit_adams"].skip_reason(needs_explicit=True).startswith("implicit method")
    assert table["explicit_adams"].skip_reason(needs_explicit=True) is None
    assert not table["explicit_adams"].adaptive and table["explicit_adams"].order == 4
    assert table["implicit_adams"].order == 5
