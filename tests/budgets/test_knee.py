"""The saturation knee on synthetic runs with known answers (the real runs are in
tests/examples/test_capacity_runs.py)."""

from __future__ import annotations

import pytest

from budgets.knee import KneeMetrics, analyse, find_knee, segments, steps_of
from collectors.model import (
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    SeriesData,
    SeriesKey,
)

M = KneeMetrics()


def run(
    offered: list[float], capacity: float | None, name: str = M.target_rate, noise: float = 0.0
) -> list[SeriesData]:
    """One point a second: requests = min(offered, capacity) x 0.9 (a tenth of iterations
    sends nothing), latency 10 ms below capacity, growing with the overload above it."""
    t0 = 1_000.0
    offered_pts, req_pts, hists = [], [], []
    for i, o in enumerate(offered):
        t = t0 + i + 1
        served = o if capacity is None else min(o, capacity)
        wobble = 1 + (noise if i % 2 else -noise)
        req_pts.append(Point(t, round(served * 0.9 * wobble)))
        latency = (
            0.010 if capacity is None or o <= capacity else 0.010 * (1 + 10 * (o / capacity - 1))
        )
        hists.append(HistogramPoint(t - 1, t, Histogram.of([latency] * max(1, int(served)))))
        offered_pts.append(Point(t + 0.002, o))
    return [
        SeriesData(SeriesKey.of(name), MetricKind.GAUGE, tuple(offered_pts)),
        SeriesData(SeriesKey.of(M.requests, {"name": "/"}), MetricKind.COUNTER, tuple(req_pts)),
        SeriesData(SeriesKey.of(M.latency, {"name": "/"}), MetricKind.HISTOGRAM, (), tuple(hists)),
    ]


def stepped(levels: list[float], seconds: int = 10) -> list[float]:
    return [lv for lv in levels for _ in range(seconds)]


def test_constant_load_has_no_knee_even_when_latency_wobbles() -> None:
    # The Compare page used to call 10, 10.2, 9.9 req/s with a 6 % p95 wobble saturation.
    assert analyse(run([10.0] * 60, None, noise=0.03)) is None
    steps, _ = steps_of(run([10.0] * 60, None))
    assert len(steps) == 1


def test_stepped_run_finds_the_capacity_step() -> None:
    sat = analyse(run(stepped([20, 40, 60, 80, 100]), capacity=50))
    assert sat is not None and sat.unit == "iterations/s"
    knee = sat.knee
    assert knee is not None
    assert knee.offered == 60 and knee.sustained_offered == 40
    assert knee.sustained_throughput == pytest.approx(36)  # 40/s x 0.9 requests/iteration
    assert sat.peak_throughput == pytest.approx(45)
    assert knee.follow == pytest.approx(50 / 60, rel=0.01)
    assert knee.p95_at > 1.5 * knee.p95_before
    assert [s.offered for s in sat.steps] == [20, 40, 60, 80, 100]
    assert "60 iterations/s" in sat.describe()


def test_stepped_run_within_capacity_has_no_knee() -> None:
    sat = analyse(run(stepped([20, 40, 60, 80, 100]), capacity=500, noise=0.05))
    assert sat is not None and sat.knee is None and len(sat.steps) == 5
    assert sat.describe().startswith("no knee: throughput followed every step up to 100")


def test_throughput_falling_behind_without_latency_rising_is_not_a_knee() -> None:
    steps, _ = steps_of(run(stepped([20, 40, 60]), capacity=30))
    flat = [s.__class__(**{**s.__dict__, "p95": 0.010}) for s in steps]
    assert find_knee(flat) is None
    assert find_knee(steps) is not None


def test_user_steps_of_a_closed_loop_stress_run() -> None:
    series = run(stepped([10, 20, 30, 40], 8), capacity=25, name=M.users)
    sat = analyse(series)
    assert sat is not None and sat.unit == "users"
    assert sat.knee is not None and sat.knee.offered == 30


def test_linear_ramp_is_cut_into_windows() -> None:
    ramp = [float(r) for r in range(10, 110, 2)]  # 10 -> 108/s over 50 s
    cut = segments([(float(i), r) for i, r in enumerate(ramp)], min_seconds=5)
    assert len(cut) == 10 and cut[0][0] == pytest.approx(14)
    sat = analyse(run(ramp, capacity=60))
    assert sat is not None and sat.knee is not None and 60 <= sat.knee.offered <= 75


def test_ramp_up_before_the_first_hold_is_warm_up() -> None:
    warmup = [float(v) for v in range(1, 10)]
    assert analyse(run([*warmup, *([10.0] * 40)], capacity=10)) is None


def test_defaults_name_the_series_castiel_run_records() -> None:
    from loadtest import stream

    assert (M.target_rate, M.users, M.requests, M.latency) == (
        stream.TARGET_RATE,
        stream.USERS,
        stream.REQUESTS,
        stream.DURATION,
    )
