"""Honest timings (issue 12): repeated measurements with their spread, and the report's
work-precision diagrams drawing them (spread as error bars, a point whose spread is wider than
the gap to its neighbour marked). Results files of one timing a point still read and plot."""

from __future__ import annotations

import itertools

import pytest

from harness.evidence import Evidence, Quantity, Series, SeriesKind
from harness.measure.timing import Timing, rounds_for, spread_exceeds_gaps, time_repeated
from harness.pytest_plugin import Check
from harness.report import plots
from harness.report.data import benchmark_stats, curves_in_record
from harness.results import CheckRecord


def test_rounds_follow_the_target_time():
    assert rounds_for(0.2, 0.01, 3, 100) == 20      # ceil(0.2 / 0.01)
    assert rounds_for(0.2, 0.5, 3, 100) == 3        # a slow call: the fewest
    assert rounds_for(10.0, 1e-6, 3, 100) == 100    # a fast call: the most
    assert rounds_for(0.2, 0.0, 3, 50) == 50
    with pytest.raises(ValueError):
        rounds_for(0.2, 0.01, 0, 10)


def test_time_repeated_warms_up_untimed_and_keeps_every_sample(monkeypatch):
    """With a fake clock: the warm-up call is not a sample, k comes from the warm-up's time,
    the summary is the samples' order statistics."""
    calls = []
    durations = iter([0.02, 0.01, 0.03, 0.01, 0.05, 0.01, 0.01])  # warm-up, then samples
    clock = itertools.count()
    now = [0.0]

    def fake_perf_counter() -> float:
        next(clock)
        return now[0]

    def fn() -> int:
        calls.append(1)
        now[0] += next(durations)
        return len(calls)

    monkeypatch.setattr("harness.measure.timing.time.perf_counter", fake_perf_counter)
    timing, last = time_repeated(fn, target_s=0.1, min_rounds=3, max_rounds=10, warmup=1)
    assert timing.rounds == 5 and len(calls) == 6 and last == 6   # ceil(0.1 / 0.02) = 5 samples
    assert timing.samples == pytest.approx((0.01, 0.03, 0.01, 0.05, 0.01))
    assert timing.min == pytest.approx(0.01) and timing.max == pytest.approx(0.05)
    assert timing.median == pytest.approx(0.01) and timing.q3 == pytest.approx(0.03)
    notes = timing.notes()
    assert notes["rounds"] == 5 and notes["warmup_rounds"] == 1
    assert notes["seconds_iqr"] == pytest.approx(0.02)


def test_time_repeated_real_clock():
    timing, out = time_repeated(lambda: sum(range(1000)), target_s=0.01, min_rounds=3, max_rounds=20)
    assert out == 499500 and 3 <= timing.rounds <= 20
    assert 0 < timing.min <= timing.q1 <= timing.median <= timing.q3 <= timing.max
    with pytest.raises(ValueError):
        Timing((), 1)


def test_spread_against_the_gap_to_neighbours():
    centre = [1.0, 2.0, 2.1, 4.0]
    lo = [0.95, 1.9, 1.6, 3.9]
    hi = [1.05, 2.05, 2.6, 4.1]   # point 2: spread 1.0 > gap 0.1 to point 1; point 1: 0.15 > 0.1
    assert spread_exceeds_gaps(centre, lo, hi) == [False, True, True, False]
    assert spread_exceeds_gaps([1.0], [0.0], [9.0]) == [False]


def _wp_record(seconds, seconds_q1=None, seconds_q3=None, **_display) -> CheckRecord:
    tol, err = [1e-4, 1e-6, 1e-8], [1e-4, 1e-6, 1e-8]
    ev = Evidence(series=(
        Series(kind=SeriesKind.TOLERANCE_SWEEP, x=tol, y=err, x_label="tolerance", y_label="error", label="E4"),
        Series(kind=SeriesKind.WORK_PRECISION, x=[50, 100, 200], y=err, x_label="NFE", x_unit="NFE", y_label="error",
               label="E4"),
        Series(kind=SeriesKind.WORK_PRECISION, x=seconds, y=err, x_label="wall time", x_unit="s", y_label="error",
               label="E4", low=seconds_q1, high=seconds_q3, spread_axis="x")), oracle="closed form")
    return CheckRecord(check_id="benchmarks.test_work_precision[x-dopri5-E4]", suite="benchmarks",
                       check="test_work_precision", iut="x", method="dopri5", problem="E4", verdict="pass",
                       evidence=ev)


def test_curve_reads_the_spread_and_old_records_still_read():
    new = curves_in_record(_wp_record(seconds=[0.01, 0.02, 0.04], seconds_min=[0.009, 0.015, 0.03],
                                      seconds_q1=[0.0095, 0.018, 0.035], seconds_q3=[0.011, 0.03, 0.045],
                                      seconds_max=[0.02, 0.05, 0.09], timing_rounds=[5, 5, 3]))
    assert new.time == [0.01, 0.02, 0.04] and new.time_lo == [0.0095, 0.018, 0.035]
    assert new.time_hi == [0.011, 0.03, 0.045]
    old = curves_in_record(_wp_record(seconds=[0.01, 0.02, 0.04]))  # one timing a point
    assert old.time == [0.01, 0.02, 0.04] and old.time_lo is None and old.time_hi is None


def test_work_precision_plot_marks_a_point_within_the_noise():
    noisy = curves_in_record(_wp_record(seconds=[0.010, 0.011, 0.040], seconds_q1=[0.009, 0.006, 0.039],
                                        seconds_q3=[0.0105, 0.020, 0.041]))
    svg = str(plots.work_precision_plot("E4", [noisy], plots.Styles()))
    assert "spread (IQR) &gt; gap to a neighbour" in svg and "median and IQR" in svg
    clean = curves_in_record(_wp_record(seconds=[0.010, 0.020, 0.040], seconds_q1=[0.0099, 0.0198, 0.0396],
                                        seconds_q3=[0.0101, 0.0202, 0.0404]))
    svg = str(plots.work_precision_plot("E4", [clean], plots.Styles()))
    assert "gap to a neighbour" not in svg and "median and IQR" in svg
    old = curves_in_record(_wp_record(seconds=[0.010, 0.011, 0.040]))
    svg = str(plots.work_precision_plot("E4", [old], plots.Styles()))
    assert "gap to a neighbour" not in svg and "median and IQR" not in svg and "wall time [s]" in svg


def test_wall_time_records_of_the_harness_timer_read_as_benchmark_statistics():
    timing = Timing((0.010, 0.012, 0.011, 0.030), 1)
    chk = Check()
    chk.timing(timing, at=1e-6)
    chk.scalar("nfe_per_call", 80, Quantity.NFE)
    rec = CheckRecord(check_id="benchmarks.test_wall_time_forward[x-dopri5]", suite="benchmarks",
                      check="test_wall_time_forward", iut="x", method="dopri5", verdict="pass",
                      measured={"benchmark_disabled": True}, evidence=chk.evidence())
    stats = benchmark_stats(rec)
    assert stats["median"] == pytest.approx(0.0115) and stats["rounds"] == 4
    assert stats["iqr"] == pytest.approx(timing.iqr) and stats["nfe_per_call"] == 80


def test_cost_timers_nest_and_count_once():
    """harness/cost.py: the outermost timed region owns the time (an oracle that runs autograd
    inside is oracle time, not IUT time), and `since` gives what was spent after a snapshot."""
    import time

    from harness import cost

    start = cost.snapshot()
    with cost.timed("oracle"):
        with cost.timed("iut"):
            time.sleep(0.01)
    with cost.timed("iut"):
        time.sleep(0.005)
    spent = cost.since(start)
    assert spent["oracle_calls"] == 1 and spent["iut_calls"] == 1
    assert spent["oracle_s"] >= 0.01 and 0.005 <= spent["iut_s"] < spent["oracle_s"] + 0.5
    assert spent["iut_cpu_s"] >= 0.0 and spent["oracle_cpu_s"] >= 0.0
    with pytest.raises(ValueError):
        with cost.timed("other"):
            pass


def test_backward_passes_count_as_iut_time():
    import torch

    from harness import cost

    cost.install_backward_timer()
    cost.install_backward_timer()  # once per process, however often it is called
    x = torch.ones(3, requires_grad=True)
    start = cost.snapshot()
    (x * 2).sum().backward()
    torch.autograd.grad((x * 3).sum(), [x])
    assert cost.since(start)["iut_calls"] == 2


def test_harness_work_with_autograd_is_not_booked_as_iut():
    """The harness's own torch work (timed "harness", e.g. the gradient suite's reference
    baseline) owns the autograd inside it; the same backward outside is the IUT's."""
    import torch

    from harness import cost

    cost.install_backward_timer()
    x = torch.ones(3, requires_grad=True)
    start = cost.snapshot()
    with cost.timed("harness"):
        torch.autograd.grad((x * 3).sum(), [x])
    spent = cost.since(start)
    assert spent["harness_calls"] == 1 and spent["iut_calls"] == 0
    torch.autograd.grad((x * 3).sum(), [x])
    assert cost.since(start)["iut_calls"] == 1
