"""`BaseWorker`: subclass it, implement `process(job)`, call `run()`.

One pump coroutine does all queue I/O: it acknowledges finished jobs and fetches new ones in a
single round trip, so at full load one Redis call serves a whole batch. When there is nothing
to fetch it blocks on Redis (BLPOP on the queue's notify list) instead of polling. A second
coroutine renews leases (one call per tick for all held jobs) and sweeps expired leases of dead
workers; a third publishes the heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import faulthandler
import inspect
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, fields
from typing import Any, ClassVar
from wsgiref.simple_server import WSGIServer

from runtime.connection import AsyncClient, RedisSettings, SyncClient, async_client, sync_client
from runtime.correlation import correlation_id, current_job_id
from runtime.errors import JobTimeoutError, WorkerCrashed
from runtime.heartbeat import Heartbeat, publish, withdraw
from runtime.held import Held, drain
from runtime.idle_wait import EmptyFetches, IdleWait
from runtime.job import Job, corrupt_error, dumps
from runtime.job_outcomes import OutcomeMetrics, failure_record
from runtime.metrics import QueueDepthCollector, RuntimeMetrics, serve_metrics
from runtime.queue import AsyncQueue, ChildResults, Fetched, QueueOptions, SettleResult
from runtime.redis_outage import REDIS_FAILED, REDIS_UNAVAILABLE, OutageTracker
from runtime.settings import WorkerSettings
from runtime.threads import JobThreads

log = logging.getLogger("castiel.worker")


@dataclass
class _Call:
    """A settle call in flight: the acknowledgements it carries (queued again if it fails)
    and how many jobs it fetches."""

    completed: list[tuple[str, str, str]]
    failures: list[tuple[str, str, str, int]]
    fetch: int
    token: str


async def _bounded(step: Awaitable[Any], what: str, timeout: float = 5.0) -> None:
    try:
        await asyncio.wait_for(step, timeout)
    except TimeoutError:
        log.warning("shutdown: could not %s within %.0fs; going on", what, timeout)
    except REDIS_UNAVAILABLE as exc:
        log.warning("shutdown: could not %s (%s)", what, exc)


class BaseWorker:
    """Subclass, set `queue`, implement `async def process(self, job)` (or a sync `process`,
    which runs in a thread pool). Return a JSON-serialisable result; raise to retry (per the
    job's attempts and backoff) or raise `UnrecoverableError` to fail at once.

    Settings (see `WorkerSettings`) come from keyword arguments, then `CASTIEL_<NAME>`
    environment variables, then class attributes of the same name."""

    queue: ClassVar[str] = "default"
    queue_options: ClassVar[QueueOptions] = QueueOptions()

    def __init__(self, metrics: RuntimeMetrics | None = None, **settings: Any) -> None:
        defaults = {
            f.name: getattr(type(self), f.name)
            for f in fields(WorkerSettings)
            if hasattr(type(self), f.name)
        }
        self.settings = WorkerSettings.resolve(defaults, settings)
        self.metrics = metrics or RuntimeMetrics()
        self.worker_id = self.settings.worker_id or (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self.processed = 0
        self.failed = 0
        self._stopping = False
        self._force = False
        self._held: dict[str, Held] = {}
        self._completed: list[tuple[str, str, str]] = []
        self._failures: list[tuple[str, str, str, int]] = []
        self._wake: asyncio.Event | None = None
        self._stop_event: asyncio.Event | None = None
        self._threads: JobThreads | None = None
        self._forced: asyncio.Event | None = None
        self._other_queues: dict[str, AsyncQueue] = {}
        self._seq = 0
        self._started = time.time()
        self._crash: tuple[str, BaseException] | None = None
        self.metrics_port: int | None = None

    # -- to override ---------------------------------------------------------------------

    async def process(self, job: Job) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement process(job)")

    async def on_startup(self) -> None:
        """Called once before the first fetch (open your own clients here)."""

    async def on_shutdown(self) -> None:
        """Called once after the last job finished or was handed back."""

    # -- running -----------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; blocks. A second signal skips the grace period.
        SIGUSR1 prints every thread's stack to stderr (for a worker that seems stuck)."""
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        asyncio.run(self.main(install_signals=True))

    def request_stop(self, force: bool = False) -> None:
        """Stop fetching; in-flight jobs get `grace` seconds (none when forced)."""
        if self._stopping:
            force = True
        self._stopping = True
        self._force = self._force or force
        if self._force and self._forced is not None:
            self._forced.set()
        if self._stop_event is not None:
            self._stop_event.set()
        if self._wake is not None:
            self._wake.set()

    async def main(self, install_signals: bool = False) -> None:
        s = self.settings
        self._wake = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._forced = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        redis_settings = RedisSettings.from_url(s.redis_url, client_name="castiel-worker")
        self._block = min(s.block_timeout, redis_settings.max_block_seconds)
        client, blocking_client = self._open_queues(redis_settings)
        self._bind_metrics()
        metrics_server, depth_client = self._serve_metrics(redis_settings)
        if not inspect.iscoroutinefunction(self.process):
            self._threads = JobThreads()
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._connect_and_check()
            await self.on_startup()
            log.info("worker %s: queue=%s concurrency=%d", self.worker_id, s.queue, s.concurrency)
            tasks = [
                asyncio.create_task(self._maintain(), name="maintain"),
                asyncio.create_task(self._heartbeat(), name="heartbeat"),
            ]
            pump = asyncio.create_task(self._pump(), name="pump")
            for loop_task in (*tasks, pump):
                loop_task.add_done_callback(self._loop_ended)
            await self._stop_event.wait()
            await drain(self._held, self.q, s.grace, lambda: self._force, self._forced)
            self._wake.set()
            await asyncio.wait({pump})
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Clean-up must never keep a stopping worker alive: each step is bounded.
            await _bounded(withdraw(client, self.worker_id), "withdraw the heartbeat")
            await _bounded(self.on_shutdown(), "on_shutdown", timeout=max(5.0, s.grace))
            if self._threads is not None:
                self._threads.shutdown(wait=False, cancel_futures=True)
            if metrics_server is not None:
                metrics_server.shutdown()
            if depth_client is not None:
                depth_client.close()
            await _bounded(client.aclose(), "close the Redis client")
            await _bounded(blocking_client.aclose(), "close the blocking Redis client")
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        if self._crash is not None:
            name, exc = self._crash
            raise WorkerCrashed(f"worker loop {name!r} died: {exc!r}") from exc

    def _open_queues(self, redis_settings: RedisSettings) -> tuple[AsyncClient, AsyncClient]:
        """The queue, and the same queue on a client of its own for BLPOP (it holds its
        connection while blocked)."""
        s, opts = self.settings, self.queue_options
        if s.allow_eviction and not opts.allow_eviction:
            opts = QueueOptions(**{**opts.__dict__, "allow_eviction": True})
        client, blocking_client = async_client(redis_settings), async_client(redis_settings)
        self.q = AsyncQueue(client, s.queue, opts)
        self._blocking_q = AsyncQueue(blocking_client, s.queue, opts)
        return client, blocking_client

    def _serve_metrics(
        self, redis_settings: RedisSettings
    ) -> tuple[WSGIServer | None, SyncClient | None]:
        """/metrics on `metrics_port` (with the queue's depth), when asked for."""
        if self.settings.metrics_port is None:
            return None, None
        depth_client = sync_client(redis_settings)
        self.metrics.registry.register(QueueDepthCollector(depth_client, [self.settings.queue]))
        server, _, self.metrics_port = serve_metrics(
            self.metrics.registry, self.settings.metrics_port
        )
        return server, depth_client

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """A loop that ends of an unexpected error (a bug, not an outage: those are retried
        inside the loops) stops the worker at once and makes it end with WorkerCrashed, so
        the process exits non-zero and its supervisor restarts it; a worker never stays
        alive, heartbeating, without fetching."""
        if task.cancelled() or self._crash is not None:
            return
        exc = task.exception()
        if exc is None and self._stopping:
            return  # the pump ends when a stop has drained it
        self._crash = (task.get_name(), exc or RuntimeError("returned"))
        log.critical(
            "worker %s: the %s loop died; stopping so that the process is restarted",
            self.worker_id,
            task.get_name(),
            exc_info=exc,
        )
        self.request_stop(force=True)

    async def _connect_and_check(self) -> None:
        outage = self._outage("worker start")
        while True:
            try:
                await self.q._ensure_safe()
                outage.ok()
                return
            except REDIS_FAILED as exc:
                if self._stopping:
                    raise
                await self._sleep(outage.failed(exc))

    def _outage(self, component: str) -> OutageTracker:
        return OutageTracker(component, self.metrics.redis_errors.labels(component).inc, logger=log)

    def _bind_metrics(self) -> None:
        m, q = self.metrics, self.settings.queue
        self._outcomes = OutcomeMetrics(m, q)
        self._m_wait = m.waiting.labels(q)
        # Read at scrape time: no gauge update per job.
        m.in_flight.labels(q).set_function(lambda: len(self._held))
        self._m_stall_requeued = m.stalls.labels(q, "requeued")
        self._m_stall_failed = m.stalls.labels(q, "failed")
        self._m_rate_limited = m.rate_limited.labels(q)
        self._m_group_held = m.group_limited.labels(q)

    async def _sleep(self, seconds: float) -> None:
        """Sleep that a stop request cuts short."""
        assert self._stop_event is not None
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    # -- the pump: acknowledge + fetch in one round trip -------------------------------------

    async def _pump(self) -> None:
        """Sends settle calls (acknowledge what finished, fetch what fits) and starts what they
        fetch. Up to `settle_depth` calls are in flight at once, each fetching at most its share
        of `concurrency`: the worker runs the jobs of one reply while Redis runs the next call,
        instead of idling through every round trip."""
        assert self._wake is not None
        calls: dict[asyncio.Task[SettleResult], _Call] = {}
        outage = self._outage("worker")
        idle = IdleWait(self._wake, self._blocking_q, self._block, self._sleep)
        starved: EmptyFetches | None = None  # a fetch found nothing: wait for work first
        try:
            while True:
                self._wake.clear()
                done = [t for t in calls if t.done()]
                if done:
                    received = await self._receive(done, calls, outage)
                    if received is None:  # Redis is away: their acks are queued again
                        if self._stopping and self._force:
                            return
                        continue
                    for sent, res in received:
                        if sent.fetch > 0:
                            starved = None if res.jobs else EmptyFetches.of(res, starved)
                pending = sum(c.fetch for c in calls.values())
                while len(calls) < self.settings.settle_depth:
                    call = self._next_call(pending, starved is not None)
                    if call is None:
                        break
                    task = asyncio.create_task(self._settle(call))
                    task.add_done_callback(self._call_done)
                    calls[task] = call
                    pending += call.fetch
                if self._stopping and not calls and not self._held:
                    return
                if calls or self._stopping or starved is None or self._wake.is_set():
                    await self._wake.wait()
                    continue
                await idle.wait(starved, outage)
                starved = None
        finally:
            for t in calls:
                t.cancel()
            await idle.close()

    def _call_done(self, _: asyncio.Task[SettleResult]) -> None:
        if self._wake is not None:
            self._wake.set()

    def _next_call(self, pending: int, starved: bool) -> _Call | None:
        """The next settle call: what finished, and as many jobs as there are free slots (less
        those the calls in flight will fill), at most a call's share. None: nothing to send
        (once a fetch found nothing, fetching alone waits for work)."""
        s = self.settings
        want = 0 if self._stopping else s.concurrency - len(self._held) - pending
        fetch = max(0, min(want, -(-s.concurrency // s.settle_depth)))
        if not self._completed and not self._failures and (fetch == 0 or starved):
            return None
        self._seq += 1
        call = _Call(self._completed, self._failures, fetch, f"{self.worker_id}:{self._seq}")
        self._completed, self._failures = [], []
        return call

    async def _settle(self, call: _Call) -> SettleResult:
        lease_ms = int(self.settings.lease * 1000)
        return await self.q.settle_and_fetch(
            call.completed, call.failures, call.fetch, call.token, lease_ms, self.worker_id
        )

    async def _receive(
        self,
        done: list[asyncio.Task[SettleResult]],
        calls: dict[asyncio.Task[SettleResult], _Call],
        outage: OutageTracker,
    ) -> list[tuple[_Call, SettleResult]] | None:
        """Handles finished settle calls: records their outcomes and starts the jobs they
        fetched. None when Redis was away: the acknowledgements of the calls that failed are
        queued again (settle.lua acknowledges a job once, whatever is resent), after a
        backoff. An error that is not an outage is a bug: it propagates and the worker stops."""
        received, failed = [], None
        for task in done:
            call = calls.pop(task)
            try:
                res = task.result()
                if res.flow_events:
                    await self._deliver_flow_events()
            except REDIS_FAILED as exc:
                self._completed[:0] = call.completed
                self._failures[:0] = call.failures
                failed = exc
                continue
            self._apply(res, call.token)
            received.append((call, res))
        if failed is not None:
            await self._sleep(outage.failed(failed))
            return None
        outage.ok()
        return received

    def _apply(self, res: SettleResult, token: str) -> None:
        assert self._wake is not None
        ok, failed = self._outcomes.record(res.completed_ms, res.failed)
        self.processed += ok
        self.failed += failed
        if res.rate_limited_ms:
            self._m_rate_limited.inc()
        if res.group_held:
            self._m_group_held.inc(res.group_held)
        for fetched in res.jobs:
            self._start(fetched)
        for job_id, problem in res.corrupt:
            log.error("job %s: corrupt job record (%s); failing it", job_id, problem)
            self._failures.append((job_id, token, corrupt_error(problem), -1))
            self._wake.set()

    def _start(self, fetched: Fetched) -> None:
        self._m_wait.observe(fetched.wait_ms / 1000)
        task = asyncio.create_task(self._run_job(fetched))
        self._held[fetched.job.id] = Held(fetched, task)

    async def _run_job(self, fetched: Fetched) -> None:
        job = fetched.job
        correlation_id.set(job.correlation_id)
        current_job_id.set(job.id)
        try:
            try:
                if job.timeout is not None:
                    try:
                        result = await asyncio.wait_for(self._call(job), job.timeout)
                    except TimeoutError:
                        self._timed_out(job)
                        raise JobTimeoutError(
                            f"job {job.id} ran longer than its timeout of {job.timeout}s"
                        ) from None
                else:
                    result = await self._call(job)
                encoded = dumps(result, f"result of job {job.id} ({job.name})")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures.append(failure_record(fetched, exc, self.worker_id))
            else:
                self._completed.append((job.id, fetched.token, encoded))
        finally:
            self._held.pop(job.id, None)
            assert self._wake is not None
            self._wake.set()

    async def _call(self, job: Job) -> Any:
        if self._threads is None:
            return await self.process(job)
        ctx = contextvars.copy_context()
        thread = self._threads.submit(ctx.run, self.process, job)
        held = self._held.get(job.id)
        if held is not None:
            held.thread = thread
        return await asyncio.wrap_future(thread)

    def _timed_out(self, job: Job) -> None:
        """A timed-out job's slot goes to the next job at once. Its thread, if it has one,
        cannot be stopped: it keeps running beside the pool's `concurrency` threads, and past
        `concurrency` such threads the worker stops (non-zero) to be restarted, the only way
        to end them."""
        held = self._held.get(job.id)
        if self._threads is None or held is None or held.thread is None or held.thread.done():
            return
        stuck, limit = self._threads.abandon(held.thread), self.settings.concurrency
        log.warning(
            "job %s timed out after %ss; its thread cannot be stopped and keeps running "
            "(%d such thread(s) now run beside the %d of concurrency)",
            job.id,
            job.timeout,
            stuck,
            limit,
        )
        if stuck > limit and self._crash is None:
            self._crash = ("job threads", RuntimeError(f"{stuck} timed-out threads still run"))
            log.error("more timed-out threads than concurrency (%d): restarting", limit)
            self.request_stop()

    # -- flows -------------------------------------------------------------------------------

    def _queue_for(self, name: str) -> AsyncQueue:
        """AsyncQueue of another queue (a flow parent's), sharing this worker's client."""
        if name == self.q.name:
            return self.q
        if name not in self._other_queues:
            self._other_queues[name] = AsyncQueue(self.q.client, name, self.queue_options)
        return self._other_queues[name]

    async def _deliver_flow_events(self) -> None:
        outcomes = await self.q.deliver_outbox(self._queue_for)
        for outcome, n in outcomes.items():
            self.metrics.flow_events.labels(self.q.name, outcome).inc(n)

    async def children(self, job: Job) -> ChildResults:
        """Results (and ignored failures) of a flow parent's children, by "queue:id"."""
        return await self.q.children_results(job)

    # -- leases, stalls and heartbeat ------------------------------------------------------

    async def _maintain(self) -> None:
        s = self.settings
        lease_ms = int(s.lease * 1000)
        tick = min(s.lease / 3, s.stall_interval)
        outage = self._outage("lease renewal")
        last_sweep = 0.0
        while True:
            await asyncio.sleep(tick)
            try:
                held = [(job_id, h.fetched.token) for job_id, h in self._held.items() if not h.lost]
                for job_id in await self.q.extend(held, lease_ms):
                    if job_id in self._held:
                        self._held[job_id].lost = True
                if time.monotonic() - last_sweep >= s.stall_interval:
                    last_sweep = time.monotonic()
                    requeued, failed, outbox = await self.q.sweep_stalled(s.max_stalls)
                    if outbox:
                        # Flow events a crashed worker wrote but never delivered.
                        await self._deliver_flow_events()
                    if requeued or failed:
                        log.warning(
                            "recovered %d stalled job(s), failed %d past max_stalls=%d",
                            requeued,
                            failed,
                            s.max_stalls,
                        )
                        self._m_stall_requeued.inc(requeued)
                        self._m_stall_failed.inc(failed)
                outage.ok()
            except REDIS_FAILED as exc:
                outage.failed(exc)

    def heartbeat(self) -> Heartbeat:
        s = self.settings
        url = f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None
        return Heartbeat(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=[s.queue],
            concurrency=s.concurrency,
            started=self._started,
            last_beat=time.time(),
            in_flight=len(self._held),
            processed=self.processed,
            failed=self.failed,
            metrics_url=url,
            metrics=self.metrics.snapshot(),
        )

    async def _heartbeat(self) -> None:
        s = self.settings
        outage = self._outage("heartbeat")
        while True:
            try:
                await publish(self.q.client, self.heartbeat(), ttl=s.heartbeat_interval * 3)
                outage.ok()
            except REDIS_FAILED as exc:
                outage.failed(exc)
            await asyncio.sleep(s.heartbeat_interval)
