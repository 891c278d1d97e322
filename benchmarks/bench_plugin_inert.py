"""Does installing ode-harness change anyone else's pytest runs? (packaging issue, acceptance 3)

A tiny unrelated pytest project (21 tests and a fixture of its own named ``check``) is collected
with each given Python interpreter (one environment with ode-harness installed, one without),
``--runs`` times each; the script prints the median collection time (wall clock of
``python -m pytest --collect-only -q``, the process start included), the import cost of the
pytest11 entry point (``-X importtime``, harness.pytest_entry's own modules, pytest already
loaded), and whether the test run's output is the same apart from timings and pytest's list of
installed plugin distributions.

    python benchmarks/bench_plugin_inert.py --python VENV_WITH/bin/python --python VENV_WITHOUT/bin/python

With a single --python, "without" is the same interpreter with the plugin disabled
(``-p no:ode_harness``): the same third-party packages, ode-harness's entry point not loaded.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = '''import pytest


@pytest.fixture
def check():
    return 41


def test_add(check):
    assert check + 1 == 42


@pytest.mark.parametrize("n", range(20))
def test_square(n):
    assert n * n >= 0
'''


def _pytest(py: str, proj: Path, *extra: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([py, "-m", "pytest", "-p", "no:cacheprovider", *extra], cwd=proj, capture_output=True,
                       text=True, timeout=600)
    return time.perf_counter() - t0, p.stdout


def _entry_import_us(py: str) -> int | None:
    """Microseconds of importing harness.pytest_entry's own modules, pytest already imported."""
    p = subprocess.run([py, "-X", "importtime", "-c", "import pytest; import harness.pytest_entry"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return None
    total = 0
    seen = False
    for ln in p.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)", ln)
        if m and m.group(4).startswith("harness"):
            total += int(m.group(1))  # self time of each harness module
            seen = True
    return total if seen else None


def _normalized(out: str) -> list[str]:
    out = re.sub(r" in \d+\.\d+s", " in Xs", out)
    return [ln for ln in out.splitlines() if not ln.startswith("plugins:")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", default=[], help="interpreter: with ode-harness, then without")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    pys = args.python or [sys.executable]
    setups = [("with ode-harness", pys[0], ())]
    setups.append(("without ode-harness", pys[1], ()) if len(pys) > 1 else
                  ("plugin disabled (-p no:ode_harness)", pys[0], ("-p", "no:ode_harness")))
    with tempfile.TemporaryDirectory(prefix="unrelated-project-") as d:
        proj = Path(d)
        (proj / "test_things.py").write_text(TESTS)
        outputs = {}
        times: dict[str, list[float]] = {label: [] for label, _, _ in setups}
        for label, py, extra in setups:
            _pytest(py, proj, "--collect-only", "-q", *extra)  # warm the file cache and the bytecode
        for _ in range(args.runs):  # interleaved: a change in the machine's load hits both alike
            for label, py, extra in setups:
                times[label].append(_pytest(py, proj, "--collect-only", "-q", *extra)[0])
        for label, py, extra in setups:
            outputs[label] = _pytest(py, proj, *extra)[1]
            plugins = next((ln for ln in outputs[label].splitlines() if ln.startswith("plugins:")), "")
            t = times[label]
            print(f"{label:38s} collection median {statistics.median(t):.3f} s "
                  f"(min {min(t):.3f}, max {max(t):.3f}, {args.runs} runs); {plugins}")
        a, b = (outputs[s[0]] for s in setups)
        same = _normalized(a) == _normalized(b)
        print(f"test run output identical apart from timings and the 'plugins:' line: {'yes' if same else 'NO'}")
        if not same:
            import difflib

            print("\n".join(difflib.unified_diff(_normalized(b), _normalized(a), lineterm="")))
        us = _entry_import_us(pys[0])
        print("import of harness.pytest_entry (its own modules, pytest loaded): "
              + (f"{us / 1000:.1f} ms" if us is not None else "not importable"))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
