"""Automatic pipelining of AsyncQueue.add (runtime/autopipeline.py), against real servers:
calls of one event-loop tick share one script call, and each caller still gets exactly its
own id or its own error, in call order, on a standalone server and on the Cluster."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest
import redis
import redis.cluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from castiel.redis_server import RedisServer
from runtime import AsyncQueue, JobState, PayloadError, Queue, connect
from runtime.keys import QueueKeys
from tests.helpers import wait_until


def _evalsha_calls(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _with_queue(url: str, name: str, body: Any, **opts: Any) -> Any:
    conn = connect(url)
    try:
        return await body(AsyncQueue(conn.aio, name, **opts))
    finally:
        await conn.aclose()


def test_adds_of_one_tick_share_one_script_call_in_call_order(redis_url: str) -> None:
    async def body(q: AsyncQueue) -> tuple[list[str], int]:
        await q.add("warm-up")  # the eviction check and script load happen once, first
        before = _evalsha_calls(redis_url)
        ids = await asyncio.gather(*(q.add("n", {"i": i}) for i in range(50)))
        return ids, _evalsha_calls(redis_url) - before

    ids, calls = asyncio.run(_with_queue(redis_url, "ap", body))
    assert calls == 1
    assert len(set(ids)) == 50
    q = Queue(connect(redis_url).sync, "ap")
    assert q.job_ids(JobState.WAIT, count=100)[1:] == ids  # FIFO in the order of the calls
    for i, job_id in enumerate(ids):
        job = q.get_job(job_id)
        assert job is not None and job.data == {"i": i}


def test_sequential_adds_each_get_their_own_round_trip(redis_url: str) -> None:
    async def body(q: AsyncQueue) -> list[str]:
        return [await q.add("n", {"i": i}) for i in range(20)]

    ids = asyncio.run(_with_queue(redis_url, "ap-seq", body))
    q = Queue(connect(redis_url).sync, "ap-seq")
    assert q.job_ids(JobState.WAIT) == ids
    assert [q.get_job(i).data for i in ids] == [{"i": i} for i in range(20)]  # type: ignore[union-attr]


def test_bad_input_fails_only_its_own_call(redis_url: str) -> None:
    async def body(q: AsyncQueue) -> list[Any]:
        return await asyncio.gather(
            q.add("ok", 1),
            q.add("bad", {"x": math.nan}),
            q.add("ok", 3, job_id="fixed"),
            q.add("ok", 4, job_id="fixed"),  # idempotent repeat inside the same batch
            return_exceptions=True,
        )

    first, bad, third, fourth = asyncio.run(_with_queue(redis_url, "ap-bad", body))
    assert isinstance(bad, PayloadError)
    assert isinstance(first, str) and third == fourth == "fixed"
    q = Queue(connect(redis_url).sync, "ap-bad")
    assert q.counts().wait == 2
    assert q.get_job("fixed").data == 3  # type: ignore[union-attr]


def test_a_caller_cancelled_before_its_batch_is_sent_adds_nothing(redis_url: str) -> None:
    async def body(q: AsyncQueue) -> tuple[str, bool]:
        await q.add("warm-up")
        kept = asyncio.create_task(q.add("kept"))
        dropped = asyncio.create_task(q.add("dropped"))
        await asyncio.sleep(0)  # both calls have joined the batch; it is not sent yet
        dropped.cancel()
        job_id = await kept
        with pytest.raises(asyncio.CancelledError):
            await dropped
        return job_id, dropped.cancelled()

    kept_id, cancelled = asyncio.run(_with_queue(redis_url, "ap-cancel", body))
    assert cancelled
    q = Queue(connect(redis_url).sync, "ap-cancel")
    names = [q.get_job(i).name for i in q.job_ids(JobState.WAIT)]  # type: ignore[union-attr]
    assert names == ["warm-up", "kept"]
    assert q.job_ids(JobState.WAIT)[1] == kept_id


def test_non_ascii_and_big_integers_round_trip(redis_url: str) -> None:
    data = {"name": "Zoë ✓ 日本語 🚀", "big": 2**70, "neg": -(2**63) - 1, "f": 0.1, "z": None}

    async def body(q: AsyncQueue) -> Any:
        job_id = await q.add("codec", data)
        job = await q.get_job(job_id)
        assert job is not None
        return job.data

    assert asyncio.run(_with_queue(redis_url, "ap-codec", body)) == data


def test_autopipeline_off_sends_each_call_alone(redis_url: str) -> None:
    async def body(q: AsyncQueue) -> int:
        await q.add("warm-up")
        before = _evalsha_calls(redis_url)
        await asyncio.gather(*(q.add("n", {"i": i}) for i in range(10)))
        return _evalsha_calls(redis_url) - before

    assert asyncio.run(_with_queue(redis_url, "ap-off", body, autopipeline=False)) == 10


def test_a_server_dying_mid_batch_fails_every_caller_of_it_and_loses_no_acknowledged_add(
    fresh_redis: RedisServer,
) -> None:
    """20,000 adds in one tick = 40 script calls in one pipeline; the server is killed -9 as
    soon as the first of them is applied. Every caller gets its id or a connection error,
    none hangs, and every id a caller received is stored (AOF, fsync always)."""
    url = fresh_redis.url
    name = "ap-kill"
    jobs_key = QueueKeys(name).jobs
    killer_done = threading.Event()

    def kill_when_first_chunk_lands() -> None:
        probe = redis.Redis.from_url(url, socket_timeout=2)
        try:
            wait_until(lambda: probe.hlen(jobs_key) > 1, timeout=60, interval=0.001)
        finally:
            fresh_redis.kill()
            killer_done.set()

    async def body(q: AsyncQueue) -> list[Any]:
        await q.add("warm-up")
        threading.Thread(target=kill_when_first_chunk_lands, daemon=True).start()
        calls = [q.add("n", {"i": i}) for i in range(20_000)]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)

    conn = connect(url, retries=0, socket_timeout=5, connect_timeout=2)

    async def run() -> list[Any]:
        try:
            return await body(AsyncQueue(conn.aio, name))
        finally:
            await conn.aclose()

    outcomes = asyncio.run(run())
    assert killer_done.wait(30)
    ids = [o for o in outcomes if isinstance(o, str)]
    errors = [o for o in outcomes if not isinstance(o, str)]
    assert all(isinstance(e, RedisConnectionError | OSError) for e in errors), errors[:3]
    assert errors, "the server died after the whole batch was applied: no mid-batch failure"
    fresh_redis.start()
    stored = redis.Redis.from_url(url)
    wait_until(stored.ping, timeout=30)
    missing = [i for i in ids if not stored.hexists(jobs_key, i)]
    assert missing == []


@pytest.mark.cluster
def test_queues_in_different_slots_are_never_merged_into_one_call(cluster_url: str) -> None:
    names = ("ap-a", "ap-b", "ap-c")
    key_slots = {redis.cluster.key_slot(QueueKeys(n).wait.encode()) for n in names}
    assert len(key_slots) == 3  # three different slots, so a merged call would be cross-slot

    async def body() -> dict[str, list[str]]:
        conn = connect(cluster_url)
        try:
            queues = [AsyncQueue(conn.aio, n) for n in names]
            calls = [q.add("n", {"q": q.name, "i": i}) for i in range(30) for q in queues]
            ids = await asyncio.gather(*calls)
            out: dict[str, list[str]] = {n: [] for n in names}
            for k, job_id in enumerate(ids):
                out[names[k % 3]].append(job_id)
            return out
        finally:
            await conn.aclose()

    try:
        by_queue = asyncio.run(body())
    except RedisError as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"a batch crossed slots: {exc}")
    sync = connect(cluster_url).sync
    for name, ids in by_queue.items():
        q = Queue(sync, name)
        assert q.job_ids(JobState.WAIT) == ids
        assert [q.get_job(i).data for i in ids] == [{"q": name, "i": i} for i in range(30)]  # type: ignore[union-attr]
