"""``ode-harness survey`` (harness/survey.py) and its page (harness/report/survey.py).

One small real survey (module fixture): the reference (dopri5) and scipy (RK45) on the
forward-accuracy checks of A3 and the work-precision sweep of mlp-tanh-t, plus a built-in that is not installed and one whose checker
process is killed (SIGKILL), both registered for the test only. The page must list the two
libraries that ran with their results, the missing one as "not installed", the killed one as
"crashed" without losing the others, the versions in the header, a work-precision figure with
both libraries on the same axes, and it must be self-contained in headless Chromium (no console
message, no request, a 1400 px screenshot renders). Chromium as in tests/test_report.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest

import harness.implementations as impls
from harness.evidence import Evidence, Series, SeriesKind
import harness.survey as survey
from harness.cli import main
from harness.report.survey import LibraryStyles, _nfe_points, nfe_depth_plot, render_survey
from harness.report.runend import write_run_end
from harness.results import RunHeader, Verdict, append_record, write_run_header
from tests.test_report import (_chromium, _external_references, _load_in_chromium, _png_size, _rec,
                               _screenshot, _write)

SUBSET = ["--impl", "reference", "--impl", "scipy", "--impl", "nolib", "--impl", "crashy",
          "--method", "dopri5", "--method", "RK45", "--select", "(test_error_at_end and A3) or (test_work_precision and mlp)", "--jobs", "1"]


def _not_installed() -> impls.Implementation:
    raise ImportError("No module named 'nolib'")


@pytest.fixture(scope="module")
def small_survey(tmp_path_factory):
    """The survey of SUBSET, run in this process (its libraries run in child processes)."""
    out = tmp_path_factory.mktemp("survey") / "report"
    mp = pytest.MonkeyPatch()
    mp.setitem(impls.BUILTINS, "nolib", _not_installed)
    mp.setitem(impls.BUILTINS, "crashy", lambda: impls.Implementation(
        "crashy", lambda *a, **k: None, "reference", "a checker that is killed", ("dopri5",), ("dopri5",)))
    real_command = survey.check_command

    def command(lib, ns, results, jobs):  # crashy's checker dies by SIGKILL before writing anything
        if lib.name == "crashy":
            return [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
        return real_command(lib, ns, results, jobs)

    mp.setattr(survey, "check_command", command)
    for k in [k for k in os.environ if k.startswith(("ODE_HARNESS_", "PYTEST_XDIST"))]:
        mp.delenv(k)  # the children are runs of their own
    try:
        code = main(["survey", "--report", str(out), *SUBSET])
    finally:
        mp.undo()
    return dict(code=code, out=out, index=out / "index.html")


@pytest.mark.slow  # the small survey: about 25 s on 2 cores
def test_a_survey_runs_every_library_and_writes_one_page(small_survey):
    assert small_survey["code"] == 0
    out = small_survey["out"]
    manifest = json.loads((out / "results" / survey.MANIFEST).read_text())
    status = {lib["name"]: lib["status"] for lib in manifest["libraries"]}
    assert status == {"reference": "ran", "scipy": "ran", "nolib": "not installed", "crashy": "crashed"}
    crashy = next(lib for lib in manifest["libraries"] if lib["name"] == "crashy")
    assert f"killed by signal {int(signal.SIGKILL)}" in crashy["detail"]
    # each library has its own results file; the crash lost only its own
    for name in ("reference", "scipy"):
        assert (out / "results" / f"{name}.jsonl").stat().st_size > 0
    text = small_survey["index"].read_text()
    assert "not installed" in text and "No module named &#39;nolib&#39;" in text
    assert "crashed" in text and "killed by signal" in text
    for name in ("reference · dopri5", "scipy · RK45"):
        assert name in text
    for lib in ("python", "torch", "numpy", "ode-harness", "scipy"):
        assert re.search(rf"<b>{re.escape(lib)}</b> \d", text), lib  # versions in the header
    # the work-precision sweep on mlp-tanh-t: both libraries on the same axes (NFE, and time)
    figs = re.findall(r"<figure.*?</figure>", re.search(r'id="work-precision".*?</section>', text, re.S).group(0), re.S)
    mlp = [f for f in figs if "work–precision (NFE) — mlp-tanh-t" in f]
    assert len(mlp) == 1 and "reference · dopri5" in mlp[0] and "scipy · RK45" in mlp[0]
    assert "not a gate" in text


@pytest.mark.slow  # the small survey: about 25 s on 2 cores
def test_the_survey_page_is_self_contained_in_chromium(small_survey, tmp_path):
    index = small_survey["index"]
    text = index.read_text()
    assert not _external_references(text), _external_references(text)
    assert "<script" not in text.lower()
    exe = _chromium()
    dom, console, requests = _load_in_chromium(exe, index, tmp_path / "load")
    assert console == [] and requests == [], (console, requests)
    assert "Findings per library" in dom and dom.count("<svg") == text.count("<svg")
    png = tmp_path / "survey.png"
    _screenshot(exe, index, png, tmp_path / "shot")
    assert _png_size(png) == (1400, 1000)


@pytest.mark.slow  # the small survey: about 25 s on 2 cores
def test_rebuild_writes_the_page_from_the_results_files(small_survey, capsys):
    index = small_survey["index"]
    before = index.read_text()
    index.unlink()
    assert main(["survey", "--rebuild", "--report", str(small_survey["out"])]) == 0
    after = index.read_text()
    def strip(s: str) -> str:  # the generation time, and the per-process numbering of SVG ids
        return re.sub(r"\bf\d+-", "f-", re.sub(r"page generated [^<]*", "", s))
    assert strip(after) == strip(before)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow  # the small survey: about 25 s on 2 cores
def test_update_reruns_the_named_libraries_and_keeps_the_others(small_survey, tmp_path):
    out = tmp_path / "report"
    shutil.copytree(small_survey["out"], out)
    # reference offers no method "nosuch": it is not run again, and the other libraries stay
    assert main(["survey", "--update", "--report", str(out), "--impl", "reference", "--method", "nosuch"]) == 0
    manifest = json.loads((out / "results" / survey.MANIFEST).read_text())
    status = {lib["name"]: lib["status"] for lib in manifest["libraries"]}
    assert status == {"reference": "no method selected", "scipy": "ran", "nolib": "not installed", "crashy": "crashed"}
    assert manifest["updated"] == [] and "scipy · RK45" in (out / "index.html").read_text()
    assert main(["survey", "--update", "--report", str(out), "--impl", "scipy", "--profile", "standard"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["--update"], "--update needs the libraries to rerun"),
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--impl", "nosuch"], "unknown built-in implementation 'nosuch'"),
    (["--jobs", "0"], "expected a positive integer"),
    (["--timeout", "-1"], "expected a number of seconds"),
    (["--rebuild"], "no survey manifest"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main(["survey", "--report", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ode-harness: error:") and "\n" not in err and message in err, err


def test_a_report_path_that_is_a_file_is_bad_input(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["survey", "--report", str(f)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_help_says_it_is_a_survey_not_a_gate(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["survey", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not a gate: findings do not fail it" in out and "--profile" in out and "--jobs" in out


def test_discovery_follows_the_registry(monkeypatch):
    monkeypatch.setitem(impls.BUILTINS, "nolib", _not_installed)
    libs = survey.discover()
    assert [lib.name for lib in libs] == list(impls.BUILTINS)  # every registered built-in, in order
    nolib = next(lib for lib in libs if lib.name == "nolib")
    assert nolib.status == survey.NOT_INSTALLED and "not installed" in nolib.detail
    ref = next(lib for lib in libs if lib.name == "reference")
    assert ref.status == survey.NOT_RUN and ref.methods == list(impls.load_implementation("reference").default_methods)
    # an adapter that imports its library only when called is not installed either without it
    monkeypatch.setitem(impls.BUILTINS, "lazy", lambda: impls.Implementation(
        "lazy", lambda *a, **k: None, "nolib_lazy", "imports nolib_lazy when called", ("m",), ("m",)))
    lazy = survey.discover(["lazy"])[0]
    assert lazy.status == survey.NOT_INSTALLED and "module 'nolib_lazy' not found" in lazy.detail
    only = {lib.name: lib for lib in survey.discover(["reference", "scipy"], ["RK45"])}
    assert only["scipy"].methods == ["RK45"] and only["reference"].status == survey.NO_METHODS


def test_merged_results_keep_every_file_and_say_which_is_incomplete(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_rec(check_id="s.c[a]", iut="a")])
    b = _write(tmp_path / "b.jsonl", [_rec(check_id="s.c[b]", iut="b")], end=False)  # killed
    run = survey.load_survey_run([a, b])
    assert sorted(r.iut for r in run.records) == ["a", "b"]
    assert run.incomplete_reasons == [f"{b}: no run-end marker: the run was killed, or is still running"]
    # runs of different settings (each library's own claims) merge without a difference reported
    c = tmp_path / "c.jsonl"
    write_run_header(c, RunHeader(run_id="r2", argv=["x"], versions={"torch": "x"}, device="cpu", seed=0,
                                  extra={"profile": "quick", "claims": {"order": 4}}))
    append_record(c, _rec(check_id="s.c[c]", iut="c"), fsync=False)
    write_run_end(c, exitstatus=0, collected=1, run_id="r2", fsync=False)
    run = survey.load_survey_run([a, c])
    assert sorted(r.iut for r in run.records) == ["a", "c"] and run.incomplete_reasons == []
    assert not any("differs" in w for w in run.warnings), run.warnings


def test_findings_are_grouped_per_library(tmp_path):
    evidence = "measured: error 3e-5 at tol 1e-8 on B4 (issue 7)"
    recs = [_rec(check_id="f[x]", suite="forward_accuracy", iut="libx", method="m1", verdict=Verdict.FAIL,
                 message="error exceeds", extra={"expected_failure": evidence}),
            _rec(check_id="f[y]", suite="forward_accuracy", iut="liby", method="m2", verdict=Verdict.FAIL,
                 message="gradient is off by 2")]
    run = survey.load_survey_run([_write(tmp_path / "r.jsonl", recs)])
    libs = [survey.Library("libx", survey.RAN, methods=["m1"]), survey.Library("liby", survey.RAN, methods=["m2"]),
            survey.Library("libz", survey.NOT_INSTALLED, detail="No module named 'libz'")]
    html = render_survey(run, libs, {"profile": "quick", "versions": {"python": "3"}, "argv": ["x"]})
    cards = dict(re.findall(r'<div class="libcard" id="lib-([a-z]+)">(.*?)(?=<div class="libcard"|</section>)', html, re.S))
    assert set(cards) == {"libx", "liby", "libz"}
    assert evidence in cards["libx"] and "Known findings reproduced: 1 finding, 1 check" in cards["libx"]
    assert "gradient is off by 2" in cards["liby"] and evidence not in cards["liby"]
    assert "No module named &#39;libz&#39;" in cards["libz"]


def test_one_colour_per_library_one_marker_per_method():
    styles = LibraryStyles()
    a1, a2, b1 = styles("liba · m1"), styles("liba · m2"), styles("libb · m1")
    assert a1[0] == a2[0] != b1[0] and a1[1] != a2[1]
    assert styles("liba · m2 (adjoint)") == a2  # memory-plot labels carry the gradient path


def test_nfe_against_depth_draws_every_gradient_path(tmp_path):
    recs = [_rec(check_id=f"b.nfe[{iut}]", suite="benchmarks", check="test_nfe_per_tolerance", iut=iut,
                 method="dopri5", problem="mlp-tanh-t",
                 evidence=Evidence(series=(Series(kind=SeriesKind.NFE_SWEEP, x=[1e-4, 1e-6, 1e-8], y=[20, 38, 80],
                                                  x_label="tolerance", y_label="forward NFE"),)
                                   + (() if bwd is None else (Series(kind=SeriesKind.NFE_BACKWARD_SWEEP,
                                                                     x=[1e-4, 1e-6, 1e-8], y=bwd, x_label="tolerance",
                                                                     y_label="backward NFE"),))))
            for iut, bwd in (("backprop", [0, 0, 0]), ("adjoint", [45, 90, 170]), ("nograd", None))]
    series = _nfe_points(recs)
    assert series["mlp-tanh-t"] == {"backprop · dopri5": [(20, 20), (38, 38), (80, 80)],
                                    "adjoint · dopri5": [(20, 65), (38, 128), (80, 250)]}  # no gradients: no step
    svg = nfe_depth_plot("mlp-tanh-t", series["mlp-tanh-t"], LibraryStyles())
    assert "NFE against depth — mlp-tanh-t" in svg and "backprop · dopri5" in svg and "adjoint · dopri5" in svg


def test_a_library_card_shows_its_stored_diagnosis_with_reproducer_links(tmp_path):
    """The diagnosis `ode-harness check` stored with a library's results: each finding with its
    cause and gate status, its reproducer linked relative to the page (DIR/results/...)."""
    from harness.diagnosis.model import CAUSES, Category, Confidence, Diagnosis, Finding
    from harness.diagnosis.store import write_diagnosis

    results = tmp_path / "results" / "libx.jsonl"
    results.parent.mkdir()
    _write(results, [_rec(check_id="f[x]", suite="forward_accuracy", iut="libx", method="m1", verdict=Verdict.FAIL,
                          message="error exceeds")])
    repro = tmp_path / "results" / "libx-reproducers" / "libx_m1_stage_times.py"
    repro.parent.mkdir()
    repro.write_text("print(1)\n")
    found = Finding(iut="libx", method="m1", cause_key="stage-times", title="stage times are wrong: order 1.0 on B4",
                    category=CAUSES["stage-times"].category, confidence=Confidence.HIGH, checks=("f[x]",),
                    reproducer=str(repro))
    write_diagnosis(results, Diagnosis(findings=(found,)), fail_on=frozenset(Category), run_id=None)
    run = survey.load_survey_run([results])
    lib = survey.Library("libx", survey.RAN, methods=["m1"], results=str(results))
    html = render_survey(run, [lib], {"profile": "quick", "versions": {"python": "3"}, "argv": ["x"]})
    card = html.partition('id="lib-libx"')[2]
    assert "Diagnosis: 1 finding: 1 gating" in card and "stage times are wrong: order 1.0 on B4" in card
    assert '<a href="results/libx-reproducers/libx_m1_stage_times.py">' in card
    assert not _external_references(html), _external_references(html)
