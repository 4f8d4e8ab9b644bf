"""Time intervals (Alertmanager's `time_intervals`): routes name them in `mute_time_intervals`
(no notifications while inside) and `active_time_intervals` (notifications only while inside).
Pure: whether an instant is inside is a function of the interval and the time.

Unlike Alertmanager, a muted group keeps what it would have said: when the window ends it
notifies the current state, so a resolve that happened during the mute is still delivered."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = tuple(m.lower() for m in calendar.month_name[1:])

Range = tuple[int, int]


@dataclass(frozen=True)
class TimeRange:
    start_minute: int
    end_minute: int
    """Minutes of the day, end exclusive; 24:00 = 1440."""


@dataclass(frozen=True)
class TimeInterval:
    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[Range, ...] = ()
    """0 = Monday."""
    days_of_month: tuple[Range, ...] = ()
    """1-based; negative counts from the end of the month (-1 = last day)."""
    months: tuple[Range, ...] = ()
    years: tuple[Range, ...] = ()
    location: str = "UTC"

    def contains(self, ts: float) -> bool:
        t = datetime.fromtimestamp(ts, tz=UTC).astimezone(ZoneInfo(self.location))
        if self.times:
            minute = t.hour * 60 + t.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.weekdays and not _in(t.weekday(), self.weekdays):
            return False
        if self.days_of_month:
            last = calendar.monthrange(t.year, t.month)[1]
            if not any(_day(lo, last) <= t.day <= _day(hi, last) for lo, hi in self.days_of_month):
                return False
        if self.months and not _in(t.month, self.months):
            return False
        return not (self.years and not _in(t.year, self.years))


def _in(value: int, ranges: tuple[Range, ...]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def _day(day: int, last: int) -> int:
    return last + day + 1 if day < 0 else day


def active(intervals: Sequence[TimeInterval], ts: float) -> bool:
    """A named time interval is a list of intervals: inside any of them is inside."""
    return any(i.contains(ts) for i in intervals)


def muted(
    mute: Sequence[str],
    active_only: Sequence[str],
    named: Mapping[str, Sequence[TimeInterval]],
    ts: float,
) -> bool:
    if any(active(named.get(n, ()), ts) for n in mute):
        return True
    return bool(active_only) and not any(active(named.get(n, ()), ts) for n in active_only)


def parse_time(text: str) -> int:
    """`HH:MM` -> minute of day; `24:00` allowed as an end. Raises ValueError."""
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise ValueError(f"not a time of day: {text!r} (HH:MM, e.g. 09:00)") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m != 0):
        raise ValueError(f"not a time of day: {text!r} (00:00 to 24:00)")
    return h * 60 + m


def parse_range(text: str | int, names: tuple[str, ...] | None, lo: int, hi: int) -> Range:
    """`monday:friday`, `saturday`, `1:5`, `-3:-1`, `january:march`, `2026`. Raises ValueError."""
    parts = str(text).strip().lower().split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"not a range: {text!r} (e.g. 'monday:friday', '1:5')")

    def one(p: str) -> int:
        if names is not None and p in names:
            return names.index(p) + (1 if names is MONTHS else 0)
        try:
            v = int(p)
        except ValueError:
            allowed = f" ({', '.join(names)})" if names else ""
            raise ValueError(f"unknown value {p!r}{allowed}") from None
        if not (lo <= v <= hi) or (v == 0 and lo < 0):
            raise ValueError(f"{v} is out of range {lo}..{hi}")
        return v

    a = one(parts[0])
    b = one(parts[-1])
    if (a < 0) == (b < 0) and a > b:
        raise ValueError(f"range {text!r} ends before it starts")
    return (a, b)
