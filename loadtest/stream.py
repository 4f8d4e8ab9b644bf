"""Reads the Locust process's stats lines (loadtest/reporter.py) and turns them into the
collectors' model: per-endpoint interval histograms, request and failure increments, per-status
detail and iterations (what k6-style thresholds read), the user count, the Locust processes'
CPU, the open-model series of an arrival-rate run, and the run's real phases (when spawning
completed)."""

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
"""The users' completed top-level tasks (k6's `iterations`)."""
RESPONSES = "locust_responses_total"
"""Per endpoint, status code and outcome (`expected_response`: Locust counted a success)."""
RESPONSE_DURATION = "locust_response_duration_seconds"
ERRORS = "locust_errors_total"
"""Locust's failures table: occurrences per endpoint and error message (label `error`)."""
EXCEPTIONS = "locust_exceptions_total"
"""Locust's exceptions table: exceptions raised in the users' code, per message (`message`,
str(exception) as Locust shows it) and innermost frame (`where`)."""
CPU = "locust_cpu_percent"
"""Per Locust process (`process`: local, master, worker-<id>): percent of one core."""
# Arrival-rate runs only (docs/loadtest.md): what the plan asked for, what started, and what
# the generator could not start (k6's dropped_iterations). budgets/validity.py compares the
# started iterations with the target rate.
TARGET_RATE = "castiel_loadgen_target_rate"
STARTED = "castiel_loadgen_iterations_total"
DROPPED = "castiel_loadgen_dropped_iterations_total"


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
    dropped_iterations: int = 0
    _offset: int = 0

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
        elif event == "slice":
            batch.extend(slice_batch(record))
            self.dropped_iterations += int(record.get("counters", {}).get("dropped", 0))
        elif event in ("tick", "final"):
            batch.extend(status_batch(record))
            self.total_requests = int(record["total_requests"])
            self.total_failures = int(record["total_failures"])
            if event == "final":
                self.phases.finished = t


def slice_batch(record: dict[str, Any]) -> Batch:
    """Pure: one slice → increments and an interval histogram (seconds) per endpoint and per
    status, completed iterations, and the open-model counters, at the end of the seconds it
    covers."""
    batch = Batch()
    start, end = float(record["start"]), float(record["t"])
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
    counters = record.get("counters")
    if counters is not None:
        batch.add_increment(SeriesKey.of(STARTED), end, float(counters.get("iterations", 0)))
        batch.add_increment(SeriesKey.of(DROPPED), end, float(counters.get("dropped", 0)))
    return batch


def status_batch(record: dict[str, Any]) -> Batch:
    """Pure: a tick (or the final line) → the users gauge (not in the final line: the load
    the run ran with, not the 0 after Locust stopped its users), the Locust processes' CPU,
    in an arrival-rate run the target rate, and the growth of Locust's failures and exceptions
    tables."""
    batch = Batch()
    t = float(record["t"])
    if "users" in record:
        batch.add_gauge(SeriesKey.of(USERS), t, float(record["users"]))
    if "target_rate" in record:
        batch.add_gauge(SeriesKey.of(TARGET_RATE), t, float(record["target_rate"]))
    for process, percent in (record.get("cpu") or {}).items():
        batch.add_gauge(SeriesKey.of(CPU, {"process": str(process)}), t, float(percent))
    for name, method, error, count in record.get("errors", []):
        labels = {"name": name, "method": method, "error": error}
        batch.add_increment(SeriesKey.of(ERRORS, labels), t, float(count))
    for message, where, count in record.get("exceptions", []):
        labels = {"message": message, "where": where}
        batch.add_increment(SeriesKey.of(EXCEPTIONS, labels), t, float(count))
    return batch


def _histogram(
    batch: Batch, key: SeriesKey, start: float, end: float, rt_ms: dict[str, int]
) -> None:
    """Locust's `{rounded ms: count}` as an interval histogram in seconds."""
    if rt_ms:
        builder = HistogramBuilder()
        builder.record_counts({float(k): int(v) for k, v in rt_ms.items()}, 0.001)
        batch.add_histogram(key, start, end, builder.build())
