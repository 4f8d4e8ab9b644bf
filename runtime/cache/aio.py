"""`AsyncCache`: the two-layer cache for asyncio code (ASGI apps, async workers). Same
behaviour and Redis layout as `Cache`, from the same `CacheOps`; this shell performs the
steps with awaits. Loaders may be coroutine functions or plain ones."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis.asyncio.cluster

from runtime.cache.codec import Codec
from runtime.cache.core import WarmReport, pool_limit
from runtime.cache.flight import AsyncSingleFlight
from runtime.cache.invalidation import AsyncInvalidationListener
from runtime.cache.metrics import CacheMetrics
from runtime.cache.ops import CacheOps
from runtime.cache.policy import CacheOptions
from runtime.cache.scripts import register_scripts
from runtime.cache.steps import (
    Background,
    Exists,
    Flight,
    Get,
    Load,
    MGet,
    Script,
    Sleep,
    Step,
    Steps,
)
from runtime.redis_outage import REDIS_UNAVAILABLE

T = TypeVar("T")
R = TypeVar("R")
Loader = Callable[[], Awaitable[T | None] | T | None]
BatchLoader = Callable[[list[str]], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]


def _gate(client: Any) -> Any:
    """As `Cache`'s: cluster calls queue behind a semaphore of the pool's size."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        return asyncio.Semaphore(pool_limit(getattr(client, "connection_kwargs", None)))
    return contextlib.nullcontext()


class AsyncCache:
    """A named cache on an asyncio Redis client (`connect(url).aio`). Create it inside the
    event loop that uses it; with an in-process layer, `await cache.start()` (or
    `async with`) starts the invalidation listener and `await cache.aclose()` stops it."""

    def __init__(
        self,
        name: str,
        client: Any,
        options: CacheOptions | None = None,
        *,
        codec: Codec | None = None,
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] | None = None,
        **overrides: Any,
    ) -> None:
        self._ops = ops = CacheOps(name, options, overrides, codec, metrics, clock, rand)
        self.client = client
        self.name = name
        self.options = ops.options
        self.metrics = ops.core.metrics
        self.local = ops.local
        self._clock = clock
        self._scripts = register_scripts(client)
        self._slot = _gate(client)
        self._flights = AsyncSingleFlight()
        self._background_tasks: set[asyncio.Task[None]] = set()
        # redis-py 8.1's asyncio RedisCluster can break connections when many tasks hit a
        # cold client at once; discovering the topology first (once) avoids that.
        self._pending_init = isinstance(client, redis.asyncio.cluster.RedisCluster)
        self._init_task: asyncio.Task[None] | None = None
        self._listener: AsyncInvalidationListener | None = None
        if ops.local is not None:
            core = ops.core
            self._listener = AsyncInvalidationListener(
                client, core.keys.channel, name, core.origin, ops.local, core.m
            )

    # -- lifecycle ------------------------------------------------------------------------

    async def _init_cluster(self) -> None:
        if self._init_task is None:
            self._init_task = asyncio.get_running_loop().create_task(self.client.initialize())
        task = self._init_task
        try:
            await asyncio.shield(task)
        except BaseException:
            if self._init_task is task and task.done():
                self._init_task = None  # failed: the next call tries again
            raise
        self._pending_init = False

    async def start(self, timeout: float = 5.0) -> bool:
        """Start the listener and wait up to `timeout` for it to subscribe. True when the
        in-process layer is usable (always True without one)."""
        if self._pending_init:
            try:
                await self._init_cluster()
            except REDIS_UNAVAILABLE as exc:
                self._ops.outage.failed(exc)
        if self._listener is None or self.local is None:
            return True
        self._listener.start()
        deadline = time.monotonic() + timeout
        while not self.local.ready:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def aclose(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        tasks = list(self._background_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> AsyncCache:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the API (as `Cache`'s) -----------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        local = self.local
        if local is not None:
            env = local.get(key, self._clock())
            if env is not None:
                return default if env.negative else env.value
        ops = self._ops  # the Redis layer: decide, call, parse (see CacheOps.before_read)
        ticket = ops.before_read()
        if ticket is None:
            return ops.unavailable(default)
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot:
                raw = await self.client.get(ops.prefix + key)
        except REDIS_UNAVAILABLE as exc:
            return ops.read_failed(exc, default)
        return ops.read_reply(key, raw, ticket, default)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return await self._run(self._ops.get_many(keys))

    async def get_or_load(
        self, key: str, loader: Loader[T], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> T | None:
        """As `Cache.get_or_load`; `loader` may be async."""
        local = self.local
        if local is not None:
            env = local.get(key, self._clock())
            if env is not None:
                return None if env.negative else env.value
        return await self._run(self._ops.get_or_load(key, ttl, tags), loader)

    async def set(
        self, key: str, value: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        await self.set_many({key: value}, ttl, tags)

    async def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        await self._run(self._ops.set_many(items, ttl, tags))

    async def delete(self, *keys: str) -> int:
        return await self._run(self._ops.delete(keys))

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        return await self._run(self._ops.invalidate_tags(tags))

    async def warm(
        self,
        keys: Iterable[str],
        loader: BatchLoader,
        ttl: float | None = None,
        tags: Iterable[str] = (),
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> WarmReport:
        """As `Cache.warm`; `loader` may be async. Batches run under a semaphore."""
        plan = self._ops.warm_plan(keys, tags, batch_size, concurrency)
        gate = asyncio.Semaphore(plan.concurrency)

        async def one(batch: list[str]) -> WarmReport:
            async with gate:
                return await self._run(self._ops.warm_batch(batch, ttl, plan.tags), loader)

        return plan.report(await asyncio.gather(*(one(b) for b in plan.batches)))

    # -- performing steps -----------------------------------------------------------------

    async def _run(self, steps: Steps[R], loader: Callable[..., Any] | None = None) -> R:
        """Drive one operation: perform each step, send its result back or throw its
        exception (cancellation included) in, until the operation returns."""
        send, perform = steps.send, self._perform
        try:
            step = send(None)
            while True:
                try:
                    reply = await perform(step, loader)
                except BaseException as exc:
                    step = steps.throw(exc)
                else:
                    step = send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _perform(self, step: Step, loader: Callable[..., Any] | None) -> Any:
        if isinstance(step, (Get, MGet, Exists, Script)):
            if self._pending_init:
                await self._init_cluster()
            if isinstance(step, Script) and step.shielded:
                return await asyncio.shield(self._redis(step))
            return await self._redis(step)
        match step:
            case Load(args):
                assert loader is not None
                result = loader(*args)
                return await result if inspect.isawaitable(result) else result
            case Sleep(seconds):
                await asyncio.sleep(seconds)
                return None
            case Flight(key, steps, wait):
                return await self._flights.run(key, lambda: self._run(steps, loader), wait)
            case Background(steps, done):
                self._background(steps, loader, done)
                return None
        raise TypeError(f"not a cache step: {step!r}")

    async def _redis(self, step: Get | MGet | Exists | Script) -> Any:
        async with self._slot:
            match step:
                case Get(key):
                    return await self.client.get(key)
                case Script(name, keys, args):
                    return await self._scripts[name](keys=keys, args=args)
                case MGet(keys):
                    return await self.client.mget(keys)
                case Exists(keys):
                    async with self.client.pipeline(transaction=False) as pipe:
                        for key in keys:
                            pipe.exists(key)
                        return await pipe.execute()

    def _background(
        self, steps: Steps[None], loader: Callable[..., Any] | None, done: Callable[[], None]
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._run(steps, loader))
        self._background_tasks.add(task)

        def finished(_: asyncio.Task[None]) -> None:
            self._background_tasks.discard(task)
            done()

        task.add_done_callback(finished)
