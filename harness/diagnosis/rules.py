"""Diagnosis rules: each tells one cause (a key of CAUSES) apart by a measured contrast and claims
the failing checks that cause explains.

The rules run in `RULES` order on one (implementation, method) group (`Context`). A rule looks at
the open (unclaimed) failing checks, reads what they and the passing checks measured (through
harness.diagnosis.facts), asks for probes (harness.diagnosis.probes) where the run lacks the
contrast, and, when the contrast singles out its cause, emits one `Finding` claiming its checks.
Order matters where one defect has consequences elsewhere: a forward defect (wrong coefficient,
stage times, last step, error control, precision) also makes gradients, float32 and reverse-time
checks fail, so the forward rules run before the gradient rules and claim those consequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from harness.diagnosis.facts import Fact
from harness.diagnosis.model import CAUSES, Category, Confidence, Contrast, Finding
from harness.diagnosis.probes import WORK_ORDER_FRACTION, Prober, ProbeResult
from harness.results import Verdict

__all__ = ["Context", "RULES"]


def _base_problem(problem: str) -> str:
    return problem.partition("[")[0]


# check families (suite check names without "test_")
_END = frozenset({"error_at_end", "fixed_step_order", "error_falls_with_tolerance",
                  "tolerance_proportionality_bound", "error_float32", "linear_systems_match_expm",
                  "flow_property"})
_INTERIOR = frozenset({"error_at_interior_times", "dense_output_order", "dense_output_order_adaptive"})
_REVERSE = frozenset({"error_in_reverse_time", "time_reversal"})
_BATCH = frozenset({"error_batched", "batch_independence"})
_PROPERTY_ACCURACY = frozenset({"linear_systems_match_expm", "flow_property", "time_reversal",
                                "batch_independence"})
_MUTATION = frozenset({"inputs_not_mutated", "without_grad_inputs_not_mutated"})
_DETERMINISM = frozenset({"deterministic", "without_grad_deterministic", "nfe_is_reproducible"})
_SPAN = frozenset({"field_evaluated_only_inside_span"})
_SHAPES = frozenset({"shapes_and_dtypes_kept", "without_grad_shapes_and_dtypes_kept"})
_ONE_POINT = frozenset({"one_time_point_returns_y0", "without_grad_one_time_point_returns_y0"})
_ZERO_FIELD = frozenset({"zero_field_keeps_y_constant", "without_grad_zero_field_keeps_y_constant"})
# solver exceptions that are a consequence of wrong integration (a step size driven to zero, a
# step budget exhausted), claimed by a forward finding when one is established
_SOLVER_EXCEPTIONS = ("StepSizeUnderflowError", "TooManyStepsError", "ODESolverError")


def _is_accuracy(f: Fact) -> bool:
    """Checks whose verdict depends on how accurate the solution (and so its gradient) is."""
    return (f.suite in ("forward_accuracy", "convergence_order", "gradients")
            or (f.suite == "properties" and f.check in _PROPERTY_ACCURACY))


def _is_gradient(f: Fact) -> bool:
    return f.suite == "gradients" or f.check.startswith("gradient")


@dataclass
class Context:
    """One (implementation, method) group under diagnosis."""

    iut: str
    method: str
    facts: list[Fact]
    prober: Prober | None
    open: dict[str, Fact] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    forward_cause: str | None = None   # set by a forward rule: the gradient rules then stand back

    def __post_init__(self) -> None:
        if not self.open:
            self.open = {f.check_id: f for f in self.facts if f.failing}

    # -------------------------------------------------------------- queries
    def failing(self, pred: Callable[[Fact], bool]) -> list[Fact]:
        return [f for f in self.open.values() if pred(f)]

    def passing(self, pred: Callable[[Fact], bool]) -> list[Fact]:
        return [f for f in self.facts if f.verdict == Verdict.PASS and pred(f)]

    @property
    def claims(self) -> dict:
        for f in self.facts:
            if f.claims:
                return f.claims
        return {}

    def probe(self, fn: Callable[[Prober], ProbeResult | None]) -> ProbeResult | None:
        if self.prober is None:
            return None
        res = fn(self.prober)
        return res if res is not None and res.ran else None

    # -------------------------------------------------------------- results
    def emit(self, cause_key: str, title: str, facts: Iterable[Fact], *, confidence: Confidence,
             contrasts: Iterable[Contrast] = (), detail: str = "") -> Finding | None:
        facts = list({f.check_id: f for f in facts if f.check_id in self.open}.values())
        if not facts:
            return None
        for f in facts:
            del self.open[f.check_id]
        finding = Finding(iut=self.iut, method=self.method, cause_key=cause_key, title=title,
                          category=CAUSES[cause_key].category, confidence=confidence,
                          checks=tuple(f.check_id for f in facts), contrasts=tuple(contrasts),
                          detail=detail or CAUSES[cause_key].summary)
        self.findings.append(finding)
        return finding


def _ratio(f: Fact) -> float:
    r = f.ratio
    return math.nan if r is None else r


def _probe_contrast(quantity: str, bad: ProbeResult, bad_label: str, bad_value: float,
                    good: ProbeResult | None, good_label: str, good_value: float) -> Contrast:
    sources = (bad.check_id,) + ((good.check_id,) if good is not None and good is not bad else ())
    return Contrast(quantity, bad_label, float(bad_value), good_label, float(good_value), sources)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# ================================================================ robustness: hang
def rule_hang(ctx: Context) -> None:
    timeouts = ctx.failing(lambda f: f.verdict == Verdict.TIMEOUT)
    if not timeouts:
        return
    returned = ctx.passing(lambda f: True) + [f for f in ctx.facts if f.verdict == Verdict.FAIL]
    names = sorted({f.check for f in timeouts})
    skipped = ctx.failing(lambda f: f.not_run and "timeout" in f.message)  # the case's rest, not run after them
    ctx.emit("hang", f"does not return: {len(timeouts)} check(s) timed out ({', '.join(names[:4])}"
             f"{', ...' if len(names) > 4 else ''})", timeouts + skipped,
             confidence=Confidence.HIGH if returned else Confidence.MEDIUM,
             contrasts=(Contrast("checks that returned", "checks of this run (timed out)", 0.0,
                                 "checks of this run (returned)", float(len(returned)),
                                 tuple(f.check_id for f in timeouts[:3])),),
             detail="each of these checks ran past the per-check timeout; " +
                    (f"{len(returned)} other checks returned" if returned else "no check returned at all"))


# ================================================================ contract rules (direct observations)
def _direct(ctx: Context, checks: frozenset[str], cause: str, title: str, quantity: str,
            good_label: str) -> None:
    # an exception there is a crash, a non-finite output a NaN finding
    bad = ctx.failing(lambda f: f.check in checks and not f.raised and not f.nonfinite and not f.wrong_output)
    if not bad:
        return
    good = ctx.passing(lambda f: f.check in checks)
    modes = sorted({f.check for f in bad})
    ctx.emit(cause, title + (f" ({', '.join(modes)})" if modes else ""), bad,
             confidence=Confidence.HIGH if good else Confidence.MEDIUM,
             contrasts=(Contrast(quantity, "the failing cases", float(len(bad)), good_label,
                                 float(len(good)), tuple(f.check_id for f in bad[:3] + good[:2])),),
             detail=CAUSES[cause].summary + ": " + "; ".join(sorted({f.message for f in bad if f.message})[:3]))


# torch's autograd refuses, by its version counters, a tensor that the backward pass needs and
# that was written in place: an input modified by the call surfaces as this RuntimeError when
# the input requires grad
_INPLACE_MESSAGE = "modified by an inplace operation"


def rule_mutation(ctx: Context) -> None:
    refused = ctx.failing(lambda f: f.raised and _INPLACE_MESSAGE in f.message)
    if refused and ctx.failing(lambda f: f.check in _MUTATION and not f.raised):
        refused_ids = {f.check_id for f in refused}
        bad = ctx.failing(lambda f: f.check in _MUTATION or f.check_id in refused_ids)
        good = ctx.passing(lambda f: f.check in _MUTATION)
        ctx.emit("input-mutation", "an input is modified in place (" + ", ".join(sorted({f.check for f in bad}))
                 + f"; autograd refused the in-place write in {len(refused)} check(s))", bad,
                 confidence=Confidence.HIGH,
                 contrasts=(Contrast("cases with an input changed by the call", "failing cases", float(len(bad)),
                                     "cases where the inputs stayed bitwise equal", float(len(good)),
                                     tuple(f.check_id for f in bad[:3])),),
                 detail="the inputs-not-mutated checks measured y0 changed; where y0 requires grad the same "
                        "write makes autograd raise: " + refused[0].message[:200])
        return
    _direct(ctx, _MUTATION, "input-mutation", "an input is modified in place",
            "cases with an input changed by the call", "cases where the inputs stayed bitwise equal")


def rule_determinism(ctx: Context) -> None:
    bad = ctx.failing(lambda f: f.check in _DETERMINISM and not f.raised and not f.wrong_output and not f.nonfinite)
    if not bad:
        return
    # exactness checks (t of one point returns y0, f = 0 keeps y) fail too when the output carries
    # noise: the probe repeats those cases; if two identical calls differ there, it is the noise
    exact = ctx.failing(lambda f: (f.check in _ONE_POINT or f.check in _ZERO_FIELD) and not f.raised)
    rep = ctx.probe(lambda p: p.repeat_exact()) if exact else None
    claimed = bad + (exact if rep is not None and rep.shows_defect else [])
    d = max((f.number("max_abs_difference") or 0.0) for f in bad)
    good = ctx.passing(lambda f: f.check in _DETERMINISM)
    contrasts = [Contrast("max difference between two identical calls", "failing cases", d,
                          "bitwise equal (passing grad modes)" if good else "bitwise equal (required)", 0.0,
                          tuple(f.check_id for f in bad[:3] + good[:2]))]
    if rep is not None and rep.shows_defect:
        worst = max(v for v in rep.values.values() if isinstance(v, float))
        contrasts.append(_probe_contrast("difference between two identical exact-case calls", rep,
                                         "t of one point / f = 0, called twice", worst, None, "bitwise equal", 0.0))
    ctx.emit("nondeterminism", "two identical calls give different results (" + ", ".join(sorted({f.check for f in bad}))
             + f"; they differ by up to {_fmt(d)})", claimed,
             confidence=Confidence.HIGH if good or rep is not None else Confidence.MEDIUM, contrasts=contrasts,
             detail="the same call twice is not bitwise identical" + (
                 "; the exact cases (t of one point, f = 0) differ between two calls too, so their failures "
                 "are the same noise" if rep is not None and rep.shows_defect else ""))


def _mirrored_span(f: Fact) -> bool:
    """An outside-span failure on decreasing t whose evaluations lie in the mirror image of the
    span, [t0, t0 + |t1 - t0|]: the solver integrated forward instead of backward (rule_reverse
    claims it)."""
    t = f.series("t")
    lo, hi = f.number("t_seen_min"), f.number("t_seen_max")
    if not t or len(t) < 2 or t[-1] >= t[0] or lo is None or hi is None:
        return False
    span = t[0] - t[-1]
    slack = 1e-9 * max(1.0, abs(t[0]) + span)
    return lo >= t[0] - slack and hi <= t[0] + span + slack and hi > t[0] + slack


def rule_span(ctx: Context) -> None:
    reverse_failing = ctx.failing(lambda f: f.check in _REVERSE)
    if reverse_failing and all(_mirrored_span(f) for f in ctx.failing(lambda f: f.check in _SPAN)):
        return  # f seen only in the mirror image of reversed spans: a reverse-time defect
    _direct(ctx, _SPAN, "outside-span", "f is evaluated outside the integration span",
            "cases with f evaluated outside [t0, t1]", "cases evaluated only inside")


def rule_shapes(ctx: Context) -> None:
    # the shape checks, and every check whose solve returned the wrong shape/dtype/device
    bad = ctx.failing(lambda f: (f.check in _SHAPES and not f.raised and not f.nonfinite) or f.wrong_output)
    if not bad:
        return
    # exactness checks (t of one point returns y0, f = 0 keeps y) compare the output with y0
    # bitwise: a squeezed axis or a float32 output fails them too. Claimed where their record
    # shows the broken shape/dtype, or where the probe finds the contract broken in a grad mode.
    exact = ctx.failing(lambda f: (f.check in _ONE_POINT or f.check in _ZERO_FIELD) and not f.raised)
    shown = [f for f in exact if f.output_contract_broken]
    probe = ctx.probe(lambda p: p.output_contract()) if len(shown) < len(exact) else None
    claimed = bad + (exact if probe is not None and probe.shows_defect else shown)
    good = ctx.passing(lambda f: f.check in _SHAPES or _is_accuracy(f))
    contrasts = [Contrast("cases with the wrong shape/dtype", "failing cases", float(len(bad)),
                          "cases with the contract's shape and dtype", float(len(good)),
                          tuple(f.check_id for f in bad[:3] + good[:2]))]
    if probe is not None and probe.shows_defect:
        m = probe.values["broken_modes"][0]
        contrasts.append(_probe_contrast(f"output of y0 (1, 3) float64 in {m}", probe,
                                         f"{probe.values[m + '_dtype']} {probe.values[m + '_shape']}", 0.0,
                                         None, "float64 [2, 1, 3]", 1.0))
    ctx.emit("shape-dtype-device", "the output's shape or dtype is not the contract's ("
             + ", ".join(sorted({f.check for f in bad})) + ")", claimed,
             confidence=Confidence.HIGH if good or probe is not None else Confidence.MEDIUM,
             contrasts=contrasts, detail="; ".join(sorted({f.message for f in claimed if f.message})[:3]))


def rule_one_point(ctx: Context) -> None:
    _direct(ctx, _ONE_POINT, "one-time-point", "t of one point does not return y0",
            "one-point calls not returning y0", "one-point calls returning y0")


def rule_zero_field(ctx: Context) -> None:
    bad = ctx.failing(lambda f: f.check in _ZERO_FIELD and not f.raised and not f.wrong_output)
    if not bad:
        return
    # t of one point returned a value != y0 without a single evaluation of f (nfe 0): no step was
    # taken, so the bits were lost in arithmetic on the state, the same loss as under f = 0
    bad += ctx.failing(lambda f: f.check in _ONE_POINT and not f.raised and not f.wrong_output
                       and f.number("nfe") == 0)
    change = max((f.number("max_relative_change", "relative_change", "max_change") or 0.0) for f in bad)
    good = ctx.passing(lambda f: f.check in _ZERO_FIELD)
    ctx.emit("precision-loss", "a zero field moves y: the constant solution loses low bits ("
             + ", ".join(sorted({f.check for f in bad})) + ")", bad,
             confidence=Confidence.HIGH if good else Confidence.MEDIUM,
             contrasts=(Contrast("change of y under f = 0", "failing grad modes", change or float(len(bad)),
                                 "exact (y stays y0)" + (" in the passing grad modes" if good else ""), 0.0,
                                 tuple(f.check_id for f in bad[:3] + good[:2])),),
             detail="f = 0 must return y0 bitwise (up to a few ulps); " +
                    "; ".join(sorted({f.message for f in bad if f.message})[:2]))


# ================================================================ forward accuracy
def _forward_consequences(ctx: Context) -> list[Fact]:
    """The open checks a forward defect explains: every accuracy check (gradients included:
    the gradient of a wrong solution is wrong), and solver exceptions raised there."""
    def pred(f: Fact) -> bool:
        if not _is_accuracy(f):
            return False
        if f.verdict == Verdict.ERROR:
            return f.message.startswith(_SOLVER_EXCEPTIONS)
        return True
    return ctx.failing(pred)


def _float32_span(f: Fact) -> bool:
    """An outside-span failure by float32 rounding of t (relative to the span, below 1e-6 = ~8
    float32 eps; a solver stepping past t1 overshoots by a fraction of a step, >> 1e-6)."""
    r = f.number("outside_over_span")
    return f.check in _SPAN and r is not None and r < 1e-6


def rule_precision(ctx: Context) -> None:
    """float64 stuck near float32: f = 0 must return y0 to a few ulps (probe), which also
    explains the exactness checks (one point, zero field), f evaluated an ulp of float32 past t1,
    and every accuracy check."""
    trigger = ctx.failing(lambda f: (f.check in _END and not _is_gradient(f)) or f.check in _ONE_POINT
                          or f.check in _ZERO_FIELD or f.check in _SPAN)
    if not trigger:
        return
    prec = ctx.probe(lambda p: p.zero_field_precision(grad_mode="grad"))
    if prec is None or not prec.shows_defect:
        return
    rel = prec.values["max_relative_change"]
    ctx.forward_cause = "precision-loss"
    claimed = _forward_consequences(ctx) + ctx.failing(
        lambda f: not f.raised and (f.check in _ONE_POINT or f.check in _ZERO_FIELD or _float32_span(f)))
    ctx.emit("precision-loss", f"float64 accuracy stuck near float32 levels: a zero field changes "
             f"y by {_fmt(rel)} relative (float32 eps {_fmt(prec.values['float32_eps'])})",
             claimed, confidence=Confidence.HIGH,
             contrasts=(_probe_contrast("relative change of y under f = 0 (float64)", prec,
                                        "this implementation", rel, None, "float64 rounding (eps)",
                                        prec.values["float64_eps"]),),
             detail="with f = 0 the exact solution is y0; in float64 a correct solver returns it to a "
                    "few ulps. A change of the size of float32 rounding means the state (or the time) "
                    "passes through lower precision.")


def _forward_finding(ctx: Context, cause: str, title: str, end_bad: list[Fact], contrast: Contrast,
                     detail: str = "") -> None:
    """A forward defect's finding: it claims the failing step-end checks and their consequences."""
    ctx.forward_cause = cause
    ctx.emit(cause, title, end_bad + _forward_consequences(ctx), confidence=Confidence.HIGH,
             contrasts=(contrast,), detail=detail)


# Error control too loose (rule_forward): a controlled method's error at t1 stays within a few
# tolerance units on the probe's non-expanding rotation (reference dopri5 and torchdiffeq's dopri5
# measure 1.0-7.0 at rtol = atol = 1e-5..1e-9); the suites' proportionality check allows 5 on its
# problems, and 10x that is LOOSE_TOL_UNITS. The exponent tells it from an interpolated t1: error
# control keeps err ~ tol (exponent 1), an interpolant of order q under steps h ~ tol^(1/(p+1))
# gives err ~ tol^((q+1)/(p+1)): 0.5 for bosh3's first-order fit (p = 3), 0.56 for a quartic fit
# under an 8th-order method; 0.8 lies between (measured 0.58 for torchdiffeq bosh3, 1.00 for its
# fehlberg2 at 137-410 units).
LOOSE_TOL_UNITS = 50.0
PROPORTIONAL_EXPONENT = 0.8


def rule_forward(ctx: Context) -> None:
    """A defect of the solution at step ends: precision, error control, a wrong coefficient,
    stage times, or the last partial step, told apart by probes."""
    end_bad = ctx.failing(lambda f: f.check in _END and not _is_gradient(f))
    if not end_bad:
        return
    pr = ctx.prober
    if pr is None:
        return
    if not pr.adaptive:
        auto = ctx.probe(lambda p: p.fixed_order(False))
        tdep = ctx.probe(lambda p: p.fixed_order(True))
        last = ctx.probe(lambda p: p.partial_last_step())
        if auto is None or tdep is None:
            return
        claimed = auto.values["claimed_order"]
        if not auto.shows_defect and not tdep.shows_defect and last is not None and last.shows_defect:
            v = last.values
            ctx.forward_cause = "last-partial-step"
            ctx.emit("last-partial-step", f"the last, shortened step of an interval is mishandled: error "
                     f"{_fmt(v['error_h_does_not_divide'])} when h does not divide the interval, "
                     f"{_fmt(v['error_h_divides'])} when it does (order {auto.values['observed_order']:.2f} "
                     f"with h dividing it)", end_bad + _forward_consequences(ctx), confidence=Confidence.HIGH,
                     contrasts=(_probe_contrast("max error at the outputs", last, "h = 1/15.5 (does not divide 1/2)",
                                                v["error_h_does_not_divide"], last, "h = 1/16 (divides 1/2)",
                                                v["error_h_divides"]),))
            return
        if auto.shows_defect:
            _forward_finding(ctx, "wrong-coefficient", f"a weight or coefficient is wrong: order "
                             f"{auto.values['observed_order']:.2f} on an autonomous problem and "
                             f"{tdep.values['observed_order']:.2f} on its time-dependent twin, claimed {claimed:g}",
                             end_bad, _probe_contrast("observed order (h dividing every interval)", auto,
                                                      "autonomous rotation", auto.values["observed_order"], None,
                                                      "the claimed order", claimed),
                             "the order is lost even where f does not depend on t and every step is whole: "
                            "the stepper's weights or coefficients do not satisfy the order conditions")
            return
        if tdep.shows_defect:
            _forward_finding(ctx, "stage-times", f"stage times are wrong: order {auto.values['observed_order']:.2f} "
                             f"on an autonomous problem, {tdep.values['observed_order']:.2f} on its time-dependent "
                             "twin", end_bad, _probe_contrast("observed order", tdep, "time-dependent rotation",
                                                              tdep.values["observed_order"], auto,
                                                              "autonomous rotation", auto.values["observed_order"]))
        return
    auto = ctx.probe(lambda p: p.tolerance_sweep(False))
    tdep = ctx.probe(lambda p: p.tolerance_sweep(True))
    if auto is None or tdep is None:
        return
    a, d = auto.values, tdep.values
    units = [e / t for v in (a, d) for e, t in zip(v["errors"], v["tols"])]
    if (a["nfe_ratio"] >= 1.5 and d["nfe_ratio"] >= 1.5 and min(units) > LOOSE_TOL_UNITS
            and min(a["tolerance_exponent"], d["tolerance_exponent"]) >= PROPORTIONAL_EXPONENT):
        ctx.forward_cause = "error-control"
        ctx.emit("error-control", f"error control is too loose: the error at t1 is {min(units):.0f}-{max(units):.0f} "
                 f"times the tolerance at every rtol = atol from 1e-5 to 1e-9 (proportional, exponent "
                 f"{a['tolerance_exponent']:.2f}), where a controlled method stays within a few",
                 end_bad + _forward_consequences(ctx), confidence=Confidence.HIGH,
                 contrasts=(_probe_contrast("error at t1 in tolerance units (smallest over the sweep)", auto,
                                            "this implementation", min(units), None,
                                            "the suite's proportionality bound x 10", LOOSE_TOL_UNITS),),
                 detail="the steps follow the tolerance and the error is proportional to it, but each step "
                        "commits about the whole tolerance (an error estimate smaller than the local error "
                        "of the propagated solution), so the errors add up over the steps")
        return
    # only a work-order defect needs the question (the probe costs a solve otherwise spared)
    past = ctx.probe(lambda p: p.steps_past_last_output()) if auto.shows_defect or tdep.shows_defect else None
    if past is not None and past.shows_defect:
        # t1 is read off the interpolant, so the sweep's work order is that of the dense output
        order = min(a["claimed_order"], float(ctx.claims.get("dense_order") or a["claimed_order"]))
        if min(a["work_order"], d["work_order"]) >= WORK_ORDER_FRACTION * order:
            return  # what is wrong there is the interpolant's: rule_dense
    if a["nfe_ratio"] < 1.5 and d["nfe_ratio"] < 1.5:
        ctx.forward_cause = "error-control"
        ctx.emit("error-control", f"error control does not follow the tolerance: NFE {a['nfe'][0]} -> "
                 f"{a['nfe'][-1]} and error {_fmt(a['errors'][0])} -> {_fmt(a['errors'][-1])} for rtol = atol "
                 f"1e-5 -> 1e-9", end_bad + _forward_consequences(ctx), confidence=Confidence.HIGH,
                 contrasts=(_probe_contrast("NFE ratio tol 1e-9 / 1e-5", auto, "this implementation",
                                            a["nfe_ratio"], None, "an order-p controller (100^(1/(p+1)) per "
                                            "two decades, squared)", (1e4) ** (1 / (a["claimed_order"] + 1))),),
                 detail="the steps do not shrink when the tolerance does: the error estimate or the "
                        "tolerances are not what drives the step size")
        return
    if auto.shows_defect:
        _forward_finding(ctx, "wrong-coefficient", f"a weight or coefficient is wrong: work order "
                         f"{a['work_order']:.2f} on an autonomous problem, {d['work_order']:.2f} on its "
                         f"time-dependent twin, claimed order {a['claimed_order']:g}", end_bad,
                         _probe_contrast("work order -dlog(err)/dlog(NFE)", auto, "autonomous rotation",
                                         a["work_order"], None, "the claimed order", a["claimed_order"]),
                         "the steps follow the tolerance (NFE x%.1f) but the error falls far slower than the "
                        "method's order predicts, on an autonomous problem too" % a["nfe_ratio"])
        return
    if tdep.shows_defect:
        _forward_finding(ctx, "stage-times", f"stage times are wrong: work order {a['work_order']:.2f} on an "
                         f"autonomous problem, {d['work_order']:.2f} on its time-dependent twin", end_bad,
                         _probe_contrast("work order", tdep, "time-dependent rotation", d["work_order"], auto,
                                         "autonomous rotation", a["work_order"]))


def _same_problem_end_passes(ctx: Context, bad: list[Fact]) -> list[Fact]:
    probs = {_base_problem(f.problem) for f in bad}
    return ctx.passing(lambda f: f.check == "error_at_end" and _base_problem(f.problem) in probs)


def rule_reverse(ctx: Context) -> None:
    bad = ctx.failing(lambda f: f.check in _REVERSE or (f.suite == "gradients" and f.check == "reverse_time"))
    if not bad or ctx.forward_cause:
        return
    bad += ctx.failing(lambda f: f.check in _SPAN and _mirrored_span(f))
    good = _same_problem_end_passes(ctx, bad)
    probe = ctx.probe(lambda p: p.reverse_time())
    if probe is not None and probe.shows_defect:
        v = probe.values
        ctx.emit("reverse-time", f"reverse time is mishandled: error {_fmt(v['error_reverse'])} integrating "
                 f"backward against {_fmt(v['error_forward'])} forward on the same problem", bad,
                 confidence=Confidence.HIGH,
                 contrasts=(_probe_contrast("max error", probe, "t decreasing", v["error_reverse"], probe,
                                            "t increasing", v["error_forward"]),))
    elif good and probe is None:
        ctx.emit("reverse-time", "reverse time is mishandled: reverse-time checks fail where the forward "
                 "ones pass", bad, confidence=Confidence.MEDIUM,
                 contrasts=(Contrast("failing checks", "t decreasing", float(len(bad)), "t increasing (same problems)",
                                     0.0, tuple(f.check_id for f in bad[:2] + good[:2])),))


def rule_dense(ctx: Context) -> None:
    bad = ctx.failing(lambda f: f.check in _INTERIOR)
    if not bad or ctx.forward_cause:
        return
    good = _same_problem_end_passes(ctx, bad)
    if not good:
        return
    # the contrast is measured on one problem: an interior error against the step-end error of
    # the same problem (same tolerance where there is one), the interior worse
    def contrast_of(f: Fact) -> tuple[float, float] | None:
        e_in, tol = f.number("error_interior"), f.number("tol")
        same = [g for g in good if _base_problem(g.problem) == _base_problem(f.problem) and g.number("error") is not None]
        same_tol = [g for g in same if tol is not None and g.number("tol") == tol]
        e_end = min((g.number("error") for g in (same_tol or same)), default=None)
        return (e_in, e_end) if e_in is not None and e_end is not None and e_in > e_end else None

    measured = [(f, c) for f in bad if (c := contrast_of(f)) is not None]
    if not measured:
        return  # no problem whose interior outputs are measured worse than its step ends
    worst, (e_in, e_end) = max(measured, key=lambda fc: fc[0].ratio or 0.0)
    # the interior failures have consequences on every check reading outputs between step ends
    rest = ctx.failing(lambda f: _is_accuracy(f) and f.check not in _END - {"linear_systems_match_expm", "flow_property"}
                       and f.check not in _BATCH | _REVERSE)
    rest += ctx.failing(lambda f: f.check in ("linear_systems_match_expm", "flow_property") or _is_gradient(f))
    title = "outputs between step ends are less accurate than step ends"
    if e_in is not None and e_end is not None:
        title += f": error {_fmt(e_in)} at interior output times, {_fmt(e_end)} at the end ({worst.problem})"
    contrasts = [Contrast("max error", "interior output times", e_in if e_in is not None else math.nan,
                          "step ends (error_at_end, same problems)", e_end if e_end is not None else math.nan,
                          (worst.check_id,) + tuple(g.check_id for g in good[:2]))]
    detail = ("error_at_end passes on the same problems where error_at_interior_times fails: the "
              "steps are accurate, the values read between them are not (a low-order or wrong "
              "interpolant, or the step-end value returned for an inner time)")
    # A solver that steps past the LAST output time too reads it off the same interpolant, so the
    # step-end checks (at t1, batched, in reverse, in float32) fail with it on the problems where
    # the interpolant is worst, and pass where it is good enough: measured by a probe, not assumed.
    ends = ctx.failing(lambda f: _is_accuracy(f) and not _is_gradient(f) and f.check in _END | _BATCH | _REVERSE
                       and not f.raised)
    past = ctx.probe(lambda p: p.steps_past_last_output()) if ends else None
    if past is not None and past.shows_defect:
        v = past.values
        rest += ends
        title += (f"; the last output too (f evaluated up to t = {v['largest_t_evaluated']:.4g} for "
                  f"t1 = {v['t1']:g})")
        contrasts.append(_probe_contrast("largest t at which f is evaluated, t = (0, 2)", past, "this implementation",
                                         v["largest_t_evaluated"], None, "t1 (a solver landing on the last output)",
                                         v["t1"]))
        detail += ("; f is evaluated past the last output time, so the solver steps past it and reads it off "
                   "the same interpolant: the checks at t1 fail with the interior ones")
    ctx.forward_cause = "dense-output"
    ctx.emit("dense-output", title, bad + rest, confidence=Confidence.HIGH, contrasts=contrasts, detail=detail)


def rule_batch(ctx: Context) -> None:
    bad = ctx.failing(lambda f: f.check in _BATCH)
    if not bad or ctx.forward_cause:
        return
    good = ctx.passing(lambda f: f.check == "error_at_end")
    if not good:
        return
    # the twin of a batched forward check is error_at_end on the same problem: it must pass there,
    # at every tolerance (the element alone is accurate; only the batch is not)
    end_fails = {_base_problem(f.problem) for f in ctx.failing(lambda f: f.check == "error_at_end")}
    twins = {_base_problem(g.problem) for g in good} - end_fails
    bad = [f for f in bad if f.check != "error_batched" or _base_problem(f.problem) in twins]
    if not bad:
        return
    batched = {_base_problem(f.problem) for f in bad if f.check == "error_batched"}
    good = [g for g in good if _base_problem(g.problem) in batched] or good
    worst = max(bad, key=lambda f: f.number("element_difference", "error_batched") or 0.0)
    val = worst.number("element_difference", "error_batched")
    ctx.emit("batch-coupling", "the error norm couples or ignores batch elements: an element solved in a "
             f"batch differs from it solved alone ({worst.check} {_fmt(val) if val is not None else ''})",
             bad, confidence=Confidence.HIGH,
             contrasts=(Contrast(worst.check.replace("_", " "), "in a batch", val if val is not None else math.nan,
                                 "alone (error_at_end passes)", 0.0,
                                 (worst.check_id,) + tuple(g.check_id for g in good[:2])),))


# ================================================================ robustness: nan, crash
def rule_nan(ctx: Context) -> None:
    bad = ctx.failing(lambda f: f.verdict == Verdict.FAIL and f.nonfinite)
    if not bad:
        return
    good = ctx.passing(lambda f: _is_accuracy(f) and not _is_gradient(f))
    ctx.emit("nan", f"NaN or inf in the result of a well-posed problem ({len(bad)} check(s))", bad,
             confidence=Confidence.HIGH if good else Confidence.MEDIUM,
             contrasts=(Contrast("checks with non-finite output", "failing cases", float(len(bad)),
                                 "accuracy checks with finite output", float(len(good)),
                                 tuple(f.check_id for f in bad[:3])),),
             detail="; ".join(sorted({f.message for f in bad})[:3]))


def rule_nan_probed(ctx: Context) -> None:
    """NaN/inf confirmed by a probe on well-posed inputs: claims every check that saw non-finite
    output, and the exactness and shape checks of the kinds the probe saw go non-finite."""
    seen = ctx.failing(lambda f: f.nonfinite)
    if not seen:
        return
    scan = ctx.probe(lambda p: p.nonfinite_scan())
    if scan is None or not scan.shows_defect:
        return  # non-finite only where the run's own defect led (e.g. an uncontrolled step): later rules
    cases = set(scan.values["nonfinite_cases"])
    also = ctx.failing(lambda f: not f.raised and (
        (f.check in _ONE_POINT and "one_point" in cases) or (f.check in _ZERO_FIELD and "zero_field" in cases)
        or f.check in _SHAPES))
    good = ctx.passing(lambda f: _is_accuracy(f) and not _is_gradient(f))
    ctx.emit("nan", f"NaN or inf in the result of a well-posed problem ({', '.join(sorted(cases))}; "
             f"{len(seen)} check(s) saw non-finite output)", seen + also, confidence=Confidence.HIGH,
             contrasts=(_probe_contrast("probe cases with non-finite output", scan, ", ".join(sorted(cases)),
                                        float(len(cases)), None, "cases with finite output",
                                        float(len(scan.values["cases"]) - len(cases))),),
             detail="; ".join(sorted({f.message for f in seen})[:3]))


def rule_crash(ctx: Context) -> None:
    errs = ctx.failing(lambda f: f.raised)
    by_type: dict[str, list[Fact]] = {}
    for f in errs:
        by_type.setdefault(f.message.partition(":")[0].strip() or "exception", []).append(f)
    for etype, facts in by_type.items():
        ok = ctx.passing(lambda g: True)
        ctx.emit("crash", f"raises {etype} on a valid input ({len(facts)} check(s): "
                 f"{', '.join(sorted({f.check for f in facts})[:3])})", facts,
                 confidence=Confidence.HIGH if ok else Confidence.MEDIUM,
                 contrasts=(Contrast("checks raising " + etype, "failing cases", float(len(facts)),
                                     "checks that returned", float(len(ok)), tuple(f.check_id for f in facts[:3])),),
                 detail=facts[0].message)


# ================================================================ cost
def rule_cost(ctx: Context) -> None:
    for cause, pred in (("cost-memory", lambda f: f.suite == "benchmarks" and ("memory" in f.check or "bytes" in f.check)),
                        ("cost-nfe", lambda f: f.suite == "benchmarks" and "nfe" in f.check
                         and f.check != "nfe_is_reproducible")):
        bad = ctx.failing(lambda f, p=pred: p(f) and f.verdict == Verdict.FAIL)
        if bad:
            ctx.emit(cause, CAUSES[cause].summary + f" ({', '.join(sorted({f.check for f in bad}))})", bad,
                     confidence=Confidence.MEDIUM,
                     contrasts=tuple(Contrast("measured against budget", f.check, _ratio(f), "budget", 1.0,
                                              (f.check_id,)) for f in bad[:2]),
                     detail="; ".join(sorted({f.message for f in bad})[:3]))


# ================================================================ gradients
_KINDS = ("y0", "params", "t")


_NO_GRAPH_MESSAGE = "does not require grad and does not have a grad_fn"


def _projected(ctx: Context, cause: str, title: str, bad: list[Fact], probe: ProbeResult, k: str,
               detail: str) -> None:
    """A gradient finding supported by the projection alpha of dL/dk on the true gradient."""
    ctx.emit(cause, title, bad, confidence=Confidence.HIGH, detail=detail,
             contrasts=(_probe_contrast(f"dL/d{k} projected on the true gradient", probe, "this implementation",
                                        probe.values[f"{k}_alpha"], None, "the reference (backprop)", 1.0),))


def rule_gradients(ctx: Context) -> None:
    bad = ctx.failing(lambda f: _is_gradient(f) or f.check in ("unused_parameter_gets_zero_gradient",))
    if not bad or ctx.forward_cause:
        return
    auto = ctx.probe(lambda p: p.gradients(False))
    if auto is None:
        return
    tdep = ctx.probe(lambda p: p.gradients(True))
    a = auto.values
    if a.get("forward_relative_error", 0.0) > 1e-6:
        return  # the forward solution itself is off: not a gradient-only defect
    def kinds(v: dict, test: Callable[[dict, str], bool]) -> list[str]:
        return [k for k in _KINDS if f"{k}_relative_error" in v and test(v, k)]
    # dropped cotangents reach dL/dy0 and dL/dtheta (every output depends on them), not dL/dt only;
    # zero entries of dL/dt_i with dL/dy0 and dL/dtheta right are a cut path to those t_i
    state_wrong = any(a.get(f"{k}_relative_error", 0.0) > 1e-4 for k in ("y0", "params"))
    missing = kinds(a, lambda v, k: bool(v.get(f"{k}_missing")) or bool(v.get(f"{k}_zero"))
                    or (bool(v.get(f"{k}_zero_entries")) and not state_wrong))
    if missing or ctx.failing(lambda f: f.check == "missing_gradient_is_failure"):
        which = ", ".join(missing) or "see the checks"
        if missing:
            # the same cut gradient path seen elsewhere: autograd refuses backward() on an output
            # with no graph (its "does not require grad and does not have a grad_fn" error), or
            # a check reports the input that got no gradient
            bad = bad + ctx.failing(lambda f: _NO_GRAPH_MESSAGE in f.message or "got no gradient" in f.message
                                    or "no gradient reaches" in f.message)
        ctx.emit("grad-missing", f"the gradient with respect to {which} is missing (None or zero)", bad,
                 confidence=Confidence.HIGH if missing else Confidence.MEDIUM,
                 contrasts=(_probe_contrast(f"|dL/d{missing[0] if missing else 'y0'}|", auto, "this implementation",
                                            0.0, None, "the reference (backprop)", 1.0),) if missing else ())
        return
    flipped = kinds(a, lambda v, k: abs(v[f"{k}_alpha"] + 1) < 0.05 and v[f"{k}_residual"] < 0.05)
    if flipped:
        k = flipped[0]
        _projected(ctx, "grad-sign", f"the gradient with respect to {', '.join(flipped)} has the wrong sign "
                   f"(dL/d{k} = {a[f'{k}_alpha']:.4g} x the true one)", bad, auto, k,
                   f"residual after the projection {a[f'{k}_residual']:.2g}: the direction is right, the sign is not")
        return
    wrong = kinds(a, lambda v, k: v[f"{k}_relative_error"] > 1e-4)
    scaled = [k for k in wrong if a[f"{k}_residual"] < 0.1 * abs(a[f"{k}_alpha"] - 1)]
    if wrong and len(scaled) == len(wrong):
        k = scaled[0]
        _projected(ctx, "grad-scale", f"gradients are scaled: dL/d{'/'.join(scaled)} = {a[f'{k}_alpha']:.6g} x "
                   "the true one (right direction)", bad, auto, k,
                   f"residual after the projection {a[f'{k}_residual']:.2g} against a relative error "
                   f"{a[f'{k}_relative_error']:.2g}: the gradient is a multiple of the true one")
        return
    last = ctx.probe(lambda p: p.gradients(False, last_only=True))
    if auto.shows_defect and state_wrong and last is not None and not last.shows_defect:
        ctx.emit("grad-dropped-cotangents", "cotangents of intermediate outputs are dropped: gradients are "
                 f"right for a loss on the last output only (error {_fmt(last.values['worst_relative_error'])}), "
                 f"wrong for a loss on every output ({_fmt(a['worst_relative_error'])})", bad,
                 confidence=Confidence.HIGH,
                 contrasts=(_probe_contrast("relative gradient error", auto, "loss on every output time",
                                            a["worst_relative_error"], last, "loss on the last output only",
                                            last.values["worst_relative_error"]),))
        return
    if tdep is not None and tdep.shows_defect and not auto.shows_defect:
        ctx.emit("grad-wrong-time", "the backward pass evaluates f at the wrong time: gradients are right on "
                 f"an autonomous problem (error {_fmt(a['worst_relative_error'])}), wrong on its time-dependent "
                 f"twin ({_fmt(tdep.values['worst_relative_error'])})", bad, confidence=Confidence.HIGH,
                 contrasts=(_probe_contrast("relative gradient error", tdep, "time-dependent rotation",
                                            tdep.values["worst_relative_error"], auto, "autonomous rotation",
                                            a["worst_relative_error"]),))
        return
    if auto.shows_defect and bool(ctx.claims.get("adjoint")):
        rec = a.get("reconstruction_error")
        ctx.emit("grad-reconstruction-drift", "the backward reconstruction drifts: forward solution accurate "
                 f"(error {_fmt(a.get('forward_relative_error', math.nan))}), gradients off by "
                 f"{_fmt(a['worst_relative_error'])} on an autonomous problem, for every output"
                 + (f" (reconstruction error {_fmt(rec)})" if rec is not None else ""), bad,
                 confidence=Confidence.MEDIUM,
                 contrasts=(_probe_contrast("relative error", auto, "gradients (backward pass)",
                                            a["worst_relative_error"], None, "forward solution",
                                            a.get("forward_relative_error", math.nan)),),
                 detail="the forward pass is accurate and the loss's cotangents all arrive (the last-output "
                        "loss is wrong too), f's time is right (the autonomous problem is wrong too): what is "
                        "left is the backward solve that rebuilds the state and integrates the adjoint")
        return
    if auto.shows_defect:
        ctx.emit("grad-wrong", f"the gradient with respect to {', '.join(wrong) or 'the inputs'} is wrong "
                 f"(relative error {_fmt(a['worst_relative_error'])}; forward accurate)", bad,
                 confidence=Confidence.MEDIUM,
                 contrasts=(_probe_contrast("relative error", auto, "gradients", a["worst_relative_error"], None,
                                            "forward solution", a.get("forward_relative_error", math.nan)),))


def _contracting(problem: str) -> bool:
    from harness.problems import PROBLEMS

    p = PROBLEMS.get(_base_problem(problem))
    return p is not None and "contracting" in p.tags


def rule_contracting_drift(ctx: Context) -> None:
    """The adjoint's backward reconstruction of z on a contracting problem (errors amplified like
    e^(|lambda| dt) backward): the check measures the reconstruction error of z and the
    gradient of each group against its bound; the groups that do not use the reconstructed z
    (dL/dy0, dL/dt) within their bound while dL/dparams is not is the drift's signature."""
    bad = ctx.failing(lambda f: f.check == "adjoint_on_contracting_problem" and f.verdict == Verdict.FAIL)
    if not bad:
        return
    worst = max(bad, key=lambda f: f.number("max_error_over_bound") or 0.0)
    rec = worst.number("reconstruction_error")
    ep, bp = worst.number("grad_params_error"), worst.number("grad_params_bound")
    ey, by = worst.number("grad_y0_error"), worst.number("grad_y0_bound")
    if rec is None or ep is None or not bp or ey is None or not by or ep <= bp or ey > by:
        return
    same = ctx.failing(lambda f: _is_gradient(f) and _contracting(f.problem))
    ctx.emit("grad-reconstruction-drift", f"the backward reconstruction of the state drifts on a contracting "
             f"problem: reconstruction error of z {_fmt(rec)}, dL/dparams {_fmt(ep / bp)}x its bound while "
             f"dL/dy0 is within it ({_fmt(ey / by)}x)", bad + same, confidence=Confidence.HIGH,
             contrasts=(Contrast("gradient error / bound", "dL/dparams (integrates a z^T along the "
                                 "reconstructed z)", ep / bp, "dL/dy0 (no reconstructed z)", ey / by,
                                 (worst.check_id,)),),
             detail="the backsolve adjoint rebuilds z(t) backward from z(t_i); on a contracting problem "
                    "that amplifies its error, and the parameter gradient integrates along the rebuilt z")


RULES: tuple[Callable[[Context], None], ...] = (
    rule_hang, rule_nan_probed, rule_precision, rule_mutation, rule_determinism, rule_span, rule_shapes, rule_zero_field, rule_one_point,
    rule_forward, rule_reverse, rule_dense, rule_batch, rule_nan, rule_gradients, rule_contracting_drift, rule_cost,
    rule_crash,
)
