"""Prometheus exposition: names and units pass promtool, queue depth read from Redis, and
/metrics served on 127.0.0.1."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runtime import JobSpec, Queue, QueueDepthCollector, RuntimeMetrics, connect, serve_metrics
from tests.helpers import need, run_worker_until
from tests.runtime.test_worker import Echo


@pytest.fixture
def exposition(redis_url: str) -> bytes:
    q = Queue(connect(redis_url).sync, "work")
    q.add_bulk(JobSpec("e", {"ms": 1}) for _ in range(10))
    metrics = RuntimeMetrics()

    async def drained() -> bool:
        c = q.counts()
        return c.wait == 0 and c.active == 0

    run_worker_until(Echo(redis_url=redis_url, metrics=metrics), drained)
    q.add_bulk(JobSpec("e", {}) for _ in range(3))  # three left waiting
    metrics.registry.register(QueueDepthCollector(q.client, ["work"]))
    return generate_latest(metrics.registry)


def test_promtool_finds_no_problem(exposition: bytes) -> None:
    promtool = need("promtool")  # Debian package prometheus
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def test_exposition_has_outcomes_histograms_and_depth(exposition: bytes) -> None:
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(exposition.decode())
        for s in fam.samples
    }
    assert samples[("castiel_jobs_total", (("outcome", "completed"), ("queue", "work")))] == 10
    assert samples[("castiel_job_wait_seconds_count", (("queue", "work"),))] == 10
    assert samples[("castiel_queue_jobs", (("queue", "work"), ("state", "wait")))] == 3
    assert samples[("castiel_queue_jobs", (("queue", "work"), ("state", "completed")))] == 10


def test_metrics_server_binds_loopback(redis_url: str) -> None:
    metrics = RuntimeMetrics()
    metrics.jobs.labels("q", "completed").inc()
    server, _, port = serve_metrics(metrics.registry)
    try:
        assert server.server_address[0] == "127.0.0.1"
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b'castiel_jobs_total{outcome="completed",queue="q"} 1.0' in body
    finally:
        server.shutdown()


def test_snapshot_leaves_out_redis_reading_collectors(redis_url: str) -> None:
    metrics = RuntimeMetrics()
    metrics.registry.register(QueueDepthCollector(connect(redis_url).sync, ["work"]))
    metrics.jobs.labels("work", "completed").inc(2)
    names = {name for name, _, _ in metrics.snapshot()}
    assert "castiel_jobs_total" in names and "castiel_queue_jobs" not in names
    assert not any(n.endswith("_created") for n in names)


def test_enqueued_counts_new_jobs_not_idempotent_repeats(redis_url: str) -> None:
    metrics = RuntimeMetrics()
    q = Queue(connect(redis_url).sync, "work", metrics=metrics)
    q.add("x", job_id="a")
    q.add("x", job_id="a")
    q.add_bulk([JobSpec("x", job_id="a"), JobSpec("x"), JobSpec("x")])
    assert metrics.registry.get_sample_value("castiel_jobs_enqueued_total", {"queue": "work"}) == 3
