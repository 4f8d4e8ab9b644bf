"""What a cache's entries and script calls look like: options, envelopes (with TTL and
jitter), script keys and arguments, and how a hit is classified. Pure; `CacheOps`
(runtime/cache/ops.py) uses it to decide each operation's steps."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from runtime.cache.codec import Codec, JsonCodec
from runtime.cache.envelope import Envelope, pack, unpack
from runtime.cache.errors import CacheError
from runtime.cache.invalidation import encode_message
from runtime.cache.keys import CacheKeys
from runtime.cache.local import LocalLayer
from runtime.cache.metrics import CacheMetrics
from runtime.cache.policy import CacheOptions, jittered_ms, should_refresh_early
from runtime.errors import ConfigError, PayloadError
from runtime.redis_outage import OutageTracker

log = logging.getLogger("castiel.cache")

# An invalidation whose tag sets keep changing under it retries this often, then gives up.
MAX_INVALIDATE_ATTEMPTS = 8


class HitState(Enum):
    FRESH = "fresh"
    REFRESH = "refresh"  # fresh, but this caller should recompute it now (XFetch)
    STALE = "stale"  # past freshness, inside the stale-while-revalidate window
    EXPIRED = "expired"


@dataclass(frozen=True)
class Write:
    """One prepared write: script keys and args, and the envelope for the local layer."""

    keys: list[str]
    args: list[Any]
    envelopes: dict[str, Envelope]


@dataclass
class WarmReport:
    """What `warm` did. `failed` counts keys of batches whose lookup, load or write failed."""

    requested: int = 0
    present: int = 0
    loaded: int = 0
    not_found: int = 0
    failed: int = 0
    errors: list[str] | None = None
    seconds: float = 0.0

    def add(self, other: WarmReport) -> None:
        self.present += other.present
        self.loaded += other.loaded
        self.not_found += other.not_found
        self.failed += other.failed
        if other.errors:
            self.errors = [*(self.errors or []), *other.errors]


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ConfigError(f"cache keys must be non-empty strings, got {key!r}")
    return key


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    out = tuple(tags)
    for tag in out:
        if not isinstance(tag, str) or not tag:
            raise ConfigError(f"cache tags must be non-empty strings, got {tag!r}")
    return out


def pool_limit(connection_kwargs: Any) -> int:
    """How many calls a cache lets run at once on a Redis Cluster client: its pool size, less
    room for the invalidation listener and other users of the client."""
    limit = (
        connection_kwargs.get("max_connections") if isinstance(connection_kwargs, dict) else None
    )
    return max(1, int(limit) - 4) if limit else 32


def new_token() -> str:
    return uuid.uuid4().hex


class CacheCore:
    def __init__(
        self,
        name: str,
        options: CacheOptions | None,
        overrides: dict[str, Any],
        codec: Codec | None,
        metrics: CacheMetrics | None,
        clock: Callable[[], float],
        rand: Callable[[], float],
    ) -> None:
        self.keys = CacheKeys(name)
        self.name = name
        self.options = CacheOptions.build(options, overrides)
        self.codec: Codec = codec or JsonCodec()
        self.metrics = metrics or CacheMetrics()
        self.m = self.metrics.bind(name)
        self.clock = clock
        self.rand = rand
        self.origin = new_token()
        o = self.options
        self.local = (
            LocalLayer(o.local_max_entries, o.local_ttl, self.m.local)
            if o.local_max_entries
            else None
        )
        self.outage = OutageTracker(
            f"cache {name!r}",
            self.m.redis_errors.inc,
            logger=log,
            meanwhile="serving from the loader",
            resumed="; caching resumed",
            retry_after=o.retry_after,
        )
        self.lock_px = max(1, int(o.lock_timeout * 1000))

    # -- reading ------------------------------------------------------------------------

    def decode(self, raw: bytes) -> Envelope | None:
        try:
            return unpack(raw, self.codec)
        except CacheError as exc:
            self.m.codec_errors.inc()
            log.warning("cache %r: %s; treating it as a miss", self.name, exc)
            return None

    def classify(self, env: Envelope, now_ms: float) -> HitState:
        if now_ms < env.fresh_until_ms:
            beta = self.options.early_refresh_beta
            if beta and should_refresh_early(
                now_ms, env.fresh_until_ms, env.load_ms, beta, 1.0 - self.rand()
            ):
                return HitState.REFRESH
            return HitState.FRESH
        if self.options.stale_ttl > 0 and not env.negative:
            return HitState.STALE
        return HitState.EXPIRED

    def remember(self, key: str, env: Envelope, ticket: int) -> None:
        """Offer an entry to the local layer; if an invalidation raced it, drop ours too."""
        local = self.local
        if local is not None and not local.put(key, env, ticket, self.clock()):
            local.discard(key)

    # -- writing ------------------------------------------------------------------------

    def envelope(
        self, value: Any, ttl: float | None, load_ms: int, tags: tuple[str, ...]
    ) -> tuple[bytes, int, Envelope]:
        o = self.options
        negative = value is None
        base = o.negative_ttl if negative else (ttl if ttl is not None else o.ttl)
        if base <= 0:
            raise ConfigError(f"cache {self.name!r}: ttl must be > 0 seconds, got {base}")
        fresh_ms = jittered_ms(base, o.jitter, self.rand())
        env = Envelope(value, int(self.clock() * 1000) + fresh_ms, load_ms, negative, tags)
        try:
            payload = pack(env, self.codec)
        except PayloadError as exc:
            raise PayloadError(f"cache {self.name!r}: {exc}") from None
        stale_ms = 0 if negative else int(o.stale_ttl * 1000)
        return payload, fresh_ms + stale_ms, env

    def set_many_write(
        self,
        items: Mapping[str, Any],
        ttl: float | None,
        tags: Iterable[str],
        nx: bool = False,
        load_ms: int = 0,
    ) -> Write:
        tags = check_tags(tags)
        keys: list[str] = []
        per_item: list[Any] = []
        envelopes: dict[str, Envelope] = {}
        for key, value in items.items():
            check_key(key)
            payload, px, env = self.envelope(value, ttl, load_ms, tags)
            keys.append(self.keys.value(key))
            per_item.extend((key, payload, px))
            envelopes[key] = env
        keys.extend(self.keys.tag(t) for t in tags)
        channel = "" if nx else self.keys.channel
        message = encode_message(self.origin, items.keys()) if not nx else ""
        args = [len(items), "1" if nx else "0", channel, message, *per_item]
        return Write(keys, args, envelopes)

    def fill_write(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        tags: tuple[str, ...],
        token: str,
        epoch: bytes | str,
        load_ms: int,
    ) -> Write:
        payload, px, env = self.envelope(value, ttl, load_ms, tags)
        k = self.keys
        keys = [k.value(key), k.lock(key), k.epoch, *(k.tag(t) for t in tags)]
        message = encode_message(self.origin, [key])
        args = [payload, px, token, epoch, key, k.channel, message]
        return Write(keys, args, {key: env})

    def lock_keys(self, key: str) -> list[str]:
        return [self.keys.value(key), self.keys.lock(key), self.keys.epoch]

    def delete_call(self, keys: list[str]) -> tuple[list[str], list[Any]]:
        for key in keys:
            check_key(key)
        script_keys = [self.keys.value(key) for key in keys] + [self.keys.lock(key) for key in keys]
        return script_keys, [len(keys), self.keys.channel, encode_message(self.origin, keys)]

    def invalidate_call(
        self, tags: tuple[str, ...], members: list[str]
    ) -> tuple[list[str], list[Any]]:
        k = self.keys
        script_keys = [k.epoch, *(k.tag(t) for t in tags), *(k.value(m) for m in members)]
        message = encode_message(self.origin, (), tags)
        return script_keys, [len(tags), len(members), k.channel, message, *members]

    @staticmethod
    def members(raw: list[Any]) -> list[str]:
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]


def default_rand() -> Callable[[], float]:
    return random.Random().random
