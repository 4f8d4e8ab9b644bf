"""The connection factory: URL parsing, settings that reach every connection, blocking
commands that outlive their own timeout safely, and clusters."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio
import redis.asyncio.cluster
import redis.exceptions

from runtime import ConfigError, RedisSettings, connect
from runtime.redis_outage import REDIS_FAILED


def test_settings_reach_the_pools() -> None:
    conn = connect("redis://user:s3cret@127.0.0.1:1/2", socket_timeout=7, retries=2)
    for pool in (conn.sync.connection_pool, conn.aio.connection_pool):
        kw = pool.connection_kwargs
        assert (kw["socket_timeout"], kw["retry"]._retries, kw["db"]) == (7, 2, 2)
        assert kw["password"] == "s3cret"
    assert "s3cret" not in repr(conn)


@pytest.mark.parametrize(
    ("url", "nodes"),
    [
        (
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
            ((("127.0.0.1", 7000)), ("127.0.0.1", 7001)),
        ),
        ("redis://10.0.0.5:7000/0?cluster=true", (("10.0.0.5", 7000),)),
    ],
)
def test_cluster_urls(url: str, nodes: tuple[tuple[str, int], ...]) -> None:
    settings = RedisSettings.from_url(url)
    assert settings.is_cluster and settings.cluster_nodes == nodes


def test_node_list_is_a_cluster() -> None:
    assert RedisSettings.from_url(["127.0.0.1:7000", "127.0.0.1:7001"]).is_cluster


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6380", "redis+cluster://nohostport", "redis+cluster://"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        RedisSettings.from_url(url)


def test_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTIEL_REDIS_URL", "redis://127.0.0.1:7777/3")
    assert RedisSettings.from_url().url == "redis://127.0.0.1:7777/3"


def test_blocking_wait_is_shorter_than_the_socket_timeout(redis_url: str) -> None:
    """A BLPOP for max_block_seconds returns None; it never trips the socket timeout."""
    conn = connect(redis_url, socket_timeout=1.0)
    block = conn.settings.max_block_seconds
    assert block < conn.settings.socket_timeout

    async def go() -> object:
        try:
            return await conn.aio.blpop(["nothing-here"], timeout=block)
        finally:
            await conn.aclose()

    t0 = time.monotonic()
    assert asyncio.run(go()) is None
    assert block - 0.05 <= time.monotonic() - t0 < conn.settings.socket_timeout
    assert conn.sync.blpop(["nothing-here"], timeout=block) is None


def test_dead_server_fails_fast_with_bounded_retries() -> None:
    from castiel.redis_server import free_port

    conn = connect(f"redis://127.0.0.1:{free_port()}/0", retries=2, connect_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(Exception, match=r"[Cc]onnect"):
        conn.sync.ping()
    assert time.monotonic() - t0 < 5


@pytest.mark.cluster
def test_cluster_clients_work(cluster_url: str) -> None:
    conn = connect(cluster_url)
    conn.sync.set("{a}k", "1")
    assert conn.sync.get("{a}k") == b"1"

    async def go() -> object:
        try:
            await conn.aio.set("{b}k", "2")
            return await conn.aio.get("{b}k")
        finally:
            await conn.aclose()

    assert asyncio.run(go()) == b"2"
    conn.close()


async def _write_while_disconnected(client: object) -> BaseException | None:
    """Sends a command on one of `client`'s connections while another task disconnects it
    (what redis-py's own error paths and a cluster's topology refresh do to a shared
    connection): redis-py 8.1 raised AttributeError ('NoneType' ... 'writelines')."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        await client.initialize()
        node = client.get_default_node()
        assert node is not None
        conn = node.acquire_connection()
    else:
        assert isinstance(client, redis.asyncio.Redis)
        conn = await client.connection_pool.get_connection()
    await conn.connect()
    write = asyncio.create_task(conn.send_command("PING"))
    cut = asyncio.create_task(conn.disconnect(nowait=True))
    error, _ = await asyncio.gather(write, cut, return_exceptions=True)
    assert isinstance(error, BaseException | None)
    return error


@pytest.mark.parametrize("topology", ["standalone", "cluster"])
def test_a_connection_closed_during_a_write_is_a_connection_error(
    topology: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("cluster_url" if topology == "cluster" else "redis_url")
    conn = connect(url, connect_timeout=2.0)

    async def go() -> BaseException | None:
        try:
            error = await _write_while_disconnected(conn.aio)
            # ...and the client carries on: the next command reconnects.
            assert await conn.aio.ping() is True
            return error
        finally:
            await conn.aclose()

    error = asyncio.run(go())
    assert isinstance(error, redis.exceptions.ConnectionError), repr(error)
    assert isinstance(error, REDIS_FAILED)
