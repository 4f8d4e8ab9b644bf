"""Connection pools under more concurrent callers than connections, as a busy cache sees them:
the sync clients `connect()` builds wait for a free connection (standalone and cluster alike)
instead of failing with redis-py's MaxConnectionsError."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.cluster

from runtime import connect
from runtime.cache import Cache


@pytest.mark.parametrize(
    "target", ["standalone", pytest.param("cluster", marks=pytest.mark.cluster)]
)
def test_sync_clients_queue_for_a_connection_instead_of_failing(
    target: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url" if target == "standalone" else "cluster_url")
    conn = connect(url, max_connections=2, connect_timeout=10)
    client = conn.sync
    assert isinstance(client, redis.cluster.RedisCluster) == (target == "cluster")

    def hold() -> object:
        # A blocking pop holds its connection for 0.2 s: 12 of them need 6 turns of 2 slots.
        return client.blpop(["{pool}:nothing"], timeout=0.2)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: hold(), range(12)))
    assert results == [None] * 12

    # The cache on that client, with far more threads than connections: every call answers.
    cache = Cache("pool", client, ttl=60)
    with ThreadPoolExecutor(16) as pool:
        values = list(pool.map(lambda i: cache.get_or_load(f"k{i % 4}", lambda: i % 4), range(64)))
    assert values == [i % 4 for i in range(64)]
    conn.close()


@pytest.mark.cluster
def test_async_cluster_client_queues_commands_beyond_its_pool(cluster_url: str) -> None:
    """redis-py 8.1's asyncio cluster client raises MaxConnectionsError as soon as more than
    max_connections commands are in flight to one node, and can break connections when many
    tasks hit it before it knows the topology; `connect().aio` waits and discovers first.
    Each round is a new, cold client."""

    async def round_trip() -> list[int]:
        conn = connect(cluster_url, max_connections=4, connect_timeout=10)
        client = conn.aio
        try:
            # 100 commands for one slot (one node) at once on a cold client, 4 connections.
            return [
                int(n) for n in await asyncio.gather(*(client.incr("{pool}:n") for _ in range(100)))
            ]
        finally:
            await conn.aclose()

    async def main() -> list[list[int]]:
        return [await round_trip() for _ in range(5)]

    rounds = asyncio.run(main())
    assert sorted(x for r in rounds for x in r) == list(range(1, 501))
