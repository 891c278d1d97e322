"""The run-end marker: one JSON line written when a run finishes, so that a report can tell a
finished run from one that was killed midway (or is still running).

    {"kind":"run_end","schema":1,"run_id":"...","finished_at":"...","exitstatus":0,
     "collected":123,"extra":{}}

It goes into the same results file as the records, with the same locked, newline-terminated
append (`harness.results.append_record`). Whoever drives a run (the pytest plugin's
``pytest_sessionfinish`` on the xdist controller, or the CLI) calls `write_run_end` once at the
end. Readers of this version of `harness.results.load_records` list such a line among
``bad_lines`` (unknown kind); `read_run_ends` reads them, and the report discounts them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..results import _Record, append_record, current_run_id, decode_value, utc_now

RUN_END_KIND = "run_end"

__all__ = ["RUN_END_KIND", "RunEnd", "write_run_end", "read_run_ends"]


@dataclass(kw_only=True)
class RunEnd(_Record):
    """The end of a run. ``exitstatus`` is pytest's (0 all passed, 1 some failed, 2 interrupted,
    ...), ``collected`` the number of tests the run collected (None: unknown)."""

    KIND: ClassVar[str] = RUN_END_KIND

    run_id: str = field(default_factory=current_run_id)
    finished_at: str = field(default_factory=utc_now)
    exitstatus: int | None = None
    collected: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def write_run_end(path: str | os.PathLike[str] | None, *, exitstatus: int | None = None,
                  collected: int | None = None, run_id: str | None = None,
                  extra: dict[str, Any] | None = None, fsync: bool = True) -> RunEnd:
    """Append the run-end marker of this run (``run_id``: `current_run_id` unless given)."""
    rec = RunEnd(run_id=run_id or current_run_id(),
                 exitstatus=None if exitstatus is None else int(exitstatus),
                 collected=collected, extra=dict(extra or {}))
    append_record(path, rec, fsync=fsync)
    return rec


def read_run_ends(path: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """The complete run-end lines of ``path``: {1-based line number: the decoded object}."""
    out: dict[int, dict[str, Any]] = {}
    needle = b'"kind":"' + RUN_END_KIND.encode() + b'"'
    with open(Path(path), "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n") or needle not in raw[:40]:
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and data.get("kind") == RUN_END_KIND:
                out[lineno] = decode_value(data)
    return out
