"""Schedules in Redis, and the scheduler loop that fires them.

Each schedule lives under its queue's hash tag, and firing a tick is one Lua script that
also creates the job (schedule_fire.lua): run as many scheduler processes as you like, every
tick fires exactly once, and none is missed while at least one runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from redis.exceptions import RedisError

from runtime.job import JobSpec
from runtime.keys import QueueKeys, queues_key
from runtime.metrics import RuntimeMetrics
from runtime.queue import QueueOps, QueueOptions
from runtime.schedule import Schedule, due_ticks, next_tick
from runtime.scripts import script_source

log = logging.getLogger("castiel.scheduler")


def _s(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


@dataclass(frozen=True)
class ScheduleStatus:
    schedule: Schedule
    last_fired: float | None
    next_fire: float


class Schedules:
    """Sync admin of one queue's schedules: `Schedules(conn.sync, "reports").upsert(...)`."""

    def __init__(self, client: Any, queue: str, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.keys = QueueKeys(queue)
        self.queue = queue
        self.clock = clock

    def upsert(self, schedule: Schedule) -> Schedule:
        """Create or replace. A new schedule counts from now: past ticks are not fired."""
        if schedule.every is not None and not schedule.anchor:
            schedule = replace(schedule, anchor=self.clock())
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.schedules, schedule.id, schedule.to_json())
            pipe.hsetnx(self.keys.schedule_state, schedule.id, str(int(self.clock() * 1000)))
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
        out = []
        marks = {_s(k): int(v) / 1000 for k, v in fired.items()}
        for raw in specs.values():
            s = Schedule.from_json(raw)
            last = marks.get(s.id)
            out.append(ScheduleStatus(s, last, next_tick(s, last or self.clock())))
        return sorted(out, key=lambda st: st.schedule.id)


class Scheduler:
    """Fires the schedules of `queues` (asyncio). Reloads them every `reload` seconds, so
    upserts from any process are picked up."""

    def __init__(
        self,
        client: Any,
        queues: Sequence[str],
        metrics: RuntimeMetrics | None = None,
        reload: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.queues = list(queues)
        self.metrics = metrics or RuntimeMetrics()
        self.reload = reload
        self.clock = clock
        self._fire = client.register_script(script_source("schedule_fire"))
        self._ops = {q: QueueOps(q, QueueOptions()) for q in self.queues}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def _load(self, queue: str) -> list[tuple[Schedule, float]]:
        keys = self._ops[queue].keys
        specs = await self.client.hgetall(keys.schedules)
        fired = await self.client.hgetall(keys.schedule_state)
        marks = {_s(k): int(v) / 1000 for k, v in fired.items()}
        return [(s, marks.get(s.id, self.clock())) for s in map(Schedule.from_json, specs.values())]

    async def tick(self) -> float:
        """Fire what is due; returns the earliest next tick of any schedule."""
        now = self.clock()
        earliest = now + self.reload
        for queue in self.queues:
            ops = self._ops[queue]
            for schedule, last_fired in await self._load(queue):
                ticks, dropped = due_ticks(schedule, last_fired, now, grace=self.reload + 1)
                last = last_fired
                if ticks:
                    spec = JobSpec(schedule.job, schedule.data, **schedule.options)
                    _, meta, data, _ = ops.spec_args(spec)
                    args = [
                        schedule.id,
                        ops.options.events_maxlen,
                        meta,
                        data,
                        *(str(round(t * 1000)) for t in ticks),
                    ]
                    fired = int(await self._fire(keys=ops.keys.schedule_keys(), args=args))
                    if fired:
                        self.metrics.schedule_fires.labels(queue, schedule.id).inc(fired)
                    if dropped:
                        self.metrics.schedule_missed.labels(queue, schedule.id).inc(dropped)
                        log.warning(
                            "schedule %s/%s: %d missed tick(s) dropped (missed=%s)",
                            queue,
                            schedule.id,
                            dropped,
                            schedule.missed,
                        )
                    last = ticks[-1]
                earliest = min(earliest, next_tick(schedule, max(last, now)))
        return earliest

    async def run(self) -> None:
        outage = False
        while not self._stop.is_set():
            try:
                wake_at = await self.tick()
                outage = False
            except RedisError as exc:
                if not outage:
                    log.warning("scheduler: Redis failed (%s); retrying", exc)
                outage = True
                wake_at = self.clock() + 1.0
            delay = max(0.0, min(wake_at, self.clock() + self.reload) - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
