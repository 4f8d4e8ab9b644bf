"""Worker classes the tests run in real subprocesses (`python -m castiel worker ...`).

Each execution is recorded in Redis (HINCRBY runs <job id>), so a test can tell which jobs
ran, and how often, after workers were killed."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from runtime import BaseWorker, Job
from runtime.correlation import get_correlation_id

RUNS_KEY = "castiel-test:runs"
STARTS_KEY = "castiel-test:starts"


class RecordingWorker(BaseWorker):
    """Sleeps job.data["ms"] milliseconds, then records that the job ran to completion."""

    queue = "work"

    async def on_startup(self) -> None:
        from runtime import connect

        self.conn = connect(self.settings.redis_url)  # standalone or cluster alike
        self.r = self.conn.aio

    async def on_shutdown(self) -> None:
        await self.conn.aclose()

    async def process(self, job: Job) -> Any:
        await self.r.hincrby(STARTS_KEY, job.id, 1)
        await asyncio.sleep(job.data.get("ms", 0) / 1000)
        await self.r.hincrby(RUNS_KEY, job.id, 1)
        return {"id": job.id, "corr": get_correlation_id()}


class SyncRecordingWorker(BaseWorker):
    """A sync `process`: runs in the worker's thread pool."""

    queue = "work"

    def process(self, job: Job) -> Any:  # type: ignore[override]
        time.sleep(job.data.get("ms", 0) / 1000)
        return {"corr": get_correlation_id(), "pid": os.getpid()}


class NotAWorker:
    pass


class FlowStep(BaseWorker):
    """A flow node: returns its own value plus the sum of its children's results, and records
    the order in which nodes ran. `fail` in the payload makes it fail for good."""

    queue = "render"
    max_stalls = 5

    async def on_startup(self) -> None:
        from runtime import connect

        self.conn = connect(self.settings.redis_url)  # standalone or cluster alike
        self.r = self.conn.aio

    async def on_shutdown(self) -> None:
        await self.conn.aclose()

    async def process(self, job: Job) -> Any:
        from runtime import UnrecoverableError

        await asyncio.sleep(job.data.get("ms", 0) / 1000)
        kids = await self.children(job)
        await self.r.rpush("castiel-test:order", job.data["name"])
        if job.data.get("fail"):
            raise UnrecoverableError(f"{job.data['name']} fails")
        return job.data.get("v", 0) + sum(kids.values.values())


class BrokenHeartbeat(RecordingWorker):
    """A bug outside any job: building the heartbeat raises after the first beat."""

    beats = 0

    def heartbeat(self) -> Any:
        self.beats += 1
        if self.beats > 1:
            raise RuntimeError("heartbeat bug")
        return super().heartbeat()


class SyncCountingWorker(BaseWorker):
    """A sync `process` that records its starts and its completed runs (like RecordingWorker)."""

    queue = "work"

    def process(self, job: Job) -> Any:  # type: ignore[override]
        from runtime import connect

        r = connect(self.settings.redis_url).sync
        try:
            r.hincrby(STARTS_KEY, job.id, 1)
            time.sleep(job.data.get("ms", 0) / 1000)
            r.hincrby(RUNS_KEY, job.id, 1)
        finally:
            r.close()
        return {"pid": os.getpid()}


class LoggingWorker(BaseWorker):
    """Logs one line per job, from its own logger, as an application would."""

    queue = "work"

    async def process(self, job: Job) -> Any:
        logging.getLogger("app.jobs").warning("handling %s", job.name)
        return None


class NoQueueWorker(BaseWorker):
    """Implements `process` but names no queue: `castiel worker` refuses it (exit 2) unless
    --queue names one."""

    async def process(self, job: Job) -> Any:
        return None
