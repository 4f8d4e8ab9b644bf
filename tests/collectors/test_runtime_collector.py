"""RuntimeCollector against a real redis-server with real workers publishing heartbeats."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict

from collectors.model import MetricKind
from collectors.runtime import RuntimeCollector
from runtime import JobSpec, Queue, connect
from runtime.heartbeat import SCHEDULER_ID_PREFIX, Heartbeat, publish
from tests.helpers import await_until, start_worker_process, wait_until
from tests.runtime.test_worker import Echo


def test_queue_counts_throughput_workers_and_histograms(redis_url: str) -> None:
    conn = connect(redis_url)
    q = Queue(conn.sync, "work")
    q.add_bulk(JobSpec("e", {"ms": 5}) for _ in range(30))
    q.add("e", {"ms": 0}, delay=60)
    collector = RuntimeCollector(conn.sync)
    first = collector.collect(time.time())
    gauges = {
        (s.key.name, s.key.label("state")): s.point.value
        for s in first.scalars
        if s.kind is MetricKind.GAUGE
    }
    assert gauges[("castiel_queue_jobs", "wait")] == 30
    assert gauges[("castiel_queue_jobs", "delayed")] == 1
    assert gauges[("castiel_workers", "healthy")] == 0
    worker = Echo(redis_url=redis_url, concurrency=5, heartbeat_interval=0.2)
    batches = []

    async def run() -> None:
        task = asyncio.create_task(worker.main())
        try:

            async def processed() -> bool:
                return worker.processed == 30

            await await_until(processed, 20)
            await asyncio.sleep(0.5)  # let one more heartbeat carry the final metrics
            batches.append(collector.collect(time.time()))
        finally:
            worker.request_stop()
            await task

    asyncio.run(run())
    b = batches[0]
    incs = {s.key.name: s.point.value for s in b.scalars if s.kind is MetricKind.COUNTER}
    assert incs["castiel_queue_completed_total"] == 30
    healthy = [
        s.point.value
        for s in b.scalars
        if s.key.name == "castiel_workers" and s.key.label("state") == "healthy"
    ]
    assert healthy == [1]


def test_heartbeat_histograms_become_interval_histograms(redis_url: str) -> None:
    conn = connect(redis_url)
    q = Queue(conn.sync, "work")
    collector = RuntimeCollector(conn.sync)
    proc = start_worker_process(
        "tests.runtime.workers:RecordingWorker",
        redis_url,
        env={"CASTIEL_HEARTBEAT_INTERVAL": "0.2"},
    )
    try:
        wait_until(
            lambda: any(
                s.key.name == "castiel_workers"
                and s.point.value == 1
                and s.key.label("state") == "healthy"
                for s in collector.collect(time.time()).scalars
            ),
            15,
        )
        q.add_bulk(JobSpec("j", {"ms": 20}) for _ in range(10))
        seen = []

        def histograms() -> bool:
            seen.extend(
                h
                for h in collector.collect(time.time()).histograms
                if h.key.name == "castiel_job_processing_seconds"
            )
            return sum(h.point.histogram.count for h in seen) >= 10

        wait_until(histograms, 20, interval=0.3)
    finally:
        proc.kill()
        proc.wait()
    total = sum(h.point.histogram.count for h in seen)
    p50 = seen[0].point.histogram.percentile(50)
    # 20 ms jobs: the median is their duration (plus the event loop's lag on a loaded
    # machine), in seconds, not milliseconds.
    assert total == 10 and p50 is not None and 0.01 <= p50 <= 0.5
    # The killed worker's heartbeat expires: it becomes unhealthy, not silently gone.
    wait_until(
        lambda: any(
            s.key.name == "castiel_workers"
            and s.key.label("state") == "unhealthy"
            and s.point.value == 1
            for s in collector.collect(time.time()).scalars
        ),
        10,
    )


def test_schedulers_are_counted_apart_from_workers(redis_url: str) -> None:
    conn = connect(redis_url)
    now = time.time()

    def beat(process_id: str, kind: str) -> Heartbeat:
        return Heartbeat(process_id, "h", 1, [], 0, now, now, kind=kind)

    async def publish_all() -> None:
        await publish(conn.aio, beat("w-1", "worker"), ttl=30)
        await publish(conn.aio, beat(f"{SCHEDULER_ID_PREFIX}h:1:a", "scheduler"), ttl=30)
        # A scheduler whose heartbeat expired: only its id is left in the registry.
        await publish(conn.aio, beat(f"{SCHEDULER_ID_PREFIX}h:2:b", "scheduler"), ttl=0.05)
        await conn.aio.aclose()

    asyncio.run(publish_all())
    collector = RuntimeCollector(conn.sync)

    def gauges() -> dict[tuple[str, str | None], float]:
        return {
            (s.key.name, s.key.label("state")): s.point.value
            for s in collector.collect(time.time()).scalars
            if s.key.name in ("castiel_workers", "castiel_schedulers")
        }

    wait_until(lambda: gauges()[("castiel_schedulers", "unhealthy")] == 1, 5)
    assert gauges() == {
        ("castiel_workers", "healthy"): 1,
        ("castiel_workers", "unhealthy"): 0,
        ("castiel_schedulers", "healthy"): 1,
        ("castiel_schedulers", "unhealthy"): 1,
    }


def test_heartbeat_ignores_fields_it_does_not_know() -> None:
    raw = json.dumps({**asdict(Heartbeat("w", "h", 1, ["q"], 2, 1.0, 2.0)), "future": 1})
    assert Heartbeat.from_json(raw).kind == "worker"
