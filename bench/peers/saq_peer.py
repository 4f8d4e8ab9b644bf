"""SAQ (asyncio); no bulk API, so bulk = concurrent enqueues on one connection pool."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from saq import Queue

NAME = "saq"
CONCURRENCY = 10  # SAQ's default; at 100 it stalled with jobs left active
SETTINGS = f"concurrency {CONCURRENCY}"


async def noop(ctx: Any) -> None:
    return None


def _queue(url: str) -> Queue:
    return Queue.from_url(url, name="bench")


settings = {
    "queue": _queue(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0")),
    "functions": [noop],
    "concurrency": CONCURRENCY,
}


def enqueue_single(url: str, n: int) -> str:
    async def go() -> None:
        q = _queue(url)
        for _ in range(n):
            await q.enqueue("noop")
        await q.disconnect()

    asyncio.run(go())
    return "await enqueue() one at a time"


def enqueue_concurrent(url: str, n: int, producers: int) -> str:
    async def go() -> None:
        q = _queue(url)
        counter = iter(range(n))

        async def producer() -> None:
            for _ in counter:
                await q.enqueue("noop")

        await asyncio.gather(*(producer() for _ in range(producers)))
        await q.disconnect()

    asyncio.run(go())
    return f"{producers} concurrent asyncio producers"


def enqueue_bulk(url: str, n: int) -> str:
    async def go() -> None:
        q = _queue(url)
        for start in range(0, n, 500):
            await asyncio.gather(*(q.enqueue("noop") for _ in range(start, min(n, start + 500))))
        await q.disconnect()

    asyncio.run(go())
    return "no bulk API: 500 concurrent enqueue() calls at a time"


def worker_argv(url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "saq",
        "bench.peers.saq_peer.settings",
        "--workers",
        "1",
        "--quiet",
    ]


def remaining(url: str) -> int:
    async def go() -> int:
        q = _queue(url)
        n = await q.count("queued") + await q.count("active")
        await q.disconnect()
        return int(n)

    return asyncio.run(go())
