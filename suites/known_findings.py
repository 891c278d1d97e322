"""Known findings: checks that a real library truly fails, kept as expected failures with the
measured evidence (the check stays; the record says "fail", marked expected). A finding that no
longer reproduces shows up as a passing record of an expected failure in the report.

Each entry names the implementation, the methods, the checks and (optionally) the problems.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    iut: str
    methods: tuple[str, ...]
    checks: tuple[str, ...]
    evidence: str
    problems: tuple[str, ...] = ()  # empty: every problem

    def matches(self, iut: str, method: str, check: str, problem: str | None) -> bool:
        return (iut == self.iut and method in self.methods and check in self.checks
                and (not self.problems or problem in self.problems))


_FORWARD = ("test_error_at_end", "test_error_at_interior_times", "test_error_batched",
            "test_error_in_reverse_time", "test_error_float32")

KNOWN_FINDINGS: tuple[Finding, ...] = (
    Finding(
        iut="torchdiffeq", methods=("bosh3",), checks=_FORWARD,
        evidence=(
            "torchdiffeq 0.2.5 steps past every output time, the last one included, and evaluates "
            "it with its quartic fit (rk_common._interp_fit through y0, y_mid, y1, f0, f1), which for "
            "bosh3 is less accurate than the step itself: A3 at rtol=atol=1e-8, error at t=20 is "
            "1.1e-5 as called, 1.0e-6 with options={'step_t': t} (landing on t), and scipy RK23 "
            "gives 9.9e-7 (measured 2026-11-22)."),
    ),
    Finding(
        iut="torchdiffeq", methods=("dopri8",), checks=_FORWARD,
        evidence=(
            "torchdiffeq 0.2.5 evaluates every output time, the last one included, with a quartic "
            "interpolant (rk_common._interp_fit), so its 8th-order dopri8 delivers 4th-order accuracy "
            "between steps: A3 at rtol=atol=1e-8, error at t=20 is 1.9e-5 as called, 4.3e-8 with "
            "options={'step_t': t}; scipy DOP853 and the reference dop853 give 5.6e-6 and 1.0e-5 "
            "there with far smaller errors on the other problems (mlp-tanh-t: 1.8e-7 vs threshold "
            "1.4e-7 at 1e-8) (measured 2026-11-22)."),
    ),
)


def finding_for(iut: str, method: str, check: str, problem: str | None) -> Finding | None:
    for f in KNOWN_FINDINGS:
        if f.matches(iut, method, check, problem):
            return f
    return None
