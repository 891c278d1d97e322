"""The `ode-harness` command (harness/cli.py), its configuration (harness/config.py) and the
plugin's fault handling (harness/pytest_plugin.py).

A faulty implementation is a finding, never a crash: each fault of tests/fixtures/faulty_*.py
(raises; returns NaN or Inf; wrong shape, dtype or device; hangs in Python or in C; ends its
process; segfaults; mutates y0; is nondeterministic) and a seeded bug is run through the real
command in a subprocess on a narrow selection of checks (``--select``), and must end with exit
status 1, the right verdict and message in the JSON summary and the results file, and no hang.
Bad invocations exit 2 with one line on stderr.

The subprocess runs are started up front, two at a time, when this module runs without xdist
(each pays for starting Python, torch and a pytest-xdist worker; the checks themselves take a
second or two), so that the file takes a few minutes, not one run after another.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness import cli
from harness.config import ConfigError, ToleranceOverride, load_file_config, parse_override_arg, parse_overrides
from harness.pytest_plugin import Check, CheckFailed, validate_output
from harness.results import load_records

REPO = Path(__file__).resolve().parent.parent
RUN_LIMIT_S = 300  # a run that takes longer than this is a hang of the harness: the test fails


def _report_available() -> bool:
    try:
        from harness.report import build_report  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- subprocess runs
@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    out_dir: Path
    timed_out: bool = False

    @property
    def summary(self) -> dict:
        return json.loads((self.out_dir / "summary.json").read_text())

    @property
    def records(self):
        return load_records(self.out_dir / "results.jsonl", missing_ok=True).records


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["CI"] = "1"                    # quiet progress, as in CI
    env["HYPOTHESIS_PROFILE"] = "ci"   # derandomized property examples, no example database
    env.pop("ODE_HARNESS_RUN_ID", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_TESTRUNUID", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_cli(args: list[str], out_dir: Path, *, cwd: Path = REPO, outputs: bool = True) -> Run:
    """`python -m harness ARGS` in a subprocess; with `outputs`, results, JSON summary (and the
    report, when harness.report is there) go into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    full = list(args)
    if outputs:
        full += ["--results", str(out_dir / "results.jsonl"), "--json", str(out_dir / "summary.json"),
                 "--junit", str(out_dir / "junit.xml")]
        if _report_available():
            full += ["--report", str(out_dir / "html")]
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "harness", *full], cwd=cwd, env=_env(), capture_output=True,
                           text=True, timeout=RUN_LIMIT_S)
        return Run(full, p.returncode, p.stdout, p.stderr, time.monotonic() - t0, out_dir)
    except subprocess.TimeoutExpired as exc:
        return Run(full, -1, str(exc.stdout or ""), str(exc.stderr or ""), time.monotonic() - t0, out_dir,
                   timed_out=True)


@dataclass(frozen=True)
class Fault:
    module: str              # tests/fixtures/<module>.py
    select: str              # --select: the checks this run does
    verdict: str             # every failing check's verdict
    message: str             # ... and a piece of its message
    n_failing: int           # how many failing checks
    timeout: float = 20.0    # --timeout
    extra: tuple[str, ...] = ()
    needs: str = ""          # a suite file the selection needs

    def args(self) -> list[str]:
        # one worker: the order of the checks, and so the count of incidents before the case is
        # stopped, is then deterministic
        return ["check", f"tests.fixtures.{self.module}:odeint", "--method", "dopri5", "--select", self.select,
                "--timeout", repr(self.timeout), "--jobs", "1", *self.extra]


A3_ONE = "test_error_at_end and A3 and 1e-05"
A3_TWO = "test_error_at_end and A3"

FAULTS: dict[str, Fault] = {
    "raises": Fault("faulty_raise", A3_ONE, "error", "RuntimeError: seeded failure: the solver exploded", 1),
    "nan": Fault("faulty_nan", A3_ONE, "fail", "non-finite output: ys[1, 0] = nan (t = 20, output time 1 of 2)", 1),
    "inf": Fault("faulty_inf", A3_ONE, "fail", "non-finite output: ys[1, 0] = inf", 1),
    "shape": Fault("faulty_shape", A3_ONE, "fail", "shape expected (2, 1) = (len(t), *y0.shape), got (1, 1)", 1),
    "dtype": Fault("faulty_dtype", A3_ONE, "fail", "dtype expected float64 (y0's), got float32", 1),
    "device": Fault("faulty_device", A3_ONE, "fail", "device expected cpu (y0's), got meta", 1),
    # four checks: three time out, then the case's remaining check is not run (MAX_INCIDENTS)
    "hang": Fault("faulty_hang", "test_error_at_end and (A3 or B4)", "timeout",
                  "timed out after 2 s (per-check timeout) in faulty_hang.py", 3, timeout=2),
    "hang_in_c": Fault("faulty_hang_c", A3_ONE, "timeout", "did not return to Python", 1, timeout=2),
    # two checks: the second runs in the worker xdist starts after the first one died
    "exit": Fault("faulty_exit", A3_TWO, "error", "exited with status 3", 2),
    "segfault": Fault("faulty_segfault", A3_ONE, "error", "killed by signal SIGSEGV", 1),
    "mutates": Fault("faulty_mutate", "test_inputs_not_mutated", "fail", "inputs_changed", 1, timeout=200,
                     needs="test_properties.py"),
    "nondeterministic": Fault("faulty_nondeterministic", "test_deterministic", "fail", "runs_differing", 1,
                              timeout=200, needs="test_properties.py"),
    "seeded_bug": Fault("faulty_seeded_bug", A3_ONE, "fail", "exceeds", 1),
}


class Runner:
    """Subprocess runs by key, at most two at once; a test waits for its own."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures: dict[str, Future] = {}

    def submit(self, key: str, args: list[str], **kw) -> None:
        if key not in self.futures:
            self.futures[key] = self.pool.submit(run_cli, args, self.base / key, **kw)

    def get(self, key: str, args: list[str], **kw) -> Run:
        self.submit(key, args, **kw)
        return self.futures[key].result()


@pytest.fixture(scope="module")
def runner(request, tmp_path_factory):
    r = Runner(tmp_path_factory.mktemp("cli-runs"))
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        # start every selected fault run now (under xdist the tests are spread already)
        for item in request.session.items:
            if item.module is sys.modules[__name__] and item.originalname == "test_fault_is_a_finding":
                key = item.callspec.params["fault"]
                if not FAULTS[key].needs or (REPO / "suites" / FAULTS[key].needs).exists():
                    r.submit(key, FAULTS[key].args())
    yield r
    r.pool.shutdown(wait=True, cancel_futures=True)


def _assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "Traceback" not in run.stdout, run.stdout[-3000:]


# --------------------------------------------------------------------------- faults
@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_a_finding(fault, runner):
    f = FAULTS[fault]
    if f.needs and not (REPO / "suites" / f.needs).exists():
        pytest.skip(f"needs suites/{f.needs} (the property checks)")
    run = runner.get(fault, f.args())
    assert not run.timed_out, f"the run did not end within {RUN_LIMIT_S} s"
    _assert_no_traceback(run)
    assert run.returncode == 1, (run.returncode, run.stdout[-3000:], run.stderr[-3000:])
    s = run.summary
    assert s["exit_code"] == 1 and s["verdict"] == "fail"
    failing = s["failing"]
    mine = [x for x in failing if x["verdict"] == f.verdict]
    assert len(mine) == f.n_failing, failing
    for x in mine:
        assert f.message in x["message"], x
        assert "test_" in x["check_id"] and x["iut"] == f"tests.fixtures.{f.module}:odeint"
    assert s["counts"][f.verdict] == f.n_failing
    # the results file has the same records, of this run
    recs = [r for r in run.records if r.run_id == s["run_id"]]
    assert sum(r.verdict.value == f.verdict for r in recs) == f.n_failing
    assert all(f.message in r.message for r in recs if r.verdict.value == f.verdict)
    # the summary on stdout names each failing check and its cause
    for x in mine:
        assert x["check_id"] in run.stdout
    if _report_available():
        assert (run.out_dir / "html" / "index.html").exists()


@pytest.mark.slow
def test_hang_stops_the_case_after_max_incidents(runner):
    """After three timeouts the case's remaining checks are not run (an error that says so)."""
    run = runner.get("hang", FAULTS["hang"].args())
    assert run.returncode == 1
    errors = [x for x in run.summary["failing"] if x["verdict"] == "error"]
    assert len(errors) == 1 and errors[0]["message"].startswith("not run: 3 earlier checks"), errors
    # 4 checks at a 2 s timeout: three time out, one is refused; nothing waits for the hard stop
    assert run.summary["counts"]["timeout"] == 3


@pytest.mark.slow
def test_seeded_bug_named_by_the_summary_with_junit(runner):
    run = runner.get("seeded_bug", FAULTS["seeded_bug"].args())
    junit = run.out_dir / "junit.xml"
    assert run.returncode == 1
    (bad,) = run.summary["failing"]
    assert bad["check_id"].startswith("forward_accuracy.test_error_at_end[A3-tol=1e-05-")
    assert "error = " in bad["message"] and bad["threshold"] is not None
    assert "failing checks (1):" in run.stdout and bad["check_id"] in run.stdout
    text = junit.read_text()
    assert "<testsuite" in text and 'failures="1"' in text


# --------------------------------------------------------------------------- a passing run, from the config
@pytest.mark.slow
def test_passing_run_from_pyproject_with_override(tmp_path, runner):
    """Settings from [tool.ode-harness] of ./pyproject.toml; an override is applied and recorded."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "mylib"\n\n'
        '[tool.ode-harness]\n'
        'implementations = ["reference"]\n'
        'methods = ["dopri5"]\n'
        'select = "test_error_at_end and A3"\n'
        'results = "out/results.jsonl"\n'
        'json = "out/summary.json"\n'
        '[tool.ode-harness.overrides]\n'
        '"forward_accuracy.error_at_end" = { factor = 2, reason = "our controller is conservative" }\n')
    run = runner.get("config", ["check"], cwd=tmp_path, outputs=False)
    _assert_no_traceback(run)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["exit_code"] == 0 and s["counts"]["pass"] == 2 and s["failing"] == []
    assert s["overrides_applied"] == 2 and s["unmatched_overrides"] == []
    recs = load_records(tmp_path / "out" / "results.jsonl").records
    assert len(recs) == 2
    for r in recs:
        (ov,) = r.extra["threshold_overrides"]
        assert ov["reason"] == "our controller is conservative" and ov["factor"] == 2
        assert math.isclose(ov["applied_threshold"], 2 * ov["original_threshold"])
        assert r.threshold == ov["applied_threshold"]
        assert "overridden" in r.threshold_reason
    assert "PASS (exit 0)" in run.stdout


# --------------------------------------------------------------------------- bad invocations (subprocess)
@pytest.mark.slow
@pytest.mark.parametrize("args, needle", [
    (["check", "no-such-solver"], "unknown implementation 'no-such-solver'"),
    (["check", "tests.fixtures.faulty_unknown_method:odeint", "--method", "rk99"], "unknown method 'rk99'"),
    (["check", "reference", "--method", "rk99"], "unknown method 'rk99' for reference"),
    (["check", "tests.fixtures.broken_on_import:odeint", "--method", "dopri5"], "ZeroDivisionError"),
])
def test_bad_invocation_exits_2_with_one_line(args, needle, runner):
    run = runner.get("usage-" + "-".join(args[1:]).replace("/", "_"), args, outputs=False)
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ode-harness: error: ") and needle in lines[0], run.stderr
    assert "Traceback" not in run.stderr


# --------------------------------------------------------------------------- bad invocations (in process)
@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "1")
    return tmp_path


def _main(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, needle", [
    (["check", "nope"], "unknown implementation 'nope'"),
    (["check", "no_such_module_xyz:odeint"], "module 'no_such_module_xyz' not found"),
    (["check", "tests.fixtures.impls:not_callable"], "not callable"),
    (["check", "tests.fixtures.broken_on_import:odeint"], "ZeroDivisionError: seeded failure on import"),
    (["check", "reference", "--method", "nope"], "unknown method 'nope' for reference; valid methods:"),
    (["check", "reference", "--profile", "fastest"], "unknown profile 'fastest'"),
    (["check", "reference", "--override", "test_error_at_end=threshold:-1e-6:too strict"],
     "threshold must not be negative"),
    (["check", "reference", "--override", "test_error_at_end=factor:0:x"], "factor must be positive"),
    (["check", "reference", "--override", "test_error_at_end=factor:2"], "'reason' is required"),
    (["check", "reference", "--timeout", "-5"], "--timeout"),
    (["check", "reference", "--jobs", "0"], "--jobs"),
    (["check", "reference", "--device", "tpu"], "unknown device 'tpu'"),
    (["check", "reference", "--order", "x"], "--order"),
    (["check", "reference", "--claim", "speed=11"], "unknown claim"),
    (["check", "reference", "--fixed-step", "--adaptive"], "not allowed with argument"),
    (["check"], "no implementation given"),
    (["check", "tests.fixtures.impls:good_odeint"], "no methods to check"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["check", "reference", "--config", "missing.toml"], "config file not found"),
])
def test_usage_errors_in_process(capsys, in_tmp, args, needle):
    code, out, err = _main(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err


def test_unreadable_config_exits_2(capsys, in_tmp):
    (in_tmp / "pyproject.toml").write_text("[tool.ode-harness\nprofile = 'quick'\n")
    code, _, err = _main(capsys, "check", "reference")
    assert code == 2 and err.count("\n") == 1 and "invalid TOML" in err
    (in_tmp / "pyproject.toml").unlink()
    (in_tmp / "pyproject.toml").mkdir()  # a folder where the file should be: unreadable
    code, _, err = _main(capsys, "check", "reference")
    assert code == 2 and err.count("\n") == 1 and "cannot read" in err


@pytest.mark.parametrize("table, needle", [
    ("profile = 'slow'", "unknown profile 'slow'"),
    ("jobs = 0", "'jobs' must be >= 1"),
    ("timeout = -1", "'timeout' must be > 0"),
    ("colour = 'red'", "unknown key(s) ['colour']"),
    ("implementations = 3", "'implementations' must be a string or a non-empty list"),
    ("[tool.ode-harness.overrides]\n'test_error_at_end' = { threshold = -1, reason = 'x' }",
     "threshold must not be negative"),
    ("[tool.ode-harness.overrides]\n'test_error_at_end' = { factor = 2 }", "'reason' is required"),
    ("[tool.ode-harness.overrides]\n'test_error_at_end' = { factor = 2, threshold = 1, reason = 'x' }",
     "exactly one of"),
    ("[tool.ode-harness.claims]\norder = 0", "claim order must be a positive int"),
    ("[tool.ode-harness.claims.rk4]\nwobble = true", "unknown claim(s) ['wobble'] for method 'rk4'"),
])
def test_bad_config_values_exit_2(capsys, in_tmp, table, needle):
    (in_tmp / "pyproject.toml").write_text("[tool.ode-harness]\n" + table + "\n")
    code, _, err = _main(capsys, "check", "reference")
    assert code == 2 and err.count("\n") == 1 and needle in err, err


def test_report_and_compare_subcommands_tolerate_absence(capsys, in_tmp, monkeypatch):
    monkeypatch.setitem(sys.modules, "harness.report", None)  # as if harness.report had not landed
    for cmd in ("report", "compare"):
        code, _, err = _main(capsys, cmd, "x")
        assert code == 2 and err.count("\n") == 1 and "not available in this installation" in err


def test_report_and_compare_subcommands_delegate(capsys, in_tmp):
    pytest.importorskip("harness.report")
    code, _, err = _main(capsys, "report", str(in_tmp / "missing.jsonl"), "--out", str(in_tmp / "html"))
    assert code == 2 and "missing.jsonl" in err
    code, _, err = _main(capsys, "compare", "a.jsonl", "b.jsonl")
    assert code == 2 and err.strip()


def test_help_and_no_arguments(capsys):
    code, out, _ = _main(capsys, "--help")
    assert code == 0 and "check IMPL" in out
    code, out, _ = _main(capsys)
    assert code == 2 and "usage:" in out


# --------------------------------------------------------------------------- units
def test_pyproject_config_is_read(tmp_path):
    p = tmp_path / "pyproject.toml"
    p.write_text("[tool.ode-harness]\nimplementations = 'mylib:odeint'\nmethods = ['rk4', 'dopri5']\n"
                 "profile = 'standard'\njobs = 2\ntimeout = 90\nreport = 'out/html'\n"
                 "[tool.ode-harness.claims]\nfloat32 = false\n"
                 "[tool.ode-harness.claims.rk4]\norder = 4\nadaptive = false\n"
                 "[tool.ode-harness.overrides]\n'forward_accuracy.*' = { threshold = 1e-3, reason = 'loose' }\n")
    fc = load_file_config(p)
    assert fc.implementations == ["mylib:odeint"] and fc.methods == ["rk4", "dopri5"]
    assert fc.profile == "standard" and fc.jobs == 2 and fc.timeout == 90.0
    assert fc.claims == {"float32": False} and fc.method_claims == {"rk4": {"order": 4, "adaptive": False}}
    assert fc.report == tmp_path / "out" / "html"
    (ov,) = fc.overrides
    assert ov.threshold == 1e-3 and ov.matches("test_error_at_end", "forward_accuracy")
    assert not ov.matches("test_flow_property", "properties")
    assert load_file_config(tmp_path / "absent.toml").implementations is None


def test_command_line_overrides_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.ode-harness]\nimplementations = ['torchdiffeq']\nprofile = 'standard'\njobs = 2\n"
        "[tool.ode-harness.claims]\nfloat32 = true\n[tool.ode-harness.claims.rk4]\norder = 3\nstiff = true\n")
    ns = cli._check_parser().parse_args(["reference", "--profile", "quick", "--no-float32", "--order", "4"])
    st = cli._resolve(ns)
    assert st.impl_specs == ["reference"] and st.profile.name == "quick" and st.jobs == 2
    assert st.claims == {"float32": False, "order": 4}
    assert st.method_claims == {"rk4": {"stiff": True}}  # the command line's order wins for every method
    assert st.timeout == st.profile.timeout_s


def test_override_parsing_and_matching():
    ov = parse_override_arg("error_at_end=factor:3:our interpolant: quartic")
    assert ov.factor == 3 and ov.reason == "our interpolant: quartic"
    assert ov.matches("test_error_at_end", "forward_accuracy")
    assert ov.apply(1e-6, "le") == pytest.approx(3e-6) and ov.apply(3.0, "ge") == pytest.approx(1.0)
    ov2 = parse_override_arg('test_flow_property={"threshold": 0.5, "reason": "r"}')
    assert ov2.threshold == 0.5 and ov2.apply(1e-9, "within") == 0.5
    assert parse_override_arg(ov.to_arg()) == ov
    for bad in ("nothing", "x=factor:-2:r", "x=threshold:nan:r", "x=size:3:r", "x=factor:abc:r"):
        with pytest.raises(ConfigError):
            parse_override_arg(bad)
    with pytest.raises(ConfigError):
        parse_overrides({"x": 3})
    with pytest.raises(ConfigError, match="non-empty 'reason'"):
        ToleranceOverride("x", "  ", factor=2.0)


def test_check_applies_and_records_threshold_override():
    ovs = [ToleranceOverride("forward_accuracy.error_at_end", "known slack", factor=10.0)]
    chk = Check(name="test_error_at_end", suite="forward_accuracy", overrides=ovs)
    chk.expect_le("error", 5e-6, 1e-6, "10x baseline")  # passes only thanks to the override
    assert chk.threshold == pytest.approx(1e-5)
    assert "overridden (factor 10: known slack)" in chk.threshold_reason
    (rec,) = chk.extra["threshold_overrides"]
    assert rec["original_threshold"] == 1e-6 and rec["applied_threshold"] == pytest.approx(1e-5)
    other = Check(name="test_error_float32", suite="forward_accuracy", overrides=ovs)
    with pytest.raises(CheckFailed):
        other.expect_le("error", 5e-6, 1e-6, "10x baseline")
    ge = Check(name="test_error_at_end", suite="forward_accuracy", overrides=ovs)
    ge.expect_ge("order", 0.5, 4.0, "claimed order")  # 4 / 10 = 0.4 <= 0.5
    assert "threshold_overrides" not in Check().extra


def test_validate_output_messages():
    y0 = torch.zeros(2, 3, dtype=torch.float64)
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    good = torch.zeros(4, 2, 3, dtype=torch.float64)
    validate_output(good, y0, t)
    cases = [
        (good[1:], "shape expected (4, 2, 3) = (len(t), *y0.shape), got (3, 2, 3)"),
        (good.float(), "dtype expected float64 (y0's), got float32"),
        (torch.empty_like(good, device="meta"), "device expected cpu (y0's), got meta"),
        (good.numpy(), "expected a torch.Tensor of shape (4, 2, 3), got ndarray"),
    ]
    for ys, msg in cases:
        with pytest.raises(CheckFailed, match=None) as e:
            validate_output(ys, y0, t)
        assert msg in str(e.value), str(e.value)
    bad = good.clone()
    bad[2, 1, 0] = float("nan")
    bad[3, 0, 0] = float("inf")
    with pytest.raises(CheckFailed) as e:
        validate_output(bad, y0, t)
    assert "ys[2, 1, 0] = nan (t = 0.666667, output time 2 of 4); 2 of 24 values are not finite" in str(e.value)
    validate_output(bad, y0, t, allow_nonfinite=True)           # a check that expects it
    validate_output(bad, y0.clone().fill_(float("nan")), t)     # non-finite in, non-finite out
    with pytest.raises(CheckFailed, match="expected a tuple of 2"):
        validate_output(good, (y0, y0), t)
    validate_output((good, good), (y0, y0), t)


def test_unknown_method_message_detection():
    yes = ["ValueError: unknown method 'rk99'; valid methods: dopri5, rk4",
           'ValueError: Invalid method "rk99". Must be one of {"dopri5"}']
    no = ["ValueError: fixed-step method 'rk99' needs options={'step_size': h}",
          "ValueError: rtol must be positive", "RuntimeError: unknown method 'xx'"]
    assert all(cli.names_unknown_method(m, "rk99") for m in yes)
    assert not any(cli.names_unknown_method(m, "rk99") for m in no[:2])
    assert not cli.names_unknown_method(no[2], "rk99")


def test_suites_are_found_next_to_the_package():
    assert (cli.suites_dir() / "test_forward_accuracy.py").exists()


def test_github_actions_example_is_valid_yaml_running_the_command():
    text = (REPO / "examples" / "github-actions-ode-harness.yml").read_text()
    assert "ode-harness check" in text and "--junit" in text
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load(text)
    assert "jobs" in wf and any("ode-harness check" in str(s.get("run", ""))
                                for job in wf["jobs"].values() for s in job["steps"])
