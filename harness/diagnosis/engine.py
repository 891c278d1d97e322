"""The diagnosis engine: the check records of a run -> `Diagnosis` (issue 11).

    from harness.diagnosis.engine import diagnose
    diag = diagnose(load_records(path).records)            # probes run through each IUT
    for f in diag.findings: print(f.category, f.cause_key, f.title, f.checks)
    ok = diag.gate(parse_categories("results,gradients"))

Per (implementation, method) the failing checks (fail, error, timeout) are handed to the rules
(harness.diagnosis.rules), each of which claims the checks a measured contrast explains and
returns one finding for them; a rule that lacks a contrast in the run's own records asks for a
probe (harness.diagnosis.probes), which runs a few solves through the implementation under test
within the time budget and is recorded as a check record of suite "probe". A failing check that
no rule claims stays its own finding, cause "unexplained". Finally diagnosed findings are matched
to known findings (suites/known_findings.py) in `match_known`, the one place that does it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from harness.diagnosis.facts import Fact, facts_of
from harness.diagnosis.known import match_known
from harness.diagnosis.model import UNEXPLAINED, Category, Confidence, Diagnosis, Finding
from harness.diagnosis.probes import PROBE_SUITE, Prober
from harness.diagnosis.rules import RULES, Context
from harness.results import CheckRecord, Verdict

__all__ = ["diagnose", "category_of", "unexplained_finding", "PROBE_SUITE", "DEFAULT_TIME_BUDGET_S"]

# Probes are a few solves of small problems each (well under a second on the reference); the
# budget bounds the whole diagnosis of a run, whatever the implementation's speed.
DEFAULT_TIME_BUDGET_S = 60.0

# The checks of suites/test_properties.py that state the API's semantics rather than accuracy
# (README "The contract for an implementation under test"), with and without gradients.
_CONTRACT_PROPERTIES = frozenset({
    "one_time_point_returns_y0", "shapes_and_dtypes_kept", "inputs_not_mutated",
    "field_evaluated_only_inside_span", "deterministic",
    "without_grad_inputs_not_mutated", "without_grad_deterministic", "without_grad_shapes_and_dtypes_kept",
    "without_grad_one_time_point_returns_y0",
})
# suites/test_benchmarks.py checks that bound a cost (NFE, memory); the others there are results
_COST_BENCHMARKS = frozenset({
    "nfe_per_tolerance", "fixed_step_nfe_ignores_tolerance", "adjoint_backward_evaluates_the_field",
    "work_precision", "saved_bytes_against_depth", "cuda_peak_memory", "wall_time_forward",
    "wall_time_gradient",
})


def category_of(fact: Fact) -> Category:
    """The category a failing check falls in when no rule explains it."""
    if fact.verdict in (Verdict.ERROR, Verdict.TIMEOUT):
        return Category.ROBUSTNESS
    if fact.suite == "gradients" or fact.check.startswith("gradient"):
        return Category.GRADIENTS
    if fact.suite == "properties" and fact.check in _CONTRACT_PROPERTIES:
        return Category.CONTRACT
    if fact.suite == "benchmarks" and (fact.check in _COST_BENCHMARKS or "nfe" in fact.check
                                       or "memory" in fact.check or "bytes" in fact.check):
        return Category.COST
    if fact.suite == "benchmarks" and fact.check == "nfe_is_reproducible":
        return Category.CONTRACT
    return Category.RESULTS


def _what(fact: Fact) -> str:
    where = f" on {fact.problem}" if fact.problem else ""
    return f"{fact.check}{where}"


def unexplained_finding(fact: Fact) -> Finding:
    """A failing check no rule explains: its own finding, nothing hidden."""
    msg = fact.message.strip().splitlines()[0] if fact.message.strip() else ""
    if fact.verdict == Verdict.TIMEOUT:
        title = f"{_what(fact)} did not return (timeout)"
    elif fact.verdict == Verdict.ERROR:
        title = f"{_what(fact)} raised: {msg}" if msg else f"{_what(fact)} raised"
    else:
        title = f"{_what(fact)} failed: {msg}" if msg else f"{_what(fact)} failed"
    return Finding(iut=fact.iut, method=fact.method, cause_key=UNEXPLAINED, title=title,
                   category=category_of(fact), confidence=Confidence.LOW, checks=(fact.check_id,),
                   detail="no rule explains this check; see its record for what was measured")


@dataclass
class Budget:
    """The time left for probes of one diagnosis (monotonic clock)."""

    seconds: float
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = time.monotonic()

    @property
    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def _groups(facts: Sequence[Fact]) -> dict[tuple[str, str], list[Fact]]:
    out: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for f in facts:
        out[(f.iut, f.method)].append(f)
    return out


def diagnose(records: Iterable[CheckRecord], *, impl_spec: str | None = None, method: str | None = None,
             run_probes: bool = True, time_budget_s: float = DEFAULT_TIME_BUDGET_S,
             known: Iterable[object] | None = None) -> Diagnosis:
    """The findings of one run's check records, per (implementation, method).

    impl_spec: the implementation to probe (a built-in name or ``package.module:callable``) when
    the records' ``iut`` is not loadable by itself; None: each group's ``iut``. method: only this
    method's records. run_probes: False diagnoses from the records alone (no solve is run).
    time_budget_s: wall-clock bound on all probes together; a probe that does not fit is not run
    and its rule falls back to the run's own evidence or leaves the checks unexplained.
    known: the known findings to match (default: suites/known_findings.py; `match_known`).
    """
    facts = [f for f in facts_of(records) if method is None or f.method == method]
    findings: list[Finding] = []
    probes: list[CheckRecord] = []
    budget = Budget(time_budget_s)
    for (iut, meth), group in _groups(facts).items():
        checks = [f for f in group if f.suite != PROBE_SUITE]
        failing = [f for f in checks if f.failing]
        if not failing:
            continue
        prober = _prober(impl_spec or iut, meth, checks, budget) if run_probes else None
        ctx = Context(iut=iut, method=meth, facts=checks, prober=prober)
        for rule in RULES:
            if not ctx.open:
                break
            rule(ctx)
        findings.extend(ctx.findings)
        findings.extend(unexplained_finding(f) for f in failing if f.check_id in ctx.open)
        if prober is not None:
            probes.extend(r.record for r in prober.results.values())
    by_id = {f.check_id: f for f in facts}
    return Diagnosis(findings=match_known(findings, by_id, known), probes=tuple(probes))


def _prober(spec: str, method: str, facts: Sequence[Fact], budget: Budget) -> Prober | None:
    """A prober for the implementation `spec`, None when it cannot be loaded here (the
    diagnosis then rests on the run's own records)."""
    from harness.implementations import ImplementationLoadError, load_implementation

    try:
        impl = load_implementation(spec)
    except (ImplementationLoadError, ImportError):
        return None
    claims = next((f.claims for f in facts if f.claims), None)
    if claims is None:
        claims = impl.claims(method).as_dict()
    return Prober(iut=spec, method=method, odeint=impl.odeint, claims=dict(claims), left=lambda: budget.left)
