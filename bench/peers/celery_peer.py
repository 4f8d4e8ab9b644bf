"""Celery with the Redis broker, solo pool, results ignored."""

from __future__ import annotations

import os
import sys

import redis
from celery import Celery

from bench.peers.threads import run_threads

NAME = "celery"
SETTINGS = "--pool solo, prefetch 4 (default), ignore_result"

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))
app.conf.task_ignore_result = True
app.conf.task_default_queue = "bench"
app.conf.worker_hijack_root_logger = False


@app.task(name="noop")
def noop(i: int) -> None:
    return None


def enqueue_single(url: str, n: int) -> str:
    for i in range(n):
        noop.delay(i)
    return "noop.delay() one at a time"


def enqueue_concurrent(url: str, n: int, producers: int) -> str:
    return run_threads(n, producers, noop.delay)


def enqueue_bulk(url: str, n: int) -> str:
    with app.producer_or_acquire() as producer:
        for i in range(n):
            noop.apply_async((i,), producer=producer)
    return "no bulk API: apply_async with one shared producer"


def worker_argv(url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.peers.celery_peer",
        "worker",
        "--pool",
        "solo",
        "-Q",
        "bench",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def remaining(url: str) -> int:
    conn = redis.Redis.from_url(url)
    return int(conn.llen("bench")) + int(conn.hlen("unacked"))
