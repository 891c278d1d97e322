"""The report's figures: matplotlib, drawn off-screen and returned as inline SVG text.

Figures are built on `matplotlib.figure.Figure` (no pyplot state, no GUI); text stays text in the
SVG (``svg.fonttype = none``), drawn by the browser with its own sans-serif font, so nothing is
fetched. Each SVG gets its own id prefix, so that several figures can share one HTML page.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import sys
from typing import Sequence

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # headless; never switch a backend someone chose
    matplotlib.use("Agg")

import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure

from .data import Convergence, Curve, MemoryPoint

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ode-harness-report",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.5,
}
COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#9a6700",
          "#bf3989", "#57606a", "#0550ae", "#6639ba", "#116329"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]

_counter = itertools.count(1)


def text(s: object) -> str:
    """A label for matplotlib: no mathtext (``$``), not hidden from legends (leading ``_``)."""
    s = str(s).replace("$", r"\$")
    return "\u200b" + s if s.startswith("_") else s


class Styles:
    """The same colour and marker for the same label across all figures of a report."""

    def __init__(self) -> None:
        self._map: dict[str, tuple[str, str]] = {}

    def __call__(self, label: str) -> tuple[str, str]:
        if label not in self._map:
            i = len(self._map)
            self._map[label] = (COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)])
        return self._map[label]


def _svg(fig: Figure) -> Markup:
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05)
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"<metadata>.*?</metadata>\s*", "", s, flags=re.S)
    # one id namespace per figure
    prefix = f"f{next(_counter)}-"
    ids = set(re.findall(r'\bid="([^"]+)"', s))
    s = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', s)
    s = re.sub(r'(url\(#|href="#)([^)"]+)',
               lambda m: m.group(1) + (prefix + m.group(2) if m.group(2) in ids else m.group(2)), s)
    # scale with the page: keep the viewBox, let CSS size it
    s = re.sub(r'^<svg([^>]*?)\swidth="[^"]*"\s+height="[^"]*"', r'<svg\1 class="plot"', s, count=1)
    return Markup(s)


def _legend(fig: Figure, ax, n: int) -> None:
    """In the axes when there are few entries; below the figure, in columns, when many."""
    if n <= 5:
        ax.legend(loc="best", frameon=False)
    else:
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3 if n > 6 else 2, frameon=False)


def _figure(w: float = 4.6, h: float = 3.1) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(w, h), layout="constrained")


def _positive(xs: Sequence[float], ys: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    return x[ok], y[ok]


def convergence_plot(cv: Convergence, styles: Styles) -> Markup | None:
    """log-log error against step size; points in the fit filled, the others hollow; the fitted
    slope and the claimed order drawn as lines through the fit."""
    x, e = np.asarray(cv.x, float), np.asarray(cv.errors, float)
    ok = np.isfinite(x) & np.isfinite(e) & (x > 0) & (e > 0)
    if ok.sum() < 2:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(4.2, 3.0)
        ax = fig.add_subplot()
        color, _ = styles(f"{cv.rec.iut} · {cv.rec.method}")
        used = [i for i in (cv.used or []) if ok[i]]
        unused = [i for i in range(len(x)) if ok[i] and i not in used]
        order = np.argsort(-x)
        ax.plot(x[order][ok[order]], e[order][ok[order]], color=color, lw=0.8, alpha=0.5, zorder=1)
        if used:
            ax.plot(x[used], e[used], "o", color=color, label=f"in the fit ({len(used)})", zorder=3)
        if unused:
            ax.plot(x[unused], e[unused], "o", mfc="white", color=color,
                    label="not in the fit" if used else "measured", zorder=3)
        fit_idx = used if len(used) >= 2 else [i for i in range(len(x)) if ok[i]]
        lx, le = np.log(x[fit_idx]), np.log(e[fit_idx])
        xs = np.array([x[fit_idx].min(), x[fit_idx].max()])
        if cv.slope is not None and math.isfinite(cv.slope):
            c = float(np.mean(le - cv.slope * lx))
            ax.plot(xs, np.exp(c) * xs ** cv.slope, "-", color="#24292f", lw=1.1,
                    label=f"fitted slope {cv.slope:.3g}", zorder=2)
        if cv.claimed is not None:
            c = float(np.mean(le - cv.claimed * lx))
            ax.plot(xs, np.exp(c) * xs ** cv.claimed, "--", color="#cf222e", lw=1.1,
                    label=f"claimed order {cv.claimed:g}", zorder=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(text(cv.x_label))
        ax.set_ylabel(text(cv.error_key))
        ax.set_title(text(f"{cv.rec.iut} · {cv.rec.method} — {cv.rec.problem or cv.rec.check}"))
        ax.legend(loc="best", frameon=False)
        return _svg(fig)


def tolerance_plot(problem: str, curves: list[Curve], styles: Styles) -> Markup | None:
    """Achieved error against the requested tolerance, one line per implementation, with
    error = tol and the fitted slope of each curve."""
    curves = [c for c in curves if c.tol]
    if not curves:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = fig.add_subplot()
        lo, hi = math.inf, 0.0
        drawn = 0
        for c in curves:
            t, e = _positive(c.tol, c.errors)  # type: ignore[arg-type]
            if len(t) < 2:
                continue
            col, mk = styles(c.label)
            p = float(np.polyfit(np.log(t), np.log(e), 1)[0])
            o = np.argsort(t)
            ax.plot(t[o], e[o], marker=mk, color=col, label=text(f"{c.label} (slope {p:.2f})"))
            lo, hi = min(lo, t.min()), max(hi, t.max())
            drawn += 1
        if not drawn:
            return None
        ref = np.array([lo, hi])
        ax.plot(ref, ref, ":", color="#57606a", lw=1, label="error = tol")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("requested rtol = atol")
        ax.set_ylabel("achieved error")
        ax.set_title(text(f"tolerance proportionality — {problem}"))
        if drawn > 5:
            fig.set_size_inches(4.6, 3.1 + 0.16 * math.ceil((drawn + 1) / 3))
        _legend(fig, ax, drawn + 1)
        return _svg(fig)


def _time_spread(c: Curve) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(errors, median times, first quartiles, third quartiles, unresolved) of a curve's points
    with a positive error and time, in error order; None when the curve has no spread recorded.
    A point is unresolved when its interquartile range is wider than the gap to a neighbour's
    median (`spread_exceeds_gaps`, on log time: the axis the plot draws)."""
    if not (c.time and c.time_lo and c.time_hi):
        return None
    from ..measure.timing import spread_exceeds_gaps  # lazily: harness.measure imports torch

    e, y = np.asarray(c.errors, float), np.asarray(c.time, float)
    lo, hi = np.asarray(c.time_lo, float), np.asarray(c.time_hi, float)
    ok = np.isfinite(e) & np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi) & (e > 0) & (y > 0) & (lo > 0)
    e, y, lo, hi = e[ok], y[ok], lo[ok], hi[ok]
    o = np.argsort(e)
    e, y, lo, hi = e[o], y[o], lo[o], hi[o]
    unresolved = np.array(spread_exceeds_gaps(list(np.log(y)), list(np.log(lo)), list(np.log(hi))), dtype=bool)
    return e, y, lo, hi, unresolved


def _time_with_spread(ax, c: Curve, col: str, mk: str) -> tuple[bool, bool]:
    """The time panel's curve: medians joined, IQR error bars, unresolved points hollow with a
    ring. Returns (drawn, any point unresolved)."""
    sp = _time_spread(c)
    if sp is None or len(sp[0]) < 1:
        return False, False
    e, y, lo, hi, bad = sp
    ax.errorbar(e, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], marker=mk, color=col, capsize=2,
                elinewidth=0.8, label=text(c.label))
    if bad.any():
        ax.plot(e[bad], y[bad], mk, mfc="white", color=col, zorder=4)
        ax.plot(e[bad], y[bad], "o", ms=11, mfc="none", mec="#cf222e", mew=0.9, zorder=5)
    return True, bool(bad.any())


def work_precision_plot(problem: str, curves: list[Curve], styles: Styles) -> Markup | None:
    """Cost against achieved error, every implementation on the same axes: NFE, and wall time
    where measured (two panels). Times measured repeatedly are drawn as medians with their
    interquartile range; a point whose range is wider than the gap to a neighbouring point's
    median is drawn hollow in a red ring ("spread > gap"): the step to it is within the noise."""
    has_nfe = [c for c in curves if c.nfe]
    has_time = [c for c in curves if c.time]
    panels = [(k, cs) for k, cs in (("NFE", has_nfe), ("wall time [s]", has_time)) if cs]
    if not panels:
        return None
    with matplotlib.rc_context(_RC):
        n_curves = len({c.label for _, cs in panels for c in cs})
        extra_h = 0.16 * math.ceil(n_curves / (3 if n_curves > 6 else 2)) if n_curves > 5 else 0.0
        fig = _figure(4.6 * len(panels), 3.1 + extra_h)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        drawn = 0
        for ax, (what, cs) in zip(axes, panels):
            unresolved = False
            for c in cs:
                if what != "NFE":
                    done, bad = _time_with_spread(ax, c, *styles(c.label))
                    unresolved = unresolved or bad
                    if done:
                        drawn += 1
                        continue
                cost = c.nfe if what == "NFE" else c.time
                e, y = _positive(c.errors, cost)  # type: ignore[arg-type]
                if len(e) < 1:
                    continue
                col, mk = styles(c.label)
                o = np.argsort(e)
                ax.plot(e[o], y[o], marker=mk, color=col, label=text(c.label))
                drawn += 1
            if unresolved:
                ax.plot([], [], "o", ms=8, mfc="none", mec="#cf222e", mew=0.9, label="spread (IQR) > gap to a neighbour")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("achieved error")
            ax.set_ylabel(what if what == "NFE" or not any(c.time_lo for c in cs) else "wall time [s], median and IQR")
            ax.set_title(text(f"work–precision ({'NFE' if what == 'NFE' else 'time'}) — {problem}"))
        if not drawn:
            return None
        if n_curves <= 5:
            for ax in axes:
                ax.legend(loc="best", frameon=False)
        else:  # one legend for both panels, below them
            seen: dict[str, object] = {}
            for ax in axes:
                for h, lab in zip(*ax.get_legend_handles_labels()):
                    seen.setdefault(lab, h)
            fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                       ncols=min(4 if len(panels) > 1 else 3, len(seen)), frameon=False)
        return _svg(fig)


def memory_plot(problem: str, points: list[MemoryPoint], styles: Styles) -> Markup | None:
    """Bytes saved for backward (solid) and GPU peak (dashed) against depth, per gradient path."""
    by_label: dict[str, list[MemoryPoint]] = {}
    for p in points:
        by_label.setdefault(p.label, []).append(p)
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = fig.add_subplot()
        drawn = 0
        for label, pts in by_label.items():
            pts = sorted(pts, key=lambda p: p.depth)
            col, mk = styles(label)
            for attr, ls, suffix in (("saved_bytes", "-", "saved"), ("peak_bytes", "--", "GPU peak")):
                d, b = _positive([p.depth for p in pts if getattr(p, attr) is not None],
                                 [getattr(p, attr) for p in pts if getattr(p, attr) is not None])
                if len(d):
                    ax.plot(d, b, ls, marker=mk, color=col, label=text(f"{label} — {suffix}"))
                    drawn += 1
        if not drawn:
            return None
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("depth: fixed steps, or forward NFE (adaptive)")
        ax.set_ylabel("bytes")
        ax.set_title(text(f"memory against depth — {problem}" if problem else "memory against depth"))
        if drawn > 5:
            fig.set_size_inches(4.6, 3.1 + 0.16 * math.ceil(drawn / 2))
        _legend(fig, ax, drawn)
        return _svg(fig)
