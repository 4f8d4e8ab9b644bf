"""The time-series model: histogram accuracy, merging, Prometheus `le` ingestion, counters."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.model import (
    GAMMA,
    RELATIVE_ACCURACY,
    Batch,
    CumulativeCounter,
    Histogram,
    HistogramBuilder,
    MetricKind,
    SeriesKey,
    bucket_bounds,
    bucket_index,
    bucket_value,
    cumulative_delta,
    merge_histograms,
)


def exact_percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(1, math.ceil(q / 100 * len(s))) - 1]


def test_series_key_sorts_labels_and_prints_promql() -> None:
    a = SeriesKey.of("castiel_jobs_total", {"queue": "email", "outcome": "failed"})
    b = SeriesKey.of("castiel_jobs_total", {"outcome": "failed", "queue": "email"})
    assert a == b and hash(a) == hash(b)
    assert a.label("queue") == "email" and a.label("missing") == ""
    assert str(a) == 'castiel_jobs_total{outcome="failed",queue="email"}'


def test_bucket_value_is_within_relative_accuracy_of_its_bounds() -> None:
    for i in (-600, -115, 0, 1, 300):
        lo, hi = bucket_bounds(i)
        v = bucket_value(i)
        assert hi / lo == pytest.approx(GAMMA)
        assert (v - lo) / lo <= RELATIVE_ACCURACY + 1e-12
        assert (hi - v) / hi <= RELATIVE_ACCURACY + 1e-12
        assert bucket_index(v) == i


@pytest.mark.parametrize("q", [0.1, 50, 90, 95, 99, 99.9, 100])
def test_percentiles_within_one_percent_of_exact(q: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-3, 1.2) for _ in range(20_000)]
    got = Histogram.of(values).percentile(q)
    want = exact_percentile(values, q)
    assert got is not None
    assert abs(got - want) / want <= RELATIVE_ACCURACY


def test_small_hand_computed_histogram() -> None:
    h = Histogram.of([0.1, 0.2, 0.3, 0.4])
    assert h.count == 4
    assert h.total == pytest.approx(1.0)
    assert (h.min, h.max) == (0.1, 0.4)
    assert h.mean == pytest.approx(0.25)
    # nearest rank: p50 -> 2nd value, p75 -> 3rd, p100 -> max exactly (clamped)
    assert h.percentile(50) == pytest.approx(0.2, rel=0.01)
    assert h.percentile(75) == pytest.approx(0.3, rel=0.01)
    assert h.percentile(100) == 0.4
    assert h.percentile(1) == 0.1  # clamped to the exact min


def test_zero_values_have_their_own_exact_bucket() -> None:
    h = Histogram.of([0.0, 0.0, 0.0, 5.0])
    assert h.zero_count == 3
    assert h.percentile(75) == 0.0
    assert h.percentile(100) == 5.0


def test_empty_histogram() -> None:
    h = HistogramBuilder().build()
    assert h.count == 0 and h.percentile(50) is None and h.mean is None


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
def test_negative_and_non_finite_values_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        HistogramBuilder().record(bad)


def test_memory_is_bounded_by_value_range_not_count() -> None:
    rng = random.Random(1)
    b = HistogramBuilder()
    for _ in range(200_000):
        b.record(rng.uniform(0.001, 10.0))  # four decades
    h = b.build()
    assert h.count == 200_000
    # ~115 buckets per decade at 1% accuracy
    assert h.counts.size <= 4 * math.ceil(math.log(10) / math.log(GAMMA)) + 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1e4, allow_nan=False), max_size=60),
    st.lists(st.floats(0, 1e4, allow_nan=False), max_size=60),
    st.lists(st.floats(0, 1e4, allow_nan=False), max_size=60),
)
def test_merge_equals_recording_everything_and_is_associative(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ha, hb, hc = Histogram.of(a), Histogram.of(b), Histogram.of(c)
    together = Histogram.of(a + b + c)
    left = ha.merge(hb).merge(hc)
    right = ha.merge(hb.merge(hc))
    assert left.sparse() == right.sparse() == together.sparse()
    assert left.zero_count == together.zero_count
    assert left.count == len(a) + len(b) + len(c)
    assert left.total == pytest.approx(together.total)
    for q in (50, 95, 99):
        assert left.percentile(q) == together.percentile(q)


def test_json_round_trip() -> None:
    h = Histogram.of([0.0, 0.01, 0.5, 3.0])
    again = Histogram.from_json(h.to_json())
    assert again == h
    assert Histogram.from_json(HistogramBuilder().build().to_json()).count == 0


def test_prometheus_buckets_agree_with_histogram_quantile() -> None:
    # le:      0.1   0.25   0.5   1.0   +Inf
    # counts:  10    20     60    10    4      (cumulative 10, 30, 90, 100, 104)
    h = Histogram.from_cumulative_buckets(
        [(0.1, 10), (0.25, 30), (0.5, 90), (1.0, 100), (math.inf, 104)], total=31.5
    )
    assert h.count == 104
    assert h.total == 31.5
    # histogram_quantile(0.5): rank 52 lies 22/60 into (0.25, 0.5] -> 0.25 + 0.25 * 22/60
    assert h.percentile(50) == pytest.approx(0.25 + 0.25 * 22 / 60, rel=0.02)
    # nearest rank ceil(0.05 * 104) = 6: the 6th of 10 values spread over (0, 0.1], which
    # linear interpolation puts between 0.05 and 0.06 (PromQL's rank 5.2 gives 0.052)
    assert 0.05 <= (h.percentile(5) or 0) <= 0.06
    # ranks in +Inf report the highest finite bound, like PromQL
    assert h.percentile(99.5) == pytest.approx(1.0, rel=0.01)
    assert h.max == 1.0


def test_prometheus_buckets_with_zero_bound_and_empty_interval() -> None:
    h = Histogram.from_cumulative_buckets([(0.0, 5), (1.0, 5), (2.0, 7), (math.inf, 7)])
    assert h.zero_count == 5 and h.count == 7
    assert h.percentile(50) == 0.0
    assert 1.0 <= (h.percentile(100) or 0) <= 2.0
    assert Histogram.from_cumulative_buckets([(1.0, 0), (math.inf, 0)]).count == 0


def test_prometheus_buckets_must_be_cumulative() -> None:
    with pytest.raises(ValueError, match="decrease"):
        Histogram.from_cumulative_buckets([(0.1, 5), (0.2, 3)])


def test_cumulative_delta_and_reset() -> None:
    first = [(0.1, 1.0), (1.0, 4.0), (math.inf, 5.0)]
    second = [(0.1, 3.0), (1.0, 9.0), (math.inf, 10.0)]
    assert cumulative_delta(None, first) == first
    assert cumulative_delta(first, second) == [(0.1, 2.0), (1.0, 5.0), (math.inf, 5.0)]
    restarted = [(0.1, 1.0), (1.0, 1.0), (math.inf, 1.0)]
    assert cumulative_delta(second, restarted) == restarted


def test_cumulative_counter_increments_and_resets() -> None:
    c = CumulativeCounter()
    key = SeriesKey.of("x_total")
    assert c.increment(key, 10) is None
    assert c.increment(key, 15) == 5
    assert c.increment(key, 3) == 3  # process restarted
    assert c.increment(key, 3) == 0


def test_batch_builders() -> None:
    b = Batch()
    k = SeriesKey.of("g")
    b.add_gauge(k, 1.0, 2.0)
    b.add_increment(SeriesKey.of("c_total"), 1.0, 3.0)
    b.add_histogram(SeriesKey.of("h"), 0.0, 1.0, Histogram.of([1.0]))
    assert len(b) == 3
    assert [s.kind for s in b.scalars] == [MetricKind.GAUGE, MetricKind.COUNTER]


def test_merge_histograms_handles_empty_inputs() -> None:
    assert merge_histograms([]).count == 0
    h = merge_histograms([Histogram.of([0.0]), HistogramBuilder().build()])
    assert h.count == 1 and h.zero_count == 1
    assert np.array_equal(h.counts, np.zeros(0, np.int64))


def test_record_counts_scales_locust_milliseconds() -> None:
    b = HistogramBuilder()
    b.record_counts({120: 3, 95: 1}, scale=0.001)
    h = b.build()
    assert h.count == 4
    assert h.percentile(100) == pytest.approx(0.12)
    assert h.min == pytest.approx(0.095)
