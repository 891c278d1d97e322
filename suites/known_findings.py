"""Known findings: checks that a real library truly fails, kept as expected failures with the
measured evidence (the check stays; the record says "fail", marked expected). A finding that no
longer reproduces shows up as a passing record of an expected failure in the report.

Each entry names the implementation, the methods, the checks and (optionally) the problems.
"""

from __future__ import annotations

from dataclasses import dataclass


# torchdiffeq's odeint_adjoint runs the same forward solver: its forward findings hold for both
TORCHDIFFEQ_FORWARD = ("torchdiffeq", "torchdiffeq-adjoint")


@dataclass(frozen=True)
class Raised:
    """An exception the implementation is recorded to raise: its type's name (exactly
    ``type(exc).__name__``, no base class) and, optionally, a fragment of its message."""

    type_name: str
    message: str = ""  # empty: any message

    def covers(self, exc: BaseException) -> bool:
        return type(exc).__name__ == self.type_name and self.message in str(exc)


@dataclass(frozen=True)
class Finding:
    iut: str | tuple[str, ...]  # one implementation or several sharing the cause
    methods: tuple[str, ...]
    checks: tuple[str, ...]
    evidence: str
    problems: tuple[str, ...] = ()  # empty: every problem
    profiles: tuple[str, ...] = ()  # empty: every profile (a finding only a deeper sweep shows names them)
    # the recorded crashes: an exception of the implementation in a matching check is a known
    # finding (category robustness, cause "crash") only if one of these covers it; any other
    # exception stays an error verdict (empty: the finding covers wrong results, no exception)
    raises: tuple[Raised, ...] = ()
    # the cause key(s) (harness.diagnosis.model.CAUSES) the evidence establishes: the diagnosis
    # matches its findings to this entry on (implementation, method, cause key)
    # (harness/diagnosis/known.py); several where one entry's checks show more than one defect
    cause: str | tuple[str, ...] = ""

    def matches(self, iut: str, method: str, check: str, problem: str | None,
                profile: str | None = None, error: BaseException | None = None) -> bool:
        """Whether this finding describes the case; with `error` (the exception the
        implementation raised in it), whether it describes that exception too."""
        iuts = (self.iut,) if isinstance(self.iut, str) else self.iut
        return (iut in iuts and method in self.methods and check in self.checks
                and (not self.problems or problem in self.problems)
                and (not self.profiles or profile in self.profiles)
                and (error is None or any(r.covers(error) for r in self.raises)))


_FORWARD = ("test_error_at_end", "test_error_at_interior_times", "test_error_batched",
            "test_error_in_reverse_time", "test_error_float32")

KNOWN_FINDINGS: tuple[Finding, ...] = (
    Finding(
        cause="dense-output",
        iut=TORCHDIFFEQ_FORWARD, methods=("bosh3",), checks=_FORWARD,
        evidence=(
            "torchdiffeq 0.2.5 steps past every output time, the last one included, and evaluates "
            "it with its quartic fit (rk_common._interp_fit through y0, y_mid, y1, f0, f1), which for "
            "bosh3 is less accurate than the step itself: A3 at rtol=atol=1e-8, error at t=20 is "
            "1.1e-5 as called, 1.0e-6 with options={'step_t': t} (landing on t), and scipy RK23 "
            "gives 9.9e-7 (measured 2026-11-22)."),
    ),
    Finding(
        cause="dense-output",
        # not test_error_float32: at rtol = atol = 1e-5 in float32 dopri8 passes on every problem
        # of the quick and standard profiles (7 of 7 at standard, measured 2026-11-22)
        iut=TORCHDIFFEQ_FORWARD, methods=("dopri8",),
        checks=tuple(c for c in _FORWARD if c != "test_error_float32"),
        evidence=(
            "torchdiffeq 0.2.5 evaluates every output time, the last one included, with a quartic "
            "interpolant (rk_common._interp_fit), so its 8th-order dopri8 delivers 4th-order accuracy "
            "between steps: A3 at rtol=atol=1e-8, error at t=20 is 1.9e-5 as called, 4.3e-8 with "
            "options={'step_t': t}; scipy DOP853 and the reference dop853 give 5.6e-6 and 1.0e-5 "
            "there with far smaller errors on the other problems (mlp-tanh-t: 1.8e-7 vs threshold "
            "1.4e-7 at 1e-8) (measured 2026-11-22)."),
    ),
    # ---- suites/test_properties.py (measured 2026-11-22, torchdiffeq 0.2.5, float64)
    Finding(
        cause="dense-output",
        iut=TORCHDIFFEQ_FORWARD, methods=("bosh3", "dopri8"),
        checks=("test_linear_systems_match_expm", "test_flow_property", "test_time_reversal",
                "test_batch_independence"),
        evidence=(
            "same cause as the bosh3/dopri8 forward-accuracy findings: every output time, the last "
            "included, is evaluated with the quartic fit (interp._interp_fit) after stepping past it. "
            "y' = t, y(0) = 0 on [0, 1] at rtol=atol=1e-8: the solution is quadratic, bosh3's error "
            "estimate is 0, steps grow 10x up to [0.111, 1.111], and y(1) is off by 1.95e-2 (0 with "
            "options={'step_t': t}); y' = Ay + (0, t), A = [[-.707, .707], [.707, -.707]], y(0) = 0: "
            "dopri8 error at t=0.5 is 1.9e-6 (1.5e-11 with step_t), bosh3 2.7e-7 (7.6e-9). The four "
            "checks all pass for bosh3 and dopri8 when torchdiffeq is called with step_t = t. How far "
            "dopri8 lands past the bound depends on the draw (its time-reversal and batch checks pass "
            "on some draws: an expected failure that passes is recorded as such)."),
    ),
    Finding(
        cause="outside-span",
        iut=TORCHDIFFEQ_FORWARD, methods=("dopri5", "bosh3", "dopri8", "fehlberg2", "adaptive_heun"),
        checks=("test_field_evaluated_only_inside_span",),
        evidence=(
            "by design (rk_common.RKAdaptiveStepsizeODESolver._advance): steps until the step end "
            "passes the output time, then interpolates, so f is evaluated past max(t); and the "
            "initial-step probe (misc._select_initial_step) evaluates f(t0 + h0) with h0 = "
            "0.01 d0/d1 not clipped to the span. y' = Ay (2x2) on t = [0, 1], rtol=atol=1e-8: "
            "largest t seen 1.077 (dopri5), 1.001 (bosh3), 1.229 (dopri8); t = [0.5] alone: f is "
            "evaluated at 0.509. Landing options (step_t) remove the overshoot, not the probe. "
            "fehlberg2 and adaptive_heun (the same solver class; their initial step from the "
            "order-1 estimate, h = (0.01 / d2)^(1/2), is larger): the check's drawn case t = [0, "
            "0.001] evaluates f at t = 0.1, 99 spans past t1 (quick profile, 2026-12-01)."),
    ),
    Finding(
        cause="precision-loss",
        iut=TORCHDIFFEQ_FORWARD, methods=("dopri5", "bosh3", "dopri8", "fehlberg2", "adaptive_heun"),
        checks=("test_zero_field_keeps_y_constant", "test_without_grad_zero_field_keeps_y_constant"),
        evidence=(
            "outputs come from the quartic fit (interp._interp_fit), whose coefficients for "
            "y0 = y1 = y_mid = y, f = 0 are b = 18y + 14y - 32y and c = -11y - 5y + 16y: not 0 in "
            "floating point (3.4e-21 for y = 8.7e-7), so a constant solution moves by a few ulps: "
            "f = 0, t = [0, 0.7, 1], relative change up to 1.1e-15 (float64, ~5 eps) and 1.0e-6 "
            "(float32, ~8 eps) at both output times; the fixed-grid methods (euler, midpoint, rk4) "
            "return y0 exactly. fehlberg2 and adaptive_heun use the same fit: y0 = (1/3, 8.7e-7, "
            "-2.5e7), t = (0, 0.35, 0.7), rtol = atol = 1e-5, 3.2e-3 or 1e-8: the 8.7e-7 element "
            "moves by 1.06e-22 at both output times, as with dopri5 (2026-12-01)."),
    ),
    Finding(
        cause="dense-output",
        iut=TORCHDIFFEQ_FORWARD, methods=("dopri5",), checks=("test_error_in_reverse_time",),
        problems=("mlp-softplus-t",),
        evidence=(
            "torchdiffeq 0.2.5 steps past the last output time and reads it off its quartic fit "
            "(rk_common._interp_fit), an interpolant whose error the tolerance does not control; "
            "dopri5 is affected like bosh3 and dopri8, only less. From t1 = 1 back to t0 = 0 at "
            "rtol = atol = 1e-8, error at t0: mlp-softplus-t 1.23e-7 (bound 1.0e-7), 1.97e-9 with "
            "options={'step_t': t}, reference dopri5 and scipy RK45 1.38e-9; mlp-tanh-t 5.8e-9 vs "
            "4.7e-9 (step_t) and 3.4e-9; at 1e-10 mlp-tanh 2.2e-9 vs 4.5e-11 (step_t) and 2.9e-11 "
            "(measured 2026-11-22, standard profile)."),
    ),
    # --- suites/test_convergence_order.py (quick profile, seed 0; measured 2026-11-22)
    Finding(
        cause="dense-output",
        iut=TORCHDIFFEQ_FORWARD, methods=("bosh3", "dopri8"),
        checks=("test_tolerance_proportionality_bound", "test_gradient_error_falls_with_tolerance"),
        evidence=(
            "torchdiffeq 0.2.5 steps past t1 and returns y(t1) from its interpolant "
            "(rk_common._interp_fit), less accurate than the step for bosh3 and dopri8. scipy's "
            "rational problem on [5, 9], rtol = tol, atol = 1e-3 tol, tol = 1e-5..1e-8: error at t1 "
            "in tolerance units bosh3 27, 27, 19, 39 and dopri8 5.9, 12, 15, 140 as called (bound 5), "
            "but 0.17..0.22 and <= 0.003 with options={'step_t': [9.0]} (landing on t1; scipy RK23 "
            "0.17..0.21). dL/dy0 on mlp-tanh-t, tol = 1e-6..1e-9: relative error bosh3 2.0e-5, 3.7e-5, "
            "2.9e-6, 1.9e-6 (exponent 0.42 < 0.51), dopri8 2.3e-5 .. 8.3e-7 (0.48 < 0.65); with "
            "step_t 1.1e-6 .. 1.1e-9 (0.99) and 1.4e-8 .. 2.4e-11 (0.90)."),
    ),
    Finding(
        cause="dense-output",
        iut=TORCHDIFFEQ_FORWARD, methods=("bosh3",), checks=("test_dense_output_order_adaptive",),
        evidence=(
            "torchdiffeq 0.2.5's bosh3 continuous extension is first order, not third: its midpoint "
            "value y_mid = y0 + (h/2) k2 (bosh3.py, _BS_C_MID = [0, 1/2, 0, 0]) approximates "
            "y(t + h/2) only to O(h^2) (error h^2/8 y''), and the quartic fit through y_mid "
            "inherits it. One step on B4 from the exact state at t = 0.7, h = 0.2 .. 0.018: "
            "interpolant error at theta = 0.3 and 0.5 falls like h^2.00 (dopri5, dopri8: h^5.0). "
            "In the check, B4 on [0, 2], tol 1e-5..1e-8: interior-error exponent 0.651 against "
            "0.744 = kappa min(p, q + 1) - delta with kappa = 0.328 from NFE (196 .. 1888), i.e. "
            "order 1.98 against the mean step, q + 1 = 2. The claims table's dense_order 3 for "
            "torchdiffeq bosh3 would be 1 (fehlberg2 and adaptive_heun interpolate to first order "
            "too, claim 2, but for an order-2 method min(p, q + 1) = 2 either way)."),
    ),
    Finding(
        cause="error-control",
        iut=TORCHDIFFEQ_FORWARD, methods=("fehlberg2",), checks=("test_tolerance_proportionality_bound",),
        evidence=(
            "torchdiffeq 0.2.5 fehlberg2 (Fehlberg's RK1(2) pair, propagating the second-order "
            "value) ends 32..75 tolerance units off on scipy's rational problem, [5, 9], rtol = tol, "
            "atol = 1e-3 tol, tol = 1e-5..1e-8 (bound 5; 130 on B4 over [0, 2]). Its first-order "
            "formula is tuned to an error constant ~1/512, so the estimate h (k3 - k1)/512 is no "
            "larger than the local error of the propagated value at the step sizes these tolerances "
            "give (B4 from the exact state at t = 0.7: h = 0.04 estimate 1.0e-5, local error 4.2e-5; "
            "h = 0.01 6.4e-7 against 6.6e-7): each step commits ~tol and the errors add up over the "
            "steps. Still proportional (exponent 0.997 on B4): a property of the pair, measured."),
    ),
    Finding(
        cause="error-control",
        iut=TORCHDIFFEQ_FORWARD, methods=("fehlberg2",),
        checks=_FORWARD + ("test_linear_systems_match_expm",),
        evidence=(
            "same cause as the fehlberg2 entry above (the RK1(2) estimate, constant 1/512, lets each "
            "step commit ~tol): against scipy RK23 at the same rtol = atol (the order <= 3 baseline) "
            "it ends 40x-100x less accurate, while adaptive_heun, the other 2nd-order pair, passes "
            "every one of these checks at the same tolerances. Quick profile, tolerances from the "
            "step budget: y(20) on B4 at 1e-4 is 1.68 off (RK23 4.1e-3, bound 4.1e-2); E2 at 3.2e-4 "
            "0.307 (bound 6.5e-3); mlp-tanh-t at 1e-5 1.0e-3 (bound 1.4e-4); at 1e-8, unbudgeted: B4 "
            "2.8e-4 after 15392 evaluations (bound 2.4e-6). Drawn linear systems at 3.2e-3: error "
            "against expm 4.6e-2, bound 1.5e-2 (2026-12-01). A3 passes (an expected failure that "
            "passes is recorded as such)."),
    ),
    Finding(
        cause="error-control",
        iut=TORCHDIFFEQ_FORWARD, methods=("fehlberg2",),
        checks=("test_flow_property", "test_time_reversal", "test_batch_independence"),
        evidence=(
            "same cause (each step commits ~tol, the bounds assume the tolerance is met): with the "
            "standard profile's 40 drawn examples at rtol = atol = 1e-4 (the step budget's tolerance "
            "for order 2 there), flow difference 5.6e-3 against the bound 5.4e-3 (1-d stable, t = "
            "0, 0.24, 0.75), time-reversal return error 1.13e-2 against 4.8e-3, batch copies differ "
            "by 8.4e-3 against 6.8e-3; adaptive_heun passes all three on the same draws. Quick's 10 "
            "examples passed on 2026-12-01; the derandomized draws follow the test's source, and "
            "after the typed-evidence change of the suite (2026-12-03) quick's batch check draws a "
            "case where the copies differ by 0.118 against the bound 0.0733. The diagnosis names "
            "it from a probe: error 137-410 tolerance units at rtol = atol = 1e-5..1e-9, exponent "
            "1.00 (harness/diagnosis/rules.py, LOOSE_TOL_UNITS)."),
    ),
    # --- torchdiffeq 0.2.5's fixed-step Adams methods (fixed_adams.py; claims in harness/claims.py;
    # evidence by benchmarks/torchdiffeq_adams.py, B4 over [0, 2], measured 2026-12-01)
    Finding(
        # the AB formula's instability at max_order 12 has no cause key of its own: the diagnosis
        # measures it as order lost on every problem (wrong-coefficient's contrast) or NaN
        cause=("wrong-coefficient", "last-partial-step", "nan"),
        iut=TORCHDIFFEQ_FORWARD, methods=("explicit_adams",),
        checks=_FORWARD + ("test_fixed_step_order", "test_dense_output_order", "test_gradient_order_fixed_step",
                           "test_linear_systems_match_expm", "test_flow_property", "test_time_reversal",
                           "test_work_precision"),
        evidence=(
            "explicit_adams ramps the Adams-Bashforth formula up to 11 steps (default max_order 12), "
            "and AB formulas of that many steps are stable only for |h lambda| of a few 1e-3: on B4 "
            "(|lambda| ~ 1) the error at t = 2 grows as h falls, 2.1e2, 1.9e5, 1.0e8 at h = 2/32, "
            "2/64, 2/128, before it converges (1.1e7 at 2/256); with max_order 5..8 the same "
            "solves converge with order 3.86-3.99 (1.5e-8 at 2/256), with 10 only from h = 2/128. "
            "Quick profile: y(20) on B4 at the forward check's h = 20/64 is 8.9e27 off (bound 0.38), "
            "NaN on E2 (work-precision and forward checks); the order fits see errors 61 .. 3.2e7 "
            "falling h. On a grid whose last step is shortened (h = 2/(N + 0.3)) the constant-step "
            "coefficients make that one step first order in its length (local error "
            "dt (h - dt)/2 |y''|): order 2.0 at t1 with max_order 5..8, and the gradient order check "
            "sees 2.01. mlp-tanh-t (span 1, h = 1/64 divides it, converging): error 1.2e-8, 1300x "
            "rk4's 9.7e-12 (bound 9.7e-11): the one AB3 start-up step's local error (~h^4) sets "
            "the global error."),
    ),
    Finding(
        cause="last-partial-step",
        iut=TORCHDIFFEQ_FORWARD, methods=("implicit_adams",),
        checks=("test_fixed_step_order", "test_gradient_order_fixed_step"),
        evidence=(
            "implicit_adams uses constant-step Adams coefficients on the grid's shortened last step "
            "too, which makes that one step first order in its length (local error dt (h - dt)/2 "
            "|y''|): at t1 on B4 over [0, 2] with h = 2/(N + 0.3), N = 32..256, the slopes are 2.00 "
            "for every max_order 4..12, against 4.89-4.95 with h = 2/N (max_order 8..12, the claimed "
            "order 5: RK4 start-up and the first AM4 corrector, local h^5). The checks use a "
            "non-dividing h on purpose and measure 2.001 (values) and 2.002 (dL/dy0)."),
    ),
    Finding(
        cause=("nan", "wrong-coefficient"),
        iut=TORCHDIFFEQ_FORWARD, methods=("implicit_adams",), checks=_FORWARD, problems=("E2", "B2", "C2", "C3"),
        evidence=(
            "the Adams-Moulton corrector is a functional iteration of at most 4 sweeps to rtol/atol "
            "(torchdiffeq's defaults 1e-7/1e-9, which the harness passes); on Van der Pol (E2) it "
            "does not converge on nearly every step (30 of 32, 62 of 64, 126 of 128, 232 of 256 "
            "steps warn), drops the oldest history value each time, and the solution blows up: "
            "y(20) is NaN at h = 20/32 and at h = 20/256, while h = 20/64 and 20/128 end 4.7e-2 and "
            "2.8e-3 off. The interior-times check (h = 20/32) returns NaN at t = 17.2; at the "
            "standard profile it also blows up on B2 (error 2.3e3, bound 3.7), C2 (5.9e69) and C3 "
            "(8.1e13) at h = 0.63 (2026-12-01)."),
    ),
    Finding(
        cause="dense-output",
        iut=TORCHDIFFEQ_FORWARD, methods=("dopri8",), checks=("test_error_falls_with_tolerance",),
        evidence=(
            "Same cause as the dopri8 entries above (y(t1) read off the quartic interpolant), seen "
            "by the standard and thorough sweeps only: B4 on [0, 2], rtol = atol = 1e-4..1e-10, "
            "weighted error at t1 1.2e-3, 2.7e-4, 8.0e-5, 6.1e-6, 5.4e-7, 7.0e-8, 3.2e-7 as called "
            "(exponent 0.72 < 0.76 = 8/9 - 0.13), 1.8e-5 .. 2.7e-11 (0.96) with options={'step_t': "
            "[2.0]}. The quick sweep (1e-5..1e-8) gives 0.92 >= 0.65 and passes, so the finding "
            "is keyed to the deeper profiles."),
        profiles=("standard", "thorough"),
    ),
)


def finding_for(iut: str, method: str, check: str, problem: str | None,
                profile: str | None = None, error: BaseException | None = None) -> Finding | None:
    """The first known finding for the case (with `error`: the first that also records that
    exception, see `Finding.raises`), or None."""
    for f in KNOWN_FINDINGS:
        if f.matches(iut, method, check, problem, profile, error):
            return f
    return None


def expect_finding(node, iut: str, method: str, check: str, problem: str | None, profile: str | None) -> None:
    """Mark the pytest item `node` as an expected failure when a known finding matches the case,
    telling the plugin which of the implementation's exceptions the findings record."""
    from harness.pytest_plugin import expect_known_finding

    finding = finding_for(iut, method, check, problem, profile)
    if finding is None:
        return

    def recorded_error(exc: BaseException) -> str | None:
        covering = finding_for(iut, method, check, problem, profile, exc)
        return None if covering is None else covering.evidence

    expect_known_finding(node, finding.evidence, recorded_error)


# Gradient suite (suites/test_gradients.py). Checks parametrized by gradient group are named
# "test_name[group]" where a finding concerns one group only (the suite's own fixture matches
# them, with the gradient problem).
_GRAD_T = ("test_grad_t_vs_forward_sensitivity", "test_agrees_with_torchdiffeq_backprop[t]",
           "test_agrees_with_finite_differences[t]", "test_reverse_time[t]")
_GRAD_PARAMS = ("test_grad_params_vs_forward_sensitivity", "test_agrees_with_torchdiffeq_backprop[params]",
                "test_agrees_with_finite_differences[params]")

# every check of a gradient against the oracles, on any gradient problem
_GRAD_VS_ORACLES = ("test_grad_y0_vs_forward_sensitivity", "test_grad_params_vs_forward_sensitivity",
                    "test_grad_t_vs_forward_sensitivity", "test_agrees_with_torchdiffeq_backprop",
                    "test_agrees_with_finite_differences", "test_error_shrinks_with_tolerance")

_BACKSOLVE_CONTRACTING = (
    "backsolve adjoint on contracting-diag (y' = diag(-20, -1) y over [0, 2], matrix as parameter, "
    "outputs at 0, 0.627, 1.366, 2): the backward solve rebuilds z(t) from z(t_i), amplifying its "
    "errors like e^(20 dt) (e^13..e^15 per output interval), and dL/dA integrates a(t) z(t)^T, so "
    "the parameter gradient is wrong while dL/dy0 and dL/dt (no reconstructed z) are right. "
    "Measured with dopri5: ")
_TD_INTERP = ("torchdiffeq 0.2.5 reads every output time off its quartic fit (rk_common._interp_fit "
              "through y0, y1, f0, f1, y_mid); ")

GRADIENT_FINDINGS: tuple[Finding, ...] = (
    Finding(
        cause="dense-output",
        iut="torchdiffeq", methods=("bosh3",), checks=_GRAD_T + ("test_error_shrinks_with_tolerance[t]",),
        evidence=(
            _TD_INTERP + "for bosh3 y_mid = y0 + dt/2 k2 (bosh3._BS_C_MID = [0, 1/2, 0, 0]) is the "
            "explicit-midpoint value, local error O(h^3), and dL/dt_i is autograd's derivative of that "
            "fit. mlp-tanh-t, 4 output times, rtol=atol=1e-9: ||dL/dt error|| = 9.7e-4 against the "
            "bound 9.8e-5 (10 tol^(2/3) scale); with options={'step_t': t} (outputs at step ends) "
            "2.0e-9, reference bosh3 5.8e-10; at 1e-6 1.07e-2 vs bound 9.8e-3 (step_t 1.7e-6). "
            "linear-param 1e-9: 1.3e-3 vs 8.1e-5; mlp-tanh 4.2e-4 vs 1.0e-4 (measured 2026-11-22). "
            "Same cause as the forward bosh3 finding above. The shrink check, over the sweep the "
            "step budget gives bosh3 there (1e-4 .. 1e-7 in half decades, quick): errors 1.4e-2, "
            "3.5e-2, 2.1e-2, 1.4e-2, 1.1e-2, 7.5e-3, 5.1e-3, a 6.9x shrink where 10x is required "
            "(tol^(2/3) predicts 100x) (2026-12-01)."),
    ),
    Finding(
        cause="dense-output",
        iut="torchdiffeq", methods=("dopri8",),
        checks=("test_error_shrinks_with_tolerance[y0]", "test_error_shrinks_with_tolerance[params]"),
        problems=("contracting-diag",),
        evidence=(
            _TD_INTERP + "a 4th-order interpolant for the 8th-order method, whose error the tolerance "
            "does not control (on contracting-diag the steps are near dopri8's stability limit for "
            "lambda = -20: 210 evaluations at 1e-6, 340 at 1e-9). ||dL/dy0 error|| 9.4e-8 at "
            "rtol=atol=1e-6 and 3.5e-8 at 1e-9; over the half-decade sweep the largest error is 4.5x "
            "the one at 1e-9 where 7.5x is required (1000^(5/8) / 10); ||dL/dA error|| 2.8e-8 at 1e-6, "
            "1.3e-7 at 1e-9 (4.5x below the sweep's largest). With options={'step_t': t}: 5.1e-8 -> "
            "6.4e-11 and 4.0e-8 -> 5.5e-11 (measured 2026-11-22). Same cause as the forward dopri8 finding above."),
    ),
    Finding(
        cause="grad-missing",
        iut="torchdiffeq", methods=("euler", "midpoint", "rk4", "heun3", "explicit_adams", "implicit_adams"),
        checks=("test_grad_t_at_grid_output_times",),
        evidence=(
            "torchdiffeq 0.2.5 fixed-grid solvers return dL/dt_i = 0 for an output time that lies on "
            "their grid: FixedGridODESolver._linear_interp returns the grid value itself when "
            "t == t0 (or t1), a branch with no autograd path to t. mlp-tanh-t, h = 1/64, outputs "
            "0, 1/4, 1/2, 1: dL/dt = (-0.519, 0, 0, 0.394) against (-0.118, 0.187, -0.588, 0.394) "
            "from forward sensitivities (error 0.74, bound 0.045 for rk4 and midpoint, 0.11 for "
            "euler; linear-param, mlp-tanh and contracting-diag fail alike); dL/dt_0 is wrong too (the interior outputs do not move with the grid). Between "
            "grid points the slope of the interpolant is returned (measured: y' = -y, rk4, h = 0.25, "
            "t = (0, 0.5, 1): dy(t_1)/dt_1 = 0.0; at t_1 = 0.5001: -0.537, f = -0.606) "
            "(measured 2026-11-22). heun3 and the Adams methods (the same FixedGridODESolver."
            "integrate): heun3 error 0.7362 against the bound 0.045 on mlp-tanh-t (2026-12-01)."),
    ),
    Finding(
        cause=("wrong-coefficient", "nan"),
        iut="torchdiffeq", methods=("explicit_adams",),
        checks=_GRAD_VS_ORACLES + ("test_reverse_time",),
        problems=("linear-param", "contracting-diag"),
        evidence=(
            "the gradient of the same unstable discrete map as the forward explicit_adams finding "
            "(Adams-Bashforth up to 11 steps at the default max_order 12): standard profile, h = "
            "span/64: ||dL/dy0 error|| 6.3e5 on linear-param (bound 4.5e-3) and 2.7e41 on "
            "contracting-diag (lambda = -20, h lambda = -0.63; bound 1.1e-3); mlp-tanh and "
            "mlp-tanh-t, slower, pass (2026-12-01)."),
    ),
    Finding(
        cause="grad-wrong",
        iut="torchdiffeq", methods=("implicit_adams",),
        checks=_GRAD_VS_ORACLES,
        problems=("contracting-diag",),
        evidence=(
            "backprop through the corrector's functional iteration (at most 4 sweeps, stopped by "
            "rtol/atol, history dropped when it does not converge) on contracting-diag (lambda = "
            "-20, h = 2/64): ||dL/dy0 error|| 7.3 (bound 1.1e-3), dL/dt 448 (bound 8.6e-2); over the "
            "shrink sweep the errors reach 1e12; linear-param, mlp-tanh and mlp-tanh-t pass "
            "(standard profile, 2026-12-01)."),
    ),
    Finding(
        cause="grad-reconstruction-drift",
        iut="torchdiffeq-adjoint", methods=("dopri5",),
        checks=("test_adjoint_on_contracting_problem",) + _GRAD_PARAMS, problems=("contracting-diag",),
        evidence=_BACKSOLVE_CONTRACTING + (
            "||dL/dA error|| = 6.5e-2 at rtol=atol=1e-6 (bound 2.2e-4, 293x) and 1.1e-6 at 1e-9 "
            "(bound 8.9e-7, 1.3x), against 9.2e-7 and 2.2e-9 for the reference checkpoint adjoint "
            "(exact gradient of the discrete solve); torchdiffeq exposes no reconstruction error "
            "(measured 2026-11-22)."),
    ),
    Finding(
        cause="grad-reconstruction-drift",
        iut="torchdiffeq-adjoint", methods=("bosh3", "dopri8", "midpoint"),
        checks=("test_adjoint_on_contracting_problem",) + _GRAD_PARAMS, problems=("contracting-diag",),
        evidence=_BACKSOLVE_CONTRACTING + (
            "the other methods fail alike (standard profile, worst gradient error over its bound): "
            "bosh3 8.3 at rtol=atol=1e-6 and 4.7 at 1e-9, dopri8 2.1 at 1e-6, midpoint 21.6 at "
            "h = 1/32. rk4 and euler stay inside their bounds only because torchdiffeq's "
            "fixed-grid outputs are interpolated (claimed dense order 1-2), which loosens the "
            "bound: backsolve's dL/dA error with rk4 at h = 1/32 is 5.0e-4 (reference backsolve "
            "3.1e-4, backprop 8.3e-9) (measured 2026-11-22)."),
    ),
    Finding(
        cause="grad-reconstruction-drift",
        iut="reference-adjoint",
        methods=("midpoint", "heun2", "heun3", "rk4", "rk38", "bosh3", "dopri5", "tsit5", "dop853"),
        checks=("test_adjoint_on_contracting_problem",) + _GRAD_PARAMS, problems=("contracting-diag",),
        evidence=_BACKSOLVE_CONTRACTING + (
            "||dL/dA error|| = 2.8e-2 at rtol=atol=1e-6 (bound 2.2e-4, 126x; reconstruction error "
            "of z 1.9e-2) and 2.6e-6 at 1e-9 (bound 8.9e-7, 2.9x; reconstruction error 5.1e-5); "
            "reference-checkpoint 9.2e-7 and 2.2e-9. With outputs at 0, 1, 2 (e^20 per interval) "
            "the errors are 1.4 and 2.1e-3 (reconstruction errors 293 and 5.5e-2). Every method "
            "fails alike (standard profile; worst error over its bound at 1e-6, reconstruction "
            "error of z): midpoint 21 (1.1), heun2 21 (1.1), heun3 429 (0.25), rk4 and rk38 3002 "
            "(1.8e-2), bosh3 11 (0.30), tsit5 182 (4.4e-2), dop853 7957 (1.8e-4; 1265 at 1e-9); "
            "euler passes only because its own bound, set by its first-order error, is looser "
            "(measured 2026-11-22)."),
    ),
)
KNOWN_FINDINGS = KNOWN_FINDINGS + GRADIENT_FINDINGS


# --------------------------------------------------------------------------- torchdyn 1.0.6
# Measured 2026-12-01 with `ode-harness check torchdyn --profile standard` (and the adjoints at
# quick), float64 unless said; the sources named are torchdyn/numerics/odeint.py (`odeint`,
# `_adaptive_odeint`, `_fixed_odeint`), numerics/solvers/ode.py, numerics/utils.py
# (`init_step`, `adapt_step`), numerics/sensitivity.py and core/problems.py.
from harness.problems import get_problem as _get_problem  # noqa: E402
from harness.problems import problem_names as _problem_names  # noqa: E402

# An exception of the implementation is a known finding (category robustness, cause "crash") only
# where the matching entry records it (`raises`: type name and message fragment); any other
# exception stays an error verdict (harness/pytest_plugin.py).
TORCHDYN_ALL = ("torchdyn", "torchdyn-adjoint", "torchdyn-interp-adjoint")  # one forward solver
_NON_AUTONOMOUS = tuple(n for n in _problem_names() if "non-autonomous" in _get_problem(n).tags)
_GRAD_ALL = ("test_grad_y0_vs_forward_sensitivity", "test_grad_params_vs_forward_sensitivity",
             "test_grad_t_vs_forward_sensitivity", "test_agrees_with_torchdiffeq_backprop",
             "test_agrees_with_finite_differences", "test_reverse_time", "test_error_shrinks_with_tolerance")
_TD_RK4 = (
    "torchdyn 1.0.6 RungeKutta4 builds c = [0, 1/2, 1/2, 1] (solvers/_constants.construct_rk4) but its "
    "step reads c[0], c[1], c[2] for stages 2, 3, 4: the stage times are t, t + h/2, t + h/2 instead "
    "of t + h/2, t + h/2, t + h, so b.c = 1/4 (not 1/2) and the method is first order wherever f "
    "depends on t (autonomous problems are unaffected and pass). Quadrature y' = t on [0, 1]: error "
    "2.5e-2, 1.25e-2, 6.25e-3 at n = 10, 20, 40 steps (exactly h/4; order 1.00); y' = t^3: order 0.98. "
    "Standard profile: A3 error at t1 0.112 at h = 0.316 against the bound 2.5e-3 (10x reference rk4), "
    "A5 0.488 vs 1.4e-4, mlp-tanh-t 1.3e-3 vs 1.0e-10; dL/dy0 on mlp-tanh-t 5.6e-4 vs 1.6e-10; "
    "observed gradient order 0.99 (claimed 4); y' = Ay + (0, t) (linear-systems property) 4.5e-4 vs 1.9e-8.")
_TD_TSHAPE = (
    "torchdyn 1.0.6's adaptive loop calls f with t of shape (1,) (_adaptive_odeint: t = t_span[:1], "
    "then t + dt), while the first evaluation, init_step's probe and the fixed-step loop pass shape (): "
    "a field whose value broadcasts against t gets an extra axis. scipy-rational (y2 / t etc., y of "
    "shape (2,)): f returns (2,) at the first two calls, (1, 2) from the third, and torch.stack of the "
    "solution fails ('got [2] at entry 0 and [1, 2] at entry 1'); DETEST E1, E3, E5 (fields that "
    "stack a column built from t with one that is not) fail inside the field: 'stack expects each "
    "tensor to be equal size, but got [] at entry 0 and [1]'. torchdiffeq passes t of shape (). "
    "(A batched (B, 2) state absorbs t's axis; there the float32-step floor below shows instead: E1 "
    "tsit5 batched 5.5e-7 against 3.7e-7 at rtol = atol = 1e-8.)")
_TD_STEP32 = (
    "torchdyn 1.0.6's adaptive step size becomes float32 after the first adapt_step: the solver's "
    "safety, min_factor and max_factor are 1-element float32 tensors (SolverTemplate/DiffEqSolver "
    "__init__: torch.tensor([0.9]) etc.), and dt (a float64 0-dim tensor) times a 1-element float32 "
    "tensor is float32 by torch's promotion rules; then dt * a_ij (0-dim float64 coefficients) and "
    "c_i * dt are float32 products, i.e. the tableau enters at float32 precision (relative 6e-8) and "
    "the float64 solution has an error floor. B4 on [0, 20], rtol = atol = 1e-10: dopri5 error at t1 "
    "4.8e-7 (3146 NFE), 1.7e-9 with the three factors cast to float64; tsit5 7.2e-7 (5900 NFE); "
    "torchdiffeq dopri5 1.7e-9 (3098), scipy RK45 7.9e-10 (3332). Standard profile: test_error_at_end "
    "fails at tol = 1e-10 on 19 problems for dopri5 and 26 for tsit5 (A3 dopri5 8.96e-8 vs bound "
    "1.07e-8), and at 1e-8 for tsit5 on B1, D3, linear-skew (3.8e-6 vs 2.9e-6); tsit5 error in "
    "tolerance units 0.22, 0.28, 0.45, 0.21, 0.19, 18.3, 40.5 at tol 1e-4 .. 1e-10 (exponent 0.64 < "
    "0.70); from t1 back to t0 at 1e-8 D2 dopri5 1.8e-5 vs 8.8e-6 (the reverse solve also starts "
    "from init_step called with the unreversed f: see the span finding). torchdyn-adjoint and "
    "-interp-adjoint build their solver with str_to_solver's default dtype float32, so their tableau "
    "itself is float32-rounded: rk4 at h = 0.01 on y' = -y errs 4.4e-8 against 1.2e-10 through "
    "torchdyn.numerics.odeint.")
_TD_STEP32_TSIT5_T = (
    " The same floor on mlp-tanh-t for tsit5 (standard profile, 2026-12-03): gradient error over tol "
    "1e-6 .. 1e-9 (7 points) dL/dy0 5.2e-8, 8.7e-9, 2.2e-8, 1.8e-8, 9.8e-9, 1.3e-9, 2.5e-9 (shrink 20.2 "
    "against the required 25.1 = predicted 251 / 10) and dL/dtheta 3.1e-7 .. 9.5e-9, 2.7e-8 (shrink 11.5); "
    "dopri5 passes on the same problem (shrink >= 25), and dL/dt for tsit5 passes (118). Contrast "
    "(4 output times, L = sum y, against the reference dop853 at 1e-13): relative dL/dy0 error of tsit5 "
    "at tol 1e-8, 1e-9, 1e-10 is 3.9e-9, 1.1e-9, 4.4e-10 as shipped and 7.6e-10, 8.1e-11, 1.1e-11 with "
    "safety, min_factor and max_factor cast to float64 (dopri5 7.8e-9, 4.6e-10, 6.9e-11 as shipped).")
_TD_LANDING = (
    "torchdyn 1.0.6 records an output only when t + dt == t_eval[k] exactly (_adaptive_odeint), after "
    "setting dt = t_eval[k] - t; in floating point t + (t_k - t) need not equal t_k. Below it: the "
    "output is dropped and the result has fewer rows, e.g. t = [1, 7.46e-272] (reverse: torchdyn "
    "solves on -t): 1 row instead of 2; standard-profile flow-property and time-reversal draws: "
    "(1, 1) instead of (2, 1). Above it, on the last output: the checkpoint branch fires with "
    "dt_old = dt, a rejected step then sets dt = dt_old - dt = 0, and adapt_step returns 0 * 10 = 0 "
    "for ever: y' = Ay (4x4 drawn A), t = [-0.44650921105952024, -0.13893534266727692, "
    "-0.09233324139572491, 0.48553281437152007], rtol = atol = 1e-5: 19573 evaluations of f at "
    "t = -0.0923332 in 10 s, no progress (the adapter's StallGuard now stops it after 1000 and raises: "
    "the quick run had two 60 s timeouts before). Some draws of the deterministic and inputs checks "
    "hit one or the other. The interpolated adjoint records t + dt itself (return_all_eval), so "
    "there the output time is missing from t_eval: 'torchdyn returned no row at the output time "
    "-7.458983191980295e-272 (t_eval has 4 rows)'.")
_TD_ONE_POINT = (
    "t of one point: torchdyn 1.0.6 odeint reads t_span[1] to detect reverse time (and "
    "_fixed_odeint reads it for its first dt), so it raises IndexError('index 1 is out of bounds for "
    "dimension 0 with size 1') instead of returning y0; the span check's explicit example t = [0.5] "
    "errors the same way for the fixed-step methods.")
_TD_PROBE = (
    "torchdyn 1.0.6 init_step (numerics/utils.py) probes f(t0 + h0) with h0 = 0.01 d0 / d1 not clipped "
    "to the span: y' = -0.1 y on t = [0, 1e-3] evaluates f at t = 0.1 (99 spans past the end). In "
    "reverse time odeint hands init_step the unreversed f with the negated t0 (f(-t0 + h0, ...)): "
    "B4 from t = 20 back to 0 evaluates f at t = -19.994, D2 at -19.994. (t of one point: "
    "IndexError, see the one-point finding.)")
_TA_TSPAN = (
    "torchdyn-adjoint (ODEProblem sensitivity='adjoint', numerics/sensitivity._gather_odefunc_adjoint) "
    "returns a t_span gradient of shape (2,) (dL/dt at the first and last time only) whatever len(t): "
    "with 4 output times autograd raises 'Function _ODEProblemFuncBackward returned an invalid gradient "
    "at index 2 - got [2] but expected shape compatible with [4]' in every gradient check whose t "
    "requires grad (mlp-tanh-t, contracting-diag, rtol = atol = 1e-6 and 1e-9). Where it runs, reverse "
    "time is wrong too: y' = -k y on t = (1, 0.5, 0) gives dL/dy0 off by 3.4 (backprop through "
    "torchdyn.numerics.odeint: 2.8e-8), the backward integrating the unreversed field on the negated times.")
_TA_UNUSED = (
    "torchdyn 1.0.6's adjoints put torch.zeros(1) for a parameter the field does not use "
    "(sensitivity.py: `el.flatten() if el is not None else torch.zeros(1)`) instead of zeros of its "
    "size, so the parameter-adjoint no longer matches vf_params: mlp-tanh-t with the 2-element unused "
    "parameter 'The size of tensor a (446) must match the size of tensor b (448)'; a drawn field whose "
    "B = 0 block is unused, 13 against 16.")
_TA_INTERP = (
    "torchdyn-interp-adjoint (sensitivity._gather_odefunc_interp_adjoint) runs its forward with "
    "return_all_eval=True, a row per accepted step, but its backward adds grad_output[-1][i - 1] for "
    "the t_span index i, i.e. the cotangent of step row i - 1, not of output time i - 1: the losses "
    "at interior output times enter at the wrong times (the adapter returns the rows whose t_eval is "
    "an output time; their cotangents are never read). mlp-tanh-t, 4 output times, rtol = atol = 1e-9: "
    "||dL/dy0 error|| 1.56 (bound 4.6e-6), ||dL/dtheta error|| 2.50; gradient-error exponent 0.15 over "
    "tol 1e-6..1e-9; contracting-diag worst error over bound 4266 at 1e-6, 1.07e6 at 1e-9. y' = -y, "
    "t = (0, 0.5, 1), L = sum y: dL/dy0 off by 0.61 (torchdyn-adjoint 7.4e-9). With fixed steps the "
    "rows are the grid and the attribution is right (rk4 h = 0.01: dL/dy0 error 2.0e-8).")

# the exceptions on record (Finding.raises): type and a fragment of the message quoted above
_TD_TSHAPE_RAISES = (Raised("RuntimeError", "stack expects each tensor to be equal size"),)
_TD_LANDING_RAISES = (Raised("RuntimeError", "torchdyn made no progress"),   # the adapter's StallGuard
                      Raised("RuntimeError", "torchdyn returned no row at the output time"))  # the adapter's check

TORCHDYN_FINDINGS: tuple[Finding, ...] = (  # first match wins: the adjoints' own cause first
    Finding(cause="crash", iut=("torchdyn-adjoint", "torchdyn-interp-adjoint"), methods=("dopri5", "tsit5", "rk4", "euler", "midpoint"),
            checks=("test_unused_parameter_gets_zero_gradient", "test_inputs_not_mutated"), evidence=_TA_UNUSED,
            raises=(Raised("RuntimeError", "must match the size of tensor b"),)),
    Finding(cause="stage-times", iut=TORCHDYN_ALL, methods=("rk4",), checks=_FORWARD + _GRAD_ALL, problems=_NON_AUTONOMOUS,
            evidence=_TD_RK4),
    Finding(cause="stage-times", iut=TORCHDYN_ALL, methods=("rk4",),
            checks=("test_gradient_order_fixed_step", "test_linear_systems_match_expm", "test_time_reversal"),
            evidence=_TD_RK4),
    Finding(cause=("crash", "shape-dtype-device"), iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"), checks=_FORWARD, problems=("E1", "E3", "E5"),
            evidence=_TD_TSHAPE, raises=_TD_TSHAPE_RAISES),
    Finding(cause=("crash", "shape-dtype-device"), iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"), checks=("test_tolerance_proportionality_bound",),
            evidence=_TD_TSHAPE, raises=_TD_TSHAPE_RAISES),
    Finding(cause="precision-loss", iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"), checks=_FORWARD,
            problems=("A2", "A3", "A4", "A5", "B1", "B3", "B4", "B5", "C1", "D1", "D2", "D3", "D4", "E2",
                      "E4", "arenstorf", "linear-random-stable", "linear-skew", "mlp-softplus",
                      "mlp-softplus-t", "mlp-tanh", "mlp-tanh-t", "sciml-linear", "scipy-linear"),
            evidence=_TD_STEP32),
    Finding(cause="precision-loss", iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"),
            checks=("test_error_falls_with_tolerance", "test_dense_output_order_adaptive",
                    "test_gradient_error_falls_with_tolerance"),
            evidence=_TD_STEP32),
    Finding(cause="precision-loss", iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"), checks=("test_error_shrinks_with_tolerance",),
            problems=("mlp-tanh", "linear-param"), evidence=_TD_STEP32),
    Finding(cause="precision-loss", iut=TORCHDYN_ALL, methods=("tsit5",), checks=("test_error_shrinks_with_tolerance",),
            problems=("mlp-tanh-t",), evidence=_TD_STEP32 + _TD_STEP32_TSIT5_T),
    Finding(cause=("crash", "shape-dtype-device"), iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"),
            checks=("test_shapes_and_dtypes_kept", "test_flow_property", "test_time_reversal",
                    "test_deterministic", "test_inputs_not_mutated", "test_batch_independence",
                    # the same properties without gradients: the same dropped outputs
                    "test_without_grad_shapes_and_dtypes_kept", "test_without_grad_deterministic",
                    "test_without_grad_inputs_not_mutated"),
            evidence=_TD_LANDING, raises=_TD_LANDING_RAISES),
    Finding(cause="outside-span", iut=TORCHDYN_ALL, methods=("dopri5", "tsit5"), checks=("test_field_evaluated_only_inside_span",),
            evidence=_TD_PROBE),
    Finding(cause=("crash", "one-time-point"), iut=TORCHDYN_ALL, methods=("dopri5", "tsit5", "rk4", "euler", "midpoint"),
            checks=("test_one_time_point_returns_y0", "test_field_evaluated_only_inside_span",
                    "test_without_grad_one_time_point_returns_y0"),
            evidence=_TD_ONE_POINT, raises=(Raised("IndexError", "index 1 is out of bounds for dimension 0 with size 1"),)),
    Finding(cause=("crash", "reverse-time", "grad-wrong"), iut="torchdyn-adjoint", methods=("dopri5", "tsit5", "rk4", "euler", "midpoint"),
            checks=_GRAD_ALL + ("test_missing_gradient_is_failure", "test_adjoint_on_contracting_problem"),
            evidence=_TA_TSPAN, raises=(Raised("RuntimeError", "returned an invalid gradient at index 2"),)),
    Finding(cause="grad-dropped-cotangents", iut="torchdyn-interp-adjoint", methods=("dopri5", "tsit5"),
            checks=_GRAD_ALL + ("test_adjoint_on_contracting_problem", "test_gradient_error_falls_with_tolerance"),
            evidence=_TA_INTERP),
    Finding(cause="cost-memory", iut="torchdyn-interp-adjoint", methods=("dopri5", "tsit5", "rk4", "euler", "midpoint"),
            checks=("test_saved_bytes_against_depth",),
            evidence=("by design: the interpolated adjoint keeps every accepted step of the forward solve "
                      "(return_all_eval=True) to fit the backward's cubic spline through them, so what it "
                      "saves grows with the step count: 200, 280, 400 bytes at tol 1e-4, 1e-6, 1e-8 on the "
                      "quick benchmark problem (an O(1)-memory adjoint saves the same at every depth).")),
)
KNOWN_FINDINGS = KNOWN_FINDINGS + TORCHDYN_FINDINGS


# --------------------------------------------------------------------------- scipy via torchdiffeq
# The `scipy` built-in is torchdiffeq 0.2.5's scipy_solver (torchdiffeq/_impl/scipy_wrapper.py,
# ScipyWrapperODESolver) around scipy 1.17.1's solve_ivp; the adapter passes y0, t and f through
# unchanged (harness/implementations.py, scipy_odeint). Measured 2026-12-03, quick profile.
SCIPY_METHODS = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")
SCIPY_FINDINGS: tuple[Finding, ...] = (
    Finding(
        cause=("one-time-point", "shape-dtype-device"),
        iut="scipy", methods=SCIPY_METHODS,
        checks=("test_one_time_point_returns_y0", "test_without_grad_one_time_point_returns_y0"),
        evidence=(
            "t of one point: torchdiffeq 0.2.5's ScipyWrapperODESolver.integrate returns the y0 it "
            "flattened in __init__ (self.y0 = y0...reshape(-1)) with a leading axis, without the "
            "reshape to y0's shape that its many-point branch does: y0 of shape (2, 3) -> (1, 6), "
            "(3, 1) -> (1, 3), (1, 1) -> (1, 1) instead of (1, 1, 1) (the check's shrunk example: "
            "elements_differing_from_y0 = 2, i.e. its one element plus the wrong shape); a 1-d y0 "
            "comes back right, (n,) -> (1, n). Every scipy method alike (RK23, RK45, DOP853, Radau, "
            "BDF, LSODA; scipy is not called).")),
    Finding(
        cause=("outside-span", "precision-loss"),
        iut="scipy", methods=SCIPY_METHODS, checks=("test_field_evaluated_only_inside_span",),
        evidence=(
            "the first evaluation of f is at t0 rounded to float32: scipy 1.17.1's solve_ivp turns "
            "t_span into Python floats (t0, tf = map(float, t_span)) and the solver's __init__ "
            "evaluates fun(t0) with that float; torchdiffeq 0.2.5's convert_func_to_numpy makes "
            "torch.tensor(t).to(dtype) of it, and torch.tensor of a Python float is float32 (the "
            "default dtype) before the cast to float64 (later stage times are numpy float64 and "
            "stay exact). t = [0.7046480404219815, 1.7046480404219815], float64: first t seen "
            "0.7046480178833008, 2.254e-08 before t0 (threshold 4 ulps, 8.9e-16); in reverse time "
            "(t = -0.70..., -1.70...; torchdiffeq negates t) 2.254e-08 past t0. Every scipy method "
            "alike (RK23, RK45, DOP853, Radau, BDF, LSODA).")),
)
KNOWN_FINDINGS = KNOWN_FINDINGS + SCIPY_FINDINGS
