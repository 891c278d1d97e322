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
class Finding:
    iut: str | tuple[str, ...]  # one implementation or several sharing the cause
    methods: tuple[str, ...]
    checks: tuple[str, ...]
    evidence: str
    problems: tuple[str, ...] = ()  # empty: every problem
    profiles: tuple[str, ...] = ()  # empty: every profile (a finding only a deeper sweep shows names them)

    def matches(self, iut: str, method: str, check: str, problem: str | None,
                profile: str | None = None) -> bool:
        iuts = (self.iut,) if isinstance(self.iut, str) else self.iut
        return (iut in iuts and method in self.methods and check in self.checks
                and (not self.problems or problem in self.problems)
                and (not self.profiles or profile in self.profiles))


_FORWARD = ("test_error_at_end", "test_error_at_interior_times", "test_error_batched",
            "test_error_in_reverse_time", "test_error_float32")

KNOWN_FINDINGS: tuple[Finding, ...] = (
    Finding(
        iut=TORCHDIFFEQ_FORWARD, methods=("bosh3",), checks=_FORWARD,
        evidence=(
            "torchdiffeq 0.2.5 steps past every output time, the last one included, and evaluates "
            "it with its quartic fit (rk_common._interp_fit through y0, y_mid, y1, f0, f1), which for "
            "bosh3 is less accurate than the step itself: A3 at rtol=atol=1e-8, error at t=20 is "
            "1.1e-5 as called, 1.0e-6 with options={'step_t': t} (landing on t), and scipy RK23 "
            "gives 9.9e-7 (measured 2026-11-22)."),
    ),
    Finding(
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
        iut=TORCHDIFFEQ_FORWARD, methods=("dopri5", "bosh3", "dopri8", "fehlberg2", "adaptive_heun"),
        checks=("test_zero_field_keeps_y_constant",),
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
        iut=TORCHDIFFEQ_FORWARD, methods=("fehlberg2",),
        checks=("test_flow_property", "test_time_reversal", "test_batch_independence"),
        evidence=(
            "same cause (each step commits ~tol, the bounds assume the tolerance is met): with the "
            "standard profile's 40 drawn examples at rtol = atol = 1e-4 (the step budget's tolerance "
            "for order 2 there), flow difference 5.6e-3 against the bound 5.4e-3 (1-d stable, t = "
            "0, 0.24, 0.75), time-reversal return error 1.13e-2 against 4.8e-3, batch copies differ "
            "by 8.4e-3 against 6.8e-3; adaptive_heun passes all three on the same draws; quick's 10 "
            "examples pass (2026-12-01)."),
        profiles=("standard", "thorough"),
    ),
    # --- torchdiffeq 0.2.5's fixed-step Adams methods (fixed_adams.py; claims in harness/claims.py;
    # evidence by benchmarks/torchdiffeq_adams.py, B4 over [0, 2], measured 2026-12-01)
    Finding(
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
                profile: str | None = None) -> Finding | None:
    for f in KNOWN_FINDINGS:
        if f.matches(iut, method, check, problem, profile):
            return f
    return None


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
        iut="torchdiffeq-adjoint", methods=("dopri5",),
        checks=("test_adjoint_on_contracting_problem",) + _GRAD_PARAMS, problems=("contracting-diag",),
        evidence=_BACKSOLVE_CONTRACTING + (
            "||dL/dA error|| = 6.5e-2 at rtol=atol=1e-6 (bound 2.2e-4, 293x) and 1.1e-6 at 1e-9 "
            "(bound 8.9e-7, 1.3x), against 9.2e-7 and 2.2e-9 for the reference checkpoint adjoint "
            "(exact gradient of the discrete solve); torchdiffeq exposes no reconstruction error "
            "(measured 2026-11-22)."),
    ),
    Finding(
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
