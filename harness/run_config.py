"""The one run configuration of the suites: what a run verifies and how (`RunConfig`).

Two front ends make one: ``ode-harness check`` (its options and ``[tool.ode-harness]``,
harness.cli) and the pytest route (``pytest suites --ode-...``, `from_pytest_options`). The
pytest plugin reads only the `RunConfig` (harness.pytest_plugin.run_config), whichever made it:

- ``ode-harness check`` hands its `RunConfig` to pytest as an object (`RunConfigPlugin`, given to
  ``pytest.main(plugins=...)``), not as option strings; xdist workers get it through
  ``workerinput`` as typed JSON (`to_json` / `from_json`: a lossless round trip, tested);
- ``pytest suites --ode-impl ... --ode-claim ...`` parses the options once, here.

Standard library and harness.config/harness.shard only: harness.pytest_entry, loaded by every
pytest run, may import it without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pytest

from .config import ConfigError, ToleranceOverride, parse_claim_value, parse_override_arg
from .shard import Shard

__all__ = ["RunConfig", "RunConfigPlugin", "RUN_CONFIG_KEY", "from_pytest_options", "carried_run_config"]

RUN_CONFIG_KEY = "ode_run_config"  # the key of xdist's workerinput that carries it


@dataclass(frozen=True)
class RunConfig:
    """What the suites need to know about a run. Empty `impls` / `methods`: the defaults (the
    plugin's DEFAULT_IMPLS, each implementation's default methods); `profile` None: the
    environment's ``ODE_HARNESS_PROFILE`` or the default profile; `results` None: the
    environment's ``ODE_HARNESS_RESULTS`` or ``reports/results.jsonl``; `timeout` None: no per-check
    timeout."""

    impls: tuple[str, ...] = ()                  # built-in names or module:callable specs
    methods: tuple[str, ...] = ()
    profile: str | None = None
    device: str = "cpu"
    seed: int = 0
    timeout: float | None = None                 # seconds per check, None: none
    results: Path | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)                     # every method's
    method_claims: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # method -> its own
    overrides: tuple[ToleranceOverride, ...] = ()
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be cpu or cuda, got {self.device!r}")
        if self.timeout is not None and not self.timeout > 0:
            object.__setattr__(self, "timeout", None)  # 0 or less: no timeout (the option's meaning)

    # ------------------------------------------------------------------ typed JSON
    def to_dict(self) -> dict[str, Any]:
        return {"impls": list(self.impls), "methods": list(self.methods), "profile": self.profile,
                "device": self.device, "seed": self.seed, "timeout": self.timeout,
                "results": None if self.results is None else str(self.results),
                "claims": dict(self.claims), "method_claims": {m: dict(c) for m, c in self.method_claims.items()},
                "overrides": [{"pattern": o.pattern, "reason": o.reason, "factor": o.factor,
                               "threshold": o.threshold} for o in self.overrides],
                "shard": None if self.shard is None else [self.shard.index, self.shard.total]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        return cls(impls=tuple(d["impls"]), methods=tuple(d["methods"]), profile=d["profile"], device=d["device"],
                   seed=int(d["seed"]), timeout=d["timeout"],
                   results=None if d["results"] is None else Path(d["results"]),
                   claims=dict(d["claims"]), method_claims={m: dict(c) for m, c in d["method_claims"].items()},
                   overrides=tuple(ToleranceOverride(**o) for o in d["overrides"]),
                   shard=None if d["shard"] is None else Shard(*d["shard"]))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))


class RunConfigPlugin:
    """How ``ode-harness check`` hands its `RunConfig` to pytest: an object in
    ``pytest.main(plugins=[...])``, passed on to each xdist worker as typed JSON."""

    def __init__(self, run: RunConfig) -> None:
        self.run = run

    @pytest.hookimpl(optionalhook=True)  # xdist's hook
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_CONFIG_KEY] = self.run.to_json()


def carried_run_config(config: Any) -> RunConfig | None:
    """The `RunConfig` a front end handed over (the CLI's plugin, or xdist's workerinput), else None."""
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, RunConfigPlugin):
            return plugin.run
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and RUN_CONFIG_KEY in workerinput:
        return RunConfig.from_json(workerinput[RUN_CONFIG_KEY])
    return None


def _parse_claim(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value); ``METHOD:KEY=VALUE`` -> ("METHOD:KEY", value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or key.endswith(":") or key.startswith(":"):
        raise ConfigError(f"--ode-claim expects KEY=VALUE or METHOD:KEY=VALUE, got {text!r}")
    return key, parse_claim_value(key.rpartition(":")[2], raw)


def split_claims(pairs: list[tuple[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """[("order", 4), ("rk4:adaptive", False)] -> ({"order": 4}, {"rk4": {"adaptive": False}})."""
    common: dict[str, Any] = {}
    per_method: dict[str, dict[str, Any]] = {}
    for key, value in pairs:
        method, sep, name = key.rpartition(":")
        if sep:
            per_method.setdefault(method, {})[name] = value
        else:
            common[name] = value
    return common, per_method


def from_pytest_options(config: Any) -> RunConfig:
    """The `RunConfig` of the ``--ode-*`` options (harness.pytest_entry defines them); ConfigError
    (one line) for a bad value."""
    claims, method_claims = split_claims([_parse_claim(c) for c in config.getoption("ode_claim")])
    results = config.getoption("ode_results")
    return RunConfig(impls=tuple(config.getoption("ode_impl")), methods=tuple(config.getoption("ode_method")),
                     profile=config.getoption("ode_profile"), device=config.getoption("ode_device"),
                     seed=int(config.getoption("ode_seed")), timeout=config.getoption("ode_timeout", None),
                     results=Path(results) if results else None, claims=claims, method_claims=method_claims,
                     overrides=tuple(parse_override_arg(o) for o in config.getoption("ode_override")),
                     shard=config.getoption("ode_shard", None))
