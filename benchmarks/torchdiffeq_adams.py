"""Evidence for the claims and findings of torchdiffeq 0.2.5's fixed-step Adams methods
(harness/claims.py, suites/known_findings.py): observed order at t1 on DETEST B4 over [0, 2]
with step sizes that divide the interval (h = 2/N) and that do not (h = 2/(N + 0.3), the grid's
last step shortened to 0.3 h), for max_order 4..12 (default 12); and the forward NFE of
implicit_adams against rtol = atol (its corrector iterates to the tolerance).

    python benchmarks/torchdiffeq_adams.py          # ~20 s on 2 cores
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torchdiffeq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.measure.nfe import CountingField  # noqa: E402
from harness.problems import get_problem  # noqa: E402

STEPS = (32, 64, 128, 256)


def error_at_t1(method: str, n: float, max_order: int) -> float:
    p = get_problem("B4")
    truth = p.exact(np.array([0.0, 2.0]))[1]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # "Functional iteration did not converge"
        ys = torchdiffeq.odeint(p.make_field(), torch.tensor(p.y0, dtype=torch.float64),
                                torch.tensor([0.0, 2.0], dtype=torch.float64), method=method,
                                options={"step_size": 2.0 / n, "max_order": max_order})
    return float(np.abs(ys[-1].numpy() - truth).max())


def slopes(errors: list[float], ns: list[float]) -> list[float]:
    return [round(float(s), 2) for s in -np.diff(np.log(errors)) / np.diff(np.log(ns))]


def main() -> int:
    torch.set_num_threads(1)
    print("error at t1 = 2 on B4, local slopes (observed order); h = 2/N divides the span, "
          "h = 2/(N + 0.3) does not")
    for method in ("explicit_adams", "implicit_adams"):
        for max_order in (4, 5, 8, 10, 11, 12):
            for frac in (0.0, 0.3):
                ns = [n + frac for n in STEPS]
                errs = [error_at_t1(method, n, max_order) for n in ns]
                print(f"{method:15s} max_order={max_order:2d} N+{frac:.1f}: "
                      f"{' '.join(f'{e:.2e}' for e in errs)}  slopes {slopes(errs, ns)}")
    print("implicit_adams forward NFE against rtol = atol (B4 over [0, 2], h = 2/64)")
    p = get_problem("B4")
    for tol in (1e-4, 1e-6, 1e-8, 1e-10):
        f = CountingField(p.make_field())
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torchdiffeq.odeint(f, torch.tensor(p.y0, dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64),
                               method="implicit_adams", rtol=tol, atol=tol, options={"step_size": 2.0 / 64})
        print(f"  tol={tol:g}: NFE {f.nfe} for 64 steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
