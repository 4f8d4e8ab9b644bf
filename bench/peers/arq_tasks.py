"""arq runs in a venv of its own (.venv/peers/arq: every arq release pins redis<6). This file
is imported there only: by the arq worker and by the enqueue commands below, which print
their timing as JSON like bench/peers/enqueue.py."""

import asyncio
import json
import os
import sys
import time

from arq import create_pool
from arq.connections import RedisSettings


async def noop(ctx, i):
    return None


def _settings():
    return RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))


class WorkerSettings:
    functions = [noop]
    redis_settings = _settings()
    burst = True
    max_jobs = 100
    keep_result = 0
    poll_delay = 0.05


async def _enqueue(mode, n, producers):
    pool = await create_pool(_settings())
    t0, c0 = time.perf_counter(), time.process_time()
    if mode == "bulk":
        for start in range(0, n, 500):
            await asyncio.gather(
                *(pool.enqueue_job("noop", i) for i in range(start, min(n, start + 500)))
            )
        how = "no bulk API: 500 concurrent enqueue_job() calls at a time"
    elif mode == "concurrent":
        counter = iter(range(n))

        async def producer():
            for i in counter:
                await pool.enqueue_job("noop", i)

        await asyncio.gather(*(producer() for _ in range(producers)))
        how = f"{producers} concurrent asyncio producers"
    else:
        for i in range(n):
            await pool.enqueue_job("noop", i)
        how = "await enqueue_job() one at a time"
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    await pool.aclose()
    return {"seconds": seconds, "cpu_seconds": cpu, "how": how}


if __name__ == "__main__":
    mode, n = sys.argv[1], int(sys.argv[2])
    producers = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    print(json.dumps(asyncio.run(_enqueue(mode, n, producers))))
