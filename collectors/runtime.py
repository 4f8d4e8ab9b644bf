"""RuntimeCollector: the runtime's metrics from Redis alone, no Prometheus server needed.

Per queue: jobs by state (gauges), jobs completed and failed (increments from the queues'
per-minute counters, every worker together). Workers: healthy and unhealthy counts from
heartbeats (a registered worker whose heartbeat expired is unhealthy). And every in-process
metric the heartbeats carry (job wait and processing histograms, outcomes, cache hits and
misses, HTTP metrics of services that publish heartbeats), summed over the workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.base import CollectorError
from collectors.exposition import IntervalTracker, Sample
from collectors.model import Batch, SeriesKey
from runtime.heartbeat import kind_of_id, read_heartbeats
from runtime.job import JobState
from runtime.keys import QueueKeys, queues_key
from runtime.redis_outage import REDIS_FAILED


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


@dataclass
class RuntimeCollector:
    """`RuntimeCollector(conn.sync)`; `queues=None` discovers every queue ever used."""

    client: Any
    queues: list[str] | None = None
    name: str = "runtime"
    _tracker: IntervalTracker = field(default_factory=IntervalTracker)
    _minutes: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    _last: float | None = None

    def collect(self, now: float) -> Batch:
        try:
            return self._collect(now)
        except REDIS_FAILED as exc:
            raise CollectorError(f"Redis: {exc}") from exc

    def _collect(self, now: float) -> Batch:
        batch = Batch()
        queues = self.queues
        if queues is None:
            queues = sorted(_s(q) for q in self.client.smembers(queues_key()))
        states = list(JobState)
        with self.client.pipeline(transaction=False) as pipe:
            for q in queues:
                keys = QueueKeys(q)
                for state in states:
                    pipe.zcard(getattr(keys, state.value.replace("-", "_")))
                pipe.hgetall(keys.completed_per_minute)
                pipe.hgetall(keys.failed_per_minute)
            replies = pipe.execute()
        per_queue = len(states) + 2
        for i, q in enumerate(queues):
            chunk = replies[i * per_queue : (i + 1) * per_queue]
            for state, count in zip(states, chunk, strict=False):
                batch.add_gauge(
                    SeriesKey.of("castiel_queue_jobs", {"queue": q, "state": state.value}),
                    now,
                    count,
                )
            for outcome, minutes in (("completed", chunk[-2]), ("failed", chunk[-1])):
                inc = self._minute_increment(q, outcome, minutes)
                if inc is not None:
                    batch.add_increment(
                        SeriesKey.of(f"castiel_queue_{outcome}_total", {"queue": q}), now, inc
                    )
        beats, missing = read_heartbeats(self.client)
        for kind, series in (("worker", "castiel_workers"), ("scheduler", "castiel_schedulers")):
            healthy = sum(1 for b in beats if b.kind == kind)
            unhealthy = sum(1 for i in missing if kind_of_id(i) == kind)
            batch.add_gauge(SeriesKey.of(series, {"state": "healthy"}), now, healthy)
            batch.add_gauge(SeriesKey.of(series, {"state": "unhealthy"}), now, unhealthy)
        for b in beats:
            for q in b.queues:
                batch.add_gauge(
                    SeriesKey.of("castiel_worker_in_flight", {"queue": q, "worker": b.id}),
                    now,
                    b.in_flight,
                )
        snapshots: dict[str, list[Sample]] = {
            b.id: [(n, labels, float(v)) for n, labels, v in b.metrics] for b in beats
        }
        start = self._last if self._last is not None else now - 1.0
        batch.extend(self._tracker.batch(snapshots, start, now))
        self._last = now
        return batch

    def _minute_increment(self, queue: str, outcome: str, raw: dict[Any, Any]) -> float | None:
        """Jobs counted since the last call: the growth of each per-minute field (a field
        that disappears was trimmed after 24 h and counts nothing)."""
        minutes = {_s(k): int(v) for k, v in raw.items()}
        prev = self._minutes.get((queue, outcome))
        self._minutes[(queue, outcome)] = minutes
        if prev is None:
            return None
        return float(sum(max(0, v - prev.get(k, 0)) for k, v in minutes.items()))
