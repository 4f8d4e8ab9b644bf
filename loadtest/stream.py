"""Reads the Locust process's per-second stats lines (loadtest/reporter.py) and turns them
into the collectors' model: per-endpoint interval histograms, request and failure increments,
the user count, and the run's real phases (when spawning completed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.model import Batch, HistogramBuilder, SeriesKey

DURATION = "locust_request_duration_seconds"
REQUESTS = "locust_requests_total"
FAILURES = "locust_failures_total"
USERS = "locust_users"


@dataclass
class Phases:
    """Wall-clock times of the run's phases, as Locust reported them."""

    started: float | None = None
    spawning_complete: float | None = None
    finished: float | None = None


@dataclass
class LocustStream:
    """Tails a stats file: `poll()` returns the Batch of lines written since the last call."""

    path: Path
    phases: Phases = field(default_factory=Phases)
    total_requests: int = 0
    total_failures: int = 0
    _offset: int = 0
    _last_t: float | None = None

    def poll(self) -> Batch:
        batch = Batch()
        if not self.path.exists():
            return batch
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written stays for next time
        self._offset += len(complete)
        for line in complete.splitlines():
            if line.strip():
                self.apply(json.loads(line), batch)
        return batch

    def apply(self, record: dict[str, Any], batch: Batch) -> None:
        event, t = record.get("event"), float(record["t"])
        if event == "test_start":
            self.phases.started = t
        elif event == "spawning_complete" and self.phases.spawning_complete is None:
            self.phases.spawning_complete = t
        elif event in ("tick", "final"):
            start = self._last_t if self._last_t is not None else t - 1.0
            batch.extend(interval_batch(record, start, t))
            self._last_t = t
            self.total_requests = int(record["total_requests"])
            self.total_failures = int(record["total_failures"])
            if event == "final":
                self.phases.finished = t


def interval_batch(record: dict[str, Any], start: float, end: float) -> Batch:
    """Pure: one reporter line → increments, interval histograms (seconds) and the users gauge."""
    batch = Batch()
    batch.add_gauge(SeriesKey.of(USERS), end, float(record.get("users", 0)))
    for ep in record.get("endpoints", []):
        labels = {"name": ep["name"], "method": ep["method"]}
        batch.add_increment(SeriesKey.of(REQUESTS, labels), end, float(ep["requests"]))
        batch.add_increment(SeriesKey.of(FAILURES, labels), end, float(ep["failures"]))
        if ep["rt_ms"]:
            builder = HistogramBuilder()
            builder.record_counts({float(k): int(v) for k, v in ep["rt_ms"].items()}, 0.001)
            batch.add_histogram(SeriesKey.of(DURATION, labels), start, end, builder.build())
    return batch
