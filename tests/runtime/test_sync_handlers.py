"""Sync `process` methods run in threads, and a thread cannot be interrupted: a timed-out
job must not keep its concurrency slot, and a job whose code is still running at shutdown
keeps its lease until it really ends (or the process dies), so it never runs twice."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
import redis

from runtime import BaseWorker, Job, JobSpec, JobState, Queue, connect
from runtime.errors import WorkerCrashed
from tests.helpers import run_worker_until, start_worker_process, wait_until
from tests.runtime.test_worker_faults import _stop
from tests.runtime.workers import RUNS_KEY, STARTS_KEY

SPEC = "tests.runtime.workers:SyncCountingWorker"


class Sleeper(BaseWorker):
    queue = "work"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.ran: list[str] = []

    def process(self, job: Job) -> Any:  # type: ignore[override]
        time.sleep(job.data["ms"] / 1000)
        self.ran.append(job.id)
        return job.id


def test_a_timed_out_sync_job_does_not_keep_its_slot(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    q.add("a", {"ms": 3000}, job_id="A", timeout=0.5)
    q.add("b", {"ms": 10}, job_id="B", timeout=1)
    worker = Sleeper(redis_url=redis_url, concurrency=1)

    async def both_settled() -> bool:
        return q.counts().failed + q.counts().completed == 2

    run_worker_until(worker, both_settled, timeout=20)
    a, b = q.get_job("A"), q.get_job("B")
    assert a is not None and a.state is JobState.FAILED
    assert a.error is not None and a.error["type"] == "JobTimeoutError"
    assert b is not None and b.state is JobState.COMPLETED, b and b.error
    assert "B" in worker.ran


def test_sigterm_keeps_the_lease_of_a_sync_job_still_running(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    r = redis.Redis.from_url(redis_url)
    q.add("slow", {"ms": 6000}, job_id="slow")
    env = {"CASTIEL_STALL_INTERVAL": "0.3"}
    first = start_worker_process(SPEC, redis_url, "--grace", "0.5", "--lease", "1", env=env)
    second = None
    try:
        wait_until(lambda: r.hget(STARTS_KEY, "slow") == b"1", 20, message="the job to start")
        first.send_signal(signal.SIGTERM)
        # A second worker sweeping for expired leases must never get the job while its code
        # still runs in the first process (well past the grace and the 1 s lease).
        second = start_worker_process(SPEC, redis_url, "--lease", "1", env=env)
        wait_until(lambda: r.hget(RUNS_KEY, "slow") == b"1", 30, message="the job to end")
        out, _ = first.communicate(timeout=20)  # it exits by itself once the job has ended
        assert first.returncode == 0, out.decode()
    finally:
        if second is not None:
            _stop(second)
        if first.poll() is None:
            first.kill()
    assert r.hget(STARTS_KEY, "slow") == b"1", "the job ran once"
    job = q.get_job("slow")
    assert job is not None and job.state is JobState.COMPLETED and job.stalls == 0


def test_a_second_signal_exits_without_waiting_for_a_thread(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    r = redis.Redis.from_url(redis_url)
    q.add("stuck", {"ms": 60_000}, job_id="stuck")
    proc = start_worker_process(SPEC, redis_url, "--grace", "0.5", "--lease", "30")
    wait_until(lambda: r.hget(STARTS_KEY, "stuck") == b"1", 20, message="the job to start")
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.5)  # past the grace: the process now waits for the thread
    assert proc.poll() is None, "a running thread keeps the process (and the job's lease)"
    assert q.counts().active == 1
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out = _stop(proc, timeout=15)
    assert time.monotonic() - t0 < 10, out
    # The job was not handed back while its code ran: its lease lapses and the sweep returns it.
    c = q.counts()
    assert (c.active, c.wait) == (1, 0)


def test_more_stuck_threads_than_concurrency_restarts_the_worker(redis_url: str) -> None:
    """Only ending the process ends a thread: past `concurrency` timed-out threads still
    running, the worker stops with WorkerCrashed (non-zero exit) to be restarted."""
    q = Queue(connect(redis_url).sync, "work")
    q.add_bulk(JobSpec("stuck", {"ms": 10_000}, timeout=0.2) for _ in range(2))
    q.add("fine", {"ms": 1}, job_id="fine")
    worker = Sleeper(redis_url=redis_url, concurrency=1, grace=5)
    with pytest.raises(WorkerCrashed, match="job threads"):
        asyncio.run(asyncio.wait_for(worker.main(), 30))
    c = q.counts()
    assert c.failed == 2 and c.active == 0
