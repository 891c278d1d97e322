"""The `pytest11` entry point of ode-harness: loaded by every pytest run of an environment that
has ode-harness installed, so it stays tiny and inert.

It defines the ``--ode-*`` options (the plugin parses them into the run configuration,
harness.run_config; ``ode-harness check`` hands that object over instead) and nothing else:
no fixtures, no hooks that touch collection, no imports beyond the standard library and
`harness.shard`. Only when the run collects the ode-harness verification suites does it
register the real plugin, `harness.pytest_plugin` (which imports torch): the run is then one of

- ``pytest suites/`` (or a file or test in it, or a folder above it) in a source checkout;
- ``pytest --pyargs harness.suites`` (or ``harness.suites.test_forward_accuracy::...``), or a path
  into the installed ``harness/suites`` folder;
- any run given an ``--ode-...`` option (a project that writes its own checks on the `ode_case`
  and `check` fixtures asks for them so, or with ``-p harness.pytest_plugin``);
- an xdist worker of such a run (the controller tells it through ``workerinput``).

Anyone else's pytest run sees no fixture, no hook and no output of ode-harness; its cost is
importing this module (measured in README "Installing ode-harness leaves other pytest runs alone").
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest  # already imported: pytest is what loads this module

from .shard import SHARD_OPTION

PLUGIN = "harness.pytest_plugin"
SUITES_PACKAGE = "harness.suites"
_ACTIVE_KEY = "ode_harness_active"

__all__ = ["PLUGIN", "SUITES_PACKAGE", "add_options", "checkout_suites", "installed_suites", "collects_suites",
           "activate"]


def add_options(parser: Any) -> None:
    """The ``--ode-*`` options of the suites (pytest's parser)."""
    g = parser.getgroup("ode-harness", "ode-harness verification suites")
    g.addoption("--ode-impl", action="append", default=[], metavar="NAME_OR_IMPORT_PATH",
                help="implementation under test: a built-in name or package.module:callable (repeatable)")
    g.addoption("--ode-method", action="append", default=[], metavar="METHOD",
                help="method passed to the implementation (repeatable; default: its default methods)")
    g.addoption("--ode-profile", default=None, metavar="PROFILE",
                help="depth of the checks: quick, standard or thorough (default quick)")
    g.addoption("--ode-device", default="cpu", metavar="DEVICE", help="cpu or cuda")
    g.addoption("--ode-claim", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                help="override a claim of every method, or of one (METHOD:KEY=VALUE), e.g. order=4, "
                     "float32=false, rk4:adaptive=false (repeatable)")
    g.addoption("--ode-override", action="append", default=[], metavar="CHECK=JSON",
                help='tolerance override of a check, e.g. test_error_float32=\'{"factor": 10, "reason": "..."}\' '
                     "(repeatable; a reason is required)")
    g.addoption("--ode-timeout", default=None, type=float, metavar="SECONDS",
                help="per-check timeout (0: none; default none; ode-harness check gives the profile's)")
    g.addoption("--ode-results", default=None, metavar="PATH",
                help="results file (JSON lines; default $ODE_HARNESS_RESULTS or reports/results.jsonl)")
    g.addoption("--ode-seed", default=0, type=int, metavar="S", help="seed of every random input (default 0)")
    SHARD_OPTION.add_to(g, "--ode-shard")


def pytest_addoption(parser: Any) -> None:
    add_options(parser)


def checkout_suites() -> Path | None:
    """The ``suites/`` folder of the source checkout this ``harness`` package lives in, if it is
    one (a ``pyproject.toml`` next to both)."""
    top = Path(__file__).resolve().parent.parent
    suites = top / "suites"
    return suites if (suites / "conftest.py").is_file() and (top / "pyproject.toml").is_file() else None


def installed_suites() -> Path | None:
    """The folder of the ``harness.suites`` package (in a wheel install, ``harness/suites`` in
    site-packages), found without importing it."""
    try:
        spec = importlib.util.find_spec(SUITES_PACKAGE)
    except (ImportError, ValueError):
        return None
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(loc).resolve()
        if (p / "conftest.py").is_file():
            return p
    return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def collects_suites(config: Any) -> bool:
    """Does this pytest run collect the verification suites (see the module docstring)?"""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(_ACTIVE_KEY):
        return True
    if any(str(a).startswith("--ode-") for a in config.invocation_params.args):
        return True
    pyargs = bool(getattr(config.option, "pyargs", False))
    invocation_dir = Path(config.invocation_params.dir)
    roots: tuple[Path | None, Path | None] | None = None
    for arg in config.args:
        base = str(arg).split("::")[0]
        if pyargs and (base == SUITES_PACKAGE or base.startswith(SUITES_PACKAGE + ".")):
            return True
        if roots is None:
            roots = (checkout_suites(), installed_suites())
        checkout, installed = roots
        path = Path(os.path.abspath(invocation_dir / base))
        if checkout is not None and (_inside(path, checkout) or _inside(checkout, path)):
            return True  # in a checkout a folder above suites/ collects them too
        if installed is not None and _inside(path, installed):
            return True  # pytest does not walk into the virtual environment of an installed copy
    return False


def activate(config: Any) -> None:
    """Register the real plugin (once)."""
    pm = config.pluginmanager
    if pm.has_plugin(PLUGIN):
        return
    import importlib

    module = importlib.import_module(PLUGIN)
    if not pm.is_registered(module):
        pm.register(module, PLUGIN)


def pytest_configure(config: Any) -> None:
    if collects_suites(config):
        config._ode_harness_active = True
        activate(config)


@pytest.hookimpl(optionalhook=True)  # xdist's hook: runs without xdist do not know it
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, for each worker: pass on that the suites are collected."""
    if getattr(node.config, "_ode_harness_active", False):
        node.workerinput[_ACTIVE_KEY] = True
