"""The results store (harness.results): record round trips, stable check ids, concurrent appends
from several processes, torn and malformed lines, a writer killed with SIGKILL, run headers.

No assertion depends on timing: the SIGKILL test waits for the first complete record before it
kills, and then checks only what must hold whatever moment the kill landed on."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results import (DEFAULT_RESULTS_PATH, RESULTS_ENV, RUN_ID_ENV, SCHEMA_VERSION,
                             CheckRecord, LoadResult, RunHeader, Verdict, append_record,
                             current_run_id, load_records, make_check_id, results_path_from_env,
                             worker_id, write_run_header)

MESSAGE = "max error 3e-8 <b>&amp;</b> <script>alert('x')</script> \"quoted\" \\ tab\t " \
          "newline\n unicode: héllo, Ωμέγα, 数值, 🚀, \u2028, lone surrogate \ud800"


def full_record(**overrides) -> CheckRecord:
    """A record with every field set to something other than its default."""
    kw = dict(
        check_id=make_check_id("forward", "accuracy", iut="reference", method="dopri5",
                               problem="A1", dtype="float64", rtol=1e-6),
        suite="forward", check="accuracy", iut="reference", method="dopri5", problem="A1",
        dtype="float64", device="cpu", verdict=Verdict.FAIL,
        measured={"max_rel_err": 3.0000000000000004e-08, "nfe": 128, "nan": math.nan,
                  "inf": math.inf, "ninf": -math.inf, "neg_zero": -0.0, "tiny": 5e-324,
                  "ok": True, "none": None, "nan_string": "nan", "label": "étape",
                  "per_step": [1.5, math.nan, {"deep": -math.inf}]},
        threshold=1e-6, threshold_reason="rtol of the solve, times 10 for float64 rounding",
        message=MESSAGE, seed=1234, reproducer="import harness\nprint('rerun <case>')\n",
        duration_s=0.125, started_at="2025-01-31T12:00:00.000001+00:00", run_id="run-xyz",
        worker="gw3", extra={"note": "ünïcode", "inner": {"x": [1, 2, 3]}, "bad": math.nan})
    kw.update(overrides)
    return CheckRecord(**kw)


def assert_same(a: CheckRecord, b: CheckRecord) -> None:
    """Field-by-field equality where NaN equals NaN (and -0.0 keeps its sign)."""

    def norm(v):
        if isinstance(v, float):
            return ("float", "nan" if math.isnan(v) else v, math.copysign(1.0, v))
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return (type(v).__name__, v)

    for f in dataclasses.fields(a):
        assert norm(getattr(a, f.name)) == norm(getattr(b, f.name)), f.name


# ----------------------------------------------------------------------------- records


def test_round_trip_every_field(tmp_path):
    rec = full_record()
    line = rec.to_json()
    assert "\n" not in line and line.isascii()
    data = json.loads(line)
    assert list(data)[:2] == ["kind", "schema"]
    assert data["kind"] == "check" and data["schema"] == SCHEMA_VERSION
    assert {f.name for f in dataclasses.fields(CheckRecord)} | {"kind", "schema"} == set(data)
    # the documented encoding of non-finite floats; a genuine "nan" string stays a string
    assert data["measured"]["nan"] == {"$float": "nan"}
    assert data["measured"]["inf"] == {"$float": "inf"}
    assert data["measured"]["ninf"] == {"$float": "-inf"}
    assert data["measured"]["nan_string"] == "nan"

    back = CheckRecord.from_json(line)
    assert_same(rec, back)
    assert back.verdict is Verdict.FAIL
    assert math.isnan(back.measured["nan"]) and back.measured["inf"] == math.inf
    assert math.copysign(1.0, back.measured["neg_zero"]) == -1.0
    assert back.measured["nan_string"] == "nan" and back.message == MESSAGE

    path = tmp_path / "sub" / "dir" / "results.jsonl"  # folders are created
    append_record(path, rec)
    append_record(path, rec, fsync=False)
    res = load_records(path, strict=True)
    assert res.clean and len(res.records) == 2 and res.headers == []
    for r in res.records:
        assert_same(rec, r)


def test_values_are_converted_or_rejected(tmp_path):
    import numpy as np
    import torch

    rec = full_record(measured={"np64": np.float64(0.1), "np32": np.float32(1.5),
                                "npint": np.int64(7), "npbool": np.bool_(True),
                                "arr": np.array([1.0, np.nan]), "t": torch.tensor([2.0, -np.inf]),
                                "tup": (1, 2.5)},
                      dtype=torch.float32, device=torch.device("cpu"))
    back = CheckRecord.from_json(rec.to_json())
    assert back.dtype == "float32" and back.device == "cpu"
    m = back.measured
    assert m["np64"] == 0.1 and type(m["np64"]) is float and m["np32"] == 1.5
    assert m["npint"] == 7 and type(m["npint"]) is int and m["npbool"] is True
    assert m["arr"][0] == 1.0 and math.isnan(m["arr"][1])
    assert m["t"] == [2.0, -math.inf] and m["tup"] == [1, 2.5]

    path = tmp_path / "r.jsonl"
    with pytest.raises(TypeError, match=r"measured\['obj'\]"):
        append_record(path, full_record(measured={"obj": object()}))
    with pytest.raises(TypeError, match="not a str"):
        append_record(path, full_record(measured={1: 2.0}))
    with pytest.raises(ValueError, match="reserved"):
        append_record(path, full_record(extra={"$float": "nan"}))
    assert not path.exists()  # nothing half-written


def test_verdicts_and_validation():
    assert {v.value for v in Verdict} == {"pass", "fail", "error", "timeout", "skip"}
    assert Verdict.PASS == "pass" and str(Verdict.TIMEOUT) == "timeout"
    for v in Verdict:
        assert CheckRecord.from_json(full_record(verdict=v.value).to_json()).verdict is v
    with pytest.raises(ValueError):
        full_record(verdict="passed")
    with pytest.raises(ValueError):
        full_record(check_id="")
    data = json.loads(full_record().to_json())
    with pytest.raises(ValueError, match="newer"):
        CheckRecord.from_dict({**data, "schema": SCHEMA_VERSION + 1})
    with pytest.raises(ValueError, match="unknown fields"):
        CheckRecord.from_dict({**data, "surprise": 1})
    with pytest.raises(ValueError, match="missing fields"):
        CheckRecord.from_dict({k: v for k, v in data.items() if k != "seed"})
    with pytest.raises(ValueError, match="kind"):
        RunHeader.from_dict(data)


def test_defaults_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    monkeypatch.setenv(RUN_ID_ENV, "my-run")
    rec = CheckRecord(check_id="a.b", verdict="skip")
    assert rec.worker == "gw7" and rec.run_id == "my-run" and worker_id() == "gw7"
    assert rec.started_at.endswith("+00:00")
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    monkeypatch.delenv(RUN_ID_ENV)
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "xdist-uid")
    assert worker_id() == "main" and current_run_id() == "xdist-uid"
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID")
    rid = current_run_id()  # fresh, exported for later processes, then stable
    assert rid and os.environ[RUN_ID_ENV] == rid and current_run_id() == rid

    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert results_path_from_env() == DEFAULT_RESULTS_PATH == Path("reports/results.jsonl")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "x.jsonl"))
    assert results_path_from_env() == tmp_path / "x.jsonl"
    append_record(None, rec, fsync=False)
    assert len(load_records().records) == 1


# ----------------------------------------------------------------------------- check ids


def test_check_id_format_and_order():
    want = "forward.accuracy[iut=reference,method=dopri5,problem=A1,dtype=float64,rtol=1e-06]"
    params = dict(iut="reference", method="dopri5", problem="A1", dtype="float64", rtol=1e-6)
    for perm in itertools.permutations(params):
        assert make_check_id("forward", "accuracy", **{k: params[k] for k in perm}) == want
    assert make_check_id("s", "c") == "s.c"
    assert make_check_id("s", "c", b=2, a=1, device="cuda") == "s.c[device=cuda,a=1,b=2]"
    # parameters may be called suite/check: the first two arguments are positional-only
    assert make_check_id("s", "c", suite="x", check="y") == "s.c[check=y,suite=x]"


def test_check_id_values_are_reproducible():
    import numpy as np
    import torch

    def cid(v):
        return make_check_id("s", "c", v=v)

    assert cid(1e-6) == cid(10 ** -6) == cid(np.float64(1e-6)) == cid(np.float32(1e-6)) \
        == "s.c[v=1e-06]"
    assert cid(0.1 + 0.2) == "s.c[v=0.30000000000000004]"  # shortest repr: distinct from 0.3
    assert cid(0.3) == "s.c[v=0.3]" and cid(1.0) == "s.c[v=1.0]" and cid(1) == "s.c[v=1]"
    assert cid(1e22) == "s.c[v=1e+22]" and cid(-0.0) == "s.c[v=-0.0]"
    assert cid(math.nan) == "s.c[v=nan]" and cid(-math.inf) == "s.c[v=-inf]"
    assert cid(True) == "s.c[v=true]" and cid(None) == "s.c[v=none]"
    assert cid(np.int64(3)) == cid(3) and cid(Verdict.PASS) == "s.c[v=pass]"
    assert cid(torch.float64) == cid("float64") == "s.c[v=float64]"
    assert cid((1, 2.5, "a")) == "s.c[v=(1,2.5,a)]"
    assert cid("a,b=c") == 's.c[v="a,b=c"]' and cid("") == 's.c[v=""]'
    with pytest.raises(TypeError):
        cid(object())
    with pytest.raises(ValueError):
        make_check_id("bad suite", "c")
    with pytest.raises(ValueError):
        make_check_id("s", "c", **{"not an identifier": 1})


def test_check_id_stable_across_processes():
    code = ("from harness.results import make_check_id as m;"
            "print(m('forward','accuracy',rtol=1e-6,atol=1.5e-300,problem='B5',dtype='float32',"
            "method='tsit5',iut='torchdiffeq',h=0.1+0.2,tags=('a','b')))")
    ids = set()
    for hashseed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        ids.add(out.stdout.strip())
    assert ids == {make_check_id("forward", "accuracy", iut="torchdiffeq", method="tsit5",
                                 problem="B5", dtype="float32", atol=1.5e-300, h=0.1 + 0.2,
                                 rtol=1e-6, tags=("a", "b"))}


# ----------------------------------------------------------------------------- concurrency

N_PROCS, N_EACH = 4, 500


def expected_message(w: int, i: int) -> str:
    """~5 KB, different for every (writer, index), with non-ASCII (escaped to 6 bytes each)."""
    unit = f"<w{w}:i{i}>é数"
    return (unit * (5000 // len(unit) + (i % 7)))[: 5000 + 13 * (i % 11)]


# Each writer is a fresh interpreter that imports only harness.results (~0.1 s to start; a
# multiprocessing "spawn" child would re-import this module and pytest, ~3 s for four on two
# cores, and "fork" would fork a process that has torch loaded). All of them wait on stdin,
# so that they start appending at the same moment.
APPEND_WRITER = r"""
import sys
from harness.results import CheckRecord, append_record, make_check_id
{expected_message_source}
path, w, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    append_record(path, CheckRecord(check_id=make_check_id("conc", "append", w=w, i=i),
                                    verdict="pass", measured={"w": w, "i": i},
                                    message=expected_message(w, i), worker=f"p{w}"),
                  fsync=i % 50 == 0)  # fsync is for crash durability, not atomicity; a few
                                      # are kept to exercise that path (each costs ~ms)
"""


def test_concurrent_appends_from_processes(tmp_path):
    path = tmp_path / "concurrent.jsonl"
    code = APPEND_WRITER.replace("{expected_message_source}", inspect.getsource(expected_message))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(w),
                               str(N_EACH)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
             for w in range(N_PROCS)]
    try:
        assert [p.stdout.readline() for p in procs] == ["ready\n"] * N_PROCS
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        assert [p.wait(120) for p in procs] == [0] * N_PROCS
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdin.close()
            p.stdout.close()

    raw = path.read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == N_PROCS * N_EACH
    assert min(len(line) for line in lines[:-1]) > 4096  # longer than PIPE_BUF
    res = load_records(path, strict=True)
    assert res.clean and len(res.records) == N_PROCS * N_EACH
    seen = set()
    for r in res.records:
        w, i = r.measured["w"], r.measured["i"]
        assert r.message == expected_message(w, i) and r.worker == f"p{w}"
        assert r.check_id == make_check_id("conc", "append", w=w, i=i)
        seen.add((w, i))
    assert seen == {(w, i) for w in range(N_PROCS) for i in range(N_EACH)}
    for w in range(N_PROCS):  # each writer's records appear in its own order
        order = [r.measured["i"] for r in res.records if r.measured["w"] == w]
        assert order == list(range(N_EACH))


# ----------------------------------------------------------------------------- damaged files


def _write_records(path: Path, n: int) -> list[CheckRecord]:
    recs = [full_record(check_id=f"t.c[i={i}]", measured={"i": i}) for i in range(n)]
    for r in recs:
        append_record(path, r, fsync=False)
    return recs


def test_torn_last_line_is_skipped_and_repaired(tmp_path):
    path = tmp_path / "torn.jsonl"
    _write_records(path, 3)
    whole = full_record(check_id="t.c[i=3]").to_json()
    with open(path, "ab") as f:
        f.write(whole[: len(whole) // 2].encode())  # a writer killed mid-line
    res = load_records(path, strict=True)  # a torn tail is expected, not an error
    assert res.torn_tail and not res.clean and res.bad_lines == [] and res.torn_lines == []
    assert [r.measured["i"] for r in res.records] == [0, 1, 2] and 4 in res.errors

    # A complete JSON object lacking its newline is still torn: its writer had not finished.
    path2 = tmp_path / "torn2.jsonl"
    _write_records(path2, 1)
    with open(path2, "ab") as f:
        f.write(whole.encode())
    res2 = load_records(path2)
    assert res2.torn_tail and len(res2.records) == 1

    # The next append starts on a fresh line: the fragment stays apart, nothing is swallowed.
    append_record(path, full_record(check_id="t.c[i=4]", measured={"i": 4}))
    res = load_records(path, strict=True)
    assert not res.torn_tail and res.torn_lines == [4] and res.bad_lines == []
    assert [r.measured["i"] for r in res.records] == [0, 1, 2, 4]


def test_malformed_middle_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    _write_records(path, 2)
    with open(path, "ab") as f:
        f.write(b"this is not json\n")       # line 3
        f.write(b"\n   \n")                  # lines 4, 5: blank, ignored
        f.write(b'{"kind":"mystery","schema":1}\n')  # line 6: unknown kind
        f.write(b"[1, 2]\n")                 # line 7: not an object
        f.write(b"\xff\xfe{}\n")             # line 8: not UTF-8
    _write_records(path, 1)
    res = load_records(path)
    assert res.bad_lines == [3, 6, 7, 8] and not res.torn_tail and res.torn_lines == []
    assert set(res.errors) == {3, 6, 7, 8} and "mystery" in res.errors[6]
    assert [r.measured["i"] for r in res.records] == [0, 1, 0]
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: malformed record"):
        load_records(path, strict=True)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match="results file not found: .*nope.jsonl"):
        load_records(path)
    res = load_records(path, missing_ok=True)
    assert res.missing and res.records == [] and res.headers == [] and not res.clean
    assert isinstance(res, LoadResult)


KILL_WRITER = r"""
import itertools, sys
from harness.results import CheckRecord, append_record
path = sys.argv[1]
for i in itertools.count():
    append_record(path, CheckRecord(check_id=f"kill.loop[i={i}]", verdict="pass",
                                    measured={"i": i, "nan": float("nan")},
                                    message="x" * (5000 + i % 1000)), fsync=False)
"""


def test_sigkill_midway_keeps_every_complete_record(tmp_path):
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(path)],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60  # only a bound for a broken setup, never a measurement
        while not (path.exists() and b"\n" in path.read_bytes()[:20000]):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the writer never finished a record"
            time.sleep(0.01)
        time.sleep(0.5)  # let it run on; wherever the kill lands, the assertions below hold
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    raw = path.read_bytes()
    res = load_records(path, strict=True)
    n = len(res.records)
    assert n > 0 and n == raw.count(b"\n")  # every complete line loads
    assert res.bad_lines == [] and res.torn_lines == []
    assert [r.measured["i"] for r in res.records] == list(range(n))  # nothing lost or mangled
    assert all(r.check_id == f"kill.loop[i={i}]" and math.isnan(r.measured["nan"])
               for i, r in enumerate(res.records))
    tail = raw[raw.rfind(b"\n") + 1:]  # at most the last line is torn
    assert res.torn_tail == bool(tail)
    assert b'{"kind":"check"'.startswith(tail[:15])

    append_record(path, full_record(check_id="after.kill"))  # the file stays usable
    res2 = load_records(path, strict=True)
    assert len(res2.records) == n + 1 and res2.records[-1].check_id == "after.kill"
    assert not res2.torn_tail and res2.torn_lines == ([n + 1] if tail else [])


# ----------------------------------------------------------------------------- run header


def test_run_header_round_trip(tmp_path):
    path = tmp_path / "run.jsonl"
    hdr = write_run_header(path, run_id="run-1", seed=7, device="cpu",
                           argv=["pytest", "suites", "-n", "4"],
                           extra={"note": "√ nan", "x": math.inf})
    assert hdr.run_id == "run-1" and hdr.seed == 7 and hdr.argv == ["pytest", "suites", "-n", "4"]
    for key in ("python", "torch", "torchdiffeq", "scipy", "numpy", "ode-harness"):
        assert key in hdr.versions
    assert hdr.versions["python"].split()[-1] == ".".join(map(str, sys.version_info[:3]))
    assert hdr.git_commit is None or len(hdr.git_commit) == 40
    append_record(path, full_record(run_id="run-1"))
    append_record(path, RunHeader(run_id="run-2", seed=None, device="cuda:0 (GPU)"))

    res = load_records(path, strict=True)
    assert res.clean and len(res.records) == 1 and len(res.headers) == 2
    assert_same(res.headers[0], hdr)
    assert res.headers[1].run_id == "run-2" and res.headers[1].device == "cuda:0 (GPU)"
    assert json.loads(path.read_text().splitlines()[0])["kind"] == "run_header"
    with pytest.raises(TypeError):
        write_run_header(path, hdr, seed=1)
