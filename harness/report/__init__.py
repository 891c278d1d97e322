"""The HTML report of a run, and the comparison of two runs.

    from harness.report import build_report, compare
    index = build_report("reports/results.jsonl", "reports")   # -> reports/index.html
    cmp = compare("old.jsonl", "new.jsonl")                    # cmp.regressions, cmp.exit_code

CLI hooks (``ode-harness report RESULTS [--out DIR]`` and ``ode-harness compare OLD NEW``):
`main_report` and `main_compare` take an argv list (without the program and sub-command
names), print one line per problem with bad input, and return the exit code: 0 ok,
1 regressions (compare), 2 usage error (bad arguments, a missing or unreadable file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .compare import Change, Comparison, compare
from .data import ResultsError
from .runend import RunEnd, read_run_ends, write_run_end

__all__ = ["build_report", "compare", "Comparison", "Change", "ResultsError", "main_report",
           "main_compare", "write_run_end", "read_run_ends", "RunEnd"]


def build_report(results_path, out_dir="reports", *, split=None) -> Path:
    """Write ``out_dir/index.html`` for the results file ``results_path``; see
    `harness.report.build.build_report`."""
    from .build import build_report as _build  # jinja2 and matplotlib only when a report is built

    return _build(results_path, out_dir, split=split)


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


def main_report(argv: Sequence[str] | None = None) -> int:
    """``ode-harness report RESULTS [--out DIR]``: write DIR/index.html (default reports/)."""
    parser = _Parser(prog="ode-harness report",
                     description="Write the HTML report of a results file (works on a partial one).")
    parser.add_argument("results", metavar="RESULTS", help="results file (JSON lines), e.g. reports/results.jsonl")
    parser.add_argument("--out", metavar="DIR", default="reports", help="output folder (default: reports)")
    parser.add_argument("--split", choices=("auto", "yes", "no"), default="auto",
                        help="per-implementation pages: auto (for large runs), yes, no")
    args = _run_parser(parser, argv)
    if isinstance(args, int):
        return args
    split = {"auto": None, "yes": True, "no": False}[args.split]
    try:
        index = build_report(args.results, args.out, split=split)
    except ResultsError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{parser.prog}: error: cannot write the report to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    from .data import read_run

    note = ""
    try:
        run = read_run(args.results)
        if not run.complete:
            note = f" (INCOMPLETE run: {run.incomplete_reasons[0]})"
    except ResultsError:
        pass
    print(f"wrote {index}{note}")
    return 0


def main_compare(argv: Sequence[str] | None = None) -> int:
    """``ode-harness compare OLD NEW``: 1 when NEW regressed against OLD, else 0 (2: bad input)."""
    parser = _Parser(prog="ode-harness compare",
                     description="Compare two results files; exit 1 when the new one regressed.")
    parser.add_argument("old", metavar="OLD", help="results file of the earlier run")
    parser.add_argument("new", metavar="NEW", help="results file of the later run")
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
    try:
        cmp = compare(args.old, args.new, error_factor=args.error_factor, order_drop=args.order_drop,
                      nfe_increase=args.nfe_increase, bytes_increase=args.bytes_increase,
                      error_floor=args.error_floor)
    except (ResultsError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(cmp.lines(limit=200)))
    return cmp.exit_code
