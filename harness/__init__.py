"""ode-harness: verification and numerical analysis of ODE solvers and Neural-ODE adjoints.

This module stays free of imports: the pytest plugin's entry point (`harness.pytest_entry`)
and ``ode-harness --version`` load it in every pytest run of an environment that has
ode-harness installed.
"""

__version__ = "0.1.0"  # the one place of the version (pyproject.toml reads it from here)
