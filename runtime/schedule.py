"""Schedules as data, and the pure computation of which ticks are due.

A schedule fires a job on a cron expression (croniter, 5 fields, or 6 with seconds last) or
every N seconds, in a time zone. Ticks missed while no scheduler ran follow a policy: `skip`
fires only the most recent one, `catchup` fires up to `catchup_max` of them (oldest first)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from runtime.errors import ConfigError

MAX_TICKS = 10_000  # per computation: a per-second cron after a week of downtime stays bounded


@dataclass(frozen=True)
class Schedule:
    id: str
    job: str
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    data: Any = None
    options: dict[str, Any] = field(default_factory=dict)  # JobSpec options (attempts, ...)
    missed: str = "skip"
    catchup_max: int = 0
    anchor: float = 0.0  # interval schedules tick at anchor + k * every (epoch seconds)

    def __post_init__(self) -> None:
        if not self.id or any(c in self.id for c in ": {}"):
            raise ConfigError(
                f"schedule id {self.id!r} must be non-empty without ':', ' ', '{{', '}}'"
            )
        if (self.cron is None) == (self.every is None):
            raise ConfigError(f"schedule {self.id!r}: give exactly one of cron or every")
        if self.every is not None and self.every <= 0:
            raise ConfigError(f"schedule {self.id!r}: every must be > 0 seconds")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ConfigError(
                f"schedule {self.id!r}: {self.cron!r} is not a cron expression "
                "(5 fields, or 6 with seconds last)"
            )
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"schedule {self.id!r}: unknown time zone {self.tz!r}") from None
        if self.missed not in ("skip", "catchup"):
            raise ConfigError(f"schedule {self.id!r}: missed must be skip or catchup")
        if self.catchup_max < 0:
            raise ConfigError(f"schedule {self.id!r}: catchup_max must be >= 0")

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Schedule:
        return cls(**json.loads(raw))


def next_tick(s: Schedule, after: float) -> float:
    """The first tick strictly after `after` (epoch seconds)."""
    if s.every is not None:
        k = int((after - s.anchor) // s.every) + 1
        # Floating point can put anchor + k*every a hair below `after`: step until after it.
        while s.anchor + k * s.every <= after:
            k += 1
        return s.anchor + k * s.every
    assert s.cron is not None
    start = datetime.fromtimestamp(after, ZoneInfo(s.tz))
    return float(croniter(s.cron, start).get_next(float))


def due_ticks(
    s: Schedule, last_fired: float, now: float, grace: float = 0.0
) -> tuple[list[float], int]:
    """Pure: ticks in (last_fired, now] to fire now, and how many the policy drops.

    Ticks within `grace` seconds of `now` are merely late (a scheduler's reload interval) and
    always fire; older ones were missed while no scheduler ran and follow the policy: `skip`
    fires only the latest of them (none when a recent tick fires anyway), `catchup` at most
    `catchup_max`, oldest first."""
    ticks: list[float] = []
    t = next_tick(s, last_fired)
    dropped = 0
    while t <= now:
        ticks.append(t)
        if len(ticks) > MAX_TICKS:
            dropped += len(ticks) - 1
            ticks = ticks[-1:]
        t = next_tick(s, t)
    recent = [t for t in ticks if t >= now - grace]
    old = [t for t in ticks if t < now - grace]
    if s.missed == "skip":
        keep = [] if recent else old[-1:]
    else:
        keep = old[-s.catchup_max :] if s.catchup_max else []
    return keep + recent, dropped + len(old) - len(keep)
