"""Test harness: real redis-servers on free loopback ports (never the default port, never a fake).

`redis_server` is one server for the whole session, flushed before each test; `redis_url`
is its URL. `fresh_redis` is a server of the test's own, for fault injection (kill, restart).
`redis_cluster` is a real Redis Cluster of 3 masters, each with a replica. With CI=true a
missing redis-server fails the run instead of skipping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from castiel.redis_server import RedisClusterServers, RedisServer
from tests.helpers import need


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    need("redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own (AOF, fsync always) that the test may kill and restart."""
    need("redis-server")
    server = RedisServer(tmp_path / "redis", appendonly=True, appendfsync="always").start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    need("redis-server")
    need("redis-cli")
    cluster = RedisClusterServers(tmp_path_factory.mktemp("cluster"), replicas=1).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster: RedisClusterServers) -> Iterator[str]:
    redis_cluster.flushall()
    yield redis_cluster.url


@pytest.fixture
def store_locator(tmp_path: Path) -> Iterator[str]:
    """Where a test's metrics store lives, as `--store` and `Store.open` take it: an empty
    SQLite file today. Tests written against this fixture are the ones to parametrize over
    every store backend (a PostgreSQL URL beside this path)."""
    yield str(tmp_path / "locator" / "castiel.db")
