"""The dashboard's pure data functions: percentiles merged from histograms (never averaged),
the vectorised timeline equal to merging histogram objects, downsampling, ratios, limits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgets.model import Condition, Level, Op
from budgets.units import Unit
from budgets.verdict import BaselineComparison, BaselineOutcome, Verdict
from collectors.model import (
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    SeriesData,
    SeriesKey,
    merge_histograms,
)
from dashboard import alerting, data
from dashboard import verdict_frames as vf

LAT = "locust_request_duration_seconds"


def hist_series(name: str, per_second: list[list[float]], start: float = 0.0) -> SeriesData:
    points = tuple(
        HistogramPoint(start + i, start + i + 1, Histogram.of(values))
        for i, values in enumerate(per_second)
    )
    return SeriesData(SeriesKey.of(LAT, {"name": name}), MetricKind.HISTOGRAM, (), points)


values = st.lists(
    st.one_of(st.just(0.0), st.floats(1e-4, 30.0, allow_nan=False)), min_size=0, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=40), st.integers(1, 7))
def test_vectorised_timeline_equals_merging_histograms(
    per_second: list[list[float]], width: int
) -> None:
    points = hist_series("/a", per_second).histograms
    buckets, (p50, p99) = data.bucket_percentiles(points, 0.0, float(width), (50, 99))
    for b, v50, v99 in zip(buckets, p50, p99, strict=True):
        merged = merge_histograms(
            p.histogram for p in points if data.bucket_of(p.end, 0.0, width) == b
        )
        for q, got in ((50, v50), (99, v99)):
            want = merged.percentile(q)
            assert (want is None and math.isnan(got)) or got == pytest.approx(want)


def test_percentiles_are_merged_not_averaged() -> None:
    # Second 1: 99 fast requests; second 2: 1 slow one. One display bucket holds both.
    s = hist_series("/a", [[0.01] * 99, [2.0]])
    frame = data.percentile_timeline([s], "name", 0.0, 2.0 * data.MAX_POINTS, qs=(50, 99))
    assert len(frame) == 1
    assert frame["p50"].iloc[0] == pytest.approx(10, rel=0.02)  # not (10 + 2000) / 2
    assert frame["p99"].iloc[0] == pytest.approx(10, rel=0.02)  # rank 99 of 100 is fast


def test_long_runs_are_downsampled() -> None:
    s = hist_series("/a", [[0.05]] * 3600)
    frame = data.percentile_timeline([s], "name", 0.0, 3600.0)
    assert len(frame) <= data.MAX_POINTS
    assert list(frame.columns) == ["name", "t", "p50", "p95", "p99"]


def test_gauges_sum_series_sharing_a_label() -> None:
    def gauge(queue: str, value: float) -> SeriesData:
        key = SeriesKey.of("castiel_queue_jobs", {"queue": queue, "state": "wait"})
        return SeriesData(key, MetricKind.GAUGE, (Point(1.0, value), Point(2.0, value)), ())

    frame = data.gauge_timeline([gauge("a", 3), gauge("b", 4)], "state", 0.0, 10.0)
    assert set(frame["value"]) == {7.0}


def test_cache_hit_ratio() -> None:
    def counter(name: str, v: float) -> SeriesData:
        key = SeriesKey.of(name, {"cache": "items", "layer": "local"})
        return SeriesData(key, MetricKind.COUNTER, (Point(1.0, v),), ())

    hits, misses = counter("castiel_cache_hits_total", 9), counter("castiel_cache_misses_total", 1)
    ratio = data.ratio_timeline([hits], [misses], "layer", 0.0, 10.0)
    assert ratio["value"].tolist() == [pytest.approx(0.9)]
    totals = data.cache_totals([hits], [misses])
    assert totals["hit ratio"].tolist() == [pytest.approx(0.9)]


def verdict(**kw: Any) -> Verdict:
    base = {
        "budget": "b",
        "status": Level.FAIL,
        "aggregation": "p99.9",
        "observed": 0.4123,
        "thresholds": ((Level.WARN, Condition(Op.LT, 0.2)), (Level.FAIL, Condition(Op.LT, 0.3))),
        "sample_count": 900,
        "window": None,
        "scope": "run",
        "group": (("name", "/a"),),
        "metric": LAT,
        "unit": Unit.SECONDS,
        "trace": ((10.0, 0.25), (20.0, 0.4123)),
    }
    return Verdict(**{**base, **kw})


def test_verdict_rows_are_typed_beside_their_text() -> None:
    comparison = BaselineComparison(
        outcome=BaselineOutcome.FAIL,
        reason="regression",
        baseline="last passing run r0",
        baseline_run="r0",
        effect=0.123,
        ci_low=0.081,
        ci_high=0.159,
        ci_level=0.9,
        p_value=0.0031,
        change=0.13,
    )
    row = vf.verdict_row(verdict(baseline=comparison))
    assert row["level"] == Level.FAIL.value and row["status"] == "❌ fail"
    assert row["observed"] == 0.4123 and row["unit"] == "s" and row["value"] == "412.3 ms"
    assert row["limits"] == {"warn": 0.2, "fail": 0.3}
    assert row["thresholds"] == "warn < 200 ms, fail < 300 ms"
    assert row["labels"] == {"name": "/a"} and row["group"] == "name=/a"
    assert row["baseline run"] == "r0" and row["vs baseline"] == "FAIL"
    assert (row["effect"], row["ci_low"], row["ci_high"], row["p_value"]) == (
        0.123,
        0.081,
        0.159,
        0.0031,
    )
    assert row["effect text"] == "+12.3 % (90 % CI +8.1 % to +15.9 %), p=0.0031"
    ratio = vf.verdict_row(verdict(unit=Unit.FRACTION, observed=0.0123, aggregation="ratio"))
    assert ratio["value"] == "1.23%" and ratio["vs baseline"] == "" and ratio["effect"] is None


def test_threshold_lines_and_percentiles_follow_the_budgets() -> None:
    rows = [
        vf.verdict_row(verdict(budget="b", aggregation="p95")),
        vf.verdict_row(verdict(budget="c", aggregation="p99.9")),
        vf.verdict_row(verdict(budget="d", aggregation="p90", metric="other_seconds")),
    ]
    frame = pd.DataFrame(rows)
    assert vf.latency_limits(frame, "p95") == {
        ("b", "warn"): 200.0,
        ("b", "fail"): 300.0,
    }
    assert vf.latency_limits(frame, "p99.9") == {
        ("c", "warn"): 200.0,
        ("c", "fail"): 300.0,
    }
    assert [r["metric_name"] for r in rows] == [LAT, LAT, "other_seconds"]
    assert vf.metric_name('m{name="/a"}') == "m" and vf.metric_name("m_*") == ""
    assert vf.percentiles_of(frame) == [50, 95, 99, 99.9]  # p90 is not a latency metric
    trace = vf.trace_frame(rows[1]["trace"], "name=/a", "p99.9", 1000.0)
    assert trace["p99.9"].tolist() == [250.0, 412.3] and set(trace["series"]) == {"name=/a"}


def test_per_second_table_and_locusts_tables() -> None:
    def counter(name: str, labels: dict[str, str], pts: list[tuple[float, float]]) -> SeriesData:
        return SeriesData(
            SeriesKey.of(name, labels), MetricKind.COUNTER, tuple(Point(*p) for p in pts), ()
        )

    users = SeriesData(
        SeriesKey.of("locust_users"), MetricKind.GAUGE, (Point(1.0, 5), Point(3.0, 8)), ()
    )
    requests = counter("locust_requests_total", {"name": "/a"}, [(1.0, 10), (2.0, 20), (3.0, 30)])
    fails = counter("locust_failures_total", {"name": "/a"}, [(2.0, 1)])
    hist = [HistogramPoint(t - 1, t, Histogram.of([0.01, 0.02, 0.03])) for t in (1.0, 2.0, 3.0)]
    latency = SeriesData(SeriesKey.of(LAT, {"name": "/a"}), MetricKind.HISTOGRAM, (), tuple(hist))
    table = data.per_second_table([users], [requests], [fails], [latency], 0.0, 3.0)
    assert table["users"].tolist() == [5, 5, 8]
    assert table["requests/s"].tolist() == [10, 20, 30]
    assert table["failures/s"].tolist() == [0, 1, 0]
    assert table["p50 ms"].tolist() == pytest.approx([20, 20, 20], rel=0.02)
    errors = data.error_table(
        [
            counter(
                "locust_errors_total", {"name": "/a", "method": "GET", "error": "500"}, [(1, 2)]
            ),
            counter(
                "locust_errors_total", {"name": "/b", "method": "GET", "error": "boom"}, [(1, 5)]
            ),
        ]
    )
    assert errors.values.tolist() == [["GET", "/b", "boom", 5], ["GET", "/a", "500", 2]]
    where = {"message": "'x'", "where": 'File "u.py", line 3, in t · raise KeyError("x")'}
    exc = data.exception_table([counter("locust_exceptions_total", where, [(1, 3)])])
    assert exc.values.tolist() == [[3, "'x'", where["where"]]]


def test_alert_timeline_bars() -> None:
    from alerts.history import AlertEvent

    def event(at: float, state: str) -> AlertEvent:
        return AlertEvent(at, "k", "too tight", "critical", {}, {}, state, 1.0, "< 1", "r", "s")

    frame = alerting.events_frame([event(10, "firing"), event(5, "pending"), event(20, "resolved")])
    bars = alerting.timeline_frame(frame, pd.Timestamp(30, unit="s", tz="UTC"))
    assert bars["state"].tolist() == ["🟡 pending", "🔴 firing"]
    assert [b.timestamp() for b in bars["end"]] == [10, 20]
    assert np.isnan(data.bucket_percentiles([], 0.0, 1.0, (50,))[1][0]).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(values, min_size=1, max_size=20), st.lists(values, min_size=1, max_size=20))
def test_overall_and_distribution_merge_every_endpoint(
    a: list[list[float]], b: list[list[float]]
) -> None:
    series = [hist_series("/a", a), hist_series("/b", b, start=3.0)]
    views = data.latency_views(
        series, "name", 0.0, 30.0, qs=(95,), with_overall=True, with_distribution=True
    )
    for t, got in zip(views.overall["t"], views.overall["p95"], strict=True):
        b_id = int(t.timestamp()) - 1
        merged = merge_histograms(
            p.histogram
            for s in series
            for p in s.histograms
            if data.bucket_of(p.end, 0.0, 1.0) == b_id
        )
        want = merged.percentile(95)
        assert (want is None and math.isnan(got)) or got == pytest.approx(want * 1000)
    for name, s in (("/a", series[0]), ("/b", series[1])):
        cdf = views.distribution[views.distribution["name"] == name]
        whole = merge_histograms(p.histogram for p in s.histograms)
        p50 = cdf[np.isclose(cdf["fraction"], 0.5)]["ms"]
        want = whole.percentile(50)
        assert (want is None and p50.empty) or p50.iloc[0] == pytest.approx(want * 1000)
