"""`CacheOps`: every cache operation, written once, that `Cache` and `AsyncCache` perform.
All the decisions live here: which keys and scripts, what a reply means, when Redis counts as
down, when to load, wait, refresh early or serve stale, what to count. Multi-step operations
(`get_or_load`, warming, invalidation...) are generators of steps (runtime/cache/steps.py);
a plain `get` is split the queue's way (decide, call, parse), because it is the hot path.
The in-process hit is inlined in each shell: one more call would cost a fifth of it
(docs/benchmarks.md)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
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
)
from runtime.cache.envelope import Envelope
from runtime.cache.errors import CacheError, CacheUnavailableError
from runtime.cache.metrics import CacheMetrics
from runtime.cache.policy import CacheOptions
from runtime.cache.steps import (
    Background,
    Exists,
    Flight,
    Get,
    Load,
    MGet,
    Script,
    Sleep,
    Steps,
)
from runtime.errors import PayloadError
from runtime.redis_outage import REDIS_UNAVAILABLE

T = TypeVar("T")
log = logging.getLogger("castiel.cache")


@dataclass(frozen=True)
class WarmPlan:
    """`warm`'s batches; the shells run `CacheOps.warm_batch` for each, at most
    `concurrency` at once, and hand the parts to `report`."""

    batches: list[list[str]]
    tags: tuple[str, ...]
    concurrency: int
    requested: int
    started: float

    def report(self, parts: Iterable[WarmReport]) -> WarmReport:
        out = WarmReport(requested=self.requested)
        for part in parts:
            out.add(part)
        out.seconds = time.monotonic() - self.started
        return out


class _Claims:
    """Keys with a background refresh running in this process (at most one per key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()

    def claim(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            self._keys.add(key)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)


class CacheOps:
    def __init__(
        self,
        name: str,
        options: CacheOptions | None,
        overrides: dict[str, Any],
        codec: Codec | None,
        metrics: CacheMetrics | None,
        clock: Callable[[], float],
        rand: Callable[[], float] | None,
    ) -> None:
        self.core = core = CacheCore(
            name, options, overrides, codec, metrics, clock, rand or default_rand()
        )
        self.name = name
        self.options = core.options
        self.local = core.local
        self.clock = clock
        self.outage = core.outage
        self.m = core.m
        self.prefix = core.keys.value_prefix
        self._refreshing = _Claims()

    # -- reading one key: the queue's shape ----------------------------------------------
    # `get` is the hot path, so it is split as `QueueOps` splits a queue call (decide, the
    # shell makes the one call, parse the reply) rather than run as a generator: a generator
    # frame suspended across the network call costs 2-3 µs, ~5 % of a Redis-layer hit
    # (bench/cache_protocol.py); these three calls cost well under 1 µs.

    def before_read(self) -> int | None:
        """Before a GET: the in-process layer's ticket (an invalidation after it voids what
        the read brings back), or None when a recent failure says Redis is down (counted);
        the caller then answers `unavailable(default)`."""
        if not self.outage.available():
            self.outage.skipped()
            return None
        return self.local.ticket() if self.local is not None else 0

    def read_failed(self, exc: BaseException, default: T) -> T:
        """The GET found Redis unreachable."""
        self.outage.failed(exc)
        return self.unavailable(default)

    def read_reply(self, key: str, raw: bytes | None, ticket: int, default: Any) -> Any:
        """The fresh value in a GET's reply (also offered to the in-process layer), or
        `default` on a miss or a cached "not found"."""
        if self.outage.since is not None:
            self.outage.ok()
        if raw is not None:
            core = self.core
            env = core.decode(raw)
            if env is not None and self.clock() * 1000 < env.fresh_until_ms:
                self.m.redis.hit()
                if self.local is not None:
                    core.remember(key, env, ticket)
                return default if env.negative else env.value
        self.m.redis.miss()
        return default

    def unavailable(self, default: T) -> T:
        """What a read answers while Redis is unreachable: `default` when failing open."""
        if not self.options.fail_open:
            raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable")
        return default

    # -- reading ---------------------------------------------------------------------------

    def get_many(self, keys: Iterable[str]) -> Steps[dict[str, Any]]:
        """Fresh values of the keys that have one: the in-process layer first, then one MGET."""
        core, local = self.core, self.local
        out: dict[str, Any] = {}
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        ticket = local.ticket() if local is not None else 0
        rest: list[str] = []
        for key in wanted:
            env = local.get(key, self.clock()) if local is not None else None
            if env is None:
                rest.append(key)
            elif not env.negative:
                out[key] = env.value
        if not rest:
            return out
        if not self.outage.available():
            self.outage.skipped()
            return self.unavailable(out)
        try:
            raws = yield MGet([core.keys.value(k) for k in rest])
        except REDIS_UNAVAILABLE as exc:
            return self.read_failed(exc, out)
        self.outage.ok()
        now_ms = self.clock() * 1000
        for key, raw in zip(rest, raws, strict=True):
            env = core.decode(raw) if raw is not None else None
            if env is None or now_ms >= env.fresh_until_ms:
                self.m.redis.miss()
                continue
            self.m.redis.hit()
            core.remember(key, env, ticket)
            if not env.negative:
                out[key] = env.value
        return out

    def get_or_load(self, key: str, ttl: float | None, tags: Iterable[str]) -> Steps[Any]:
        """After an in-process miss: the value in Redis, or the loader's (`Load()`), loaded
        once per key across processes. See `Cache.get_or_load`."""
        core, outage, local = self.core, self.outage, self.local
        ticket = local.ticket() if local is not None else 0
        tag_tuple = check_tags(tags) if tags else ()
        if not outage.available():
            outage.skipped()
            return (yield from self._degraded(key))
        try:
            raw = yield Get(self.prefix + check_key(key))
        except REDIS_UNAVAILABLE as exc:
            outage.failed(exc)
            return (yield from self._degraded(key))
        if outage.since is not None:
            outage.ok()
        env = core.decode(raw) if raw is not None else None
        if env is not None:
            state = core.classify(env, self.clock() * 1000)
            if state is HitState.FRESH:
                self.m.redis.hit()
                if local is not None:
                    core.remember(key, env, ticket)
                return None if env.negative else env.value
            if state is HitState.REFRESH:
                self.m.redis.hit()
                return (yield from self._refresh_now(key, ttl, tag_tuple, env, ticket))
            if state is HitState.STALE:
                self.m.stale.inc()
                yield from self._refresh_later(key, ttl, tag_tuple)
                return env.value
        self.m.redis.miss()
        wait = self.options.wait_seconds
        return (yield Flight(key, self._fill(key, ttl, tag_tuple), wait))

    # -- writing --------------------------------------------------------------------------

    def set_many(
        self, items: Mapping[str, Any], ttl: float | None, tags: Iterable[str]
    ) -> Steps[None]:
        if not items:
            return
        if any(v is None for v in items.values()):
            raise PayloadError(
                f"cache {self.name!r}: None means 'not found'; delete() the key instead"
            )
        core, local = self.core, self.local
        ticket = local.ticket() if local is not None else 0
        write = core.set_many_write(items, ttl, tags)
        try:
            yield Script("set_many", write.keys, write.args)
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)
            if not self.options.fail_open:
                raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable") from exc
            if local is not None:
                for key in items:
                    local.discard(key)
            return
        self.outage.ok()
        for key, env in write.envelopes.items():
            core.remember(key, env, ticket)

    def delete(self, keys: tuple[str, ...]) -> Steps[int]:
        if not keys:
            return 0
        key_list = list(keys)
        script_keys, args = self.core.delete_call(key_list)
        try:
            removed = int((yield Script("delete", script_keys, args)))
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)
            raise CacheUnavailableError(
                f"cache {self.name!r}: Redis unreachable, keys not deleted"
            ) from exc
        if self.local is not None:
            self.local.invalidate(key_list)
        return removed

    def invalidate_tags(self, tags: Iterable[str]) -> Steps[int]:
        """Optimistic: declare the members we know, and if the tag sets hold others, retry
        with those declared too (every key a Lua script touches must be declared)."""
        tag_tuple = check_tags(tags)
        if not tag_tuple:
            return 0
        members: list[str] = []
        for _ in range(MAX_INVALIDATE_ATTEMPTS):
            script_keys, args = self.core.invalidate_call(tag_tuple, members)
            try:
                reply = yield Script("invalidate_tags", script_keys, args)
            except REDIS_UNAVAILABLE as exc:
                self.outage.failed(exc)
                raise CacheUnavailableError(
                    f"cache {self.name!r}: Redis unreachable, tags not invalidated"
                ) from exc
            if int(reply[0]) == 1:
                if self.local is not None:
                    self.local.invalidate(members, tag_tuple)
                return int(reply[1])
            members.extend(self.core.members(reply[1]))
        raise CacheError(
            f"cache {self.name!r}: tags {list(tag_tuple)} kept changing during invalidation"
        )

    # -- warming --------------------------------------------------------------------------

    def warm_plan(
        self,
        keys: Iterable[str],
        tags: Iterable[str],
        batch_size: int | None,
        concurrency: int | None,
    ) -> WarmPlan:
        started = time.monotonic()
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        size = batch_size or self.options.warm_batch
        return WarmPlan(
            batches=[wanted[i : i + size] for i in range(0, len(wanted), size)],
            tags=check_tags(tags),
            concurrency=concurrency or self.options.warm_concurrency,
            requested=len(wanted),
            started=started,
        )

    def warm_batch(
        self, batch: list[str], ttl: float | None, tags: tuple[str, ...]
    ) -> Steps[WarmReport]:
        """One pipelined EXISTS, `Load(missing_keys)` -> {key: value} (keys left out are
        cached as "not found"), one script call writing them where still absent. A failure
        fails this batch, not the whole warm-up."""
        core = self.core
        try:
            present = yield Exists([core.keys.value(k) for k in batch])
            missing = [k for k, there in zip(batch, present, strict=True) if not there]
            if not missing:
                return WarmReport(present=len(batch))
            started = time.perf_counter()
            found = dict((yield Load((missing,))))
            seconds = time.perf_counter() - started
            self.m.load_duration.observe(seconds)
            self.m.loads_ok.inc()
            items = {k: found.get(k) for k in missing}
            if self.options.negative_ttl <= 0:
                items = {k: v for k, v in items.items() if v is not None}
            write = core.set_many_write(items, ttl, tags, nx=True, load_ms=int(seconds * 1000))
            if items:
                yield Script("set_many", write.keys, write.args)
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)
            return WarmReport(failed=len(batch), errors=[f"Redis unreachable: {exc}"])
        except Exception as exc:  # the loader's (or its value's) failure
            self.m.loads_error.inc()
            log.warning("cache %r: warming a batch failed: %s", self.name, exc)
            return WarmReport(failed=len(batch), errors=[f"{type(exc).__name__}: {exc}"])
        not_found = sum(1 for k in missing if found.get(k) is None)
        return WarmReport(
            present=len(batch) - len(missing),
            loaded=len(missing) - not_found,
            not_found=not_found,
        )

    # -- loading --------------------------------------------------------------------------

    def _degraded(self, key: str) -> Steps[Any]:
        """Redis is down: fail open (the loader, once per key in this process, nothing
        cached) or closed."""
        if not self.options.fail_open:
            raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable")
        return (yield Flight(key, self._load_only(), self.options.wait_seconds))

    def _load_only(self) -> Steps[Any]:
        return (yield from self._load())[0]

    def _load(self) -> Steps[tuple[Any, int]]:
        """The loader's value and how long it took (ms), counted."""
        started = time.perf_counter()
        try:
            value = yield Load()
        except BaseException:
            self.m.loads_error.inc()
            raise
        seconds = time.perf_counter() - started
        self.m.loaded(value, seconds)
        return value, int(seconds * 1000)

    def _fill(self, key: str, ttl: float | None, tags: tuple[str, ...]) -> Steps[Any]:
        """Across processes: take the Redis lock and load, or wait for the holder's value.
        A crashed holder's lock expires after lock_timeout and the next poll takes it."""
        core, o = self.core, self.options
        token = new_token()
        ticket = self.local.ticket() if self.local is not None else 0
        deadline = time.monotonic() + o.wait_seconds
        script_keys = core.lock_keys(key)
        lock_args = [token, core.lock_px]
        while True:
            try:
                reply = yield Script("fetch_or_lock", script_keys, lock_args)
            except REDIS_UNAVAILABLE as exc:
                self.outage.failed(exc)
                if not o.fail_open:
                    raise CacheUnavailableError(f"cache {self.name!r}: Redis unreachable") from exc
                return (yield from self._load_only())
            status = int(reply[0])
            if status == 1:
                env = core.decode(reply[1])
                if env is not None:
                    core.remember(key, env, ticket)
                    return None if env.negative else env.value
                return (yield from self._load_only())
            if status == 2:
                return (yield from self._load_and_fill(key, ttl, tags, token, reply[1], ticket))
            if time.monotonic() >= deadline:
                log.warning(
                    "cache %r: waited %.1fs for another process to load %r; loading here",
                    self.name,
                    o.wait_seconds,
                    key,
                )
                value, load_ms = yield from self._load()
                yield from self._write_if_absent(key, value, ttl, tags, load_ms)
                return value
            yield Sleep(o.poll_interval)

    def _load_and_fill(
        self,
        key: str,
        ttl: float | None,
        tags: tuple[str, ...],
        token: str,
        epoch: bytes | str,
        ticket: int,
    ) -> Steps[Any]:
        """We hold the lock: load, and write unless the lock was lost or an invalidation
        happened since we took it."""
        try:
            value, load_ms = yield from self._load()
        except BaseException:
            yield from self._release(key, token)
            raise
        if value is None and self.options.negative_ttl <= 0:
            yield from self._release(key, token)
            return None
        write = self.core.fill_write(key, value, ttl, tags, token, epoch, load_ms)
        try:
            written = int((yield Script("fill", write.keys, write.args)))
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)
            return value
        if written == 1:
            self.core.remember(key, write.envelopes[key], ticket)
        return value

    def _write_if_absent(
        self, key: str, value: Any, ttl: float | None, tags: tuple[str, ...], load_ms: int
    ) -> Steps[None]:
        if value is None and self.options.negative_ttl <= 0:
            return
        write = self.core.set_many_write({key: value}, ttl, tags, nx=True, load_ms=load_ms)
        try:
            yield Script("set_many", write.keys, write.args)
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)

    def _release(self, key: str, token: str) -> Steps[None]:
        try:
            yield Script("release", [self.core.keys.lock(key)], [token], shielded=True)
        except REDIS_UNAVAILABLE as exc:  # the lock expires by itself
            self.outage.failed(exc)

    # -- refreshing -----------------------------------------------------------------------

    def _acquire(self, key: str, token: str) -> Steps[Any]:
        """The epoch when we took the refresh lock, or None if someone else holds it."""
        keys = self.core.keys
        try:
            return (
                yield Script("acquire", [keys.lock(key), keys.epoch], [token, self.core.lock_px])
            )
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)
            return None

    def _refresh_now(
        self,
        key: str,
        ttl: float | None,
        tags: tuple[str, ...],
        current: Envelope,
        ticket: int,
    ) -> Steps[Any]:
        """XFetch picked this caller: recompute now if nobody else is (the lock), else keep
        answering with the current value."""
        token = new_token()
        epoch = yield from self._acquire(key, token)
        if epoch is None:
            return None if current.negative else current.value
        self.m.early_refreshes.inc()
        return (yield from self._load_and_fill(key, ttl, tags, token, epoch, ticket))

    def _refresh_later(self, key: str, ttl: float | None, tags: tuple[str, ...]) -> Steps[None]:
        """Stale-while-revalidate: one background refresh per key in this process, and one
        across processes (the Redis lock)."""
        if self._refreshing.claim(key):
            done = partial(self._refreshing.release, key)
            yield Background(self._background_refresh(key, ttl, tags), done)

    def _background_refresh(
        self, key: str, ttl: float | None, tags: tuple[str, ...]
    ) -> Steps[None]:
        try:
            ticket = self.local.ticket() if self.local is not None else 0
            token = new_token()
            epoch = yield from self._acquire(key, token)
            if epoch is not None:
                self.m.early_refreshes.inc()
                yield from self._load_and_fill(key, ttl, tags, token, epoch, ticket)
        except Exception as exc:  # the stale value keeps being served; say why it stays
            log.warning("cache %r: background refresh of %r failed: %s", self.name, key, exc)
