"""One call from a URL to configured sync and asyncio Redis clients.

`connect("redis://127.0.0.1:7000/0")` gives a `RedisConnection` whose `.sync` and `.aio`
clients share the settings: pooling, bounded retries with jittered backoff, health checks, and
socket timeouts long enough for the blocking commands the worker issues (see
`max_block_seconds`). Cluster: `redis+cluster://host:port,host:port` or a list of
`"host:port"` nodes.
"""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from runtime.errors import ConfigError

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

DEFAULT_URL = "redis://127.0.0.1:6379/0"
URL_ENV = "CASTIEL_REDIS_URL"
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


@dataclass(frozen=True)
class RedisSettings:
    """How to reach Redis. Build one with `RedisSettings.from_url`."""

    url: str = DEFAULT_URL
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    socket_timeout: float = 10.0
    connect_timeout: float = 5.0
    retries: int = 3
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    max_connections: int = 64
    health_check_interval: int = 30
    client_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_cluster(self) -> bool:
        return bool(self.cluster_nodes)

    @property
    def max_block_seconds(self) -> float:
        """Longest safe timeout for a blocking command: it must end before the socket times out."""
        return max(0.1, self.socket_timeout / 2)

    @classmethod
    def from_url(cls, url: str | list[str] | None = None, **overrides: Any) -> RedisSettings:
        """Parse a URL (or a list of cluster nodes); `None` reads `$CASTIEL_REDIS_URL`."""
        if url is None:
            url = os.environ.get(URL_ENV, DEFAULT_URL)
        if isinstance(url, list):
            return cls(url=f"redis+cluster://{','.join(url)}", **overrides)._with_nodes(url)
        parts = urlsplit(url)
        if parts.scheme in _CLUSTER_SCHEMES:
            return cls(url=url, **overrides)._with_nodes(parts.netloc.rpartition("@")[2].split(","))
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"Redis URL {_redact(url)!r}: scheme must be redis://, rediss://, unix:// "
                "or redis+cluster://"
            )
        _check_address(url, parts)
        query = parse_qs(parts.query)
        if query.get("cluster", ["false"])[0].lower() in ("1", "true", "yes"):
            host = parts.hostname or "127.0.0.1"
            return cls(url=url, **overrides)._with_nodes([f"{host}:{parts.port or 6379}"])
        return cls(url=url, **overrides)

    def _with_nodes(self, nodes: list[str]) -> RedisSettings:
        parsed = []
        for node in nodes:
            host, _, port = node.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"Redis cluster node {node!r} must look like host:port")
            parsed.append((host, int(port)))
        if not parsed:
            raise ConfigError("a Redis cluster URL needs at least one host:port")
        return replace(self, cluster_nodes=tuple(parsed))

    def _common(self) -> dict[str, Any]:
        return {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "health_check_interval": self.health_check_interval,
            "client_name": self.client_name,
            **self.extra,
        }

    def _auth(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        auth: dict[str, Any] = {}
        if parts.username:
            auth["username"] = parts.username
        if parts.password:
            auth["password"] = parts.password
        if parts.scheme.startswith("rediss"):
            auth["ssl"] = True
        return auth


def _check_address(url: str, parts: SplitResult) -> None:
    """`redis://` alone would silently mean localhost:6379 (redis-py's default): refuse it."""
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(
                f"Redis URL {_redact(url)!r} names no socket (unix:///path/redis.sock)"
            )
        return
    if not parts.hostname:
        raise ConfigError(f"Redis URL {_redact(url)!r} names no host (redis://HOST:PORT/DB)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(f"Redis URL {_redact(url)!r} has no valid port (1-65535)") from None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def sync_client(settings: RedisSettings) -> SyncClient:
    """A new pooled sync client with bounded, jittered retries."""
    backoff = ExponentialWithJitterBackoff(base=settings.backoff_base, cap=settings.backoff_cap)
    retry = Retry(backoff, settings.retries)
    if settings.is_cluster:
        (first_host, first_port), *rest = settings.cluster_nodes
        nodes = [redis.cluster.ClusterNode(h, p) for h, p in rest]  # type: ignore[no-untyped-call]
        # Per-node pools that wait for a free connection (like the standalone client's)
        # instead of raising MaxConnectionsError when `max_connections` are busy. redis-py
        # only uses `connection_pool_class` when the client is built with a `url`, so the
        # first node is given as one (without credentials: those come from _auth(); TLS
        # from the scheme, which selects redis-py's SSLConnection on this path).
        auth = settings._auth()
        scheme = "rediss" if auth.pop("ssl", False) else "redis"
        return redis.cluster.RedisCluster(
            url=f"{scheme}://{first_host}:{first_port}",
            startup_nodes=nodes,
            retry=retry,
            max_connections=settings.max_connections,
            connection_pool_class=functools.partial(
                redis.BlockingConnectionPool, timeout=settings.connect_timeout
            ),
            **auth,
            **settings._common(),
        )
    # Connection settings must go to the pool: a client built on a pool ignores its own.
    pool = redis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.max_connections,
        timeout=settings.connect_timeout,
        retry=retry,
        **settings._common(),
    )
    return redis.Redis(connection_pool=pool)


class _WritesFailAsConnectionErrors:
    """redis-py 8.1's asyncio connection leaks transport internals when it is disconnected
    while a write is under way (a concurrent `disconnect(nowait=True)`, as its own error
    paths and a cluster's topology refresh do, or a peer reset: redis/redis-py#4287): an
    AttributeError or TypeError about a None writer instead of a ConnectionError. Those
    bypass every retry and killed a worker's heartbeat loop during a Cluster failover."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except (AttributeError, TypeError) as exc:
            if "NoneType" not in str(exc):
                raise
            raise redis.exceptions.ConnectionError(
                "the connection was closed while writing to it"
            ) from exc


def _safe_connection_class(base: type[Any]) -> type[Any]:
    """`base` (redis-py's Connection, SSLConnection or UnixDomainSocketConnection) with
    writes that fail as ConnectionErrors."""
    return type(f"Castiel{base.__name__}", (_WritesFailAsConnectionErrors, base), {})


class GatedAsyncRedisCluster(redis.asyncio.cluster.RedisCluster):
    """redis-py's asyncio cluster client, but commands beyond `max_connections` in flight wait
    for a free slot (up to `pool_timeout`, then ConnectionError, as the standalone client's
    BlockingConnectionPool does) instead of failing with MaxConnectionsError: redis-py 8.1
    has no waiting pool for asyncio cluster nodes. At most `max_connections` commands are in
    flight on the whole client, so no node's pool can be exhausted by single commands
    (pipelines take their connections directly and are not covered)."""

    def __init__(self, *args: Any, pool_timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # redis-py picks the connection class itself; nodes discovered later are built from
        # these kwargs (the dict is shared with the nodes manager).
        safe = _safe_connection_class(self.connection_kwargs["connection_class"])
        self.connection_kwargs["connection_class"] = safe
        for node in self.nodes_manager.startup_nodes.values():
            node.connection_class = safe
        self._gate = asyncio.Semaphore(int(kwargs.get("max_connections", 100)))
        self._pool_timeout = pool_timeout

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            # Discover the topology before queueing: a cold client whose first commands
            # hold gate slots while it initialises breaks connections (redis-py 8.1).
            await self.initialize()
        try:
            async with asyncio.timeout(self._pool_timeout):
                await self._gate.acquire()
        except TimeoutError:
            raise redis.exceptions.ConnectionError(
                f"no Redis connection free within {self._pool_timeout:g}s "
                "(max_connections commands in flight)"
            ) from None
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            self._gate.release()


def async_client(settings: RedisSettings) -> AsyncClient:
    """A new pooled asyncio client; it belongs to the event loop that first uses it."""
    backoff = ExponentialWithJitterBackoff(base=settings.backoff_base, cap=settings.backoff_cap)
    retry = redis.asyncio.retry.Retry(backoff, settings.retries)
    if settings.is_cluster:
        nodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in settings.cluster_nodes]
        return GatedAsyncRedisCluster(
            pool_timeout=settings.connect_timeout,
            startup_nodes=nodes,
            retry=retry,
            max_connections=settings.max_connections,
            **settings._auth(),
            **settings._common(),
        )
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.max_connections,
        timeout=settings.connect_timeout,
        retry=retry,
        **settings._common(),
    )
    pool.connection_class = _safe_connection_class(pool.connection_class)
    return redis.asyncio.Redis(connection_pool=pool)


class RedisConnection:
    """Settings plus lazily created sync and asyncio clients built from them."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._sync: SyncClient | None = None
        self._aio: AsyncClient | None = None

    @property
    def sync(self) -> SyncClient:
        if self._sync is None:
            self._sync = sync_client(self.settings)
        return self._sync

    @property
    def aio(self) -> AsyncClient:
        """The asyncio client; create it inside the event loop that will use it."""
        if self._aio is None:
            self._aio = async_client(self.settings)
        return self._aio

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._aio is not None:
            await self._aio.aclose()
            self._aio = None

    def __repr__(self) -> str:
        return f"RedisConnection({_redact(self.settings.url)!r})"


def connect(url: str | list[str] | None = None, **overrides: Any) -> RedisConnection:
    """`connect("redis://127.0.0.1:7000")` → a `RedisConnection` with `.sync` and `.aio`."""
    return RedisConnection(RedisSettings.from_url(url, **overrides))
