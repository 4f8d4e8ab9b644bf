"""Concurrent producers for libraries without an asyncio client: threads, as an async web
service would call a sync client (Starlette's run_in_threadpool)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def run_threads(n: int, producers: int, send: Callable[[int], object]) -> str:
    counter = itertools.count()
    lock = threading.Lock()

    def producer() -> None:
        while True:
            with lock:
                i = next(counter)
            if i >= n:
                return
            send(i)

    with ThreadPoolExecutor(producers) as pool:
        for f in [pool.submit(producer) for _ in range(producers)]:
            f.result()
    return f"{producers} threads (no asyncio client)"
