"""The results store: one JSON-lines record per check, appended the moment it exists.

Every check of the harness yields a `CheckRecord`: a stable check id, the implementation under
test (IUT), method, problem, dtype, device, the threshold and the reason for it, the `Verdict`, a
message, the seed, a reproducer (a short Python snippet that reruns exactly that case), the typed
`harness.evidence.Evidence` of what it measured (series, expectation, problem properties,
reproducer inputs, scalars) and free-form display-only notes (``measured``). Once per run a
`RunHeader` (command line, versions, git commit, device, seed) goes into the same file; the two
kinds are told apart by the ``"kind"`` field that opens every line (``"check"`` or
``"run_header"``), next to ``"schema"`` (`SCHEMA_VERSION`; older schemas are read, see there).

    path = results_path_from_env()      # $ODE_HARNESS_RESULTS or reports/results.jsonl
    write_run_header(path, seed=0)                     # once per run (the xdist controller)
    rec = CheckRecord(
        check_id=make_check_id("forward", "accuracy", iut="reference", method="dopri5",
                               problem="A1", dtype="float64", rtol=1e-6),
        suite="forward", check="accuracy", iut="reference", method="dopri5", problem="A1",
        dtype="float64", device="cpu", threshold=1e-6,
        threshold_reason="rtol of the solve", verdict=Verdict.PASS, seed=0,
        reproducer="from harness ...",
        evidence=Evidence(expectation=Expectation(quantity="max_rel_err", kind=Quantity.ERROR,
                          comparison=Comparison.LE, value=3.1e-8, threshold=1e-6,
                          reason="rtol of the solve")))
    append_record(path, rec)
    res = load_records(path)                           # res.records, res.headers, res.torn_tail

Writing (`append_record`). A record is serialized to exactly one line (no raw newline can occur:
JSON escapes them; the line is pure ASCII, non-ASCII text is ``\\u`` escaped), the file is opened
with ``O_APPEND | O_CREAT``, an exclusive ``flock`` is taken, the whole line goes out with
``os.write`` (looping on partial writes), then ``os.fsync`` (optional, on by default) and
unlock. The lock makes appends from several processes (pytest-xdist workers) or threads
serialize even for lines longer than ``PIPE_BUF``. There is no user-space buffer, so a process
killed at any point (SIGKILL included) leaves every record it finished in the file; fsync adds
durability against an OS crash or power loss. A writer killed in the middle of a line leaves a
torn line without its newline; the next `append_record` notices (under the lock) that the file
does not end in a newline and starts its own line on a fresh one, so the torn fragment never
swallows a complete record. Linux/POSIX only (``fcntl``).

Reading (`load_records`). A record is complete iff its terminating newline is in the file.
A last line without newline is a torn tail: skipped and reported (``torn_tail``). A line in the
middle that is a truncated record (a fragment left by a killed writer, then closed by the next
append) is skipped and reported in ``torn_lines``; any other line that is not a valid record is
reported in ``bad_lines`` (1-based line numbers, reasons in ``errors``), and with
``strict=True`` raises ValueError naming the file and line. A missing file raises
FileNotFoundError (one clear line) unless ``missing_ok=True``, which returns an empty result
with ``missing=True``.

Non-finite floats. JSON has no NaN or infinity, so anywhere in a record (measured values,
threshold, extra, ...) a float nan/inf/-inf is written as the one-key object
``{"$float": "nan"}`` (``"inf"``, ``"-inf"``) and read back as the float. A tagged object rather
than a bare string keeps a genuine string ``"nan"`` a string. Finite floats are written with
Python's shortest round-trip repr (so they read back bit for bit, -0.0 included). Values that are
not plain JSON are converted on the way out: tuples become lists, numpy/torch scalars and arrays
go through ``.tolist()``; anything else (and non-string dict keys) raises TypeError naming
where it sits, at the moment the record is serialized.

Run id and worker. ``run_id`` defaults to `current_run_id()`: ``$ODE_HARNESS_RUN_ID`` if set,
else xdist's ``$PYTEST_XDIST_TESTRUNUID`` (shared by the workers of a session), else a fresh id,
which is then exported to ``$ODE_HARNESS_RUN_ID`` so that processes started afterwards (xdist
workers included) inherit it. ``worker`` is ``$PYTEST_XDIST_WORKER`` or ``"main"``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import fcntl
import json
import math
import os
import platform
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

from .evidence import Evidence

__all__ = [
    "SCHEMA_VERSION", "OLDEST_SCHEMA", "Verdict", "CheckRecord", "RunHeader", "LoadResult", "make_check_id",
    "append_record", "write_run_header", "load_records", "results_path_from_env",
    "current_run_id", "worker_id", "utc_now", "encode_value", "decode_value", "git_state",
    "run_header_extra",
    "RESULTS_ENV", "RUN_ID_ENV", "DEFAULT_RESULTS_PATH",
]

SCHEMA_VERSION = 2
# Schema history: 1 — measured values as free-form keys (``measured``), no typed evidence;
# 2 — ``evidence`` (harness.evidence.Evidence, typed) added; ``measured`` holds free-form,
# display-only notes. Schema-1 lines are still read (`_upgrade_v1`).
OLDEST_SCHEMA = 1
RESULTS_ENV = "ODE_HARNESS_RESULTS"
RUN_ID_ENV = "ODE_HARNESS_RUN_ID"
DEFAULT_RESULTS_PATH = Path("reports") / "results.jsonl"
FLOAT_TAG = "$float"

# Parameters that lead a check id in this order; all other parameters follow, sorted by name.
ID_KEY_ORDER = ("iut", "method", "problem", "dtype", "device")
_ID_SPECIAL = set(",=[]()\"'\\") | {" ", "\t", "\n", "\r"}


class Verdict(str, enum.Enum):
    """Outcome of one check. A str subclass: ``Verdict.PASS == "pass"``."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIP = "skip"

    def __str__(self) -> str:
        return self.value


# ----------------------------------------------------------------------------- small helpers


def utc_now() -> str:
    """The current time as ISO 8601 UTC with microseconds:
    ``2025-01-31T12:00:00.123456+00:00``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def worker_id() -> str:
    """The pytest-xdist worker id (``gw0``, ...) of this process, or ``"main"``."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def current_run_id() -> str:
    """The id shared by all records of a run (see the module docstring for where it comes from).
    A freshly made id is exported to ``$ODE_HARNESS_RUN_ID`` for processes started later."""
    rid = os.environ.get(RUN_ID_ENV) or os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not rid:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        rid = f"{stamp}-{uuid.uuid4().hex[:8]}"
        os.environ[RUN_ID_ENV] = rid
    return rid


def results_path_from_env() -> Path:
    """``$ODE_HARNESS_RESULTS`` if set and non-empty, else ``reports/results.jsonl`` (relative to
    the current directory)."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS_PATH)


# ----------------------------------------------------------------------------- check ids


def _format_id_value(value: Any) -> str:
    """Render one check-id parameter reproducibly (independent of process, platform, run)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))  # shortest round-trip repr: 1e-06, 0.1, nan, inf, -0.0
    if isinstance(value, str):
        if value == "" or any(c in _ID_SPECIAL for c in value):
            return json.dumps(value)
        return value
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(_format_id_value(v) for v in value) + ")"
    mod = type(value).__module__.split(".")[0]
    if mod == "torch" and type(value).__name__ in ("dtype", "device"):
        return _format_id_value(str(value).removeprefix("torch."))
    if mod == "numpy" and hasattr(value, "dtype") and getattr(value, "ndim", None) == 0:
        if value.dtype.kind == "f" and value.dtype.itemsize < 8:
            # float32/float16: the shortest decimal of that precision, not the widened double
            return repr(float(str(value)))
        return _format_id_value(value.item())
    if mod == "numpy" and type(value).__name__.startswith("dtype"):
        return _format_id_value(str(value))
    raise TypeError(f"check id parameter of type {type(value).__name__} ({value!r}): use a "
                    f"str, int, float, bool, None, or a tuple of these")


def make_check_id(suite: str, check: str, /, **params: Any) -> str:
    """A check id that is the same for the same case in every run:
    ``suite.check[k1=v1,k2=v2,...]``. Parameters ``iut, method, problem, dtype, device`` come
    first in that order, the others follow sorted by name, so keyword order never matters.
    Floats use Python's shortest round-trip repr (``1e-06``, ``0.1``), numpy float32 values the
    shortest decimal of float32; torch dtypes lose their ``torch.`` prefix; bools are
    ``true``/``false``, None is ``none``; strings containing separators or blanks are
    JSON-quoted; tuples/lists become ``(a,b)``. Without parameters: ``suite.check``."""
    for name, part in (("suite", suite), ("check", check)):
        if not isinstance(part, str) or not part or any(c in _ID_SPECIAL for c in part):
            raise ValueError(f"{name} must be a non-empty string without separators: {part!r}")
    for k in params:
        if not k.isidentifier():
            raise ValueError(f"check id parameter name must be an identifier: {k!r}")
    keys = [k for k in ID_KEY_ORDER if k in params] + sorted(k for k in params
                                                              if k not in ID_KEY_ORDER)
    base = f"{suite}.{check}"
    if not keys:
        return base
    return base + "[" + ",".join(f"{k}={_format_id_value(params[k])}" for k in keys) + "]"


# ----------------------------------------------------------------------------- JSON encoding


def encode_value(value: Any, where: str = "value") -> Any:
    """Convert to plain JSON data: non-finite floats become ``{"$float": "nan"|"inf"|"-inf"}``,
    tuples lists, numpy/torch scalars and arrays go through ``.tolist()``. TypeError (naming
    ``where``) for anything else."""
    if isinstance(value, enum.Enum):
        return encode_value(value.value, where)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        v = float(value)
        if math.isfinite(v):
            return v
        return {FLOAT_TAG: "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: dict key {k!r} is not a str")
            out[str(k)] = encode_value(v, f"{where}[{k!r}]")
        if len(out) == 1 and FLOAT_TAG in out:
            raise ValueError(f"{where}: a dict whose only key is {FLOAT_TAG!r} is reserved")
        return out
    if isinstance(value, (list, tuple)):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and type(value).__module__.split(".")[0] in ("numpy", "torch"):
        return encode_value(tolist(), where)
    raise TypeError(f"{where}: {type(value).__name__} is not JSON-able ({value!r:.80})")


_TAG_VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode_value(value: Any) -> Any:
    """Inverse of `encode_value` on parsed JSON: ``{"$float": "nan"}`` -> float('nan') etc."""
    if isinstance(value, dict):
        if len(value) == 1 and FLOAT_TAG in value:
            tag = value[FLOAT_TAG]
            if tag not in _TAG_VALUES:
                raise ValueError(f"bad {FLOAT_TAG} value {tag!r}")
            return _TAG_VALUES[tag]
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class _Record:
    """Shared (de)serialization of the record kinds: ``kind`` and ``schema`` open every line,
    then the dataclass fields in declaration order."""

    KIND: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (non-finite floats tagged), ``kind`` and ``schema`` first."""
        out: dict[str, Any] = {"kind": self.KIND, "schema": SCHEMA_VERSION}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if hasattr(v, "to_dict") else encode_value(v, f.name)
        return out

    def to_json(self) -> str:
        """One line of JSON (pure ASCII, no newline)."""
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Inverse of `to_dict`. ValueError for a wrong kind, a newer schema, missing or unknown
        fields."""
        data = dict(data)
        kind = data.pop("kind", None)
        if kind != cls.KIND:
            raise ValueError(f"kind is {kind!r}, expected {cls.KIND!r}")
        schema = data.pop("schema", None)
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
            raise ValueError(f"bad schema version {schema!r}")
        if schema > SCHEMA_VERSION:
            raise ValueError(f"schema {schema} was written by a newer ode-harness "
                             f"(this one reads schemas {OLDEST_SCHEMA} to {SCHEMA_VERSION}); upgrade ode-harness")
        if schema < SCHEMA_VERSION:
            data = cls._upgrade(schema, data)
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        missing = [n for n in names if n not in data]
        unknown = [k for k in data if k not in names]
        if missing or unknown:
            raise ValueError(f"{cls.KIND} record: missing fields {missing}, "
                             f"unknown fields {unknown}")
        return cls(**{k: cls._decode_field(k, v) for k, v in data.items()})

    @classmethod
    def _upgrade(cls, schema: int, data: dict[str, Any]) -> dict[str, Any]:
        """The fields of an older schema's record as the current schema has them."""
        return data

    @classmethod
    def _decode_field(cls, name: str, value: Any) -> Any:
        return decode_value(value)

    @classmethod
    def from_json(cls, line: str | bytes):
        """Parse one line written by `to_json`."""
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError(f"a record is a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)


def _as_str(value: Any) -> str:
    """dtype/device objects to their plain name (``torch.float64`` -> ``float64``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)
    return str(value).removeprefix("torch.")


# ----------------------------------------------------------------------------- record kinds


@dataclass(kw_only=True)
class CheckRecord(_Record):
    """The outcome of one check. ``check_id`` and ``verdict`` are required; ``run_id``,
    ``worker`` and ``started_at`` are filled in from the environment and the clock."""

    KIND: ClassVar[str] = "check"

    check_id: str
    suite: str = ""
    check: str = ""
    iut: str = ""
    method: str = ""
    problem: str = ""
    dtype: str = ""
    device: str = ""
    verdict: Verdict
    measured: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    threshold_reason: str = ""
    message: str = ""
    seed: int | None = None
    reproducer: str = ""
    duration_s: float | None = None
    started_at: str = field(default_factory=utc_now)
    run_id: str = field(default_factory=current_run_id)
    worker: str = field(default_factory=worker_id)
    extra: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence | None = None

    @classmethod
    def _upgrade(cls, schema: int, data: dict[str, Any]) -> dict[str, Any]:
        # schema 1 had no typed evidence: recovered once, by the legacy adapter (the only place
        # that reads meaning from the names of measured keys)
        from .results_v1 import evidence_from_v1

        data = dict(data)
        data["evidence"] = evidence_from_v1(data)
        return data

    @classmethod
    def _decode_field(cls, name: str, value: Any) -> Any:
        if name == "evidence":
            return value if value is None or isinstance(value, Evidence) else Evidence.from_dict(value)
        return decode_value(value)

    def __post_init__(self) -> None:
        if self.evidence is not None and not isinstance(self.evidence, Evidence):
            raise TypeError(f"evidence must be a harness.evidence.Evidence, got {type(self.evidence).__name__}")
        if not isinstance(self.check_id, str) or not self.check_id:
            raise ValueError(f"check_id must be a non-empty string, got {self.check_id!r}")
        self.verdict = Verdict(self.verdict)  # ValueError for an unknown verdict
        self.dtype = _as_str(self.dtype)
        self.device = _as_str(self.device)
        if self.threshold is not None:
            self.threshold = float(self.threshold)
        if self.duration_s is not None:
            self.duration_s = float(self.duration_s)
        if self.seed is not None:
            self.seed = int(self.seed)
        if not isinstance(self.measured, dict) or not isinstance(self.extra, dict):
            raise TypeError("measured and extra must be dicts")


def _pkg_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(folder: str | os.PathLike[str]) -> tuple[str | None, bool | None]:
    """(commit, has uncommitted changes) of the git checkout holding `folder`; (None, None)
    outside git."""
    here = Path(folder)
    commit = _git(["rev-parse", "HEAD"], here)
    if not commit:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], here)
    return commit, None if status is None else bool(status)


def run_header_extra(*, profile: str, impls: list[str], methods: list[str], claims: dict[str, Any],
                     method_claims: dict[str, dict[str, Any]], overrides: list[dict[str, Any]],
                     shard: str | None) -> dict[str, Any]:
    """The ``extra`` of a suites run's header: its settings (what the shards of one run share,
    `harness.report.data.run_settings`) and the git commit of the project under test (the
    checkout of the working folder, None outside git)."""
    commit, dirty = git_state(Path.cwd())
    return {"profile": profile, "impls": list(impls), "methods": list(methods), "claims": dict(claims),
            "method_claims": dict(method_claims), "overrides": list(overrides), "shard": shard,
            "project_commit": commit, "project_dirty": dirty}


def _describe_device() -> str:
    """``cuda:N (name)`` for the current CUDA device if CUDA is available, else ``cpu``."""
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        i = torch.cuda.current_device()
        return f"cuda:{i} ({torch.cuda.get_device_name(i)})"
    return "cpu"


@dataclass(kw_only=True)
class RunHeader(_Record):
    """What a run was: written once per run, before its check records. `collect` fills it in."""

    KIND: ClassVar[str] = "run_header"

    run_id: str = field(default_factory=current_run_id)
    started_at: str = field(default_factory=utc_now)
    argv: list[str] = field(default_factory=list)
    cwd: str = ""
    versions: dict[str, str | None] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    device: str = ""
    seed: int | None = None
    hostname: str = ""
    platform: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def collect(cls, *, run_id: str | None = None, seed: int | None = None,
                device: str | None = None, argv: Iterable[str] | None = None,
                extra: dict[str, Any] | None = None) -> "RunHeader":
        """Gather the header of this process: command line (``sys.argv`` unless given), versions
        of python, torch (with its CUDA version), torchdiffeq, scipy, numpy and ode-harness,
        the git commit and dirtiness of the checkout this module lives in (None outside git),
        and the device (``cuda:N (name)`` or ``cpu`` unless given; importing torch for it)."""
        torch_mod = sys.modules.get("torch")
        versions: dict[str, str | None] = {
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "torch": str(getattr(torch_mod, "__version__", "") or "") or _pkg_version("torch"),
            "torchdiffeq": _pkg_version("torchdiffeq"),
            "scipy": _pkg_version("scipy"),
            "numpy": _pkg_version("numpy"),
            "ode-harness": _pkg_version("ode-harness"),
        }
        if device is None:
            device = _describe_device()
        torch_mod = sys.modules.get("torch")
        if torch_mod is not None:
            cuda = getattr(getattr(torch_mod, "version", None), "cuda", None)
            versions["cuda"] = None if cuda is None else str(cuda)
        commit, dirty = git_state(Path(__file__).resolve().parent)
        return cls(
            run_id=run_id or current_run_id(),
            argv=list(sys.argv if argv is None else argv),
            cwd=os.getcwd(),
            versions=versions,
            git_commit=commit or None,
            git_dirty=dirty,
            device=device,
            seed=seed,
            hostname=socket.gethostname(),
            platform=platform.platform(),
            extra=dict(extra or {}),
        )


_KINDS: dict[str, type[_Record]] = {CheckRecord.KIND: CheckRecord, RunHeader.KIND: RunHeader}


# ----------------------------------------------------------------------------- writing


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - regular files do not return 0 for a non-empty write
            raise OSError(f"os.write wrote {n} bytes")
        view = view[n:]


def append_record(path: str | os.PathLike[str] | None, record: CheckRecord | RunHeader, *,
                  fsync: bool = True) -> None:
    """Append ``record`` as one line to the JSON-lines file ``path`` (None: the path from
    `results_path_from_env`), creating the file and its folder if needed. Safe from several
    processes and threads at once (exclusive ``flock`` around the write); with ``fsync`` the
    line is on disk when this returns (and the folder entry, when the file was new)."""
    line = record.to_json().encode("ascii") + b"\n"
    path = Path(results_path_from_env() if path is None else path)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:  # the folder does not exist yet
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            # A writer killed mid-line left a torn line: start ours on a fresh line.
            data = line if size == 0 or os.pread(fd, 1, size - 1) == b"\n" else b"\n" + line
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
                if size == 0:
                    _fsync_dir(path.parent)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(dfd)


def write_run_header(path: str | os.PathLike[str] | None = None, header: RunHeader | None = None,
                     *, fsync: bool = True, **collect_kwargs: Any) -> RunHeader:
    """Append a run header (``header``, or ``RunHeader.collect(**collect_kwargs)``) to ``path``
    and return it. Call it once per run, from one process: under pytest-xdist, from the
    controller (``not hasattr(config, "workerinput")``) before the workers start, so that they
    inherit its run id through ``$ODE_HARNESS_RUN_ID``."""
    if header is None:
        header = RunHeader.collect(**collect_kwargs)
    elif collect_kwargs:
        raise TypeError("pass either a header or the arguments of RunHeader.collect, not both")
    append_record(path, header, fsync=fsync)
    return header


# ----------------------------------------------------------------------------- reading


@dataclass
class LoadResult:
    """What `load_records` read: the check records and run headers in file order, and what it
    skipped (1-based line numbers)."""

    records: list[CheckRecord] = field(default_factory=list)
    headers: list[RunHeader] = field(default_factory=list)
    torn_tail: bool = False           # the last line had no newline (a writer was killed)
    torn_lines: list[int] = field(default_factory=list)  # truncated records inside the file
    bad_lines: list[int] = field(default_factory=list)   # malformed complete lines
    errors: dict[int, str] = field(default_factory=dict)  # line number -> why it was skipped
    missing: bool = False             # the file did not exist (missing_ok=True)

    @property
    def clean(self) -> bool:
        """Nothing was skipped."""
        return not (self.torn_tail or self.torn_lines or self.bad_lines or self.missing)


def _looks_truncated(raw: bytes) -> bool:
    """True if ``raw`` (a line that does not parse) looks like the start of one of our records
    cut short: it opens like a record and ends inside a string or an open object/array."""
    if not raw.startswith(b'{"kind":"'):
        return False
    depth, in_str, esc = 0, False, False
    for b in raw:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:  # backslash
                esc = True
            elif b == 0x22:  # quote
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x7B, 0x5B):  # { [
            depth += 1
        elif b in (0x7D, 0x5D):  # } ]
            depth -= 1
            if depth < 0:
                return False
    return in_str or depth > 0


def _parse_line(raw: bytes) -> CheckRecord | RunHeader:
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"a record is a JSON object, got {type(data).__name__}")
    cls = _KINDS.get(data.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown record kind {data.get('kind')!r}")
    return cls.from_dict(data)  # type: ignore[return-value]


def load_records(path: str | os.PathLike[str] | None = None, *, strict: bool = False,
                 missing_ok: bool = False) -> LoadResult:
    """Read every complete record of the JSON-lines file ``path`` (None: the path from
    `results_path_from_env`). A torn last line is skipped (``torn_tail``), truncated lines
    inside the file are skipped (``torn_lines``), blank lines are ignored, and any other line
    that is not a valid record is skipped and listed in ``bad_lines`` — or, with ``strict``,
    raises ValueError ``"<path>:<line>: malformed record: <why>"``. A missing file raises
    FileNotFoundError, or with ``missing_ok`` gives an empty result with ``missing=True``."""
    path = Path(results_path_from_env() if path is None else path)
    res = LoadResult()
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if missing_ok:
            res.missing = True
            return res
        raise FileNotFoundError(f"results file not found: {path}") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                res.torn_tail = True  # only the last line can lack its newline
                res.errors[lineno] = "torn last line (no newline)"
                break
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                rec = _parse_line(raw)
            except (ValueError, TypeError, UnicodeDecodeError) as exc:
                if _looks_truncated(raw):
                    res.torn_lines.append(lineno)
                    res.errors[lineno] = f"truncated record: {exc}"
                    continue
                if strict:
                    raise ValueError(f"{path}:{lineno}: malformed record: {exc}") from exc
                res.bad_lines.append(lineno)
                res.errors[lineno] = str(exc)
                continue
            (res.records if isinstance(rec, CheckRecord) else res.headers).append(rec)
    return res
