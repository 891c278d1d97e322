"""LEGACY ADAPTER: schema-1 check records -> typed `harness.evidence.Evidence`, once, on reading.

Schema 1 (ode-harness before typed evidence) stored what a check measured as free-form keys in
``measured`` (and some in ``extra``). This module is the ONLY place that recovers meaning from the
names of those keys (the heuristics the report used to apply on every read, kept so that old
results files still give their plots and comparisons). Nothing else in ode-harness reads
``measured`` for meaning; schema-2 records carry their evidence typed and never pass through here.

What is recovered: the expectation (the value with a ``<name>_target`` next to it, else the last
number, with the record's threshold and reason; the comparison is ``within`` where a target is
given, else ``le`` — schema 1 did not say ``ge``), the scalars (kind guessed from the name), the
series (convergence: ``h``/``steps`` with an error list; tolerance sweeps, work-precision, NFE
sweeps, memory against depth), the gradient group and oracle. Inputs and problem properties were
never recorded in schema 1: None.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .evidence import (Axis, Comparison, Derivation, Evidence, Expectation, Quantity, Scalar, Series,
                       SeriesKind)

__all__ = ["evidence_from_v1"]

_RE_STEP = re.compile(r"^(h|hs|dt|dts|step_?sizes?|steps?_size|h_values|hs_used)$")
_RE_NSTEPS = re.compile(r"^(n_?steps|steps|steps_per_unit|n_steps_list|num_steps)$")
_RE_TOL = re.compile(r"^(tols?|tolerances?|rtols?)$")
_RE_NFE = re.compile(r"(^|_)nfes?($|_)|n_f_evals")
_RE_TIME = re.compile(r"(wall|seconds|^times?_s$|^time_s$|^times$|_time_s$|^t_wall|_s$)")
_RE_DEPTH = re.compile(r"^(depths?|n_?steps|steps|layers|n_layers)$")
_RE_BYTES = re.compile(r"bytes")
_RE_USED = re.compile(r"^(used|used_points|used_indices|fit_points|fit_indices|window|in_fit)$")
_RE_ORDER = re.compile(r"^(observed_order|order_observed|observed_slope|slope|fitted_slope|fit_slope|"
                       r"order_estimate|estimated_order|.*_slope|.*_observed_order|observed_\w*order|"
                       r".*_exponent)$")
_RE_GROUP = re.compile(r"grad_(y0|params|param|theta|t)(_|$)")
_BENCH = ("mean", "median", "min", "max", "stddev", "iqr", "q1", "q3")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num_list(v: Any) -> list[float] | None:
    if isinstance(v, (list, tuple)) and v and all(_is_num(x) for x in v):
        return [float(x) for x in v]
    return None


def _is_error_key(k: str) -> bool:
    kl = k.lower()
    return ("err" in kl and not kl.startswith(("baseline", "oracle", "ref", "scipy"))
            and not kl.endswith("_target") and "estimate" not in kl)


def _kind_of(k: str, suite: str) -> Quantity:
    kl = k.lower()
    if "reconstruction" in kl:
        return Quantity.RECONSTRUCTION_ERROR
    if _is_error_key(k):
        return Quantity.GRADIENT_ERROR if ("grad" in kl or "grad" in suite) else Quantity.ERROR
    if _RE_ORDER.match(k):
        return Quantity.ORDER
    if _RE_NFE.search(k):
        return Quantity.NFE_BACKWARD if "backward" in kl else Quantity.NFE
    if _RE_BYTES.search(k):
        return Quantity.BYTES
    if _RE_TIME.search(k):
        return Quantity.SECONDS
    if "ratio" in kl:
        return Quantity.RATIO
    return Quantity.OTHER


def _first(series: Mapping[str, list[float]], rx: re.Pattern, n: int | None = None) -> tuple[str, list[float]] | None:
    for k, v in series.items():
        if rx.search(k) and (n is None or len(v) == n):
            return k, v
    return None


def _expectation(m: Mapping[str, Any], data: Mapping[str, Any], suite: str) -> Expectation | None:
    thr = data.get("threshold")
    if not _is_num(thr):
        return None
    key = target = None
    for k in reversed(list(m)):
        if k.endswith("_target") and k[:-7] in m and _is_num(m[k[:-7]]) and _is_num(m[k]):
            key, target = k[:-7], float(m[k])
            break
    if key is None:
        key = next((k for k in reversed(list(m)) if _is_num(m[k]) and not k.endswith("_target")), None)
    if key is None:
        return None
    tol = m.get("tol")
    deriv = Derivation(tolerance=float(tol) if _is_num(tol) else None,
                       order=float(m["order"]) if _is_num(m.get("order")) else None)
    return Expectation(quantity=key, kind=_kind_of(key, suite), value=float(m[key]), threshold=float(thr),
                       comparison=Comparison.WITHIN if target is not None else Comparison.LE, target=target,
                       reason=str(data.get("threshold_reason") or ""),
                       derivation=None if deriv.is_empty() else deriv)


def _series(m: Mapping[str, Any], extra: Mapping[str, Any], check: str, suite: str) -> list[Series]:
    s: dict[str, list[float]] = {}
    for src in (extra, m):  # measured wins
        for k, v in src.items():
            lst = _num_list(v)
            if lst is not None:
                s[k] = lst
    out: list[Series] = []
    errs = [(k, v) for k, v in s.items() if _is_error_key(k)]
    # convergence: step sizes (or steps) and an error list of the same length, no cost series
    hx = _first(s, _RE_STEP)
    xlab = "step size h"
    if hx is None:
        ns = _first(s, _RE_NSTEPS)
        if ns is not None and all(v > 0 for v in ns[1]):
            hx, xlab = (ns[0], [1.0 / v for v in ns[1]]), "1 / steps"
    if hx is not None and len(hx[1]) >= 2:
        n = len(hx[1])
        cost = any(_RE_NFE.search(k) or (_RE_TIME.search(k) and not _is_error_key(k))
                   for k, v in s.items() if len(v) == n and k != hx[0] and not _RE_STEP.match(k)
                   and not _RE_NSTEPS.match(k))
        e = next(((k, v) for k, v in errs if len(v) == n), None)
        if e is not None and not cost:
            used_raw = next((src[k] for src in (m, extra) for k in src if _RE_USED.match(k)), None)
            used = None
            if isinstance(used_raw, list) and used_raw:
                if all(isinstance(u, bool) for u in used_raw) and len(used_raw) == n:
                    used = [i for i, u in enumerate(used_raw) if u]
                elif all(isinstance(u, int) and not isinstance(u, bool) and 0 <= u < n for u in used_raw):
                    used = sorted(set(used_raw))
            slope = next((float(m[k]) for k in m if _RE_ORDER.match(k) and _is_num(m[k])), None)
            text = (check + suite).lower()
            kind = (SeriesKind.GRADIENT_CONVERGENCE if "grad" in text else
                    SeriesKind.DENSE_CONVERGENCE if "dense" in text else SeriesKind.CONVERGENCE)
            out.append(Series(kind=kind, x=hx[1], y=e[1], x_label=xlab, y_label=e[0], used=used, slope=slope))
            return out
    if errs:
        ek, ev = errs[0]
        n = len(ev)
        if n >= 2:
            tol = _first({k: v for k, v in s.items() if len(v) == n}, _RE_TOL)
            nfe = _first({k: v for k, v in s.items() if len(v) == n and not _is_error_key(k)}, _RE_NFE)
            tm = _first({k: v for k, v in s.items() if len(v) == n and not _is_error_key(k)
                         and not _RE_NFE.search(k) and not _RE_TOL.match(k) and not _RE_BYTES.search(k)}, _RE_TIME)
            gradient = "grad" in (check + suite).lower()
            if tol:
                out.append(Series(kind=SeriesKind.GRADIENT_TOLERANCE if gradient else SeriesKind.TOLERANCE_SWEEP,
                                  x=tol[1], y=ev, x_label="tolerance", y_label=ek))
            if nfe:
                out.append(Series(kind=SeriesKind.WORK_PRECISION, x=nfe[1], y=ev, x_label="function evaluations",
                                  x_unit="NFE", y_label=ek))
            if tm:
                lo, hi = s.get(f"{tm[0]}_q1"), s.get(f"{tm[0]}_q3")
                ok = lo is not None and hi is not None and len(lo) == n and len(hi) == n
                out.append(Series(kind=SeriesKind.WORK_PRECISION, x=tm[1], y=ev, x_label="wall time", x_unit="s",
                                  y_label=ek, low=lo if ok else None, high=hi if ok else None, spread_axis=Axis.X))
    # NFE against a tolerance (or steps) list
    xs = _num_list(m.get("tol")) or _num_list(m.get("steps"))
    if xs:
        xl = "tolerance" if _num_list(m.get("tol")) else "steps"
        for names, kind in ((("nfe_forward", "forward_nfe", "nfe"), SeriesKind.NFE_SWEEP),
                            (("nfe_backward", "backward_nfe"), SeriesKind.NFE_BACKWARD_SWEEP)):
            ys = next((_num_list(m.get(k)) for k in names if _num_list(m.get(k))), None)
            if ys and len(ys) == len(xs):
                out.append(Series(kind=kind, x=xs, y=ys, x_label=xl, x_unit="steps" if xl == "steps" else "",
                                  y_label="function evaluations", y_unit="NFE"))
    # memory against depth
    byte_series = {k: v for k, v in s.items() if _RE_BYTES.search(k)}
    depth = _first(s, _RE_DEPTH)
    if depth is None and byte_series:  # adaptive methods: the graph's depth is the forward NFE
        depth = _first({k: v for k, v in s.items() if "backward" not in k}, _RE_NFE)
    if depth and byte_series:
        n = len(depth[1])
        saved = next((v for k, v in byte_series.items() if len(v) == n and "peak" not in k), None)
        peak = next((v for k, v in byte_series.items() if len(v) == n and "peak" in k), None)
        for ys, kind in ((saved, SeriesKind.MEMORY_DEPTH), (peak, SeriesKind.PEAK_MEMORY_DEPTH)):
            if ys:
                out.append(Series(kind=kind, x=depth[1], y=ys, x_label=depth[0], y_label="bytes", y_unit="B"))
    elif byte_series == {}:
        d = next((m[k] for k in ("depth", "n_steps", "steps", "layers") if _is_num(m.get(k))), None)
        if d is not None:
            for peak, kind in ((False, SeriesKind.MEMORY_DEPTH), (True, SeriesKind.PEAK_MEMORY_DEPTH)):
                b = next((m[k] for k in m if _RE_BYTES.search(k) and ("peak" in k) == peak and _is_num(m[k])), None)
                if b is not None:
                    out.append(Series(kind=kind, x=[d], y=[b], x_label="depth", y_label="bytes", y_unit="B"))
    return out


def _benchmark_scalars(m: Mapping[str, Any], extra: Mapping[str, Any]) -> list[Scalar]:
    out: list[Scalar] = []
    if any(_is_num(m.get(f"seconds_{k}")) for k in ("mean", "median", "single_call")):
        for k in (*_BENCH, "single_call"):
            if _is_num(m.get(f"seconds_{k}")):
                out.append(Scalar(name=k, value=m[f"seconds_{k}"], kind=Quantity.SECONDS, unit="s"))
    else:
        b = next((src.get(n) for src in (m, extra) for n in ("benchmark", "benchmark_stats", "stats")
                  if isinstance(src.get(n), dict)), None)
        if isinstance(b, dict):
            out += [Scalar(name=k, value=b[k], kind=Quantity.SECONDS, unit="s") for k in _BENCH if _is_num(b.get(k))]
            if _is_num(b.get("rounds")):
                out.append(Scalar(name="rounds", value=b["rounds"], kind=Quantity.COUNT))
    return out


def evidence_from_v1(data: Mapping[str, Any]) -> Evidence | None:
    """The evidence of a schema-1 check record (its JSON fields, as read), recovered from the
    names of its measured keys; None when the record measured nothing."""
    from .results import decode_value

    m = decode_value(data.get("measured") or {})
    extra = decode_value(data.get("extra") or {})
    if not isinstance(m, dict) or not isinstance(extra, dict):
        return None
    suite, check = str(data.get("suite") or ""), str(data.get("check") or "")
    if not m:
        return None
    exp = _expectation(m, data, suite.lower())
    bench = _benchmark_scalars(m, extra)
    names = {s.name for s in bench}
    scalars = list(bench)
    for k, v in m.items():
        if _is_num(v) and not k.endswith("_target") and not k.startswith("seconds_") and k not in names:
            scalars.append(Scalar(name=k, value=float(v), kind=_kind_of(k, suite.lower())))
            names.add(k)
    group = next((m[k] for k in ("group", "wrt", "grad_wrt", "with_respect_to") if isinstance(m.get(k), str)), None)
    if group is None and exp is not None:
        g = _RE_GROUP.match(exp.quantity)
        group = {"param": "params", "theta": "params"}.get(g.group(1), g.group(1)) if g else None
    if group is None and "grad" in suite.lower():
        params = str(data.get("check_id") or "")
        params = params[params.find("[") + 1:-1] if "[" in params else ""
        text = f"{check} {params}".lower()
        g = next((g for g in ("y0", "params", "param", "theta", "t")
                  if re.search(rf"(^|[^a-z0-9]){g}($|[^a-z0-9])", text)), None)
        group = {"param": "params", "theta": "params"}.get(g, g) if g else None
    oracle = next((m[k] for k in ("oracle", "oracle_name", "reference_gradient", "against")
                   if isinstance(m.get(k), str) and m.get(k)), None)
    if oracle is None and "grad" in suite.lower():
        oracle = next((name for pat, name in (("finite_diff", "finite differences"), ("_fd", "finite differences"),
                                             ("sensitiv", "forward sensitivities"), ("backprop", "backprop"),
                                             ("complex_step", "complex step")) if pat in check.lower()), None)
    return Evidence(series=tuple(_series(m, extra, check, suite)), expectation=exp, scalars=tuple(scalars),
                    gradient_wrt=group, oracle=oracle)
