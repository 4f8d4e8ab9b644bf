"""Schedules in Redis (`Schedules`, sync admin) and the loop that fires them (`Scheduler`).

Each schedule lives under its queue's hash tag, and firing is one Lua script that checks and
advances the schedule's "last fired" mark and creates the jobs (schedule_fire.lua): run as
many scheduler processes as you like, every tick fires exactly once, and none is missed
while at least one runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from runtime.errors import CastielError, ConfigError
from runtime.heartbeat import SCHEDULER_ID_PREFIX, Heartbeat, publish, withdraw
from runtime.keys import QueueKeys, queues_key
from runtime.metrics import RuntimeMetrics
from runtime.queue import QueueOps, QueueOptions
from runtime.redis_outage import REDIS_FAILED, OutageTracker
from runtime.schedule import Schedule, due_ticks, next_tick
from runtime.scripts import script_source

log = logging.getLogger("castiel.scheduler")


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


def _mark_before(stored: bytes | str | None, ms: int) -> bool:
    """Whether a stored "last fired" mark exists and lies before `ms` (an unreadable one is
    replaced: the scheduler would heal it anyway)."""
    if stored is None:
        return False
    try:
        return int(stored) < ms
    except ValueError:
        return True


@dataclass(frozen=True)
class ScheduleStatus:
    schedule: Schedule
    last_fired: float | None  # epoch seconds of the last tick fired (or the save time)
    next_fire: float  # epoch seconds of the next tick after now


class Schedules:
    """Sync admin of one queue's schedules: `Schedules(conn.sync, "reports").upsert(...)`."""

    def __init__(self, client: Any, queue: str, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.queue = QueueOps(queue, QueueOptions()).name  # validates the queue name
        self.keys = QueueKeys(queue)
        self.clock = clock

    def upsert(self, schedule: Schedule) -> Schedule:
        """Create or replace; returns the schedule as saved. A new schedule counts from now
        (no past tick fires). An interval schedule without an anchor keeps the anchor it had
        when only its job changes, so editing it does not shift its ticks; a new interval is
        anchored at now, and its first tick is one interval later."""
        # One reading, whole ms: the anchor and the "last fired" mark must be the same instant,
        # or the tick at the anchor itself falls after the mark and fires at the save.
        now_ms = _ms(self.clock())
        mark: int | None = None  # set when the anchor is new: ticks before it never fire
        if schedule.every is not None and schedule.anchor is None:
            anchor: float = now_ms / 1000
            mark = now_ms
            current = self.client.hget(self.keys.schedules, schedule.id)
            if current is not None:
                with contextlib.suppress(ConfigError):
                    old = Schedule.from_json(current)
                    if old.every == schedule.every and old.anchor is not None:
                        anchor, mark = old.anchor, None
            schedule = replace(schedule, anchor=anchor)
        move_mark = mark is not None and _mark_before(
            self.client.hget(self.keys.schedule_state, schedule.id), mark
        )
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.schedules, schedule.id, schedule.to_json())
            if move_mark:
                pipe.hset(self.keys.schedule_state, schedule.id, str(mark))
            else:
                pipe.hsetnx(self.keys.schedule_state, schedule.id, str(now_ms))
            pipe.sadd(queues_key(), self.queue)
            pipe.execute()
        return schedule

    def remove(self, schedule_id: str) -> bool:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hdel(self.keys.schedules, schedule_id)
            pipe.hdel(self.keys.schedule_state, schedule_id)
            removed, _ = pipe.execute()
        return bool(removed)

    def list(self) -> list[ScheduleStatus]:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.schedules)
            pipe.hgetall(self.keys.schedule_state)
            specs, fired = pipe.execute()
        now = _ms(self.clock())
        marks = {_s(k): int(v) for k, v in fired.items()}
        out = []
        for key, raw in specs.items():
            try:
                s = Schedule.from_json(raw)
            except ConfigError as exc:
                raise ConfigError(f"queue {self.queue!r}, schedule {_s(key)!r}: {exc}") from None
            last = marks.get(s.id)
            nxt = next_tick(s, max(last if last is not None else now, now))
            out.append(ScheduleStatus(s, None if last is None else last / 1000, nxt / 1000))
        return sorted(out, key=lambda st: st.schedule.id)


@dataclass(frozen=True)
class _Loaded:
    raw: str  # the spec JSON exactly as stored: the fire script compares it
    schedule: Schedule
    mark: str | None  # the last fired tick (ms) exactly as stored


class Scheduler:
    """Fires the schedules of `queues` (asyncio, with an async Redis client). It sleeps until
    the next tick of any schedule, and re-reads the schedules at least every `reload` seconds,
    so upserts from any process are picked up. A tick up to `reload + 1` seconds late fires
    as late; older ones were missed (no scheduler ran) and follow the schedule's policy.

    With `heartbeat_interval`, it publishes a heartbeat with its metrics (like a worker's,
    with no queues and no concurrency), so collectors see fired and missed ticks."""

    def __init__(
        self,
        client: Any,
        queues: Sequence[str],
        metrics: RuntimeMetrics | None = None,
        reload: float = 1.0,
        clock: Callable[[], float] = time.time,
        heartbeat_interval: float | None = None,
        metrics_url: str | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics or RuntimeMetrics()
        self.reload = reload
        self.clock = clock
        self.heartbeat_interval = heartbeat_interval
        self.metrics_url = metrics_url
        suffix = uuid.uuid4().hex[:6]
        self.id = f"{SCHEDULER_ID_PREFIX}{socket.gethostname()}:{os.getpid()}:{suffix}"
        self._ops = {q: QueueOps(q, QueueOptions()) for q in queues}
        self._fire = client.register_script(script_source("schedule_fire"))
        self._stop = asyncio.Event()
        self._gauged: set[tuple[str, str]] = set()
        self._bad: set[tuple[str, str, str]] = set()
        self._started = time.time()

    @property
    def queues(self) -> list[str]:
        return list(self._ops)

    def stop(self) -> None:
        self._stop.set()

    async def _load(self, queue: str) -> list[_Loaded]:
        keys = self._ops[queue].keys
        specs = await self.client.hgetall(keys.schedules)
        marks = {_s(k): _s(v) for k, v in (await self.client.hgetall(keys.schedule_state)).items()}
        out = []
        for key, value in specs.items():
            sid, raw = _s(key), _s(value)
            try:
                schedule = Schedule.from_json(raw)
                if schedule.id != sid:
                    raise ConfigError(f"stored under id {sid!r} but names {schedule.id!r}")
            except ConfigError as exc:
                if (queue, sid, raw) not in self._bad:  # once per bad spec, not every second
                    self._bad.add((queue, sid, raw))
                    log.error("schedule %s/%s skipped: %s", queue, sid, exc)
                continue
            out.append(_Loaded(raw, schedule, marks.get(sid)))
        return out

    async def tick(self) -> float:
        """Fire what is due now; returns when the next tick of any schedule falls (epoch s)."""
        now = _ms(self.clock())
        earliest = now + _ms(self.reload)
        seen: set[tuple[str, str]] = set()
        for queue in self._ops:
            for entry in await self._load(queue):
                try:
                    nxt = await self._advance(queue, entry, now)
                except CastielError as exc:
                    log.error("schedule %s/%s: %s", queue, entry.schedule.id, exc)
                    continue
                label = (queue, entry.schedule.id)
                seen.add(label)
                self.metrics.schedule_next_fire.labels(*label).set(nxt / 1000)
                earliest = min(earliest, nxt)
        for label in self._gauged - seen:  # removed schedules leave no stale gauge behind
            self.metrics.schedule_next_fire.remove(*label)
        self._gauged = seen
        return earliest / 1000

    async def _advance(self, queue: str, entry: _Loaded, now: int) -> int:
        """Fires the schedule's due ticks; returns its next tick (ms)."""
        s = entry.schedule
        # No mark (its state was deleted): count from now, and store that.
        last = int(entry.mark) if entry.mark is not None else now
        due = due_ticks(s, last, now, grace_ms=_ms(self.reload + 1))
        new_mark = due.mark if due.mark is not None else last
        if due.mark is not None or entry.mark is None:
            ops = self._ops[queue]
            _, meta, data, delay, _ = ops.spec_args(s.job_spec())
            args = [s.id, entry.raw, entry.mark or "", new_mark]
            args += [ops.options.events_maxlen, meta, data, delay, *due.fire]
            fired = int(await self._fire(keys=ops.keys.schedule_keys(), args=args))
            # -1: another scheduler got there first (it counts), or the schedule changed.
            if fired > 0:
                self.metrics.schedule_fires.labels(queue, s.id).inc(fired)
            if fired >= 0 and due.dropped:
                self.metrics.schedule_missed.labels(queue, s.id).inc(due.dropped)
                log.warning(
                    "schedule %s/%s: %d tick(s) missed while no scheduler ran, dropped (%s)",
                    queue,
                    s.id,
                    due.dropped,
                    s.missed if s.missed == "skip" else f"catchup at most {s.catchup_max}",
                )
        return next_tick(s, new_mark)

    def heartbeat(self) -> Heartbeat:
        # No queues: autoscaling measures throughput per worker of a queue, and a scheduler
        # processes no jobs.
        return Heartbeat(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=[],
            concurrency=0,
            started=self._started,
            last_beat=time.time(),
            metrics_url=self.metrics_url,
            metrics=self.metrics.snapshot(),
            kind="scheduler",
        )

    async def _beat(self, interval: float) -> None:
        while True:
            try:
                await publish(self.client, self.heartbeat(), ttl=interval * 3)
            except REDIS_FAILED:
                self.metrics.redis_errors.labels("scheduler heartbeat").inc()
            await asyncio.sleep(interval)

    async def run(self) -> None:
        """Until `stop()`."""
        beat = None
        if self.heartbeat_interval:
            beat = asyncio.create_task(self._beat(self.heartbeat_interval))
        outage = OutageTracker(
            "scheduler",
            self.metrics.redis_errors.labels("scheduler").inc,
            logger=log,
            meanwhile="retrying every second",
        )
        try:
            while not self._stop.is_set():
                try:
                    wake_at = await self.tick()
                    outage.ok()
                except REDIS_FAILED as exc:
                    outage.failed(exc)
                    wake_at = self.clock() + 1.0
                delay = max(0.0, min(wake_at, self.clock() + self.reload) - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
                with contextlib.suppress(*REDIS_FAILED):
                    await asyncio.wait_for(withdraw(self.client, self.id), 5)
