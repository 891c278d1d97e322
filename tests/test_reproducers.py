"""Reproducer scripts (issue 11, acceptance 3) and the standalone field sources they carry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.problems import PROBLEMS, get_problem, vector_field_source


def _field_from_source(text: str, dtype: torch.dtype) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(text, "<field source>", "exec"), namespace)  # noqa: S102 - our own generated text
    return namespace["Field"](dtype=dtype)


def _bits(x: torch.Tensor) -> torch.Tensor:
    return x.detach().contiguous().view(torch.int64 if x.dtype == torch.float64 else torch.int32)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_field_source_equals_make_field_bitwise(dtype):
    """The one definition: for every problem, the generated source computes make_field's f
    bit for bit (values and parameters, random t and batched y), so the two cannot drift."""
    rng = np.random.default_rng(11)
    for name, problem in PROBLEMS.items():
        ref = problem.make_field(dtype=dtype)
        got = _field_from_source(problem.torch_source(), dtype)
        assert [n for n, _ in got.named_parameters()] == [n for n, _ in ref.named_parameters()], name
        assert [n for n, _ in got.named_buffers()] == [n for n, _ in ref.named_buffers()], name
        for (n, a), (_, b) in zip(ref.state_dict().items(), got.state_dict().items()):
            assert a.dtype == b.dtype and torch.equal(_bits(a), _bits(b)), (name, n)
        y0 = np.asarray(problem.y0)
        for _ in range(3):
            t = float(problem.t0 + (problem.t1 - problem.t0) * rng.uniform(0.05, 0.95))
            y = torch.tensor(y0 + 0.1 * rng.standard_normal((2, problem.dim)) * (1 + np.abs(y0)), dtype=dtype)
            a, b = ref(torch.tensor(t, dtype=dtype), y), got(torch.tensor(t, dtype=dtype), y)
            assert a.dtype == b.dtype == dtype and torch.equal(_bits(a), _bits(b)), (name, t)


def test_field_source_of_a_changed_field_differs():
    """The comparison above can fail: a source generated from a field with one constant changed
    does not reproduce the original (seeded defect)."""
    f = get_problem("linear-param").make_field()
    with torch.no_grad():
        f.A[0, 0] += 1e-12
    got = _field_from_source(vector_field_source(f), torch.float64)
    ref = get_problem("linear-param").make_field()
    y = torch.tensor([[1.0, 0.5, -0.5]], dtype=torch.float64)
    assert not torch.equal(got(0.0, y), ref(0.0, y))


# ----------------------------------------------------------------------------------------------
# Acceptance 3: the scripts run where ode-harness is not importable, exit 1 on the defective
# implementation and 0 on the reference.
# ----------------------------------------------------------------------------------------------
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import reference
import scipy
import torchdiffeq

from harness.diagnosis.reproducer import ReproducerUnsupported, repro_case, write_reproducer
from harness.implementations import load_implementation
from harness.results import CheckRecord

REPO = Path(__file__).resolve().parent.parent
SCRIPT_TIMEOUT_S = 10  # the scripts' own hang timeout (the hang mutant is stopped by it)


def _site_dirs() -> list[str]:
    """The folders holding torch, numpy, scipy and torchdiffeq (their site-packages), nothing else."""
    return sorted({str(Path(m.__file__).resolve().parent.parent) for m in (torch, np, scipy, torchdiffeq)})


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> Path:
    """A folder that stands for "the implementation's installation, without ode-harness":

    * the `reference` package (this repository's top level, importable without harness: it
      imports only torch), linked in;
    * the mutants: they live in harness/mutants.py, and harness must NOT be importable, so the
      module is copied verbatim as `ode_mutants` (it imports only torch and `reference`, so the
      copy is the same implementation under another module name; the scripts get
      ``--impl ode_mutants:NAME``).

    Scripts run with ``python -S`` (no site: no .pth files, so the editable install's finder,
    which maps `harness` to the checkout, is not installed) and PYTHONPATH = this folder plus the
    site-packages of torch, numpy, scipy and torchdiffeq."""
    root = tmp_path_factory.mktemp("isolated")
    os.symlink(Path(reference.__file__).resolve().parent, root / "reference")
    shutil.copy(REPO / "harness" / "mutants.py", root / "ode_mutants.py")
    return root


def _run(isolated: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join([str(isolated), *_site_dirs()]),
           "PYTHONNOUSERSITE": "1", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([sys.executable, "-S", *args], cwd=isolated, env=env, capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT_S + 60)


def test_isolated_environment_has_no_harness(isolated):
    """The environment the scripts run in: harness is not importable, reference and torch are."""
    got = _run(isolated, "-c", "import harness")
    assert got.returncode != 0 and "No module named 'harness'" in got.stderr
    ok = _run(isolated, "-c", "import reference, torch, torchdiffeq, ode_mutants; print(reference.__file__)")
    assert ok.returncode == 0, ok.stderr
    assert "harness" not in ok.stdout.split(os.sep)[-3:]


def _record(iut: str, method: str, suite: str, check: str, problem: str = "", *, measured: dict | None = None,
            grad_mode: str | None = None, verdict: str = "fail") -> CheckRecord:
    """A record as the plugin writes it for this check (claims of the implementation and method,
    quick profile, seed 0). No threshold: the reproducer recomputes it by the suite's rule (the
    path a record that did not complete takes)."""
    extra = {"claims": load_implementation(iut).claims(method).as_dict(), "profile": "quick"}
    if grad_mode:
        extra["grad_mode"] = grad_mode
    params = "-".join(p for p in (grad_mode, problem, iut, method) if p)
    return CheckRecord(check_id=f"{suite}.{check}[{params}]", suite=suite, check=check, iut=iut, method=method,
                       problem=problem, dtype="float64", verdict=verdict, measured=measured or {}, seed=0, extra=extra)


M = "harness.mutants:"
# (record, implementation the script is pointed at as the defective one, the correct reference).
# A sample of the mutant catalog (one per kind of failing check) and the known findings of
# torchdiffeq 0.2.5 (suites/known_findings.py).
SAMPLE = [
    pytest.param(M + "wrong_weight_rk4", "rk4", "convergence_order", "test_fixed_step_order", "", {}, None,
                 id="wrong_weight_rk4-fixed_order"),
    pytest.param(M + "wrong_dense_output", "dopri5", "forward_accuracy", "test_error_at_interior_times", "B4",
                 {"tol": 1e-8}, None, id="wrong_dense_output-interior"),
    pytest.param(M + "reverse_time_ignored", "dopri5", "forward_accuracy", "test_error_in_reverse_time", "A3", {},
                 None, id="reverse_time_ignored-reverse"),
    pytest.param(M + "dropped_last_partial_step", "rk4", "forward_accuracy", "test_error_at_end", "A3", {}, None,
                 id="dropped_last_partial_step-end"),
    pytest.param(M + "t_gradient_sign_flipped", "dopri5", "gradients", "test_grad_t_vs_forward_sensitivity",
                 "mlp-tanh-t", {"tol": 1e-6}, None, id="t_gradient_sign_flipped-grad_t"),
    pytest.param(M + "adjoint_ignores_intermediate_cotangents", "dopri5", "gradients",
                 "test_grad_y0_vs_forward_sensitivity", "mlp-tanh-t", {"tol": 1e-6}, None,
                 id="adjoint_ignores_intermediate_cotangents-grad_y0"),
    pytest.param(M + "missing_y0_gradient", "dopri5", "gradients", "test_missing_gradient_is_failure", "mlp-tanh-t",
                 {}, None, id="missing_y0_gradient-missing"),
    pytest.param(M + "mutates_y0", "dopri5", "properties", "test_inputs_not_mutated", "", {}, None,
                 id="mutates_y0-mutation"),
    pytest.param(M + "nondeterministic_in_inference_mode", "dopri5", "properties", "test_without_grad_deterministic",
                 "", {}, "inference_mode", id="nondeterministic_in_inference_mode-determinism"),
    pytest.param(M + "evaluates_outside_span", "dopri5", "properties", "test_field_evaluated_only_inside_span", "",
                 {}, None, id="evaluates_outside_span-span"),
    pytest.param(M + "norm_first_batch_element", "dopri5", "properties", "test_batch_independence", "", {}, None,
                 id="norm_first_batch_element-batch"),
    pytest.param(M + "silent_nan", "dopri5", "properties", "test_linear_systems_match_expm", "", {}, None,
                 id="silent_nan-expm"),
    pytest.param(M + "centred_state_without_autograd", "dopri5", "properties",
                 "test_without_grad_zero_field_keeps_y_constant", "", {}, "no_grad", id="centred_state-zero_field"),
    pytest.param(M + "squeezed_output_in_inference_mode", "dopri5", "properties",
                 "test_without_grad_shapes_and_dtypes_kept", "", {}, "inference_mode", id="squeezed_output-shapes"),
    pytest.param(M + "one_point_steps_in_inference_mode", "dopri5", "properties",
                 "test_without_grad_one_time_point_returns_y0", "", {}, "inference_mode", id="one_point_steps-one_point"),
    pytest.param(M + "hang", "dopri5", "forward_accuracy", "test_error_at_end", "A3", {"tol": 1e-5}, None,
                 id="hang-timeout"),
    # torchdiffeq 0.2.5, known findings: bosh3's last output read off its interpolant; f = 0 moves y
    pytest.param("torchdiffeq", "bosh3", "forward_accuracy", "test_error_at_end", "A3", {"tol": 1e-8}, None,
                 id="torchdiffeq-bosh3-end"),
    pytest.param("torchdiffeq", "bosh3", "properties", "test_linear_systems_match_expm", "", {}, None,
                 id="torchdiffeq-bosh3-expm"),
    pytest.param("torchdiffeq", "dopri5", "properties", "test_zero_field_keeps_y_constant", "", {}, None,
                 id="torchdiffeq-dopri5-zero_field"),
    # its fixed-grid methods: dL/dt_i is 0 at output times on the step grid
    pytest.param("torchdiffeq", "rk4", "gradients", "test_grad_t_at_grid_output_times", "mlp-tanh-t", {}, None,
                 id="torchdiffeq-rk4-grad_t_grid"),
]


def _targets(iut: str) -> tuple[str | None, str]:
    """(the spec the script is written for, the correct implementation to point it at)."""
    if iut.startswith(M):
        fn = load_implementation(iut).odeint
        return "ode_mutants:" + iut.removeprefix(M), ("reference:odeint_adjoint" if fn.ode_harness_adjoint
                                                      else "reference:odeint")
    return None, "reference:odeint"


# Runs one script several times in ONE isolated interpreter (torch is imported once: ~3 s of CPU a
# process on the CI machine), as `python script.py ARGS` would: runpy with run_name "__main__" and
# sys.argv set, the exit status from SystemExit. The plain `python script.py` route is exercised by
# the tests below (torchode's embedded adapter, usage errors).
_DRIVER = """
import json, runpy, sys
path, runs = sys.argv[1], json.loads(sys.argv[2])
codes = []
for args in runs:
    print("=== run", args, flush=True)
    sys.argv = [path, *args]
    try:
        runpy.run_path(path, run_name="__main__")
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code if isinstance(exc.code, int) else 1)
print("EXIT_CODES", json.dumps(codes))
"""


@pytest.mark.slow  # ~4 s of CPU each: one interpreter with torch, two solves (the hang: its 10 s timeout)
@pytest.mark.parametrize("iut, method, suite, check, problem, measured, grad_mode", SAMPLE)
def test_reproducer_exits_1_on_the_defect_and_0_on_the_reference(isolated, tmp_path, iut, method, suite, check,
                                                                   problem, measured, grad_mode):
    rec = _record(iut, method, suite, check, problem, measured=measured, grad_mode=grad_mode)
    spec, correct = _targets(iut)
    path = write_reproducer(rec, tmp_path, impl_spec=spec, timeout_s=SCRIPT_TIMEOUT_S)
    text = path.read_text()
    assert "harness" not in [ln.split()[1].split(".")[0] for ln in text.splitlines()
                             if ln.startswith(("import ", "from "))], "the script imports ode-harness"
    got = _run(isolated, "-c", _DRIVER, str(path), json.dumps([[], ["--impl", correct]]))
    out = got.stdout
    assert "EXIT_CODES" in out, f"{path.name}: {out[-2000:]}\n{got.stderr[-2000:]}"
    codes = json.loads(out.rsplit("EXIT_CODES", 1)[1])
    defective, correct_run = out.split("=== run")[1], out.split("=== run")[2]
    assert codes[0] == 1 and "DEFECT" in defective, f"{path.name} on {spec or iut}: exit {codes[0]}\n{defective[-2000:]}"
    assert codes[1] == 0, f"{path.name} on {correct}: exit {codes[1]}\n{correct_run[-2000:]}\n{got.stderr[-2000:]}"
    assert "\nOK:" in correct_run


def test_reproducer_embeds_the_torchode_adapter(isolated, tmp_path):
    """torchode's adapter lives in ode-harness: the script carries its source and loads it as
    __main__:torchode_odeint; a correct torchode tsit5 passes the A3 accuracy check."""
    pytest.importorskip("torchode")
    rec = _record("torchode", "tsit5", "forward_accuracy", "test_error_at_end", "A3", measured={"tol": 1e-5})
    path = write_reproducer(rec, tmp_path)
    assert "DEFAULT_IMPL = '__main__:torchode_odeint'" in path.read_text()
    env_dirs = {str(Path(__import__("torchode").__file__).resolve().parent.parent)}
    got = _run(isolated, str(path)) if env_dirs <= set(_site_dirs()) else pytest.skip("torchode elsewhere")
    assert got.returncode == 0, got.stdout[-2000:] + got.stderr[-2000:]


def test_bad_impl_is_a_usage_error(isolated, tmp_path):
    rec = _record("reference", "dopri5", "properties", "test_deterministic")
    path = write_reproducer(rec, tmp_path)
    for spec in ("no_colon", "reference:no_such_attr"):
        got = _run(isolated, str(path), "--impl", spec)
        assert got.returncode == 2, (spec, got.stdout, got.stderr)
        assert got.stderr.strip().startswith("error:") and "Traceback" not in got.stderr


def test_unsupported_check_is_a_clear_error():
    rec = _record("reference", "dopri5", "benchmarks", "test_work_precision", "A3")
    with pytest.raises(ReproducerUnsupported, match="no reproducer for the check 'test_work_precision'"):
        repro_case(rec)


def test_typed_reproducer_inputs_are_used_when_present():
    """A record carrying typed reproducer inputs (results schema 2, harness.evidence.ReproInputs
    as record.evidence.inputs) is rebuilt at the tolerance they name, not the fallback rule's."""
    from types import SimpleNamespace

    from harness.diagnosis.reproducer import repro_case

    rec = _record("reference", "dopri5", "forward_accuracy", "test_error_in_reverse_time", "A3")
    rec.threshold, rec.threshold_reason = 1.0, "given"
    assert repro_case(rec).rtol == 1e-8  # schema 1: the suite's single-tolerance rule
    rec.evidence = SimpleNamespace(inputs=SimpleNamespace(rtol=1e-5, atol=1e-5, step_size=None))
    case = repro_case(rec)
    assert (case.rtol, case.atol, case.step_size) == (1e-5, 1e-5, None)


# ----------------------------------------------------------------------------------------------
# One reproducer per finding (the CLI writes them into the report folder and links them)
# ----------------------------------------------------------------------------------------------
def _finding(record: CheckRecord, cause: str, *checks: str, expected: str | None = None):
    from harness.diagnosis.model import CAUSES, Confidence, Finding

    return Finding(iut=record.iut, method=record.method, cause_key=cause, title=cause, category=CAUSES[cause].category,
                   confidence=Confidence.HIGH, checks=checks or (record.check_id,), expected=expected)


def test_each_finding_gets_its_reproducer(tmp_path):
    """Every finding with a reproducible check gets a script in the report's reproducers/ folder,
    its path relative to the report; a finding whose checks have none is named with the reason,
    and the diagnosis keeps it (no exception); the same cause twice gets two files."""
    from harness.diagnosis.model import Diagnosis
    from harness.diagnosis.reproducer import finding_reproducers

    order = _record(M + "wrong_weight_rk4", "rk4", "convergence_order", "test_fixed_step_order")
    other = _record(M + "wrong_weight_rk4", "rk4", "benchmarks", "test_nfe_against_tolerance")
    diag = Diagnosis(findings=(_finding(order, "wrong-coefficient", other.check_id, order.check_id),
                               _finding(other, "cost-nfe"),
                               _finding(order, "wrong-coefficient", expected="known")))
    got, reasons = finding_reproducers(diag, [order, other], tmp_path / "reproducers", relative_to=tmp_path)
    first, cost, known = got.findings
    assert first.reproducer == "reproducers/harness_mutants_wrong_weight_rk4_rk4_wrong_coefficient.py"
    assert known.reproducer == "reproducers/harness_mutants_wrong_weight_rk4_rk4_wrong_coefficient_2.py"
    assert (tmp_path / first.reproducer).read_text().startswith("#!/usr/bin/env python3")
    assert cost.reproducer is None and len(reasons) == 1 and "cost-nfe: no reproducer" in reasons[0]
    assert "test_nfe_against_tolerance" in reasons[0]


def test_finding_reproducers_stop_at_their_budget(tmp_path):
    """A spent budget leaves the remaining findings without a script, named, never an error;
    findings that gate are written before known ones."""
    from harness.diagnosis.model import Diagnosis
    from harness.diagnosis.reproducer import finding_reproducers

    order = _record(M + "wrong_weight_rk4", "rk4", "convergence_order", "test_fixed_step_order")
    diag = Diagnosis(findings=(_finding(order, "wrong-coefficient", expected="known"), _finding(order, "stage-times")))
    got, reasons = finding_reproducers(diag, [order], tmp_path, time_budget_s=0.0, verify=False)
    assert got.findings[1].reproducer is not None and Path(got.findings[1].reproducer).is_absolute()
    assert got.findings[0].reproducer is None and "budget" in reasons[0]


def test_a_script_that_does_not_show_the_defect_is_not_linked(tmp_path):
    """Each written script is run against the implementation it names: one whose example passes
    there (exit 0; here a 'failing' record of the correct reference) is removed and the finding
    says why; the mutant's script (exit 1) stays."""
    from harness.diagnosis.model import Diagnosis
    from harness.diagnosis.reproducer import finding_reproducers

    bad = _record(M + "wrong_weight_rk4", "rk4", "convergence_order", "test_fixed_step_order")
    fine = _record("reference", "rk4", "convergence_order", "test_fixed_step_order")
    diag = Diagnosis(findings=(_finding(bad, "wrong-coefficient"), _finding(fine, "wrong-coefficient")))
    got, reasons = finding_reproducers(diag, [bad, fine], tmp_path)
    assert got.findings[0].reproducer is not None and Path(got.findings[0].reproducer).exists()
    assert got.findings[1].reproducer is None
    assert reasons == ["reference rk4 wrong-coefficient: reproducer removed: its fixed example does not show the "
                       "defect on this implementation (exit 0)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["harness_mutants_wrong_weight_rk4_rk4_wrong_coefficient.py"]
