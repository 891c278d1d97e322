"""`ode-harness tableau` (harness/tableau_check.py) and `reference.odeint(method=ButcherTableau)`.

* Every reference tableau, by module path and exported to JSON, reports its true order (the
  order it is published with) and exits 0.
* One coefficient changed by 1e-3 names the failing trees, with residuals computed by hand here
  (independently of the order-condition code), and exits 1.
* Decimal entries: float64 values printed in full pass with the inferred tolerance; a stated
  coefficient_tolerance is used.
* Every bad input exits 2 with one line naming the entry.
* One convergence run (slow) on a JSON tableau through the reference engine, and one on a
  seeded bug that the order conditions cannot see (b_hat = b: no error estimate), which the
  convergence suite must fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import torch

import reference
from harness import cli
from harness.tableau_check import (TABLEAU_ENV, analyse, load_spec, tableau_to_data, weight_expression)
from reference.order_conditions import tree
from reference.tableaus import TABLEAUS

REPO = Path(__file__).resolve().parent.parent
NAMES = list(TABLEAUS)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli.main(["tableau", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _write(tmp_path: Path, data, name: str = "t.json") -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def _true_orders(tab) -> dict[str, int]:
    out = {"b": tab.order}
    if tab.b_hat is not None:
        out["b_hat"] = tab.embedded_order
    if tab.b_hat_secondary is not None:
        out["b_hat_secondary"] = tab.secondary_order
    if tab.dense is not None:
        out["dense"] = tab.dense.order
    return out


def _rk4(**changes) -> dict:
    d = {"name": "rk4-json", "A": [[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]],
         "b": ["1/6", "1/3", "1/3", "1/6"], "c": [0, "1/2", "1/2", 1], "order": 4}
    d.update(changes)
    return {k: v for k, v in d.items() if v is not None}


# --------------------------------------------------------------------------- true orders
@pytest.mark.parametrize("name", NAMES)
def test_reference_tableau_by_module_path(capsys, name):
    rc, out, err = _run(capsys, f"reference.tableaus:TABLEAUS.{name}", "--no-convergence")
    assert rc == 0, out + err
    for weights, p in _true_orders(TABLEAUS[name]).items():
        assert f"{weights:<6} true order {p}; claimed {p}: ok" in out
    assert "order conditions: OK" in out


@pytest.mark.parametrize("name", NAMES)
def test_reference_tableau_exported_to_json(capsys, tmp_path, name):
    """The JSON route (exact "p/q" strings, the tableau's coefficient_tolerance) agrees."""
    path = _write(tmp_path, tableau_to_data(TABLEAUS[name]))
    an = analyse(load_spec(path))
    assert {w.weights: w.true for w in an.orders} == _true_orders(TABLEAUS[name])
    assert an.ok and not any(w.at_least for w in an.orders)


def test_attribute_by_name(capsys):
    rc, out, _ = _run(capsys, "reference.tableaus:DOPRI5", "--no-convergence")
    assert rc == 0 and "b_hat  true order 4; claimed 4: ok" in out


def test_no_claim_reports_the_true_order(capsys, tmp_path):
    rc, out, _ = _run(capsys, _write(tmp_path, _rk4(order=None)), "--no-convergence")
    assert rc == 0
    assert "b      true order 4; no claim" in out


def test_claim_above_the_true_order_fails(capsys, tmp_path):
    rc, out, _ = _run(capsys, _write(tmp_path, _rk4(order=5)), "--no-convergence")
    assert rc == 1
    assert "claimed 5: FAILS (lower than claimed)" in out
    assert "order 5: 9 of 9 conditions fail (the claim needs them)" in out


def test_claim_below_the_true_order_fails(capsys, tmp_path):
    """As in reference.order_conditions.check_tableau, a claim states the exact order."""
    rc, out, _ = _run(capsys, _write(tmp_path, _rk4(order=3)), "--no-convergence")
    assert rc == 1 and "true order 4; claimed 3: FAILS (higher than claimed)" in out


# --------------------------------------------------------------------------- one coefficient off by 1e-3
def test_rk4_a43_off_names_the_failing_tree(capsys, tmp_path):
    """a_43 = 1 + 1e-3 (c derived from the rows): c_4 = 1 + 1e-3, so by hand
    b.c - 1/2 = b_4 * 1e-3 = 1/6000 (tree [t], order 2) and the method has order 1."""
    A = [[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, "1001/1000", 0]]
    rc, out, _ = _run(capsys, _write(tmp_path, _rk4(A=A, c=None)), "--no-convergence")
    assert rc == 1
    assert "b      true order 1; claimed 4: FAILS (lower than claimed)" in out
    assert "order 2: 1 of 1 conditions fail (the claim needs them)" in out
    line = next(ln for ln in out.splitlines() if "tree [t] " in ln)
    assert "b.c = 1/2" in line and f"residual {1 / 6000:+.3e}" in line and "bound 0.000e+00" in line


def test_rk4_b1_off_fails_only_the_one_vertex_tree(capsys, tmp_path):
    """b_1 = 1/6 + 1e-3 = 503/3000: sum(b) - 1 = 1e-3; every other condition has the factor Phi_1 = c_1... = 0
    for stage 1 (c_1 = 0, row 1 of A zero), so only the tree t fails."""
    rc, out, _ = _run(capsys, _write(tmp_path, _rk4(b=["503/3000", "1/3", "1/3", "1/6"])), "--no-convergence")
    assert rc == 1
    assert "true order 0; claimed 4" in out and "order 1: 1 of 1 conditions fail" in out
    assert "sum(b) = 1" in out and "residual +1.000e-03" in out
    assert not any(f"order {p}:" in out for p in (2, 3, 4))


def test_dopri5_a53_off_names_the_failing_trees(capsys, tmp_path):
    """a_53 + 1e-3 (0-based A[4][2]), c from the rows: c_5 moves by 1e-3, so by hand
    b.c - 1/2 = b_5 * 1e-3 = -2187/6784e3 and b_hat.c - 1/2 = b_hat_5 * 1e-3; all of b, b_hat and
    the dense output drop to order 1 and every tree of orders 2..claimed is named."""
    data = tableau_to_data(TABLEAUS["dopri5"])
    data["A"][4][2] = str(Fraction(data["A"][4][2]) + Fraction(1, 1000))
    del data["c"]
    rc, out, _ = _run(capsys, _write(tmp_path, data), "--no-convergence")
    assert rc == 1
    for w, p in (("b", 5), ("b_hat", 4), ("dense", 4)):
        assert f"{w:<6} true order 1; claimed {p}: FAILS (lower than claimed)" in out
    tab = TABLEAUS["dopri5"]
    t_lines = [ln for ln in out.splitlines() if "tree [t] " in ln]
    assert f"residual {float(tab.b[4]) * 1e-3:+.3e}" in t_lines[0]
    assert f"residual {float(tab.b_hat[4]) * 1e-3:+.3e}" in t_lines[1]
    for t in ("[t^2]", "[[t]]", "[t^3]", "[t,[t]]", "[[t^2]]", "[[[t]]]", "[[[[t]]]]"):
        assert f"tree {t} " in out
    assert "order 5: 9 of 9 conditions fail (the claim needs them)" in out


def test_dopri5_dense_output_off_names_the_failing_tree(capsys, tmp_path):
    """b_1(theta) += e (theta^2 - theta^3), b_3(theta) -= the same, e = 1e-3: b_i(1) and
    sum_i b_i(theta) = theta are kept, so b, b_hat and the order-1 dense condition hold; by hand
    the tree [t] gets sum_i db_i(theta) c_i = e (theta^2 - theta^3) (c_1 - c_3) = -3e-4 theta^2
    + 3e-4 theta^3, and the dense output drops from order 4 to 1."""
    data = tableau_to_data(TABLEAUS["dopri5"])
    P = [[Fraction(x) for x in row] for row in data["dense"]["P"]]
    e = Fraction(1, 1000)
    P[0][1] += e
    P[0][2] -= e
    P[2][1] -= e
    P[2][2] += e
    data["dense"]["P"] = [[str(x) for x in row] for row in P]
    rc, out, _ = _run(capsys, _write(tmp_path, data), "--no-convergence")
    assert rc == 1
    assert "b      true order 5; claimed 5: ok" in out and "b_hat  true order 4; claimed 4: ok" in out
    assert "dense  true order 1; claimed 4: FAILS (lower than claimed)" in out
    line = next(ln for ln in out.splitlines() if "tree [t] " in ln)
    assert "b(theta).c = theta^2/2" in line and "residual -3.000e-04 (theta^2 coefficient)" in line


def test_keeping_c_while_changing_a_is_bad_input(capsys, tmp_path):
    A = [[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, "1001/1000", 0]]
    rc, _, err = _run(capsys, _write(tmp_path, _rk4(A=A)), "--no-convergence")
    assert rc == 2 and "c[3]: 1, but row 3 of A sums to 1001/1000" in err


# --------------------------------------------------------------------------- decimals
def test_float64_decimals_with_inferred_tolerance(capsys, tmp_path):
    """rk4 as JSON numbers (float64 reprs: 1/6 -> 0.16666666666666666): the inferred rounding
    bound 2^-52 max|x| accepts the order-4 conditions, and order 5 still fails (residuals ~1e-2)."""
    text = ('{"A": [[0,0,0,0],[0.5,0,0,0],[0,0.5,0,0],[0,0,1.0,0]], '
            '"b": [0.16666666666666666, 0.3333333333333333, 0.3333333333333333, 0.16666666666666666], "order": 4}')
    rc, out, _ = _run(capsys, _write(tmp_path, text), "--no-convergence")
    assert rc == 0, out
    assert "2^-52 max|x|" in out and "b      true order 4; claimed 4: ok" in out


def test_decimal_perturbation_is_beyond_the_rounding_bound(capsys, tmp_path):
    text = ('{"A": [[0,0,0,0],[0.5,0,0,0],[0,0.5,0,0],[0,0,1.0,0]], '
            '"b": [0.16766666666666666, 0.3333333333333333, 0.3333333333333333, 0.16666666666666666], "order": 4}')
    rc, out, _ = _run(capsys, _write(tmp_path, text), "--no-convergence")
    assert rc == 1 and "true order 0" in out


@pytest.mark.parametrize("tolerance, orders", [(None, (0, 0)), ("5e-7", (5, 4))])
def test_short_decimals_need_their_stated_tolerance(tmp_path, tolerance, orders):
    """tsit5 printed to 8 significant digits: its largest entries (|a_ij| up to 12.9) are then
    rounded by up to 5e-7. Taken as float64 values (the default, delta = 2^-52 max|x| = 2.9e-15)
    the rounding breaks even sum(b) = 1 (order 0); with the stated coefficient_tolerance 5e-7
    every condition of orders 5(4) is within its rounding bound and order 6(5) still fails."""
    T = TABLEAUS["tsit5"]
    short = lambda xs: [f"{float(x):.8g}" for x in xs]  # noqa: E731
    data = {"name": "tsit5-8-digits", "order": 5, "embedded_order": 4, "A": [short(r) for r in T.a],
            "b": short(T.b), "b_hat": short(T.b_hat)}
    if tolerance:
        data["coefficient_tolerance"] = tolerance
    an = analyse(load_spec(_write(tmp_path, data)))
    assert (an["b"].true, an["b_hat"].true) == orders
    assert an.ok == (tolerance is not None)


# --------------------------------------------------------------------------- bad input
BAD_INPUTS = [
    (_rk4(A=[[0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]]),
     "A[0]: 3 entries, A must be square (4 x 4)"),
    (_rk4(A=[[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "x", 0, 0], [0, 0, 1, 0]]), "A[2][1]: not a number: 'x'"),
    (_rk4(A=[[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, True, 0]]), "A[3][2]: not a number: true"),
    (_rk4(A=[[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, None, 0]]), "A[3][2]: not a number: null"),
    (_rk4(A=[[0, 0, 0, 0], ["1/0", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]]), "A[1][0]: zero denominator: '1/0'"),
    (_rk4(A=[[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]),
     "A[0]: 4 entries, A must be square (5 x 5)"),
    (_rk4(A=[[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0]]), "A[0]: 4 entries, A must be square (3 x 3)"),
    (_rk4(A="rk4"), "A: expected a non-empty square list of rows"),
    (_rk4(A=[[0, "1/2", 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]]),
     "A[0][1]: 1/2 is on or above the diagonal"),
    (_rk4(b=["1/6", "1/3", "1/3"]), "b: 3 entries for 4 stages"),
    (_rk4(b=["1/6", "1/3", "1/3", "one sixth"]), "b[3]: not a number: 'one sixth'"),
    (_rk4(c=[0, "1/2", 1]), "c: 3 entries for 4 stages"),
    (_rk4(c=[0, "1/2", "1/3", 1]), "c[2]: 1/3, but row 2 of A sums to 1/2"),
    (_rk4(b_hat=[1, 0, 0]), "b_hat: 3 entries for 4 stages"),
    (_rk4(embedded=[1, 0, 0, "?"]), "embedded[3]: not a number: '?'"),
    (_rk4(order=0), "order: an order claim must be a positive integer, got 0"),
    (_rk4(order="four"), 'order: an order claim must be a positive integer, got "four"'),
    (_rk4(order=11), "order: claims above order 10 cannot be checked"),
    (_rk4(bhat=[1, 0, 0, 0]), "bhat: unknown key"),
    (_rk4(b=None), "b: missing"),
    (_rk4(coefficient_tolerance="-1e-3"), "coefficient_tolerance: must be >= 0"),
    (_rk4(dense={"P": [[1], [0], [0]], "order": 1}), "dense.P: 3 rows, P needs 4 rows"),
    (_rk4(dense={"P": [["1/6"], ["1/3"], ["1/3"], ["1/3"]]}), "dense.P[3]: b_3(1) = 1/3, but b[3] = 1/6"),
    (_rk4(dense={"order": 1}), "dense.P: missing"),
    (_rk4(dense={"P": [[1]] * 4, "Q": 1}), "dense.Q: unknown key"),
    ([1, 2, 3], "expected a JSON object with the keys A and b"),
]


@pytest.mark.parametrize("data, message", BAD_INPUTS,
                         ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD_INPUTS)])
def test_bad_input_exits_2_naming_the_entry(capsys, tmp_path, data, message):
    rc, out, err = _run(capsys, _write(tmp_path, data), "--no-convergence")
    assert rc == 2, out + err
    assert err.count("\n") == 1 and err.startswith("ode-harness: error: ") and "Traceback" not in err
    assert message in err, err


@pytest.mark.parametrize("source, message", [
    ("{missing}/nope.json", "nope.json: cannot read the file: No such file or directory"),
    ("{tmp}/bad.json", "bad.json: not valid JSON: Expecting value at line 1 column 9"),
    ("no_such_module_xyz:T", "no_such_module_xyz:T: module 'no_such_module_xyz' not found"),
    ("reference.tableaus:NOPE", "reference.tableaus:NOPE: module 'reference.tableaus' has no attribute 'NOPE'"),
    ("reference.tableaus:TABLEAUS.nope", "dict '' has no key 'nope'"),
    ("reference.tableaus:HNW", "is a str, not a reference.ButcherTableau or a dict"),
    ("tests.fixtures.broken_on_import:x", "importing 'tests.fixtures.broken_on_import' failed"),
])
def test_unreadable_sources_exit_2(capsys, tmp_path, monkeypatch, source, message):
    (tmp_path / "bad.json").write_text('{"A": [[, ]]}')
    monkeypatch.chdir(REPO)
    rc, _, err = _run(capsys, source.format(tmp=tmp_path, missing=tmp_path), "--no-convergence")
    assert rc == 2 and err.count("\n") == 1 and message in err, err


def test_bad_profile_exits_2(capsys, tmp_path):
    rc, _, err = _run(capsys, _write(tmp_path, _rk4()), "--profile", "nope")
    assert rc == 2 and "nope" in err


# --------------------------------------------------------------------------- notation
def test_weight_expression_in_vector_notation():
    leaf = ()
    assert weight_expression(tree((leaf, ((leaf,),)))) == "c*AAc"          # [t,[[t]]]
    assert weight_expression(tree(((leaf, leaf),))) == "A(c^2)"           # [[t^2]]
    assert weight_expression(tree(((leaf,), (leaf,)))) == "Ac^2"          # [[t]^2] = (Ac)^2


# --------------------------------------------------------------------------- reference.odeint(method=tableau)
def _rename(tab, **changes):
    import dataclasses
    return dataclasses.replace(tab, **{"name": "user-" + tab.name, **changes})


def test_odeint_with_a_tableau_object_is_the_named_method(linear_problem):
    y0 = torch.as_tensor(linear_problem.y0)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    for name, opts in (("dopri5", None), ("rk4", {"step_size": 0.1})):
        by_name = reference.odeint(linear_problem, y0, t, method=name, options=opts)
        user = _rename(TABLEAUS[name])
        assert torch.equal(reference.odeint(linear_problem, y0, t, method=user, options=opts), by_name)
        assert reference.last_stats().method == user.name


def test_adaptive_tableau_without_dense_output_lands_on_every_output(linear_problem):
    """No continuous extension: each output time is a step end, so the interior values are as
    accurate as the last one (the solve's tolerance), and there are at least len(t) - 1 steps."""
    y0 = torch.as_tensor(linear_problem.y0)
    t = torch.tensor([0.0, 0.1234, 0.5, 0.77, 1.0], dtype=torch.float64)
    tab = _rename(TABLEAUS["dopri5"], dense=None)
    ys = reference.odeint(linear_problem, y0, t, method=tab, rtol=1e-9, atol=1e-12)
    assert reference.last_stats().n_accepted >= len(t) - 1
    for i, ti in enumerate(t.tolist()):
        err = abs(ys[i].numpy() - linear_problem.exact(ti)).max()
        assert err < 1e-7, (ti, err)  # global error ~ 10..100 rtol for dopri5 on this problem


def test_odeint_adjoint_with_a_tableau_object(linear_problem):
    y0 = torch.as_tensor(linear_problem.y0)
    t = torch.tensor([0.0, 0.4, 1.0], dtype=torch.float64)
    grads = []
    for m in ("dopri5", _rename(TABLEAUS["dopri5"], dense=None)):
        for strategy in ("backsolve", "checkpoint"):
            y = y0.clone().requires_grad_(True)
            reference.odeint_adjoint(linear_problem, y, t, method=m, rtol=1e-10, atol=1e-12,
                                     adjoint_params=(), strategy=strategy)[-1].sum().backward()
            grads.append(y.grad)
    for g in grads[1:]:
        assert torch.allclose(g, grads[0], rtol=1e-7, atol=1e-9)  # tolerance 1e-10: errors ~1e-9


def test_odeint_rejects_other_method_objects():
    with pytest.raises(ValueError, match="or a reference.ButcherTableau"):
        reference.odeint(lambda t, y: -y, torch.ones(1), torch.tensor([0.0, 1.0]), method=object())


def test_adapter_needs_the_tableau_name(monkeypatch, tmp_path):
    from harness import tableau_check

    monkeypatch.setenv(TABLEAU_ENV, _write(tmp_path, _rk4()))
    y = tableau_check.odeint(lambda t, y: -y, torch.ones(1, dtype=torch.float64),
                             torch.tensor([0.0, 1.0], dtype=torch.float64), method="rk4-json",
                             options={"step_size": 0.5})
    assert y.shape == (2, 1)
    with pytest.raises(ValueError, match="unknown method 'rk4'"):
        tableau_check.odeint(lambda t, y: -y, torch.ones(1), torch.tensor([0.0, 1.0]), method="rk4",
                             options={"step_size": 0.5})


# --------------------------------------------------------------------------- the convergence run
def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop(TABLEAU_ENV, None)
    return subprocess.run([sys.executable, "-m", "harness", "tableau", *args, "--jobs", "1",
                           "--results", str(tmp_path / "results.jsonl")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_convergence_suite_runs_on_a_json_tableau(tmp_path):
    """rk4 from JSON, quick profile: the fixed-step convergence checks pass with the verified
    order as the claim (about 15 s, most of it starting Python, torch and a worker)."""
    r = _cli(tmp_path, _write(tmp_path, _rk4()))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "claims: order=4, dense_order=4, adaptive=False" in r.stdout
    assert "ode-harness check: PASS" in r.stdout and "3 passed, 0 failed" in r.stdout


@pytest.mark.slow
def test_convergence_suite_fails_a_tableau_without_an_error_estimate(tmp_path):
    """Seeded bug the order conditions cannot see: dopri5 with b_hat = b has orders 5(5) and
    a zero error estimate, so the controller grows the step regardless of the tolerance; the
    adaptive convergence checks fail (tolerance proportionality, the one selected to keep the
    run short: error ~470 tolerance units against the bound 5) and the command exits 1."""
    data = tableau_to_data(TABLEAUS["dopri5"])
    data.update(name="dopri5-no-error", b_hat=data["b"])
    del data["embedded_order"], data["error_order"], data["dense"]
    r = _cli(tmp_path, _write(tmp_path, data), "--select", "tolerance_proportionality")
    assert "order conditions: OK" in r.stdout
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL     convergence_order.test_tolerance_proportionality_bound" in r.stdout


def test_error_order_defaults_from_the_verified_orders(tmp_path):
    """Without error_order: min(p, q) for one embedded solution (dopri5: 4), 2q - q2 for Hairer's
    combined estimate with a secondary one (dop853: 2*5 - 3 = 7, its published value)."""
    from harness.tableau_check import build_tableau

    for name in ("bosh3", "dopri5", "tsit5", "dop853"):
        data = tableau_to_data(TABLEAUS[name])
        del data["error_order"]
        tab = build_tableau(analyse(load_spec(_write(tmp_path, data))))
        assert tab.error_order == TABLEAUS[name].error_order, name
