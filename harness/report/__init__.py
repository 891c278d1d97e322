"""The HTML report of a run, and the comparison of two runs.

    from harness.report import build_report, compare
    index = build_report("reports/results.jsonl", "reports")   # -> reports/index.html
    cmp = compare("old.jsonl", "new.jsonl")                    # cmp.regressions, cmp.exit_code

CLI hooks (``ode-harness report RESULTS [RESULTS ...] [--out DIR]`` and ``ode-harness compare
OLD NEW``): `main_report` and `main_compare` take an argv list (without the program and
sub-command names), print one line per problem with bad input, and return the exit code: 0 ok,
1 regressions (compare), 1 a check failed (report --fail-on-failure), 2 usage error (bad
arguments, a missing or unreadable file, overlapping or mixed shards). Each RESULTS (and each
side of a comparison) is a results file or a folder of them; several are merged as the shards
of one run (`harness.report.data.read_runs`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .compare import Change, Comparison, compare
from .data import BAD, ResultsError, outcome, read_runs
from .runend import RunEnd, read_run_ends, write_run_end

__all__ = ["build_report", "compare", "Comparison", "Change", "ResultsError", "main_report",
           "main_compare", "report_parser", "write_run_end", "read_run_ends", "RunEnd"]


def build_report(results_path, out_dir="reports", *, split=None, allow_mixed=False, fail_on=None) -> Path:
    """Write ``out_dir/index.html`` for the results file ``results_path`` (or several, merged);
    see `harness.report.build.build_report`."""
    from .build import build_report as _build  # jinja2 and matplotlib only when a report is built

    return _build(results_path, out_dir, split=split, allow_mixed=allow_mixed, fail_on=fail_on)


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so that the caller returns 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Usage(message)


def _run_parser(parser: _Parser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    try:
        return parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _Usage as exc:
        print(f"{parser.prog}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)


_MIXED_HELP = ("merge results files whose runs differ in code or settings (commit, versions, profile, "
               "seed, device, claims, overrides, shard count); refused without it")


def report_parser() -> argparse.ArgumentParser:
    """The options of ``ode-harness report``."""
    parser = _Parser(prog="ode-harness report",
                     description="Write the HTML report of a results file (works on a partial one), or of "
                                 "several (the shards of a run, or folders of them) merged into one.")
    parser.add_argument("results", metavar="RESULTS", nargs="+",
                        help="results file (JSON lines), e.g. reports/results.jsonl, or a folder of them "
                             "(every *.jsonl below it)")
    parser.add_argument("--out", metavar="DIR", default="reports", help="output folder (default: reports)")
    parser.add_argument("--split", choices=("auto", "yes", "no"), default="auto",
                        help="per-implementation pages: auto (for large runs), yes, no")
    parser.add_argument("--allow-mixed", action="store_true", help=_MIXED_HELP)
    parser.add_argument("--fail-on-failure", action="store_true",
                        help="exit 1 when a check failed, errored or timed out (known findings do not "
                             "count), or the run is incomplete: the verdict of a CI merge job")
    parser.add_argument("--fail-on", metavar="CATEGORY[,CATEGORY]", type=_fail_on_arg,
                        help="exit 1 when a finding of the run's diagnosis is in one of these categories "
                             "(results, gradients, contract, robustness, cost, all; known findings do not "
                             "count), a failing check no finding covers, or the run is incomplete: the gate "
                             "of `ode-harness check --fail-on` over the shards merged")
    return parser


def _fail_on_arg(text: str):
    from ..config import ConfigError, parse_fail_on

    try:
        return parse_fail_on(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--fail-on: ")) from None


def main_report(argv: Sequence[str] | None = None) -> int:
    """``ode-harness report RESULTS [RESULTS ...] [--out DIR]``: write DIR/index.html (default
    reports/) of one run, or of the shards' files merged."""
    parser = report_parser()
    args = _run_parser(parser, argv)
    if isinstance(args, int):
        return args
    split = {"auto": None, "yes": True, "no": False}[args.split]
    try:
        run = read_runs(args.results, allow_mixed=args.allow_mixed)
        index = build_report(args.results, args.out, split=split, allow_mixed=args.allow_mixed,
                             fail_on=args.fail_on)
    except ResultsError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{parser.prog}: error: cannot write the report to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    note = f" (INCOMPLETE run: {run.incomplete_reasons[0]})" if not run.complete else ""
    bad = [r for r in run.records if outcome(r) in BAD]
    merged = f" from {len(run.shards)} files" if run.shards else ""
    print(f"wrote {index}{note}: {len(run.records)} checks{merged}, {len(bad)} failed, errored or timed out")
    for r in bad[:20]:
        print(f"  {r.verdict.value.upper()} {r.check_id}: {' '.join((r.message or '').split())[:200]}")
    if len(bad) > 20:
        print(f"  ... and {len(bad) - 20} more (see the report)")
    if args.fail_on_failure and (bad or not run.complete):
        return 1
    if args.fail_on is not None:
        from ..gate import evaluate_gate
        from .findings import run_diagnosis

        rd = run_diagnosis(run, args.fail_on)
        failing = [{"check_id": r.check_id, "verdict": r.verdict.value} for r in bad]
        gate = evaluate_gate(rd.diagnosis, args.fail_on, failing, diagnosis_error=rd.note if rd.source == "unavailable" else "")
        print(f"{gate.headline()} (--fail-on {gate.fail_on_text()}; diagnosis {rd.source})")
        if not gate.passed or not run.complete:
            return 1
    return 0


def main_compare(argv: Sequence[str] | None = None) -> int:
    """``ode-harness compare OLD NEW`` (or ``--old A B ... --new C D ...``): 1 when NEW
    regressed against OLD, else 0 (2: bad input)."""
    parser = _Parser(prog="ode-harness compare",
                     description="Compare two runs; exit 1 when the new one regressed. Each side is a results "
                                 "file or a folder of them; name several files of a side (the shards of a "
                                 "run) with --old and --new.")
    parser.add_argument("sides", metavar="OLD NEW", nargs="*",
                        help="results file or folder of the earlier run, then of the later run")
    parser.add_argument("--old", nargs="+", default=[], metavar="RESULTS", help="the earlier run's files or folders")
    parser.add_argument("--new", nargs="+", default=[], metavar="RESULTS", help="the later run's files or folders")
    parser.add_argument("--allow-mixed", action="store_true", help=_MIXED_HELP)
    parser.add_argument("--error-factor", type=float, default=2.0, metavar="F",
                        help="an error that grew by more than this factor is a regression (default 2)")
    parser.add_argument("--order-drop", type=float, default=0.2, metavar="D",
                        help="an observed order that dropped by more than this is a regression (default 0.2)")
    parser.add_argument("--nfe-increase", type=float, default=0.10, metavar="R",
                        help="relative NFE growth that is a regression (default 0.10)")
    parser.add_argument("--bytes-increase", type=float, default=0.10, metavar="R",
                        help="relative growth of saved bytes that is a regression (default 0.10)")
    parser.add_argument("--error-floor", type=float, default=1e-14, metavar="E",
                        help="errors below this are round-off and never regress (default 1e-14)")
    args = _run_parser(parser, argv)
    if isinstance(args, int):
        return args
    if args.old or args.new:
        if args.sides or not (args.old and args.new):
            print(f"{parser.prog}: error: give OLD NEW, or both --old and --new (not a mix) (see --help)",
                  file=sys.stderr)
            return 2
        old, new = args.old, args.new
    elif len(args.sides) != 2:
        print(f"{parser.prog}: error: expected OLD NEW (two results files or folders), got {len(args.sides)} "
              f"(several files per side: --old ... --new ...) (see --help)", file=sys.stderr)
        return 2
    else:
        old, new = args.sides
    try:
        cmp = compare(old, new, error_factor=args.error_factor, order_drop=args.order_drop,
                      nfe_increase=args.nfe_increase, bytes_increase=args.bytes_increase,
                      error_floor=args.error_floor, allow_mixed=args.allow_mixed)
    except (ResultsError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(cmp.lines(limit=200)))
    return cmp.exit_code
