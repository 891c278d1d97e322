"""Profiles trade depth for time: quick (<= 30 s per implementation and method on a 2-core
machine), standard (<= 5 min), thorough (no bound). Suites read their sweeps from here so that one
number decides how deep every suite goes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    tolerances: tuple[float, ...]      # rtol = atol sweep for adaptive methods
    problems: tuple[str, ...]          # forward-accuracy problems (non-stiff; stiff ones need the claim)
    order_steps: tuple[int, ...]       # steps per unit time for fixed-step order fits
    gradient_problems: tuple[str, ...]
    hypothesis_examples: int
    timeout_s: float                   # default per-check timeout (the CLI enforces it)
    benchmark_depths: tuple[int, ...]  # steps for memory-against-depth
    gradient_tolerances: tuple[float, ...] = (1e-6, 1e-9)  # rtol = atol of gradient checks
    bench_tolerances: tuple[float, ...] = (1e-4, 1e-6, 1e-8)  # NFE / work-precision sweeps
    property_tolerance: float = 1e-8   # rtol = atol of the property checks


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        tolerances=(1e-5, 1e-8),
        problems=("A3", "B4", "D2", "E2", "linear-random-stable", "mlp-tanh-t"),
        order_steps=(16, 24, 32, 48, 64),
        gradient_problems=("mlp-tanh-t",),
        hypothesis_examples=10,
        timeout_s=60.0,
        benchmark_depths=(10, 100),
    ),
    "standard": Profile(
        name="standard",
        tolerances=(1e-4, 1e-6, 1e-8, 1e-10),
        problems=("A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5", "C1", "C2", "C3",
                  "D1", "D2", "D3", "D4", "E1", "E2", "E3", "E4", "E5", "arenstorf",
                  "linear-random-stable", "linear-skew", "sciml-linear", "scipy-linear",
                  "mlp-tanh", "mlp-tanh-t", "mlp-softplus", "mlp-softplus-t"),
        order_steps=(8, 12, 16, 24, 32, 48, 64, 96, 128),
        gradient_problems=("mlp-tanh", "mlp-tanh-t", "linear-param", "contracting-diag"),
        hypothesis_examples=40,
        timeout_s=300.0,
        benchmark_depths=(10, 100, 1000),
    ),
    "thorough": Profile(
        name="thorough",
        tolerances=(1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11),
        problems=("A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5", "C1", "C2", "C3",
                  "D1", "D2", "D3", "D4", "D5", "E1", "E2", "E3", "E4", "E5", "arenstorf",
                  "pleiades", "linear-random-stable", "linear-skew", "sciml-linear", "scipy-linear",
                  "scipy-rational", "mlp-tanh", "mlp-tanh-t", "mlp-softplus",
                  "mlp-softplus-t"),
        order_steps=(8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256),
        gradient_problems=("mlp-tanh", "mlp-tanh-t", "mlp-softplus-t", "linear-param",
                           "contracting-diag", "B1"),
        hypothesis_examples=200,
        timeout_s=1800.0,
        benchmark_depths=(10, 100, 1000, 3000),
    ),
}
DEFAULT_PROFILE = "quick"


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]
