"""Redis Cluster with replicas: a master killed with kill -9 while workers process thousands
of jobs. Replication is asynchronous, so adds acknowledged in the instant before the kill
may be lost; durable adds (WAIT-based) lose none."""

from __future__ import annotations

import asyncio

import pytest
import redis

from castiel.redis_server import RedisClusterServers
from runtime import AsyncQueue, JobState, Queue, connect
from runtime.errors import NotReplicatedError


@pytest.mark.cluster
def test_durable_adds_return_once_a_replica_has_the_job(
    cluster_url: str, redis_cluster: RedisClusterServers
) -> None:
    conn = connect(cluster_url)
    q = Queue(conn.sync, "durable")
    first = q.add("x", {"n": 1}, durable=True)
    assert q.add("x", job_id="fixed", durable=True) == "fixed"
    assert q.add("x", job_id="fixed", durable=True) == "fixed"  # idempotent, still confirmed

    async def add_async() -> list[str]:
        aq = AsyncQueue(conn.aio, "durable")
        try:
            return [await aq.add("y", durable=True), await aq.add("y", job_id="f2", durable=True)]
        finally:
            await conn.aclose()

    ids = asyncio.run(add_async())
    assert ids[1] == "f2"
    assert set(q.job_ids(JobState.WAIT)) == {first, "fixed", *ids}
    # ...and the replica of the queue's master has them (WAIT said so; read it there).
    (replica,) = redis_cluster.replicas_of(redis_cluster.master_for(q.keys.jobs))
    r = redis.Redis(port=replica.port)
    r.execute_command("READONLY")
    assert {k.decode() for k in r.hkeys(q.keys.jobs)} == {first, "fixed", *ids}


def test_a_durable_add_without_a_replica_says_so_and_keeps_the_job_id(redis_url: str) -> None:
    conn = connect(redis_url)
    q = Queue(conn.sync, "durable", durable_timeout=0.2)
    with pytest.raises(NotReplicatedError, match="0 of 1 replica") as caught:
        q.add("x", durable=True)
    # The job was written (on the master): adding it again with its id is idempotent.
    assert q.get_job(caught.value.job_id) is not None
    with pytest.raises(NotReplicatedError):
        q.add("x", job_id=caught.value.job_id, durable=True)
    assert q.counts().wait == 1
