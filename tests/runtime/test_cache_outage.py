"""Redis killed mid-run: callers keep getting values from the loader, metrics count the
errors, the outage is logged once, and caching resumes when Redis is back. On a standalone
redis-server and on a Redis Cluster whose node holding the cache's slot is killed; with
`Cache` and with `AsyncCache`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from castiel.redis_server import RedisClusterServers, RedisServer
from runtime import connect
from runtime.cache import CacheMetrics
from runtime.connection import RedisConnection
from tests.helpers import need, wait_until
from tests.runtime.cache_shells import CacheFactory


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """A cluster of this test's own: killing a node must not disturb the shared one."""
    need("redis-server")
    need("redis-cli")
    cluster = RedisClusterServers(tmp_path / "cluster").start()
    yield cluster
    cluster.stop()


def errors(metrics: CacheMetrics, cache: str) -> float:
    return (
        metrics.registry.get_sample_value(
            "castiel_cache_errors_total", {"cache": cache, "layer": "redis"}
        )
        or 0.0
    )


def run_through_outage(
    shell: str,
    conn: RedisConnection,
    kill: Any,
    restart: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caches = CacheFactory(shell, conn)
    try:
        _outage(caches, kill, restart, caplog)
    finally:
        caches.close()


def _outage(
    caches: CacheFactory, kill: Any, restart: Any, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = CacheMetrics()
    cache = caches("outage", ttl=60, metrics=metrics, retry_after=0.2)
    loads: list[str] = []

    def loader(key: str) -> Any:
        def load() -> str:
            loads.append(key)
            return f"value-of-{key}"

        return load

    assert cache.get_or_load("a", loader("a")) == "value-of-a"
    assert cache.get_or_load("a", loader("a")) == "value-of-a"
    assert loads == ["a"]

    kill()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="castiel.cache"):
        for i in range(30):
            key = f"k{i % 3}"
            assert cache.get_or_load(key, loader(key)) == f"value-of-{key}"
    assert len(loads) == 31  # every call went to the loader: nothing could be cached
    assert errors(metrics, "outage") >= 30
    unreachable = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(unreachable) == 1, [r.getMessage() for r in caplog.records]

    restart()

    # Caching resumes: soon a loaded value is stored in Redis again and then served from it.
    def cached_again() -> bool:
        cache.get_or_load("b", loader("b"))
        return bool(cache.get("b") == "value-of-b")

    wait_until(cached_again, 30, interval=0.1, message="caching to resume")
    n = len(loads)
    assert cache.get_or_load("b", loader("b")) == "value-of-b"
    assert len(loads) == n
    assert metrics.registry.get_sample_value(
        "castiel_cache_hits_total", {"cache": "outage", "layer": "redis"}
    )


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_redis_killed_mid_run_standalone(
    shell: str, fresh_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connect(fresh_redis.url, retries=0, socket_timeout=0.5, connect_timeout=0.5)
    try:
        run_through_outage(shell, conn, fresh_redis.kill, fresh_redis.start, caplog)
    finally:
        conn.close()


@pytest.mark.cluster
@pytest.mark.parametrize("shell", ["sync", "async"])
def test_redis_killed_mid_run_cluster(
    shell: str, own_cluster: RedisClusterServers, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connect(own_cluster.url, retries=0, socket_timeout=0.5, connect_timeout=0.5)
    slot = conn.sync.keyslot("castiel:cache:{outage}:a")
    owner = next(
        node
        for node in own_cluster.nodes
        if any(
            int(lo) <= slot <= int(hi)
            for lo, hi, *_ in (
                s for s in redis.Redis(port=node.port).cluster("slots") if s[2][1] == node.port
            )
        )
    )

    def restart() -> None:
        owner.start()
        wait_until(
            lambda: all(
                redis.Redis(port=n.port).cluster("info").get("cluster_state") == "ok"
                for n in own_cluster.nodes
            ),
            30,
            message="cluster state ok",
        )

    try:
        run_through_outage(shell, conn, owner.kill, restart, caplog)
    finally:
        conn.close()
