"""Schedules as data, and the pure computation of which ticks are due.

A schedule fires a job on a cron expression (croniter: 5 fields, or 6 with seconds last) in a
time zone, or every N seconds. Ticks are integer epoch milliseconds: the unit of the "last
fired" mark in Redis and of the job ids, so a tick read back from Redis compares exactly.

Ticks missed while no scheduler ran follow a policy: `skip` fires only the most recent one,
`catchup` fires up to `catchup_max` of them (the newest ones, oldest first).

Daylight saving time follows cron's custom (cronie, Vixie cron): a local time that does not
exist (spring forward) fires once, at the first valid moment after it; a local time that
happens twice (fall back) fires once, unless the hour field is a wildcard (`*`, `*/2`), whose
schedules follow real time and fire in both occurrences of the repeated hour."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from runtime.backoff import Backoff
from runtime.errors import CastielError, ConfigError
from runtime.job import JobSpec

MAX_TICKS = 10_000  # ticks computed at once: a per-second cron after days of downtime is bounded
MAX_CATCHUP = 1_000
MIN_EVERY = 0.001  # ticks are whole milliseconds
# JobSpec options a schedule may carry; the job id is the schedule's own (sched:<id>:<tick>).
JOB_OPTIONS = frozenset(f.name for f in fields(JobSpec)) - {"name", "data", "job_id"}


@dataclass(frozen=True)
class Schedule:
    """One schedule of a queue. `options` are JobSpec options of the jobs it creates
    (`priority`, `attempts`, `backoff` as a dict of Backoff fields, `timeout`, `delay`, ...).
    `anchor` (epoch seconds): interval ticks fall on anchor + k * every; None takes the
    moment the schedule is first saved."""

    id: str
    job: str
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    data: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    missed: str = "skip"
    catchup_max: int = 0
    anchor: float | None = None

    def __post_init__(self) -> None:
        where = f"schedule {self.id!r}"
        if not isinstance(self.id, str) or not self.id or any(c in self.id for c in ": {}"):
            raise ConfigError(f"{where}: the id must be non-empty without ':', ' ', '{{', '}}'")
        if not isinstance(self.job, str) or not self.job:
            raise ConfigError(f"{where}: needs a job name")
        if (self.cron is None) == (self.every is None):
            raise ConfigError(f"{where}: give exactly one of cron or every")
        if self.every is not None and not (
            isinstance(self.every, int | float)
            and not isinstance(self.every, bool)
            and math.isfinite(self.every)
            and self.every >= MIN_EVERY
        ):
            raise ConfigError(f"{where}: every must be a number of seconds >= {MIN_EVERY}")
        if self.cron is not None and not (
            isinstance(self.cron, str) and croniter.is_valid(self.cron)
        ):
            raise ConfigError(
                f"{where}: {self.cron!r} is not a cron expression "
                "(5 fields, or 6 with seconds last, e.g. '*/5 * * * *')"
            )
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(f"{where}: unknown time zone {self.tz!r}") from None
        if self.missed not in ("skip", "catchup"):
            raise ConfigError(f"{where}: missed must be 'skip' or 'catchup', not {self.missed!r}")
        if not isinstance(self.catchup_max, int) or not 0 <= self.catchup_max <= MAX_CATCHUP:
            raise ConfigError(f"{where}: catchup_max must be between 0 and {MAX_CATCHUP}")
        if self.anchor is not None and not (
            isinstance(self.anchor, int | float) and math.isfinite(self.anchor)
        ):
            raise ConfigError(f"{where}: anchor must be a finite epoch time")
        unknown = set(self.options) - JOB_OPTIONS
        if unknown:
            raise ConfigError(
                f"{where}: unknown job option(s) {sorted(unknown)}; known: {sorted(JOB_OPTIONS)}"
            )
        try:
            self.job_spec()
            self.to_json()
        except (CastielError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def job_spec(self) -> JobSpec:
        """The job each tick creates (the fire script gives it its id)."""
        opts = dict(self.options)
        if isinstance(opts.get("backoff"), dict):
            opts["backoff"] = Backoff(**opts["backoff"])
        return JobSpec(self.job, self.data, **opts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Schedule:
        try:
            fields_ = json.loads(raw)
            return cls(**fields_)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"stored schedule is malformed: {exc}") from None


@dataclass(frozen=True)
class Due:
    """What to do now: `fire` these ticks (ms, ascending), `dropped` were lost to the missed
    policy, and `mark` is the newest due tick (fired or not), the new "last fired" mark."""

    fire: list[int]
    dropped: int
    mark: int | None


def _interval(s: Schedule) -> tuple[int, int]:
    assert s.every is not None
    return round((s.anchor or 0.0) * 1000), max(1, round(s.every * 1000))


@cache
def _hour_is_wildcard(expr: str) -> bool:
    return str(croniter(expr).expressions[1]).startswith("*")


def _cron_ticks(s: Schedule, start_ms: int, backward: bool = False) -> Iterator[int]:
    """Cron ticks strictly after (or, backward, at or before) `start_ms`, without the second
    occurrence of a repeated local time unless the hour field is a wildcard."""
    assert s.cron is not None
    tz = ZoneInfo(s.tz)
    # croniter steps strictly away from its start; start a second late to include start_ms.
    origin = (start_ms + (1000 if backward else 0)) / 1000
    it = croniter(s.cron, datetime.fromtimestamp(origin, tz))
    step = it.get_prev if backward else it.get_next
    once = not _hour_is_wildcard(s.cron)
    while True:
        t = step(float)
        ms = round(t * 1000)
        if (ms > start_ms) if backward else (ms <= start_ms):
            continue
        if once and datetime.fromtimestamp(t, tz).fold:
            continue  # fall back: this wall-clock time already fired an hour ago
        yield ms


def next_tick(s: Schedule, after_ms: int) -> int:
    """The first tick strictly after `after_ms`."""
    if s.every is not None:
        anchor, every = _interval(s)
        return anchor + ((after_ms - anchor) // every + 1) * every
    return next(_cron_ticks(s, after_ms))


def ticks_between(s: Schedule, after_ms: int, until_ms: int, limit: int = MAX_TICKS) -> list[int]:
    """The first `limit` ticks in (after_ms, until_ms], ascending."""
    out: list[int] = []
    if s.every is not None:
        t = next_tick(s, after_ms)
        _, every = _interval(s)
        while t <= until_ms and len(out) < limit:
            out.append(t)
            t += every
        return out
    for t in _cron_ticks(s, after_ms):
        if t > until_ms or len(out) >= limit:
            break
        out.append(t)
    return out


def last_ticks(s: Schedule, after_ms: int, until_ms: int, n: int) -> list[int]:
    """The newest `n` ticks in (after_ms, until_ms], ascending."""
    if n <= 0 or until_ms <= after_ms:
        return []
    if s.every is not None:
        anchor, every = _interval(s)
        newest = anchor + ((until_ms - anchor) // every) * every
        return [t for t in range(newest - (n - 1) * every, newest + 1, every) if t > after_ms]
    out: list[int] = []
    for t in _cron_ticks(s, until_ms, backward=True):
        if t <= after_ms or len(out) >= n:
            break
        out.append(t)
    return out[::-1]


def count_ticks(s: Schedule, after_ms: int, until_ms: int, cap: int = MAX_TICKS) -> int:
    """How many ticks lie in (after_ms, until_ms]: exact for intervals, at most `cap` for
    cron (counting a per-second cron over a long outage one by one costs CPU for nothing)."""
    if until_ms <= after_ms:
        return 0
    if s.every is not None:
        anchor, every = _interval(s)
        return (until_ms - anchor) // every - (after_ms - anchor) // every
    return len(ticks_between(s, after_ms, until_ms, cap))


def due_ticks(s: Schedule, last_fired_ms: int, now_ms: int, grace_ms: int = 0) -> Due:
    """Pure: which ticks in (last_fired_ms, now_ms] fire now, and how many the policy drops.

    Ticks within `grace_ms` of `now_ms` are merely late (a scheduler wakes up a little after
    a tick, or reloads its schedules every so often) and always fire. Older ones were missed
    while no scheduler ran and follow the policy: `skip` fires only the newest of them (none
    when a late tick fires anyway), `catchup` the newest `catchup_max`, oldest first."""
    cut = now_ms - grace_ms
    recent = ticks_between(s, max(last_fired_ms, cut), now_ms)
    if last_fired_ms >= cut:
        return Due(recent, 0, recent[-1] if recent else None)
    keep = (0 if recent else 1) if s.missed == "skip" else s.catchup_max
    kept = last_ticks(s, last_fired_ms, cut, keep)
    missed = count_ticks(s, last_fired_ms, cut)
    if recent:
        mark: int | None = recent[-1]
    else:
        newest_old = kept[-1:] or last_ticks(s, last_fired_ms, cut, 1)
        mark = newest_old[0] if newest_old else None
    return Due(kept + recent, max(0, missed - len(kept)), mark)
