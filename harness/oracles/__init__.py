"""Oracles: independent high-accuracy answers that solvers under test are compared against."""

from harness.oracles.forward import (
    ForwardReference,
    OracleSolution,
    best_forward_oracle,
    cache_dir,
    cache_key,
    clear_cache,
    scipy_interpolated_run,
    scipy_oracle,
)

__all__ = ["ForwardReference", "OracleSolution", "best_forward_oracle", "cache_dir", "cache_key",
           "clear_cache", "scipy_interpolated_run", "scipy_oracle"]
