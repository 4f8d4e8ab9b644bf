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
ITERATIONS = "locust_iterations_total"
RESPONSES = "locust_responses_total"
"""Per endpoint, status code and outcome (`expected_response`: Locust counted a success)."""
RESPONSE_DURATION = "locust_response_duration_seconds"
TARGET_RATE = "locust_target_rate"
"""The arrival rate an open-model run aims at (per second; label `of`: iterations or
requests), when the run reports one: budgets/validity.py checks the achieved rate."""
ERRORS = "locust_errors_total"
"""Locust's failures table: occurrences per endpoint and error message (label `error`)."""
EXCEPTIONS = "locust_exceptions_total"
"""Locust's exceptions table: exceptions raised in the users' code, per message (`message`,
str(exception) as Locust shows it) and innermost frame (`where`)."""
CPU = "locust_cpu_percent"
"""Per Locust process (`process`: local, master, worker-<id>): percent of one core."""


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
    """Pure: one reporter line → increments, interval histograms (seconds), the users gauge,
    per-status detail, iterations and the Locust processes' CPU."""
    batch = Batch()
    if "users" in record:
        batch.add_gauge(SeriesKey.of(USERS), end, float(record["users"]))
    for ep in record.get("endpoints", []):
        labels = {"name": ep["name"], "method": ep["method"]}
        batch.add_increment(SeriesKey.of(REQUESTS, labels), end, float(ep["requests"]))
        batch.add_increment(SeriesKey.of(FAILURES, labels), end, float(ep["failures"]))
        _histogram(batch, SeriesKey.of(DURATION, labels), start, end, ep["rt_ms"])
    if "iterations" in record:
        batch.add_increment(SeriesKey.of(ITERATIONS), end, float(record["iterations"]))
    for name, method, status, ok, count, rt in record.get("detail", []):
        labels = {
            "name": name,
            "method": method,
            "status": str(status),
            "expected_response": "true" if ok else "false",
        }
        batch.add_increment(SeriesKey.of(RESPONSES, labels), end, float(count))
        _histogram(batch, SeriesKey.of(RESPONSE_DURATION, labels), start, end, rt)
    if "target_rate" in record:
        of = str(record.get("target_rate_of", "iterations"))
        batch.add_gauge(SeriesKey.of(TARGET_RATE, {"of": of}), end, float(record["target_rate"]))
    for process, percent in (record.get("cpu") or {}).items():
        batch.add_gauge(SeriesKey.of(CPU, {"process": str(process)}), end, float(percent))
    for name, method, error, count in record.get("errors", []):
        labels = {"name": name, "method": method, "error": error}
        batch.add_increment(SeriesKey.of(ERRORS, labels), end, float(count))
    for message, where, count in record.get("exceptions", []):
        labels = {"message": message, "where": where}
        batch.add_increment(SeriesKey.of(EXCEPTIONS, labels), end, float(count))
    return batch


def _histogram(
    batch: Batch, key: SeriesKey, start: float, end: float, rt_ms: dict[str, int]
) -> None:
    """Locust's `{rounded ms: count}` as an interval histogram in seconds."""
    if rt_ms:
        builder = HistogramBuilder()
        builder.record_counts({float(k): int(v) for k, v in rt_ms.items()}, 0.001)
        batch.add_histogram(key, start, end, builder.build())
