"""The live view's numbers, from hand-made series."""

from __future__ import annotations

from collectors.model import MetricKind, Point, SeriesData, SeriesKey
from loadtest.live import live_stats, plain_line
from loadtest.stream import DROPPED, REQUESTS, USERS


def counter(name: str, values: list[float], labels: dict[str, str] | None = None) -> SeriesData:
    points = tuple(Point(100.0 + i, v) for i, v in enumerate(values))
    return SeriesData(SeriesKey.of(name, labels), MetricKind.COUNTER, points)


def test_dropped_iterations_show_only_for_arrival_rate_runs() -> None:
    closed = [
        SeriesData(SeriesKey.of(USERS), MetricKind.GAUGE, (Point(109.0, 4),)),
        counter(REQUESTS, [10] * 10, {"name": "/a", "method": "GET"}),
    ]
    stats = live_stats(closed, now=109.5)
    assert (stats.users, stats.requests, stats.rps, stats.dropped) == (4, 100, 10.0, None)
    assert "dropped" not in plain_line(10.0, stats, [])
    opened = live_stats([*closed, counter(DROPPED, [0, 2, 3])], now=109.5)
    assert opened.dropped == 5 and "dropped=5 " in plain_line(10.0, opened, [])
