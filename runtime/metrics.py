"""Prometheus metrics of the runtime, on an injectable registry (never the global one)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.job import JobState
from runtime.keys import QueueKeys

# Seconds. No-op jobs take well under a millisecond; batch jobs take minutes.
DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


@dataclass
class RuntimeMetrics:
    """Every metric a runtime process records. One instance per process, passed to the parts."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.jobs = Counter(
            "castiel_jobs",
            "Jobs finished by this process, by outcome (completed, failed, retried, lease_lost).",
            ["queue", "outcome"],
            registry=r,
        )
        self.enqueued = Counter(
            "castiel_jobs_enqueued", "Jobs enqueued by this process.", ["queue"], registry=r
        )
        self.processing = Histogram(
            "castiel_job_processing_seconds",
            "Processing time per job, measured on the Redis clock.",
            ["queue"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.waiting = Histogram(
            "castiel_job_wait_seconds",
            "Time a job waited between becoming ready and being fetched.",
            ["queue"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "castiel_jobs_in_flight", "Jobs this process is processing now.", ["queue"], registry=r
        )
        self.retries = Counter(
            "castiel_job_retries", "Failed attempts scheduled for a retry.", ["queue"], registry=r
        )
        self.stalls = Counter(
            "castiel_job_stalls",
            "Jobs whose lease expired, recovered by this process's sweep.",
            ["queue", "outcome"],
            registry=r,
        )
        self.rate_limited = Counter(
            "castiel_rate_limited",
            "Fetches that found the queue's global rate limit spent (jobs kept waiting).",
            ["queue"],
            registry=r,
        )
        self.group_limited = Counter(
            "castiel_group_rate_limited",
            "Jobs put back because their group was over its rate limit.",
            ["queue"],
            registry=r,
        )
        self.flow_events = Counter(
            "castiel_flow_events",
            "Flow child outcomes delivered to parents, by result (waiting, ready, failed, "
            "dup, missing, gone).",
            ["queue", "outcome"],
            registry=r,
        )
        self.schedule_fires = Counter(
            "castiel_schedule_fires",
            "Jobs created by schedules (each tick once, however many schedulers run).",
            ["queue", "schedule"],
            registry=r,
        )
        self.schedule_missed = Counter(
            "castiel_schedule_missed",
            "Ticks dropped by a schedule's missed-tick policy after downtime.",
            ["queue", "schedule"],
            registry=r,
        )
        # Not in the heartbeat snapshot: collectors sum gauges over processes, and a sum of
        # timestamps means nothing. Prometheus scrapes it per process.
        self.schedule_next_fire = Gauge(
            "castiel_schedule_next_fire_timestamp_seconds",
            "When the schedule fires next (epoch seconds), as this scheduler computed it.",
            ["queue", "schedule"],
            registry=r,
        )
        self.redis_errors = Counter(
            "castiel_redis_errors",
            "Redis calls that failed (connection or timeout).",
            ["component"],
            registry=r,
        )
        self._own: list[Collector] = [
            self.jobs,
            self.enqueued,
            self.processing,
            self.waiting,
            self.in_flight,
            self.retries,
            self.stalls,
            self.rate_limited,
            self.group_limited,
            self.flow_events,
            self.schedule_fires,
            self.schedule_missed,
            self.redis_errors,
        ]

    def own(self, collector: Collector) -> None:
        """Include another in-process collector (e.g. cache metrics) in `snapshot()`."""
        self._own.append(collector)

    def snapshot(self) -> list[list[Any]]:
        """Samples of in-process metrics as [name, labels, value] for heartbeats. Collectors
        that read Redis (queue depth) are left out: they are the same for every process."""
        out: list[list[Any]] = []
        for collector in self._own:
            for family in collector.collect():
                for s in family.samples:
                    if not s.name.endswith("_created"):
                        out.append([s.name, s.labels, s.value])
        return out


class QueueDepthCollector(Collector):
    """`castiel_queue_jobs{queue,state}` read from Redis at scrape time (sync client)."""

    def __init__(self, client: Any, queues: Iterable[str]) -> None:
        self.client = client
        self.queues = list(queues)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "castiel_queue_jobs", "Jobs in each queue by state.", labels=["queue", "state"]
        )
        states = list(JobState)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for q in self.queues:
                    keys = QueueKeys(q)
                    for state in states:
                        pipe.zcard(getattr(keys, state.value.replace("-", "_")))
                counts = pipe.execute()
        except Exception:  # a scrape must not fail because Redis is briefly away
            counts = None
        if counts is not None:
            for i, q in enumerate(self.queues):
                for j, state in enumerate(states):
                    family.add_metric([q, state.value], counts[i * len(states) + j])
        yield family


def serve_metrics(
    registry: CollectorRegistry, port: int = 0, addr: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread, int]:
    """Serve /metrics on a background thread (127.0.0.1 unless told otherwise).
    Returns (server, thread, bound port) so port 0 can pick a free one."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return server, thread, int(server.server_address[1])
