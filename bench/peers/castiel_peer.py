"""Castiel: the measured product."""

from __future__ import annotations

import os
import sys
from typing import Any

from runtime import BaseWorker, Job, JobSpec, Queue, connect

NAME = "castiel"
QUEUE = "bench"
# 100 was the best of 50/100/200 (docs/benchmarks.md); the variable is for trying others.
CONCURRENCY = int(os.environ.get("BENCH_CASTIEL_CONCURRENCY", "100"))


class NoopWorker(BaseWorker):
    queue = QUEUE
    concurrency = CONCURRENCY

    async def process(self, job: Job) -> Any:
        return None


def enqueue_single(url: str, n: int) -> None:
    q = Queue(connect(url).sync, QUEUE)
    for i in range(n):
        q.add("noop", {"i": i})


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
