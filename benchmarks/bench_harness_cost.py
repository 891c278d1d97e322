#!/usr/bin/env python
"""The harness's own cost: where the wall time of an `ode-harness check` run goes.

    python benchmarks/bench_harness_cost.py [IMPL ...] [--method M ...] [--profiles quick standard]
                                            [--jobs N] [--select EXPR] [--cprofile N] [--json FILE]

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

--cprofile N also runs the warm selection once in one process (pytest without xdist) under
cProfile and prints the N functions with the most own time, and own time by package.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
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


@dataclass
class RunCost:
    wall_s: float
    exit_code: int
    checks: int
    durations_s: float
    iut_s: float
    oracle_s: float
    iut_calls: int
    oracle_calls: int
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
    start = time.perf_counter()
    proc = subprocess.run(_check_cmd(args, profile, results, select), cwd=work, env=_env(cache),
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    recs = load_records(results, missing_ok=True).records if results.exists() else []
    t_in = [r.extra.get("time_in") or {} for r in recs]
    verdicts: dict[str, int] = {}
    for r in recs:
        verdicts[r.verdict.value] = verdicts.get(r.verdict.value, 0) + 1
    if proc.returncode not in (0, 1, 2):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return RunCost(wall, proc.returncode, len(recs), sum(r.duration_s or 0.0 for r in recs),
                   sum(x.get("iut_s", 0.0) for x in t_in), sum(x.get("oracle_s", 0.0) for x in t_in),
                   sum(int(x.get("iut_calls", 0)) for x in t_in), sum(int(x.get("oracle_calls", 0)) for x in t_in),
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
    out["cold_over_warm_wall"] = cold.wall_s / w
    out["oracle_cold_over_warm"] = cold.oracle_s / warm.oracle_s if warm.oracle_s > 0 else float("nan")
    return out


_PACKAGES = (("reference", f"{ROOT}/reference/"), ("harness", f"{ROOT}/harness/"), ("suites", f"{ROOT}/suites/"),
             ("torch", "/torch/"), ("torchdiffeq", "/torchdiffeq/"), ("scipy", "/scipy/"), ("numpy", "/numpy/"),
             ("hypothesis", "/hypothesis/"), ("pytest", "/_pytest/"), ("pluggy", "/pluggy/"),
             ("matplotlib", "/matplotlib/"))


def _package(filename: str) -> str:
    for name, marker in _PACKAGES:
        if marker in filename:
            return name
    return "builtins" if filename.startswith("~") or filename.startswith("<") else "other"


def profile_run(args: argparse.Namespace, profile: str, cache: Path, work: Path, top: int) -> dict:
    """The selection once, serially, in this process under cProfile: own time by package and the
    functions with the most own time."""
    import pytest

    os.environ["ODE_HARNESS_CACHE"] = str(cache)
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    from harness.cli import _PLUGINS

    # as `ode-harness check` runs pytest: plugins named, not discovered (harness/cli.py)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    pargs = [str(ROOT / "suites"), "-c", os.devnull, "--rootdir", str(ROOT), "-q", "-p", "no:cacheprovider",
             *[a for p in _PLUGINS if p != "xdist.plugin" for a in ("-p", p)],
             "--ode-profile", profile, "--ode-results", str(work / "prof.jsonl")]
    for i in args.impls:
        pargs += ["--ode-impl", i]
    for m in args.method:
        pargs += ["--ode-method", m]
    if args.select:
        pargs += ["-k", args.select]
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    pytest.main(pargs)
    prof.disable()
    wall = time.perf_counter() - start
    st = pstats.Stats(prof)
    by_pkg: dict[str, float] = {}
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in st.stats.items():  # type: ignore[attr-defined]
        pkg = _package(filename)
        by_pkg[pkg] = by_pkg.get(pkg, 0.0) + tt
        rows.append((tt, ct, nc, pkg, f"{Path(filename).name}:{line}({func})"))
    rows.sort(reverse=True)
    total = sum(by_pkg.values()) or 1.0
    return {"wall_s": wall, "own_time_by_package": {k: v / total for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])},
            "top": [dict(own_s=r[0], cumulative_s=r[1], calls=r[2], package=r[3], function=r[4]) for r in rows[:top]]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("impls", nargs="*", default=["reference"], metavar="IMPL")
    ap.add_argument("--method", action="append", default=None, metavar="M", help="default: dopri5")
    ap.add_argument("--profiles", nargs="+", default=["quick", "standard"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--select", default=None, metavar="EXPR", help="pytest -k expression (default: every check)")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="profile the first profile's run; top N")
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
            out["profiles"][profile] = {"runs": {k: asdict(v) for k, v in runs.items()}, "shares": sh}
            if args.cprofile and profile == args.profiles[0]:
                out["profiles"][profile]["cprofile"] = profile_run(args, profile, cache, tmp_p, args.cprofile)
        _print_profile(profile, out["profiles"][profile])
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
    cp = data.get("cprofile")
    if cp:
        print(f"   cProfile (one process, {cp['wall_s']:.1f} s): own time by package "
              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in cp["own_time_by_package"].items() if v >= 0.01))
        for row in cp["top"]:
            print(f"     {row['own_s']:7.2f} s own {row['cumulative_s']:7.2f} s cum {row['calls']:>8} "
                  f"{row['package']:<10} {row['function']}")


if __name__ == "__main__":
    sys.exit(main())
