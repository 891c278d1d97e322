"""Shards: a deterministic partition of the checks by their stable check id.

    ode-harness check ... --shard K/N          (the CLI)
    pytest --pyargs harness.suites --ode-shard K/N      (the pytest plugin)

Both options are defined by `SHARD_OPTION` (one help text, one parser). Check ``i`` belongs to
shard ``1 + (sha256(check id) mod N)``: the same check lands in the same shard on every machine,
Python version and run (unlike ``hash()``, which Python randomizes per process), and every check
is in exactly one of the N shards. The check id is the one in the results file
(``suite.check[parameters]``, see `check_id_of`), so the shards of a run merge back by id
(``ode-harness report shard-*.jsonl``).

A hash partition balances counts, not times: with c checks a shard holds c/N checks, give or
take sqrt(c (1/N)(1 - 1/N)) (binomial standard deviation), e.g. 180 +- 11 of 540 checks for N = 3.

This module imports nothing heavy: the pytest entry point loads it in every pytest run.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Shard", "parse_shard", "shard_of", "check_id_of", "SHARD_OPTION"]

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `total`."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def holds(self, check_id: str) -> bool:
        """Is the check with this id in this shard?"""
        return shard_of(check_id, self.total) == self.index


def shard_of(check_id: str, total: int) -> int:
    """The shard (1..total) of a check id: 1 + sha256(id) mod total."""
    digest = hashlib.sha256(check_id.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % total


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with 1 <= K <= N -> Shard(K, N); ValueError (one line) otherwise."""
    m = _SPEC.match(str(text))
    if not m:
        raise ValueError(f"expected K/N (shard K of N, 1 <= K <= N), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"got {text!r}: K must be between 1 and N (the shards of N are 1/N to N/N)")
    return Shard(k, n)


def _shard_arg(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class _Option:
    """One option definition for the CLI's argparse parser and pytest's parser."""

    metavar: str = "K/N"
    help: str = ("run only shard K of N: a deterministic partition of the checks by their check id "
                 "(sha256), every check in exactly one shard; merge the shards' results files with "
                 "'ode-harness report'")

    def add_to(self, group: object, flag: str) -> None:
        """Add the option as `flag` to an argparse group or a pytest OptionGroup."""
        adder = getattr(group, "addoption", None) or getattr(group, "add_argument")
        adder(flag, dest="ode_shard" if flag.startswith("--ode-") else "shard", default=None,
              type=_shard_arg, metavar=self.metavar, help=self.help)


SHARD_OPTION = _Option()


def check_id_of(nodeid: str, callspec_id: str | None = None, module: str | None = None) -> str:
    """The check id of a suite test (as in its record): ``<suite>.<test function>[<parameters>]``,
    the suite being the file's stem without ``test_``. `callspec_id` is pytest's parameter id
    (taken from the node id when not given), `module` the file's stem (from the node id when not
    given)."""
    path, _, rest = nodeid.partition("::")
    name = rest.rpartition("::")[2].partition("[")[0]
    params = callspec_id if callspec_id is not None else rest.partition("[")[2].rpartition("]")[0]
    suite = (module or Path(path).stem).removeprefix("test_")
    return f"{suite}.{name}[{params}]"
