"""An unexpected error in one of a worker's loops (a bug, not a Redis outage and not a job's
error) is logged with its traceback and ends the process with a non-zero code, so its
supervisor restarts it: a worker never stays alive, heartbeating, without fetching."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import pytest
import redis

from runtime import BaseWorker, Job, JobSpec, JobState, Queue, connect
from runtime.errors import RunBroken
from runtime.queue import QueueOps
from tests.helpers import start_worker_process, wait_until
from tests.runtime.workers import STARTS_KEY


class Slow(BaseWorker):
    queue = "work"

    async def process(self, job: Job) -> Any:
        await asyncio.sleep(job.data["ms"] / 1000)
        return None


def test_a_dead_pump_ends_the_worker_and_hands_its_jobs_back(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    q = Queue(connect(redis_url).sync, "work")
    long_ids = q.add_bulk(JobSpec("j", {"ms": 60_000}) for _ in range(2))
    q.add_bulk(JobSpec("j", {"ms": 1}) for _ in range(5))
    real = QueueOps.parse_settle

    def parse_then_break(self: QueueOps, reply: list[Any], token: str) -> Any:
        if reply[0]:  # the first reply that acknowledges a job
            raise RuntimeError("a bug in the pump")
        return real(self, reply, token)

    monkeypatch.setattr(QueueOps, "parse_settle", parse_then_break)
    # The first fetches lease both long jobs and a short one; settling the short one breaks.
    worker = Slow(redis_url=redis_url, concurrency=3, grace=30)
    with (
        caplog.at_level(logging.ERROR, logger="castiel.worker"),
        pytest.raises(RunBroken, match="pump"),
    ):
        asyncio.run(asyncio.wait_for(worker.main(), 20))
    crash = [r for r in caplog.records if r.exc_info is not None]
    assert crash and "a bug in the pump" in str(crash[0].exc_info[1]), "the traceback is logged"
    # The long jobs in flight were handed back at once, not after the 30 s grace.
    assert set(long_ids) <= set(q.job_ids(JobState.WAIT))


def test_a_worker_process_whose_heartbeat_loop_dies_exits_non_zero(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    q.add("j", {"ms": 1})
    proc = start_worker_process(
        "tests.runtime.workers:BrokenHeartbeat",
        redis_url,
        env={"CASTIEL_HEARTBEAT_INTERVAL": "0.2"},
    )
    try:
        out, _ = proc.communicate(timeout=30)
    except Exception:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        raise
    text = out.decode()
    assert proc.returncode not in (0, None), text
    assert "Traceback" in text and "heartbeat bug" in text
    r = redis.Redis.from_url(redis_url)
    wait_until(lambda: r.hlen(STARTS_KEY) == 1, 5, message="the job ran before the crash")
