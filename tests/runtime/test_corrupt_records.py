"""Corrupt job records already stored (another version's format during a rolling upgrade, a
hand edit): the record goes to `failed` with the reason, every good job still runs, and no
script stops half-way (Redis keeps the writes of a script that fails, so a half-run script
loses jobs). On a standalone server and on the cluster."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from runtime import BaseWorker, Job, JobSpec, JobState, Queue
from runtime.connection import RedisConnection
from tests.helpers import run_worker_until
from tests.runtime.test_queue import aq_call, fetch, settle, sweep

GOOD_META = {"name": "good", "pri": 0, "att": 1, "bo": [1, 2, 300, 0.5], "made": 0, "stalls": 0}

# (what is wrong, meta as stored or None for no record, payload as stored, expected reason)


def _without(field: str) -> str:
    return json.dumps({k: v for k, v in GOOD_META.items() if k != field})


CORRUPT = {
    "meta-not-json": ("{not json", "{}", "meta is not a JSON object"),
    "meta-without-made": (_without("made"), "{}", "made"),
    "meta-without-name": (_without("name"), "{}", "name"),
    "payload-not-json": (json.dumps(GOOD_META), "{broken", "payload is not JSON"),
    "no-record": (None, None, "no record"),
}


class Echo(BaseWorker):
    queue = "work"

    async def process(self, job: Job) -> Any:
        await asyncio.sleep(0.001)
        return job.data


def plant(q: Queue, job_id: str, meta: str | None, data: str | None, *, head: bool = True) -> None:
    """Store a record the way another writer might have, at the head of `wait`."""
    r = q.client
    if meta is not None:
        r.hset(q.keys.jobs, job_id, meta)
    if data is not None:
        r.hset(q.keys.data, job_id, data)
    r.zadd(q.keys.wait, {job_id: 0 if head else 2**60})


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_record_at_the_head_fails_alone_and_good_jobs_run(
    conn: RedisConnection, case: str
) -> None:
    q = Queue(conn.sync, "work")
    good = q.add_bulk(JobSpec("good", {"i": i}) for i in range(12))
    meta, data, reason = CORRUPT[case]
    plant(q, "bad", meta, data)
    worker = Echo(redis_url=conn.settings.url, concurrency=4)

    async def done() -> bool:
        c = q.counts()
        return c.completed == 12 and c.failed == 1

    run_worker_until(worker, done, timeout=60)  # seconds on a quiet machine
    c = q.counts()
    assert (c.wait, c.active, c.delayed, c.completed, c.failed) == (0, 0, 0, 12, 1)
    assert set(q.job_ids(JobState.COMPLETED)) == set(good)
    assert q.job_ids(JobState.FAILED) == ["bad"]
    job = q.get_job("bad")
    assert job is not None and job.state is JobState.FAILED and job.error is not None
    assert job.error["message"].startswith("corrupt job record: ")
    assert reason in job.error["message"]


def test_the_lease_script_fails_a_corrupt_record_in_the_batch_and_leases_the_rest(
    conn: RedisConnection,
) -> None:
    """One call: nothing written before the bad record is lost, nothing after it is skipped."""
    q = Queue(conn.sync, "work")
    q.add_bulk(JobSpec("good", {"i": i}, job_id=f"g{i}") for i in range(3))
    plant(q, "bad", "{not json", "{}")
    q.client.zadd(q.keys.wait, {"g0": 1})  # g0 ahead of the bad record, the rest behind it
    jobs, _, _ = fetch(conn, "work", 10)
    assert [f.job.id for f in jobs] == ["g0", "g1", "g2"]
    c = q.counts()
    assert (c.wait, c.active, c.failed) == (0, 3, 1)
    assert q.client.hget(q.keys.locks, "bad") is None


def test_settling_a_job_whose_record_went_bad_fails_it_and_settles_the_others(
    conn: RedisConnection,
) -> None:
    q = Queue(conn.sync, "work")
    q.add_bulk(JobSpec("good", job_id=f"g{i}") for i in range(3))
    fetch(conn, "work", 3, token="t")
    q.client.hset(q.keys.jobs, "g1", "{edited by hand")
    done, _ = settle(conn, "work", completed=[(f"g{i}", "t", "1") for i in range(3)])
    assert done[0] >= 0 and done[2] >= 0
    c = q.counts()
    assert (c.active, c.completed, c.failed) == (0, 2, 1)
    job = q.get_job("g1")
    assert job is not None and job.error is not None
    assert job.error["message"].startswith("corrupt job record: ")


def test_the_stall_sweep_and_release_fail_corrupt_records_and_recover_the_rest(
    conn: RedisConnection,
) -> None:
    q = Queue(conn.sync, "work")
    q.add_bulk(JobSpec("good", job_id=f"g{i}") for i in range(4))
    fetch(conn, "work", 4, lease_ms=1, token="t")
    q.client.hset(q.keys.jobs, "g1", json.dumps({"name": "good"}))  # no `made`
    q.client.hset(q.keys.jobs, "g2", "[]")
    requeued, failed = sweep(conn, "work", max_stalls=5)
    assert (requeued, failed) == (2, 2)
    assert sorted(q.job_ids(JobState.WAIT)) == ["g0", "g3"]
    assert sorted(q.job_ids(JobState.FAILED)) == ["g1", "g2"]
    assert [f.job.id for f in fetch(conn, "work", 2, token="u")[0]] == ["g0", "g3"]
    q.client.hset(q.keys.jobs, "g0", "nope")
    assert aq_call(conn, "work", "release", [("g0", "u"), ("g3", "u")]) == 1
    assert q.job_ids(JobState.WAIT) == ["g3"]
    assert sorted(q.job_ids(JobState.FAILED)) == ["g0", "g1", "g2"]


def test_a_failed_corrupt_record_can_be_retried_and_fails_again_cleanly(
    conn: RedisConnection,
) -> None:
    q = Queue(conn.sync, "work")
    plant(q, "bad", "{not json", "{}")
    fetch(conn, "work", 1)
    assert q.retry_failed() == ["bad"]
    jobs, _, _ = fetch(conn, "work", 1)
    # The record was replaced by a valid one when it failed (the raw text is kept in its
    # error), so a retry runs it like any job.
    assert [f.job.id for f in jobs] == ["bad"]


def test_a_corrupt_flow_outbox_entry_is_dropped_and_the_worker_carries_on(
    conn: RedisConnection, caplog: pytest.LogCaptureFixture
) -> None:
    q = Queue(conn.sync, "work")
    q.client.zadd(q.keys.outbox, {"{not json": 1, json.dumps({"c": "x"}): 2})
    q.add_bulk(JobSpec("good", {"i": i}) for i in range(3))
    worker = Echo(redis_url=conn.settings.url, concurrency=2, stall_interval=0.1)

    async def done() -> bool:
        return q.counts().completed == 3 and q.client.zcard(q.keys.outbox) == 0

    with caplog.at_level(logging.ERROR, logger="castiel.queue"):
        run_worker_until(worker, done, timeout=20)
    dropped = [r.getMessage() for r in caplog.records if "outbox" in r.getMessage()]
    assert len(dropped) == 2, dropped
