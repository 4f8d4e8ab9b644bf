"""`castiel queue metrics QUEUE --port P`: the autoscaling signal (desired workers) and the
queue depth for KEDA or an HPA, served by a small exporter of its own, scraped for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from castiel.redis_server import free_port
from runtime import JobSpec, Queue, connect
from tests.helpers import ROOT, start_worker_process, wait_until
from tests.runtime.test_worker_faults import _stop


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def command(url: str, port: int, *args: str) -> list[str]:
    metrics = ["queue", "metrics", "work", "--redis", url, "--port", str(port)]
    return [sys.executable, "-m", "castiel", *metrics, *args]


def exporter(url: str, port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(url, port, *args),
        cwd=ROOT,
        env={**os.environ, "CASTIEL_HEARTBEAT_INTERVAL": "0.5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


def test_the_exporter_serves_desired_workers_and_depth(redis_url: str, port: int) -> None:
    q = Queue(connect(redis_url).sync, "work")
    q.add_bulk(JobSpec("j", {"ms": 20}) for _ in range(600))
    proc = exporter(
        redis_url,
        port,
        "--autoscale",
        "0:8",
        "--target-drain",
        "5",
        "--scale-down-window",
        "0",
        "--interval",
        "0.3",
    )
    worker = None
    try:
        # No worker yet, nothing measured: one more worker than the 0 running (cold start).
        first = wait_until(
            lambda: _try_scrape(port, "castiel_queue_desired_workers", queue="work"),
            30,
            message="the exporter to serve a decision",
        )
        samples = scrape(port)
        assert value(samples, "castiel_queue_jobs", queue="work", state="wait") == 600
        assert value(samples, "castiel_queue_backlog_jobs", queue="work") == 600
        assert first == 1
        # A worker runs and its throughput is measured from its heartbeats.
        worker = start_worker_process(
            "tests.runtime.workers:RecordingWorker", redis_url, "--concurrency", "2"
        )
        wait_until(
            lambda: (
                (_try_scrape(port, "castiel_queue_throughput_per_worker", queue="work") or 0) > 0
            ),
            60,
            message="a measured throughput",
        )
        samples = scrape(port)
        backlog = value(samples, "castiel_queue_backlog_jobs", queue="work")
        rate = value(samples, "castiel_queue_throughput_per_worker", queue="work")
        desired = value(samples, "castiel_queue_desired_workers", queue="work")
        assert backlog is not None and rate is not None and desired is not None
        assert 1 <= desired <= 8
        # Drained, the signal falls to the minimum (no scale-down window in this test).
        wait_until(lambda: q.counts().wait + q.counts().active == 0, 90, message="drained")
        wait_until(
            lambda: _try_scrape(port, "castiel_queue_desired_workers", queue="work") == 0,
            30,
            message="desired workers 0",
        )
    finally:
        if worker is not None:
            _stop(worker)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


def _try_scrape(port: int, name: str, **labels: str) -> float | None:
    try:
        return value(scrape(port), name, **labels)
    except OSError:
        return None


def test_a_taken_port_is_bad_input(redis_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        result = subprocess.run(
            command(redis_url, taken),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert str(taken) in result.stderr and "Traceback" not in result.stderr


def test_unreachable_redis_exits_3() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        command(dead, free_port()),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
