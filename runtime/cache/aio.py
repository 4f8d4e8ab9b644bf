"""`AsyncCache`: the two-layer cache for asyncio code (ASGI apps, async workers). Same
behaviour and Redis layout as `Cache`; loaders may be coroutine functions or plain ones."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis.asyncio.cluster

from runtime.cache.codec import Codec
from runtime.cache.core import (
    MAX_INVALIDATE_ATTEMPTS,
    CacheCore,
    HitState,
    WarmReport,
    async_gate,
    check_key,
    check_tags,
    default_rand,
    new_token,
)
from runtime.cache.envelope import Envelope
from runtime.cache.errors import CacheError, CacheUnavailableError
from runtime.cache.flight import AsyncSingleFlight
from runtime.cache.invalidation import AsyncInvalidationListener
from runtime.cache.metrics import CacheMetrics
from runtime.cache.policy import CacheOptions
from runtime.cache.scripts import Scripts
from runtime.errors import PayloadError
from runtime.redis_outage import REDIS_UNAVAILABLE

T = TypeVar("T")
Loader = Callable[[], Awaitable[T | None] | T | None]
BatchLoader = Callable[[list[str]], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]
log = logging.getLogger("castiel.cache")


class _LeaderGone(Exception):
    """The leading load was cancelled; followers load by themselves."""


async def _resolve(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


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
        self._core = core = CacheCore(
            name, options, overrides, codec, metrics, clock, rand or default_rand()
        )
        self.client = client
        self.name = name
        self.options = core.options
        self.metrics = core.metrics
        self.local = core.local
        self._clock = clock
        self._redis_counts = core.m.redis
        self._prefix = core.keys.value_prefix
        self._scripts = Scripts(client)
        self._slot = async_gate(client)
        self._flights = AsyncSingleFlight()
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        # redis-py 8.1's asyncio RedisCluster can break connections when many tasks hit a
        # cold client at once; discovering the topology first (once) avoids that.
        self._pending_init = isinstance(client, redis.asyncio.cluster.RedisCluster)
        self._init_task: asyncio.Task[None] | None = None
        self._listener: AsyncInvalidationListener | None = None
        if core.local is not None:
            self._listener = AsyncInvalidationListener(
                client, core.keys.channel, name, core.origin, core.local, core.m
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
                self._core.outage.failed(exc)
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
        for task in list(self._refreshing.values()):
            task.cancel()
        if self._refreshing:
            await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def __aenter__(self) -> AsyncCache:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- reading --------------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        local = self.local
        ticket = 0
        if local is not None:
            env = local.get(key, self._clock())
            if env is not None:
                return default if env.negative else env.value
            ticket = local.ticket()
        core = self._core
        if not core.outage.available():
            core.outage.skipped()
            return self._unavailable(default)
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot:
                raw = await self.client.get(self._prefix + key)
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return self._unavailable(default)
        if core.outage.since is not None:
            core.outage.ok()
        if raw is not None:
            env = core.decode(raw)
            if env is not None and self._clock() * 1000 < env.fresh_until_ms:
                self._redis_counts.hit()
                if local is not None:
                    core.remember(key, env, ticket)
                return default if env.negative else env.value
        self._redis_counts.miss()
        return default

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        core = self._core
        out: dict[str, Any] = {}
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        local = self.local
        ticket = local.ticket() if local is not None else 0
        rest: list[str] = []
        for key in wanted:
            env = local.get(key, self._clock()) if local is not None else None
            if env is None:
                rest.append(key)
            elif not env.negative:
                out[key] = env.value
        if not rest:
            return out
        if not core.outage.available():
            core.outage.skipped()
            return self._unavailable(out)
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot:
                raws = await self.client.mget([core.keys.value(k) for k in rest])
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return self._unavailable(out)
        core.outage.ok()
        now_ms = self._clock() * 1000
        for key, raw in zip(rest, raws, strict=True):
            env = core.decode(raw) if raw is not None else None
            if env is None or now_ms >= env.fresh_until_ms:
                self._redis_counts.miss()
                continue
            self._redis_counts.hit()
            core.remember(key, env, ticket)
            if not env.negative:
                out[key] = env.value
        return out

    async def get_or_load(
        self, key: str, loader: Loader[T], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> T | None:
        """As `Cache.get_or_load`; `loader` may be async."""
        local = self.local
        ticket = 0
        if local is not None:
            env = local.get(key, self._clock())
            if env is not None:
                return None if env.negative else env.value
            ticket = local.ticket()
        core = self._core
        tag_tuple = check_tags(tags) if tags else ()
        if not core.outage.available():
            core.outage.skipped()
            return await self._degraded(key, loader)
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot:
                raw = await self.client.get(self._prefix + check_key(key))
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return await self._degraded(key, loader)
        if core.outage.since is not None:
            core.outage.ok()
        if raw is not None:
            env = core.decode(raw)
            if env is not None:
                state = core.classify(env, self._clock() * 1000)
                if state is HitState.FRESH:
                    self._redis_counts.hit()
                    if local is not None:
                        core.remember(key, env, ticket)
                    return None if env.negative else env.value
                if state is HitState.REFRESH:
                    self._redis_counts.hit()
                    return await self._refresh_now(key, loader, ttl, tag_tuple, env, ticket)
                if state is HitState.STALE:
                    core.m.stale.inc()
                    self._refresh_later(key, loader, ttl, tag_tuple)
                    return env.value  # type: ignore[no-any-return]
        self._redis_counts.miss()
        return await self._single_flight(key, loader, ttl, tag_tuple)

    # -- writing --------------------------------------------------------------------------

    async def set(
        self, key: str, value: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        await self.set_many({key: value}, ttl, tags)

    async def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        if not items:
            return
        if any(v is None for v in items.values()):
            raise PayloadError(
                f"cache {self.name!r}: None means 'not found'; delete() the key instead"
            )
        core = self._core
        ticket = self.local.ticket() if self.local is not None else 0
        write = core.set_many_write(items, ttl, tags)
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot:
                await self._scripts.set_many(keys=write.keys, args=write.args)
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            if not self.options.fail_open:
                raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable") from exc
            if self.local is not None:
                for key in items:
                    self.local.discard(key)
            return
        core.outage.ok()
        for key, env in write.envelopes.items():
            core.remember(key, env, ticket)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        key_list = list(keys)
        script_keys, args = self._core.delete_call(key_list)
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot:
                removed = int(await self._scripts.delete(keys=script_keys, args=args))
        except REDIS_UNAVAILABLE as exc:
            self._core.outage.failed(exc)
            raise CacheUnavailableError(
                f"cache {self.name!r}: Redis unreachable, keys not deleted"
            ) from exc
        if self.local is not None:
            self.local.invalidate(key_list)
        return removed

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        tag_tuple = check_tags(tags)
        if not tag_tuple:
            return 0
        members: list[str] = []
        for _ in range(MAX_INVALIDATE_ATTEMPTS):
            script_keys, args = self._core.invalidate_call(tag_tuple, members)
            try:
                if self._pending_init:
                    await self._init_cluster()
                async with self._slot:
                    reply = await self._scripts.invalidate_tags(keys=script_keys, args=args)
            except REDIS_UNAVAILABLE as exc:
                self._core.outage.failed(exc)
                raise CacheUnavailableError(
                    f"cache {self.name!r}: Redis unreachable, tags not invalidated"
                ) from exc
            if int(reply[0]) == 1:
                if self.local is not None:
                    self.local.invalidate(members, tag_tuple)
                return int(reply[1])
            members.extend(self._core.members(reply[1]))
        raise CacheError(
            f"cache {self.name!r}: tags {list(tag_tuple)} kept changing during invalidation"
        )

    # -- warming --------------------------------------------------------------------------

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
        started = time.monotonic()
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        tag_tuple = check_tags(tags)
        size = batch_size or self.options.warm_batch
        gate = asyncio.Semaphore(concurrency or self.options.warm_concurrency)

        async def one(batch: list[str]) -> WarmReport:
            async with gate:
                return await self._warm_batch(batch, loader, ttl, tag_tuple)

        parts = await asyncio.gather(
            *(one(wanted[i : i + size]) for i in range(0, len(wanted), size))
        )
        report = WarmReport(requested=len(wanted))
        for part in parts:
            report.add(part)
        report.seconds = time.monotonic() - started
        return report

    async def _warm_batch(
        self, batch: list[str], loader: BatchLoader, ttl: float | None, tags: tuple[str, ...]
    ) -> WarmReport:
        core = self._core
        try:
            if self._pending_init:
                await self._init_cluster()
            async with self._slot, self.client.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.exists(core.keys.value(key))
                present = await pipe.execute()
            missing = [k for k, there in zip(batch, present, strict=True) if not there]
            if not missing:
                return WarmReport(present=len(batch))
            started = time.perf_counter()
            found = dict(await _resolve(loader(missing)))
            seconds = time.perf_counter() - started
            core.m.load_duration.observe(seconds)
            core.m.loads_ok.inc()
            items = {k: found.get(k) for k in missing}
            if self.options.negative_ttl <= 0:
                items = {k: v for k, v in items.items() if v is not None}
            write = core.set_many_write(items, ttl, tags, nx=True, load_ms=int(seconds * 1000))
            if items:
                async with self._slot:
                    await self._scripts.set_many(keys=write.keys, args=write.args)
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return WarmReport(failed=len(batch), errors=[f"Redis unreachable: {exc}"])
        except Exception as exc:  # a loader failure fails its batch, not the whole warm-up
            core.m.loads_error.inc()
            log.warning("cache %r: warming a batch failed: %s", self.name, exc)
            return WarmReport(failed=len(batch), errors=[f"{type(exc).__name__}: {exc}"])
        not_found = sum(1 for k in missing if found.get(k) is None)
        return WarmReport(
            present=len(batch) - len(missing),
            loaded=len(missing) - not_found,
            not_found=not_found,
        )

    # -- loading --------------------------------------------------------------------------

    def _unavailable(self, default: T) -> T:
        if not self.options.fail_open:
            raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable")
        return default

    async def _degraded(self, key: str, loader: Loader[T]) -> T | None:
        if not self.options.fail_open:
            raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable")
        return await self._led(key, lambda: self._call_only(loader))

    async def _call_only(self, loader: Loader[T]) -> T | None:
        return (await self._call(loader))[0]

    async def _led(self, key: str, work: Callable[[], Awaitable[T | None]]) -> T | None:
        """Run `work` once per key in this process; followers wait (with a deadline) for
        the leader's result and go on alone if it is stuck or cancelled."""
        flight, leader = self._flights.join(key)
        if not leader:
            try:
                return await asyncio.wait_for(asyncio.shield(flight), self.options.wait_seconds)
            except (TimeoutError, _LeaderGone):
                return await work()
        try:
            value = await work()
        except asyncio.CancelledError:
            self._flights.finish(key, flight, error=_LeaderGone())
            raise
        except BaseException as exc:
            self._flights.finish(key, flight, error=exc)
            raise
        self._flights.finish(key, flight, value)
        return value

    async def _single_flight(
        self, key: str, loader: Loader[T], ttl: float | None, tags: tuple[str, ...]
    ) -> T | None:
        return await self._led(key, lambda: self._fill(key, loader, ttl, tags))

    async def _fill(
        self, key: str, loader: Loader[T], ttl: float | None, tags: tuple[str, ...]
    ) -> T | None:
        core = self._core
        o = self.options
        token = new_token()
        ticket = self.local.ticket() if self.local is not None else 0
        deadline = time.monotonic() + o.wait_seconds
        script_keys = core.lock_keys(key)
        while True:
            try:
                async with self._slot:
                    reply = await self._scripts.fetch_or_lock(
                        keys=script_keys, args=[token, core.lock_px]
                    )
            except REDIS_UNAVAILABLE as exc:
                core.outage.failed(exc)
                if not o.fail_open:
                    raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable") from exc
                return await self._call_only(loader)
            status = int(reply[0])
            if status == 1:
                env = core.decode(reply[1])
                if env is not None:
                    core.remember(key, env, ticket)
                    return None if env.negative else env.value
                return await self._call_only(loader)
            if status == 2:
                return await self._load_and_fill(key, loader, ttl, tags, token, reply[1], ticket)
            if time.monotonic() >= deadline:
                log.warning(
                    "cache %r: waited %.1fs for another process to load %r; loading here",
                    self.name,
                    o.wait_seconds,
                    key,
                )
                value, load_ms = await self._call(loader)
                await self._write_if_absent(key, value, ttl, tags, load_ms)
                return value
            await asyncio.sleep(o.poll_interval)

    async def _load_and_fill(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None,
        tags: tuple[str, ...],
        token: str,
        epoch: bytes | str,
        ticket: int,
    ) -> T | None:
        core = self._core
        try:
            value, load_ms = await self._call(loader)
        except BaseException:
            await asyncio.shield(self._release(key, token))
            raise
        if value is None and self.options.negative_ttl <= 0:
            await self._release(key, token)
            return None
        write = core.fill_write(key, value, ttl, tags, token, epoch, load_ms)
        try:
            async with self._slot:
                written = int(await self._scripts.fill(keys=write.keys, args=write.args))
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return value
        if written == 1:
            core.remember(key, write.envelopes[key], ticket)
        return value

    async def _write_if_absent(
        self, key: str, value: Any, ttl: float | None, tags: tuple[str, ...], load_ms: int
    ) -> None:
        if value is None and self.options.negative_ttl <= 0:
            return
        write = self._core.set_many_write({key: value}, ttl, tags, nx=True, load_ms=load_ms)
        try:
            async with self._slot:
                await self._scripts.set_many(keys=write.keys, args=write.args)
        except REDIS_UNAVAILABLE as exc:
            self._core.outage.failed(exc)

    async def _release(self, key: str, token: str) -> None:
        try:
            async with self._slot:
                await self._scripts.release(keys=[self._core.keys.lock(key)], args=[token])
        except REDIS_UNAVAILABLE as exc:  # the lock expires by itself
            self._core.outage.failed(exc)

    async def _call(self, loader: Loader[T]) -> tuple[T | None, int]:
        m = self._core.m
        started = time.perf_counter()
        try:
            value = await _resolve(loader())
        except BaseException:
            m.loads_error.inc()
            raise
        seconds = time.perf_counter() - started
        m.loaded(value, seconds)
        return value, int(seconds * 1000)

    # -- refreshing -----------------------------------------------------------------------

    async def _acquire(self, key: str, token: str) -> Any:
        core = self._core
        try:
            async with self._slot:
                return await self._scripts.acquire(
                    keys=[core.keys.lock(key), core.keys.epoch], args=[token, core.lock_px]
                )
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return None

    async def _refresh_now(
        self,
        key: str,
        loader: Loader[T],
        ttl: float | None,
        tags: tuple[str, ...],
        current: Envelope,
        ticket: int,
    ) -> T | None:
        token = new_token()
        epoch = await self._acquire(key, token)
        if epoch is None:
            return None if current.negative else current.value
        self._core.m.early_refreshes.inc()
        return await self._load_and_fill(key, loader, ttl, tags, token, epoch, ticket)

    def _refresh_later(
        self, key: str, loader: Loader[T], ttl: float | None, tags: tuple[str, ...]
    ) -> None:
        if key in self._refreshing:
            return
        task = asyncio.get_running_loop().create_task(
            self._background_refresh(key, loader, ttl, tags)
        )
        self._refreshing[key] = task
        task.add_done_callback(lambda _: self._refreshing.pop(key, None))

    async def _background_refresh(
        self, key: str, loader: Loader[T], ttl: float | None, tags: tuple[str, ...]
    ) -> None:
        try:
            ticket = self.local.ticket() if self.local is not None else 0
            token = new_token()
            epoch = await self._acquire(key, token)
            if epoch is not None:
                self._core.m.early_refreshes.inc()
                await self._load_and_fill(key, loader, ttl, tags, token, epoch, ticket)
        except Exception as exc:  # the stale value keeps being served; say why it stays
            log.warning("cache %r: background refresh of %r failed: %s", self.name, key, exc)
