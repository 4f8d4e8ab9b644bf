"""Dramatiq with its Redis broker, one process, default threads."""

from __future__ import annotations

import os
import sys

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.peers.threads import run_threads

NAME = "dramatiq"
SETTINGS = "1 process, 8 threads (default)"

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop(i: int) -> None:
    return None


def enqueue_single(url: str, n: int) -> str:
    for i in range(n):
        noop.send(i)
    return "noop.send() one at a time"


def enqueue_concurrent(url: str, n: int, producers: int) -> str:
    return run_threads(n, producers, noop.send)


def enqueue_bulk(url: str, n: int) -> str:
    dramatiq.group(noop.message(i) for i in range(n)).run()
    return "no bulk API: group(...).run() sends one by one"


def worker_argv(url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "bench.peers.dramatiq_peer",
        "--processes",
        "1",
        "--threads",
        "8",
    ]


def remaining(url: str) -> int:
    conn = redis.Redis.from_url(url)
    return int(conn.hlen("dramatiq:bench.msgs"))
