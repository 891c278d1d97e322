"""The one run configuration (harness/run_config.py): both front ends make the same object, and
it reaches xdist workers without loss."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import ConfigError, ToleranceOverride
from harness.run_config import RUN_CONFIG_KEY, RunConfig, RunConfigPlugin, carried_run_config, from_pytest_options
from harness.shard import Shard

FULL = RunConfig(impls=("reference", "mylib.solvers:odeint"), methods=("rk4", "dopri5"), profile="standard",
                 device="cpu", seed=7, timeout=12.5, results=Path("/tmp/x/results.jsonl"),
                 claims={"order": 4, "float32": False, "dense_order": None},
                 method_claims={"rk4": {"adaptive": False}},
                 overrides=(ToleranceOverride("test_error_float32", "float32 interpolant, measured 3x", factor=10.0),
                            ToleranceOverride("forward_accuracy.test_error_at_end", "published", threshold=1e-6)),
                 shard=Shard(2, 3))


def test_json_round_trip_is_lossless():
    assert RunConfig.from_json(FULL.to_json()) == FULL
    assert RunConfig.from_json(RunConfig().to_json()) == RunConfig()


def test_bad_values_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="device must be cpu or cuda, got 'tpu'"):
        RunConfig(device="tpu")
    assert RunConfig(timeout=0).timeout is None   # 0: no timeout, as the option says


class _Options(SimpleNamespace):
    def getoption(self, name, default=None):
        return getattr(self, name, default)


def _pytest_config(**over):
    opts = dict(ode_impl=["reference", "mylib.solvers:odeint"], ode_method=["rk4", "dopri5"], ode_profile="standard",
                ode_device="cpu", ode_seed=7, ode_timeout=12.5, ode_results="/tmp/x/results.jsonl",
                ode_claim=["order=4", "float32=false", "dense_order=none", "rk4:adaptive=false"],
                ode_override=['test_error_float32={"factor": 10, "reason": "float32 interpolant, measured 3x"}',
                              'forward_accuracy.test_error_at_end={"threshold": 1e-6, "reason": "published"}'],
                ode_shard=Shard(2, 3))
    opts.update(over)
    return _Options(**opts)


def test_pytest_options_make_the_same_object_as_the_cli():
    assert from_pytest_options(_pytest_config()) == FULL
    with pytest.raises(ConfigError, match="--ode-claim expects KEY=VALUE"):
        from_pytest_options(_pytest_config(ode_claim=["order"]))


def test_the_cli_hands_the_object_and_workers_get_it():
    """``ode-harness check`` passes the object (no --ode-* strings); an xdist worker rebuilds
    it from workerinput equal to the controller's."""
    plugin = RunConfigPlugin(FULL)
    controller = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugins=lambda: [object(), plugin]))
    assert carried_run_config(controller) is FULL
    node = SimpleNamespace(workerinput={})
    plugin.pytest_configure_node(node)
    worker = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugins=lambda: []), workerinput=node.workerinput)
    assert carried_run_config(worker) == FULL and RUN_CONFIG_KEY in node.workerinput
    plain = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugins=lambda: []))
    assert carried_run_config(plain) is None


def test_cli_pytest_arguments_carry_no_run_settings(tmp_path):
    from harness import cli

    st = cli._resolve(cli._check_parser().parse_args(["reference", "--method", "rk4", "--claim", "order=4",
                                                      "--results", str(tmp_path / "r.jsonl")]))
    cli._load_impls(st)
    assert not [a for a in cli._pytest_args(st) if a.startswith("--ode-")]
    rc = st.run_config()
    assert rc.impls == ("reference",) and rc.methods == ("rk4",) and rc.claims == {"order": 4}
