"""Test harness: real redis-servers on free loopback ports (never the default port, never a fake).

`redis_server` is one server for the whole session, flushed before each test; `redis_url`
is its URL. `fresh_redis` is a server of the test's own, for fault injection (kill, restart).
`redis_cluster` is a real Redis Cluster of 3 masters, each with a replica. `postgres_server`
is one real PostgreSQL for the session; `postgres_url` a database of the test's own in it (a
copy of a migrated template), `empty_postgres_url` one without any schema, and
`store_location` (alias `store_locator`) runs a test once on SQLite and once on PostgreSQL.
With CI=true a missing redis-server or PostgreSQL fails the run instead of skipping."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from castiel.postgres_server import PostgresServer
from castiel.redis_server import RedisClusterServers, RedisServer
from collectors.store import Store
from tests.helpers import need, need_postgres

TEMPLATE = "castiel_template"


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers get COLUMNS=80 and LINES=24 as if they had a terminal; a CI
    runner's castiel has neither, and its console output is what the tests read."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Streamlit's AppTest installs the page it runs as `sys.modules["__main__"]` and leaves it
    there; a later test that spawns processes (multiprocessing "spawn") would then run that page
    in each child instead of the test. Put the real `__main__` back after every test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    need_postgres()
    server = PostgresServer().start()
    Store.migrate(server.create_database(TEMPLATE))
    yield server
    server.remove()


def _database(server: PostgresServer, template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name, template=template)
    yield url
    server.drop_database(name)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of this test's own, already at the latest schema."""
    yield from _database(postgres_server, TEMPLATE)


@pytest.fixture
def empty_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of this test's own without any schema."""
    yield from _database(postgres_server, "template0")


@pytest.fixture
def fresh_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own that the test may stop and start again."""
    need_postgres()
    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: a new SQLite file, or a new migrated PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "castiel.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store_locator(store_location: str) -> str:
    """Where a test's metrics store lives, as `--store` and `Store.open` take it: the same
    test runs on a SQLite file and on a PostgreSQL database."""
    return store_location
