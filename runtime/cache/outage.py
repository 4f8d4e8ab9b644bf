"""Redis outages seen by one cache: counted per failed call, logged once when they start and
once when they end, and short-circuited for `retry_after` seconds so an outage costs one
connection timeout per interval instead of one per call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from redis.exceptions import ClusterError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from runtime.cache.metrics import CacheInstruments

log = logging.getLogger("castiel.cache")

# What "Redis is unreachable" looks like from redis-py; the cluster client adds ClusterError
# (e.g. ClusterDownError while a slot's master is gone).
REDIS_DOWN: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,
    RedisClusterException,
    ConnectionError,
    OSError,
)


class Outage:
    def __init__(
        self, cache: str, metrics: CacheInstruments, retry_after: float, clock: Callable[[], float]
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.retry_after = retry_after
        self.clock = clock
        self._lock = threading.Lock()
        self.since: float | None = None
        self._next_try = 0.0

    def available(self) -> bool:
        """False while a recent failure says Redis is down (calls go to the loader)."""
        return self.since is None or self.clock() >= self._next_try

    def skipped(self) -> None:
        """A call that did not try Redis because of a recent failure: still an error."""
        self.metrics.redis_errors.inc()

    def failed(self, exc: BaseException) -> None:
        self.metrics.redis_errors.inc()
        now = self.clock()
        with self._lock:
            self._next_try = now + self.retry_after
            if self.since is not None:
                return
            self.since = now
        log.warning("cache %r: Redis unreachable (%s); serving from the loader", self.cache, exc)

    def ok(self) -> None:
        if self.since is None:
            return
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            log.warning(
                "cache %r: Redis reachable again after %.1fs; caching resumed",
                self.cache,
                self.clock() - since,
            )
