"""Cache options and the pure decisions made from them: jittered TTLs and early refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from runtime.errors import ConfigError


@dataclass(frozen=True)
class CacheOptions:
    """How one cache behaves. Durations are seconds.

    ttl: how long a value is fresh. jitter: fraction (0..1) by which each write's TTL is
    shortened at random, so keys written together do not expire together.
    negative_ttl: how long a loader's "not found" (None) is remembered; 0 turns it off.
    stale_ttl: stale-while-revalidate window after `ttl`; within it `get_or_load` answers
    with the old value at once and refreshes it in the background. 0 turns it off.
    early_refresh_beta: XFetch's beta; a hot key is recomputed by one caller shortly before
    it expires (higher = earlier; 0 turns it off).
    lock_timeout: lifetime of the loading lock; a crashed or hung loader blocks nobody
    longer than this. wait_timeout: how long a caller waits for another's load before it
    loads itself (default lock_timeout plus 1 s). poll_interval: how often waiters look.
    local_max_entries: size of the in-process layer; 0 (the default) turns it off.
    local_ttl: longest time an in-process entry is used before Redis is asked again (also
    the worst-case staleness if the invalidation channel silently stalls).
    fail_open: when Redis is unreachable, `get_or_load` calls the loader (True) or raises
    CacheUnavailableError (False). retry_after: after a Redis failure, calls skip Redis for
    this long before one tries again, so an outage costs one timeout, not one per call.
    warm_batch / warm_concurrency: batch size and parallel batches of `warm`.
    """

    ttl: float = 300.0
    jitter: float = 0.1
    negative_ttl: float = 30.0
    stale_ttl: float = 0.0
    early_refresh_beta: float = 1.0
    lock_timeout: float = 10.0
    wait_timeout: float | None = None
    poll_interval: float = 0.02
    local_max_entries: int = 0
    local_ttl: float = 5.0
    fail_open: bool = True
    retry_after: float = 1.0
    warm_batch: int = 100
    warm_concurrency: int = 4

    def __post_init__(self) -> None:
        if self.ttl <= 0:
            raise ConfigError(f"cache ttl must be > 0 seconds, got {self.ttl}")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"cache jitter must be in [0, 1), got {self.jitter}")
        for name in ("negative_ttl", "stale_ttl", "early_refresh_beta", "retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"cache {name} must be >= 0, got {getattr(self, name)}")
        for name in ("lock_timeout", "poll_interval", "local_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"cache {name} must be > 0, got {getattr(self, name)}")
        if self.wait_timeout is not None and self.wait_timeout <= 0:
            raise ConfigError(f"cache wait_timeout must be > 0, got {self.wait_timeout}")
        if self.local_max_entries < 0:
            raise ConfigError("cache local_max_entries must be >= 0 (0 turns the layer off)")
        if self.warm_batch < 1 or self.warm_concurrency < 1:
            raise ConfigError("cache warm_batch and warm_concurrency must be >= 1")

    @property
    def wait_seconds(self) -> float:
        return self.wait_timeout if self.wait_timeout is not None else self.lock_timeout + 1.0

    @classmethod
    def build(cls, base: CacheOptions | None, overrides: dict[str, Any]) -> CacheOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown cache option(s): {', '.join(unknown)}")
        opts = base or cls()
        return cls(**{**opts.__dict__, **overrides}) if overrides else opts


def jittered_ms(ttl: float, jitter: float, rand: float) -> int:
    """TTL in ms shortened by up to `jitter` of itself; `rand` in [0, 1). Never below 1 ms,
    never above `ttl`, so the configured TTL stays an upper bound."""
    return max(1, int(ttl * 1000 * (1.0 - jitter * rand)))


def should_refresh_early(
    now_ms: float, fresh_until_ms: int, load_ms: int, beta: float, rand: float
) -> bool:
    """XFetch (Vattani et al., "Optimal probabilistic cache stampede prevention"): refresh
    with a probability that rises as expiry nears, scaled by how long a load takes. `rand`
    in (0, 1]. Across many callers of a hot key, about one refreshes before expiry."""
    if beta <= 0 or load_ms <= 0:
        return False
    return now_ms - load_ms * beta * math.log(rand) >= fresh_until_ms
