"""The mutant catalog: seeded-bug implementations that prove the checks can fail.

Each mutant is a small, named and documented change to a correct base (the reference solvers or
the reference adjoint) and meets the implementation contract, so it can be run like any IUT:

    pytest suites/ --ode-impl harness.mutants:euler_as_midpoint
    ode-harness check harness.mutants:euler_as_midpoint

Every mutant carries `ode_harness_methods` (the method it corrupts) and, for adjoint bases,
`ode_harness_adjoint`. `MUTANTS` lists them with the checks that must catch them;
tests/test_mutants.py runs those checks and asserts that each mutant is caught, and the README
lists the same table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator
from unittest import mock

import torch

import reference
from reference import adjoint as _adjoint
from reference import integrate as _integrate
from reference.tableau import ButcherTableau, DenseOutput
from reference.tableaus import TABLEAUS

F = Fraction


# --------------------------------------------------------------------------- helpers
def _with_tableau(name: str, **changes) -> ButcherTableau:
    """The reference tableau `name` with some data replaced; consistency checks relaxed so that a
    corrupted tableau can be built (the point of a mutant)."""
    base = TABLEAUS[name]
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.init}
    fields.update(changes)
    fields["coefficient_tolerance"] = F(1)
    return ButcherTableau(**fields)


@contextlib.contextmanager
def _tableau_swapped(tab: ButcherTableau) -> Iterator[None]:
    with mock.patch.dict(TABLEAUS, {tab.name: tab}):
        yield


def _mutant(method: str, *, adjoint: bool = False) -> Callable[[Callable], Callable]:
    def mark(fn: Callable) -> Callable:
        fn.ode_harness_methods = (method,)
        fn.ode_harness_adjoint = adjoint
        return fn
    return mark


def _solve(func, y0, t, rtol, atol, method, options):
    return reference.odeint(func, y0, t, rtol=rtol, atol=atol, method=method, options=options)


def _adjoint_solve(func, y0, t, rtol, atol, method, options, **kw):
    return reference.odeint_adjoint(func, y0, t, rtol=rtol, atol=atol, method=method, options=options, **kw)


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the incoming gradient times `factor` backward."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.factor, None


# --------------------------------------------------------------------------- tableau mutants
_RK4_WRONG_B = _with_tableau("rk4", b=(F(1, 6), F(1, 6), F(1, 2), F(1, 6)))
_MIDPOINT_AS_EULER = _with_tableau("midpoint", b=(F(1), F(0)))
_DOPRI5_A = [list(r) for r in TABLEAUS["dopri5"].a]
_DOPRI5_A[4][2] += F(1, 1000)  # a_53 + 1e-3, a_51 - 1e-3: row sum (= c_5) kept
_DOPRI5_A[4][0] -= F(1, 1000)
_DOPRI5_PERTURBED = _with_tableau("dopri5", a=tuple(tuple(r) for r in _DOPRI5_A))
_DOPRI5_NO_ERROR = _with_tableau("dopri5", b_hat=TABLEAUS["dopri5"].b)
_P = [list(r) for r in TABLEAUS["dopri5"].dense.P]
_P[0][1] += F(1, 20)   # b_1(theta) += 0.05 theta^2 (1 - theta); b_3(theta) -= the same:
_P[0][2] -= F(1, 20)   # b_i(1) and sum_i b_i(theta) are unchanged, the interpolant is not
_P[2][1] -= F(1, 20)
_P[2][2] += F(1, 20)
_DOPRI5_WRONG_DENSE = _with_tableau("dopri5", dense=dataclasses.replace(
    TABLEAUS["dopri5"].dense, P=tuple(tuple(r) for r in _P)))


@_mutant("rk4")
def wrong_weight_rk4(func, y0, t, *, rtol=1e-7, atol=1e-9, method="rk4", options=None):
    """rk4 with weights (1/6, 1/6, 1/2, 1/6) instead of (1/6, 1/3, 1/3, 1/6): consistent, but of
    order 2 (sum b_i a_ij c_j = 5/24, not 1/6)."""
    with _tableau_swapped(_RK4_WRONG_B):
        return _solve(func, y0, t, rtol, atol, "rk4", options)


@_mutant("dopri5")
def perturbed_coefficient_dopri5(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """dopri5 with a_53 perturbed by 1e-3 (a_51 compensating, so the row still sums to c_5)."""
    with _tableau_swapped(_DOPRI5_PERTURBED):
        return _solve(func, y0, t, rtol, atol, "dopri5", options)


@_mutant("midpoint")
def euler_as_midpoint(func, y0, t, *, rtol=1e-7, atol=1e-9, method="midpoint", options=None):
    """'midpoint' that is really Euler: weights (1, 0) instead of (0, 1)."""
    with _tableau_swapped(_MIDPOINT_AS_EULER):
        return _solve(func, y0, t, rtol, atol, "midpoint", options)


@_mutant("dopri5")
def zero_error_estimate(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """dopri5 whose embedded weights equal its weights: the error estimate is always 0, so no
    step is rejected and the step size grows by max_factor every step."""
    with _tableau_swapped(_DOPRI5_NO_ERROR):
        return _solve(func, y0, t, rtol, atol, "dopri5", options)


@_mutant("dopri5")
def wrong_dense_output(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """dopri5 whose continuous extension is off by 0.05 theta^2 (1 - theta)(k1 - k3): exact at
    step ends, wrong in between."""
    with _tableau_swapped(_DOPRI5_WRONG_DENSE):
        return _solve(func, y0, t, rtol, atol, "dopri5", options)


# --------------------------------------------------------------------------- loop mutants
@_mutant("rk4")
def dropped_last_partial_step(func, y0, t, *, rtol=1e-7, atol=1e-9, method="rk4", options=None):
    """Fixed-step loop that takes only the whole steps of each interval and skips the shortened
    last one (floor instead of ceil)."""
    def fixed(f, stepper, y0_, times, T, opts, stats, traj):
        h_abs, ys, y = opts["step_size"], [y0_], y0_
        for i in range(1, len(times)):
            d = 1.0 if times[i] > times[i - 1] else -1.0
            n = int(abs(times[i] - times[i - 1]) // h_abs)
            for m in range(n):
                y = stepper.step(f, T(i - 1) + d * m * h_abs, y, d * h_abs).y_new
                stats.n_accepted += 1
            ys.append(y)
        return ys
    with mock.patch.object(_integrate, "_solve_fixed", fixed):
        return _solve(func, y0, t, rtol, atol, method, options)


@_mutant("dopri5")
def output_at_step_end(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Returns, for an output time inside a step, the state at the end of that step instead of
    the interpolated value."""
    with mock.patch.object(_integrate, "step_output", lambda stepper, f, step, rec, i, T: step.y_new):
        return _solve(func, y0, t, rtol, atol, method, options)


@_mutant("dopri5")
def reverse_time_ignored(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Integrates forward by |t - t0| even when t decreases."""
    t_fwd = t[0] + (t - t[0]).abs()
    return _solve(func, y0, t_fwd, rtol, atol, method, options)


@_mutant("dopri5")
def float32_internal(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Computes in float32 whatever the state's dtype, and casts the result back."""
    dtype = y0.dtype
    ys = _solve(lambda s, y: func(s.to(dtype), y.to(dtype)).to(torch.float32), y0.to(torch.float32),
                t.to(torch.float32), max(rtol, 1e-7), max(atol, 1e-9), method, options)
    return ys.to(dtype)


@_mutant("dopri5")
def norm_first_batch_element(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Error norm over the first batch element only: the other elements get no error control."""
    opts = dict(options or {})
    opts["norm"] = lambda x: x.reshape(x.shape[0], -1)[0].pow(2).mean().sqrt() if x.dim() > 1 else x.pow(2).mean().sqrt()
    return _solve(func, y0, t, rtol, atol, method, opts)


@_mutant("dopri5")
def tolerance_ignored(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Solves at rtol = atol = 1e-4 whatever was asked."""
    return _solve(func, y0, t, 1e-4, 1e-4, method, options)


@_mutant("dopri5")
def mutates_y0(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Correct output, but writes the final state into y0 in place."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    with torch.no_grad():
        y0.copy_(ys[-1])
    return ys


@_mutant("dopri5")
def nondeterministic(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Adds noise of 1e-12 relative (far below any accuracy check) to the result: two identical
    calls differ."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    return ys * (1 + 1e-12 * torch.randn_like(ys))


@_mutant("dopri5")
def silent_nan(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Returns NaN at the last output time whenever some component of y0 is negative."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    if bool((y0 < 0).any()):
        ys = torch.cat([ys[:-1], torch.full_like(ys[-1:], float("nan"))])
    return ys


@_mutant("dopri5")
def evaluates_outside_span(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Correct output, but probes f once beyond the last output time (as a solver that overshoots
    and interpolates would)."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    with torch.no_grad():
        func(t[-1] + (t[-1] - t[0]) * 0.5, y0)
    return ys


@_mutant("dopri5")
def hang(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Never returns (a Python-level infinite loop)."""
    while True:
        time.sleep(0.05)


# --------------------------------------------------------------------------- no-gradient mutants
# Each is correct whenever autograd is on and misbehaves only without it (y0 not requiring grad,
# torch.no_grad(), torch.inference_mode()): the path a Neural-ODE takes at inference, where an
# implementation may skip the graph and take shortcuts that autograd would refuse or expose.
def _autograd_off() -> bool:
    return not torch.is_grad_enabled()


@_mutant("dopri5")
def updates_y0_without_grad(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Correct output, but when y0 does not require grad it reuses y0's storage as its state
    buffer: the caller's y0 ends holding the final state. (With y0 requiring grad, autograd would
    refuse the in-place update of a leaf, so this path is taken only without gradients.)"""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    if not y0.requires_grad:
        y0.copy_(ys[-1])
    return ys


@_mutant("dopri5")
def nondeterministic_in_inference_mode(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Under torch.inference_mode() adds noise of 1e-12 relative (as a reduction in a thread-
    dependent order would) to the result: two identical calls differ; exact otherwise."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    if torch.is_inference_mode_enabled():
        ys = ys * (1 + 1e-12 * torch.randn_like(ys))
    return ys


@_mutant("dopri5")
def float32_output_without_autograd(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """With autograd off (torch.no_grad, torch.inference_mode) returns its output cast to float32
    (a 'fast inference path'), whatever y0's dtype."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    return ys.to(torch.float32) if _autograd_off() else ys


@_mutant("dopri5")
def squeezed_output_in_inference_mode(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Under torch.inference_mode() drops every axis of length 1 from the output (squeeze), so
    a batch of one, a state of one component or t of one point loses its axis."""
    ys = _solve(func, y0, t, rtol, atol, method, options)
    return ys.squeeze() if torch.is_inference_mode_enabled() else ys


@_mutant("dopri5")
def centred_state_without_autograd(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """With autograd off integrates the centred state z = y - m, m = mean(y0) (a conditioning
    shortcut), and returns z + m: accurate to eps |m|, but a constant solution y = y0 comes back
    as (y0 - m) + m, which loses the low bits of every element much smaller than m."""
    if not _autograd_off():
        return _solve(func, y0, t, rtol, atol, method, options)
    m = y0.mean()
    return _solve(lambda tt, z: func(tt, z + m), y0 - m, t, rtol, atol, method, options) + m


@_mutant("dopri5")
def one_point_steps_in_inference_mode(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Under torch.inference_mode() a t of one point is integrated over one default step
    (t0 to t0 + 0.01) and that state returned, instead of y0."""
    if torch.is_inference_mode_enabled() and len(t) == 1:
        return _solve(func, y0, torch.stack([t[0], t[0] + 0.01]), rtol, atol, method, options)[-1:]
    return _solve(func, y0, t, rtol, atol, method, options)


# --------------------------------------------------------------------------- gradient mutants
@_mutant("dopri5")
def gradients_scaled(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Correct solution; every gradient (y0, t, parameters) is 0.999 times the true one."""
    return _ScaleGrad.apply(_solve(func, y0, t, rtol, atol, method, options), 0.999)


@_mutant("dopri5")
def missing_y0_gradient(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Correct solution computed from a detached y0: no gradient reaches y0."""
    return _solve(func, y0.detach(), t, rtol, atol, method, options)


@_mutant("dopri5")
def t_gradient_sign_flipped(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Correct solution; the gradient with respect to t has the wrong sign."""
    return _solve(func, y0, _ScaleGrad.apply(t, -1.0), rtol, atol, method, options)


@contextlib.contextmanager
def _adjoint_backward_patched(make_patch: Callable[[], contextlib.AbstractContextManager]) -> Iterator[None]:
    """Run the reference adjoint so that its *backward* pass (which runs after the forward call
    has returned) executes under the patch `make_patch()`."""
    class Patched(_adjoint._OdeintAdjoint):
        @staticmethod
        def backward(ctx, grad_ys):
            with make_patch():
                return _adjoint._OdeintAdjoint.backward(ctx, grad_ys)

    with mock.patch.object(_adjoint, "_OdeintAdjoint", Patched):
        yield


def _backsolve_wrapped(transform_in: Callable = lambda g: g, transform_params: Callable = lambda p: p):
    real = _adjoint._backsolve_backward

    def backward(cfg, ys, grad_ys, need_t):
        adj_y, adj_p, adj_t, stats = real(cfg, ys, transform_in(grad_ys), need_t)
        return adj_y, transform_params(adj_p), adj_t, stats
    return lambda: mock.patch.object(_adjoint, "_backsolve_backward", backward)


@_mutant("dopri5", adjoint=True)
def adjoint_param_grad_sign(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Backsolve adjoint whose parameter gradient has the wrong sign (the integral of +a df/dtheta
    instead of -a df/dtheta)."""
    with _adjoint_backward_patched(_backsolve_wrapped(transform_params=lambda ps: [-g for g in ps])):
        return _adjoint_solve(func, y0, t, rtol, atol, method, options)


def _last_only(g: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(g)
    out[-1] = g[-1]
    return out


@_mutant("dopri5", adjoint=True)
def adjoint_ignores_intermediate_cotangents(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5",
                                            options=None):
    """Backsolve adjoint that uses only the cotangent of the last output time."""
    with _adjoint_backward_patched(_backsolve_wrapped(transform_in=_last_only)):
        return _adjoint_solve(func, y0, t, rtol, atol, method, options)


@_mutant("dopri5", adjoint=True)
def adjoint_wrong_time(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Backsolve adjoint whose backward dynamics evaluate f at t + 0.05 instead of t."""
    real_call = _adjoint._Augmented.__call__

    def shifted(self, s, aug):
        return real_call(self, s + 0.05, aug)
    with _adjoint_backward_patched(lambda: mock.patch.object(_adjoint._Augmented, "__call__", shifted)):
        return _adjoint_solve(func, y0, t, rtol, atol, method, options)


@_mutant("dopri5", adjoint=True)
def adjoint_crude_backward(func, y0, t, *, rtol=1e-7, atol=1e-9, method="dopri5", options=None):
    """Backsolve adjoint whose backward pass is 20 Euler steps per output interval."""
    h = float((t[1:] - t[:-1]).abs().min()) / 20 if len(t) > 1 else 1.0
    return _adjoint_solve(func, y0, t, rtol, atol, method, options, adjoint_method="euler",
                          adjoint_options={"step_size": h})


# --------------------------------------------------------------------------- the catalog
@dataclass(frozen=True)
class Mutant:
    name: str
    method: str
    caught_by: tuple[str, ...]   # suite checks ("suite_file::test_name") that must catch it

    @property
    def import_path(self) -> str:
        return f"harness.mutants:{self.name}"

    @property
    def fn(self) -> Callable:
        return globals()[self.name]

    @property
    def doc(self) -> str:
        return " ".join((self.fn.__doc__ or "").strip().split("\n\n")[0].split())


MUTANTS: tuple[Mutant, ...] = (
    Mutant("wrong_weight_rk4", "rk4", ("test_convergence_order.py::test_fixed_step_order",)),
    Mutant("perturbed_coefficient_dopri5", "dopri5", ("test_forward_accuracy.py::test_error_at_end",)),
    Mutant("euler_as_midpoint", "midpoint", ("test_convergence_order.py::test_fixed_step_order",
                                             "test_forward_accuracy.py::test_error_at_end")),
    Mutant("zero_error_estimate", "dopri5", ("test_forward_accuracy.py::test_error_at_end",
                                           "test_convergence_order.py::test_tolerance_proportionality_bound")),
    Mutant("wrong_dense_output", "dopri5", ("test_forward_accuracy.py::test_error_at_interior_times",
                                          "test_convergence_order.py::test_dense_output_order_adaptive")),
    Mutant("dropped_last_partial_step", "rk4", ("test_forward_accuracy.py::test_error_at_end",
                                                 "test_convergence_order.py::test_fixed_step_order")),
    Mutant("output_at_step_end", "dopri5", ("test_forward_accuracy.py::test_error_at_interior_times",
                                          "test_convergence_order.py::test_dense_output_order_adaptive")),
    Mutant("reverse_time_ignored", "dopri5", ("test_forward_accuracy.py::test_error_in_reverse_time",)),
    Mutant("float32_internal", "dopri5", ("test_forward_accuracy.py::test_error_at_end",)),
    Mutant("norm_first_batch_element", "dopri5", ("test_properties.py::test_batch_independence",)),
    Mutant("tolerance_ignored", "dopri5", ("test_forward_accuracy.py::test_error_at_end",
                                         "test_convergence_order.py::test_error_falls_with_tolerance")),
    Mutant("mutates_y0", "dopri5", ("test_properties.py::test_inputs_not_mutated",)),
    Mutant("nondeterministic", "dopri5", ("test_properties.py::test_deterministic",)),
    Mutant("silent_nan", "dopri5", ("test_properties.py::test_linear_systems_match_expm",)),
    Mutant("evaluates_outside_span", "dopri5", ("test_properties.py::test_field_evaluated_only_inside_span",)),
    Mutant("hang", "dopri5", ("timeout",)),
    Mutant("updates_y0_without_grad", "dopri5", ("test_properties.py::test_without_grad_inputs_not_mutated",)),
    Mutant("nondeterministic_in_inference_mode", "dopri5", ("test_properties.py::test_without_grad_deterministic",)),
    Mutant("float32_output_without_autograd", "dopri5",
           ("test_properties.py::test_without_grad_shapes_and_dtypes_kept",)),
    Mutant("squeezed_output_in_inference_mode", "dopri5",
           ("test_properties.py::test_without_grad_shapes_and_dtypes_kept",
            "test_properties.py::test_without_grad_one_time_point_returns_y0")),
    Mutant("centred_state_without_autograd", "dopri5",
           ("test_properties.py::test_without_grad_zero_field_keeps_y_constant",)),
    Mutant("one_point_steps_in_inference_mode", "dopri5",
           ("test_properties.py::test_without_grad_one_time_point_returns_y0",)),
    Mutant("gradients_scaled", "dopri5", ("test_gradients.py::test_grad_y0_vs_forward_sensitivity",)),
    Mutant("missing_y0_gradient", "dopri5", ("test_gradients.py::test_missing_gradient_is_failure",)),
    Mutant("t_gradient_sign_flipped", "dopri5", ("test_gradients.py::test_grad_t_vs_forward_sensitivity",)),
    Mutant("adjoint_param_grad_sign", "dopri5", ("test_gradients.py::test_grad_params_vs_forward_sensitivity",)),
    Mutant("adjoint_ignores_intermediate_cotangents", "dopri5",
           ("test_gradients.py::test_grad_y0_vs_forward_sensitivity",)),
    Mutant("adjoint_wrong_time", "dopri5", ("test_gradients.py::test_grad_params_vs_forward_sensitivity",)),
    Mutant("adjoint_crude_backward", "dopri5", ("test_gradients.py::test_grad_y0_vs_forward_sensitivity",
                                              "test_convergence_order.py::test_gradient_error_falls_with_tolerance")),
)
"""The catalog. `caught_by` names are provisional until the suites that define them exist; the
mutant tests fail loudly when a named check does not exist."""
