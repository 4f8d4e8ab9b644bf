"""PrometheusScrapeCollector against real /metrics endpoints (and one that is down)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from castiel.redis_server import free_port
from collectors.model import HistogramSample, MetricKind
from collectors.prometheus_scrape import PrometheusScrapeCollector
from collectors.sources import (
    REDIS,
    SCRAPE,
    RedisSource,
    ScrapeSource,
    SourcesConfig,
    build_collectors,
)
from runtime import JobSpec, Queue, RuntimeMetrics, connect, serve_metrics
from runtime.heartbeat import read_heartbeats
from tests.examples.test_service import start_service
from tests.helpers import start_worker_process, wait_until


def test_counters_histograms_and_a_down_endpoint() -> None:
    metrics = RuntimeMetrics()
    server, _, port = serve_metrics(metrics.registry)
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    try:
        collector = PrometheusScrapeCollector([f"http://127.0.0.1:{port}/metrics", dead], timeout=1)
        first = collector.collect(time.time())
        up = {
            s.key.label("instance"): s.point.value
            for s in first.scalars
            if s.key.name == "castiel_scrape_up"
        }
        assert up == {f"127.0.0.1:{port}": 1.0, dead.split("/")[2]: 0.0}
        metrics.jobs.labels("q", "completed").inc(7)
        for v in (0.002, 0.004, 0.3):
            metrics.processing.labels("q").observe(v)
        second = collector.collect(time.time())
    finally:
        server.shutdown()
    incs = {
        (s.key.name, s.key.label("outcome")): s.point.value
        for s in second.scalars
        if s.kind is MetricKind.COUNTER
    }
    assert incs[("castiel_jobs_total", "completed")] == 7
    (h,) = [h for h in second.histograms if h.key.name == "castiel_job_processing_seconds"]
    assert h.point.histogram.count == 3 and h.key.label("instance") == f"127.0.0.1:{port}"
    assert abs(h.point.histogram.total - 0.306) < 1e-9


def test_the_example_service_is_scraped(redis_url: str, tmp_path: Path) -> None:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    try:
        collector = PrometheusScrapeCollector([base + "/metrics"])
        collector.collect(time.time())
        for _ in range(5):
            urllib.request.urlopen(base + "/shards/type-1", timeout=5).read()
        req = urllib.request.Request(
            base + "/orders",
            method="POST",
            data=json.dumps({"items": [{"sku": "a", "qty": 1}]}).encode(),
        )
        urllib.request.urlopen(req, timeout=5).read()
        batch = collector.collect(time.time())
    finally:
        proc.terminate()
        proc.wait(10)
    routes = {
        h.key.label("route"): h.point.histogram.count
        for h in batch.histograms
        if h.key.name == "castiel_http_request_duration_seconds"
    }
    assert routes["/shards/{shard_type}"] == 5 and routes["/orders"] == 1
    depth = {
        s.key.label("state"): s.point.value
        for s in batch.scalars
        if s.key.name == "castiel_queue_jobs" and s.key.label("queue") == "orders"
    }
    assert depth["waiting-children"] == 1


def test_worker_metrics_are_counted_once_with_redis_and_discovery(redis_url: str) -> None:
    """A worker's heartbeat carries its metrics and its /metrics serves them too: with both the
    runtime collector and discovery on, every job must still be counted once."""
    conn = connect(redis_url)
    collectors = build_collectors(
        SourcesConfig()
        .with_source(REDIS, RedisSource(redis_url))
        .with_source(SCRAPE, ScrapeSource(discover=True)),
        redis_client=conn.sync,
    )
    proc = start_worker_process(
        "tests.runtime.workers:RecordingWorker",
        redis_url,
        "--metrics-port",
        str(free_port()),
        env={"CASTIEL_HEARTBEAT_INTERVAL": "0.2"},
    )
    seen: list[HistogramSample] = []

    def collect() -> None:
        for c in collectors:
            seen.extend(
                h
                for h in c.collect(time.time()).histograms
                if h.key.name == "castiel_job_processing_seconds"
            )

    try:
        wait_until(lambda: any(b.metrics_url for b in read_heartbeats(conn.sync)[0]), 15)
        collect()  # the first scrape is the baseline of the interval tracker
        Queue(conn.sync, "work").add_bulk(JobSpec("j", {"ms": 1}) for _ in range(10))

        def all_counted() -> bool:
            collect()
            return sum(h.point.histogram.count for h in seen) >= 10

        wait_until(all_counted, 20, interval=0.3)
        collect()  # one more round: a double count would show up here at the latest
    finally:
        proc.kill()
        proc.wait()
    assert sum(h.point.histogram.count for h in seen) == 10
