"""Contrast probes: a few small solves through the implementation under test, each measuring one
contrast a diagnosis rule needs when the run's own checks do not contain it.

Every probe solves problems with closed-form solutions (float64), so its oracle is exact up to
rounding; gradient probes compare with the reference solver (backprop through the steps, float64)
at a tolerance far below the contrast they measure. A probe runs in a worker thread and is
abandoned after its time limit (a hanging implementation costs the limit, not the run); an
exception of the implementation is recorded, never raised. Each probe yields a `ProbeResult`
and a `CheckRecord` of suite ``"probe"`` (verdict ``fail`` where the measurement shows the
defect the probe looks for, ``pass`` where it does not, ``error``/``timeout`` where the
implementation raised or did not return).

The probe problems, an autonomous field and its time-dependent twin with the same structure:

    rotation:      y' = A y,          A = [[0, 1], [-1, 0]],  y = R(t) y0        (autonomous)
    rotation-t:    y' = cos(t) A y,                           y = R(sin t) y0    (depends on t)

with R(s) = expm(s A) the rotation by -s, y0 = (1, 0.5), t in [0, 2], output every 0.5.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from harness.results import CheckRecord, Verdict

__all__ = ["ProbeResult", "Prober", "PROBE_SUITE"]

PROBE_SUITE = "probe"
_T1 = 2.0
_N_OUT = 5            # outputs at t = 0, 0.5, 1, 1.5, 2
_Y0 = (1.0, 0.5)
# A probe of a few solves takes well under a second on the reference; 20 s allows a slow
# implementation (or a slow machine) 20-50x that and still bounds a hang.
PROBE_TIMEOUT_S = 20.0
# tolerance_sweep: a work order -dlog(err)/dlog(NFE) below this fraction of the claimed order is a
# defect (the reference dopri5 measures ~5 of 5 here; pre-asymptotic scatter stays well above 0.6 p)
WORK_ORDER_FRACTION = 0.6


class _Rotation(nn.Module):
    """y' = s(t) A y with s = 1 (autonomous) or cos t; `theta` scales the field (a parameter for
    gradient probes: the exact solution at theta = 1 is the rotation by S(t) = t or sin t)."""

    def __init__(self, time_dependent: bool, counter: list[int] | None = None) -> None:
        super().__init__()
        self.time_dependent = time_dependent
        self.theta = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
        self.counter = counter if counter is not None else [0]

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.counter[0] += 1
        s = torch.cos(torch.as_tensor(t, dtype=y.dtype)) if self.time_dependent else 1.0
        return self.theta * s * torch.stack([y[..., 1], -y[..., 0]], dim=-1)


def _exact(time_dependent: bool, t: torch.Tensor) -> torch.Tensor:
    s = torch.sin(t) if time_dependent else t
    c, n = torch.cos(s), torch.sin(s)
    y1, y2 = _Y0
    return torch.stack([c * y1 + n * y2, -n * y1 + c * y2], dim=-1)


def _times(reverse: bool = False) -> torch.Tensor:
    t = torch.linspace(0.0, _T1, _N_OUT, dtype=torch.float64)
    return t.flip(0) if reverse else t


def _max_err(ys: torch.Tensor, exact: torch.Tensor) -> float:
    return float((ys.detach().to(torch.float64) - exact).abs().max())


@dataclass(frozen=True)
class ProbeResult:
    name: str
    values: dict[str, Any]
    verdict: Verdict
    record: CheckRecord
    message: str = ""

    @property
    def ran(self) -> bool:
        return self.verdict in (Verdict.PASS, Verdict.FAIL)

    @property
    def shows_defect(self) -> bool:
        return self.verdict == Verdict.FAIL

    @property
    def check_id(self) -> str:
        return self.record.check_id


@dataclass
class Prober:
    """Runs probes through one implementation's `odeint` for one method, within a time budget
    (`left()` says how many seconds remain). Results are cached by probe name."""

    iut: str
    method: str
    odeint: Callable[..., Any] | None
    claims: dict[str, Any]
    left: Callable[[], float]
    results: dict[str, ProbeResult] = field(default_factory=dict)

    # ---------------------------------------------------------------- plumbing
    @property
    def adaptive(self) -> bool:
        return bool(self.claims.get("adaptive", True))

    @property
    def order(self) -> float:
        return float(self.claims.get("order") or 1)

    def _solve(self, func: nn.Module, y0: torch.Tensor, t: torch.Tensor, *, tol: float = 1e-9,
               h: float | None = None) -> torch.Tensor:
        assert self.odeint is not None
        options = {"step_size": h} if h is not None else None
        if not self.adaptive and options is None:
            options = {"step_size": 1.0 / 64}
        return self.odeint(func, y0, t, rtol=tol, atol=tol, method=self.method, options=options)

    def run(self, name: str, body: Callable[[], tuple[dict[str, Any], bool, str]], *,
            problem: str = "") -> ProbeResult | None:
        """Run probe `name` once (`body` returns (measured values, defect shown, message)).
        None when there is no implementation to probe or no time left for it."""
        if name in self.results:
            return self.results[name]
        if self.odeint is None:
            return None
        limit = min(PROBE_TIMEOUT_S, self.left())
        if limit < 1.0:
            return None
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["out"] = body()
            except BaseException as exc:  # noqa: BLE001 - the IUT's exception is a measurement
                box["exc"] = exc

        start = time.monotonic()
        th = threading.Thread(target=work, name=f"probe-{name}", daemon=True)
        th.start()
        th.join(limit)
        duration = time.monotonic() - start
        values: dict[str, Any] = {}
        if th.is_alive():
            verdict, message = Verdict.TIMEOUT, f"probe {name} did not return within {limit:.0f} s"
        elif "exc" in box:
            exc = box["exc"]
            verdict, message = Verdict.ERROR, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            values, defect, message = box["out"]
            verdict = Verdict.FAIL if defect else Verdict.PASS
        rec = CheckRecord(check_id=f"probe.{name}[{self.iut}-{self.method}]", suite=PROBE_SUITE, check=name,
                          iut=self.iut, method=self.method, problem=problem, dtype="float64", device="cpu",
                          verdict=verdict, measured=dict(values), message=message, seed=0,
                          duration_s=duration, extra={"claims": dict(self.claims)})
        res = ProbeResult(name, values, verdict, rec, message)
        self.results[name] = res
        return res

    # ---------------------------------------------------------------- forward probes
    def fixed_order(self, time_dependent: bool) -> ProbeResult | None:
        """Observed order at step ends with h dividing every output interval (h = 1/8, 1/16,
        1/32), on the autonomous rotation or its time-dependent twin. Defect: the order is more
        than 0.5 below the claim (the checks allow 0.2 from the asymptotic slope; 0.5 leaves
        room for the coarser step sizes used here, which keep every error above 1e-11, far
        above the float64 round-off of ~1e-15 per step)."""
        name = "fixed_order_" + ("time_dependent" if time_dependent else "autonomous")

        def body():
            t = _times()
            ex = _exact(time_dependent, t)
            hs, errs = [], []
            for n in (8, 16, 32):
                ys = self._solve(_Rotation(time_dependent), torch.tensor(_Y0, dtype=torch.float64), t, h=1.0 / n)
                hs.append(1.0 / n)
                errs.append(_max_err(ys, ex))
            use = [(h, e) for h, e in zip(hs, errs) if e > 1e-11]
            order = (math.log(use[0][1] / use[-1][1]) / math.log(use[0][0] / use[-1][0])
                     if len(use) >= 2 else float(self.order))
            vals = {"h": hs, "errors": errs, "observed_order": order, "claimed_order": self.order}
            return vals, order < self.order - 0.5, f"observed order {order:.2f}, claimed {self.order:g}"
        return self.run(name, body, problem="rotation-t" if time_dependent else "rotation")

    def partial_last_step(self) -> ProbeResult | None:
        """Error at the outputs with h = 1/16 (divides every interval of length 1/2) against
        h = 1/15.5 (does not: each interval ends with a step of 3/4 h). The two step sizes differ
        by 3%, so a correct method's errors differ by a factor (16/15.5)^p ~ 1.1 (p = 4), at most
        a few with the shortened step; a ratio over 10 is the last step mishandled."""
        def body():
            t = _times()
            ex = _exact(False, t)
            e_div = _max_err(self._solve(_Rotation(False), torch.tensor(_Y0, dtype=torch.float64), t, h=1 / 16), ex)
            e_not = _max_err(self._solve(_Rotation(False), torch.tensor(_Y0, dtype=torch.float64), t, h=1 / 15.5), ex)
            ratio = e_not / max(e_div, 1e-300)
            vals = {"error_h_divides": e_div, "error_h_does_not_divide": e_not, "ratio": ratio}
            return vals, ratio > 10.0, f"error {e_not:.3g} with h not dividing the interval, {e_div:.3g} with h dividing it"
        return self.run("partial_last_step", body, problem="rotation")

    def tolerance_sweep(self, time_dependent: bool) -> ProbeResult | None:
        """Adaptive solves over [0, 2] at rtol = atol = 1e-5, 1e-7, 1e-9: NFE and the error at t1,
        a step end (only t0 and t1 are asked, so no value is interpolated: a dense-output defect
        does not show here, see rule_dense).
        Measures (i) the NFE ratio between the tightest and the loosest tolerance: error control
        of an order-p method takes h ~ tol^(1/(p+1)), so NFE grows by 100^(1/(p+1)) >= 2.1 for
        p <= 5 (3.2 for p = 3) per two decades; under 1.5 the steps do not respond to the
        tolerance; (ii) the work order -dlog(err)/dlog(NFE), p for a method of order p (error
        h^p, NFE ~ 1/h); defect: below 0.6 p (pre-asymptotic scatter on this smooth problem is
        well under that: the reference dopri5 measures about 5)."""
        name = "tolerance_sweep_" + ("time_dependent" if time_dependent else "autonomous")

        def body():
            t = torch.tensor([0.0, _T1], dtype=torch.float64)
            ex = _exact(time_dependent, t)
            tols, nfes, errs = (1e-5, 1e-7, 1e-9), [], []
            for tol in tols:
                counter = [0]
                ys = self._solve(_Rotation(time_dependent, counter), torch.tensor(_Y0, dtype=torch.float64), t, tol=tol)
                nfes.append(counter[0])
                errs.append(_max_err(ys, ex))
            nfe_ratio = nfes[-1] / max(nfes[0], 1)
            floor = 1e-13
            e0, e1 = max(errs[0], floor), max(errs[-1], floor)
            work_order = (math.log(e0 / e1) / math.log(nfes[-1] / nfes[0])
                          if nfes[-1] > nfes[0] else 0.0)
            tol_exponent = math.log(e0 / e1) / math.log(tols[0] / tols[-1])
            vals = {"tols": list(tols), "nfe": nfes, "errors": errs, "nfe_ratio": nfe_ratio,
                    "work_order": work_order, "tolerance_exponent": tol_exponent, "claimed_order": self.order}
            defect = nfe_ratio < 1.5 or work_order < WORK_ORDER_FRACTION * self.order
            return vals, defect, (f"NFE {nfes[0]} -> {nfes[-1]}, error {errs[0]:.3g} -> {errs[-1]:.3g} "
                                  f"for tol 1e-5 -> 1e-9 (work order {work_order:.2f})")
        return self.run(name, body, problem="rotation-t" if time_dependent else "rotation")

    def steps_past_last_output(self) -> ProbeResult | None:
        """Does the solver step past the last output time and read it off its interpolant? One
        solve of the rotation with t = (0, 2) only (rtol = atol = 1e-8, or the fixed step), the
        times at which f is evaluated logged. A solver that lands on t1 never evaluates f past
        it; one that steps past evaluates f a fraction of a step beyond (at 1e-8 a step is ~0.05
        to 0.5 of this span for orders 3 to 8, so the overshoot is > 1e-3 of the span). Defect:
        the largest time past t1 by more than 1e-6 of the span (8 float32 eps: a float32-rounded
        t1 is not an overshoot)."""
        def body():
            seen: list[float] = []

            class _Logged(_Rotation):
                def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                    seen.append(float(torch.as_tensor(t).detach().reshape(-1)[0]))
                    return super().forward(t, y)

            t = torch.tensor([0.0, _T1], dtype=torch.float64)
            self._solve(_Logged(False), torch.tensor(_Y0, dtype=torch.float64), t, tol=1e-8)
            t_max = max(seen) if seen else _T1
            past = (t_max - _T1) / _T1
            return ({"t1": _T1, "largest_t_evaluated": t_max, "past_over_span": past, "evaluations": len(seen)},
                    past > 1e-6, f"f evaluated up to t = {t_max:.6g} for t = (0, {_T1:g})")
        return self.run("steps_past_last_output", body, problem="rotation")

    def zero_field_precision(self, *, grad_mode: str) -> ProbeResult | None:
        """f = 0 from y0 whose elements need float64 (1/3, pi x 1e-7, 2.5e7 + 1/7): the exact
        solution is y0, a correct solver returns it to a few ulps (relative change <= ~1e-15).
        Defect: a relative change above 1e-10, i.e. 1e5 float64 ulps and within a factor 600 of
        float32 rounding (6e-8): precision below float64. grad_mode: "grad" (y0 requires grad)
        or "no_grad" (torch.no_grad)."""
        def body():
            y0 = torch.tensor([1 / 3, math.pi * 1e-7, 2.5e7 + 1 / 7], dtype=torch.float64)
            t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
            zero = _Zero()
            if grad_mode == "grad":
                y0r = y0.clone().requires_grad_(True)
                ys = self._solve(zero, y0r, t, tol=1e-9)
            else:
                with torch.no_grad():
                    ys = self._solve(zero, y0.clone(), t, tol=1e-9)
            rel = float(((ys.detach().to(torch.float64) - y0).abs() / y0.abs()).max())
            return ({"max_relative_change": rel, "float64_eps": 2.220446049250313e-16,
                     "float32_eps": 1.1920928955078125e-07}, rel > 1e-10,
                    f"a zero field changed y by {rel:.3g} relative ({grad_mode})")
        return self.run(f"zero_field_precision_{grad_mode}", body, problem="zero-field")

    def nonfinite_scan(self) -> ProbeResult | None:
        """Well-posed inputs of both signs: the rotation from y0 and -y0, f = 0 from a y0 with
        negative elements, and t of one point from such a y0. Every exact solution is finite and
        of size <= |y0|, so any NaN or inf in an output is the implementation's. Defect: a
        non-finite output in some case (the names of those cases are measured)."""
        def body():
            y0 = torch.tensor([-0.75, 0.25, -2.0], dtype=torch.float64)
            t3 = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
            cases = {
                "rotation": lambda: self._solve(_Rotation(False), torch.tensor(_Y0, dtype=torch.float64), _times()),
                "rotation_negative_y0": lambda: self._solve(_Rotation(False), -torch.tensor(_Y0, dtype=torch.float64),
                                                            _times()),
                "zero_field": lambda: self._solve(_Zero(), y0.clone(), t3, tol=1e-6),
                "one_point": lambda: self._solve(_Zero(), y0.clone(), torch.tensor([0.25], dtype=torch.float64)),
            }
            bad = []
            for name, run in cases.items():
                ys = run()
                if not bool(torch.isfinite(ys.detach()).all()):
                    bad.append(name)
            return ({"nonfinite_cases": bad, "cases": list(cases)}, bool(bad),
                    ("non-finite output in " + ", ".join(bad)) if bad else "every output finite")
        return self.run("nonfinite_scan", body, problem="rotation, zero-field")

    def output_contract(self) -> ProbeResult | None:
        """The output's shape and dtype in each grad mode (default, torch.no_grad,
        torch.inference_mode), for y0 of shape (1, 3) (a batch of one) and t of two points:
        expected (2, 1, 3), float64. Defect: another shape or dtype in some mode (those modes
        are measured)."""
        def body():
            y0 = torch.tensor([[1 / 3, -0.5, 2.0]], dtype=torch.float64)
            t = torch.tensor([0.0, 0.5], dtype=torch.float64)
            bad, vals = [], {}
            for mode in ("grad", "no_grad", "inference_mode"):
                if mode == "grad":
                    ys = self._solve(_Zero(), y0.clone(), t, tol=1e-6)
                elif mode == "no_grad":
                    with torch.no_grad():
                        ys = self._solve(_Zero(), y0.clone(), t, tol=1e-6)
                else:
                    with torch.inference_mode():
                        ys = self._solve(_Zero(), y0.clone(), t.clone(), tol=1e-6)
                vals[f"{mode}_shape"] = list(ys.shape)
                vals[f"{mode}_dtype"] = str(ys.dtype).removeprefix("torch.")
                if list(ys.shape) != [2, 1, 3] or ys.dtype != torch.float64:
                    bad.append(mode)
            vals["broken_modes"] = bad
            return vals, bool(bad), ("shape/dtype broken in " + ", ".join(bad)) if bad else "shape and dtype kept"
        return self.run("output_contract", body, problem="zero-field")

    def repeat_exact(self) -> ProbeResult | None:
        """The exact cases twice each (t of one point: y0; f = 0 over [0, 0.5, 1]: y0 at every
        output), in the default grad mode and under torch.inference_mode(). Measures whether the
        two calls differ from each other (nondeterminism) and whether they differ from y0.
        Defect: two identical calls differ (bitwise)."""
        def body():
            y0 = torch.tensor([1 / 3, math.pi * 1e-7, 2.5e7 + 1 / 7], dtype=torch.float64)
            cases = {"one_point": torch.tensor([0.25], dtype=torch.float64),
                     "zero_field": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)}
            vals: dict[str, Any] = {}
            differ = False
            for mode in ("grad", "inference_mode"):
                for name, t in cases.items():
                    outs = []
                    for _ in range(2):
                        if mode == "inference_mode":
                            with torch.inference_mode():
                                ys = self._solve(_Zero(), y0.clone(), t.clone(), tol=1e-9)
                            ys = ys.clone()
                        else:
                            ys = self._solve(_Zero(), y0.clone(), t, tol=1e-9)
                        outs.append(ys.detach().to(torch.float64).reshape(-1))
                    same_shape = outs[0].shape == outs[1].shape
                    d = float((outs[0] - outs[1]).abs().max()) if same_shape else math.inf
                    vals[f"{name}_{mode}_calls_differ_by"] = d
                    differ = differ or d != 0.0
            return vals, differ, "two identical calls differ" if differ else "two identical calls agree bitwise"
        return self.run("repeat_exact", body, problem="zero-field")

    def reverse_time(self) -> ProbeResult | None:
        """Error forward (0 -> 2) against backward (2 -> 0, from the exact y(2)) on the rotation,
        at the same tolerance or step: the same problem, so the errors agree within a small factor;
        defect: backward over 100x forward and over 1e-6."""
        def body():
            t = _times()
            ex = _exact(False, t)
            e_f = _max_err(self._solve(_Rotation(False), torch.tensor(_Y0, dtype=torch.float64), t), ex)
            tr = _times(reverse=True)
            exr = _exact(False, tr)
            e_b = _max_err(self._solve(_Rotation(False), exr[0].clone(), tr), exr)
            return ({"error_forward": e_f, "error_reverse": e_b}, e_b > 100 * e_f and e_b > 1e-6,
                    f"error backward {e_b:.3g}, forward {e_f:.3g}")
        return self.run("reverse_time", body, problem="rotation")

    # ---------------------------------------------------------------- gradient probes
    def gradients(self, time_dependent: bool, *, last_only: bool = False) -> ProbeResult | None:
        """dL/dy0, dL/dtheta and dL/dt_i of L = sum_i w_i . y(t_i) (or the last output only),
        through the IUT and through the reference (backprop, the same method where the reference
        has it, else dopri5, at the same steps or tolerance; float64). For each gradient g
        against the oracle g*: the relative error |g - g*| / |g*|, the projection
        alpha = <g, g*> / <g*, g*> and the residual |g - alpha g*| / |g*|. Defect: a relative
        error above 1e-4 (at rtol = atol = 1e-10 an adjoint's gradient is within ~1e-7 of
        backprop's; fixed steps of 1/64 agree with backprop through the same steps to
        ~1e-8 for p >= 2)."""
        name = "gradients_" + ("time_dependent" if time_dependent else "autonomous") + ("_last_only" if last_only else "")

        def body():
            import reference
            vals: dict[str, Any] = {}
            grads, outs = {}, {}
            for who in ("iut", "oracle"):
                func = _Rotation(time_dependent)
                y0 = torch.tensor(_Y0, dtype=torch.float64, requires_grad=True)
                t = _times().clone().requires_grad_(bool(self.claims.get("t_grad", True)))
                w = torch.tensor([[0.3, -0.7], [1.1, 0.4], [-0.5, 0.9], [0.8, 0.2], [0.6, -1.2]], dtype=torch.float64)
                if last_only:
                    w = torch.zeros_like(w).index_fill_(0, torch.tensor([_N_OUT - 1]), 1.0) * w
                h = None if self.adaptive else 1.0 / 64
                if who == "iut":
                    ys = self._solve(func, y0, t, tol=1e-10, h=h)
                else:
                    meth = self.method if self.method in reference.TABLEAUS else "dopri5"
                    opts = {"step_size": h} if h is not None and meth == self.method else None
                    if opts is None:
                        meth = "dopri5"
                    ys = reference.odeint(func, y0, t, rtol=1e-11, atol=1e-11, method=meth, options=opts)
                outs[who] = ys.detach().to(torch.float64)
                loss = (ys * w).sum()
                inputs = [y0, func.theta] + ([t] if t.requires_grad else [])
                g = torch.autograd.grad(loss, inputs, allow_unused=True)
                grads[who] = dict(zip(("y0", "params", "t"), g))
            worst = 0.0
            vals["forward_relative_error"] = float((outs["iut"] - outs["oracle"]).abs().max()
                                                   / outs["oracle"].abs().max())
            for k, go in grads["oracle"].items():
                gi = grads["iut"].get(k)
                if go is None:
                    continue
                go = go.detach().reshape(-1)
                if gi is None:
                    vals[f"{k}_missing"] = True
                    vals[f"{k}_relative_error"] = 1.0
                    worst = max(worst, 1.0)
                    continue
                gi = gi.detach().reshape(-1).to(torch.float64)
                nrm = float(go.norm())
                rel = float((gi - go).norm()) / max(nrm, 1e-300)
                alpha = float(gi @ go) / max(float(go @ go), 1e-300)
                resid = float((gi - alpha * go).norm()) / max(nrm, 1e-300)
                vals[f"{k}_relative_error"] = rel
                vals[f"{k}_alpha"] = alpha
                vals[f"{k}_residual"] = resid
                vals[f"{k}_zero"] = bool(float(gi.norm()) == 0.0)
                # entries exactly 0 where the true gradient is not (a cut path to one t_i, say)
                vals[f"{k}_zero_entries"] = int(((gi == 0) & (go.abs() > 1e-8 * max(nrm, 1e-300))).sum())
                worst = max(worst, rel)
            vals["worst_relative_error"] = worst
            return vals, worst > 1e-4, f"largest relative gradient error {worst:.3g}"
        return self.run(name, body, problem="rotation-t" if time_dependent else "rotation")


class _Zero(nn.Module):
    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(y)
