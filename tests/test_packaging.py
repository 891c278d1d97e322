"""ode-harness as a package (packaging issue, acceptance 1, 3 and 4).

1. The wheel built by ``python -m pip wheel --no-deps .``, installed with the project's
   constraints into a fresh virtual environment, run from an empty folder with no checkout on
   ``sys.path``: ``ode-harness check reference --method rk4 --method dopri5 --report out`` passes
   with the same check ids and verdicts as from the source checkout, writes the report, and
   leaves nothing in the working folder but ``reports/`` and ``out/``; a record's reproducer
   reruns its check there (the pytest route, ``--pyargs harness.suites``).
3. The pytest11 entry point is inert in an unrelated project: same output, its own fixture named
   ``check`` untouched, no torch imported (the timing is benchmarks/bench_plugin_inert.py's).
4. The GitHub Actions example is valid YAML, installs ode-harness from the index (no path into
   this repository) and runs the commands tested here and in tests/test_shards.py.

The wheel test reuses pip's configuration and cache (torch 2.13.0+cpu comes from the machine's
find-links; no CUDA package may be installed) and skips byte-compilation (``--no-compile``) to
stay within a couple of minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import harness
from harness import cli
from harness.report import report_parser
from harness.report.data import read_run, reproducer_command
from harness.results import load_records

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "constraints.txt"
ACCEPTANCE = ["check", "reference", "--method", "rk4", "--method", "dopri5", "--report", "out"]
LIMIT_S = 900  # a step that takes longer than this is a hang: the test fails
_BUILD_JUNK = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "reports", ".tox",
                                     ".hypothesis", ".benchmarks", ".pytest_cache", ".venv", "venv")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that points into the checkout or into this test run."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
           and not k.startswith(("ODE_HARNESS_", "PYTEST_", "COV_"))}
    env["CI"] = "1"
    env["HYPOTHESIS_PROFILE"] = "ci"
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True, timeout=LIMIT_S)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def _verdicts(path: Path) -> dict[str, str]:
    run = read_run(path)  # the report's strict reader: every line a record, the run complete
    assert run.complete and not run.warnings, (run.incomplete_reasons, run.warnings)
    return {r.check_id: r.verdict.value for r in run.records}


# ----------------------------------------------------------------------------- metadata (fast)


def test_every_package_folder_is_packaged():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for top in ("harness", "reference")
             for p in (REPO / top).rglob("__init__.py") if "__pycache__" not in p.parts}
    assert found | {"harness.suites"} == listed
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == {"harness.suites": "suites"}


def test_version_from_one_place(capsys):
    meta = _pyproject()["project"]
    assert "version" not in meta and "version" in meta["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "harness.__version__"}
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"ode-harness {harness.__version__}\n"


def test_gate_runs_on_runtime_dependencies_only():
    deps = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in _pyproject()["project"]["dependencies"]}
    assert {"pytest", "pytest-xdist", "hypothesis", "pytest-benchmark", "torch"} <= deps
    assert _pyproject()["project"]["entry-points"]["pytest11"] == {"ode_harness": "harness.pytest_entry"}


def test_entry_point_imports_nothing_heavy():
    code = ("import sys, pytest; before = set(sys.modules); import harness.pytest_entry; "
            "import json; print(json.dumps(sorted(m for m in set(sys.modules) - before "
            "if not m.startswith(('harness', '_', 'json')) and m.split('.')[0] not in sys.stdlib_module_names)))")
    p = _run([sys.executable, "-c", code], REPO, _clean_env(PYTHONPATH=str(REPO)))
    assert json.loads(p.stdout) == [], p.stdout


def _tiny_project(root: Path) -> Path:
    """An unrelated pytest project with a fixture of its own named `check`."""
    root.mkdir(parents=True)
    (root / "test_things.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef check():\n    return 41\n\n\n"
        "def test_add(check):\n    assert check + 1 == 42\n\n\n"
        "@pytest.mark.parametrize('n', range(20))\ndef test_square(n):\n    assert n * n >= 0\n")
    (root / "conftest.py").write_text(
        "import sys\n\n\ndef pytest_sessionfinish(session):\n"
        "    heavy = [m for m in ('torch', 'numpy', 'harness.pytest_plugin') if m in sys.modules]\n"
        "    open('heavy.txt', 'w').write(' '.join(heavy))\n")
    return root


def _normalized(out: str) -> str:
    """pytest's output less its timing and its list of installed plugin distributions."""
    out = re.sub(r" in \d+\.\d+s", " in Xs", out)
    return "\n".join(ln for ln in out.splitlines() if not ln.startswith("plugins:"))


def test_plugin_is_inert_in_an_unrelated_project(tmp_path):
    proj = _tiny_project(tmp_path / "proj")
    env = _clean_env(PYTHONPATH=str(REPO))
    outs, heavy = {}, {}
    for name, extra in (("with", []), ("without", ["-p", "no:ode_harness"])):
        p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra], cwd=proj, env=env,
                           capture_output=True, text=True, timeout=LIMIT_S)
        assert p.returncode == 0, p.stdout + p.stderr
        outs[name] = p.stdout
        heavy[name] = (proj / "heavy.txt").read_text()
    # Compared with the same run without ode-harness's plugin, not with nothing: another installed
    # plugin may import torch by itself (torchode 1.0.1 brings torchtyping 0.1.5, whose pytest11
    # plugin imports torch in every pytest run of the environment).
    assert "harness.pytest_plugin" not in heavy["with"]
    assert heavy["with"] == heavy["without"], heavy
    assert "ode-harness" in next(ln for ln in outs["with"].splitlines() if ln.startswith("plugins:"))
    assert _normalized(outs["with"]) == _normalized(outs["without"])
    assert "21 passed" in outs["with"]


def test_github_actions_example(tmp_path):
    yaml = pytest.importorskip("yaml")  # PyYAML is in the test extra
    text = (REPO / "examples" / "github-actions-ode-harness.yml").read_text()
    wf = yaml.safe_load(text)
    verify, merge = wf["jobs"]["verify"], wf["jobs"]["report"]
    # no path into this repository: ode-harness comes from the package index
    assert "repository:" not in text and "-e './" not in text and "constraints.txt" not in text
    assert not re.search(r"(^|[\s/])(suites|harness)/", text)
    assert any("pip install ode-harness" in s.get("run", "") for s in verify["steps"])
    assert any("pip install ode-harness" in s.get("run", "") for s in merge["steps"])
    # a matrix over methods and shards; every shard's results uploaded
    matrix = verify["strategy"]["matrix"]
    n = int(wf["env"]["SHARDS"])
    assert matrix["shard"] == list(range(1, n + 1)) and matrix["method"]
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s.get("if") == "always()"
               for s in verify["steps"])
    # the merge job: runs whatever the shards did, merges, fails when any shard failed
    assert merge["needs"] == "verify" and merge["if"] == "always()"
    assert any(s.get("uses", "").startswith("actions/download-artifact") for s in merge["steps"])
    assert any(s.get("if") == "needs.verify.result != 'success'" and "exit 1" in s["run"] for s in merge["steps"])
    # its commands parse as the commands tested here and in tests/test_shards.py
    check = next(s["run"] for s in verify["steps"] if "ode-harness check" in s.get("run", ""))
    check = (check.replace("${{ matrix.method }}", matrix["method"][0]).replace("${{ matrix.shard }}", "2")
             .replace("${{ env.SHARDS }}", str(n)))
    ns = cli._check_parser().parse_args(check.split()[2:])
    assert str(ns.shard) == f"2/{n}" and ns.impls == ["mylib.solvers:odeint"]
    report = next(s["run"] for s in merge["steps"] if "ode-harness report" in s.get("run", ""))
    ns = report_parser().parse_args(report.split()[2:])
    assert ns.fail_on_failure and ns.results == ["shards"]


# ----------------------------------------------------------------------------- the wheel (slow)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """A fresh virtual environment with the wheel installed, and the source checkout's run of the
    acceptance command (started first: it runs while the wheel is built and installed)."""
    base = tmp_path_factory.mktemp("packaging")
    src_run = base / "src-run"
    src_run.mkdir()
    source = subprocess.Popen([sys.executable, "-m", "harness", *ACCEPTANCE[:-2]], cwd=src_run,
                              env=_clean_env(PYTHONPATH=str(REPO)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        tree = base / "tree"  # a clean copy: no stale build/ of an earlier build in the wheel
        shutil.copytree(REPO, tree, ignore=_BUILD_JUNK)
        wheels = base / "wheels"
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", ".", "-w", str(wheels), "-q"], tree)
        wheel = next(wheels.glob("ode_harness-*.whl"))
        venv = base / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], base)
        py = venv / "bin" / "python"
        _run([str(py), "-m", "pip", "install", "-q", "--no-compile", "-c", str(CONSTRAINTS), str(wheel)], base)
        out, _ = source.communicate(timeout=LIMIT_S)
    finally:
        if source.poll() is None:
            source.kill()
            source.wait()
    assert source.returncode == 0, f"the source checkout's run failed:\n{out[-3000:]}"
    return {"base": base, "wheel": wheel, "venv": venv, "py": py, "src_results": src_run / "reports" / "results.jsonl"}


@pytest.mark.slow
def test_wheel_contents_and_metadata(installed):
    with zipfile.ZipFile(installed["wheel"]) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for top, inside in (("harness", "harness"), ("reference", "reference"), ("suites", "harness/suites")):
        for f in (REPO / top).rglob("*.py"):
            if "__pycache__" not in f.parts and not (top == "harness" and "suites" in f.parts):
                assert f"{inside}/{f.relative_to(REPO / top).as_posix()}" in names, f
    assert {"harness/py.typed", "harness/report/templates/index.html.j2"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    assert "Classifier: Typing :: Typed" in meta and "Requires-Dist: pytest-xdist" in meta
    assert f"Version: {harness.__version__}" in meta
    assert "# ode-harness" in meta and "Description-Content-Type: text/markdown" in meta  # README


@pytest.mark.slow
def test_installed_wheel_runs_out_of_tree(installed):
    py, venv = installed["py"], installed["venv"]
    work = installed["base"] / "empty"
    work.mkdir()
    env = _clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    # no checkout anywhere: harness comes from the environment, no sys.path entry is in the repository
    code = "import harness, json, os, sys; print(json.dumps([harness.__file__, [os.path.realpath(p) for p in sys.path]]))"
    where, path = json.loads(_run([str(py), "-c", code], work, env).stdout)
    assert Path(where).is_relative_to(venv) and not any(Path(e).is_relative_to(REPO.resolve()) for e in path), path
    pkgs = json.loads(_run([str(py), "-m", "pip", "list", "--format=json"], work, env).stdout)
    assert not [d["name"] for d in pkgs if d["name"].lower().startswith("nvidia")], "a CUDA build of torch came in"
    assert _run([str(venv / "bin" / "ode-harness"), "--version"], work, env).stdout == f"ode-harness {harness.__version__}\n"

    run = _run([str(venv / "bin" / "ode-harness"), *ACCEPTANCE], work, env)
    assert "ode-harness check: PASS (exit 0)" in run.stdout
    assert (work / "out" / "index.html").exists()
    # the working folder receives the results, the log and the report, nothing else
    assert sorted(p.name for p in work.iterdir()) == ["out", "reports"]
    installed_verdicts = _verdicts(work / "reports" / "results.jsonl")
    source_verdicts = _verdicts(installed["src_results"])
    assert installed_verdicts == source_verdicts  # the same check ids, the same verdicts
    assert set(installed_verdicts.values()) <= {"pass", "skip"}

    # the pytest route: a record's reproducer reruns its check wherever ode-harness is installed
    rec = next(r for r in load_records(work / "reports" / "results.jsonl").records if r.verdict.value == "pass")
    assert "suites/" not in rec.reproducer and "--pyargs" in rec.reproducer
    cmd = shlex.split(reproducer_command(rec.reproducer))
    rerun = _run([str(py), *cmd[1:], "-p", "no:cacheprovider", "--ode-results", str(work / "rerun.jsonl")],
                 work, env)
    assert "1 passed" in rerun.stdout
    assert [r.check_id for r in load_records(work / "rerun.jsonl").records] == [rec.check_id]
