"""The survey view of the report builder: one page comparing every library of an
``ode-harness survey`` (harness/survey.py).

It reuses the run report's pieces (harness/report/build.py): the verdict grid, the per-case
conclusions, the known findings and failures, the work-precision and memory figures, on the same
self-contained base template (inline CSS and SVG, no script, nothing fetched). What it adds:
the libraries' status (ran, not installed, crashed) and versions in the header, findings grouped
per library, one colour per library (a marker per method) across every figure, and the NFE of a
training step against the depth of its forward solve.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from markupsafe import Markup

from ..results import CheckRecord
from . import build, plots
from .data import BAD, RunData, case_label, nfe_sweep_of, outcome

__all__ = ["build_survey_report", "render_survey", "LibraryStyles", "nfe_depth_plot"]

# Failures listed per library before "and N more" (the full list stays in the results files).
FAILURES_SHOWN = 40


class LibraryStyles(plots.Styles):
    """One colour per library, one marker per method of it: ``iut · method[ (path)]`` labels."""

    def __init__(self) -> None:
        super().__init__()
        self._libs: dict[str, int] = {}
        self._methods: dict[str, dict[str, int]] = {}

    def __call__(self, label: str) -> tuple[str, str]:
        iut, _, rest = label.partition(" · ")
        method = rest.split(" (")[0]
        i = self._libs.setdefault(iut, len(self._libs))
        j = self._methods.setdefault(iut, {}).setdefault(method, len(self._methods[iut]))
        return plots.COLORS[i % len(plots.COLORS)], plots.MARKERS[j % len(plots.MARKERS)]


# ----------------------------------------------------------------------------- NFE against depth


def _nfe_points(records: Sequence[CheckRecord]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{problem: {case label: [(forward NFE, forward + backward NFE)]}} from the NFE sweeps of
    the benchmark suite (records with a forward and a backward NFE list of equal length)."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    for r in records:
        if r.check != "test_nfe_per_tolerance" or outcome(r) == "skip":
            continue
        fs, bs = nfe_sweep_of(r)
        if fs is None or bs is None:
            continue
        pts = [(f, f + b) for f, b in zip(fs.y, bs.y) if f > 0]
        if pts:
            out[r.problem or "(no problem)"][case_label(r.iut, r.method)] = sorted(set(pts))
    return out


def nfe_depth_plot(problem: str, series: dict[str, list[tuple[float, float]]],
                   styles: plots.Styles) -> Markup | None:
    """Evaluations of the field for one training step (forward solve, loss, backward pass)
    against the forward NFE (the depth of the graph backprop keeps), every gradient path on the
    same log-log axes; the dotted line is backward = free (NFE = depth)."""
    if not series:
        return None
    import matplotlib

    with matplotlib.rc_context(plots._RC):
        fig = plots._figure()
        ax = fig.add_subplot()
        lo, hi = math.inf, 0.0
        for label, pts in series.items():
            x, y = plots._positive([p[0] for p in pts], [p[1] for p in pts])
            if not len(x):
                continue
            col, mk = styles(label)
            o = np.argsort(x)
            ax.plot(x[o], y[o], marker=mk, color=col, label=plots.text(label))
            lo, hi = min(lo, x.min(), y.min()), max(hi, x.max(), y.max())
        if hi == 0.0:
            return None
        ax.plot([lo, hi], [lo, hi], ":", color="#57606a", lw=1, label="NFE = depth")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("depth: forward NFE")
        ax.set_ylabel("NFE of a training step (forward + backward)")
        ax.set_title(plots.text(f"NFE against depth — {problem}"))
        n = len(series) + 1
        if n > 5:
            fig.set_size_inches(4.6, 3.1 + 0.16 * math.ceil(n / 3))
        plots._legend(fig, ax, n)
        return plots._svg(fig)


# ----------------------------------------------------------------------------- findings per library


def _known_by_evidence(known: list[dict]) -> list[dict]:
    """Known-finding groups of one library merged by their evidence (one finding often covers
    several methods): methods, the checks that failed as known and those that passed."""
    groups: dict[str, dict] = {}
    for k in known:
        g = groups.setdefault(k["evidence"], dict(evidence=k["evidence"], methods=[], failed=[], passed=[]))
        method = k["label"].partition(" · ")[2]
        if method not in g["methods"]:
            g["methods"].append(method)
        g["failed"] += k["failed"]
        g["passed"] += k["passed"]
    return sorted(groups.values(), key=lambda g: -(len(g["failed"]) + len(g["passed"])))


def _library_diagnosis(lib: Any) -> dict | None:
    """The diagnosis ``ode-harness check`` stored with the library's results (its last run):
    the findings with cause, status (gating / known) and the reproducer, linked relative to the
    survey page (DIR/index.html; the results and reproducers are under DIR/results/)."""
    import os

    from ..diagnosis.store import read_diagnoses
    from ..gate import evaluate_gate

    if not getattr(lib, "results", None):
        return None
    try:
        stored = read_diagnoses(lib.results)
    except (OSError, ValueError):
        return None
    if not stored:
        return None
    d = stored[max(stored)]
    gate = evaluate_gate(d.diagnosis, d.fail_on, ())
    page_dir = Path(lib.results).resolve().parent.parent
    entries = []
    for f in gate.ordered():
        repro = None
        if f.reproducer:
            rp = Path(f.reproducer)
            rp = rp if rp.is_absolute() else Path(lib.results).resolve().parent / rp
            repro = os.path.relpath(rp, page_dir) if rp.exists() else None
        entries.append(dict(method=f.method, cause_key=f.cause_key, title=f.title, status=gate.status(f),
                            category=f.category.value, n_checks=len(f.checks), reproducer=repro))
    return dict(headline=gate.headline(), entries=entries)


def _library_findings(libs: Sequence[Any], records: list[CheckRecord], failures: dict,
                      conclusions: dict[tuple[str, str], list[str]], cases: list[tuple[str, str]]) -> list[dict]:
    by_iut: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        by_iut[r.iut][outcome(r)] += 1
    out = []
    for lib in libs:
        known = _known_by_evidence([k for k in failures["known"] if k["label"].split(" · ")[0] == lib.name])
        bad = [f for f in failures["failures"] if f["label"].split(" · ")[0] == lib.name]
        kinds = Counter((f["label"].partition(" · ")[2], (f["message"] or f["outcome"]).split(" (")[0][:200])
                        for f in bad)
        out.append(dict(
            name=lib.name, status=lib.status, version=lib.version, detail=lib.detail,
            counts=build._cell(by_iut.get(lib.name, Counter())), known=known, diagnosis=_library_diagnosis(lib),
            n_known=sum(len(k["failed"]) for k in known),
            n_failures=len(bad), failures=bad[:FAILURES_SHOWN], more=max(0, len(bad) - FAILURES_SHOWN),
            failure_kinds=kinds.most_common(8), other_kinds=max(0, len(kinds) - 8),
            cases=[dict(label=case_label(*cs), method=cs[1], sentences=conclusions.get(cs, []))
                   for cs in cases if cs[0] == lib.name],
        ))
    return out


# ----------------------------------------------------------------------------- the page


def _library_rows(libs: Sequence[Any], summary: dict, run: RunData) -> list[dict]:
    rows_by_iut: dict[str, list[dict]] = defaultdict(list)
    for row in summary["rows"]:
        rows_by_iut[row["iut"]].append(row)
    out = []
    for lib in libs:
        out.append(dict(name=lib.name, status=lib.status, version=lib.version, distribution=lib.distribution,
                        description=lib.description, detail=lib.detail, methods=lib.methods,
                        wall_s=lib.wall_s, exit_code=lib.exit_code, rows=rows_by_iut.get(lib.name, []),
                        results=Path(lib.results).name if lib.results else None,
                        command=" ".join(lib.command)))
    return out


def render_survey(run: RunData, libs: Sequence[Any], info: dict[str, Any]) -> str:
    """The survey page (HTML) of `run` (the libraries' records read together), `libs` (each
    library's `harness.survey.Library`: status, version, methods, time) and `info` (profile,
    versions, command line, times)."""
    env = build._env()
    records = run.records
    cases = build._order_cases(records, [lib.name for lib in libs])
    styles = LibraryStyles()
    for c in cases:
        styles(case_label(*c))
    summary = build._summary(run, records, cases)
    cross = build._cross_sections(records, styles)
    convergence = build._convergence_figures(records, styles, draw=False)  # the observed orders
    conclusions = {c: build._conclusion(c, records, convergence, cross["equal_error"], cross["memory"])
                   for c in cases}
    failures = build._failures(records)
    # Work-precision figures with every library first: the forward-accuracy problems carry
    # costs only of the libraries that report their own NFE (stats), the benchmark sweeps of all.
    on_axes = {p: {c.iut for c in cs if c.nfe or c.time} for p, cs in build._by_problem(build._curves(records)).items()}
    wp = sorted(cross["work_precision"], key=lambda f: -len(on_axes.get(f["problem"], ())))
    most = len(on_axes.get(wp[0]["problem"], ())) if wp else 0
    wp_main = [f for f in wp if len(on_axes.get(f["problem"], ())) == most]
    wp_more = [dict(f, libs=sorted(on_axes.get(f["problem"], ()))) for f in wp if f not in wp_main]
    nfe_figs = [dict(problem=p, svg=svg) for p, s in _nfe_points(records).items()
                if (svg := nfe_depth_plot(p, s, styles)) is not None]
    installed = [lib for lib in libs if lib.status not in ("not installed",)]
    page = env.get_template("survey.html.j2").render(
        title="ode-harness survey: ODE solvers for PyTorch",
        status=dict(complete=run.complete, reasons=run.incomplete_reasons, warnings=run.warnings),
        run=run, info=info, versions=list((info.get("versions") or {}).items()),
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        libraries=_library_rows(libs, summary, run), n_installed=len(installed),
        summary=summary, cross=cross, nfe_figs=nfe_figs, wp_main=wp_main, wp_more=wp_more, wp_most=most,
        findings=_library_findings(libs, records, failures, conclusions, cases),
        omissions=build._omissions(records), n_records=len(records),
        n_bad=sum(outcome(r) in BAD for r in records),
    )
    return page


def build_survey_report(run: RunData, libs: Sequence[Any], info: dict[str, Any],
                        out_dir: str | Path) -> Path:
    """Write ``out_dir/index.html`` (the survey page) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_survey(run, libs, info)
    tmp = out / ".index.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out / "index.html")
    return out / "index.html"
