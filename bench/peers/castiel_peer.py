"""Castiel: the measured product."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from runtime import AsyncQueue, BaseWorker, Job, JobSpec, Queue, connect

NAME = "castiel"
QUEUE = "bench"
# 100 was the best of 50/100/200 (docs/benchmarks.md); the variable is for trying others.
CONCURRENCY = int(os.environ.get("BENCH_CASTIEL_CONCURRENCY", "100"))
AUTOPIPELINE = os.environ.get("BENCH_CASTIEL_AUTOPIPELINE", "1") == "1"


class NoopWorker(BaseWorker):
    queue = QUEUE
    concurrency = CONCURRENCY

    async def process(self, job: Job) -> Any:
        return None


def enqueue_single(url: str, n: int) -> str:
    if os.environ.get("BENCH_CASTIEL_ASYNC_SINGLE") == "1":
        return _async_single(url, n)
    q = Queue(connect(url).sync, QUEUE)
    for i in range(n):
        q.add("noop", {"i": i})
    return "Queue.add() (sync) one at a time"


def _async_single(url: str, n: int) -> str:
    async def go() -> None:
        conn = connect(url)
        q = AsyncQueue(conn.aio, QUEUE, autopipeline=AUTOPIPELINE)
        for i in range(n):
            await q.add("noop", {"i": i})
        await conn.aclose()

    asyncio.run(go())
    return f"AsyncQueue.add() awaited one at a time, autopipeline={AUTOPIPELINE}"


def enqueue_concurrent(url: str, n: int, producers: int) -> str:
    async def go() -> None:
        conn = connect(url)
        q = AsyncQueue(conn.aio, QUEUE, autopipeline=AUTOPIPELINE)
        counter = iter(range(n))

        async def producer() -> None:
            for i in counter:
                await q.add("noop", {"i": i})

        await asyncio.gather(*(producer() for _ in range(producers)))
        await conn.aclose()

    asyncio.run(go())
    return (
        f"{producers} concurrent asyncio producers awaiting AsyncQueue.add(), "
        f"autopipeline={AUTOPIPELINE}"
    )


def enqueue_bulk(url: str, n: int) -> str:
    Queue(connect(url).sync, QUEUE).add_bulk(JobSpec("noop", {"i": i}) for i in range(n))
    return "add_bulk (500 jobs per script call, one pipeline)"


def worker_argv(url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "castiel",
        "worker",
        "bench.peers.castiel_peer:NoopWorker",
        "--redis",
        url,
        "--concurrency",
        str(CONCURRENCY),
    ]


def remaining(url: str) -> int:
    c = Queue(connect(url).sync, QUEUE).counts()
    return c.wait + c.active + c.delayed


def failures(url: str) -> int:
    return Queue(connect(url).sync, QUEUE).counts().failed


SETTINGS = f"concurrency {CONCURRENCY}, asyncio worker"
