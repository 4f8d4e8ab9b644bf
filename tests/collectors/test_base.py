"""The collector interface: one small class per source; one failing source loses nothing else."""

from __future__ import annotations

from collectors.base import Collector, CollectorError, collect_all
from collectors.model import Batch, SeriesKey


class Depth:
    name = "depth"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def collect(self, now: float) -> Batch:
        self.calls.append(now)
        batch = Batch()
        batch.add_gauge(SeriesKey.of("castiel_queue_jobs", {"queue": "q", "state": "wait"}), now, 3)
        return batch


class Down:
    name = "down"

    def collect(self, now: float) -> Batch:
        raise CollectorError("connection refused")


def test_a_collector_is_one_small_class() -> None:
    assert isinstance(Depth(), Collector)


def test_collect_all_keeps_going_past_a_failing_source() -> None:
    depth = Depth()
    result = collect_all([Down(), depth], now=100.0)
    assert depth.calls == [100.0]
    assert result.errors == {"down": "connection refused"}
    assert [s.point.timestamp for s in result.batch.scalars] == [100.0]
    assert result.batch.scalars[0].point.value == 3
