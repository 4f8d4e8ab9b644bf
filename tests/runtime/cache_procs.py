"""Cache client processes the cache tests start for real (`python -m tests.runtime.cache_procs
MODE URL ...`). They coordinate with the test through Redis keys under `castiel-test:`, and
print one JSON line with what they saw."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

import redis

from runtime import connect
from runtime.cache import AsyncCache, Cache

READY = "castiel-test:ready"
GO = "castiel-test:go"
LOADS = "castiel-test:loads"
HOLDING = "castiel-test:holding"


def _client(url: str) -> Any:
    return connect(url).sync


def _wait_for_go(r: Any) -> None:
    r.sadd(READY, os.getpid())
    deadline = time.monotonic() + 30
    while not r.exists(GO):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.002)


def stampede(url: str, name: str, callers: int, flavour: str) -> None:
    """`callers` concurrent get_or_load calls of one missing key (threads or tasks)."""
    r = _client(url)

    def load_sync() -> dict[str, Any]:
        r.incr(LOADS)
        time.sleep(0.3)
        return {"v": 42, "pid": os.getpid()}

    results: list[Any] = []
    if flavour == "threads":
        cache = Cache(name, r, ttl=60, lock_timeout=5)
        _wait_for_go(r)
        threads = [
            threading.Thread(target=lambda: results.append(cache.get_or_load("hot", load_sync)))
            for _ in range(callers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:

        async def main() -> None:
            conn = connect(url)
            cache = AsyncCache(name, conn.aio, ttl=60, lock_timeout=5)

            async def load_async() -> dict[str, Any]:
                await conn.aio.incr(LOADS)
                await asyncio.sleep(0.3)
                return {"v": 42, "pid": os.getpid()}

            await asyncio.to_thread(_wait_for_go, r)
            results.extend(
                await asyncio.gather(
                    *(cache.get_or_load("hot", load_async) for _ in range(callers))
                )
            )
            await conn.aclose()

        asyncio.run(main())
    print(json.dumps({"results": results}), flush=True)


def watch(url: str, name: str, rounds: int) -> None:
    """For each round r: wait until the in-process layer holds value r, then keep reading
    until it is gone; report the last time value r was served (epoch seconds)."""
    r = _client(url)
    cache = Cache(name, r, ttl=60, local_max_entries=100, local_ttl=30)
    if not cache.wait_ready(10):
        raise SystemExit("listener never subscribed")
    for n in range(rounds):
        deadline = time.monotonic() + 20
        while not (cache.get("k") == n and "k" in cache.local):  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise SystemExit(f"round {n}: value never reached the local layer")
            time.sleep(0.002)
        r.sadd(f"{READY}:{n}", os.getpid())
        last_served = time.time()
        while cache.get("k") == n:
            last_served = time.time()
            time.sleep(0.001)
        r.hset(f"castiel-test:served:{n}", str(os.getpid()), repr(last_served))
    cache.close()
    print(json.dumps({"ok": True}), flush=True)


def hold(url: str, name: str, behaviour: str, lock_timeout: float) -> None:
    """Take the loading lock of key "k", then crash (exit without releasing) or hang."""
    r = _client(url)
    cache = Cache(name, r, ttl=60, lock_timeout=lock_timeout)

    def loader() -> Any:
        r.set(HOLDING, os.getpid())
        if behaviour == "crash":
            os._exit(3)
        time.sleep(3600)
        return "never"

    cache.get_or_load("k", loader)


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    try:
        if mode == "stampede":
            stampede(url, rest[0], int(rest[1]), rest[2])
        elif mode == "watch":
            watch(url, rest[0], int(rest[1]))
        elif mode == "hold":
            hold(url, rest[0], rest[1], float(rest[2]))
        else:
            raise SystemExit(f"unknown mode {mode}")
    except redis.RedisError as exc:
        raise SystemExit(f"redis error: {exc}") from exc
