"""Cumulative samples → interval Batch, with hand-computed expectations."""

from __future__ import annotations

from collectors.exposition import IntervalTracker, split
from collectors.model import SeriesKey

H = "castiel_job_processing_seconds"


def snap(
    done: float, b1: float, b2: float, binf: float, total: float, depth: float
) -> list[tuple[str, dict[str, str], float]]:
    q = {"queue": "q"}
    return [
        ("castiel_jobs_total", {**q, "outcome": "completed"}, done),
        ("castiel_jobs_total_created", q, 123.0),
        (f"{H}_bucket", {**q, "le": "0.1"}, b1),
        (f"{H}_bucket", {**q, "le": "1.0"}, b2),
        (f"{H}_bucket", {**q, "le": "+Inf"}, binf),
        (f"{H}_sum", q, total),
        (f"{H}_count", q, binf),
        ("castiel_jobs_in_flight", q, depth),
    ]


def test_split_by_naming_rules() -> None:
    r = split(snap(5, 1, 2, 3, 0.9, 4))
    assert SeriesKey.of("castiel_jobs_total", {"queue": "q", "outcome": "completed"}) in r.counters
    assert r.gauges == {SeriesKey.of("castiel_jobs_in_flight", {"queue": "q"}): 4}
    assert r.buckets[SeriesKey.of(H, {"queue": "q"})] == [(0.1, 1), (1.0, 2), (float("inf"), 3)]
    assert r.sums[SeriesKey.of(H, {"queue": "q"})] == 0.9


def test_two_workers_merge_into_one_interval() -> None:
    t = IntervalTracker()
    first = t.batch({"w1": snap(10, 5, 8, 10, 3.0, 1), "w2": snap(4, 4, 4, 4, 0.2, 2)}, 0, 1)
    assert first.histograms == [] and not [s for s in first.scalars if s.kind.value == "counter"]
    second = t.batch({"w1": snap(13, 6, 10, 13, 4.0, 0), "w2": snap(6, 6, 6, 6, 0.3, 3)}, 1, 2)
    incs = {s.key.name: s.point.value for s in second.scalars if s.kind.value == "counter"}
    assert incs == {"castiel_jobs_total": 3 + 2}
    gauges = {s.key.name: s.point.value for s in second.scalars if s.kind.value == "gauge"}
    assert gauges == {"castiel_jobs_in_flight": 0 + 3}
    (h,) = second.histograms
    # w1 added 1 job <= 0.1 s, 1 in (0.1, 1], 1 above 1 s; w2 added 2 jobs <= 0.1 s.
    assert h.point.histogram.count == 5 and (h.point.start, h.point.end) == (1, 2)
    assert abs(h.point.histogram.total - (1.0 + 0.1)) < 1e-9


def test_a_restarted_worker_counts_from_zero() -> None:
    t = IntervalTracker()
    t.batch({"w": snap(100, 50, 90, 100, 30.0, 0)}, 0, 1)
    after = t.batch({"w": snap(7, 7, 7, 7, 0.1, 0)}, 1, 2)
    incs = [s.point.value for s in after.scalars if s.kind.value == "counter"]
    assert incs == [7] and after.histograms[0].point.histogram.count == 7


def test_per_instance_view_labels_each_source() -> None:
    t = IntervalTracker("instance")
    t.batch({"a:1": snap(1, 1, 1, 1, 0.1, 0)}, 0, 1)
    b = t.batch({"a:1": snap(2, 2, 2, 2, 0.2, 0)}, 1, 2)
    assert {s.key.label("instance") for s in b.scalars} == {"a:1"}
