"""What "Redis is unavailable" means, defined once, and the tracker every long-running part
(worker loops, caches, schedulers) uses to live through an outage: it counts each failed
call, logs the outage once when it starts and once when it ends, tells a retry loop how long
to back off, and lets a cache skip Redis for a while instead of paying a timeout per call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from redis.exceptions import (
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Redis cannot be reached or cannot serve the call now; retrying later may succeed.
REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # refused, reset, still loading its data, no pool connection free
    RedisTimeoutError,
    ClusterError,  # CLUSTERDOWN, MASTERDOWN: a slot's master is gone
    TryAgainError,  # a slot is moving (resharding, failover)
    ReadOnlyError,  # a replica answered a write: a failover is under way
    # Not a RedisError in redis-py 8: the client lost the topology (no reachable node,
    # nodes that disagree, a slot no node covers).
    RedisClusterException,
    ConnectionError,  # the socket layer (TimeoutError is an OSError too)
    OSError,
)
# Any failed Redis call: unavailable, or a refusal such as out-of-memory. Loops that must
# never die of Redis (a worker's) retry these; callers that can do nothing about a refusal
# (a cache read) catch only REDIS_UNAVAILABLE and let the refusal surface.
REDIS_FAILED: tuple[type[BaseException], ...] = (RedisError, *REDIS_UNAVAILABLE)


class OutageTracker:
    """One per caller that retries (a worker loop, a cache). `failed(exc)` after a failed
    call returns the back-off before the next try (doubling from `min_delay` to `max_delay`)
    and keeps `available()` false for `retry_after` seconds; `ok()` after a call that worked.
    Thread-safe: a sync cache is used from many threads."""

    def __init__(
        self,
        who: str,
        count: Callable[[], None],
        *,
        logger: logging.Logger,
        meanwhile: str = "retrying",
        resumed: str = "",
        retry_after: float = 0.0,
        min_delay: float = 0.05,
        max_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.who = who
        self.count = count
        self.log = logger
        self.meanwhile = meanwhile
        self.resumed = resumed
        self.retry_after = retry_after
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.clock = clock
        self.since: float | None = None
        self._delay = min_delay
        self._next_try = 0.0
        self._lock = threading.Lock()

    def available(self) -> bool:
        """False while a recent failure says Redis is down (a cache serves from its loader)."""
        return self.since is None or self.clock() >= self._next_try

    def skipped(self) -> None:
        """A call that did not try Redis because of a recent failure: still an error."""
        self.count()

    def failed(self, exc: BaseException) -> float:
        self.count()
        now = self.clock()
        with self._lock:
            self._next_try = now + self.retry_after
            self._delay = min(self.max_delay, self._delay * 2)
            delay = self._delay
            if self.since is not None:
                return delay
            self.since = now
        what = "unreachable" if isinstance(exc, REDIS_UNAVAILABLE) else "refused a call"
        self.log.warning("%s: Redis %s (%s); %s", self.who, what, exc, self.meanwhile)
        return delay

    def ok(self) -> None:
        if self.since is None:
            return
        with self._lock:
            since, self.since = self.since, None
            self._delay = self.min_delay
        if since is not None:
            self.log.warning(
                "%s: Redis reachable again after %.1fs%s",
                self.who,
                self.clock() - since,
                self.resumed,
            )
