#!/usr/bin/env python3
"""Reproducer: scipy RK45: t of one point does not return y0 (inputs_without_grad) [test_without_grad_one_time_point_returns_y0]

check:           properties.test_without_grad_one_time_point_returns_y0[inputs_without_grad-scipy-RK45]
implementation:  scipy   method: RK45
verdict:         fail
                 elements_differing_from_y0 = 4 exceeds 0 (exact: no step is taken)

Run:  python scipy_RK45_one_time_point.py [--impl module:callable]   (or set $ODE_REPRO_IMPL)
      e.g. --impl reference:odeint to see a correct solver pass.
Exit status: 1 while the defect is present, 0 once fixed, 2 on bad usage.
Needs torch and the implementation under test only (written by ode-harness 0.1.0; it does not
need ode-harness to run). The implementation is called like torchdiffeq's
odeint(func, y0, t, rtol=, atol=, method=, options=).
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import importlib
import math
import os
import signal
import sys
import traceback

import torch

DEFAULT_IMPL = '__main__:scipy_odeint'
IMPL_KWARGS = {}  # bound to DEFAULT_IMPL only
METHOD = 'RK45'
TIMEOUT_S = 120  # a call that does not return by then is a defect (hang)


# ---------------------------------------------------------------------------- the problem

from torch import nn


class Spec:
    """The drawn field's numbers (suites/test_properties.py FieldSpec)."""

    A = [[-1.0, 0.5], [-0.5, -1.0]]
    B = [[1.0, 0.0], [0.0, 1.0]]
    c = 0.5
    d = [0.0, 0.0]
    linear = False


class DrawnField(nn.Module):
    """The torch side of a FieldSpec; `rate` broadcasts over the batch axes ((*batch, 1) or ())."""

    def __init__(self, spec: FieldSpec, dtype: torch.dtype = torch.float64, rate: Any = 1.0):
        super().__init__()
        self.A = nn.Parameter(torch.tensor(spec.A, dtype=dtype))
        self.B = nn.Parameter(torch.tensor(spec.B, dtype=dtype))
        self.c = nn.Parameter(torch.tensor(spec.c, dtype=dtype))
        self.d = nn.Parameter(torch.tensor(spec.d, dtype=dtype))
        self.register_buffer("rate", torch.as_tensor(rate, dtype=dtype))
        self.nonlinear = not spec.linear

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = y @ self.A.T + t * self.d
        if self.nonlinear:
            out = out + self.c * torch.tanh(y @ self.B.T)
        return self.rate * out


class Field(DrawnField):
    def __init__(self, dtype=torch.float64, device='cpu', rate=1.0):
        super().__init__(Spec, dtype, rate)


# ------------------------------------------------------------ the implementation's adapter

def scipy_odeint(func: Callable, y0: torch.Tensor, t: torch.Tensor, *, rtol: float = 1e-7,
                 atol: float = 1e-9, method: str = "RK45", options: dict | None = None) -> torch.Tensor:
    """scipy.integrate.solve_ivp through torchdiffeq's `scipy_solver` (no gradients); `method`
    is scipy's method name."""
    import warnings

    import torchdiffeq

    opts = dict(options or {})
    opts["solver"] = method
    with warnings.catch_warnings():
        # torchdiffeq 0.2.5 always passes min_step, which scipy's RK methods ignore with a warning.
        warnings.filterwarnings("ignore", message="The following arguments have no effect")
        return torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol, method="scipy_solver", options=opts)


# ------------------------------------------------------------------------- inputs, expected

IMPL_ENV = 'ODE_REPRO_IMPL'
PROBLEM = 't = [t0]'
DTYPE = torch.float64
GRAD_MODE = 'inputs_without_grad'  # autograd | inputs_without_grad | no_grad | inference_mode
RTOL = 1e-05
ATOL = 1e-05
OPTIONS = None
Y0 = [[0.7, -0.4]]
T = [-1.155815100160448]
# a batch of one: an output that loses an axis of length 1 shows
EXPECTED = None
# threshold: exact: no step is taken; shape (1, *y0.shape), y0's dtype
THRESHOLD = 0.0


def reproduce(odeint):
    field = Field()
    if GRAD_MODE == "inputs_without_grad":
        field.requires_grad_(False)
    ys, y0, t, bad = solve(odeint, field, context=property_context())
    if bad:
        return False, bad
    show("y0", y0)
    show("got", ys[0])
    n = int((ys[0] != y0).sum())
    return n == 0, "t of one point returns y0 exactly" if n == 0 else f"{n} element(s) differ from y0"



# ---------------------------------------------------------------------------- running it
class Timeout(BaseException):
    pass


def load_impl(spec):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        print(f"error: --impl expects 'module:callable', got {spec!r}", file=sys.stderr)
        sys.exit(2)
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001
        print(f"error: cannot load {spec!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    return functools.partial(obj, **IMPL_KWARGS) if spec == DEFAULT_IMPL and IMPL_KWARGS else obj


def call(odeint, func, y0, t):
    return odeint(func, y0, t, rtol=RTOL, atol=ATOL, method=METHOD, options=OPTIONS)


class Counting(torch.nn.Module):
    """Wraps the field (as a submodule, so adjoints see its parameters) and records every t."""

    def __init__(self, func):
        super().__init__()
        self.func = func
        self.times = []

    def forward(self, t, y):
        self.times.append(float(t))
        return self.func(t, y)


def solve(odeint, field, dtype=torch.float64, context=None):
    """One call on Y0, T; returns (ys, y0, t, what is wrong with the output or None)."""
    y0 = torch.tensor(Y0, dtype=dtype)
    t = torch.tensor(T, dtype=dtype)
    with context if context is not None else torch.no_grad():
        ys = call(odeint, field, y0, t)
    return ys, y0, t, contract_problem(ys, y0, t)


def property_context():
    """The property suites solve under torch.no_grad(); the without-grad variants in GRAD_MODE."""
    return torch.no_grad() if GRAD_MODE == "autograd" else grad_context()


def grad_context():
    if GRAD_MODE == "no_grad":
        return torch.no_grad()
    if GRAD_MODE == "inference_mode":
        return torch.inference_mode()
    return torch.enable_grad()


def contract_problem(ys, y0, t, finite=True):
    """What is wrong with the output's type, shape, dtype, or (`finite`) its finiteness for a
    finite input (None when nothing)."""
    if not isinstance(ys, torch.Tensor):
        return f"expected a torch.Tensor, got {type(ys).__name__}"
    want = (len(t), *y0.shape)
    bad = []
    if tuple(ys.shape) != want:
        bad.append(f"shape expected {want} = (len(t), *y0.shape), got {tuple(ys.shape)}")
    if ys.dtype != y0.dtype:
        bad.append(f"dtype expected {y0.dtype} (y0's), got {ys.dtype}")
    if not bad and finite and not bool(torch.isfinite(ys.detach()).all()):
        bad_at = (~torch.isfinite(ys.detach())).nonzero()[0].tolist()
        bad.append(f"non-finite output ys{bad_at} = {ys.detach()[tuple(bad_at)].item()} for finite y0 and t")
    return "; ".join(bad) or None


def show(label, values, limit=8):
    flat = [float(v) for v in torch.as_tensor(values, dtype=torch.float64).reshape(-1)]
    more = f" ... ({len(flat)} values)" if len(flat) > limit else ""
    print(f"  {label:<9}" + " ".join(f"{v: .17g}" for v in flat[:limit]) + more)


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--impl", default=os.environ.get(IMPL_ENV) or DEFAULT_IMPL,
                        help=f"implementation under test, module:callable (default {DEFAULT_IMPL}; env {IMPL_ENV})")
    args = parser.parse_args()
    odeint = load_impl(args.impl)
    print(f"implementation: {args.impl}   method: {METHOD}")

    def on_alarm(signum, frame):
        raise Timeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT_S)
    faulthandler.dump_traceback_later(TIMEOUT_S + 30, exit=True)  # a hang inside C code: hard stop, status 1
    try:
        ok, summary = reproduce(odeint)
    except Timeout:
        print(f"DEFECT: the call did not return within {TIMEOUT_S} s")
        return 1
    except Exception:  # noqa: BLE001 - the implementation raising is the defect
        traceback.print_exc()
        print("DEFECT: the implementation raised on this valid input (traceback above)")
        return 1
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()
    print(("OK: " if ok else "DEFECT: ") + summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
