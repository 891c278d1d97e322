"""The diagnosis on the mutant catalog (issue 11, acceptance 1): each mutant's seeded cause, and
the table of what the diagnosis names for each mutant and for the unmutated bases.

    python -m harness.diagnosis.catalog --runs /tmp/diag-runs            # run what is missing, print
    python -m harness.diagnosis.catalog --runs /tmp/diag-runs --readme   # and write the README table

Each case's check records are one `ode-harness check` run at the quick profile (one JSON-lines
file per case under --runs; an existing file is reused, so the diagnosis can be iterated on
saved records). The diagnosis runs its probes live through the case's implementation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.diagnosis.engine import diagnose
from harness.diagnosis.facts import FAILING
from harness.diagnosis.model import CAUSES, UNEXPLAINED, Diagnosis
from harness.mutants import MUTANTS
from harness.results import load_records

__all__ = ["SEEDED_CAUSE", "BASES", "CaseResult", "diagnose_case", "markdown_table"]

# the cause key each mutant's seeded bug is (harness/mutants.py docstrings)
SEEDED_CAUSE: dict[str, str] = {
    "wrong_weight_rk4": "wrong-coefficient",
    "perturbed_coefficient_dopri5": "wrong-coefficient",
    "euler_as_midpoint": "wrong-coefficient",
    "zero_error_estimate": "error-control",
    "wrong_dense_output": "dense-output",
    "dropped_last_partial_step": "last-partial-step",
    "output_at_step_end": "dense-output",
    "reverse_time_ignored": "reverse-time",
    "float32_internal": "precision-loss",
    "norm_first_batch_element": "batch-coupling",
    "tolerance_ignored": "error-control",
    "mutates_y0": "input-mutation",
    "nondeterministic": "nondeterminism",
    "silent_nan": "nan",
    "evaluates_outside_span": "outside-span",
    "hang": "hang",
    "updates_y0_without_grad": "input-mutation",
    "nondeterministic_in_inference_mode": "nondeterminism",
    "float32_output_without_autograd": "shape-dtype-device",
    "squeezed_output_in_inference_mode": "shape-dtype-device",
    "centred_state_without_autograd": "precision-loss",
    "one_point_steps_in_inference_mode": "one-time-point",
    "gradients_scaled": "grad-scale",
    "missing_y0_gradient": "grad-missing",
    "t_gradient_sign_flipped": "grad-sign",
    "adjoint_param_grad_sign": "grad-sign",
    "adjoint_ignores_intermediate_cotangents": "grad-dropped-cotangents",
    "adjoint_wrong_time": "grad-wrong-time",
    "adjoint_crude_backward": "grad-reconstruction-drift",
}

# the unmutated bases: the reference with every method, and both adjoint strategies
BASES: tuple[tuple[str, str], ...] = tuple(
    ("reference", m) for m in ("euler", "midpoint", "heun2", "heun3", "rk4", "rk38", "bosh3", "dopri5", "tsit5",
                               "dop853")) + (("reference-adjoint", "dopri5"), ("reference-checkpoint", "dopri5"))


@dataclass(frozen=True)
class CaseResult:
    name: str                 # mutant name or "impl method"
    seeded: str | None        # the seeded cause (None for a base)
    failing: int              # failing/error/timeout checks of the run
    diagnosis: Diagnosis
    seconds: float            # the diagnosis' wall time, probes included

    @property
    def named(self) -> list[str]:
        return [f.cause_key for f in self.diagnosis.findings if not f.unexplained]

    @property
    def unexplained(self) -> int:
        return sum(1 for f in self.diagnosis.findings if f.unexplained)

    @property
    def right(self) -> bool:
        """A mutant: exactly one non-unexplained finding, naming the seeded cause. A base: no
        finding that fails the gate (a matched known finding is reported, not a defect)."""
        if self.seeded is None:
            return self.diagnosis.gate()
        return self.named == [self.seeded]

    @property
    def explained(self) -> int:
        return sum(len(f.checks) for f in self.diagnosis.findings if not f.unexplained)


def _run_path(runs: Path, name: str) -> Path:
    return runs / f"{name}.jsonl"


def run_case(runs: Path, name: str, spec: str, method: str, *, extra: list[str] = ()) -> Path:
    """The case's results file, running `ode-harness check` for it when it is not there yet."""
    path = _run_path(runs, name)
    if path.exists() and path.stat().st_size:
        return path
    tmp = path.with_suffix(".tmp.jsonl")
    cmd = [sys.executable, "-m", "harness", "check", spec, "--method", method, "--jobs", "1", "--quiet",
           "--results", str(tmp), *extra]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    tmp.replace(path)
    return path


def diagnose_case(path: Path, name: str, seeded: str | None) -> CaseResult:
    recs = load_records(path).records
    failing = sum(1 for r in recs if r.verdict in FAILING)
    start = time.monotonic()
    diag = diagnose(recs)
    return CaseResult(name, seeded, failing, diag, time.monotonic() - start)


def markdown_table(results: list[CaseResult]) -> str:
    mutants = [r for r in results if r.seeded is not None]
    bases = [r for r in results if r.seeded is None]
    lines = ["| mutant | seeded cause | diagnosed cause | checks explained | unexplained |",
             "|---|---|---|---|---|"]
    for r in mutants:
        named = ", ".join(r.named) or UNEXPLAINED
        mark = "" if r.right else " (wrong)"
        lines.append(f"| `{r.name}` | {r.seeded} | {named}{mark} | {r.explained} of {r.failing} | {r.unexplained} |")
    right = sum(r.right for r in mutants)
    lines.append("")
    lines.append(f"{right} of {len(mutants)} mutants ({100 * right / max(len(mutants), 1):.0f}%) get exactly one "
                 "finding, naming the seeded cause.")
    if bases:
        lines += ["", "| unmutated base | failing checks | findings |", "|---|---|---|"]
        for r in bases:
            fs = "; ".join(f"{f.cause_key}" + (" (known finding)" if f.expected else "")
                           for f in r.diagnosis.findings) or "none"
            lines.append(f"| {r.name} | {r.failing} | {fs} |")
    return "\n".join(lines)


_BEGIN = "<!-- diagnosis-catalog:begin (generated by python -m harness.diagnosis.catalog --readme) -->"
_END = "<!-- diagnosis-catalog:end -->"
_LIB_BEGIN = "<!-- diagnosis-libraries:begin (generated by python -m harness.diagnosis.catalog --library FILE --readme) -->"
_LIB_END = "<!-- diagnosis-libraries:end -->"


def write_readme(table: str, readme: Path, begin: str = _BEGIN, end: str = _END) -> None:
    text = readme.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{readme}: the markers {begin!r} ... {end!r} are missing")
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    readme.write_text(head + begin + "\n" + table + "\n" + end + tail)


def library_table(paths: list[Path]) -> tuple[str, int]:
    """The expected diagnosis of real libraries (issue 11, acceptance 2): each (implementation,
    method) of the results files, its failing checks and the findings the diagnosis makes of
    them, each matched to its known finding or not. Returns (the table, the number of findings
    that are unexplained or not known)."""
    lines = ["| implementation | method | failing checks | findings (cause: checks) | not known or unexplained |",
             "|---|---|---|---|---|"]
    bad_total = 0
    for path in paths:
        recs = load_records(path).records
        diag = diagnose(recs)
        for key in dict.fromkeys((r.iut, r.method) for r in recs):
            failing = sum(1 for r in recs if (r.iut, r.method) == key
                          and r.verdict in FAILING)
            fs = [f for f in diag.findings if (f.iut, f.method) == key]
            bad = [f for f in fs if f.unexplained or f.expected is None]
            bad_total += len(bad)
            named = "; ".join(f"{f.cause_key}{'' if f.expected else ' (NOT KNOWN)'}: {len(f.checks)}" for f in fs) or "none"
            lines.append(f"| {key[0]} | {key[1]} | {failing} | {named} | {len(bad)} |")
    return "\n".join(lines), bad_total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.diagnosis.catalog", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, help="folder of the per-case results files")
    ap.add_argument("--library", type=Path, action="append", default=[],
                    help="a library's results file (repeatable): its expected diagnosis table instead")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md between its markers")
    ap.add_argument("--no-run", action="store_true", help="only diagnose the results files already there")
    ap.add_argument("--only", action="append", default=[], help="only these cases (repeatable)")
    args = ap.parse_args(argv)
    if args.library:
        table, bad = library_table(args.library)
        print(table)
        if args.readme:
            write_readme(table, Path(__file__).resolve().parents[2] / "README.md", _LIB_BEGIN, _LIB_END)
        return 1 if bad else 0
    if args.runs is None:
        ap.error("give --runs DIR (the mutant catalog) or --library FILE")
    args.runs.mkdir(parents=True, exist_ok=True)
    results = []
    cases = [(m.name, m.import_path, m.method, SEEDED_CAUSE[m.name]) for m in MUTANTS]
    cases += [(f"{spec}-{meth}" if spec == "reference" else spec, spec, meth, None) for spec, meth in BASES]
    for name, spec, method, seeded in cases:
        if args.only and name not in args.only:
            continue
        path = _run_path(args.runs, name)
        if not (path.exists() and path.stat().st_size):
            if args.no_run:
                print(f"{name}: no results file, skipped", file=sys.stderr)
                continue
            # the hang mutant never returns: a few checks at a short timeout show it
            extra = ["--timeout", "3", "--select", "error_at_end"] if name == "hang" else []
            run_case(args.runs, name, spec, method, extra=extra)
        r = diagnose_case(path, name, seeded)
        print(f"{name}: {'ok' if r.right else 'WRONG'} {r.named or [UNEXPLAINED]} ({r.unexplained} unexplained, "
              f"{r.explained}/{r.failing} checks, {r.seconds:.1f} s)", file=sys.stderr)
        results.append(r)
    table = markdown_table(results)
    print(table)
    if args.readme:
        write_readme(table, Path(__file__).resolve().parents[2] / "README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
