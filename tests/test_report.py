"""The HTML report and the comparison of runs (harness.report).

Acceptance, on real runs of the forward-accuracy suite (subprocesses, problem A3, dopri5):

1. the report of a real run opens in headless Chromium with no console message, every plot
   present, no request leaving the file; a screenshot of the summary is saved;
2. an implementation whose exception message is ``<script>alert(1)</script>`` shows as text;
3. a run killed midway (SIGKILL; then also a torn last line) gives a report that says it is
   incomplete and shows what finished;
4. ``compare`` of a run against a run with a seeded bug exits non-zero and names the regressions.

Chromium is the Debian package ``chromium`` (``apt-get update && apt-get install -y chromium``);
without it the browser checks fail under CI (``$CI`` set) and are skipped elsewhere.
``ODE_HARNESS_SAVE_SCREENSHOT=1`` also copies the screenshot to reports/summary.png.
"""

from __future__ import annotations

import dataclasses
import html.parser
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from markupsafe import escape

from harness.evidence import (Comparison, Derivation, Evidence, Expectation, Quantity, Scalar, Series,
                              SeriesKind)
from harness.report import build_report, compare, main_compare, main_report
from harness.report.data import read_run
from harness.report.runend import read_run_ends, write_run_end
from harness.results import CheckRecord, RunHeader, Verdict, append_record, load_records, write_run_header

ROOT = Path(__file__).resolve().parents[1]
SEEDED = "tests.fixtures.report_impls:seeded_odeint"
XSS = "tests.fixtures.report_impls:xss_odeint"
SLOW = "tests.fixtures.report_impls:slow_odeint"
XSS_MESSAGE = "<script>alert(1)</script>"
INSTALL_CHROMIUM = "apt-get update && apt-get install -y chromium"


# ----------------------------------------------------------------------------- helpers


def _suite_cmd(results: Path, *impls: str, k: str = "A3") -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "suites/test_forward_accuracy.py", "-q", "-p", "no:cacheprovider",
           "-k", k, "--ode-method", "dopri5",
           "--ode-results", str(results)]
    for i in impls:
        cmd += ["--ode-impl", i]
    return cmd


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a nested run: none of this session's run id, results path or xdist ids."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ODE_HARNESS_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    env.update(extra)
    return env


def _run_suite(results: Path, *impls: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(_suite_cmd(results, *impls), cwd=ROOT, env=env or _clean_env(),
                          capture_output=True, text=True, timeout=600)
    assert results.exists(), f"the run wrote no results file:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _chromium() -> str:
    for name in (os.environ.get("ODE_HARNESS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name) if name else None
        if exe:
            return exe
    msg = f"Chromium not found; install the Debian package: {INSTALL_CHROMIUM}"
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _chromium_args(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
            f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps"]


def _page_requests(netlog: Path) -> list[str]:
    """URLs of network requests the page made (from Chromium's net log): those whose isolation key
    or initiator is the file:// page, not the browser's own background requests."""
    text = netlog.read_text(errors="replace")
    try:
        data = json.loads(text)
    except ValueError:  # a log cut short: close it
        data = json.loads(text.rstrip().rstrip(",") + "]}")
    out = []
    for ev in data.get("events", []):
        p = ev.get("params") or {}
        url = p.get("url")
        if not isinstance(url, str) or url.startswith(("file:", "data:")):
            continue
        if "file://" in str(p.get("network_isolation_key", "")) or p.get("initiator") in ("null", "file://"):
            out.append(url)
    return sorted(set(out))


def _load_in_chromium(exe: str, page: Path, tmp: Path) -> tuple[str, list[str], list[str]]:
    """(DOM after load, console messages, page requests) of ``page`` in headless Chromium."""
    tmp.mkdir(parents=True, exist_ok=True)
    netlog = tmp / "netlog.json"
    cmd = [exe, *_chromium_args(tmp / "profile"), "--enable-logging=stderr", "--v=0",
           f"--log-net-log={netlog}", "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and "<html" in proc.stdout, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    console = [ln for ln in proc.stderr.splitlines() if re.search(r":CONSOLE[:(]", ln)]
    return proc.stdout, console, _page_requests(netlog)


def _screenshot(exe: str, page: Path, png: Path, profile: Path) -> None:
    cmd = [exe, *_chromium_args(profile), f"--screenshot={png}", "--window-size=1400,1000", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert png.exists() and png.stat().st_size > 10_000, f"no screenshot: {proc.stderr[-2000:]}"


def _png_size(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


class _Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text.append(data)


def _tags(text: str) -> _Tags:
    p = _Tags()
    p.feed(text)
    return p


def _external_references(text: str) -> list[str]:
    """Anything in the page that would make the browser fetch: src/href/xlink:href other than
    in-page anchors, data: URIs and the report's own pages; CSS url() and @import."""
    out = []
    for tag, attrs in _tags(text).tags:
        for name in ("src", "href", "xlink:href", "srcset", "poster", "action", "data"):
            v = attrs.get(name)
            if v is None or (tag == "svg" and name == "data"):
                continue
            if v.startswith("#") or v.startswith("data:") or re.fullmatch(r"(index|impl-[a-z0-9-]+)\.html(#.*)?", v):
                continue
            if tag == "a" and name == "href" and re.fullmatch(r"[A-Za-z0-9_./-]+\.py", v) and ".." not in v:
                continue  # a finding's reproducer script beside the page: a link, never fetched
            out.append(f"<{tag} {name}={v!r}>")
    out += [m for m in re.findall(r"url\(\s*['\"]?([^)'\"]+)", text) if not m.startswith(("#", "data:"))]
    out += re.findall(r"@import[^;]*", text)
    return out


# ----------------------------------------------------------------------------- the real runs


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """Two real runs of the forward suite on A3 with dopri5: the reference, a wrapper of it
    (`seeded_odeint`) and an implementation that raises markup (`xss_odeint`); the second run
    with the wrapper's seeded bug switched on."""
    d = tmp_path_factory.mktemp("runs")
    t0 = time.perf_counter()
    good, bad = d / "good.jsonl", d / "bad.jsonl"
    _run_suite(good, "reference", SEEDED, XSS)
    _run_suite(bad, "reference", SEEDED, XSS, env=_clean_env(ODE_HARNESS_SEEDED_BUG="1"))
    return dict(good=good, bad=bad, dir=d, seconds=time.perf_counter() - t0)


@pytest.fixture(scope="module")
def good_report(real_runs):
    out = real_runs["dir"] / "report-good"
    index = build_report(real_runs["good"], out)
    return index


def test_report_of_a_real_run_in_chromium(real_runs, good_report, tmp_path):
    res = load_records(real_runs["good"])
    assert res.records and not res.torn_tail and not res.torn_lines and read_run_ends(real_runs["good"])
    verdicts = {r.verdict.value for r in res.records}
    assert "pass" in verdicts and "error" in verdicts  # the reference passes, xss_odeint errors
    html_text = good_report.read_text()
    assert "INCOMPLETE" not in html_text and "Run complete" in html_text
    # A3 with two tolerances, three implementations: one tolerance-proportionality plot and one
    # work-precision plot (the reference and its wrapper report NFE; xss_odeint has no data)
    tol_problems = {r.problem for r in res.records if r.check == "test_error_at_end" and r.verdict.value == "pass"}
    expected_svgs = 2 * len(tol_problems)
    assert expected_svgs == 2
    assert html_text.count("<svg") == expected_svgs
    assert not _external_references(html_text), _external_references(html_text)
    assert "<script" not in html_text.lower()

    exe = _chromium()
    # the probes catch what they are meant to catch: a control page with a console error and
    # an external image
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                       '<script>console.error("control-error")</script></body></html>')
    _, console, requests = _load_in_chromium(exe, control, tmp_path / "control")
    assert any("control-error" in c for c in console), console
    assert any("127.0.0.1:9" in u for u in requests), requests

    dom, console, requests = _load_in_chromium(exe, good_report, tmp_path / "report")
    assert console == [], console
    assert requests == [], requests
    assert dom.count("<svg") == expected_svgs
    assert len(re.findall(r'<svg[^>]*class="plot"', dom)) == expected_svgs
    assert "Summary" in dom and "Tolerance proportionality" in dom and "Work–precision" in dom
    for iut in ("reference", SEEDED, XSS):
        assert iut in dom

    png = tmp_path / "summary.png"
    _screenshot(exe, good_report, png, tmp_path / "shot-profile")
    assert _png_size(png) == (1400, 1000)
    if os.environ.get("ODE_HARNESS_SAVE_SCREENSHOT"):
        (ROOT / "reports").mkdir(exist_ok=True)
        shutil.copyfile(png, ROOT / "reports" / "summary.png")


def test_markup_in_an_exception_message_is_text(real_runs, good_report, tmp_path):
    res = load_records(real_runs["good"])
    errors = [r for r in res.records if r.iut == XSS and r.verdict.value == "error"]
    assert errors and all(XSS_MESSAGE in r.message for r in errors)
    text = good_report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert XSS_MESSAGE not in text
    parsed = _tags(text)
    assert not [t for t, _ in parsed.tags if t == "script"]
    assert not any("alert" in s for s in parsed.script_text)
    exe = _chromium()
    dom, console, _ = _load_in_chromium(exe, good_report, tmp_path / "xss")
    assert console == []
    assert not [t for t, _ in _tags(dom).tags if t == "script"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown, as text


def test_a_run_killed_midway_is_reported_incomplete(tmp_path):
    results = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(_suite_cmd(results, SLOW, k="A3 or B4"), cwd=ROOT,
                            env=_clean_env(ODE_HARNESS_SLOW_IUT="1.0"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and len(load_records(results, missing_ok=True).records) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finished = load_records(results).records
    assert len(finished) >= 2 and not read_run_ends(results)

    index = build_report(results, tmp_path / "report")
    text = index.read_text()
    assert "INCOMPLETE RUN" in text and "no run-end marker" in text
    for r in finished:
        assert str(escape(r.check_id)) in text
    assert f"{len(finished)} checks recorded" in text

    # the same file with a torn last line, as a writer killed mid-record leaves it
    torn = tmp_path / "torn.jsonl"
    line = finished[-1].to_json()
    torn.write_bytes(results.read_bytes() + line[: len(line) // 2].encode())
    text = build_report(torn, tmp_path / "report-torn").read_text()
    assert "INCOMPLETE RUN" in text and "the last line is torn" in text
    assert f"{len(finished)} checks recorded" in text


def test_compare_names_the_seeded_regression(real_runs, capsys):
    cmp = compare(real_runs["good"], real_runs["bad"])
    assert cmp.exit_code == 1
    kinds = {c.kind for c in cmp.regressions}
    assert {"new failure", "error grown"} <= kinds
    assert all("seeded_odeint" in c.check_id for c in cmp.regressions)  # the reference did not move
    end = next(c for c in cmp.regressions if c.kind == "error grown"
               and c.check_id.startswith("forward_accuracy.test_error_at_end[A3-tol=1e-08"))
    assert end.new > 2 * end.old
    assert compare(real_runs["good"], real_runs["good"]).exit_code == 0
    assert main_compare([str(real_runs["good"]), str(real_runs["bad"])]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION new failure" in out and "seeded_odeint" in out
    assert main_compare([str(real_runs["good"]), str(real_runs["good"])]) == 0
    # and the report of the bad run lists the failures with their reproducers
    text = build_report(real_runs["bad"], real_runs["dir"] / "report-bad").read_text()
    assert "exceeds" in text and "python -m pytest" in text and "--ode-impl" in text


# ----------------------------------------------------------------------------- synthetic records


def _rec(**kw) -> CheckRecord:
    base = dict(check_id="s.c", suite="s", check="c", iut="impl", method="m", problem="P",
                dtype="float64", device="cpu", verdict=Verdict.PASS, seed=0)
    base.update(kw)
    return CheckRecord(**base)


def _write(path: Path, records: list[CheckRecord], *, header: bool = True, end: bool = True) -> Path:
    if header:
        write_run_header(path, RunHeader(run_id="r1", argv=["pytest", "suites"], versions={"torch": "x"},
                                         device="cpu", seed=0, extra={"profile": "quick"}))
    for r in records:
        append_record(path, r, fsync=False)
    if end:
        write_run_end(path, exitstatus=0, collected=len(records), run_id="r1", fsync=False)
    return path


def _ev(*series: Series, exp: Expectation | None = None, scalars: tuple = (), **kw) -> Evidence:
    """Typed evidence; the expectation's value is a scalar too, as `Check` records it."""
    sc = list(scalars)
    if exp is not None and not any(x.name == exp.quantity for x in sc):
        sc.append(Scalar(name=exp.quantity, value=exp.value, kind=exp.kind))
    return Evidence(series=series, expectation=exp, scalars=tuple(sc), **kw)


def _err_le(name: str, value: float, thr: float, kind: Quantity = Quantity.ERROR, tol: float | None = None):
    return Expectation(quantity=name, kind=kind, comparison=Comparison.LE, value=value, threshold=thr, reason="r",
                       derivation=None if tol is None else Derivation(tolerance=tol))


def _synthetic(path: Path, *, slope: float = 3.99, err_scale: float = 1.0, nfe: int = 100,
               saved: int = 1000, verdict: str = "pass", schema: int = 2) -> Path:
    """The same run as typed (schema 2) records, or with ``schema=1`` as the free-form
    measured keys of schema 1 (read through the legacy adapter)."""
    h = [0.1, 0.05, 0.025, 0.0125, 0.00625]
    errs = [err_scale * 2e-2 * x ** 4 for x in h]
    depth = [10, 100, 1000]
    v2 = [
        _ev(Series(kind=SeriesKind.CONVERGENCE, x=h, y=errs, x_label="step size h", y_label="errors",
                   used=[1, 2, 3, 4], slope=slope),
            exp=Expectation(quantity="observed_order", kind=Quantity.ORDER, comparison=Comparison.WITHIN,
                            value=slope, target=4, threshold=0.2, reason="within 0.2 of the claimed order")),
        _ev(exp=_err_le("error", err_scale * 3e-7, 1e-5, tol=1e-6),
            scalars=(Scalar(name="nfe", value=nfe, kind=Quantity.NFE),)),
        _ev(exp=_err_le("error", err_scale * 4e-9, 1e-7, tol=1e-8),
            scalars=(Scalar(name="nfe", value=2 * nfe, kind=Quantity.NFE),)),
        _ev(exp=_err_le("grad_rel_error", 2e-9, 1e-6, Quantity.GRADIENT_ERROR), gradient_wrt="y0",
            oracle="finite differences"),
        _ev(exp=_err_le("grad_rel_error", 5e-9, 1e-6, Quantity.GRADIENT_ERROR), gradient_wrt="params",
            oracle="finite differences"),
        _ev(Series(kind=SeriesKind.MEMORY_DEPTH, x=depth, y=[saved] * 3, x_label="steps", y_label="saved bytes"),
            scalars=(Scalar(name="reconstruction_error", value=3e-10, kind=Quantity.RECONSTRUCTION_ERROR),)),
        _ev(Series(kind=SeriesKind.MEMORY_DEPTH, x=depth, y=[saved, 10 * saved, 100 * saved], x_label="steps",
                   y_label="saved bytes")),
        _ev(scalars=tuple(Scalar(name=k, value=v, kind=Quantity.SECONDS, unit="s") for k, v in
                          (("mean", 0.012), ("median", 0.011), ("min", 0.010), ("stddev", 0.001)))
            + (Scalar(name="rounds", value=20, kind=Quantity.COUNT),)),
        None,
        _ev(exp=_err_le("max_diff", 1e-3, 1e-12, Quantity.OTHER)),
    ]
    v1 = [
        dict(measured={"h": h, "errors": errs, "used": [1, 2, 3, 4], "observed_order": slope, "observed_order_target": 4}),
        dict(measured={"tol": 1e-6, "nfe": nfe, "error": err_scale * 3e-7}),
        dict(measured={"tol": 1e-8, "nfe": 2 * nfe, "error": err_scale * 4e-9}),
        dict(measured={"group": "y0", "oracle": "finite differences", "grad_rel_error": 2e-9}),
        dict(measured={"group": "params", "oracle": "finite differences", "grad_rel_error": 5e-9}),
        dict(measured={"depths": depth, "saved_bytes": [saved, saved, saved], "reconstruction_error": 3e-10}),
        dict(measured={"depths": depth, "saved_bytes": [saved, 10 * saved, 100 * saved]}),
        dict(measured={"benchmark": {"mean": 0.012, "median": 0.011, "min": 0.010, "stddev": 0.001, "rounds": 20}}),
        dict(),
        dict(measured={"max_diff": 1e-3}),
    ]
    recs = [
        _rec(check_id="convergence.order[rk4]", suite="convergence", check="test_order", method="rk4",
             problem="A1", threshold=0.2, threshold_reason="within 0.2 of the claimed order",
             extra={"claims": {"order": 4, "adaptive": False}}),
        _rec(check_id="forward.err[tol=1e-06]", suite="forward_accuracy", check="test_error_at_end",
             threshold=1e-5, threshold_reason="10x baseline", verdict=verdict,
             message="" if verdict == "pass" else "error = 3e-5 exceeds 1e-5",
             reproducer="import pytest\npytest.main(['suites/x.py::t[a]', '--ode-impl', 'impl'])"),
        _rec(check_id="forward.err[tol=1e-08]", suite="forward_accuracy", check="test_error_at_end",
             threshold=1e-7, threshold_reason="10x baseline"),
        _rec(check_id="grad.fd[y0]", suite="gradients", check="test_grad_vs_fd", problem="mlp", threshold=1e-6),
        _rec(check_id="grad.fd[params]", suite="gradients", check="test_grad_vs_fd", problem="mlp", threshold=1e-6),
        _rec(check_id="bench.memory", suite="benchmarks", check="test_memory", iut="impl-adjoint", problem="mlp"),
        _rec(check_id="bench.memory_bp", suite="benchmarks", check="test_memory", problem="mlp"),
        _rec(check_id="bench.time", suite="benchmarks", check="test_wall", problem="mlp"),
        _rec(check_id="props.skip", suite="properties", check="test_prop", verdict=Verdict.SKIP,
             message="impl-m: float32 not claimed"),
        _rec(check_id="props.hyp", suite="properties", check="test_prop2", verdict=Verdict.FAIL,
             message="batch element differs\nFalsifying example: test_prop2(y0=[0.0, 1e308])", threshold=1e-12,
             reproducer="import pytest\npytest.main(['suites/x.py::t[a]', '--ode-impl', 'impl'])"),
    ]
    if schema == 2:
        recs = [dataclasses.replace(r, evidence=e) for r, e in zip(recs, v2)]
        return _write(path, recs)
    return _write_v1(path, [dataclasses.replace(r, **m) for r, m in zip(recs, v1)])


def _write_v1(path: Path, records: list[CheckRecord]) -> Path:
    """Records as schema-1 lines (no evidence field, ``"schema":1``), between a header and an end."""
    write_run_header(path, RunHeader(run_id="r1", argv=["pytest", "suites"], versions={"torch": "x"},
                                     device="cpu", seed=0, extra={"profile": "quick"}))
    with open(path, "a") as f:
        for r in records:
            d = r.to_dict()
            d["schema"] = 1
            del d["evidence"]
            f.write(json.dumps(d, allow_nan=False, separators=(",", ":")) + "\n")
    write_run_end(path, exitstatus=0, collected=len(records), run_id="r1", fsync=False)
    return path


def test_synthetic_report_has_every_section(tmp_path):
    index = build_report(_synthetic(tmp_path / "r.jsonl"), tmp_path / "out")
    text = index.read_text()
    # convergence, tolerance, work-precision (NFE), memory: four figures
    assert text.count("<svg") == 4
    for needle in ("observed order 3.99 on A1 (claimed 4)", "every gradient within 5e-9 of finite differences",
                   "adjoint reconstruction error up to 3e-10", "Memory against depth", "Wall time",
                   "test_prop2(y0=[0.0, 1e308])", "float32 not claimed", "python -m pytest &#39;suites/x.py::t[a]&#39; --ode-impl impl",
                   "constant in depth", "growing as depth^1.00"):
        assert needle in text, needle
    assert "Run complete" in text


def test_split_pages_for_a_large_run(tmp_path):
    index = build_report(_synthetic(tmp_path / "r.jsonl"), tmp_path / "out", split=True)
    pages = sorted(p.name for p in index.parent.glob("impl-*.html"))
    assert pages == ["impl-impl-adjoint.html", "impl-impl.html"]
    assert 'href="impl-impl.html"' in index.read_text()
    assert "Forward error per problem" in (index.parent / "impl-impl.html").read_text()
    # a smaller report in the same folder removes the old pages
    build_report(tmp_path / "r.jsonl", tmp_path / "out", split=False)
    assert not list(index.parent.glob("impl-*.html"))


def test_report_is_robust_to_sparse_records(tmp_path):
    path = _write(tmp_path / "r.jsonl", [
        _rec(check_id="x", suite="", check="", iut="", method="", problem="", dtype="", device=""),
        _rec(check_id="y", measured={"weird": {"nested": [1, "a", None]}, "nan": math.nan, "lst": [1.0]}),
        _rec(check_id="z", measured={"errors": [1e-3, math.nan, -1.0], "tols": [1e-3, 1e-4, 1e-5]},
             verdict=Verdict.TIMEOUT),
    ], header=False, end=False)
    text = build_report(path, tmp_path / "out").read_text()
    assert "INCOMPLETE RUN" in text and "no run header" in text
    header_only = _write(tmp_path / "header-only.jsonl", [], end=False)  # a run that has just started
    assert "No check has finished yet" in build_report(header_only, tmp_path / "out2").read_text()


def test_names_with_markup_are_escaped_in_plots(tmp_path):
    bad = '<img src=x onerror=alert(1)>$x$_'
    recs = [_rec(check_id=f"f[{t}]", suite="forward_accuracy", check="test_error_at_end", iut=bad, problem=bad,
                 threshold=t, evidence=_ev(exp=_err_le("error", t / 3, t, tol=t), scalars=(
                     Scalar(name="nfe", value=int(1 / t ** 0.2), kind=Quantity.NFE),))) for t in (1e-4, 1e-6, 1e-8)]
    text = build_report(_write(tmp_path / "r.jsonl", recs), tmp_path / "out").read_text()
    assert text.count("<svg") == 2
    assert "<img" not in text and "onerror=alert(1)>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_compare_thresholds(tmp_path):
    old = _synthetic(tmp_path / "old.jsonl")
    same = compare(old, _synthetic(tmp_path / "same.jsonl"))
    assert same.exit_code == 0 and not same.regressions
    new = _synthetic(tmp_path / "new.jsonl", slope=3.7, err_scale=3.0, nfe=115, saved=1200, verdict="fail")
    cmp = compare(old, new)
    kinds = {c.kind for c in cmp.regressions}
    assert kinds == {"new failure", "order lost", "error grown", "NFE up", "saved bytes up"}, cmp
    assert cmp.exit_code == 1
    order = cmp.by_kind("order lost")[0]
    assert order.check_id == "convergence.order[rk4]" and (order.old, order.new) == (3.99, 3.7)
    # thresholds are configurable
    loose = compare(old, new, error_factor=5, nfe_increase=0.5, bytes_increase=0.5, order_drop=0.5)
    assert {c.kind for c in loose.regressions} == {"new failure"}
    # round-off does not regress
    a = _write(tmp_path / "a.jsonl", [_rec(check_id="q", evidence=_ev(exp=_err_le("error", 1e-17, 1.0)))])
    b = _write(tmp_path / "b.jsonl", [_rec(check_id="q", evidence=_ev(exp=_err_le("error", 9e-16, 1.0)))])
    assert compare(a, b).exit_code == 0
    with pytest.raises(ValueError, match="error_factor"):
        compare(a, b, error_factor=0.5)


def test_cli_entry_points(tmp_path, capsys):
    good = _synthetic(tmp_path / "r.jsonl")
    assert main_report([str(good), "--out", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "out" / "index.html").exists()
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"\x89PNG not a results file\n")
    (tmp_path / "no-results").mkdir()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for argv in ([str(tmp_path / "missing.jsonl")], [str(tmp_path / "no-results")], [str(garbage)], [str(empty)],
                 [], ["a", "b"]):
        assert main_report(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("ode-harness report: error:") and "\n" not in err, err
    assert main_compare([str(good)]) == 2
    assert main_compare([str(good), str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "results file not found" in err[1]
    assert main_compare([str(good), str(good), "--error-factor", "x"]) == 2
    assert main_compare([str(good), str(good)]) == 0


def test_run_end_marker(tmp_path):
    path = _synthetic(tmp_path / "r.jsonl")
    run = read_run(path)
    assert run.complete and run.run_end["exitstatus"] == 0 and not run.warnings
    assert load_records(path).bad_lines  # today's load_records lists it as an unknown kind


def test_schema_1_results_still_report_and_compare(tmp_path):
    """A results file of schema 1 (free-form measured keys) reads through the legacy adapter:
    the same report sections, the same regressions, and it compares with a schema-2 run."""
    old = _synthetic(tmp_path / "v1.jsonl", schema=1)
    assert '"schema":1' in old.read_text() and '"evidence"' not in old.read_text()
    text = build_report(old, tmp_path / "out").read_text()
    assert text.count("<svg") == 4
    for needle in ("observed order 3.99 on A1 (claimed 4)", "every gradient within 5e-9 of finite differences",
                   "adjoint reconstruction error up to 3e-10", "Memory against depth", "Wall time",
                   "constant in depth", "growing as depth^1.00"):
        assert needle in text, needle
    bad = _synthetic(tmp_path / "v1-bad.jsonl", slope=3.7, err_scale=3.0, nfe=115, saved=1200, verdict="fail",
                     schema=1)
    assert {c.kind for c in compare(old, bad).regressions} == {"new failure", "order lost", "error grown", "NFE up",
                                                               "saved bytes up"}
    # across the versions: the typed run of the same numbers shows no regression
    assert compare(old, _synthetic(tmp_path / "v2.jsonl")).exit_code == 0
    bad2 = _synthetic(tmp_path / "v2-bad.jsonl", slope=3.7, err_scale=3.0, nfe=115, verdict="fail")
    assert {"new failure", "order lost", "error grown", "NFE up"} <= {c.kind for c in compare(old, bad2).regressions}
