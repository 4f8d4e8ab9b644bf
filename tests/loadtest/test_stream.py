"""The Locust stats stream → the collectors' model, checked by hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

from collectors.model import SeriesKey
from loadtest.stream import (
    CPU,
    DROPPED,
    DURATION,
    FAILURES,
    ITERATIONS,
    REQUESTS,
    RESPONSE_DURATION,
    RESPONSES,
    STARTED,
    TARGET_RATE,
    USERS,
    LocustStream,
    slice_batch,
    status_batch,
)


def line(**record: object) -> str:
    return json.dumps(record) + "\n"


def test_lines_become_increments_histograms_and_phases(tmp_path: Path) -> None:
    path = tmp_path / "stats.jsonl"
    ep = {
        "name": "/a",
        "method": "GET",
        "requests": 4,
        "failures": 1,
        "rt_ms": {"10": 2, "20": 1, "120": 1},
    }
    path.write_text(
        line(event="init", t=99.0)
        + line(event="test_start", t=100.0)
        + line(event="spawning_complete", t=101.5, users=5)
        + line(event="slice", start=101.0, t=102.0, endpoints=[ep])
        + line(event="tick", t=102.003, users=5, total_requests=4, total_failures=1)
        + '{"event": "tick", "t": 103'
    )  # half-written: left for the next poll
    stream = LocustStream(path)
    batch = stream.poll()
    assert stream.phases.started == 100.0 and stream.phases.spawning_complete == 101.5
    key = {"name": "/a", "method": "GET"}
    incs = {(s.key, s.point.timestamp, s.point.value) for s in batch.scalars}
    assert (SeriesKey.of(REQUESTS, key), 102.0, 4.0) in incs
    assert (SeriesKey.of(FAILURES, key), 102.0, 1.0) in incs
    assert (SeriesKey.of(USERS), 102.003, 5.0) in incs
    (hist,) = batch.histograms
    assert hist.key == SeriesKey.of(DURATION, key) and hist.point.histogram.count == 4
    p50 = hist.point.histogram.percentile(50)
    assert p50 is not None and abs(p50 - 0.010) < 0.0002  # nearest rank: the 2nd of 4 values
    assert hist.point.end == 102.0 and hist.point.start == 101.0
    assert not any(s.key.name in (STARTED, DROPPED, TARGET_RATE) for s in batch.scalars)

    with path.open("a") as fh:
        fh.write(', "users": 5, "total_requests": 4, "total_failures": 1}\n')
        fh.write(line(event="final", t=103.5, users=0, total_requests=4, total_failures=1))
    batch = stream.poll()
    assert stream.phases.finished == 103.5 and stream.total_requests == 4
    assert len(batch.histograms) == 0


def test_arrival_rate_series(tmp_path: Path) -> None:
    path = tmp_path / "stats.jsonl"
    counters = {"iterations": 48, "dropped": 2, "finished": 47, "busy_seconds": 0.5}
    path.write_text(
        line(event="slice", start=10.0, t=11.0, endpoints=[], counters=counters)
        + line(event="slice", start=10.0, t=11.0, endpoints=[], counters=counters, source="w2")
        + line(event="tick", t=11.002, users=4, total_requests=0, total_failures=0, target_rate=50)
    )
    stream = LocustStream(path)
    values = {(s.key.name, s.point.timestamp, s.point.value) for s in stream.poll().scalars}
    assert {(STARTED, 11.0, 48.0), (DROPPED, 11.0, 2.0), (TARGET_RATE, 11.002, 50.0)} <= values
    assert stream.dropped_iterations == 4  # two workers' slices of the same second


def test_detail_iterations_cpu_and_target_rate() -> None:
    from collectors.model import MetricKind

    piece = {
        "event": "slice",
        "start": 9.0,
        "t": 10.0,
        "endpoints": [],
        "iterations": 7,
        "detail": [["/a", "GET", "200", True, 5, {"10": 5}], ["/a", "GET", "500", False, 1, {}]],
    }
    batch = slice_batch(piece)
    scalars = {(s.key, s.kind, s.point.value) for s in batch.scalars}
    ok = {"name": "/a", "method": "GET", "status": "200", "expected_response": "true"}
    bad = {**ok, "status": "500", "expected_response": "false"}
    assert (SeriesKey.of(ITERATIONS), MetricKind.COUNTER, 7.0) in scalars
    assert (SeriesKey.of(RESPONSES, ok), MetricKind.COUNTER, 5.0) in scalars
    assert (SeriesKey.of(RESPONSES, bad), MetricKind.COUNTER, 1.0) in scalars
    (h,) = batch.histograms
    assert h.key == SeriesKey.of(RESPONSE_DURATION, ok) and h.point.histogram.count == 5
    assert (h.point.start, h.point.end) == (9.0, 10.0)

    tick = {"event": "tick", "t": 10.0, "users": 3, "cpu": {"master": 12.5, "worker-x": 95.0}}
    scalars = {
        (s.key, s.kind, s.point.value) for s in status_batch({**tick, "target_rate": 20}).scalars
    }
    assert (SeriesKey.of(CPU, {"process": "worker-x"}), MetricKind.GAUGE, 95.0) in scalars
    assert (SeriesKey.of(TARGET_RATE), MetricKind.GAUGE, 20.0) in scalars
    assert (SeriesKey.of(USERS), MetricKind.GAUGE, 3.0) in scalars
    final = status_batch({"event": "final", "t": 11.0})
    assert not any(s.key.name == USERS for s in final.scalars)  # no 0 after Locust stopped


def test_the_k6_layer_and_the_validity_check_read_the_series_the_stream_writes() -> None:
    from budgets import k6, validity
    from loadtest import stream

    for name in ("DURATION", "REQUESTS", "FAILURES", "USERS", "ITERATIONS", "RESPONSES"):
        assert getattr(k6, name) == getattr(stream, name), name
    assert k6.RESPONSE_DURATION == stream.RESPONSE_DURATION
    assert (validity.CPU, validity.TARGET_RATE) == (stream.CPU, stream.TARGET_RATE)
    assert (validity.REQUESTS, validity.STARTED) == (stream.REQUESTS, stream.STARTED)


def test_locusts_failure_and_exception_tables_become_counters() -> None:
    from collectors.model import MetricKind
    from loadtest.stream import ERRORS, EXCEPTIONS, status_batch

    record = {
        "event": "tick",
        "t": 10.0,
        "endpoints": [],
        "errors": [["/a", "GET", "HTTPError('500 Server Error')", 3]],
        "exceptions": [["division by zero", 'File "u.py", line 9, in t · 1 / 0', 2]],
    }
    scalars = {(s.key, s.kind, s.point.value) for s in status_batch(record).scalars}
    error = {"name": "/a", "method": "GET", "error": "HTTPError('500 Server Error')"}
    assert (SeriesKey.of(ERRORS, error), MetricKind.COUNTER, 3.0) in scalars
    exc = {"message": "division by zero", "where": 'File "u.py", line 9, in t · 1 / 0'}
    assert (SeriesKey.of(EXCEPTIONS, exc), MetricKind.COUNTER, 2.0) in scalars
