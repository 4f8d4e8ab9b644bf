"""Durable adds: `add(..., durable=True)` returns only once a replica has the job.

Redis replicates asynchronously: a master answers a write before its replicas have it, so a
master that dies in that window (kill -9, a lost machine) takes with it jobs whose `add` had
already returned, and the replica promoted in its place never saw them. A durable add sends,
on one connection to the master of the queue's slot, the add script, then one more small
write to the queue's meta hash, then `WAIT replicas timeout`. WAIT answers how many replicas
have every write this connection made, and the extra write makes that cover the job even
when the add found it already there (a retry: the script then writes nothing). The job id is
fixed before the first try, so retrying after a failover is idempotent.

Costs one replica round trip per add. Cannot help when every replica of the slot is down:
the add then raises NotReplicatedError (the job may exist; add it again with the same id)."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import AskError, NoScriptError, ResponseError

from runtime.errors import NotReplicatedError
from runtime.redis_outage import REDIS_UNAVAILABLE

ATTEMPTS = 3  # a failover moves the slot: find its new master and try again
COUNTER = "durable_adds"


def _check(acked: int, replicas: int, job_id: str, timeout: float) -> None:
    if acked < replicas:
        raise NotReplicatedError(
            f"job {job_id!r} was written but {acked} of {replicas} replica(s) confirmed it "
            f"within {timeout:g}s: it may be lost if its master fails now; add it again "
            "with the same job_id (adding is idempotent)",
            job_id,
        )


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (*REDIS_UNAVAILABLE, AskError))  # MovedError is an AskError


def run_durable(
    client: Any,
    script: Any,
    keys: list[str],
    args: list[Any],
    meta_key: str,
    job_id: str,
    replicas: int,
    timeout: float,
) -> Any:
    """Runs the add `script` and WAITs on the same connection (sync client)."""
    for attempt in range(ATTEMPTS):
        try:
            node = client
            if isinstance(client, redis.cluster.RedisCluster):
                master = client.get_node_from_key(meta_key)  # type: ignore[no-untyped-call]
                node = client.get_redis_connection(master)
            with node.pipeline(transaction=False) as pipe:
                script(keys=keys, args=args, client=pipe)
                pipe.hincrby(meta_key, COUNTER, 1)
                pipe.execute_command("WAIT", replicas, int(timeout * 1000))
                reply, _, acked = pipe.execute()
        except Exception as exc:
            if attempt == ATTEMPTS - 1 or not _retryable(exc):
                raise
            if isinstance(client, redis.cluster.RedisCluster):
                client.nodes_manager.initialize()
            time.sleep(0.1 * (attempt + 1))
            continue
        _check(int(acked), replicas, job_id, timeout)
        return reply
    raise AssertionError("unreachable")


async def run_durable_async(
    client: Any,
    script: Any,
    keys: list[str],
    args: list[Any],
    meta_key: str,
    job_id: str,
    replicas: int,
    timeout: float,
) -> Any:
    """Runs the add `script` and WAITs on the same connection (asyncio client)."""
    import asyncio  # noqa: PLC0415 - only the async path needs it

    for attempt in range(ATTEMPTS):
        try:
            if isinstance(client, redis.asyncio.cluster.RedisCluster):
                reply, acked = await _cluster_call(
                    client, script, keys, args, meta_key, replicas, timeout
                )
            else:
                async with client.pipeline(transaction=False) as pipe:
                    await script(keys=keys, args=args, client=pipe)
                    pipe.hincrby(meta_key, COUNTER, 1)
                    pipe.execute_command("WAIT", replicas, int(timeout * 1000))
                    reply, _, acked = await pipe.execute()
        except Exception as exc:
            if attempt == ATTEMPTS - 1 or not _retryable(exc):
                raise
            if isinstance(client, redis.asyncio.cluster.RedisCluster):
                await client.nodes_manager.initialize()
            await asyncio.sleep(0.1 * (attempt + 1))
            continue
        _check(int(acked), replicas, job_id, timeout)
        return reply
    raise AssertionError("unreachable")


async def _cluster_call(
    client: Any,
    script: Any,
    keys: list[str],
    args: list[Any],
    meta_key: str,
    replicas: int,
    timeout: float,
) -> tuple[Any, Any]:
    """redis-py's asyncio cluster pipeline refuses scripts and sends WAIT to every node, so
    the three commands go down one connection of the slot's master by hand."""
    if client._initialize:
        await client.initialize()
    node = client.get_node_from_key(meta_key)
    for loaded in (False, True):
        connection = node.acquire_connection()
        try:
            await connection.send_packed_command(
                connection.pack_commands(
                    [
                        ("EVALSHA", script.sha, len(keys), *keys, *args),
                        ("HINCRBY", meta_key, COUNTER, 1),
                        ("WAIT", replicas, int(timeout * 1000)),
                    ]
                )
            )
            replies: list[Any] = []
            for _ in range(3):
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:  # an error reply; the connection stays usable
                    replies.append(exc)
        except BaseException:
            await connection.disconnect()  # replies may be left unread: never reuse it
            raise
        finally:
            node.release(connection)
        reply, counted, acked = replies
        if isinstance(reply, NoScriptError) and not loaded:
            await client.script_load(script.script)
            continue
        for r in (reply, counted, acked):
            if isinstance(r, Exception):
                raise r
        return reply, acked
    raise AssertionError("unreachable")
