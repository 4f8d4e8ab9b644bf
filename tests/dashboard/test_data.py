"""The dashboard's pure data functions: percentiles merged from histograms (never averaged),
the vectorised timeline equal to merging histogram objects, downsampling, ratios, limits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_limits_and_selector_labels() -> None:
    typed = {"limits": {"warn": {"op": "<", "value": 0.3}, "fail": {"op": "<=", "value": 1e-3}}}
    assert data.limits(typed) == {"warn": 0.3, "fail": 0.001}
    # verdicts stored before typed limits existed carry only the condition text
    old = {"thresholds": {"warn": "< 0.3", "fail": "<= 1e-3"}}
    assert data.limits(old) == {"warn": 0.3, "fail": 0.001}
    assert data.selector_labels('m{name="/a", x=~"b.*", y!="c"}') == {"name": "/a"}
    verdicts = pd.DataFrame(
        [
            {"budget": "b", "metric": LAT, "aggregation": "p95", "limits": {"fail": 0.5}},
            {"budget": "c", "metric": LAT, "aggregation": "p50", "limits": {"fail": 0.1}},
        ]
    )
    assert data.latency_limits(verdicts, "p95") == {"b fail": 500.0}


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
