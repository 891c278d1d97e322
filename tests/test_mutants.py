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
