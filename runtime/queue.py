"""The Redis job queue: `Queue` for sync code (Flask/Django style) and `AsyncQueue` for asyncio.

Every state change is one Lua script (runtime/lua/) whose keys are all declared, so the queue
is atomic, at-least-once, and runs unchanged on Redis Cluster. Both classes share `QueueOps`,
which builds script arguments and parses replies; they differ only in how they call Redis.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio.cluster
import redis.cluster

from runtime.autopipeline import Batcher
from runtime.durable import run_durable, run_durable_async
from runtime.job import Job, JobSpec, JobState
from runtime.keys import QueueKeys, queues_key
from runtime.metrics import RuntimeMetrics
from runtime.queue_ops import (
    ChildResults,
    Counts,
    Fetched,
    JobArgs,
    QueueOps,
    QueueOptions,
    ScriptCall,
    SettleResult,
    outbox_entry,
    plain,
    seconds_ms,
    state_attr,
)
from runtime.safety import check_eviction_policy, check_eviction_policy_async
from runtime.scripts import SCRIPT_NAMES, script_source

__all__ = [
    "AsyncQueue",
    "ChildResults",
    "Counts",
    "Fetched",
    "Queue",
    "QueueOps",
    "QueueOptions",
    "SettleResult",
]

log = logging.getLogger("castiel.queue")


class _Base:
    def __init__(
        self,
        client: Any,
        name: str,
        options: QueueOptions | None = None,
        *,
        metrics: RuntimeMetrics | None = None,
        **option_overrides: Any,
    ) -> None:
        opts = options or QueueOptions()
        if option_overrides:
            opts = QueueOptions(**{**opts.__dict__, **option_overrides})
        self.ops = QueueOps(name, opts)
        self.client = client
        self._scripts = {n: client.register_script(script_source(n)) for n in SCRIPT_NAMES}
        self._checked = False
        self._enqueued = metrics.enqueued.labels(name) if metrics is not None else None
        # Redis Cluster pipelines refuse EVALSHA, so bulk script calls go one by one there
        # (each carries BULK_CHUNK jobs, so this costs a round trip per chunk, not per job).
        self._cluster = isinstance(
            client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster
        )

    @property
    def name(self) -> str:
        return self.ops.name

    @property
    def keys(self) -> QueueKeys:
        return self.ops.keys

    def _spec(self, name: str, data: Any, opts: dict[str, Any]) -> JobSpec:
        return JobSpec(name=name, data=data, **opts)

    def _durable_spec(self, name: str, data: Any, opts: dict[str, Any]) -> JobSpec:
        # The id is fixed before the first try, so a retry after a failover is idempotent.
        return self._spec(name, data, {**opts, "job_id": opts.get("job_id") or uuid.uuid4().hex})

    def _durable_args(self, spec: JobSpec) -> tuple[Any, ...]:
        o = self.ops.options
        (call,) = self.ops.add_calls([self.ops.spec_args(spec)])
        return (
            self._scripts[call.script],
            call.keys,
            call.args,
            self.keys.meta,
            spec.job_id,
            o.durable_replicas,
            o.durable_timeout,
        )

    def _counts_pipeline(self, pipe: Any) -> None:
        k = self.keys
        for key in (k.wait, k.delayed, k.active, k.completed, k.failed, k.waiting_children):
            pipe.zcard(key)
        pipe.hget(k.meta, "paused")

    def _added(self, replies: list[Any]) -> list[str]:
        """Ids from add replies; counts the jobs that were new (not idempotent repeats)."""
        if self._enqueued is not None:
            self._enqueued.inc(sum(QueueOps.created(r) for r in replies))
        return [job_id for reply in replies for job_id in QueueOps.parse_add(reply)]

    def _job_pipeline(self, pipe: Any, job_id: str) -> None:
        k = self.keys
        for key in (k.jobs, k.data, k.results, k.errors):
            pipe.hget(key, job_id)


class Queue(_Base):
    """Sync queue client. `Queue(conn.sync, "emails").add("send", {"to": ...})`."""

    def _ensure_safe(self) -> None:
        if not self._checked:
            check_eviction_policy(self.client, self.ops.options.allow_eviction)
            self.client.sadd(queues_key(), self.name)
            self._checked = True

    def _run(self, script: str, args: list[Any], client: Any = None) -> Any:
        return self._scripts[script](keys=self.ops.key_list, args=args, client=client)

    def _call(self, call: ScriptCall, client: Any = None) -> Any:
        return self._scripts[call.script](keys=call.keys, args=call.args, client=client)

    def add(self, name: str, data: Any = None, *, durable: bool = False, **opts: Any) -> str:
        """Enqueue one job; returns its id. Options as in `JobSpec`. `durable=True` returns
        only once a replica has the job (see runtime/durable.py)."""
        self._ensure_safe()
        if durable:
            spec = self._durable_spec(name, data, opts)
            reply = run_durable(self.client, *self._durable_args(spec))
            return self._added([reply])[0]
        (call,) = self.ops.add_calls([self.ops.spec_args(self._spec(name, data, opts))])
        return self._added([self._call(call)])[0]

    def add_bulk(self, specs: Iterable[JobSpec]) -> list[str]:
        """Enqueue many jobs in one pipelined round trip (chunks of BULK_CHUNK per script)."""
        self._ensure_safe()
        calls = self.ops.add_calls([self.ops.spec_args(spec) for spec in specs])
        if not calls:
            return []
        if self._cluster:
            replies = [self._call(call) for call in calls]
        else:
            with self.client.pipeline(transaction=False) as pipe:
                for call in calls:
                    self._call(call, client=pipe)
                replies = pipe.execute()
        return self._added(replies)

    def get_job(self, job_id: str) -> Job | None:
        with self.client.pipeline(transaction=False) as pipe:
            self._job_pipeline(pipe, job_id)
            return self.ops.parse_job(job_id, pipe.execute())

    def counts(self) -> Counts:
        with self.client.pipeline(transaction=False) as pipe:
            self._counts_pipeline(pipe)
            return QueueOps.parse_counts(pipe.execute())

    def pause(self) -> None:
        self._run("pause", ["1"])

    def resume(self) -> None:
        self._run("pause", ["0"])

    def set_rate_limit(self, max_jobs: int, per_seconds: float) -> None:
        """At most `max_jobs` jobs start per `per_seconds`, across all workers together.
        Limited jobs wait (they do not fail)."""
        self.client.hset(
            self.keys.meta, mapping=QueueOps.rate_limit_mapping("rl", max_jobs, per_seconds)
        )

    def set_group_rate_limit(self, max_jobs: int, per_seconds: float) -> None:
        """At most `max_jobs` jobs of one `group` (JobSpec.group) start per `per_seconds`."""
        self.client.hset(
            self.keys.meta, mapping=QueueOps.rate_limit_mapping("grl", max_jobs, per_seconds)
        )

    def clear_rate_limits(self) -> None:
        self.client.hdel(self.keys.meta, "rl_max", "rl_ms", "grl_max", "grl_ms")

    def children_results(self, job: Job) -> ChildResults:
        if not job.children:
            return ChildResults({}, {})
        raw = self.client.hmget(self.keys.child_results, QueueOps.children_fields(job))
        return QueueOps.parse_children(job, raw)

    def add_raw(self, specs: list[JobSpec], extras: list[dict[str, Any] | None]) -> list[str]:
        """Adds jobs with extra metadata (flows) in one script call: atomic within the queue."""
        self._ensure_safe()
        return self._added([self._run("add", self.ops.add_args(specs, extras))])

    def job_ids(self, state: JobState, start: int = 0, count: int = 100) -> list[str]:
        """Ids in a state, oldest first (waiting: in the order they will run)."""
        key = getattr(self.keys, state_attr(state))
        return [plain(x) for x in self.client.zrange(key, start, start + count - 1)]

    def retry_failed(self, job_ids: Iterable[str] = (), limit: int = 1000) -> list[str]:
        """Move failed jobs (the given ids, or up to `limit` oldest) back to waiting."""
        args = [self.ops.options.events_maxlen, limit, *job_ids]
        return [plain(x) for x in self._run("retry_failed", args)]

    def per_minute(self) -> dict[str, dict[int, int]]:
        """Completed and failed counts per minute (epoch seconds of the minute's start)."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.completed_per_minute)
            pipe.hgetall(self.keys.failed_per_minute)
            done, failed = pipe.execute()
        return {
            "completed": {int(k): int(v) for k, v in done.items()},
            "failed": {int(k): int(v) for k, v in failed.items()},
        }

    def obliterate(self) -> None:
        """Delete every key of this queue (jobs in every state). Irreversible."""
        self.client.delete(*self.ops.key_list)
        self.client.srem(queues_key(), self.name)


class AsyncQueue(_Base):
    """asyncio queue client, plus the lease operations the worker uses.

    With `autopipeline` (the default) concurrent `add` calls made in the same event-loop tick
    go to Redis as one add script call (runtime/autopipeline.py): 100 requests enqueueing at
    once cost one round trip, not 100. Each call still gets its own id or its own error."""

    def __init__(
        self,
        client: Any,
        name: str,
        options: QueueOptions | None = None,
        *,
        metrics: RuntimeMetrics | None = None,
        autopipeline: bool = True,
        **option_overrides: Any,
    ) -> None:
        super().__init__(client, name, options, metrics=metrics, **option_overrides)
        self._batcher = Batcher(self._add_many) if autopipeline else None

    async def _ensure_safe(self) -> None:
        if not self._checked:
            await check_eviction_policy_async(self.client, self.ops.options.allow_eviction)
            await self.client.sadd(queues_key(), self.name)
            self._checked = True

    async def _run(self, script: str, args: list[Any]) -> Any:
        return await self._scripts[script](keys=self.ops.key_list, args=args)

    async def _call(self, call: ScriptCall, pipe: Any = None) -> Any:
        """Runs a script call, or adds it to an async pipeline (awaiting then only queues it)."""
        return await self._scripts[call.script](keys=call.keys, args=call.args, client=pipe)

    async def add(self, name: str, data: Any = None, *, durable: bool = False, **opts: Any) -> str:
        """Enqueue one job; returns its id. Options as in `JobSpec`. `durable=True` returns
        only once a replica has the job (see runtime/durable.py); such adds are never batched,
        since their WAIT covers one connection's writes."""
        if durable:
            await self._ensure_safe()
            spec = self._durable_spec(name, data, opts)
            reply = await run_durable_async(self.client, *self._durable_args(spec))
            return self._added([reply])[0]
        job_args = self.ops.spec_args(self._spec(name, data, opts))  # bad input fails here
        if self._batcher is not None:
            return await self._batcher.submit(job_args)
        return (await self._add_many([job_args]))[0]

    async def add_bulk(self, specs: Iterable[JobSpec]) -> list[str]:
        """Enqueue many jobs in one pipelined round trip (chunks of BULK_CHUNK per script)."""
        return await self._add_many([self.ops.spec_args(spec) for spec in specs])

    async def _add_many(self, per_job: list[JobArgs]) -> list[str]:
        await self._ensure_safe()
        calls = self.ops.add_calls(per_job)
        if not calls:
            return []
        if len(calls) == 1:
            replies = [await self._call(calls[0])]
        elif self._cluster:
            replies = [await self._call(call) for call in calls]
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                for call in calls:
                    await self._call(call, pipe)
                replies = await pipe.execute()
        return self._added(replies)

    async def get_job(self, job_id: str) -> Job | None:
        async with self.client.pipeline(transaction=False) as pipe:
            self._job_pipeline(pipe, job_id)
            return self.ops.parse_job(job_id, await pipe.execute())

    async def counts(self) -> Counts:
        async with self.client.pipeline(transaction=False) as pipe:
            self._counts_pipeline(pipe)
            return QueueOps.parse_counts(await pipe.execute())

    async def pause(self) -> None:
        await self._run("pause", ["1"])

    async def resume(self) -> None:
        await self._run("pause", ["0"])

    async def retry_failed(self, job_ids: Iterable[str] = (), limit: int = 1000) -> list[str]:
        args = [self.ops.options.events_maxlen, limit, *job_ids]
        return [plain(x) for x in await self._run("retry_failed", args)]

    async def set_rate_limit(self, max_jobs: int, per_seconds: float) -> None:
        await self.client.hset(
            self.keys.meta, mapping=QueueOps.rate_limit_mapping("rl", max_jobs, per_seconds)
        )

    async def set_group_rate_limit(self, max_jobs: int, per_seconds: float) -> None:
        await self.client.hset(
            self.keys.meta, mapping=QueueOps.rate_limit_mapping("grl", max_jobs, per_seconds)
        )

    async def children_results(self, job: Job) -> ChildResults:
        if not job.children:
            return ChildResults({}, {})
        raw = await self.client.hmget(self.keys.child_results, QueueOps.children_fields(job))
        return QueueOps.parse_children(job, raw)

    async def add_raw(self, specs: list[JobSpec], extras: list[dict[str, Any] | None]) -> list[str]:
        await self._ensure_safe()
        return self._added([await self._run("add", self.ops.add_args(specs, extras))])

    async def deliver_outbox(
        self, resolve: Callable[[str], AsyncQueue], limit: int = 200
    ) -> dict[str, int]:
        """Deliver this queue's flow outbox (children that finished) to the parents' queues.

        Each delivery is idempotent (child_done.lua counts a child once), so concurrent
        workers and retries after a crash are safe. A parent that fails because of a child
        writes to its own queue's outbox, which is delivered next (grand-parents).
        Returns counts by outcome."""
        outcomes: dict[str, int] = {}
        todo: list[AsyncQueue] = [self]
        seen = 0
        while todo and seen < 64:
            queue = todo.pop()
            seen += 1
            entries = await queue.client.zrange(queue.keys.outbox, 0, limit - 1)
            delivered = []
            for raw in entries:
                entry = outbox_entry(raw)
                if entry is None:
                    log.error("flow outbox of %r: dropped a corrupt entry %r", queue.name, raw)
                    delivered.append(raw)
                    continue
                parent_queue, _, parent_id = entry["p"].partition(":")
                target = resolve(parent_queue)
                o = target.ops.options
                status = plain(
                    await target._run(
                        "child_done",
                        [
                            parent_id,
                            f"{queue.name}:{entry['c']}",
                            entry["ok"],
                            0 if entry.get("fp") is False else 1,
                            entry["r"],
                            o.events_maxlen,
                            o.keep_failed,
                            seconds_ms(o.keep_failed_age),
                            o.stats_retention_minutes,
                        ],
                    )
                )
                outcomes[status] = outcomes.get(status, 0) + 1
                if status != "missing":
                    delivered.append(raw)
                if status == "failed":
                    todo.append(target)
            if delivered:
                await queue.client.zrem(queue.keys.outbox, *delivered)
        return outcomes

    # -- lease operations used by BaseWorker -------------------------------------------------

    async def settle_and_fetch(
        self,
        completed: list[tuple[str, str, str]],
        failed: list[tuple[str, str, str, int]],
        fetch: int,
        token: str,
        lease_ms: int,
        worker_id: str,
    ) -> SettleResult:
        """Acknowledge finished jobs and fetch up to `fetch` new ones in one script call.

        completed: (id, token, result_json); failed: (id, token, error_json, retry_delay_ms)."""
        args = self.ops.settle_args(completed, failed, fetch, token, lease_ms, worker_id)
        return self.ops.parse_settle(await self._run("settle", args), token)

    async def extend(self, held: list[tuple[str, str]], lease_ms: int) -> list[str]:
        """Renew leases in one call; returns ids whose lease was lost."""
        if not held:
            return []
        reply = await self._run("extend", [lease_ms, *(x for pair in held for x in pair)])
        return [plain(x) for x in reply]

    async def sweep_stalled(self, max_stalls: int, limit: int = 1000) -> tuple[int, int, int]:
        """Return expired leases to waiting (or fail them past max_stalls); close expired
        dedup windows. Returns (requeued, failed, flow outbox entries pending)."""
        o = self.ops.options
        requeued, failed, outbox = await self._run(
            "sweep",
            [
                max_stalls,
                limit,
                o.events_maxlen,
                o.keep_failed,
                seconds_ms(o.keep_failed_age),
                o.stats_retention_minutes,
            ],
        )
        return int(requeued), int(failed), int(outbox)

    async def release(self, held: list[tuple[str, str]]) -> int:
        if not held:
            return 0
        args = [self.ops.options.events_maxlen, *(x for pair in held for x in pair)]
        return int(await self._run("release", args))

    async def wait_for_work(self, timeout: float) -> bool:
        """Block on Redis (not polling) until a job may be ready or `timeout` passes."""
        reply = await self.client.blpop([self.keys.notify], timeout=max(0.01, timeout))
        return reply is not None
