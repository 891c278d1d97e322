"""The diagnosis contract: what a finding is.

A run's failing checks are grouped into `Finding`s. A finding names one probable cause (a key of
`CAUSES`), in the library author's words (`title`, `cause`), with the measured `Contrast`s that
support it, the check ids it explains, its `Category` (which decides the gate, see
`Diagnosis.gate`), and the path of a standalone reproducer script. A failing check that no rule
explains becomes its own finding with cause ``"unexplained"``: nothing is hidden.

A *known* finding (suites/known_findings.py: a real library's recorded defect) is matched to a
diagnosed finding on structured keys (implementation, method, cause key), never on test names or
node ids; a matched finding carries the recorded evidence in `expected` and does not fail the
gate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["Category", "Confidence", "Cause", "CAUSES", "UNEXPLAINED", "Contrast", "Finding", "Diagnosis",
           "parse_categories"]


class Category(str, enum.Enum):
    """What kind of defect a finding is; `--fail-on` selects the categories that fail the gate."""

    RESULTS = "results"          # wrong solutions
    GRADIENTS = "gradients"      # wrong derivatives
    CONTRACT = "contract"        # API semantics: t of one point, shapes, f outside the span, mutation
    ROBUSTNESS = "robustness"    # crash, hang, NaN
    COST = "cost"                # NFE or memory budget

    def __str__(self) -> str:
        return self.value


def parse_categories(text: str | Iterable[str]) -> frozenset[Category]:
    """``"results,gradients"`` (or a list of names) -> the categories; ``"all"`` -> all of them.
    ValueError naming the unknown entry and the valid ones."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    out: set[Category] = set()
    for item in items:
        if not item:
            continue
        if item == "all":
            out.update(Category)
            continue
        try:
            out.add(Category(item))
        except ValueError:
            valid = ", ".join(c.value for c in Category)
            raise ValueError(f"unknown category {item!r} (valid: {valid}, all)") from None
    if not out:
        raise ValueError("no category given (valid: " + ", ".join(c.value for c in Category) + ", all)")
    return frozenset(out)


class Confidence(str, enum.Enum):
    """How strongly the measured contrasts single out the cause.

    high: a contrast isolates the cause (the same check passes on the twin that differs only in
    the suspected respect, e.g. the autonomous twin of a time-dependent problem); medium: the
    pattern of failing checks fits this cause and no other rule's; low: only one check supports it.
    """

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Cause:
    key: str
    category: Category
    summary: str  # one line, the library author's words


_C = Category
# The causes the diagnosis tells apart (issue 11). Keys are stable: known findings and tests
# match on them.
CAUSES: dict[str, Cause] = {c.key: c for c in (
    Cause("wrong-coefficient", _C.RESULTS, "a weight or coefficient of the method is wrong: order lost on every problem"),
    Cause("stage-times", _C.RESULTS, "stage times are wrong: order lost only when f depends on t"),
    Cause("last-partial-step", _C.RESULTS, "the last, shortened step of an interval is mishandled: error only when h does not divide the interval"),
    Cause("reverse-time", _C.RESULTS, "reverse time (t decreasing) is mishandled"),
    Cause("precision-loss", _C.RESULTS, "precision is lost in time or internals: float64 accuracy stuck near float32 levels, or worse for large |t|"),
    Cause("dense-output", _C.RESULTS, "outputs between step ends are less accurate than step ends (overshoot then interpolate, or a low-order interpolant)"),
    Cause("error-control", _C.RESULTS, "error control is too loose or the tolerances are mixed up: error not proportional to rtol/atol"),
    Cause("batch-coupling", _C.RESULTS, "the error norm couples or ignores batch elements"),
    Cause("input-mutation", _C.CONTRACT, "an input (y0, t, parameters) is modified in place"),
    Cause("nondeterminism", _C.CONTRACT, "two identical calls give different results"),
    Cause("outside-span", _C.CONTRACT, "f is evaluated at times outside the integration span"),
    Cause("one-time-point", _C.CONTRACT, "t of one point does not return y0"),
    Cause("shape-dtype-device", _C.CONTRACT, "the shape, dtype or device contract is broken"),
    Cause("crash", _C.ROBUSTNESS, "the implementation raises on a valid input"),
    Cause("hang", _C.ROBUSTNESS, "the implementation does not return (timeout)"),
    Cause("nan", _C.ROBUSTNESS, "NaN or inf in the result of a well-posed problem"),
    Cause("grad-missing", _C.GRADIENTS, "a gradient is missing (None or zero where it is not)"),
    Cause("grad-sign", _C.GRADIENTS, "a gradient has the wrong sign"),
    Cause("grad-scale", _C.GRADIENTS, "a gradient is scaled (right direction, wrong magnitude)"),
    Cause("grad-dropped-cotangents", _C.GRADIENTS, "cotangents of intermediate outputs are dropped: only the last output time contributes"),
    Cause("grad-wrong-time", _C.GRADIENTS, "the backward pass evaluates f at the wrong time"),
    Cause("grad-reconstruction-drift", _C.GRADIENTS, "the backward reconstruction of the state drifts (backward solve too inaccurate)"),
    Cause("grad-wrong", _C.GRADIENTS, "a gradient is wrong (which one: y0, parameters or t_i, in the title)"),
    Cause("cost-nfe", _C.COST, "more evaluations of f than the budget"),
    Cause("cost-memory", _C.COST, "more memory than the budget (e.g. growing with depth for an O(1) adjoint)"),
)}
UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Contrast:
    """A measured contrast supporting a cause: one quantity on the side the cause predicts bad
    (`bad_label`, `bad_value`) and on the twin it predicts good (`good_label`, `good_value`),
    with the ids of the checks or probes that measured each side."""

    quantity: str          # e.g. "observed order", "max error"
    bad_label: str         # e.g. "time-dependent problems (B1, mlp-tanh-t)"
    bad_value: float
    good_label: str        # e.g. "autonomous problems (A1, A3)"
    good_value: float
    sources: tuple[str, ...] = ()  # check ids / probe ids

    def describe(self) -> str:
        return (f"{self.quantity} {self.bad_value:.3g} on {self.bad_label} against "
                f"{self.good_value:.3g} on {self.good_label}")


@dataclass(frozen=True)
class Finding:
    iut: str
    method: str
    cause_key: str                      # a key of CAUSES, or UNEXPLAINED
    title: str                          # the library author's words, with the measured figures
    category: Category
    confidence: Confidence
    checks: tuple[str, ...]             # the check ids it explains
    contrasts: tuple[Contrast, ...] = ()
    detail: str = ""                    # the reasoning: what was measured and why it points here
    reproducer: str | None = None       # path of the standalone script (relative to the report folder)
    expected: str | None = None         # evidence of the matching known finding, if any

    def __post_init__(self) -> None:
        # the category of a diagnosed cause is the cause's (CAUSES), so that the gate cannot
        # disagree with the cause a finding names; an unexplained finding takes its check's
        if self.cause_key != UNEXPLAINED:
            cause = CAUSES.get(self.cause_key)
            if cause is None:
                raise ValueError(f"unknown cause key {self.cause_key!r} (valid: {', '.join(CAUSES)}, {UNEXPLAINED})")
            if self.category != cause.category:
                raise ValueError(f"cause {self.cause_key!r} is of category {cause.category.value}, "
                                 f"not {Category(self.category).value}")

    @property
    def cause(self) -> Cause | None:
        return CAUSES.get(self.cause_key)

    @property
    def unexplained(self) -> bool:
        return self.cause_key == UNEXPLAINED


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    probes: tuple = ()                  # the probe CheckRecords run to measure contrasts

    def failing(self, fail_on: frozenset[Category]) -> tuple[Finding, ...]:
        """The findings that fail the gate: in a selected category and not a known finding."""
        return tuple(f for f in self.findings if f.category in fail_on and f.expected is None)

    def gate(self, fail_on: frozenset[Category] = frozenset(Category)) -> bool:
        """True (pass) when no finding fails the gate."""
        return not self.failing(fail_on)
