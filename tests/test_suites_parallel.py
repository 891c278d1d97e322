"""Suites issue, acceptance 3: `pytest -n 2 suites/` yields the same set of records as a serial
run (same check ids, same verdicts). A narrow but cross-suite selection keeps it short."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.results import load_records

ROOT = Path(__file__).resolve().parent.parent
SELECT = ["-k", "A3 or mlp-tanh-t or test_deterministic or test_fixed_step_order or test_nfe_is_reproducible",
          "--ode-impl", "reference", "--ode-method", "dopri5", "--ode-method", "rk4"]


def _records(tmp: Path, extra: list[str]) -> set[tuple[str, str]]:
    results = tmp / "results.jsonl"
    cmd = [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", "--ode-results", str(results),
           *SELECT, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "HYPOTHESIS_PROFILE": "ci"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return {(r.check_id, r.verdict.value) for r in load_records(results).records}


def test_parallel_run_yields_the_same_records_as_serial(tmp_path):
    serial = _records(tmp_path / "serial", [])
    parallel = _records(tmp_path / "parallel", ["-n", "2"])
    assert serial, "the selection ran no check"
    assert serial == parallel, (sorted(serial - parallel)[:10], sorted(parallel - serial)[:10])
