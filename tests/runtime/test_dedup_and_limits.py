"""Deduplication/debounce and global and per-group rate limits, on a real redis-server."""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from typing import Any

import pytest
import redis

from runtime import BaseWorker, Job, JobSpec, JobState, Queue, RuntimeMetrics, connect
from runtime.connection import RedisConnection
from tests.helpers import run_worker_until, start_worker_process, wait_until
from tests.runtime.test_queue import fetch, settle


def test_dedup_drops_while_the_first_is_waiting(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    first = q.add("sync", {"v": 1}, dedup_key="user-7")
    assert q.add("sync", {"v": 2}, dedup_key="user-7") == first
    assert q.counts().wait == 1
    job = q.get_job(first)
    assert job is not None and job.data == {"v": 1}
    # Once the job started, the key is free again: a new add is a new job.
    fetch(conn, "q", 1)
    second = q.add("sync", {"v": 3}, dedup_key="user-7")
    assert second != first and q.counts().wait == 1


def test_dedup_replace_updates_the_waiting_job(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    first = q.add("sync", {"v": 1}, dedup_key="k", dedup_mode="replace")
    assert q.add("sync", {"v": 2}, dedup_key="k", dedup_mode="replace") == first
    job = q.get_job(first)
    assert job is not None and job.data == {"v": 2} and q.counts().wait == 1


def test_debounce_restarts_the_delay_on_every_add(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    first = q.add("save", {"n": 1}, dedup_key="doc-1", dedup_mode="replace", delay=0.4)
    for n in range(2, 5):
        time.sleep(0.15)  # adds spaced less than the delay apart: the debounce under test
        assert q.add("save", {"n": n}, dedup_key="doc-1", dedup_mode="replace", delay=0.4) == first
    last_add = time.monotonic()
    jobs: list[Any] = []
    while not jobs:
        jobs, _, _ = fetch(conn, "q", 5)
        if not jobs:
            assert time.monotonic() - last_add < 3
            time.sleep(0.02)
    assert time.monotonic() - last_add >= 0.35, "ran before the last add's delay elapsed"
    assert [f.job.data for f in jobs] == [{"n": 4}]


def test_dedup_window_throttles_even_after_the_job_ran(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    first = q.add("report", dedup_key="daily", dedup_window=2)
    assert len(fetch(conn, "q", 1, token="t")[0]) == 1
    settle(conn, "q", completed=[(first, "t", "null")])
    assert q.add("report", dedup_key="daily", dedup_window=2) == first  # still in window
    time.sleep(2.05)  # the window closing is the condition under test
    assert q.add("report", dedup_key="daily", dedup_window=2) != first


def test_global_rate_limit_caps_each_fetch(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.set_rate_limit(5, 30.0)  # a window no loaded machine outlasts between two fetches
    q.add_bulk(JobSpec("x") for _ in range(12))
    jobs, _, _ = fetch(conn, "q", 10, token="a")
    assert len(jobs) == 5
    from tests.runtime.test_queue import aq_call

    res = aq_call(conn, "q", "settle_and_fetch", [], [], 10, "b", 1000, "w2")
    assert res.jobs == [] and 0 < res.rate_limited_ms <= 30_001
    q.clear_rate_limits()
    jobs, _, _ = fetch(conn, "q", 10, token="c")
    assert len(jobs) == 7


def test_group_limit_holds_jobs_of_a_busy_group(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.set_group_rate_limit(2, 1.0)
    q.add_bulk(
        [JobSpec("x", i, group="tenant-a") for i in range(5)]
        + [JobSpec("x", i, group="tenant-b") for i in range(2)]
    )
    jobs, _, _ = fetch(conn, "q", 10)
    groups = sorted(f.job.data for f in jobs)
    assert len(jobs) == 4 and groups == [0, 0, 1, 1]
    assert q.counts().delayed == 3  # tenant-a's extra jobs wait for their group's window


class Stamp(BaseWorker):
    """Records the Redis-clock start time of each job (all workers share that clock)."""

    queue = "limited"

    async def on_startup(self) -> None:
        import os

        self.r = redis.asyncio.Redis.from_url(os.environ["CASTIEL_REDIS_URL"])

    async def process(self, job: Job) -> Any:
        sec, usec = await self.r.time()
        await self.r.rpush("castiel-test:starts", f"{sec}.{usec:06d}")
        await asyncio.sleep(0.005)
        return None


@pytest.mark.slow
def test_four_workers_share_a_50_per_second_limit(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "limited")
    q.set_rate_limit(50, 1.0)
    q.add_bulk(JobSpec("x") for _ in range(700))
    r = redis.Redis.from_url(redis_url)
    procs = [
        start_worker_process(
            "tests.runtime.test_dedup_and_limits:Stamp", redis_url, "--concurrency", "10"
        )
        for _ in range(4)
    ]
    try:
        wait_until(
            lambda: r.llen("castiel-test:starts") >= 560,
            30,
            interval=0.2,
            message="11 s of rate-limited work",
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    # The limiter governs when jobs start (are leased), stamped on the Redis clock by the
    # settle script; the process() stamps lag those by event-loop scheduling.
    jobs = [json.loads(v) for v in r.hvals(q.keys.jobs)]
    leased = sorted(m["started"] / 1000 for m in jobs if "started" in m)
    worst = max(bisect.bisect_left(leased, t + 1.0) - i for i, t in enumerate(leased))
    assert worst <= 50, f"{worst} jobs were leased within one second"
    starts = sorted(float(x) for x in r.lrange("castiel-test:starts", 0, -1))
    # ...and the limit is used: at least 90% of it over 10 s of steady state.
    t0 = leased[0] + 0.5
    used = sum(1 for t in leased if t0 <= t < t0 + 10)
    assert len(starts) >= used
    assert used >= 450, f"only {used} jobs in 10 s under a 50/s limit"


def test_rate_limit_is_counted_in_metrics(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "limited")
    q.set_rate_limit(3, 0.5)
    q.add_bulk(JobSpec("x") for _ in range(9))
    metrics = RuntimeMetrics()

    class Quick(BaseWorker):
        queue = "limited"

        async def process(self, job: Job) -> Any:
            return None

    async def done() -> bool:
        return q.counts().completed == 9

    t0 = time.monotonic()
    run_worker_until(Quick(redis_url=redis_url, metrics=metrics), done)
    assert time.monotonic() - t0 >= 0.9  # 9 jobs at 3 per 0.5 s take at least 1 s
    hits = metrics.registry.get_sample_value("castiel_rate_limited_total", {"queue": "limited"})
    assert hits is not None and hits >= 2
    assert q.counts().as_dict()[JobState.COMPLETED] == 9


def test_jobs_held_by_their_group_limit_keep_their_order(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "limited")
    q.set_group_rate_limit(4, 0.3)
    q.add_bulk(JobSpec("x", {"i": i}, group="tenant") for i in range(12))
    started: list[int] = []

    class Ordered(BaseWorker):
        queue = "limited"

        async def process(self, job: Job) -> Any:
            started.append(job.data["i"])

    async def done() -> bool:
        return q.counts().completed == 12

    run_worker_until(Ordered(redis_url=conn.settings.url, concurrency=10), done, timeout=30)
    assert started == list(range(12))
