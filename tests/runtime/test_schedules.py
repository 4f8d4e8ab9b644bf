"""Schedules: tick computation (pure, incl. time zones and DST), the atomic fire script on a
standalone server and a cluster, the admin API, metrics and heartbeats, the CLI, and three
real scheduler processes firing every tick exactly once."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from castiel.cli import main as castiel_main
from collectors.runtime import RuntimeCollector
from runtime import BaseWorker, ConfigError, Job, JobState, Queue, connect
from runtime.connection import RedisConnection, async_client
from runtime.heartbeat import read_heartbeats
from runtime.keys import QueueKeys
from runtime.metrics import RuntimeMetrics
from runtime.queue import QueueOptions
from runtime.schedule import (
    MAX_TICKS,
    Schedule,
    count_ticks,
    due_ticks,
    last_ticks,
    next_tick,
    ticks_between,
)
from runtime.scheduler import Scheduler, Schedules
from runtime.scripts import script_source
from tests.helpers import ROOT, await_until, wait_until


def ms(text: str) -> int:
    """Epoch ms of an ISO time (UTC unless it carries an offset)."""
    d = datetime.fromisoformat(text)
    return round((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp() * 1000)


def local(ticks: list[int], tz: str = "Europe/Berlin") -> list[str]:
    return [datetime.fromtimestamp(t / 1000, ZoneInfo(tz)).isoformat() for t in ticks]


# -- tick computation (pure) --------------------------------------------------------------


def test_interval_ticks_fall_on_anchor_plus_multiples() -> None:
    s = Schedule("s", "job", every=10, anchor=100)
    assert next_tick(s, 100_000) == 110_000 and next_tick(s, 115_000) == 120_000
    assert ticks_between(s, 100_000, 135_000) == [110_000, 120_000, 130_000]
    assert count_ticks(s, 100_000, 135_000) == 3
    assert last_ticks(s, 100_000, 135_000, 2) == [120_000, 130_000]


def test_skip_fires_only_the_newest_missed_tick() -> None:
    s = Schedule("s", "job", every=10, anchor=100)
    due = due_ticks(s, 100_000, 135_000)
    assert (due.fire, due.dropped, due.mark) == ([130_000], 2, 130_000)


def test_catchup_fires_at_most_n_of_the_newest_oldest_first() -> None:
    s = Schedule("s", "job", every=10, anchor=0, missed="catchup", catchup_max=2)
    due = due_ticks(s, 0, 45_000)
    assert (due.fire, due.dropped, due.mark) == ([30_000, 40_000], 2, 40_000)
    everything = Schedule("s", "job", every=10, anchor=0, missed="catchup", catchup_max=10)
    assert due_ticks(everything, 0, 45_000).fire == [10_000, 20_000, 30_000, 40_000]


def test_catchup_zero_drops_every_missed_tick_but_still_moves_the_mark() -> None:
    s = Schedule("s", "job", every=10, anchor=0, missed="catchup", catchup_max=0)
    due = due_ticks(s, 0, 45_000)
    assert (due.fire, due.dropped, due.mark) == ([], 4, 40_000)


def test_late_ticks_within_the_grace_window_always_fire() -> None:
    s = Schedule("s", "job", every=10, anchor=0)
    # At 45 with 20 s of grace: 30 and 40 are late and fire; 10 and 20 were missed (skip).
    due = due_ticks(s, 0, 45_000, grace_ms=20_000)
    assert (due.fire, due.dropped) == ([30_000, 40_000], 2)
    # Nothing missed, nothing due yet.
    assert due_ticks(s, 40_000, 45_000, grace_ms=20_000).fire == []
    assert due_ticks(s, 40_000, 45_000, grace_ms=20_000).mark is None


def test_a_fired_tick_read_back_from_redis_is_not_due_again() -> None:
    # The anchor is wherever time.time() was; marks and job ids are whole ms. A tick read
    # back as the mark must compare exactly, or every tick would count one more as "missed".
    s = Schedule("s", "job", every=60, anchor=1795896394.6150951)
    first = next_tick(s, ms("2026-11-28T00:00:00"))
    due = due_ticks(s, first, first + 60_500, grace_ms=2_000)
    assert (due.fire, due.dropped) == ([first + 60_000], 0)


def test_sub_second_intervals_step_exactly() -> None:
    s = Schedule("s", "job", every=0.3, anchor=1795892000.123)
    ticks = ticks_between(s, 1795892000123, 1795892000123 + 300_000)
    assert len(ticks) == 1000 and {b - a for a, b in itertools.pairwise(ticks)} == {300}


@given(
    anchor=st.integers(-(10**6), 10**6),
    every=st.integers(1, 5_000),
    after=st.integers(-(10**6), 10**6),
    span=st.integers(0, 30_000),
    n=st.integers(0, 20),
)
def test_interval_arithmetic_matches_stepping_one_by_one(
    anchor: int, every: int, after: int, span: int, n: int
) -> None:
    s = Schedule("s", "job", every=every / 1000, anchor=anchor / 1000)
    until = after + span
    k = math.floor((after - anchor) / every) - 1
    brute = [anchor + i * every for i in range(k, k + span // every + 4)]
    brute = [t for t in brute if after < t <= until]
    assert ticks_between(s, after, until) == brute[:MAX_TICKS]  # bounded work per call
    assert count_ticks(s, after, until) == len(brute)
    assert last_ticks(s, after, until, n) == (brute[-n:] if n else [])


def test_cron_in_a_time_zone() -> None:
    s = Schedule("c", "job", cron="0 9 * * 1-5", tz="America/New_York")
    ticks = ticks_between(s, ms("2026-03-06T00:00:00"), ms("2026-03-11T00:00:00"))
    # Friday 9:00 EST (14:00 UTC); the weekend is skipped; Monday and Tuesday 9:00 EDT.
    assert local(ticks, "UTC") == [
        "2026-03-06T14:00:00+00:00",
        "2026-03-09T13:00:00+00:00",
        "2026-03-10T13:00:00+00:00",
    ]


def test_cron_with_a_seconds_field() -> None:
    s = Schedule("c", "job", cron="* * * * * */15")  # croniter: seconds is the 6th field
    assert ticks_between(s, 0, 60_000) == [15_000, 30_000, 45_000, 60_000]


def test_dst_spring_forward_fires_a_missing_local_time_once_just_after() -> None:
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    s = Schedule("c", "job", cron="30 2 * * *", tz="Europe/Berlin")
    ticks = ticks_between(s, ms("2026-03-27T00:00:00"), ms("2026-03-31T00:00:00"))
    assert local(ticks) == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_dst_fall_back_fires_a_repeated_local_time_once() -> None:
    # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    s = Schedule("c", "job", cron="30 2 * * *", tz="Europe/Berlin")
    ticks = ticks_between(s, ms("2026-10-23T12:00:00"), ms("2026-10-27T00:00:00"))
    assert local(ticks) == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_dst_wildcard_hours_follow_real_time_through_both_repeated_hours() -> None:
    s = Schedule("c", "job", cron="*/30 * * * *", tz="Europe/Berlin")
    ticks = ticks_between(s, ms("2026-10-24T23:59:00"), ms("2026-10-25T01:59:00"))
    assert local(ticks) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
    ]
    spring = ticks_between(s, ms("2026-03-29T00:29:00"), ms("2026-03-29T01:01:00"))
    assert local(spring) == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"]


@pytest.mark.parametrize("cron", ["30 2 * * *", "*/20 * * * *", "0 1-3 * * *", "@hourly"])
@pytest.mark.parametrize(
    "start", ["2026-03-28T20:00:00", "2026-10-24T20:00:00", "2026-07-01T00:00:00"]
)
def test_backward_and_forward_cron_iteration_agree_across_dst(cron: str, start: str) -> None:
    s = Schedule("c", "job", cron=cron, tz="Europe/Berlin")
    after = ms(start)
    for hours in (1, 5, 9, 30):
        until = after + hours * 3_600_000
        forward = ticks_between(s, after, until)
        assert count_ticks(s, after, until) == len(forward)
        for n in (1, 2, 7):
            assert last_ticks(s, after, until, n) == forward[-n:]
        due = due_ticks(
            Schedule("c", "job", cron=cron, tz="Europe/Berlin", missed="catchup", catchup_max=3),
            after,
            until,
        )
        assert due.fire == forward[-3:] and due.dropped == max(0, len(forward) - 3)


def test_a_long_outage_of_a_per_second_cron_stays_cheap() -> None:
    s = Schedule("c", "job", cron="* * * * * *")
    started = time.perf_counter()
    due = due_ticks(s, 0, 10 * 86_400_000)  # ten days, 864,000 ticks
    assert due.fire == [10 * 86_400_000] and due.mark == 10 * 86_400_000
    assert due.dropped >= MAX_TICKS - 1  # counted up to MAX_TICKS, not one by one
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"cron": "not cron"}, "not a cron expression"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"every": 0}, "every must be"),
        ({"every": -5}, "every must be"),
        ({"every": math.nan}, "every must be"),
        ({"every": math.inf}, "every must be"),
        ({"cron": "* * * * *", "every": 5}, "exactly one of cron or every"),
        ({}, "exactly one of cron or every"),
        ({"every": 5, "tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"every": 1, "missed": "later"}, "missed must be"),
        ({"every": 1, "missed": "catchup", "catchup_max": -1}, "catchup_max"),
        ({"every": 1, "missed": "catchup", "catchup_max": 10**6}, "catchup_max"),
        ({"every": 1, "options": {"colour": "red"}}, "unknown job option"),
        ({"every": 1, "options": {"job_id": "x"}}, "unknown job option"),
        ({"every": 1, "options": {"priority": 1000}}, "priority"),
        ({"every": 1, "data": {1, 2}}, "not JSON serializable"),
    ],
)
def test_bad_schedules_are_config_errors_naming_the_schedule(
    kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"schedule 'nightly'.*{message}"):
        Schedule("nightly", "job", **kw)


def test_bad_ids_and_stored_json() -> None:
    with pytest.raises(ConfigError, match="id"):
        Schedule("a:b", "job", every=1)
    with pytest.raises(ConfigError, match="malformed"):
        Schedule.from_json('{"id": "x", "job": "j", "every": 1, "extra": 1}')
    s = Schedule("x", "j", cron="0 * * * *", data={"a": [1]}, options={"backoff": {"base": 2}})
    assert Schedule.from_json(s.to_json()) == s
    backoff = s.job_spec().backoff
    assert backoff is not None and backoff.base == 2


# -- Redis: the fire script, the admin API, the scheduler ----------------------------------


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def connection(any_url: str) -> Iterator[RedisConnection]:
    c = connect(any_url)
    yield c
    c.close()


def tick_once(conn: RedisConnection, schedulers: int, clock: Clock, queue: str) -> list[Any]:
    """`schedulers` schedulers, each with its own metrics, run one tick at the same time."""

    async def race() -> list[RuntimeMetrics]:
        client = async_client(conn.settings)
        try:
            metrics = [RuntimeMetrics() for _ in range(schedulers)]
            runners = [Scheduler(client, [queue], m, clock=clock) for m in metrics]
            await asyncio.gather(*(s.tick() for s in runners))
            return metrics
        finally:
            await client.aclose()

    return asyncio.run(race())


def counter(metrics: list[RuntimeMetrics], name: str) -> float:
    total = 0.0
    for m in metrics:
        for sample_name, _, value in m.snapshot():
            if sample_name == name:
                total += value
    return total


def test_racing_schedulers_fire_a_tick_once_and_count_it_once(
    connection: RedisConnection,
) -> None:
    clock = Clock(1000.0)
    Schedules(connection.sync, "reports", clock=clock).upsert(
        Schedule("daily", "report", every=10, data={"x": 1}, options={"attempts": 3})
    )
    clock.t = 1025.0  # 1010 and 1020 are over 2 s late (missed): skip fires 1020 only
    metrics = tick_once(connection, 5, clock, "reports")
    q = Queue(connection.sync, "reports")
    assert q.job_ids(JobState.WAIT) == ["sched:daily:1020000"]
    job = q.get_job("sched:daily:1020000")
    assert job is not None and job.data == {"x": 1} and job.name == "report"
    assert job.max_attempts == 3
    assert counter(metrics, "castiel_schedule_fires_total") == 1
    assert counter(metrics, "castiel_schedule_missed_total") == 1  # by the winner only
    (status,) = Schedules(connection.sync, "reports", clock=clock).list()
    assert status.last_fired == 1020 and status.next_fire == 1030
    # The same instant again: nothing new.
    tick_once(connection, 3, clock, "reports")
    assert q.counts().wait == 1


def test_the_fire_script_is_a_compare_and_set(connection: RedisConnection) -> None:
    sync = connection.sync
    keys = QueueKeys("cas")
    Schedules(sync, "cas", clock=Clock(1000.0)).upsert(Schedule("s", "j", every=10))
    raw = sync.hget(keys.schedules, "s")
    assert isinstance(raw, bytes)
    fire = sync.register_script(script_source("schedule_fire"))

    def call(spec: str, mark: str, *ticks: int) -> int:
        args: list[str | int] = [
            "s",
            spec,
            mark,
            max(ticks, default=int(mark)),
            100,
            '{"name":"j","pri":0,"att":1,"bo":[1,2,300,0.5]}',
            "null",
            0,
            *ticks,
        ]
        return int(fire(keys=keys.schedule_keys(), args=args))

    spec = raw.decode()
    assert call(spec.replace('"j"', '"other"'), "1000000", 1010000) == -1  # spec changed
    assert call(spec, "999999", 1010000) == -1  # someone else moved the mark
    assert call(spec, "1000000", 1000000, 1010000, 1020000) == 2  # 1000000 is not after
    assert call(spec, "1000000", 1030000) == -1  # the mark moved to 1020000
    assert call(spec, "1020000", 1020000) == 0
    assert sync.hget(keys.schedule_state, "s") == b"1020000"
    ids = sorted(Queue(sync, "cas").job_ids(JobState.WAIT))
    assert ids == ["sched:s:1010000", "sched:s:1020000"]


def test_upsert_list_remove(connection: RedisConnection) -> None:
    clock = Clock(1000.0)
    admin = Schedules(connection.sync, "mail", clock=clock)
    saved = admin.upsert(Schedule("poll", "fetch", every=60))
    assert saved.anchor == 1000.0
    clock.t = 1030.0
    # Same interval, new data: the anchor (and so every tick) stays.
    assert admin.upsert(Schedule("poll", "fetch", every=60, data={"v": 2})).anchor == 1000.0
    # A new interval starts counting from now.
    assert admin.upsert(Schedule("poll", "fetch", every=30)).anchor == 1030.0
    admin.upsert(Schedule("digest", "send", cron="0 8 * * *", tz="Europe/Berlin"))
    listed = {st.schedule.id: st for st in admin.list()}
    assert sorted(listed) == ["digest", "poll"]
    # ...and moves the mark there: no tick of the new interval before the edit fires.
    assert listed["poll"].schedule.every == 30 and listed["poll"].last_fired == 1030.0
    assert listed["poll"].next_fire == 1060.0
    assert listed["digest"].next_fire == ms("1970-01-01T08:00:00+01:00") / 1000
    assert admin.remove("poll") is True and admin.remove("poll") is False
    assert [st.schedule.id for st in admin.list()] == ["digest"]


def test_the_first_tick_is_one_interval_after_the_save_whatever_the_clock_reads(
    connection: RedisConnection,
) -> None:
    # 1000.0006 rounds up to 1000.001 s but floors to 1000000 ms: an anchor and a mark taken
    # from two readings (or two roundings) put the anchor after the mark, and a tick fired at
    # the moment of the save (seen in CI under load).
    clock = Clock(1000.0006)
    admin = Schedules(connection.sync, "mail", clock=clock)
    saved = admin.upsert(Schedule("poll", "fetch", every=0.3))
    assert saved.anchor is not None
    (status,) = admin.list()
    assert status.next_fire == pytest.approx(saved.anchor + 0.3, abs=1e-9)
    # Changing the interval re-anchors at now: the next tick is again one interval later.
    clock.t = 1001.2346
    edited = admin.upsert(Schedule("poll", "fetch", every=0.5))
    assert edited.anchor is not None
    (status,) = admin.list()
    assert status.last_fired is not None
    # No tick of the new interval before the edit is due (the old mark was 1000000 ms).
    assert due_ticks(edited, round(status.last_fired * 1000), 1001235).fire == []
    assert status.next_fire == pytest.approx(edited.anchor + 0.5, abs=1e-9)


def test_a_removed_or_edited_schedule_never_fires_its_old_self(
    connection: RedisConnection,
) -> None:
    clock = Clock(1000.0)
    admin = Schedules(connection.sync, "edits", clock=clock)
    admin.upsert(Schedule("a", "old-job", every=10))
    admin.upsert(Schedule("gone", "x", every=10))

    async def scenario() -> list[str]:
        client = async_client(connection.settings)
        try:
            sched = Scheduler(client, ["edits"], clock=clock)
            loaded = {e.schedule.id: e for e in await sched._load("edits")}
            admin.upsert(Schedule("a", "new-job", every=10))  # edited after the load
            admin.remove("gone")
            clock.t = 1010.5
            assert await sched._advance("edits", loaded["a"], 1010500) == 1020000
            await sched._advance("edits", loaded["gone"], 1010500)
            await sched.tick()  # reloads: fires the edited schedule
            return Queue(connection.sync, "edits").job_ids(JobState.WAIT)
        finally:
            await client.aclose()

    ids = asyncio.run(scenario())
    assert ids == ["sched:a:1010000"]
    job = Queue(connection.sync, "edits").get_job("sched:a:1010000")
    assert job is not None and job.name == "new-job"


def test_job_options_delay_and_priority_reach_the_jobs(connection: RedisConnection) -> None:
    clock = Clock(1000.0)
    Schedules(connection.sync, "opts", clock=clock).upsert(
        Schedule("d", "later", every=10, options={"delay": 30, "priority": 7})
    )
    clock.t = 1010.0
    tick_once(connection, 1, clock, "opts")
    q = Queue(connection.sync, "opts")
    assert q.job_ids(JobState.DELAYED) == ["sched:d:1010000"] and q.counts().wait == 0
    job = q.get_job("sched:d:1010000")
    assert job is not None and job.priority == 7


def test_lost_state_heals_and_a_bad_spec_does_not_stop_the_others(
    connection: RedisConnection, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(1000.0)
    keys = QueueKeys("heal")
    Schedules(connection.sync, "heal", clock=clock).upsert(Schedule("ok", "j", every=10))
    connection.sync.delete(keys.schedule_state)
    connection.sync.hset(keys.schedules, "broken", '{"id": "broken", "job": "j", "every": -1}')

    async def scenario() -> None:
        client = async_client(connection.settings)
        try:
            sched = Scheduler(client, ["heal"], clock=clock)
            clock.t = 1005.0
            await sched.tick()  # no mark: counts from now, and stores that
            assert connection.sync.hget(keys.schedule_state, "ok") == b"1005000"
            clock.t = 1010.2
            await sched.tick()
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert Queue(connection.sync, "heal").job_ids(JobState.WAIT) == ["sched:ok:1010000"]
    errors = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert len(errors) == 1 and "every must be" in errors[0]  # logged once, not per tick


def test_the_scheduler_publishes_its_metrics_to_the_runtime_collector(redis_url: str) -> None:
    conn = connect(redis_url)
    Schedules(conn.sync, "beats").upsert(Schedule("fast", "ping", every=0.1))
    collector = RuntimeCollector(conn.sync, queues=["beats"])

    def fires_seen() -> float:
        batch = collector.collect(time.time())
        return sum(
            s.point.value
            for s in batch.scalars
            if s.key.name == "castiel_schedule_fires_total"
            and s.key.label_dict == {"queue": "beats", "schedule": "fast"}
        )

    async def main() -> float:
        client = async_client(conn.settings)
        metrics = RuntimeMetrics()
        sched = Scheduler(client, ["beats"], metrics, heartbeat_interval=0.2)
        task = asyncio.create_task(sched.run())
        try:
            await await_until(
                lambda: asyncio.to_thread(lambda: bool(read_heartbeats(conn.sync)[0])), 10
            )
            (beat,) = read_heartbeats(conn.sync)[0]
            assert beat.queues == [] and beat.concurrency == 0  # not counted as throughput
            collector.collect(time.time())  # the first reading is the baseline
            seen = await await_until(lambda: asyncio.to_thread(fires_seen), 10)
            next_fire = metrics.registry.get_sample_value(
                "castiel_schedule_next_fire_timestamp_seconds",
                {"queue": "beats", "schedule": "fast"},
            )
            assert next_fire is not None and abs(next_fire - time.time()) < 2
            return seen
        finally:
            sched.stop()
            await asyncio.wait_for(task, 10)
            await client.aclose()

    assert asyncio.run(main()) >= 1
    assert read_heartbeats(conn.sync) == ([], [])  # withdrawn on stop
    conn.close()


# -- the CLI ---------------------------------------------------------------------------------


def castiel(*args: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", "schedule", *args, "--redis", redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_add_list_remove(redis_url: str) -> None:
    added = castiel(
        "add",
        "mail",
        "digest",
        "--cron",
        "0 8 * * 1-5",
        "--tz",
        "Europe/Berlin",
        "--job",
        "send-digest",
        "--data",
        '{"n": 1}',
        "--missed",
        "catchup:3",
        redis_url=redis_url,
    )
    assert added.returncode == 0, added.stderr
    listed = castiel("list", "mail", "--json", redis_url=redis_url)
    (item,) = json.loads(listed.stdout)
    assert item["id"] == "digest" and item["tz"] == "Europe/Berlin"
    assert item["missed"] == "catchup" and item["catchup_max"] == 3
    assert datetime.fromtimestamp(item["next_fire"], ZoneInfo("Europe/Berlin")).hour == 8
    table = castiel("list", "mail", redis_url=redis_url)
    assert table.returncode == 0 and "send-digest" in table.stdout
    removed = castiel("remove", "mail", "digest", redis_url=redis_url)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert json.loads(castiel("list", "mail", "--json", redis_url=redis_url).stdout) == []


def test_cli_bad_input_exits_2_with_one_line(redis_url: str) -> None:
    bad = castiel("add", "mail", "x", "--cron", "nope", "--job", "j", redis_url=redis_url)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "not a cron expression" in bad.stderr


def test_cli_unreachable_redis_exits_3() -> None:
    broken = castiel("list", "mail", redis_url="redis://127.0.0.1:1/0")
    assert broken.returncode == 3 and "Traceback" not in broken.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "0"], "--every: '0' must be longer than 0s"),
        (["--every", "nan"], "--every: 'nan' is not a duration"),
        (["--every", "5", "--tz", "Nowhere/Town"], "unknown time zone"),
        (["--every", "5", "--missed", "catchup"], "--missed must be"),
        (["--every", "5", "--missed", "skip:2"], "--missed must be"),
        (["--every", "5", "--missed", "catchup:many"], "--missed must be"),
        (["--every", "5", "--data", "{nope"], "--data is not JSON"),
        (["--every", "5", "--options", "[1]"], "--options must be a JSON object"),
        (["--every", "5", "--options", '{"colour": 1}'], "unknown job option"),
    ],
)
def test_cli_bad_arguments(
    redis_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = castiel_main(["schedule", "add", "q", "s", "--job", "j", *args, "--redis", redis_url])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["add", "q", "s", "--job", "j"],  # neither --cron nor --every
        ["add", "q", "s", "--job", "j", "--every", "5", "--cron", "* * * * *"],
        ["add", "q", "s", "--every", "5"],  # no --job
        ["add", "q", "s", "--job", "j", "--every", "soon"],
    ],
)
def test_cli_argument_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert castiel_main(["schedule", *args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and err.count("\n") == 1


# -- the required test: three scheduler processes --------------------------------------------


class TickWorker(BaseWorker):
    """Records every job it runs. Completed jobs are dropped at once (keep_completed=0), so
    a tick fired twice would create its job again and run twice: idempotent job ids cannot
    hide a duplicate here."""

    queue = "ticks"
    queue_options = QueueOptions(keep_completed=0)
    concurrency = 4

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.ran: list[str] = []

    async def process(self, job: Job) -> None:
        self.ran.append(job.id)


@pytest.mark.slow
def test_three_scheduler_processes_fire_every_tick_once(redis_url: str, tmp_path: Path) -> None:
    conn = connect(redis_url)
    logs = [tmp_path / f"scheduler-{i}.log" for i in range(3)]
    argv = [sys.executable, "-m", "castiel", "schedule", "run", "ticks", "--redis", redis_url]
    procs = []
    for log_path in logs:
        with log_path.open("w") as out:
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    worker = TickWorker(redis_url=redis_url, heartbeat_interval=60)
    loop = asyncio.new_event_loop()
    consumer = threading.Thread(target=loop.run_until_complete, args=(worker.main(),))
    every = 0.3

    def schedulers_up() -> bool:
        beats = read_heartbeats(conn.sync)[0]
        return sum(b.id.startswith("scheduler:") for b in beats) == 3

    try:
        # All three are up (each publishes a heartbeat first thing) before the schedule exists.
        wait_until(schedulers_up, 30, message="3 schedulers")
        consumer.start()
        schedule = Schedules(conn.sync, "ticks").upsert(Schedule("t", "tick", every=every))
        wait_until(lambda: len(worker.ran) >= 15, 30, interval=0.1, message="15 ticks")
        procs[0].send_signal(signal.SIGKILL)  # the other two carry on
        procs[0].wait(10)
        wait_until(lambda: len(worker.ran) >= 36, 30, interval=0.1, message="36 ticks")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(15) for p in procs]
        if consumer.is_alive():
            loop.call_soon_threadsafe(worker.request_stop)
            consumer.join(30)
        loop.close()
    assert codes[1:] == [0, 0]
    assert Queue(conn.sync, "ticks").counts().completed == 0  # every finished job was dropped
    ticks = sorted(int(i.rsplit(":", 1)[1]) for i in worker.ran)
    assert len(ticks) == len(set(ticks)) >= 36, "no tick fired twice"
    assert schedule.anchor is not None
    anchor_ms, every_ms = round(schedule.anchor * 1000), round(every * 1000)
    expected = [anchor_ms + k * every_ms for k in range(1, len(ticks) + 1)]
    assert ticks == expected, "every tick from the first on, none missed"
    output = "".join(p.read_text() for p in logs)
    assert "missed" not in output and "Traceback" not in output, output
    conn.close()
