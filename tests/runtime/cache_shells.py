"""Both cache shells behind one sync API, so each behavioural test runs against `Cache` and
`AsyncCache` alike (the `make_cache` fixture in conftest.py).

`DrivenAsyncCache` runs an `AsyncCache` on an event loop of its own thread. Test threads
call it as they would call `Cache`; concurrent calls from several threads become concurrent
tasks on that one loop, which is what an async service does. Plain loaders run in worker
threads (`asyncio.to_thread`), as an async service calls blocking code, so a loader that
sleeps or waits on an event does not stall the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from runtime.cache import AsyncCache, Cache, CacheMetrics, CacheOptions, WarmReport
from runtime.cache.local import LocalLayer
from runtime.connection import RedisConnection

T = TypeVar("T")


class CacheLike(Protocol):
    """`Cache`'s API, which `DrivenAsyncCache` also offers."""

    name: str
    options: CacheOptions
    metrics: CacheMetrics
    local: LocalLayer | None

    def wait_ready(self, timeout: float = 5.0) -> bool: ...
    def close(self) -> None: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...
    def get_or_load(
        self,
        key: str,
        loader: Callable[[], Any],
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> Any: ...
    def set(
        self, key: str, value: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None: ...
    def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None: ...
    def delete(self, *keys: str) -> int: ...
    def invalidate_tags(self, tags: Iterable[str]) -> int: ...
    def warm(
        self,
        keys: Iterable[str],
        loader: Callable[[list[str]], Mapping[str, Any]],
        ttl: float | None = None,
        tags: Iterable[str] = (),
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> WarmReport: ...


class LoopThread:
    """An event loop running in a daemon thread; `call` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="cache-test-loop", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def _offloaded(loader: Callable[..., Any]) -> Callable[..., Any]:
    async def run(*args: Any) -> Any:
        return await asyncio.to_thread(loader, *args)

    return run


class DrivenAsyncCache:
    def __init__(self, loop: LoopThread, cache: AsyncCache) -> None:
        self._loop = loop
        self.cache = cache
        self.name = cache.name
        self.options = cache.options
        self.metrics = cache.metrics
        self.local = cache.local

    def wait_ready(self, timeout: float = 5.0) -> bool:
        return self._loop.call(self.cache.start(timeout))

    def close(self) -> None:
        self._loop.call(self.cache.aclose())

    def get(self, key: str, default: Any = None) -> Any:
        return self._loop.call(self.cache.get(key, default))

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return self._loop.call(self.cache.get_many(keys))

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], Any],
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> Any:
        return self._loop.call(self.cache.get_or_load(key, _offloaded(loader), ttl, tags))

    def set(self, key: str, value: Any, ttl: float | None = None, tags: Iterable[str] = ()) -> None:
        self._loop.call(self.cache.set(key, value, ttl, tags))

    def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        self._loop.call(self.cache.set_many(items, ttl, tags))

    def delete(self, *keys: str) -> int:
        return self._loop.call(self.cache.delete(*keys))

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        return self._loop.call(self.cache.invalidate_tags(tags))

    def warm(
        self,
        keys: Iterable[str],
        loader: Callable[[list[str]], Mapping[str, Any]],
        ttl: float | None = None,
        tags: Iterable[str] = (),
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> WarmReport:
        return self._loop.call(
            self.cache.warm(keys, _offloaded(loader), ttl, tags, batch_size, concurrency)
        )


class CacheFactory:
    """Builds caches of one shell on a test's Redis and closes them all afterwards.

    `factory("name", ttl=60)` is `Cache("name", conn.sync, ttl=60)` or its async twin;
    `connection=` puts the cache on another `RedisConnection` (a dead one, a test's own)."""

    def __init__(self, shell: str, conn: RedisConnection) -> None:
        self.shell = shell
        self.conn = conn
        self._loop = LoopThread() if shell == "async" else None
        self._caches: list[CacheLike] = []
        self._connections: list[RedisConnection] = []

    def __call__(
        self, name: str, *, connection: RedisConnection | None = None, **options: Any
    ) -> CacheLike:
        target = connection or self.conn
        cache: CacheLike
        if self._loop is None:
            cache = Cache(name, target.sync, **options)
        else:
            if target not in self._connections:
                self._connections.append(target)

            async def build() -> AsyncCache:
                return AsyncCache(name, target.aio, **options)

            cache = DrivenAsyncCache(self._loop, self._loop.call(build()))
        self._caches.append(cache)
        return cache

    def close(self) -> None:
        for cache in self._caches:
            cache.close()
        if self._loop is not None:
            for conn in self._connections:
                self._loop.call(conn.aclose())
            self._loop.stop()
