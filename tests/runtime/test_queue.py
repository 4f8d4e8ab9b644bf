"""The queue suite: runs against a standalone redis-server and the 3-master Redis Cluster."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
import redis

from runtime import (
    AsyncQueue,
    EvictionPolicyError,
    JobSpec,
    JobState,
    PayloadError,
    Queue,
    QueueOptions,
    connect,
    correlation_scope,
)
from runtime.connection import RedisConnection, async_client
from runtime.errors import ConfigError
from runtime.queue import Fetched


def aq_call(conn: RedisConnection, name: str, method: str, *args: Any, **opts: Any) -> Any:
    """Call an AsyncQueue method on a fresh async client (the worker's own call path)."""

    async def go() -> Any:
        client = async_client(conn.settings)
        try:
            return await getattr(AsyncQueue(client, name, **opts), method)(*args)
        finally:
            await client.aclose()

    return asyncio.run(go())


def fetch(
    conn: RedisConnection, name: str, n: int, lease_ms: int = 30_000, token: str = "t1"
) -> tuple[list[Fetched], int, bool]:
    res = aq_call(conn, name, "settle_and_fetch", [], [], n, token, lease_ms, "w1")
    return res.jobs, res.next_delayed_ms, res.paused


def settle(
    conn: RedisConnection,
    name: str,
    completed: list[tuple[str, str, str]] | None = None,
    failed: list[tuple[str, str, str, int]] | None = None,
    **opts: Any,
) -> tuple[list[int], list[tuple[str, int]]]:
    res = aq_call(
        conn, name, "settle_and_fetch", completed or [], failed or [], 0, "x", 1000, "w1", **opts
    )
    return res.completed_ms, res.failed


def sweep(conn: RedisConnection, name: str, max_stalls: int) -> tuple[int, int]:
    requeued, failed, _ = aq_call(conn, name, "sweep_stalled", max_stalls)
    return requeued, failed


def test_add_then_get_job(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    with correlation_scope("corr-1"):
        job_id = q.add("send", {"to": "a@example.com", "n": [1, 2.5]}, attempts=3, priority=7)
    job = q.get_job(job_id)
    assert job is not None
    assert (job.name, job.data, job.state) == (
        "send",
        {"to": "a@example.com", "n": [1, 2.5]},
        JobState.WAIT,
    )
    assert (job.max_attempts, job.priority, job.attempts_made) == (3, 7, 0)
    assert job.correlation_id == "corr-1"
    assert job.added_at is not None and abs(job.added_at.timestamp() - time.time()) < 5
    assert q.counts().wait == 1


def test_add_is_idempotent_by_job_id(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    assert q.add("a", {"v": 1}, job_id="order-42") == "order-42"
    assert q.add("a", {"v": 2}, job_id="order-42") == "order-42"
    ids = q.add_bulk([JobSpec("a", {"v": 3}, job_id="order-42"), JobSpec("a", job_id="o-43")])
    assert ids == ["order-42", "o-43"]
    assert q.counts().wait == 2
    job = q.get_job("order-42")
    assert job is not None and job.data == {"v": 1}


def test_add_bulk_many_in_order(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    ids = q.add_bulk(JobSpec("n", {"i": i}) for i in range(1234))
    assert len(ids) == len(set(ids)) == 1234
    assert q.counts().wait == 1234
    assert q.job_ids(JobState.WAIT, 0, 5) == ids[:5]


@pytest.mark.parametrize("bad", [{1, 2}, float("nan"), object(), {"x": math.inf}, b"bytes"])
def test_bad_payload_rejected_at_add(conn: RedisConnection, bad: Any) -> None:
    q = Queue(conn.sync, "q")
    with pytest.raises(PayloadError, match="payload of job 'x' on queue 'q' is not JSON"):
        q.add("x", bad)
    with pytest.raises(PayloadError):
        q.add_bulk([JobSpec("ok", 1), JobSpec("x", bad)])
    assert q.counts().wait == 0


@pytest.mark.parametrize(
    "kw", [{"priority": 501}, {"delay": -1}, {"attempts": 0}, {"timeout": 0}, {"job_id": ""}]
)
def test_bad_options_rejected(conn: RedisConnection, kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Queue(conn.sync, "q").add("x", None, **kw)


def test_bad_queue_name() -> None:
    with pytest.raises(ConfigError, match="queue name"):
        Queue(connect("redis://127.0.0.1:1").sync, "a{b}")


def test_priority_then_fifo(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("low", job_id="low", priority=-5)
    q.add_bulk([JobSpec("n", job_id=f"n{i}") for i in range(3)])
    q.add("high", job_id="high", priority=10)
    q.add("mid", job_id="mid", priority=1)
    jobs, _, _ = fetch(conn, "q", 10)
    assert [f.job.id for f in jobs] == ["high", "mid", "n0", "n1", "n2", "low"]


def test_delayed_job_becomes_ready_on_time(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("later", job_id="d", delay=0.6)
    assert q.counts().delayed == 1
    jobs, next_ms, _ = fetch(conn, "q", 5)
    assert jobs == [] and 0 < next_ms <= 600
    deadline = time.monotonic() + 5
    while not jobs:
        assert time.monotonic() < deadline, "delayed job never became ready"
        time.sleep(0.05)
        jobs, _, _ = fetch(conn, "q", 5)
    # Redis-clock wait time starts when the job became ready, not when it was added.
    assert jobs[0].job.id == "d" and jobs[0].wait_ms < 500
    job = q.get_job("d")
    assert job is not None and job.added_at is not None and job.started_at is not None
    assert (job.started_at - job.added_at).total_seconds() >= 0.6


def test_pause_and_resume(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="1")
    q.pause()
    assert q.counts().paused
    jobs, _, paused = fetch(conn, "q", 5)
    assert jobs == [] and paused
    q.resume()
    jobs, _, paused = fetch(conn, "q", 5)
    assert [f.job.id for f in jobs] == ["1"] and not paused


def test_complete_stores_result_and_times(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", {"a": 1}, job_id="j")
    (f,), _, _ = fetch(conn, "q", 1, token="tok")
    assert f.job.state == JobState.ACTIVE and f.job.attempts_made == 1
    assert q.counts().active == 1
    time.sleep(0.05)  # real processing time, measured on the Redis clock
    done, _ = settle(conn, "q", completed=[("j", "tok", '{"ok":true}')])
    assert done[0] >= 50
    job = q.get_job("j")
    assert job is not None and job.state == JobState.COMPLETED and job.result == {"ok": True}
    assert q.counts().as_dict() == {
        "waiting-children": 0,
        "wait": 0,
        "delayed": 0,
        "active": 0,
        "completed": 1,
        "failed": 0,
    }
    assert sum(q.per_minute()["completed"].values()) == 1


def test_stale_token_cannot_complete(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="j")
    fetch(conn, "q", 1, token="tok")
    done, _ = settle(conn, "q", completed=[("j", "other-token", "1")])
    assert done == [-1]
    assert q.counts().active == 1


def test_fail_retries_then_fails_with_error(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="j", attempts=2)
    fetch(conn, "q", 1, token="t1")
    _, fails = settle(conn, "q", failed=[("j", "t1", '{"type":"E","message":"boom"}', 300)])
    assert fails[0][0] == "retry"
    assert q.counts().delayed == 1
    job = q.get_job("j")
    assert (
        job is not None
        and job.state == JobState.DELAYED
        and job.error == {"type": "E", "message": "boom"}
    )
    jobs: list[Fetched] = []
    deadline = time.monotonic() + 5
    while not jobs:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        jobs, _, _ = fetch(conn, "q", 1, token="t2")
    assert jobs[0].job.attempts_made == 2
    _, fails = settle(conn, "q", failed=[("j", "t2", '{"type":"E","message":"again"}', 0)])
    assert fails[0][0] == "failed"
    job = q.get_job("j")
    assert job is not None and job.state == JobState.FAILED and job.error is not None
    assert job.error["message"] == "again"
    assert sum(q.per_minute()["failed"].values()) == 1
    # Failed jobs stay inspectable and can be retried with fresh attempts.
    assert q.retry_failed() == ["j"]
    job = q.get_job("j")
    assert job is not None and (job.state, job.attempts_made) == (JobState.WAIT, 0)


def test_unrecoverable_failure_skips_retries(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="j", attempts=5)
    fetch(conn, "q", 1, token="t1")
    _, fails = settle(conn, "q", failed=[("j", "t1", "{}", -1)])
    assert fails[0][0] == "failed"
    assert q.counts().failed == 1


def test_expired_lease_is_swept_back_to_waiting_then_failed(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="j", attempts=1)
    fetch(conn, "q", 1, lease_ms=100, token="t1")
    time.sleep(0.15)  # let the lease expire: this is the condition under test
    assert sweep(conn, "q", 1) == (1, 0)
    job = q.get_job("j")
    assert job is not None and job.state == JobState.WAIT and job.stalls == 1
    # A stall does not use up an attempt; the old holder's token no longer matches.
    assert job.attempts_made == 0
    assert settle(conn, "q", completed=[("j", "t1", "1")])[0] == [-1]
    fetch(conn, "q", 1, lease_ms=100, token="t2")
    time.sleep(0.15)
    assert sweep(conn, "q", 1) == (0, 1)
    job = q.get_job("j")
    assert job is not None and job.state == JobState.FAILED
    assert job.error is not None and job.error["type"] == "StalledJobError"


def test_extend_keeps_a_lease_alive(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="j")
    # 4 x 0.8 s outlives the 2 s lease only if the renewals work; 2 s leave room for a
    # loaded machine between a renewal and the sweep after it.
    fetch(conn, "q", 1, lease_ms=2000, token="t1")
    for _ in range(4):
        time.sleep(0.8)  # time passing is the condition under test
        assert aq_call(conn, "q", "extend", [("j", "t1")], 2000) == []
        assert sweep(conn, "q", 1) == (0, 0)
    assert aq_call(conn, "q", "extend", [("j", "wrong")], 2000) == ["j"]


def test_release_hands_back_without_using_an_attempt(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add_bulk([JobSpec("x", job_id=str(i)) for i in range(3)])
    jobs, _, _ = fetch(conn, "q", 3, token="t")
    assert aq_call(conn, "q", "release", [(f.job.id, f.token) for f in jobs[:2]]) == 2
    counts = q.counts()
    assert (counts.wait, counts.active) == (2, 1)
    job = q.get_job("0")
    assert job is not None and job.attempts_made == 0


def test_finished_jobs_are_bounded(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q", keep_completed=10, keep_failed=3)
    q.add_bulk(JobSpec("x", {"pad": "x" * 100}) for _ in range(60))
    jobs, _, _ = fetch(conn, "q", 60, token="t")
    settle(
        conn,
        "q",
        completed=[(f.job.id, "t", "null") for f in jobs[:50]],
        failed=[(f.job.id, "t", "{}", -1) for f in jobs[50:]],
        keep_completed=10,
        keep_failed=3,
    )
    counts = q.counts()
    assert (counts.completed, counts.failed) == (10, 3)
    # The job records went with them: memory does not grow with throughput.
    assert conn.sync.hlen(q.keys.jobs) == 13
    assert conn.sync.hlen(q.keys.data) == 13
    # The newest are the ones kept.
    assert q.get_job(jobs[49].job.id) is not None and q.get_job(jobs[0].job.id) is None


def test_finished_jobs_expire_by_age(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q", keep_completed_age=0.2)
    q.add_bulk(JobSpec("x", job_id=f"old{i}") for i in range(5))
    jobs, _, _ = fetch(conn, "q", 5, token="t")
    settle(conn, "q", completed=[(f.job.id, "t", "null") for f in jobs], keep_completed_age=0.2)
    time.sleep(0.3)  # age is the condition under test
    q.add("x", job_id="new")
    fetch(conn, "q", 1, token="t")
    settle(conn, "q", completed=[("new", "t", "null")], keep_completed_age=0.2)
    assert q.job_ids(JobState.COMPLETED) == ["new"]


def test_events_stream_records_lifecycle_when_asked(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q", events_maxlen=100)
    q.add("x", job_id="j")
    res = aq_call(conn, "q", "settle_and_fetch", [], [], 1, "t", 30_000, "w1", events_maxlen=100)
    assert [f.job.id for f in res.jobs] == ["j"]
    settle(conn, "q", completed=[("j", "t", "null")], events_maxlen=100)
    events = [(e[b"event"], e[b"id"]) for _, e in conn.sync.xrange(q.keys.events)]
    assert events == [(b"added", b"j"), (b"active", b"j"), (b"completed", b"j")]
    Queue(conn.sync, "quiet").add("x")  # the default: no stream
    assert conn.sync.exists(Queue(conn.sync, "quiet").keys.events) == 0


def test_a_job_that_returns_nothing_stores_no_result(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    q.add("x", job_id="none")
    q.add("x", job_id="some")
    fetch(conn, "q", 2, token="t")
    settle(conn, "q", completed=[("none", "t", "null"), ("some", "t", '{"ok":1}')])
    assert conn.sync.hkeys(q.keys.results) == [b"some"]
    none, some = q.get_job("none"), q.get_job("some")
    assert none is not None and (none.state, none.result) == (JobState.COMPLETED, None)
    assert some is not None and (some.state, some.result) == (JobState.COMPLETED, {"ok": 1})


def test_every_key_shares_the_queue_hash_tag(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "orders")
    slots = {redis.cluster.key_slot(k.encode()) for k in q.ops.key_list}
    assert len(slots) == 1
    assert all("{orders}" in k for k in q.ops.key_list)


def test_async_queue_api(conn: RedisConnection) -> None:
    async def go() -> tuple[list[str], Any, Any]:
        client = async_client(conn.settings)
        try:
            q = AsyncQueue(client, "q")
            a = await q.add("x", {"k": 1}, job_id="a")
            ids = await q.add_bulk([JobSpec("y", i) for i in range(10)])
            await q.pause()
            counts = await q.counts()
            await q.resume()
            return [a, *ids], counts, await q.get_job("a")
        finally:
            await client.aclose()

    ids, counts, job = asyncio.run(go())
    assert len(ids) == 11 and counts.wait == 11 and counts.paused
    assert job.data == {"k": 1}


def test_eviction_policy_is_refused_unless_allowed(redis_url: str) -> None:
    conn = connect(redis_url)
    try:
        conn.sync.config_set("maxmemory-policy", "allkeys-lru")
        with pytest.raises(EvictionPolicyError, match="allkeys-lru"):
            Queue(conn.sync, "q").add("x")
        assert Queue(conn.sync, "q", QueueOptions(allow_eviction=True)).add("x")
        conn.sync.config_set("maxmemory-policy", "volatile-lru")
        assert Queue(conn.sync, "q2").add("x")
    finally:
        conn.sync.config_set("maxmemory-policy", "noeviction")
        conn.close()
