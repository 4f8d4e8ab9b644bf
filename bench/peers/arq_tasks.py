"""arq runs in a venv of its own (.venv/peers/arq: every arq release pins redis<6). This file
is imported there only: by the arq worker and by the enqueue commands below."""

import asyncio
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


async def _enqueue(n, concurrent):
    pool = await create_pool(_settings())
    t0 = time.perf_counter()
    if concurrent:
        for start in range(0, n, 500):
            await asyncio.gather(
                *(pool.enqueue_job("noop", i) for i in range(start, min(n, start + 500)))
            )
    else:
        for i in range(n):
            await pool.enqueue_job("noop", i)
    elapsed = time.perf_counter() - t0
    await pool.aclose()
    return elapsed


if __name__ == "__main__":
    cmd, n = sys.argv[1], int(sys.argv[2])
    print(asyncio.run(_enqueue(n, concurrent=cmd == "bulk")))
