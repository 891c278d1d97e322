"""Settings of an `ode-harness check` run: the ``[tool.ode-harness]`` table of a pyproject.toml,
merged under the command line, and the per-check tolerance overrides.

    [tool.ode-harness]
    implementations = ["mylib.solvers:odeint"]   # built-in names or package.module:callable
    methods = ["dopri5", "rk4"]
    profile = "quick"                            # quick | standard | thorough
    jobs = 2                                     # pytest-xdist workers
    timeout = 120                                # seconds per check (default: the profile's)
    seed = 0
    device = "cpu"
    select = "forward_accuracy"                  # a pytest -k expression
    results = "reports/results.jsonl"
    report = "reports/html"                      # HTML report folder
    junit = "reports/junit.xml"
    json = "reports/summary.json"
    fail-on = ["results", "gradients"]           # categories of findings that fail the gate (default: all)

    [tool.ode-harness.claims]                    # claims of every method ...
    float32 = false
    [tool.ode-harness.claims.rk4]                # ... or of one method
    order = 4
    adaptive = false

    [tool.ode-harness.overrides]                 # per-check tolerance overrides
    "test_error_float32" = { factor = 10, reason = "float32 accumulation in our fused kernel" }
    "forward_accuracy.test_error_at_end" = { threshold = 1e-6, reason = "..." }

Every error here is a `ConfigError` with a one-line message (the CLI prints it and exits 2).

Tolerance overrides. The key is a check name: the test function (``test_error_at_end``, the
``test_`` prefix may be left out), optionally led by its suite (``forward_accuracy.``), and may
use shell wildcards (``forward_accuracy.*``). The value has exactly one of ``factor`` (a
positive number: the check's own threshold is loosened by it, multiplied for upper bounds and
tolerances, divided for lower bounds) or ``threshold`` (a non-negative number that replaces the
threshold), and a non-empty ``reason``. Where an override applies, the check's record keeps the
original threshold, the applied one and the reason (`harness.pytest_plugin.Check`).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .diagnosis.model import Category, parse_categories

__all__ = ["ConfigError", "ToleranceOverride", "FileConfig", "CONFIG_KEYS", "load_file_config",
           "parse_overrides", "parse_override_arg", "parse_claim_value", "match_override", "parse_fail_on",
           "DEFAULT_FAIL_ON"]

# The gate fails on findings of every category unless told otherwise (--fail-on, fail-on).
DEFAULT_FAIL_ON: frozenset[Category] = frozenset(Category)


class ConfigError(ValueError):
    """A bad configuration or invocation; the message is one line."""


CONFIG_KEYS = ("implementations", "methods", "profile", "claims", "overrides", "jobs", "timeout",
               "seed", "device", "select", "results", "report", "junit", "json", "fail-on")


@dataclass(frozen=True)
class ToleranceOverride:
    """A user's override of one check's threshold (see the module docstring)."""

    pattern: str
    reason: str
    factor: float | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern.strip():
            raise ConfigError("tolerance override: the check name must be a non-empty string")
        where = f"tolerance override {self.pattern!r}"
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ConfigError(f"{where}: a non-empty 'reason' is required")
        if (self.factor is None) == (self.threshold is None):
            raise ConfigError(f"{where}: give exactly one of 'factor' and 'threshold'")
        for name in ("factor", "threshold"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{where}: {name} must be a finite number, got {v!r}")
            if name == "factor" and v <= 0:
                raise ConfigError(f"{where}: factor must be positive, got {v!r}")
            if name == "threshold" and v < 0:
                raise ConfigError(f"{where}: threshold must not be negative, got {v!r}")
        object.__setattr__(self, "reason", " ".join(self.reason.split()))

    def matches(self, check: str, suite: str = "") -> bool:
        """Does the pattern name this check (``test_x`` / ``x``, optionally ``suite.``-led)?"""
        names = {check, check.removeprefix("test_")}
        if suite:
            names |= {f"{suite}.{n}" for n in list(names)}
        pat = self.pattern.strip()
        return any(fnmatch.fnmatchcase(n, pat) for n in names)

    def apply(self, threshold: float, kind: str) -> float:
        """The threshold after this override; `kind` is "le" (upper bound), "ge" (lower bound)
        or "within" (a tolerance)."""
        if self.threshold is not None:
            return float(self.threshold)
        assert self.factor is not None
        return threshold / self.factor if kind == "ge" else threshold * self.factor

    def describe(self) -> str:
        how = f"factor {self.factor:g}" if self.factor is not None else f"threshold {self.threshold:g}"
        return f"{how}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pattern": self.pattern, "reason": self.reason}
        if self.factor is not None:
            out["factor"] = float(self.factor)
        if self.threshold is not None:
            out["threshold"] = float(self.threshold)
        return out

    def to_arg(self) -> str:
        """The plugin's ``--ode-override`` form: ``PATTERN=JSON``."""
        spec = {k: v for k, v in self.as_dict().items() if k != "pattern"}
        return f"{self.pattern}={json.dumps(spec, sort_keys=True)}"


def parse_fail_on(value: Any, where: str = "--fail-on") -> frozenset[Category]:
    """The categories that fail the gate, from ``"results,gradients"``, a list of names or
    ``"all"`` (`harness.diagnosis.model.parse_categories`); ConfigError (one line) otherwise."""
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected category names (strings), got {value!r}")
    if not isinstance(value, (str, list)):
        raise ConfigError(f"{where}: expected a category name or a list of them, got {value!r}")
    try:
        return parse_categories(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def match_override(overrides: Iterable[ToleranceOverride], check: str, suite: str = "") -> ToleranceOverride | None:
    """The last override that names the check (later ones win, as on a command line)."""
    found = None
    for ov in overrides:
        if ov.matches(check, suite):
            found = ov
    return found


def _override_from_mapping(pattern: str, spec: Any) -> ToleranceOverride:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"tolerance override {pattern!r}: expected a table like "
                          "{ factor = 2, reason = \"...\" }, got " + type(spec).__name__)
    unknown = sorted(set(spec) - {"factor", "threshold", "reason"})
    if unknown:
        raise ConfigError(f"tolerance override {pattern!r}: unknown key(s) {unknown}; "
                          "valid: factor, threshold, reason")
    return ToleranceOverride(pattern, spec.get("reason", ""), spec.get("factor"), spec.get("threshold"))


def parse_overrides(table: Any) -> list[ToleranceOverride]:
    """``{check-name: {factor|threshold, reason}}`` -> overrides (ConfigError when malformed)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"'overrides' must be a table of check name -> {{factor or threshold, reason}}, "
                          f"got {type(table).__name__}")
    return [_override_from_mapping(str(k), v) for k, v in table.items()]


def parse_override_arg(text: str) -> ToleranceOverride:
    """One override from the command line: ``CHECK=factor:X:REASON``, ``CHECK=threshold:X:REASON``
    or the plugin's ``CHECK={"factor": X, "reason": "..."}``."""
    pattern, sep, spec = text.partition("=")
    if not sep or not pattern.strip():
        raise ConfigError(f"--override expects CHECK=factor:X:REASON or CHECK=threshold:X:REASON, got {text!r}")
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            data = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--override {pattern!r}: bad JSON ({exc.msg})") from None
        return _override_from_mapping(pattern.strip(), data)
    kind, sep1, rest = spec.partition(":")
    value, sep2, reason = rest.partition(":")
    if not sep1 or kind not in ("factor", "threshold"):
        raise ConfigError(f"--override {pattern!r}: expected factor:X:REASON or threshold:X:REASON, got {spec!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"--override {pattern!r}: {kind} must be a number, got {value!r}") from None
    return _override_from_mapping(pattern.strip(), {kind: number, "reason": reason if sep2 else ""})


_BOOL_TRUE = ("true", "yes", "on")
_BOOL_FALSE = ("false", "no", "off")


def parse_claim_value(key: str, raw: str) -> Any:
    """A claim's value from text (the plugin's ``--ode-claim KEY=VALUE``)."""
    low = raw.strip().lower()
    if key in ("order", "dense_order"):
        if low == "none":
            return None
        try:
            return int(raw)
        except ValueError:
            return raw  # Claims rejects it with a clear message
    if low in _BOOL_TRUE + ("1",):
        return True
    if low in _BOOL_FALSE + ("0",):
        return False
    if low == "none":
        return None
    return raw.strip()


@dataclass
class FileConfig:
    """What ``[tool.ode-harness]`` says (keys absent from the file are None / empty)."""

    path: Path | None = None
    implementations: list[str] | None = None
    methods: list[str] | None = None
    profile: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)               # every method
    method_claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # one method
    overrides: list[ToleranceOverride] = field(default_factory=list)
    jobs: int | None = None
    timeout: float | None = None
    seed: int | None = None
    device: str | None = None
    select: str | None = None
    results: Path | None = None
    report: Path | None = None
    junit: Path | None = None
    json: Path | None = None
    fail_on: frozenset[Category] | None = None


def _str_list(value: Any, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: {key!r} must be a string or a non-empty list of strings")
    return [v.strip() for v in value]


def _claims_table(table: Any, where: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    from .claims import Claims

    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: 'claims' must be a table")
    valid = {f for f in Claims.__dataclass_fields__}
    common: dict[str, Any] = {}
    per_method: dict[str, dict[str, Any]] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            per_method[str(key)] = dict(value)
            unknown = sorted(set(value) - valid)
            if unknown:
                raise ConfigError(f"{where}: unknown claim(s) {unknown} for method {key!r}; "
                                  f"valid claims: {', '.join(sorted(valid))}")
        else:
            if key not in valid:
                raise ConfigError(f"{where}: unknown claim {key!r} (a method's claims go in "
                                  f"[tool.ode-harness.claims.METHOD]); valid claims: {', '.join(sorted(valid))}")
            common[str(key)] = value
    for changes in [common, *per_method.values()]:
        try:
            Claims().override(**changes)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return common, per_method


def _number(value: Any, key: str, where: str, *, integer: bool = False, minimum: float | None = None,
            strict: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{where}: {key!r} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ConfigError(f"{where}: {key!r} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return value


def load_file_config(path: str | os.PathLike[str] | None = None, *, required: bool = False) -> FileConfig:
    """Read ``[tool.ode-harness]`` from ``path`` (default: ./pyproject.toml). A missing default
    file or one without the table gives an empty FileConfig; a missing ``path`` given explicitly
    (``required``), an unreadable file, bad TOML or a bad value raise ConfigError. Relative paths
    in the table are relative to the file's folder."""
    p = Path(path) if path is not None else Path("pyproject.toml")
    if not p.exists():
        if required:
            raise ConfigError(f"config file not found: {p}")
        return FileConfig()
    try:
        import tomllib  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ConfigError(f"cannot read {p}: Python 3.10 needs the 'tomli' package to read TOML") from None
    try:
        data = tomllib.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {p}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read {p}: invalid TOML: {str(exc).splitlines()[0]}") from None
    table = data.get("tool", {}).get("ode-harness") if isinstance(data.get("tool"), dict) else None
    if table is None:
        return FileConfig(path=p)
    where = f"[tool.ode-harness] in {p}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(CONFIG_KEYS)}")
    base = p.resolve().parent

    def _path(key: str) -> Path | None:
        if key not in table:
            return None
        v = table[key]
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{where}: {key!r} must be a path (string)")
        q = Path(v).expanduser()
        return q if q.is_absolute() else base / q

    cfg = FileConfig(path=p)
    if "implementations" in table:
        cfg.implementations = _str_list(table["implementations"], "implementations", where)
    if "methods" in table:
        cfg.methods = _str_list(table["methods"], "methods", where)
    for key in ("profile", "device", "select"):
        if key in table:
            v = table[key]
            if not isinstance(v, str) or not v.strip():
                raise ConfigError(f"{where}: {key!r} must be a non-empty string, got {v!r}")
            setattr(cfg, key, v.strip())
    if "claims" in table:
        cfg.claims, cfg.method_claims = _claims_table(table["claims"], where)
    if "overrides" in table:
        try:
            cfg.overrides = parse_overrides(table["overrides"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if "jobs" in table:
        cfg.jobs = _number(table["jobs"], "jobs", where, integer=True, minimum=1)
    if "timeout" in table:
        cfg.timeout = float(_number(table["timeout"], "timeout", where, minimum=0, strict=True))
    if "seed" in table:
        cfg.seed = _number(table["seed"], "seed", where, integer=True, minimum=0)
    for key in ("results", "report", "junit", "json"):
        setattr(cfg, key, _path(key))
    if "fail-on" in table:
        cfg.fail_on = parse_fail_on(table["fail-on"], f"{where}: 'fail-on'")
    return cfg
