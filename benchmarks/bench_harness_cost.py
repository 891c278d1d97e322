#!/usr/bin/env python
"""The harness's own cost: where the wall time of an `ode-harness check` run goes.

    python benchmarks/bench_harness_cost.py [IMPL ...] [--method M ...] [--profiles quick standard]
                                            [--jobs N] [--select EXPR] [--top N] [--json FILE]

Not a unit test: it runs the real command (`python -m harness check`, this checkout's code) and
prints, per profile, the wall time and its shares:

  iut              time inside the implementation's own solves: `OdeCase.odeint` and the
                   backward passes the checks start (harness/cost.py), summed over the records'
                   ``extra["time_in"]``;
  oracle (warm)    time inside the oracle entry points (harness.oracles) with the disk cache
                   filled; `oracle (cold)` the same with an empty cache (a temporary
                   $ODE_HARNESS_CACHE, the run before the warm one);
  start-up         process start, imports, the preflight solve, xdist workers, collection: the
                   wall time of the same command selecting no check (it ends with exit 2,
                   "no checks selected", after collecting everything);
  in checks        the rest of the checks' own time: the records' durations less iut and oracle
                   (drawing examples, bounds, measuring, the harness's bookkeeping);
  between checks   wall - start-up - the checks' durations: setup and teardown, writing records,
                   scheduling, the summary.

  overhead = 1 - (iut + oracle warm) / wall  (the goal: <= 25 % at the standard profile).

With --jobs N > 1 the checks run in N workers at once: the per-check sums are divided by N
(busy workers in parallel), which is exact only when both stay busy; --jobs 1 (the default)
makes the shares additive. Default IUT: reference dopri5.

Absolute times depend on the machine and on what else runs on it (this project's machine is
shared by several processes on 2 cores): compare the shares, which contention scales alike, and
the NFE-free counts (checks, IUT calls, oracle calls) that do not depend on it at all.

It also prints the harness's own time (checks' durations less iut and oracle) by suite and the
--top N checks with the most, and the CPU seconds of the pieces of a start-up (a bare
interpreter, importing torch, importing a worker's modules, a worker's collection). (cProfile is
no help here: hypothesis installs its own sys.setprofile hook during the property checks.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.results import load_records  # noqa: E402

NO_CHECK = "__no_check_has_this_name__"


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class RunCost:
    wall_s: float
    cpu_s: float  # user + sys of the run's processes (controller and workers)
    exit_code: int
    checks: int
    durations_s: float
    iut_s: float
    oracle_s: float
    iut_calls: int
    oracle_calls: int
    iut_cpu_s: float
    oracle_cpu_s: float
    verdicts: dict


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["ODE_HARNESS_CACHE"] = str(cache)
    env.setdefault("HYPOTHESIS_PROFILE", "ci")
    return env


def _check_cmd(args: argparse.Namespace, profile: str, results: Path, select: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "harness", "check", *args.impls, "--profile", profile, "--jobs", str(args.jobs),
           "--results", str(results), "-q"]
    for m in args.method:
        cmd += ["--method", m]
    if select:
        cmd += ["--select", select]
    return cmd


def run(args: argparse.Namespace, profile: str, cache: Path, work: Path, select: str | None) -> RunCost:
    results = work / "results.jsonl"
    start, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(_check_cmd(args, profile, results, select), cwd=work, env=_env(cache),
                          capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu0
    recs = load_records(results, missing_ok=True).records if results.exists() else []
    t_in = [r.extra.get("time_in") or {} for r in recs]
    verdicts: dict[str, int] = {}
    for r in recs:
        verdicts[r.verdict.value] = verdicts.get(r.verdict.value, 0) + 1
    if proc.returncode not in (0, 1, 2):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return RunCost(wall, cpu, proc.returncode, len(recs), sum(r.duration_s or 0.0 for r in recs),
                   sum(x.get("iut_s", 0.0) for x in t_in), sum(x.get("oracle_s", 0.0) for x in t_in),
                   sum(int(x.get("iut_calls", 0)) for x in t_in), sum(int(x.get("oracle_calls", 0)) for x in t_in),
                   sum(x.get("iut_cpu_s", 0.0) for x in t_in), sum(x.get("oracle_cpu_s", 0.0) for x in t_in),
                   verdicts)


def shares(startup: RunCost, cold: RunCost, warm: RunCost, jobs: int) -> dict[str, float]:
    w = warm.wall_s
    busy = warm.durations_s / jobs
    out = {
        "iut": warm.iut_s / jobs / w,
        "oracle_warm": warm.oracle_s / jobs / w,
        "startup_collection": startup.wall_s / w,
        "in_checks_harness": (warm.durations_s - warm.iut_s - warm.oracle_s) / jobs / w,
        "between_checks": (w - startup.wall_s - busy) / w,
    }
    out["overhead"] = 1.0 - out["iut"] - out["oracle_warm"]
    # the same by CPU seconds (steady under contention): of all CPU the run's processes used
    if warm.cpu_s > 0:
        out["cpu_iut"] = warm.iut_cpu_s / warm.cpu_s
        out["cpu_oracle_warm"] = warm.oracle_cpu_s / warm.cpu_s
        out["cpu_startup_collection"] = startup.cpu_s / warm.cpu_s
        out["cpu_overhead"] = 1.0 - out["cpu_iut"] - out["cpu_oracle_warm"]
        # absolute figures: a cheaper oracle shrinks the run but raises the overhead *share*, so the
        # CPU seconds of each part are printed too (they do not depend on what else got faster)
        out["cpu_s_iut"] = warm.iut_cpu_s
        out["cpu_s_oracle_warm"] = warm.oracle_cpu_s
        out["cpu_s_oracle_cold"] = cold.oracle_cpu_s
        out["cpu_s_startup_collection"] = startup.cpu_s
        out["cpu_s_overhead"] = warm.cpu_s - warm.iut_cpu_s - warm.oracle_cpu_s
    out["cold_over_warm_wall"] = cold.wall_s / w
    out["oracle_cold_over_warm"] = cold.oracle_s / warm.oracle_s if warm.oracle_s > 0 else float("nan")
    return out


def breakdown(results: Path, top: int) -> dict:
    """Where the checks' own harness time goes (duration less iut and oracle), by suite and the
    `top` checks with the most."""
    recs = load_records(results, missing_ok=True).records if results.exists() else []
    by_suite: dict[str, dict[str, float]] = {}
    rows = []
    for r in recs:
        t = r.extra.get("time_in") or {}
        own = (r.duration_s or 0.0) - t.get("iut_s", 0.0) - t.get("oracle_s", 0.0)
        d = by_suite.setdefault(r.suite, {"checks": 0, "duration_s": 0.0, "iut_s": 0.0, "oracle_s": 0.0, "harness_s": 0.0})
        d["checks"] += 1
        d["duration_s"] += r.duration_s or 0.0
        d["iut_s"] += t.get("iut_s", 0.0)
        d["oracle_s"] += t.get("oracle_s", 0.0)
        d["harness_s"] += own
        rows.append((own, r.check_id, r.duration_s or 0.0))
    rows.sort(reverse=True)
    return {"by_suite": by_suite, "top": [dict(harness_s=a, check_id=b, duration_s=c) for a, b, c in rows[:top]]}


def startup_cpu(args: argparse.Namespace, cache: Path) -> dict[str, float]:
    """CPU seconds (user + sys, steady under contention) of the pieces of a start-up: a bare
    interpreter, importing torch, importing what a worker imports, and a worker's collection."""
    pieces = {
        "python": [sys.executable, "-c", "pass"],
        "import_torch": [sys.executable, "-c", "import torch"],
        "import_worker": [sys.executable, "-c", "import torch, scipy.integrate, hypothesis, pytest, harness.pytest_plugin, "
                                                "suites.conftest"],
        "collect": [sys.executable, "-m", "pytest", str(ROOT / "suites"), "--collect-only", "-q", "-p", "no:cacheprovider",
                    *[a for i in args.impls for a in ("--ode-impl", i)], *[a for m in args.method for a in ("--ode-method", m)]],
    }
    out = {}
    for name, cmd in pieces.items():
        before = _children_cpu()
        subprocess.run(cmd, cwd=ROOT, env=_env(cache), capture_output=True)
        out[name] = _children_cpu() - before
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("impls", nargs="*", default=["reference"], metavar="IMPL")
    ap.add_argument("--method", action="append", default=None, metavar="M", help="default: dopri5")
    ap.add_argument("--profiles", nargs="+", default=["quick", "standard"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--select", default=None, metavar="EXPR", help="pytest -k expression (default: every check)")
    ap.add_argument("--top", type=int, default=8, metavar="N", help="checks listed by the harness's own time")
    ap.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = ap.parse_args(argv)
    args.impls = args.impls or ["reference"]
    args.method = args.method or ["dopri5"]
    out: dict = {"impls": args.impls, "methods": args.method, "jobs": args.jobs, "select": args.select, "profiles": {}}
    for profile in args.profiles:
        with tempfile.TemporaryDirectory(prefix="ode-harness-cost-") as tmp:
            tmp_p = Path(tmp)
            cache = tmp_p / "cache"
            runs = {}
            for name, select in (("startup", NO_CHECK), ("cold", args.select), ("warm", args.select)):
                work = tmp_p / name
                work.mkdir()
                runs[name] = run(args, profile, cache, work, select)
                print(f"[{profile}] {name}: {runs[name].wall_s:.1f} s wall, exit {runs[name].exit_code}, "
                      f"{runs[name].checks} checks", flush=True)
            sh = shares(runs["startup"], runs["cold"], runs["warm"], args.jobs)
            out["profiles"][profile] = {"runs": {k: asdict(v) for k, v in runs.items()}, "shares": sh,
                                        "breakdown": breakdown(tmp_p / "warm" / "results.jsonl", args.top)}
            if profile == args.profiles[0]:
                out["startup_cpu_s"] = startup_cpu(args, cache)
        _print_profile(profile, out["profiles"][profile])
    if "startup_cpu_s" in out:
        print("\nstart-up pieces, CPU seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in out["startup_cpu_s"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def _print_profile(profile: str, data: dict) -> None:
    r, sh = data["runs"], data["shares"]
    w, c = r["warm"], r["cold"]
    print(f"\n== {profile}: {w['checks']} checks, wall {w['wall_s']:.1f} s warm / {c['wall_s']:.1f} s cold "
          f"cache, start-up {r['startup']['wall_s']:.1f} s; verdicts {w['verdicts']}")
    print(f"   IUT calls {w['iut_calls']} ({w['iut_s']:.1f} s), oracle calls {w['oracle_calls']} "
          f"({w['oracle_s']:.1f} s warm, {c['oracle_s']:.1f} s cold)")
    for k in ("iut", "oracle_warm", "startup_collection", "in_checks_harness", "between_checks", "overhead"):
        print(f"   {k:<20} {100 * sh[k]:5.1f} % of wall")
    print(f"   cold / warm wall {sh['cold_over_warm_wall']:.2f}, oracle time cold / warm {sh['oracle_cold_over_warm']:.1f}")
    if "cpu_overhead" in sh:
        print(f"   by CPU seconds ({w['cpu_s']:.1f} s warm): iut {100 * sh['cpu_iut']:.1f} %, oracle "
              f"{100 * sh['cpu_oracle_warm']:.1f} %, start-up {100 * sh['cpu_startup_collection']:.1f} %, "
              f"overhead {100 * sh['cpu_overhead']:.1f} %")
        print(f"   CPU seconds: iut {sh['cpu_s_iut']:.1f}, oracle {sh['cpu_s_oracle_warm']:.1f} warm / "
              f"{sh['cpu_s_oracle_cold']:.1f} cold, start-up {sh['cpu_s_startup_collection']:.1f}, "
              f"overhead {sh['cpu_s_overhead']:.1f} (cold run {c['cpu_s']:.1f} s in all)")
    bd = data["breakdown"]
    for suite, d in sorted(bd["by_suite"].items(), key=lambda kv: -kv[1]["duration_s"]):
        print(f"   {suite:<20} {d['checks']:>4} checks {d['duration_s']:7.1f} s: iut {d['iut_s']:6.1f}, "
              f"oracle {d['oracle_s']:6.1f}, harness {d['harness_s']:6.1f}")
    for row in bd["top"]:
        print(f"     {row['harness_s']:6.2f} s harness of {row['duration_s']:6.2f} s  {row['check_id']}")

if __name__ == "__main__":
    sys.exit(main())
