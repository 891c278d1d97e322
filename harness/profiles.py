"""Profiles trade depth for time: quick (<= 30 s per implementation and method on a 2-core
machine), standard (<= 5 min), thorough (no bound). Suites read their sweeps from here so that one
number decides how deep every suite goes.

Step budgets (`step_budget`, steps per check, all its solves together; the cost model is
harness/budget.py). What a step costs: torchdiffeq 0.2.5 on the library problems, float64, one
torch thread, measured under load (2 cores, load average 9): 2.4 ms CPU per step of adaptive_heun
on B4 (2 evaluations), 2.3 ms of dopri5 (6 evaluations), 1.5 ms of bosh3 (3): the per-step
bookkeeping dominates, so ~2 ms a step whatever the order. The model over-predicts a correct
method's steps by up to SAFETY = 2 (measured 1.2-2x), so a check at its budget B takes ~B/1.7
steps, ~1.2e-3 B CPU-s.
quick: 30 s on 2 cores = 60 CPU-s; start-up, collection, oracles and the checks' own work take
~35 CPU-s (fixed-step methods, whose solves are a few hundred steps, run quick in 33-44 CPU-s),
which leaves ~25 CPU-s for the checks that reach their budget; a correct 2nd-order adaptive
method has ~20 of them (forward accuracy on the harder problems at its clipped tolerance, the
convergence and gradient sweeps): B <= 25 / (20 x 1.2e-3) ~ 1000. Measured: torchdiffeq
adaptive_heun took 70 CPU-s at B = 1500 (dopri5 45), so 1000. standard: 5 min = 600 CPU-s,
~150 of them fixed cost, ~100 checks at their budget (31 problems): B <= 450 / (100 x 1.2e-3)
~ 3700, so 3000 (measured: adaptive_heun 339 CPU-s, ~170 s on 2 quiet cores).
thorough has no time bound: 1e6 steps only guards against a runaway sweep.
Methods of order >= 5 keep the tolerances below on every profile problem (dopri5 at 1e-8 on E2,
W = 9.0, needs ~730 steps, at 1e-10 ~1.8e3 within standard's 3000); an adaptive order 4 loses
1e-8 on the hardest quick problems (B4: ~1.1e3 steps); bosh3 (p = 3) loses 1e-8 on the hardest
problems and 1e-10 on most; 2nd-order methods are asked ~1e-4 on B4 at quick."""

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
    # Steps one check may ask of the IUT, all its solves together (harness/budget.py: sweeps that
    # fit the method). The profile's tolerances above are what a method of order >= 4 is asked;
    # a lower order is asked the tightest tolerance this budget affords (visible in the skips).
    step_budget: int = 3000


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
        step_budget=1000,
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
        step_budget=3000,
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
        step_budget=1_000_000,
    ),
}
DEFAULT_PROFILE = "quick"


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]
