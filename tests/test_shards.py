"""Scale-out (packaging issue, acceptance 2): ``--shard K/N`` partitions the checks by their stable
check id, and ``ode-harness report`` / ``compare`` merge the shards' results files into one run.

The real runs: one small selection (rk4, the quick profile's forward-accuracy checks on A3) run
unsharded and as shards 1/3, 2/3, 3/3 through the real command; the merged shards hold exactly
the unsharded run's check ids, none twice, with the same verdicts. The rest is synthetic records:
bad shard specs, overlapping shards, shards of different settings, bad results files.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import cli
from harness.pytest_plugin import _module_of, pyargs_target
from harness.report import main_compare, main_report
from harness.report.data import ResultsError, read_runs
from harness.results import CheckRecord, RunHeader, Verdict, append_record, load_records, write_run_header
from harness.report.runend import write_run_end
from harness.shard import Shard, check_id_of, parse_shard, shard_of
from tests.test_cli import run_cli

SELECTION = ["check", "reference", "--method", "rk4", "--select", "test_forward_accuracy and A3", "--jobs", "1"]


# ----------------------------------------------------------------------------- the partition


def test_shard_of_is_sha256_of_the_check_id_and_stable():
    cid = "forward_accuracy.test_error_at_end[reference-rk4-A3-tol=1e-06]"
    expected = 1 + int.from_bytes(hashlib.sha256(cid.encode()).digest()[:8], "big") % 3
    assert shard_of(cid, 3) == expected  # no process-randomized hash(): the same on every machine
    assert shard_of(cid, 1) == 1


def test_every_check_is_in_exactly_one_shard():
    ids = [f"suite.test_{i % 7}[impl-m-P{i}]" for i in range(600)]
    for n in (1, 2, 3, 5, 16):
        shards = [Shard(k, n) for k in range(1, n + 1)]
        for cid in ids:
            assert sum(s.holds(cid) for s in shards) == 1
        sizes = [sum(s.holds(c) for c in ids) for s in shards]
        # binomial: 600/n +- 4 standard deviations sqrt(600 (1/n)(1 - 1/n))
        sd = (600 * (1 / n) * (1 - 1 / n)) ** 0.5
        assert all(abs(k - 600 / n) <= 4 * sd + 1e-9 for k in sizes), sizes


@pytest.mark.parametrize("spec", ["0/3", "4/3", "a/b", "1/0", "3", "", "-1/3", "1/3/4"])
def test_bad_shard_specs(spec, capsys):
    with pytest.raises(ValueError):
        parse_shard(spec)
    assert cli.main(["check", "reference", "--shard", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ode-harness: error: argument --shard:") and err.count("\n") == 1, err


def test_good_shard_specs():
    assert parse_shard("2/3") == Shard(2, 3) and str(parse_shard(" 1 / 1 ")) == "1/1"


def test_check_id_of_matches_the_records():
    assert check_id_of("suites/test_forward_accuracy.py::test_error_at_end[reference-rk4-A3]") == \
        "forward_accuracy.test_error_at_end[reference-rk4-A3]"
    assert check_id_of("x/test_s.py::Cls::test_c[p]", "q") == "s.test_c[q]"


def test_reproducer_runs_wherever_ode_harness_is_installed():
    assert pyargs_target("suites/test_gradients.py::test_grad[reference-rk4-y0]") == \
        "harness.suites.test_gradients::test_grad[reference-rk4-y0]"
    # `pytest --pyargs harness.suites.test_x` outside the rootdir: node ids without the file
    assert pyargs_target("::test_grad[p]", "test_gradients") == "harness.suites.test_gradients::test_grad[p]"
    assert _module_of("::test_error_at_end[reference-rk4-A3]") == "test_forward_accuracy"
    assert check_id_of("::test_error_at_end[x]", module=_module_of("::test_error_at_end[x]")) == \
        "forward_accuracy.test_error_at_end[x]"


# ----------------------------------------------------------------------------- the real runs


@pytest.fixture(scope="module")
def shard_runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("shards")
    jobs = {"all": SELECTION} | {f"s{k}": SELECTION + ["--shard", f"{k}/3"] for k in (1, 2, 3)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_cli, args, base / name) for name, args in jobs.items()}
        runs = {name: f.result() for name, f in futures.items()}
    for name, run in runs.items():
        assert run.returncode == 0 and not run.timed_out, f"{name}: {run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    return {name: base / name / "results.jsonl" for name in jobs} | {"dir": base}


@pytest.mark.slow
def test_merged_shards_are_the_unsharded_run(shard_runs, tmp_path, capsys):
    full = {r.check_id: r.verdict for r in load_records(shard_runs["all"]).records}
    parts = [load_records(shard_runs[f"s{k}"]).records for k in (1, 2, 3)]
    assert full and all(parts), "every shard of the selection holds checks"
    ids = [r.check_id for p in parts for r in p]
    assert len(ids) == len(set(ids))                       # no id twice
    assert set(ids) == set(full)                           # the union is the unsharded run
    for k, p in enumerate(parts, 1):
        assert all(shard_of(r.check_id, 3) == k for r in p)
    merged = read_runs([shard_runs[f"s{k}"] for k in (1, 2, 3)])
    assert {r.check_id: r.verdict for r in merged.records} == full  # identical verdicts
    assert [s.header.extra["shard"] for s in merged.shards] == ["1/3", "2/3", "3/3"] and merged.complete

    # the command: three files (or the folder of them) -> one report, each shard's header kept
    out = tmp_path / "report"
    assert main_report([str(shard_runs[f"s{k}"]) for k in (1, 2, 3)] + ["--out", str(out), "--fail-on-failure"]) == 0
    assert f"{len(full)} checks from 3 files, 0 failed" in capsys.readouterr().out
    html = (out / "index.html").read_text()
    for k in (1, 2, 3):
        assert f"results.jsonl (shard {k}/3)" in html
    shards_dir = tmp_path / "downloaded"
    for k in (1, 2, 3):  # as actions/download-artifact lays them out: one folder per artifact
        (shards_dir / f"shard-{k}").mkdir(parents=True)
        (shards_dir / f"shard-{k}" / "results.jsonl").write_bytes(shard_runs[f"s{k}"].read_bytes())
    assert main_report([str(shards_dir), "--out", str(tmp_path / "r2"), "--fail-on-failure"]) == 0
    # compare takes several files per side, and a folder
    assert main_compare(["--old", str(shard_runs["all"]), "--new", *[str(shard_runs[f"s{k}"]) for k in (1, 2, 3)]]) == 0
    assert f"no regressions — {len(full)} checks in both runs" in capsys.readouterr().out
    assert main_compare([str(shards_dir), str(shard_runs["all"])]) == 0


@pytest.mark.slow
def test_merge_refuses_overlap_and_mixed_settings(shard_runs, tmp_path, capsys):
    s1, s2 = shard_runs["s1"], shard_runs["s2"]
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(s1.read_bytes())
    assert main_report([str(s1), str(copy), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is in both" in err and "check forward_accuracy." in err
    # a shard and the unsharded run: different shard count (and overlapping ids)
    assert main_report([str(s1), str(shard_runs["all"]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "shard count differs" in err and "--allow-mixed" in err
    # --allow-mixed merges different settings, never the same check twice
    assert main_report([str(s1), str(shard_runs["all"]), "--allow-mixed", "--out", str(tmp_path / "o")]) == 2
    assert "is in both" in capsys.readouterr().err
    assert main_report([str(s1), str(s2), "--out", str(tmp_path / "o")]) == 0
    # a missing shard makes the merged run incomplete, and fails the merge job
    assert main_report([str(s1), str(s2), "--out", str(tmp_path / "o"), "--fail-on-failure"]) == 1
    assert "shard 3/3 is not among the files" in capsys.readouterr().out


# ----------------------------------------------------------------------------- synthetic files


def _shard_file(path: Path, shard: str | None, ids: list[str], *, seed: int = 0, run_id: str = "r",
                verdict: str = "pass") -> Path:
    write_run_header(path, RunHeader(run_id=run_id, argv=["ode-harness"], versions={"torch": "2.13.0"}, device="cpu",
                                     seed=seed, extra={"profile": "quick", "impls": ["impl"], "shard": shard}))
    for cid in ids:
        append_record(path, CheckRecord(check_id=cid, suite="s", check="c", iut="impl", method="m",
                                        verdict=Verdict(verdict), run_id=run_id), fsync=False)
    write_run_end(path, exitstatus=0, collected=len(ids), run_id=run_id, fsync=False)
    return path


def test_shards_of_different_settings_are_refused(tmp_path):
    a = _shard_file(tmp_path / "a.jsonl", "1/2", ["s.c[1]"])
    b = _shard_file(tmp_path / "b.jsonl", "2/2", ["s.c[2]"], seed=7, run_id="r2")
    with pytest.raises(ResultsError, match=r"seed differs: .*a\.jsonl has 0, .*b\.jsonl has 7.*--allow-mixed"):
        read_runs([a, b])
    run = read_runs([a, b], allow_mixed=True)
    assert len(run.records) == 2 and any("seed differs" in w for w in run.warnings)


def test_merge_job_fails_when_a_shard_failed(tmp_path, capsys):
    a = _shard_file(tmp_path / "a.jsonl", "1/2", ["s.c[1]"])
    b = _shard_file(tmp_path / "b.jsonl", "2/2", ["s.c[2]"], run_id="r2", verdict="fail")
    assert main_report([str(tmp_path), "--out", str(tmp_path / "o")]) == 0  # a report is not a verdict ...
    assert main_report([str(tmp_path), "--out", str(tmp_path / "o"), "--fail-on-failure"]) == 1  # ... unless asked
    assert "FAIL s.c[2]" in capsys.readouterr().out
    assert b.exists() and a.exists()


@pytest.mark.slow
def test_an_empty_shard_still_writes_its_results_file(shard_runs, tmp_path):
    ids = [r.check_id for r in load_records(shard_runs["all"]).records]
    n = len(ids) + 1  # more shards than checks: by pigeonhole one of them is empty
    k = next(k for k in range(1, n + 1) if all(shard_of(c, n) != k for c in ids))
    run = run_cli(SELECTION + ["--shard", f"{k}/{n}"], tmp_path / "e")
    assert run.returncode == 0 and "holds none of the selected checks" in run.stdout, run.stdout + run.stderr
    res = load_records(tmp_path / "e" / "results.jsonl")
    assert not res.records and res.headers[0].extra["shard"] == f"{k}/{n}"
    assert json.loads((shard_runs["dir"] / "s2" / "summary.json").read_text())["shard"] == "2/3"


@pytest.mark.parametrize("content, message", [
    (b"", "empty results file"),
    (b'{"kind":"check","schema":1,"check_id":"x"', ":1: truncated mid-line: the file holds no complete record"),
    (b'{"a": 1}\n', ":1: not an ode-harness results file"),
    (b"just text\n", ":1: not an ode-harness results file"),
])
def test_bad_results_files_name_file_and_line(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    good = _shard_file(tmp_path / "good.jsonl", None, ["s.c[1]"])
    for argv in ([str(bad)], [str(good), str(bad)]):
        assert main_report(argv + ["--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and str(bad) in err and message in err, err


def test_a_bad_line_inside_a_results_file(tmp_path):
    good = _shard_file(tmp_path / "good.jsonl", None, ["s.c[1]", "s.c[2]"])
    lines = good.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"  # line 2 cut short mid-record, more lines after it
    cut.write_bytes(lines[0] + lines[1][:30] + b"\n" + b"".join(lines[2:]))
    with pytest.raises(ResultsError, match=r"cut\.jsonl:2: a record cut short mid-line"):
        read_runs(cut)
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(lines[0] + b"[1, 2]\n" + b"".join(lines[1:]))
    with pytest.raises(ResultsError, match=r"junk\.jsonl:2: not an ode-harness record"):
        read_runs(junk)
    torn = tmp_path / "torn.jsonl"  # a torn LAST line is what a killed writer leaves: tolerated
    torn.write_bytes(good.read_bytes() + lines[1][:30])
    run = read_runs(torn)
    assert len(run.records) == 2 and not run.complete and "torn" in run.incomplete_reasons[0]
