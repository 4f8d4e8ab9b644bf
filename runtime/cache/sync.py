"""`Cache`: the two-layer cache for sync code (threads, WSGI, scripts). A shell: it performs
the steps `CacheOps` (runtime/cache/ops.py) yields with plain calls, and decides nothing."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis.cluster

from runtime.cache.codec import Codec
from runtime.cache.core import WarmReport, pool_limit
from runtime.cache.flight import SingleFlight
from runtime.cache.invalidation import InvalidationListener
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


def _gate(client: Any) -> Any:
    """Redis Cluster clients raise MaxConnectionsError instead of waiting when a node's pool
    is exhausted (standalone clients here use a blocking pool), so cluster calls queue behind
    a semaphore of the pool's size. A no-op otherwise."""
    if isinstance(client, redis.cluster.RedisCluster):
        kwargs = getattr(client.nodes_manager, "connection_kwargs", None)
        return threading.BoundedSemaphore(pool_limit(kwargs))
    return contextlib.nullcontext()


class Cache:
    """A named cache on a sync Redis client (`connect(url).sync`, standalone or cluster).

        shards = Cache("shard-types", conn.sync, ttl=7200, jitter=0.05)
        kind = shards.get_or_load(shard_id, lambda: db.shard_type(shard_id))

    Options: see `CacheOptions` (keyword overrides accepted). `metrics`: share one
    `CacheMetrics` per process (`CacheMetrics.from_runtime(worker.metrics)`). `clock` gives
    epoch seconds (entries carry wall-clock expiry, so processes must agree on time).
    With `local_max_entries` > 0 an in-process layer is kept, fed by a listener thread; call
    `close()` (or use `with`) when done."""

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
        self._flights = SingleFlight()
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._listener: InvalidationListener | None = None
        if ops.local is not None:
            core = ops.core
            self._listener = InvalidationListener(
                client, core.keys.channel, name, core.origin, ops.local, core.m
            )
            self._listener.start()

    # -- lifecycle ------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until the in-process layer is usable (its listener subscribed)."""
        if self.local is None:
            return True
        deadline = time.monotonic() + timeout
        while not self.local.ready:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API --------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The fresh value, or `default` on a miss or a cached "not found"."""
        local = self.local
        if local is not None:  # the in-process hit, inlined: see CacheOps
            env = local.get(key, self._clock())
            if env is not None:
                return default if env.negative else env.value
        ops = self._ops  # the Redis layer: decide, call, parse (see CacheOps.before_read)
        ticket = ops.before_read()
        if ticket is None:
            return ops.unavailable(default)
        try:
            with self._slot:
                raw = self.client.get(ops.prefix + key)
        except REDIS_UNAVAILABLE as exc:
            return ops.read_failed(exc, default)
        return ops.read_reply(key, raw, ticket, default)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Fresh values of the keys that have one (one MGET for those not held locally)."""
        return self._run(self._ops.get_many(keys))

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], T | None],
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> T | None:
        """The cached value, or the loader's (cached for `ttl`, tagged with `tags`).

        The loader runs once per key across all processes (Redis lock), others wait for its
        value. A loader result of None means "not found" and is cached for `negative_ttl`."""
        local = self.local
        if local is not None:
            env = local.get(key, self._clock())
            if env is not None:
                return None if env.negative else env.value
        return self._run(self._ops.get_or_load(key, ttl, tags), loader)  # type: ignore[no-any-return]

    def set(self, key: str, value: Any, ttl: float | None = None, tags: Iterable[str] = ()) -> None:
        self.set_many({key: value}, ttl, tags)

    def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Write values (one script call, one round trip); `tags` apply to every key.
        In fail-open mode an unreachable Redis only counts an error: a lost write is a miss."""
        self._run(self._ops.set_many(items, ttl, tags))

    def delete(self, *keys: str) -> int:
        """Delete keys everywhere: Redis, this process's layer, then (through pub/sub) every
        other process's layer. Raises CacheUnavailableError if Redis is unreachable: an
        invalidation must never look done when it is not."""
        return self._run(self._ops.delete(keys))

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every key carrying any of the tags, atomically (one Lua script with every
        key declared; retried if the tag sets change under it). Returns keys removed."""
        return self._run(self._ops.invalidate_tags(tags))

    def warm(
        self,
        keys: Iterable[str],
        loader: Callable[[list[str]], Mapping[str, Any]],
        ttl: float | None = None,
        tags: Iterable[str] = (),
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> WarmReport:
        """Load keys that are not cached yet, in batches: one pipelined EXISTS round trip
        per batch, `loader(missing_keys) -> {key: value}` (keys it leaves out are cached as
        "not found"), one script call to write them (only where still absent). At most
        `concurrency` batches run at once."""
        plan = self._ops.warm_plan(keys, tags, batch_size, concurrency)
        workers = min(len(plan.batches), plan.concurrency) or 1
        with ThreadPoolExecutor(workers, thread_name_prefix=f"castiel-warm-{self.name}") as pool:
            parts = pool.map(
                lambda b: self._run(self._ops.warm_batch(b, ttl, plan.tags), loader),
                plan.batches,
            )
            return plan.report(parts)

    # -- performing steps -----------------------------------------------------------------

    def _run(self, steps: Steps[R], loader: Callable[..., Any] | None = None) -> R:
        """Drive one operation: perform each step, send its result back or throw its
        exception in, until the operation returns."""
        try:
            step = steps.send(None)
            while True:
                try:
                    reply = self._perform(step, loader)
                except BaseException as exc:
                    step = steps.throw(exc)
                else:
                    step = steps.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _perform(self, step: Step, loader: Callable[..., Any] | None) -> Any:
        match step:
            case Get(key):
                with self._slot:
                    return self.client.get(key)
            case Script(name, keys, args):
                with self._slot:
                    return self._scripts[name](keys=keys, args=args)
            case MGet(keys):
                with self._slot:
                    return self.client.mget(keys)
            case Exists(keys):
                with self._slot, self.client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.exists(key)
                    return pipe.execute()
            case Load(args):
                assert loader is not None
                return loader(*args)
            case Sleep(seconds):
                time.sleep(seconds)
                return None
            case Flight(key, steps, wait):
                return self._flights.run(key, lambda: self._run(steps, loader), wait)
            case Background(steps, done):
                self._background(steps, loader, done)
                return None
        raise TypeError(f"not a cache step: {step!r}")

    def _background(
        self, steps: Steps[None], loader: Callable[..., Any] | None, done: Callable[[], None]
    ) -> None:
        def run() -> None:
            try:
                self._run(steps, loader)
            finally:
                done()

        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    2, thread_name_prefix=f"castiel-cache-{self.name}-refresh"
                )
            try:
                self._pool.submit(run)
            except RuntimeError:  # closed: the refresh is dropped, the stale value stays
                done()
