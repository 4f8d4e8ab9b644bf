"""`Cache`: the two-layer cache for sync code (threads, WSGI, scripts)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from runtime.cache.codec import Codec
from runtime.cache.core import (
    MAX_INVALIDATE_ATTEMPTS,
    CacheCore,
    HitState,
    WarmReport,
    check_key,
    check_tags,
    default_rand,
    new_token,
    sync_gate,
)
from runtime.cache.envelope import Envelope
from runtime.cache.errors import CacheError, CacheUnavailableError
from runtime.cache.flight import SingleFlight
from runtime.cache.invalidation import InvalidationListener
from runtime.cache.metrics import CacheMetrics
from runtime.cache.policy import CacheOptions
from runtime.cache.scripts import Scripts
from runtime.errors import PayloadError
from runtime.redis_outage import REDIS_UNAVAILABLE

T = TypeVar("T")
log = logging.getLogger("castiel.cache")


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
        self._slot = sync_gate(client)
        self._flights = SingleFlight()
        self._refreshing: set[str] = set()
        self._refresh_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._listener: InvalidationListener | None = None
        if core.local is not None:
            self._listener = InvalidationListener(
                client, core.keys.channel, name, core.origin, core.local, core.m
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
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The fresh value, or `default` on a miss or a cached "not found"."""
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
            with self._slot:
                raw = self.client.get(self._prefix + key)
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

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Fresh values of the keys that have one (one MGET for those not held locally)."""
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
            with self._slot:
                raws = self.client.mget([core.keys.value(k) for k in rest])
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
            return self._degraded(key, loader)
        try:
            with self._slot:
                raw = self.client.get(self._prefix + check_key(key))
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return self._degraded(key, loader)
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
                    return self._refresh_now(key, loader, ttl, tag_tuple, env, ticket)
                if state is HitState.STALE:
                    core.m.stale.inc()
                    self._refresh_later(key, loader, ttl, tag_tuple)
                    return env.value  # type: ignore[no-any-return]
        self._redis_counts.miss()
        return self._single_flight(key, loader, ttl, tag_tuple)

    # -- writing --------------------------------------------------------------------------

    def set(self, key: str, value: Any, ttl: float | None = None, tags: Iterable[str] = ()) -> None:
        self.set_many({key: value}, ttl, tags)

    def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Write values (one script call, one round trip); `tags` apply to every key.
        In fail-open mode an unreachable Redis only counts an error: a lost write is a miss."""
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
            with self._slot:
                self._scripts.set_many(keys=write.keys, args=write.args)
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

    def delete(self, *keys: str) -> int:
        """Delete keys everywhere: Redis, this process's layer, then (through pub/sub) every
        other process's layer. Raises CacheUnavailableError if Redis is unreachable: an
        invalidation must never look done when it is not."""
        if not keys:
            return 0
        key_list = list(keys)
        script_keys, args = self._core.delete_call(key_list)
        try:
            with self._slot:
                removed = int(self._scripts.delete(keys=script_keys, args=args))
        except REDIS_UNAVAILABLE as exc:
            self._core.outage.failed(exc)
            raise CacheUnavailableError(
                f"cache {self.name!r}: Redis unreachable, keys not deleted"
            ) from exc
        if self.local is not None:
            self.local.invalidate(key_list)
        return removed

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every key carrying any of the tags, atomically (one Lua script with every
        key declared; retried if the tag sets change under it). Returns keys removed."""
        tag_tuple = check_tags(tags)
        if not tag_tuple:
            return 0
        members: list[str] = []
        for _ in range(MAX_INVALIDATE_ATTEMPTS):
            script_keys, args = self._core.invalidate_call(tag_tuple, members)
            try:
                with self._slot:
                    reply = self._scripts.invalidate_tags(keys=script_keys, args=args)
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
        started = time.monotonic()
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        tag_tuple = check_tags(tags)
        size = batch_size or self.options.warm_batch
        batches = [wanted[i : i + size] for i in range(0, len(wanted), size)]
        report = WarmReport(requested=len(wanted))
        workers = min(len(batches), concurrency or self.options.warm_concurrency) or 1
        with ThreadPoolExecutor(workers, thread_name_prefix=f"castiel-warm-{self.name}") as pool:
            for part in pool.map(lambda b: self._warm_batch(b, loader, ttl, tag_tuple), batches):
                report.add(part)
        report.seconds = time.monotonic() - started
        return report

    def _warm_batch(
        self,
        batch: list[str],
        loader: Callable[[list[str]], Mapping[str, Any]],
        ttl: float | None,
        tags: tuple[str, ...],
    ) -> WarmReport:
        core = self._core
        try:
            with self._slot, self.client.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.exists(core.keys.value(key))
                present = pipe.execute()
            missing = [k for k, there in zip(batch, present, strict=True) if not there]
            if not missing:
                return WarmReport(present=len(batch))
            started = time.perf_counter()
            found = dict(loader(missing))
            seconds = time.perf_counter() - started
            core.m.load_duration.observe(seconds)
            core.m.loads_ok.inc()
            items = {k: found.get(k) for k in missing}
            if self.options.negative_ttl <= 0:
                items = {k: v for k, v in items.items() if v is not None}
            write = core.set_many_write(items, ttl, tags, nx=True, load_ms=int(seconds * 1000))
            if items:
                with self._slot:
                    self._scripts.set_many(keys=write.keys, args=write.args)
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

    def _degraded(self, key: str, loader: Callable[[], T | None]) -> T | None:
        """Redis is down: fail open (the loader, single-flight within this process, nothing
        cached) or closed."""
        if not self.options.fail_open:
            raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable")
        flight, leader = self._flights.join(key)
        if not leader and flight.done.wait(self.options.wait_seconds):
            return flight.result()  # type: ignore[no-any-return]
        try:
            value, _ = self._call(loader)
        except BaseException as exc:
            if leader:
                self._flights.finish(key, flight, error=exc)
            raise
        if leader:
            self._flights.finish(key, flight, value)
        return value

    def _single_flight(
        self, key: str, loader: Callable[[], T | None], ttl: float | None, tags: tuple[str, ...]
    ) -> T | None:
        flight, leader = self._flights.join(key)
        if not leader:
            if flight.done.wait(self.options.wait_seconds):
                return flight.result()  # type: ignore[no-any-return]
            return self._fill(key, loader, ttl, tags)  # the leader is stuck: go on alone
        try:
            value = self._fill(key, loader, ttl, tags)
        except BaseException as exc:
            self._flights.finish(key, flight, error=exc)
            raise
        self._flights.finish(key, flight, value)
        return value

    def _fill(
        self, key: str, loader: Callable[[], T | None], ttl: float | None, tags: tuple[str, ...]
    ) -> T | None:
        """Across processes: take the Redis lock and load, or wait for the holder's value.
        A crashed holder's lock expires after lock_timeout and the next poll takes it."""
        core = self._core
        o = self.options
        token = new_token()
        ticket = self.local.ticket() if self.local is not None else 0
        deadline = time.monotonic() + o.wait_seconds
        script_keys = core.lock_keys(key)
        lock_args = [token, core.lock_px]
        while True:
            try:
                with self._slot:
                    reply = self._scripts.fetch_or_lock(keys=script_keys, args=lock_args)
            except REDIS_UNAVAILABLE as exc:
                core.outage.failed(exc)
                if not o.fail_open:
                    raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable") from exc
                return self._call(loader)[0]
            status = int(reply[0])
            if status == 1:
                env = core.decode(reply[1])
                if env is not None:
                    core.remember(key, env, ticket)
                    return None if env.negative else env.value
                return self._call(loader)[0]
            if status == 2:
                return self._load_and_fill(key, loader, ttl, tags, token, reply[1], ticket)
            if time.monotonic() >= deadline:
                log.warning(
                    "cache %r: waited %.1fs for another process to load %r; loading here",
                    self.name,
                    o.wait_seconds,
                    key,
                )
                value, load_ms = self._call(loader)
                self._write_if_absent(key, value, ttl, tags, load_ms)
                return value
            time.sleep(o.poll_interval)

    def _load_and_fill(
        self,
        key: str,
        loader: Callable[[], T | None],
        ttl: float | None,
        tags: tuple[str, ...],
        token: str,
        epoch: bytes | str,
        ticket: int,
    ) -> T | None:
        core = self._core
        try:
            value, load_ms = self._call(loader)
        except BaseException:
            self._release(key, token)
            raise
        if value is None and self.options.negative_ttl <= 0:
            self._release(key, token)
            return None
        write = core.fill_write(key, value, ttl, tags, token, epoch, load_ms)
        try:
            with self._slot:
                written = int(self._scripts.fill(keys=write.keys, args=write.args))
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            return value
        if written == 1:
            core.remember(key, write.envelopes[key], ticket)
        return value

    def _write_if_absent(
        self, key: str, value: Any, ttl: float | None, tags: tuple[str, ...], load_ms: int
    ) -> None:
        if value is None and self.options.negative_ttl <= 0:
            return
        write = self._core.set_many_write({key: value}, ttl, tags, nx=True, load_ms=load_ms)
        try:
            with self._slot:
                self._scripts.set_many(keys=write.keys, args=write.args)
        except REDIS_UNAVAILABLE as exc:
            self._core.outage.failed(exc)

    def _release(self, key: str, token: str) -> None:
        try:
            with self._slot:
                self._scripts.release(keys=[self._core.keys.lock(key)], args=[token])
        except REDIS_UNAVAILABLE as exc:  # the lock expires by itself
            self._core.outage.failed(exc)

    def _call(self, loader: Callable[[], T | None]) -> tuple[T | None, int]:
        m = self._core.m
        started = time.perf_counter()
        try:
            value = loader()
        except BaseException:
            m.loads_error.inc()
            raise
        seconds = time.perf_counter() - started
        m.loaded(value, seconds)
        return value, int(seconds * 1000)

    # -- refreshing -----------------------------------------------------------------------

    def _refresh_now(
        self,
        key: str,
        loader: Callable[[], T | None],
        ttl: float | None,
        tags: tuple[str, ...],
        current: Envelope,
        ticket: int,
    ) -> T | None:
        """XFetch picked this caller: recompute now if nobody else is (the lock), else keep
        answering with the current value."""
        core = self._core
        token = new_token()
        try:
            with self._slot:
                epoch = self._scripts.acquire(
                    keys=[core.keys.lock(key), core.keys.epoch], args=[token, core.lock_px]
                )
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
            epoch = None
        if epoch is None:
            return None if current.negative else current.value
        core.m.early_refreshes.inc()
        return self._load_and_fill(key, loader, ttl, tags, token, epoch, ticket)

    def _refresh_later(
        self, key: str, loader: Callable[[], T | None], ttl: float | None, tags: tuple[str, ...]
    ) -> None:
        """Stale-while-revalidate: one background refresh per key in this process, and one
        across processes (the Redis lock)."""
        with self._refresh_lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    2, thread_name_prefix=f"castiel-cache-{self.name}-refresh"
                )
        self._executor.submit(self._background_refresh, key, loader, ttl, tags)

    def _background_refresh(
        self, key: str, loader: Callable[[], T | None], ttl: float | None, tags: tuple[str, ...]
    ) -> None:
        core = self._core
        try:
            ticket = self.local.ticket() if self.local is not None else 0
            token = new_token()
            with self._slot:
                epoch = self._scripts.acquire(
                    keys=[core.keys.lock(key), core.keys.epoch], args=[token, core.lock_px]
                )
            if epoch is not None:
                core.m.early_refreshes.inc()
                self._load_and_fill(key, loader, ttl, tags, token, epoch, ticket)
        except REDIS_UNAVAILABLE as exc:
            core.outage.failed(exc)
        except Exception as exc:  # the stale value keeps being served; say why it stays
            log.warning("cache %r: background refresh of %r failed: %s", self.name, key, exc)
        finally:
            with self._refresh_lock:
                self._refreshing.discard(key)
