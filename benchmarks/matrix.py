"""Verdict and wall-time matrix: every method of the reference, torchdiffeq 0.2.5 and torchode
through `python -m harness check IMPL --method M --profile P --jobs J`, one run per cell, and a
table of wall time, verdict, checks, passes, skips, known findings, failures and timeouts.

    python benchmarks/matrix.py                          # quick, every implementation and method
    python benchmarks/matrix.py --profile quick standard
    python benchmarks/matrix.py --impl torchdiffeq --method adaptive_heun fehlberg2
    python benchmarks/matrix.py --markdown               # the table as markdown (README / note)

Budgets (issue 12): quick <= 30 s, standard <= 5 min per implementation and method on 2 cores,
no timeout. Wall times depend on the machine's load; the CPU seconds of the run (all its
processes) much less so: cpu_s / jobs is what the run takes on a quiet machine with that many
cores, and the "in budget" column judges that. The check counts do not depend on the load. Each cell's JSON
summary is kept under --out (default reports/matrix/) and read back with --table-only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = {
    "reference": (),  # every tableau of reference/tableaus.py, read at run time
    "torchdiffeq": ("dopri5", "bosh3", "dopri8", "fehlberg2", "adaptive_heun", "euler", "midpoint",
                    "rk4", "heun3", "explicit_adams", "implicit_adams"),
    "torchode": ("dopri5", "tsit5"),
}
BUDGET_S = {"quick": 30.0, "standard": 300.0}
JOBS = [2]


def _reference_methods() -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT))
    from reference.tableaus import TABLEAUS

    return tuple(TABLEAUS)


def run_cell(impl: str, method: str, profile: str, jobs: int, out: Path) -> dict:
    summary = out / f"{impl}-{method}-{profile}.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "harness", "check", impl, "--method", method, "--profile", profile,
           "--jobs", str(jobs), "--quiet", "--json", str(summary),
           "--results", str(out / f"{impl}-{method}-{profile}.jsonl")]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        data = json.loads(summary.read_text())
    except (OSError, ValueError):
        data = {"verdict": "error", "counts": {}, "failing": [],
                "message": (proc.stdout + proc.stderr).strip().splitlines()[-1:]}
    data["matrix_wall_s"] = round(wall, 1)
    data["matrix_cpu_s"] = round(cpu, 1)  # every process of the run, workers included
    summary.write_text(json.dumps(data, indent=1))
    return data


def row(impl: str, method: str, profile: str, data: dict) -> list[str]:
    c = data.get("counts", {})
    n = sum(int(c.get(k, 0)) for k in ("pass", "fail", "error", "timeout", "skip", "expected_failure"))
    wall = float(data.get("matrix_wall_s", data.get("duration_s", float("nan"))))
    cpu = float(data.get("matrix_cpu_s", float("nan")))
    # on a quiet machine with J cores the run takes about cpu / J (the workers run in parallel)
    within = "yes" if cpu / JOBS[0] <= BUDGET_S.get(profile, float("inf")) else "NO"
    return [impl, method, profile, f"{wall:.0f}", f"{cpu:.0f}", within, str(data.get("verdict", "?")).upper(), str(n),
            str(c.get("pass", 0)), str(c.get("skip", 0)), str(c.get("expected_failure", 0)),
            str(c.get("fail", 0)), str(c.get("error", 0)), str(c.get("timeout", 0))]


HEADER = ["impl", "method", "profile", "wall_s", "cpu_s", "cpu/jobs in budget", "verdict", "checks", "pass", "skip",
          "known", "fail", "error", "timeout"]


def render(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [HEADER, *rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", nargs="+", default=["quick"], choices=("quick", "standard", "thorough"))
    p.add_argument("--impl", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--method", nargs="+", help="only these methods (of every --impl that has them)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "matrix")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--table-only", action="store_true", help="print the table of the stored summaries")
    ns = p.parse_args(argv)
    JOBS[0] = ns.jobs
    ns.out.mkdir(parents=True, exist_ok=True)
    methods = dict(METHODS, reference=_reference_methods())
    rows = []
    for profile in ns.profile:
        for impl in ns.impl:
            for method in methods[impl]:
                if ns.method and method not in ns.method:
                    continue
                if ns.table_only:
                    path = ns.out / f"{impl}-{method}-{profile}.json"
                    if not path.exists():
                        continue
                    data = json.loads(path.read_text())
                else:
                    data = run_cell(impl, method, profile, ns.jobs, ns.out)
                rows.append(row(impl, method, profile, data))
                if not ns.table_only:
                    print(render([rows[-1]], False).splitlines()[-1], flush=True)
    print(render(rows, ns.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
