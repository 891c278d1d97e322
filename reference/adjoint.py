"""Reference adjoints: gradients of an ODE solve without backprop through the forward steps.

Two strategies, separate from the solvers (any method of `reference.TABLEAUS`, or a user's
`ButcherTableau`, works with both):

``backsolve``
    Chen, Rubanova, Bettencourt, Duvenaud, "Neural Ordinary Differential Equations", NeurIPS 2018,
    Algorithm 1. The augmented state [z, a, a_theta] is integrated backward from t_N with
    dz/dt = f, da/dt = -a^T df/dz, da_theta/dt = -a^T df/dtheta; z is reset to the stored forward
    value at every output time, where the cotangent of that output is added to a. Gradients with
    respect to the output times: dL/dt_i = g_i . f(t_i, y_i) for i >= 1 (y(t_i) moves along the
    flow), dL/dt_0 = -(a(t_0) - g_0) . f(t_0, y_0) (the initial point moves the whole flow).
    Memory O(1) in the number of steps. Error control of the backward solve: max over the groups
    z, a, a_theta of the RMS norm; ``adjoint_options={"norm": "seminorm"}`` drops a_theta from it
    (Kidger, Chen, Lyons, "'Hey, that's not an ODE': Faster ODE Adjoints via Seminorms", ICML 2021).

``checkpoint``
    Keeps the start state of every accepted forward step; going backward it rebuilds each step's
    local graph from that state and backpropagates through it. No state is reconstructed by
    integrating backward: the gradient is the exact gradient of the discrete solve (the same as
    plain backprop through `reference.odeint`), memory O(accepted steps x state size) plus one
    step's graph. ``adjoint_*`` tolerance and method arguments do not apply to it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import torch
from torch import nn

from .integrate import (Method, TupleState, Trajectory, _Field, _validate_tensor_state, resolve_method,
                        solve, step_output, validate_method, validate_times)
from .rk_step import RKStepper
from .stats import AdjointStats, _record_adjoint
from .step_control import rms_norm

STRATEGIES = ("backsolve", "checkpoint")
NORMS = ("mixed", "seminorm")


class _Config:
    """Everything the autograd Function needs that is not a tensor."""

    def __init__(self, **kw: Any):
        self.__dict__.update(kw)


def odeint_adjoint(func: Callable, y0: Union[torch.Tensor, tuple[torch.Tensor, ...]], t: torch.Tensor, *,
                   rtol: float = 1e-7, atol: float = 1e-9, method: Method = "dopri5",
                   options: dict | None = None, adjoint_params: Sequence[torch.Tensor] | None = None,
                   adjoint_rtol: float | None = None, adjoint_atol: float | None = None,
                   adjoint_method: Method | None = None, adjoint_options: dict | None = None,
                   strategy: str = "backsolve") -> Union[torch.Tensor, tuple[torch.Tensor, ...]]:
    """`reference.odeint` whose backward pass is an adjoint (torchdiffeq's `odeint_adjoint` API).

    Gradients flow to y0, to every tensor of `adjoint_params` (default ``func.parameters()``) and
    to t when ``t.requires_grad``; the loss may use every output time. After ``backward()``,
    `reference.last_adjoint_stats()` gives the backward NFE and, for backsolve, the
    reconstruction error.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown adjoint strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}")
    if adjoint_params is None:
        if not isinstance(func, nn.Module):
            raise ValueError("func must be an nn.Module to take its parameters as adjoint_params; "
                             "otherwise pass adjoint_params explicitly")
        adjoint_params = tuple(func.parameters())
    params = tuple(p for p in adjoint_params if isinstance(p, torch.Tensor) and p.requires_grad)
    opts, rtol, atol = validate_method(method, options, rtol, atol)
    t, times = validate_times(t)

    adj_method = method if adjoint_method is None else adjoint_method
    if adjoint_options is None:
        adj_opts = dict(opts) if adj_method == method else {}
    else:
        adj_opts = dict(adjoint_options)
    norm_choice = adj_opts.pop("norm", "mixed")
    if not (callable(norm_choice) or norm_choice in NORMS):
        raise ValueError(f"adjoint_options['norm'] must be one of {NORMS} or a callable, got {norm_choice!r}")
    adj_opts.pop("norm", None)
    adj_opts, adj_rtol, adj_atol = validate_method(
        adj_method, adj_opts, rtol if adjoint_rtol is None else adjoint_rtol,
        atol if adjoint_atol is None else adjoint_atol)

    packer = None
    if isinstance(y0, (tuple, list)):
        packer = TupleState(y0)
        flat_y0, field = packer.pack(y0), packer.wrap(func)
    else:
        _validate_tensor_state(y0)
        flat_y0, field = y0, func
    cfg = _Config(func=field, params=params, times=times, method=method, rtol=rtol, atol=atol,
                  opts=opts, adj_method=adj_method, adj_rtol=adj_rtol, adj_atol=adj_atol,
                  adj_opts=adj_opts, norm=norm_choice, strategy=strategy, forward_stats=None)
    ys = _OdeintAdjoint.apply(cfg, flat_y0, t, *params)
    return packer.unpack(ys) if packer is not None else ys


class _OdeintAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cfg: _Config, y0: torch.Tensor, t: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        traj = Trajectory() if cfg.strategy == "checkpoint" else None
        with torch.no_grad():
            ys, stats = solve(cfg.func, y0, t, cfg.times, rtol=cfg.rtol, atol=cfg.atol, method=cfg.method,
                              opts=cfg.opts, track_t=False, trajectory=traj)
        cfg.forward_stats = stats
        ctx.cfg = cfg
        if traj is not None:
            ctx.records = traj.records
            states = torch.stack(traj.states) if traj.states else y0.new_empty((0, *y0.shape))
            ctx.save_for_backward(t, states)  # O(accepted steps x state size)
        else:
            ctx.save_for_backward(t, ys)  # O(output times x state size), independent of the steps
        return ys

    @staticmethod
    def backward(ctx, grad_ys: torch.Tensor):
        cfg = ctx.cfg
        need_t = ctx.needs_input_grad[2]
        t, saved = ctx.saved_tensors
        with torch.no_grad():
            if cfg.strategy == "checkpoint":
                adj_y, adj_p, adj_t, stats = _checkpoint_backward(cfg, ctx.records, t, saved, grad_ys, need_t)
            else:
                adj_y, adj_p, adj_t, stats = _backsolve_backward(cfg, saved, grad_ys, need_t)
        _record_adjoint(stats)
        grad_t = adj_t.to(t.dtype) if need_t else None
        return (None, adj_y, grad_t, *adj_p)


# --------------------------------------------------------------------------- backsolve
class _Augmented:
    """The backward dynamics of [z, a, a_theta] as one flat vector, and its error norm."""

    def __init__(self, func: Callable, params: tuple[torch.Tensor, ...], shape: torch.Size,
                 dtype: torch.dtype, norm: Any):
        self.func, self.params, self.shape, self.dtype = func, params, shape, dtype
        self.n = shape.numel()
        self.param_numels = [p.numel() for p in params]
        self.nfe = 0
        groups = [slice(0, self.n), slice(self.n, 2 * self.n)]
        if norm == "mixed" and params:
            groups.append(slice(2 * self.n, 2 * self.n + sum(self.param_numels)))
        self.norm = norm if callable(norm) else (lambda x: max(rms_norm(x[g]) for g in groups))

    def pack(self, z: torch.Tensor, a: torch.Tensor, a_p: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([z.reshape(-1), a.reshape(-1)] + [g.reshape(-1).to(self.dtype) for g in a_p])

    def unpack(self, aug: torch.Tensor):
        z = aug[:self.n].view(self.shape)
        a = aug[self.n:2 * self.n].view(self.shape)
        a_p, start = [], 2 * self.n
        for p, m in zip(self.params, self.param_numels):
            a_p.append(aug[start:start + m].view(p.shape).to(p.dtype))
            start += m
        return z, a, a_p

    def __call__(self, t: torch.Tensor, aug: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        z, a, _ = self.unpack(aug)
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            fz = self.func(t, z)
            vjps = torch.autograd.grad(fz, (z, *self.params), grad_outputs=-a, allow_unused=True)
        vjps = [torch.zeros_like(x) if g is None else g for g, x in zip(vjps, (z, *self.params))]
        return self.pack(fz.detach(), vjps[0], vjps[1:])


def _backsolve_backward(cfg: _Config, ys: torch.Tensor, grad_ys: torch.Tensor, need_t: bool):
    times, N = cfg.times, len(cfg.times)
    shape, dtype, device = ys.shape[1:], ys.dtype, ys.device
    aug = _Augmented(cfg.func, cfg.params, shape, dtype, cfg.norm)
    stats = AdjointStats(strategy="backsolve", forward=cfg.forward_stats)
    f = _Field(cfg.func, dtype, device, shape)  # evaluations for the t-gradients
    opts = dict(cfg.adj_opts, norm=aug.norm) if resolve_method(cfg.adj_method).adaptive else cfg.adj_opts
    adj_y = grad_ys[-1]
    adj_p = [torch.zeros_like(p) for p in cfg.params]
    adj_t = torch.zeros(N, dtype=torch.float64, device=device)
    recon = []
    for i in range(N - 1, 0, -1):
        if need_t:
            adj_t[i] = (grad_ys[i] * f(times[i], ys[i])).sum()
        sol, st = solve(aug, aug.pack(ys[i], adj_y, adj_p), None, [times[i], times[i - 1]], rtol=cfg.adj_rtol,
                        atol=cfg.adj_atol, method=cfg.adj_method, opts=opts, track_t=False, record=False)
        stats.backward.append(st)
        z, adj_y, adj_p = aug.unpack(sol[-1])
        recon.append(float((z - ys[i - 1]).abs().max()))
        adj_y = adj_y + grad_ys[i - 1]  # z is reset to ys[i-1] by starting the next interval there
    if need_t and N > 1:
        adj_t[0] = -((adj_y - grad_ys[0]) * f(times[0], ys[0])).sum()
    stats.backward_nfe = aug.nfe + f.nfe
    stats.reconstruction_error = recon[-1] if recon else 0.0
    stats.reconstruction_errors = list(reversed(recon))
    return adj_y, adj_p, adj_t, stats


# --------------------------------------------------------------------------- checkpoint
def _checkpoint_backward(cfg: _Config, records, t: torch.Tensor, states: torch.Tensor,
                         grad_ys: torch.Tensor, need_t: bool):
    y_shape, dtype, device = grad_ys.shape[1:], grad_ys.dtype, grad_ys.device
    stepper = RKStepper(resolve_method(cfg.method))
    f = _Field(cfg.func, dtype, device, y_shape)
    tt = t.detach().to(device=device, dtype=torch.float64).requires_grad_(need_t)
    T = tt.__getitem__ if need_t else cfg.times.__getitem__
    params = cfg.params
    adj_y = torch.zeros_like(grad_ys[0])
    adj_p = [torch.zeros_like(p) for p in params]
    adj_t = torch.zeros(len(cfg.times), dtype=torch.float64, device=device)
    for n in range(len(records) - 1, -1, -1):
        rec = records[n]
        with torch.enable_grad():
            y_n = states[n].detach().requires_grad_(True)
            step = stepper.step(f, rec.start(T), y_n, rec.size(T))
            loss = (adj_y * step.y_new).sum()
            for i in rec.outputs:
                loss = loss + (grad_ys[i] * step_output(stepper, f, step, rec, i, T)).sum()
            inputs = (y_n, *params) + ((tt,) if need_t else ())
            grads = torch.autograd.grad(loss, inputs, allow_unused=True)
        adj_y = grads[0] if grads[0] is not None else torch.zeros_like(adj_y)
        for k, g in enumerate(grads[1:1 + len(params)]):
            if g is not None:
                adj_p[k] = adj_p[k] + g
        if need_t and grads[-1] is not None:
            adj_t = adj_t + grads[-1]
    adj_y = adj_y + grad_ys[0]
    stats = AdjointStats(strategy="checkpoint", forward=cfg.forward_stats, backward_nfe=f.nfe)
    return adj_y, adj_p, adj_t, stats
