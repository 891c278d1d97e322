"""Claims: what an implementation under test promises for one method.

A check that does not apply under the claims is skipped, visibly, with the reason
(`Claims.skip_reason`). Defaults come from `KNOWN_METHODS`, a table of well-known method names;
every claim can be overridden by the user (`Claims.override`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from reference.tableaus import TABLEAUS

GRADIENT_MODES = ("none", "autograd")


@dataclass(frozen=True)
class Claims:
    """Promises of an implementation for one method.

    order: convergence order of the values at step ends (fixed step) / of the global error
        (adaptive), None when unknown (order checks are then skipped).
    dense_order: order of the values at output times that fall between steps (the continuous
        extension, or interpolation); a separate claim from `order`.
    adaptive: step-size control by error estimate (True) or fixed steps of `options["step_size"]`.
    gradients: "autograd" (gradients flow to y0, t and parameters, by backprop or an adjoint) or
        "none".
    float32: solves float32 states.  reverse_time: accepts decreasing t.
    t_grad: gradients with respect to t.  batching: any leading batch shape of y0.
    stiff: meant for stiff problems (the stiff problems are only run for such claims).
    adjoint: gradients come from an adjoint backward solve (reconstruction checks apply).
    implicit: each step solves an implicit equation iteratively to rtol/atol (an Adams-Moulton
        corrector), so a fixed-step method's evaluation count depends on the tolerance.
    """

    order: int | None = None
    dense_order: int | None = None
    adaptive: bool = True
    gradients: str = "autograd"
    float32: bool = True
    reverse_time: bool = True
    t_grad: bool = True
    batching: bool = True
    stiff: bool = False
    adjoint: bool = False
    implicit: bool = False

    def __post_init__(self) -> None:
        if self.gradients not in GRADIENT_MODES:
            raise ValueError(f"claim gradients must be one of {GRADIENT_MODES}, got {self.gradients!r}")
        for name in ("order", "dense_order"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"claim {name} must be a positive int or None, got {v!r}")

    def override(self, **changes: Any) -> "Claims":
        """A copy with some claims changed; unknown names raise ValueError listing the valid ones."""
        valid = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ValueError(f"unknown claim(s) {unknown}; valid claims: {', '.join(sorted(valid))}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def skip_reason(self, *, needs_order: bool = False, needs_dense_order: bool = False,
                    needs_adaptive: bool | None = None, needs_gradients: bool = False,
                    needs_float32: bool = False, needs_reverse_time: bool = False,
                    needs_t_grad: bool = False, needs_batching: bool = False,
                    needs_stiff: bool = False, needs_adjoint: bool = False,
                    needs_explicit: bool = False) -> str | None:
        """Why a check with these needs does not apply, or None when it does."""
        if needs_order and self.order is None:
            return "no order claimed"
        if needs_dense_order and self.dense_order is None:
            return "no dense-output order claimed"
        if needs_adaptive is True and not self.adaptive:
            return "fixed-step method (check needs an adaptive one)"
        if needs_adaptive is False and self.adaptive:
            return "adaptive method (check needs a fixed-step one)"
        if (needs_gradients or needs_t_grad or needs_adjoint) and self.gradients == "none":
            return "no gradients claimed"
        if needs_t_grad and not self.t_grad:
            return "no gradients with respect to t claimed"
        if needs_float32 and not self.float32:
            return "float32 not claimed"
        if needs_reverse_time and not self.reverse_time:
            return "reverse time not claimed"
        if needs_batching and not self.batching:
            return "batching not claimed"
        if needs_stiff and not self.stiff:
            return "not claimed for stiff problems"
        if needs_adjoint and not self.adjoint:
            return "not an adjoint method"
        if needs_explicit and self.implicit:
            return "implicit method (its corrector iterations depend on the tolerance)"
        return None


def _reference_claims() -> dict[str, Claims]:
    out = {}
    for name, tab in TABLEAUS.items():
        # Fixed-step reference methods land exactly on every output time: dense order = order.
        dense = tab.dense.order if tab.dense is not None else tab.order
        out[name] = Claims(order=tab.order, dense_order=dense, adaptive=tab.adaptive)
    return out


# torchdiffeq 0.2.5 (torchdiffeq/_impl/*, read for these claims):
# - adaptive RK solvers (rk_common.RKAdaptiveStepsizeODESolver) interpolate output times with a
#   quartic through y0, y_mid, y1, f0, f1 (rk_common._interp_fit), so their dense order is at most
#   4; dopri5 (5(4), order 5), bosh3 (3(2)), dopri8 (8(7)) propagate the higher order.
# - fehlberg2.py: Fehlberg's RKF1(2) tableau, propagating its 2nd-order solution
#   c_sol = (1/512, 255/256, 1/512) (order 2: sum b = 1, b.c = 1/2) with the error estimate
#   c_error = (-1/512, 0, 1/512), the 1st-order companion's error; order 2, dense 2 (the quartic
#   fit is exact for quadratics, so it does not limit an order-2 solution).
# - adaptive_heun.py: Heun's method (order 2) with Euler as the embedded estimate; order 2.
# - fixed_grid.py: euler (1), midpoint (2), rk4 (4, rk_common.rk4_alt_step_func: the 3/8 rule),
#   heun2 (2), heun3 (3); their outputs are linear interpolations between grid points by default
#   (interp="linear"), so their dense order is min(order, 2).
# - fixed_adams.py: explicit_adams (AdamsBashforth) and implicit_adams (AdamsBashforthMoulton)
#   are fixed-step multistep methods on the same grid, with the same linear interpolation (dense
#   order 2). Start-up: the first two steps are rk4_alt_step_func (3/8 rule, local error h^5);
#   then step k >= 3 uses the k-step formula, k = min(steps so far, max_order - 1 = 11): explicit:
#   Adams-Bashforth with k steps (local error h^(k+1)); implicit: that AB predictor and the
#   (k+1)-point Adams-Moulton corrector (local error h^(k+2)), iterated up to 4 times until two
#   iterates agree within rtol/atol. The global error at a fixed end time is set by the start-up:
#   explicit, the one AB3 step (local h^4): order 4 (torchdiffeq's own `order = 4`); implicit,
#   the RK4 steps and the first AM4 corrector (local h^5): order 5. Measured on B4 over [0, 2] at
#   h = 2/N, N = 32..256 (benchmarks/torchdiffeq_adams.py): implicit slopes 4.89-4.95 for
#   max_order 8..12, explicit 3.86-3.99 for max_order 5..8 (explicit at the default max_order 12
#   diverges at these h: AB11 is unstable there). Both use constant-step coefficients, also on
#   the grid's shortened last step: order 2 at t1 then (see suites/known_findings.py).
_TORCHDIFFEQ = {
    "dopri5": Claims(order=5, dense_order=4),
    "bosh3": Claims(order=3, dense_order=3),
    "fehlberg2": Claims(order=2, dense_order=2),
    "adaptive_heun": Claims(order=2, dense_order=2),
    "dopri8": Claims(order=8, dense_order=4),
    "euler": Claims(order=1, dense_order=1, adaptive=False),
    "midpoint": Claims(order=2, dense_order=2, adaptive=False),
    "heun2": Claims(order=2, dense_order=2, adaptive=False),
    "heun3": Claims(order=3, dense_order=2, adaptive=False),
    "rk4": Claims(order=4, dense_order=2, adaptive=False),
    "explicit_adams": Claims(order=4, dense_order=2, adaptive=False),
    "implicit_adams": Claims(order=5, dense_order=2, adaptive=False, implicit=True),
}

# torchode 1.0.1: Dopri5 and Tsit5 with their own order-4 continuous extensions.
_TORCHODE = {
    "dopri5": Claims(order=5, dense_order=4),
    "tsit5": Claims(order=5, dense_order=4),
}

# scipy.integrate.solve_ivp methods (through torchdiffeq's scipy_solver): no gradients.
_SCIPY = {
    "RK23": Claims(order=3, dense_order=3, gradients="none", t_grad=False),
    "RK45": Claims(order=5, dense_order=4, gradients="none", t_grad=False),
    "DOP853": Claims(order=8, dense_order=7, gradients="none", t_grad=False),
    "Radau": Claims(order=5, dense_order=3, gradients="none", t_grad=False, stiff=True),
    "BDF": Claims(order=None, dense_order=None, gradients="none", t_grad=False, stiff=True),
    "LSODA": Claims(order=None, dense_order=None, gradients="none", t_grad=False, stiff=True),
}

# torchdyn 1.0.6 (numerics/solvers/ode.py: each solver's `order`; numerics/odeint.py): without an
# interpolator (the default, and tsit5 has none) the adaptive loop shortens a step onto every
# t_span point, so outputs are step ends (dense order = order); the fixed-step solvers step on
# the t_span grid, which the adapter builds to contain every output time. Reverse time by
# f(t, x) -> -f(-t, x) on -t_span (odeint's "reversed time domain"), any state shape (the RMS
# norm is over the whole tensor). The interpolated adjoint's backward returns no gradient for
# t_span (sensitivity._gather_odefunc_interp_adjoint: None), so it claims no t-gradients.
_TORCHDYN = {
    "dopri5": Claims(order=5, dense_order=5),
    "tsit5": Claims(order=5, dense_order=5),
    "rk4": Claims(order=4, dense_order=4, adaptive=False),
    "euler": Claims(order=1, dense_order=1, adaptive=False),
    "midpoint": Claims(order=2, dense_order=2, adaptive=False),
}

KNOWN_METHODS: dict[str, dict[str, Claims]] = {
    "reference": _reference_claims(),
    "torchdiffeq": _TORCHDIFFEQ,
    "torchode": _TORCHODE,
    "scipy": _SCIPY,
    "torchdyn": _TORCHDYN,
}
"""Default claims by family and method name. Implementations loaded by import path use the
union, reference names first, then torchdiffeq's, torchode's, scipy's and torchdyn's."""


def default_claims(family: str, method: str) -> Claims:
    """Claims for `method` of an implementation of `family` ("reference", "torchdiffeq",
    "torchode", "scipy", or "custom" for one loaded by import path)."""
    tables = [KNOWN_METHODS[family]] if family in KNOWN_METHODS else list(KNOWN_METHODS.values())
    for table in tables:
        if method in table:
            return table[method]
    return Claims()
