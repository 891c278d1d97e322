"""The harness with inference-mode tensors (issue 12: properties in inference mode).

An implementation called under ``torch.inference_mode()`` returns inference tensors, which the
harness then reads outside inference mode (validation, measured values, records). None of that
may crash the harness: in-place updates of inference tensors outside inference mode are refused
by torch, so the harness never makes any."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.implementations import load_implementation
from harness.profiles import get_profile
from harness.pytest_plugin import (Check, CheckFailed, IUTError, OdeCase, OdeConfig, _jsonable, _reproducer,
                                   validate_output)


def _case(spec: str = "reference", method: str = "dopri5") -> OdeCase:
    impl = load_implementation(spec)
    cfg = OdeConfig([impl], [method], get_profile("quick"), "cpu", Path("unused.jsonl"), {}, 0)
    return cfg.cases()[0]


def _inference_zeros(*shape: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.zeros(*shape, dtype=torch.float64)


@pytest.mark.parametrize("inside", [False, True], ids=["read outside", "read inside"])
def test_validate_output_of_inference_tensors(inside):
    """The same verdicts and messages as for normal tensors, whether validation runs inside or
    outside inference mode."""
    y0 = _inference_zeros(2, 3)
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    good = _inference_zeros(4, 2, 3)
    bad = good.clone()  # a normal tensor: set the bad values, then make it an inference tensor
    bad[2, 1, 0] = float("nan")
    with torch.inference_mode():
        bad = bad.clone()
    assert good.is_inference() and bad.is_inference()
    ctx = torch.inference_mode() if inside else torch.enable_grad()
    with ctx:
        validate_output(good, y0, t)
        with pytest.raises(CheckFailed, match=r"shape expected \(4, 2, 3\) = \(len\(t\), \*y0.shape\), got \(3, 2, 3\)"):
            validate_output(good[1:], y0, t)
        with pytest.raises(CheckFailed, match=r"ys\[2, 1, 0\] = nan \(t = 0.666667, output time 2 of 4\)"):
            validate_output(bad, y0, t)


def test_odeint_in_inference_mode_validates_and_reports_findings():
    """OdeCase.odeint under inference mode: a correct IUT's output passes validation; a wrong
    shape is a CheckFailed (a fail verdict), an exception an IUTError (an error verdict)."""
    y0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    lin = torch.nn.Linear(2, 2).double()

    def field(t, y):
        return lin(y)
    with torch.inference_mode():
        ys = _case().odeint(field, y0, t, rtol=1e-6, atol=1e-6)
    assert ys.is_inference() and tuple(ys.shape) == (3, 1, 2)
    with torch.inference_mode(), pytest.raises(CheckFailed, match="got \\(3, 2\\)"):
        _case("harness.mutants:squeezed_output_in_inference_mode").odeint(field, y0, t)

    def explodes(t, y):
        raise RuntimeError("seeded failure")
    with torch.inference_mode(), pytest.raises(IUTError, match="RuntimeError: seeded failure"):
        _case().odeint(explodes, y0, t)


def test_measured_inference_tensors_become_json():
    """Measured values that are inference tensors (an output kept as evidence) are recorded as
    JSON data like any tensor."""
    with torch.inference_mode():
        ys = torch.arange(4, dtype=torch.float64).reshape(2, 2)
    chk = Check(name="test_x", suite="properties")
    chk.note(ys=ys, first=ys[0, 0], dtype=ys.dtype)
    out = _jsonable(chk.measured)
    assert out == {"ys": [[0.0, 1.0], [2.0, 3.0]], "first": 0.0, "dtype": "float64"}
    json.dumps(out, allow_nan=False)


def test_reproducer_and_case_of_a_grad_mode_check():
    """A check parametrized by grad mode belongs to its case (the crash handler finds it by the
    test id) and its reproducer reruns exactly that test id."""
    case = _case()
    nodeid = "suites/test_properties.py::test_without_grad_deterministic[reference-dopri5-inference_mode]"
    assert case.config.case_of_nodeid(nodeid).id == "reference-dopri5"
    code = _reproducer(nodeid, "test_properties", case)
    target = "harness.suites.test_properties::test_without_grad_deterministic[reference-dopri5-inference_mode]"
    assert repr(target) in code and "'--ode-method', 'dopri5'" in code
    compile(code, "<reproducer>", "exec")
