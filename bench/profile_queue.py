"""Where Castiel's CPU goes per job: cProfile of the worker processing N no-op jobs (in this
process, concurrency 100), of N sync `Queue.add` calls, and of N `AsyncQueue.add` calls from
100 concurrent producers, against a redis-server of its own.

    .venv/bin/python bench/profile_queue.py [--jobs 20000] [--top 25] [--only worker,add,aadd]

Prints CPU µs per job without the profiler (process_time), then the profile's top functions
by own time. The profiler roughly doubles the cost of small Python calls, so read its figures
as shares, not as absolute costs."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.peers.castiel_peer import NoopWorker  # noqa: E402
from castiel.redis_server import RedisServer  # noqa: E402
from runtime import AsyncQueue, JobSpec, Queue, connect  # noqa: E402


def _redis_cpu(url: str) -> float:
    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def fill(url: str, n: int) -> None:
    Queue(connect(url).sync, "bench").add_bulk(JobSpec("noop", {"i": i}) for i in range(n))


def process_jobs(url: str, n: int) -> None:
    worker = NoopWorker(redis_url=url, concurrency=100)

    async def go() -> None:
        async def stop_when_done() -> None:
            while worker.processed < n:
                await asyncio.sleep(0.01)
            worker.request_stop()

        stopper = asyncio.create_task(stop_when_done())
        await worker.main()
        await stopper

    asyncio.run(go())


def add_sync(url: str, n: int) -> None:
    q = Queue(connect(url).sync, "bench")
    for i in range(n):
        q.add("noop", {"i": i})


def add_async(url: str, n: int) -> None:
    async def go() -> None:
        conn = connect(url)
        q = AsyncQueue(conn.aio, "bench")
        counter = iter(range(n))

        async def producer() -> None:
            for i in counter:
                await q.add("noop", {"i": i})

        await asyncio.gather(*(producer() for _ in range(100)))
        await conn.aclose()

    asyncio.run(go())


def _nothing(url: str, n: int) -> None:
    pass


# name -> (prepare, measured)
CASES: dict[str, tuple[Callable[[str, int], None], Callable[[str, int], None]]] = {
    "worker": (fill, process_jobs),
    "add": (_nothing, add_sync),
    "aadd": (_nothing, add_async),
}


def measure(url: str, name: str, n: int, top: int) -> None:
    prepare, fn = CASES[name]
    flush = redis.Redis.from_url(url).flushall
    flush()
    prepare(url, n // 10)
    fn(url, n // 10)  # warm-up: scripts loaded, imports done
    flush()
    prepare(url, n)
    r0, c0, t0 = _redis_cpu(url), time.process_time(), time.perf_counter()
    fn(url, n)
    cpu, wall, rcpu = time.process_time() - c0, time.perf_counter() - t0, _redis_cpu(url) - r0
    print(
        f"\n== {name}: {n / wall:,.0f} jobs/s, client {cpu / n * 1e6:.1f} µs CPU/job, "
        f"redis-server {rcpu / n * 1e6:.1f} µs CPU/job (no profiler)"
    )
    flush()
    prepare(url, n)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    fn(url, n)
    prof.disable()
    out = io.StringIO()
    stats: Any = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default=",".join(CASES))
    args = parser.parse_args()
    server = RedisServer(Path(tempfile.mkdtemp(prefix="castiel-prof-")) / "redis").start()
    try:
        for name in args.only.split(","):
            measure(server.url, name, args.jobs, args.top)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
