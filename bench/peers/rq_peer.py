"""RQ 2.x with SimpleWorker (no fork per job), burst mode."""

from __future__ import annotations

import sys

import redis
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry

from bench.peers.threads import run_threads

NAME = "rq"
QUEUE = "bench"
SETTINGS = "SimpleWorker, burst"


def noop(i: int) -> None:
    return None


def enqueue_single(url: str, n: int) -> str:
    q = Queue(QUEUE, connection=redis.Redis.from_url(url))
    for i in range(n):
        q.enqueue(noop, i)
    return "q.enqueue() one at a time"


def enqueue_concurrent(url: str, n: int, producers: int) -> str:
    q = Queue(QUEUE, connection=redis.Redis.from_url(url, max_connections=producers))
    return run_threads(n, producers, lambda i: q.enqueue(noop, i))


def enqueue_bulk(url: str, n: int) -> str:
    conn = redis.Redis.from_url(url)
    q = Queue(QUEUE, connection=conn)
    with conn.pipeline() as pipe:
        q.enqueue_many([Queue.prepare_data(noop, (i,)) for i in range(n)], pipeline=pipe)
        pipe.execute()
    return "enqueue_many in one pipeline"


def worker_argv(url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rq.cli",
        "worker",
        "--burst",
        "-w",
        "rq.worker.SimpleWorker",
        "--url",
        url,
        "--quiet",
        QUEUE,
    ]


def remaining(url: str) -> int:
    conn = redis.Redis.from_url(url)
    q = Queue(QUEUE, connection=conn)
    return q.count + StartedJobRegistry(QUEUE, connection=conn).count


def failures(url: str) -> int:
    return int(FailedJobRegistry(QUEUE, connection=redis.Redis.from_url(url)).count)
