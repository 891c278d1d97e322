"""Suites issue: the proof that the checks can fail.

Every mutant of `harness.mutants.MUTANTS` is run through the checks named in its `caught_by`
(quick profile) and must be caught by at least one of them (verdict fail, error or timeout); the
unmutated bases (the reference solvers and the reference adjoint) run through the same checks and
pass every one. One pytest run per suite file covers all mutants whose catching checks live in it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from harness.mutants import MUTANTS
from harness.results import load_records

ROOT = Path(__file__).resolve().parent.parent
CAUGHT = {"fail", "error", "timeout"}
BASES = {"reference": ("dopri5", "rk4", "midpoint"), "reference-adjoint": ("dopri5",)}


def _suite_checks() -> dict[str, set[str]]:
    """suite file -> the check names that some mutant relies on."""
    out: dict[str, set[str]] = defaultdict(set)
    for m in MUTANTS:
        for c in m.caught_by:
            if "::" in c:
                f, name = c.split("::")
                out[f].add(name)
    return out


def _run(suite_file: str, names: set[str], impl_args: list[str], results: Path) -> list:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "suites" / suite_file), "-q", "-p", "no:cacheprovider",
           "-n", "2", "--ode-profile", "quick", "--ode-results", str(results),
           "-k", " or ".join(sorted(names)), *impl_args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode in (0, 1), f"pytest crashed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return load_records(results).records


@pytest.fixture(scope="module")
def mutant_records(tmp_path_factory) -> dict[str, list]:
    """Records of every mutant run, by implementation name."""
    by_impl: dict[str, list] = defaultdict(list)
    for suite_file, names in _suite_checks().items():
        impls = [m.import_path for m in MUTANTS if any(c.startswith(suite_file + "::") for c in m.caught_by)]
        args = [a for p in impls for a in ("--ode-impl", p)]
        for r in _run(suite_file, names, args, tmp_path_factory.mktemp("mutants") / "results.jsonl"):
            by_impl[r.iut].append(r)
    return by_impl


@pytest.fixture(scope="module")
def base_records(tmp_path_factory) -> list:
    out = []
    for suite_file, names in _suite_checks().items():
        args = []
        for impl, methods in BASES.items():
            args += ["--ode-impl", impl]
        args += [a for m in sorted({m for ms in BASES.values() for m in ms}) for a in ("--ode-method", m)]
        out += _run(suite_file, names, args, tmp_path_factory.mktemp("bases") / "results.jsonl")
    return out


def test_every_catching_check_exists():
    for m in MUTANTS:
        for c in m.caught_by:
            if c == "timeout":
                continue
            f, name = c.split("::")
            text = (ROOT / "suites" / f).read_text()
            assert f"def {name}(" in text, f"{m.name}: catching check {c} does not exist"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.caught_by != ("timeout",)], ids=lambda m: m.name)
def test_mutant_is_caught(mutant, mutant_records):
    records = mutant_records.get(mutant.import_path, [])
    assert records, f"{mutant.name}: no records (did it run?)"
    names = {c.split("::")[1] for c in mutant.caught_by}
    caught = [r for r in records if r.check in names and r.verdict.value in CAUGHT]
    assert caught, (f"{mutant.name} ({mutant.doc}) escaped {sorted(names)}: "
                    + ", ".join(sorted({f'{r.check}:{r.verdict.value}' for r in records})))


def test_bases_pass_the_catching_checks(base_records):
    assert base_records
    bad = [f"{r.iut}/{r.method} {r.check_id}: {r.verdict.value} {r.message}" for r in base_records
           if r.verdict.value not in ("pass", "skip")]
    assert not bad, "\n".join(bad)


def test_hang_mutant_is_caught_by_the_timeout(tmp_path):
    """The `hang` mutant: the per-check timeout ends its check with a timeout verdict, exit 1."""
    import json

    cmd = [sys.executable, "-m", "harness", "check", "harness.mutants:hang", "--method", "dopri5",
           "--select", "test_error_at_end and A3 and 1e-05", "--timeout", "2",
           "--results", str(tmp_path / "r.jsonl"), "--json", str(tmp_path / "s.json")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HYPOTHESIS_PROFILE": "ci"})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    verdicts = {r.verdict.value for r in load_records(tmp_path / "r.jsonl").records}
    assert verdicts == {"timeout"}, verdicts
    assert json.loads((tmp_path / "s.json").read_text())


# --------------------------------------------------------------------------- no-gradient mutants
NO_GRAD_MUTANTS = [m for m in MUTANTS if all("::test_without_grad_" in c for c in m.caught_by)]


def _no_grad_inputs() -> list[tuple[str, object, "torch.Tensor", "torch.Tensor"]]:
    """(what, field, y0, t): what each no-gradient mutant corrupts without gradients (a state
    with axes of length one, a zero field with magnitudes 1e-7 to 1e7, t of one point)."""
    import torch

    lin = torch.nn.Linear(3, 3).double()
    torch.nn.init.normal_(lin.weight, generator=torch.Generator().manual_seed(0))
    y0 = torch.tensor([[1 / 3, 8.725897535233584e-07, -2.5e7]], dtype=torch.float64)
    return [("linear field, y0 of shape (1, 3)", lambda t, y: lin(y), y0 / 1e7, torch.tensor([0.0, 0.35, 0.7])),
            ("zero field", lambda t, y: torch.zeros_like(y), y0, torch.tensor([0.0, 0.35, 0.7])),
            ("t of one point", lambda t, y: lin(y), y0 / 1e7, torch.tensor([0.3]))]


def test_no_grad_mutants_are_listed():
    assert len(NO_GRAD_MUTANTS) >= 5, [m.name for m in NO_GRAD_MUTANTS]


@pytest.mark.parametrize("mutant", NO_GRAD_MUTANTS, ids=lambda m: m.name)
def test_no_grad_mutant_is_correct_with_gradients(mutant):
    """Each no-gradient mutant misbehaves only without gradients: with y0 requiring grad and
    autograd on it returns the reference's output bitwise (same shape and dtype), leaves y0 as
    it was and passes gradients to y0; without gradients (torch.no_grad() or
    torch.inference_mode()) at least one of these inputs shows its bug. The catching suite
    check is named in its `caught_by` (test_mutant_is_caught runs it)."""
    import torch

    import reference

    misbehaved = []
    for what, field, y0, t in _no_grad_inputs():
        t = t.to(torch.float64)
        want = reference.odeint(field, y0, t, rtol=1e-7, atol=1e-9, method="dopri5").detach()
        y0g = y0.clone().requires_grad_(True)
        got = mutant.fn(field, y0g, t)
        assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, got.dtype)
        assert torch.equal(got.detach(), want), (what, (got.detach() - want).abs().max())
        assert torch.equal(y0g.detach(), y0), what
        got.sum().backward()
        assert y0g.grad is not None, what
        for ctx in (torch.no_grad, torch.inference_mode):
            y0n = y0.clone()
            with ctx():
                out = [mutant.fn(field, y0n, t) for _ in range(2)]
            wrong = (out[0].shape != want.shape or out[0].dtype != want.dtype or not torch.equal(y0n, y0)
                     or not torch.equal(out[0], want) or not torch.equal(out[0], out[1]))
            if wrong:
                misbehaved.append(f"{what} under {ctx.__name__}")
    assert misbehaved, f"{mutant.name} behaved correctly without gradients on every input"
