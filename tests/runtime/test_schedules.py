"""Schedules: tick computation (pure), the atomic fire script, and three real scheduler
processes firing every tick exactly once."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from runtime import ConfigError, JobState, Queue, connect
from runtime.connection import async_client
from runtime.schedule import Schedule, due_ticks, next_tick
from runtime.scheduler import Scheduler, Schedules
from tests.helpers import ROOT, wait_until


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_interval_ticks_and_the_skip_policy() -> None:
    s = Schedule("s", "job", every=10, anchor=100)
    assert next_tick(s, 100) == 110 and next_tick(s, 115) == 120
    assert due_ticks(s, 100, 135) == ([130], 2)  # 110 and 120 were missed: skipped


def test_next_tick_is_strictly_later_despite_floating_point() -> None:
    s = Schedule("s", "job", every=0.3, anchor=1795892000.123)
    t = s.anchor
    for _ in range(1000):
        nxt = next_tick(s, t)
        assert nxt > t
        t = nxt


def test_catchup_fires_at_most_n_oldest_first() -> None:
    s = Schedule("s", "job", every=10, anchor=0, missed="catchup", catchup_max=2)
    assert due_ticks(s, 0, 45) == ([30, 40], 2)


def test_late_ticks_within_the_grace_window_always_fire() -> None:
    s = Schedule("s", "job", every=10, anchor=0)
    # 10..40 are due at 45; with a 20 s grace, 30 and 40 are just late, 10 and 20 were missed.
    assert due_ticks(s, 0, 45, grace=20) == ([30, 40], 2)


def test_cron_in_a_time_zone_across_dst() -> None:
    # 02:30 every day in Berlin: on 2026-03-29 the clocks jump from 02:00 to 03:00.
    s = Schedule(
        "c", "job", cron="30 2 * * *", tz="Europe/Berlin", missed="catchup", catchup_max=10
    )
    ticks, dropped = due_ticks(s, ts("2026-03-27T00:00:00"), ts("2026-03-31T00:00:00"))
    utc = [datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M") for t in ticks]
    # CET (+1) before the switch, CEST (+2) after; the missing local 02:30 never fires twice.
    assert utc[0] == "03-27 01:30" and utc[-1] == "03-30 00:30" and dropped == 0
    assert len(utc) == len(set(utc))


@pytest.mark.parametrize(
    "kw",
    [
        {"cron": "not cron"},
        {"every": 0},
        {"cron": "* * * * *", "every": 5},
        {"every": 5, "tz": "Mars/Olympus"},
        {"every": 1, "missed": "later"},
    ],
)
def test_bad_schedules_are_config_errors(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Schedule("s", "job", **kw)  # type: ignore[arg-type]


def test_racing_fires_of_one_tick_create_one_job(any_url: str) -> None:
    conn = connect(any_url)
    clock = [1000.0]
    Schedules(conn.sync, "reports", clock=lambda: clock[0]).upsert(
        Schedule("daily", "report", every=10, data={"x": 1})
    )

    async def race() -> None:
        client = async_client(conn.settings)
        try:
            clock[0] = 1025.0
            schedulers = [Scheduler(client, ["reports"], clock=lambda: clock[0]) for _ in range(5)]
            await asyncio.gather(*(s.tick() for s in schedulers))
        finally:
            await client.aclose()

    asyncio.run(race())
    q = Queue(conn.sync, "reports")
    assert q.job_ids(JobState.WAIT) == ["sched:daily:1020000"]  # 1010 skipped, 1020 fired
    job = q.get_job("sched:daily:1020000")
    assert job is not None and job.data == {"x": 1} and job.name == "report"
    (status,) = Schedules(conn.sync, "reports", clock=lambda: 1025.0).list()
    assert status.last_fired == 1020 and status.next_fire == 1030


@pytest.mark.slow
def test_three_scheduler_processes_fire_every_tick_once(redis_url: str) -> None:
    conn = connect(redis_url)
    every = 0.3
    schedule = Schedules(conn.sync, "ticks").upsert(Schedule("t", "tick", every=every))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "castiel", "schedule", "run", "ticks", "--redis", redis_url],
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    q = Queue(conn.sync, "ticks")
    try:
        wait_until(lambda: q.counts().wait >= 15, 30, interval=0.1)
        procs[0].send_signal(signal.SIGKILL)  # the others carry on
        wait_until(lambda: q.counts().wait >= 36, 30, interval=0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(15)
    ids = q.job_ids(JobState.WAIT, 0, 1000)
    ticks = sorted(int(i.rsplit(":", 1)[1]) for i in ids)
    assert len(ticks) == len(set(ticks)) >= 36, "no tick fired twice"
    steps = {round((b - a) / 1000 / every) for a, b in itertools.pairwise(ticks)}
    assert steps == {1}, f"no tick was missed (gaps of {steps} intervals)"
    assert abs(ticks[0] / 1000 - (schedule.anchor + every)) < 0.01


def test_cli_add_list_remove(redis_url: str) -> None:
    def castiel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "castiel", "schedule", *args, "--redis", redis_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert (
        castiel(
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
        ).returncode
        == 0
    )
    listed = castiel("list", "mail", "--json")
    assert '"id": "digest"' in listed.stdout and '"tz": "Europe/Berlin"' in listed.stdout
    bad = castiel("add", "mail", "x", "--cron", "nope", "--job", "j")
    assert bad.returncode == 2 and "not a cron expression" in bad.stderr
    assert "removed" in castiel("remove", "mail", "digest").stdout
    assert time.time() > 0
