"""Build the HTML report of a results file: ``build_report(results, out_dir) -> out_dir/index.html``.

The page leads with the run's findings (harness.report.findings: the diagnosis stored with the
results, or the records diagnosed again): their count, and for each its title, cause, category,
confidence, contrasts and reproducer, the checks under it collapsed; then the summary.

One self-contained page (inline CSS, inline SVG figures, no script, nothing fetched), from
Jinja2 templates with autoescaping on: every string that comes from a record (an
implementation's name, an exception message, a reproducer) is HTML-escaped. A large run is
split: the index keeps the summary, the conclusions, the figures that put implementations
side by side, the failures and omissions; each implementation's detailed tables go to
``impl-<name>.html`` beside it.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

import jinja2
import numpy as np

from ..diagnosis.model import Category
from ..results import CheckRecord
from . import plots
from .findings import findings_context
from ..evidence import UNIT_STEPS
from .data import (BAD, OUTCOME_LABELS, OUTCOMES, Curve, RunData, benchmark_stats, case_label,
                   convergence_of, curves_across_records, curves_in_record,
                   falsifying_example, fmt, fmt_bytes, fmt_duration, gradient_group, gradient_oracle,
                   is_error_value, is_finite_num, is_gradient_record, is_num, memory_points, nfe_of, nfe_sweep_of,
                   order_what, outcome, primary_value, read_runs, reconstruction_error, reproducer_command, slug,
                   strip_case_prefix, target_of, tolerance_of)

SPLIT_AT = 1500  # records; above this, per-implementation pages
TEMPLATES = Path(__file__).with_name("templates")

__all__ = ["build_report", "render_report", "SPLIT_AT"]


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=True,  # every template, whatever its name
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, fmt_bytes=fmt_bytes, fmt_duration=fmt_duration, slug=slug)
    env.globals.update(OUTCOMES=OUTCOMES, OUTCOME_LABELS=OUTCOME_LABELS)
    return env


# ----------------------------------------------------------------------------- ordering


def _order_cases(records: Iterable[CheckRecord], impl_order: list[str]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], int] = {}
    for r in records:
        seen.setdefault((r.iut, r.method), len(seen))
    rank = {n: i for i, n in enumerate(impl_order)}
    return sorted(seen, key=lambda c: (rank.get(c[0], len(rank)), c[0] if c[0] not in rank else "", seen[c]))


def _claims_text(claims: dict[str, Any]) -> list[str]:
    if not isinstance(claims, dict) or not claims:
        return []
    out = []
    if claims.get("order") is not None:
        out.append(f"order {claims['order']}")
    if claims.get("dense_order") is not None:
        out.append(f"dense {claims['dense_order']}")
    out.append("adaptive" if claims.get("adaptive", True) else "fixed step")
    for k, label in (("float32", "float32"), ("reverse_time", "reverse t"), ("batching", "batching"),
                     ("t_grad", "∂/∂t"), ("stiff", "stiff"), ("adjoint", "adjoint")):
        if claims.get(k):
            out.append(label)
    g = claims.get("gradients")
    if g and g != "autograd":
        out.append(f"gradients: {g}")
    known = {"order", "dense_order", "adaptive", "float32", "reverse_time", "batching", "t_grad",
             "stiff", "adjoint", "gradients"}
    out += [f"{k}={fmt(v)}" for k, v in claims.items() if k not in known]
    return out


def _suite_label(suite: str) -> str:
    return suite.replace("_", " ") if suite else "(no suite)"


# ----------------------------------------------------------------------------- summary


def _summary(run: RunData, records: list[CheckRecord], cases: list[tuple[str, str]]) -> dict:
    suites = list(dict.fromkeys(r.suite for r in records))
    cells: dict[tuple, Counter] = defaultdict(Counter)
    totals: dict[tuple, Counter] = defaultdict(Counter)
    claims: dict[tuple, dict] = {}
    duration: dict[tuple, float] = defaultdict(float)
    for r in records:
        o = outcome(r)
        cells[(r.iut, r.method, r.suite)][o] += 1
        totals[(r.iut, r.method)][o] += 1
        if isinstance(r.extra.get("claims"), dict):
            claims.setdefault((r.iut, r.method), r.extra["claims"])
        duration[(r.iut, r.method)] += r.duration_s or 0.0
    rows = []
    for c in cases:
        t = totals[c]
        rows.append(dict(iut=c[0], method=c[1], label=case_label(*c), anchor=slug(f"case-{c[0]}-{c[1]}"),
                         claims=_claims_text(claims.get(c, {})),
                         cells=[_cell(cells[(c[0], c[1], s)]) for s in suites],
                         total=_cell(t), duration=duration[c]))
    grand = Counter()
    for t in totals.values():
        grand.update(t)
    return dict(suites=[_suite_label(s) for s in suites], rows=rows, totals=_cell(grand),
                present=[o for o in OUTCOMES if grand.get(o)])


def _cell(counter: Counter) -> dict:
    n = sum(counter.values())
    parts = [(o, counter[o]) for o in OUTCOMES if counter.get(o)]
    worst = next((o for o in ("error", "timeout", "fail", "known", "xpass", "pass", "skip") if counter.get(o)), "none")
    return dict(n=n, parts=parts, worst=worst)


# ----------------------------------------------------------------------------- accuracy


def _is_accuracy(r: CheckRecord) -> bool:
    s = r.suite.lower()
    return ("accuracy" in s or "forward" in s) and not is_gradient_record(r)


def _pivot_cell(r: CheckRecord) -> dict | None:
    pv = primary_value(r)
    o = outcome(r)
    if pv is None:
        return dict(text="", ratio="", outcome=o, title=r.message or OUTCOME_LABELS[o])
    k, v = pv
    ratio = ""
    target = target_of(r)
    if is_finite_num(r.threshold) and r.threshold > 0 and is_finite_num(v) and target is None:
        ratio = f"{v / r.threshold:.2g}×"
    title = f"{k} = {fmt(v, 6)}"
    if r.threshold is not None:
        title += f"; threshold {fmt(r.threshold, 4)}" + (f" ({r.threshold_reason})" if r.threshold_reason else "")
    if r.message:
        title += f"; {r.message}"
    return dict(text=fmt(v), ratio=ratio, outcome=o, title=title)


def _row_key_label(r: CheckRecord) -> tuple[str, str, str]:
    check = r.check.removeprefix("test_")
    has_tol, tol = tolerance_of(r)
    if not has_tol:
        tol_s = "—"
    elif tol is None:
        tol_s = "fixed step"
    else:
        tol_s = f"{tol:g}" if is_finite_num(tol) else fmt(tol)
    return check, tol_s, r.dtype or ""


def _error_tables(records: list[CheckRecord], cases: list[tuple[str, str]]) -> list[dict]:
    acc = [r for r in records if _is_accuracy(r) and outcome(r) != "skip"]
    problems = list(dict.fromkeys(r.problem or "(no problem)" for r in acc))
    out = []
    for p in problems:
        recs = [r for r in acc if (r.problem or "(no problem)") == p]
        cols = [c for c in cases if any((r.iut, r.method) == c for r in recs)]
        rows: dict[tuple, dict] = {}
        for r in recs:
            key = _row_key_label(r)
            rows.setdefault(key, {})[(r.iut, r.method)] = _pivot_cell(r)

        def sort_key(k: tuple) -> tuple:
            try:
                t = -float(k[1])
            except ValueError:
                t = 0.0
            return (k[0], t, k[2])
        table = [dict(check=k[0], tol=k[1], dtype=k[2], cells=[rows[k].get(c) for c in cols])
                 for k in sorted(rows, key=sort_key)]
        out.append(dict(problem=p, anchor=slug(f"acc-{p}"), cols=cols, rows=table))
    return out


def _convergence_figures(records: list[CheckRecord], styles: plots.Styles, *, draw: bool = True) -> list[dict]:
    """One convergence plot per record with a convergence series, and its fitted slope (``draw``
    False: the slopes only, ``svg`` empty, for pages that show no convergence plots)."""
    out = []
    for r in records:
        if outcome(r) == "skip":
            continue
        cv = convergence_of(r)
        if cv is None:
            continue
        if cv.used is None and cv.slope is not None or cv.slope is None:
            try:  # where the record does not say, fit as the harness fits
                from ..measure.order import observed_order as _fit
                est = _fit(cv.x, cv.errors)
                if cv.used is None and est.used:
                    cv.used = est.used
                if cv.slope is None and est.ok:
                    cv.slope = est.slope
            except Exception:  # noqa: BLE001 - a figure without the fit is still a figure
                pass
        svg = plots.convergence_plot(cv, styles) if draw else ""
        if svg is None:
            continue
        out.append(dict(svg=svg, label=case_label(r.iut, r.method), problem=r.problem, check=r.check,
                        slope=cv.slope, claimed=cv.claimed, outcome=outcome(r), check_id=r.check_id,
                        what=order_what(r)))
    return out


def _curves(records: list[CheckRecord]) -> list[Curve]:
    out = [c for c in (curves_in_record(r) for r in records if outcome(r) != "skip") if c]
    have = {(c.iut, c.method, c.problem) for c in out}
    out += [c for c in curves_across_records(r for r in records if not is_gradient_record(r))
            if (c.iut, c.method, c.problem) not in have]
    return out


def _by_problem(curves: list[Curve]) -> dict[str, list[Curve]]:
    g: dict[str, list[Curve]] = {}
    for c in curves:
        g.setdefault(c.problem or "(no problem)", []).append(c)
    return g


def _interp_cost(c: Curve, what: str, target: float) -> float | None:
    cost = c.nfe if what == "nfe" else c.time
    if not cost:
        return None
    e = np.asarray(c.errors, float)
    y = np.asarray(cost, float)
    ok = np.isfinite(e) & np.isfinite(y) & (e > 0) & (y > 0)
    if ok.sum() < 2:
        return None
    e, y = np.log(e[ok]), np.log(y[ok])
    o = np.argsort(e)
    e, y = e[o], y[o]
    lt = math.log(target)
    if not e[0] <= lt <= e[-1]:
        return None
    return float(math.exp(np.interp(lt, e, y)))


def _equal_error_table(rows: list[dict]) -> dict:
    labels = list(dict.fromkeys(v["label"] for r in rows for v in r["values"]))
    table = []
    for r in rows:
        by = {v["label"]: v for v in r["values"]}
        table.append(dict(problem=r["problem"], what=r["what"], target=r["target"],
                          cells=[by.get(lab) for lab in labels]))
    return dict(cols=labels, rows=table)


def _equal_error(curves_by_problem: dict[str, list[Curve]]) -> list[dict]:
    """Cost of each implementation at the same achieved error (log-log interpolation within
    each one's measured range), where two or more overlap."""
    rows = []
    for problem, cs in curves_by_problem.items():
        for what in ("nfe", "time"):
            cands = [c for c in cs if (c.nfe if what == "nfe" else c.time)]
            if len(cands) < 2:
                continue
            ranges = []
            for c in cands:
                e = [x for x in c.errors if is_finite_num(x) and x > 0]
                if len(e) >= 2:
                    ranges.append((min(e), max(e)))
            if len(ranges) < 2:
                continue
            lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
            if not lo <= hi:
                continue
            decades = [10.0 ** k for k in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)]
            targets = decades[:4] if decades else [math.sqrt(lo * hi)]
            for t in targets:
                vals = [(c.label, _interp_cost(c, what, t)) for c in cands]
                got = [v for _, v in vals if v is not None]
                if len(got) < 2:
                    continue
                best = min(got)
                rows.append(dict(problem=problem, what="NFE" if what == "nfe" else "wall time",
                                 target=t, values=[dict(label=lab, value=v, ratio=None if v is None else v / best)
                                                   for lab, v in vals]))
    return rows


# ----------------------------------------------------------------------------- gradients & cost


_RANK = {"skip": 0, "pass": 1, "xpass": 2, "known": 3, "fail": 4, "timeout": 5, "error": 6}


def _gradients(records: list[CheckRecord], cases: list[tuple[str, str]]) -> dict:
    recs = [r for r in records if is_gradient_record(r) and outcome(r) != "skip"]
    cols: list[tuple[str, str]] = []
    cells: dict[tuple, dict] = {}
    detail = []
    for r in recs:
        g = gradient_group(r) or "—"
        o = gradient_oracle(r) or "—"
        pv = primary_value(r)
        if (g, o) not in cols:
            cols.append((g, o))
        key = (r.iut, r.method, r.problem, g, o)
        val = pv[1] if pv and is_finite_num(pv[1]) else None
        cell = cells.setdefault(key, dict(value=None, outcome="pass", title=r.message or ""))
        if val is not None and (cell["value"] is None or val > cell["value"]):
            cell["value"], cell["title"] = val, f"{pv[0]} = {fmt(val, 6)}" + (f"; {r.message}" if r.message else "")
        if _RANK.get(outcome(r), 0) > _RANK.get(cell["outcome"], 0):
            cell["outcome"] = outcome(r)
            if r.message:
                cell["title"] = r.message
        detail.append(dict(label=case_label(r.iut, r.method), problem=r.problem, group=g, oracle=o,
                           key=pv[0] if pv else "", value=pv[1] if pv else None, threshold=r.threshold,
                           reason=r.threshold_reason, outcome=outcome(r), check=r.check, dtype=r.dtype))
    order = {"y0": 0, "params": 1, "t": 2}
    cols.sort(key=lambda go: (order.get(go[0], 3), go[0], go[1]))
    rows = []
    for c in cases:
        for p in dict.fromkeys(r.problem for r in recs if (r.iut, r.method) == c):
            rows.append(dict(label=case_label(*c), problem=p,
                             cells=[cells.get((c[0], c[1], p, g, o)) for g, o in cols]))
    recon = []
    for r in records:
        v = reconstruction_error(r)
        if is_num(v) and outcome(r) != "skip":
            recon.append(dict(label=case_label(r.iut, r.method), problem=r.problem, check=r.check,
                              value=float(v), outcome=outcome(r), tol=tolerance_of(r)[1]))
    return dict(cols=[dict(group=g, oracle=o) for g, o in cols], rows=rows, detail=detail, recon=recon)


def _nfe_table(records: list[CheckRecord], cases: list[tuple[str, str]], curves: list[Curve]) -> dict:
    rows: dict[tuple, dict] = {}
    for r in records:
        if outcome(r) == "skip":
            continue
        fwd, bwd = nfe_of(r)
        if not (is_num(fwd) or is_num(bwd)):
            continue
        check, tol, dtype = _row_key_label(r)
        rows.setdefault((r.problem, check, tol, dtype), {})[(r.iut, r.method)] = (fwd, bwd)
    for r in records:  # sweeps: NFE lists against a tolerance (or steps) list
        if outcome(r) == "skip":
            continue
        fs, bs = nfe_sweep_of(r)
        if fs is None:
            continue
        steps = fs.x_unit == UNIT_STEPS
        for i, x in enumerate(fs.x):
            key = (r.problem, "sweep", f"{int(x)} steps" if steps else f"{x:g}", r.dtype or "")
            rows.setdefault(key, {}).setdefault((r.iut, r.method), (fs.y[i], bs.y[i] if bs is not None else None))
    for c in curves:
        if c.nfe and c.tol:
            for t, n in zip(c.tol, c.nfe):
                rows.setdefault((c.problem, "sweep", f"{t:g}", ""), {}).setdefault((c.iut, c.method), (n, None))
    cols = [c for c in cases if any(c in v for v in rows.values())]
    table = []
    for k in sorted(rows, key=lambda k: (k[0], k[1], _tol_sort(k[2]), k[3])):
        table.append(dict(problem=k[0], check=k[1], tol=k[2], dtype=k[3],
                          cells=[rows[k].get(c) for c in cols]))
    has_bwd = any(v[1] is not None for row in rows.values() for v in row.values())
    return dict(cols=[case_label(*c) for c in cols], rows=table, has_bwd=has_bwd)


def _tol_sort(t: str) -> float:
    try:
        return -float(t)
    except ValueError:
        return 0.0


def _memory(records: list[CheckRecord], styles: plots.Styles) -> dict:
    pts = [p for r in records if outcome(r) != "skip" for p in memory_points(r)]
    figs, table = [], []
    for problem in dict.fromkeys(p.problem for p in pts):
        ps = [p for p in pts if p.problem == problem]
        svg = plots.memory_plot(problem, ps, styles) if len({p.depth for p in ps}) >= 2 else None
        if svg is not None:
            figs.append(dict(problem=problem, svg=svg))
        for p in sorted(ps, key=lambda p: (p.label, p.depth)):
            table.append(dict(problem=problem, label=p.label, depth=p.depth, saved=p.saved_bytes, peak=p.peak_bytes))
    return dict(figures=figs, table=table, has_peak=any(p.peak_bytes is not None for p in pts))


def _benchmarks(records: list[CheckRecord]) -> list[dict]:
    out = []
    for r in records:
        st = benchmark_stats(r)
        if st:
            out.append(dict(label=case_label(r.iut, r.method), problem=r.problem, check=r.check,
                            stats=st, outcome=outcome(r)))
    return out


# ----------------------------------------------------------------------------- failures & omissions


def _failure(r: CheckRecord) -> dict:
    pv = primary_value(r)
    target = target_of(r)
    return dict(check_id=r.check_id, anchor=slug(f"f-{r.check_id}"), label=case_label(r.iut, r.method),
                problem=r.problem, dtype=r.dtype, outcome=outcome(r), message=r.message,
                key=pv[0] if pv else None, value=pv[1] if pv else None, target=target,
                threshold=r.threshold, reason=r.threshold_reason, reproducer=r.reproducer,
                command=reproducer_command(r.reproducer), falsifying=falsifying_example(r),
                seed=r.seed, evidence=r.extra.get("expected_failure"), duration=r.duration_s)


def _failures(records: list[CheckRecord]) -> dict:
    bad = [_failure(r) for r in records if outcome(r) in BAD]
    known: dict[tuple, dict] = {}
    for r in records:
        o = outcome(r)
        if o not in ("known", "xpass"):
            continue
        ev = str(r.extra.get("expected_failure"))
        g = known.setdefault((r.iut, r.method, ev), dict(label=case_label(r.iut, r.method), evidence=ev,
                                                         failed=[], passed=[]))
        (g["failed"] if o == "known" else g["passed"]).append(_failure(r))
    return dict(failures=bad, known=list(known.values()))


def _omissions(records: list[CheckRecord]) -> list[dict]:
    groups: dict[str, dict] = {}
    for r in records:
        if outcome(r) != "skip":
            continue
        reason = strip_case_prefix(r.message or "skipped", r)
        g = groups.setdefault(reason, dict(reason=reason, n=0, cases=Counter(), checks=Counter()))
        g["n"] += 1
        g["cases"][case_label(r.iut, r.method)] += 1
        g["checks"][r.check.removeprefix("test_")] += 1
    out = sorted(groups.values(), key=lambda g: -g["n"])
    for g in out:
        g["cases"] = list(g["cases"].items())
        g["checks"] = list(g["checks"].items())
    return out


def _all_checks(records: list[CheckRecord]) -> list[dict]:
    out = []
    for suite in dict.fromkeys(r.suite for r in records):
        rows = []
        for r in records:
            if r.suite != suite:
                continue
            pv = primary_value(r)
            rows.append(dict(check_id=r.check_id, outcome=outcome(r), label=case_label(r.iut, r.method),
                             problem=r.problem, key=pv[0] if pv else "", value=pv[1] if pv else None,
                             threshold=r.threshold, message=r.message, duration=r.duration_s))
        counts = Counter(x["outcome"] for x in rows)
        out.append(dict(suite=_suite_label(suite), anchor=slug(f"suite-{suite}"), rows=rows,
                        counts=[(o, counts[o]) for o in OUTCOMES if counts.get(o)]))
    return out


# ----------------------------------------------------------------------------- conclusions


def _range(vals: list[float], digits: int = 3) -> str:
    lo, hi = min(vals), max(vals)
    return fmt(lo, digits) if fmt(lo, digits) == fmt(hi, digits) else f"{fmt(lo, digits)}–{fmt(hi, digits)}"


def _conclusion(case: tuple[str, str], records: list[CheckRecord], convergence: list[dict],
                equal_error: list[dict], memory: dict) -> list[str]:
    recs = [r for r in records if (r.iut, r.method) == case]
    label = case_label(*case)
    c = Counter(outcome(r) for r in recs)
    ran = sum(v for k, v in c.items() if k != "skip")
    s: list[str] = []
    bad = c["fail"] + c["error"] + c["timeout"]
    if ran == 0:
        s.append(f"nothing ran: all {c['skip']} checks were skipped")
        return s
    if not bad:
        s.append(f"all {c['pass'] + c['xpass']} checks that ran hold" if not c["known"]
                 else f"{c['pass'] + c['xpass']} of {ran} checks hold; the other {c['known']} are known findings")
    else:
        parts = [f"{c[k]} {'fail' if k == 'fail' else k + ('s' if c[k] > 1 and k == 'error' else '')}"
                 for k in ("fail", "error", "timeout") if c[k]]
        s.append(f"{c['pass'] + c['xpass']} of {ran} checks hold; " + ", ".join(parts)
                 + (f"; {c['known']} known findings" if c["known"] else ""))
    # orders
    by_what: dict[str, list[dict]] = defaultdict(list)
    for f in convergence:
        if f["label"] == label and f["slope"] is not None:
            by_what[f["what"]].append(f)
    for what, orders in by_what.items():
        slopes = [f["slope"] for f in orders]
        lo, hi = min(slopes), max(slopes)
        val = f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"
        claimed = {f["claimed"] for f in orders if f["claimed"] is not None}
        claim = f" (claimed {', '.join(fmt(x) for x in sorted(claimed))})" if claimed else ""
        probs = list(dict.fromkeys(f["problem"] for f in orders if f["problem"]))
        where = f" on {len(probs)} problems" if len(probs) > 1 else (f" on {probs[0]}" if probs else "")
        nbad = sum(f["outcome"] in BAD for f in orders)
        s.append(f"observed {what} {val}{where}{claim}" + (f"; {nbad} order check(s) fail" if nbad else ""))
    # forward accuracy margin
    acc = [r for r in recs if _is_accuracy(r) and outcome(r) in ("pass", "xpass")]
    ratios = []
    for r in acc:
        pv = primary_value(r)
        if pv and is_finite_num(pv[1]) and is_finite_num(r.threshold) and r.threshold > 0 \
                and target_of(r) is None:
            ratios.append((pv[1] / r.threshold, r))
    if ratios:
        worst, wr = max(ratios, key=lambda x: x[0])
        s.append(f"forward errors at most {fmt(worst, 2)}× their thresholds over {len(ratios)} passing checks "
                 f"(largest: {wr.check.removeprefix('test_')} on {wr.problem or '?'}"
                 + (f", tol {tolerance_of(wr)[1]:g}" if is_finite_num(tolerance_of(wr)[1]) else "") + ")")
    # gradients per oracle
    per_oracle: dict[str, list[tuple[float, CheckRecord]]] = defaultdict(list)
    for r in recs:
        if is_gradient_record(r) and outcome(r) != "skip":
            pv = primary_value(r)
            if pv and is_finite_num(pv[1]) and is_error_value(r):
                per_oracle[gradient_oracle(r) or "its oracle"].append((pv[1], r))
    for oracle, vals in per_oracle.items():
        mx = max(v for v, _ in vals)
        nbad = sum(outcome(r) in BAD for _, r in vals)
        if nbad:
            s.append(f"gradient error up to {fmt(mx)} against {oracle}; {nbad} of {len(vals)} gradient checks fail")
        else:
            s.append(f"every gradient within {fmt(mx)} of {oracle} ({len(vals)} checks)")
    recon = [float(v) for r in recs if is_finite_num(v := reconstruction_error(r))]
    if recon:
        s.append(f"adjoint reconstruction error up to {fmt(max(recon))}")
    # equal-error cost
    for row in equal_error:
        mine = next((v for v in row["values"] if v["label"] == label and v["value"] is not None), None)
        others = [v for v in row["values"] if v["label"] != label and v["value"] is not None]
        if mine and others:
            ref = min(others, key=lambda v: v["value"])
            unit = "NFE" if row["what"] == "NFE" else "the time"
            s.append(f"at error {fmt(row['target'], 2)} on {row['problem']}: {mine['value'] / ref['value']:.2f}× "
                     f"{unit} of {ref['label']}")
            break
    # memory
    mem = [m for m in memory.get("table", []) if m["label"].startswith(label) and m["saved"]]
    by_label: dict[str, list] = defaultdict(list)
    for m in mem:
        by_label[(m["label"], m["problem"])].append(m)
    for (lab, prob), ms in list(by_label.items())[:2]:
        ms = sorted(ms, key=lambda m: m["depth"])
        if len(ms) >= 2 and ms[0]["saved"] > 0 and ms[-1]["depth"] > ms[0]["depth"]:
            p = math.log(ms[-1]["saved"] / ms[0]["saved"]) / math.log(ms[-1]["depth"] / ms[0]["depth"])
            shape = "constant in depth" if abs(p) < 0.1 else f"growing as depth^{p:.2f}"
            s.append(f"saved bytes {shape} ({fmt_bytes(ms[0]['saved'])} at {fmt(ms[0]['depth'])} steps, "
                     f"{fmt_bytes(ms[-1]['saved'])} at {fmt(ms[-1]['depth'])})")
    # what failed
    fails = [r for r in recs if outcome(r) in BAD]
    if fails:
        msgs = Counter((r.check.removeprefix("test_"), (r.message or r.verdict.value).split(" (")[0]) for r in fails)
        (chk, msg), n = msgs.most_common(1)[0]
        more = f"; {len(fails) - n} other failure(s), see Failures" if len(fails) > n else ""
        s.append(f"{chk}: {msg}" + (f" ({n} checks)" if n > 1 else "") + more)
    if c["skip"]:
        s.append(f"{c['skip']} checks skipped (see Omissions)")
    return s


# ----------------------------------------------------------------------------- appendix


def _header_items(run: RunData) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(versions, run facts) of one file's run, from its run header and run-end marker."""
    h = run.header
    items: list[tuple[str, Any]] = []
    if h is not None:
        v = h.versions or {}
        for k in ("python", "torch", "torchdiffeq", "scipy", "numpy", "ode-harness", "cuda"):
            if k in v:
                items.append((k, v[k] if v[k] is not None else "—"))
        items += [(k, x) for k, x in v.items() if k not in {"python", "torch", "torchdiffeq", "scipy", "numpy",
                                                            "ode-harness", "cuda"}]
    run_items: list[tuple[str, Any]] = []
    if h is not None:
        x = h.extra
        run_items += [("device", h.device or "—"), ("seed", h.seed), ("profile", x.get("profile", "—")),
                      ("implementations", ", ".join(map(str, x.get("impls", []))) or "—"),
                      ("methods", ", ".join(map(str, x.get("methods", []))) or "defaults"),
                      ("claim overrides", fmt(x.get("claims")) if x.get("claims") else "none")]
        if x.get("shard"):
            run_items.append(("shard", x["shard"]))
        run_items += [("command line", " ".join(h.argv)), ("working folder", h.cwd),
                      ("git commit", (h.git_commit or "—") + (" (uncommitted changes)" if h.git_dirty else ""))]
        if x.get("project_commit"):
            run_items.append(("project commit", x["project_commit"]
                              + (" (uncommitted changes)" if x.get("project_dirty") else "")))
        run_items += [("started", h.started_at), ("run id", h.run_id), ("host", h.hostname),
                      ("platform", h.platform)]
    if run.run_end:
        run_items += [("finished", run.run_end.get("finished_at")),
                      ("pytest exit status", run.run_end.get("exitstatus"))]
    return items, run_items


def _appendix(run: RunData) -> dict:
    """The run's headers: one block per file (a merged run of shards has several)."""
    blocks = []
    for part in run.shards or [run]:
        versions, run_items = _header_items(part)
        seeds = sorted({r.seed for r in part.records if r.seed is not None})
        devices = sorted({r.device for r in part.records if r.device})
        run_items += [("seeds in records", ", ".join(map(str, seeds)) or "—"),
                      ("devices in records", ", ".join(devices) or "—"),
                      ("results file", str(part.path)), ("records", len(part.records))]
        blocks.append(dict(title=f"{part.path.name}" + (f" (shard {part.header.extra['shard']})"
                                                        if part.header and part.header.extra.get("shard") else ""),
                           versions=versions, run=run_items))
    return dict(versions=blocks[0]["versions"], run=blocks[0]["run"], headers=len(run.headers),
                blocks=blocks if run.shards else [])


# ----------------------------------------------------------------------------- the page


def _detail_sections(records: list[CheckRecord], cases: list[tuple[str, str]], styles: plots.Styles) -> dict:
    curves = _curves(records)
    return dict(
        error_tables=_error_tables(records, cases),
        convergence=_convergence_figures(records, styles),
        gradients=_gradients(records, cases),
        nfe=_nfe_table(records, cases, curves),
        benchmarks=_benchmarks(records),
        all_checks=_all_checks(records),
    )


def _cross_sections(records: list[CheckRecord], styles: plots.Styles) -> dict:
    curves = _curves(records)
    byp = _by_problem(curves)
    tol_figs = []
    for p, cs in byp.items():
        svg = plots.tolerance_plot(p, cs, styles)
        if svg is not None:
            tol_figs.append(dict(problem=p, svg=svg))
    wp_figs = []
    for p, cs in byp.items():
        svg = plots.work_precision_plot(p, cs, styles)
        if svg is not None:
            wp_figs.append(dict(problem=p, svg=svg, wide=any(c.nfe for c in cs) and any(c.time for c in cs)))
    eq = _equal_error(byp)
    return dict(tolerance=tol_figs, work_precision=wp_figs, equal_error=eq, equal_error_table=_equal_error_table(eq),
                memory=_memory(records, styles))


def render_report(run: RunData, *, split: bool | None = None,
                  fail_on: frozenset[Category] | None = None) -> dict[str, str]:
    """The report's pages: {file name: HTML}. ``split`` None: per-implementation pages when the
    run has more than `SPLIT_AT` records. ``fail_on``: the categories the findings' gate status
    is shown against (None: those the stored diagnosis's gate failed on, else all)."""
    env = _env()
    records = run.records
    impl_order = run.impl_order()
    cases = _order_cases(records, impl_order)
    if split is None:
        split = len(records) > SPLIT_AT
    styles = plots.Styles()
    for c in cases:
        styles(case_label(*c))
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = _summary(run, records, cases)
    cross = _cross_sections(records, styles)
    detail = _detail_sections(records, cases, styles)
    conclusions = []
    for iut in dict.fromkeys(c[0] for c in cases):
        conclusions.append(dict(iut=iut, cases=[dict(label=case_label(*c), anchor=slug(f"case-{c[0]}-{c[1]}"),
                                                     sentences=_conclusion(c, records, detail["convergence"],
                                                                           cross["equal_error"], cross["memory"]))
                                                for c in cases if c[0] == iut]))
    started = run.started()
    common = dict(
        run=run, status=dict(complete=run.complete, reasons=run.incomplete_reasons, warnings=run.warnings),
        generated=generated, started=started.strftime("%Y-%m-%d %H:%M:%S UTC") if started else "—",
        wall_time=run.wall_time(), n_records=len(records),
        profile=run.header.extra.get("profile") if run.header else None,
    )
    pages: dict[str, str] = {}
    impl_pages = []
    if split:
        for iut in dict.fromkeys(c[0] for c in cases):
            recs = [r for r in records if r.iut == iut]
            name = f"impl-{slug(iut)}.html"
            impl_pages.append(dict(iut=iut, href=name, n=len(recs)))
            sub_cases = [c for c in cases if c[0] == iut]
            pages[name] = env.get_template("impl.html.j2").render(
                **common, title=f"ode-harness report — {iut}", iut=iut,
                detail=_detail_sections(recs, sub_cases, styles))
        detail = None
    has_gradients = bool(detail and (detail["gradients"]["rows"] or detail["gradients"]["recon"]))
    has_cost = bool((detail and (detail["nfe"]["rows"] or detail["benchmarks"])) or cross["memory"]["table"])
    index = env.get_template("index.html.j2").render(
        **common, title="ode-harness report", summary=summary, conclusions=conclusions, cross=cross,
        detail=detail, impl_pages=impl_pages, has_gradients=has_gradients, has_cost=has_cost, failures=_failures(records), omissions=_omissions(records),
        findings=findings_context(run, fail_on),
        appendix=_appendix(run))
    pages["index.html"] = index
    return pages


def build_report(results_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 out_dir: str | os.PathLike[str] = "reports", *, split: bool | None = None,
                 allow_mixed: bool = False, fail_on: frozenset[Category] | None = None) -> Path:
    """Write the HTML report of ``results_path`` to ``out_dir/index.html`` (plus
    ``impl-*.html`` for a large run) and return the index's path. ``results_path`` may be several
    files or folders (the shards of a run): they are merged (`harness.report.data.read_runs`,
    refusing overlapping or mixed shards unless ``allow_mixed``). Works on a partial file
    (a run killed midway, a torn last line): the page says the run is incomplete and shows what
    finished. Raises `harness.report.data.ResultsError` (a ValueError, one line) for a missing
    or unreadable results file."""
    run = read_runs(results_path, allow_mixed=allow_mixed)
    pages = render_report(run, split=split, fail_on=fail_on)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("impl-*.html"):  # pages of an earlier, larger report
        if old.name not in pages:
            old.unlink()
    for name, html in pages.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out / name)
    return out / "index.html"
