"""Silences: matchers plus a time range. Matching is pure (`silenced_by`); storage sits behind
the small `SilenceStore` interface, implemented on the store's `alert_silences` table (SQLite
or PostgreSQL), so the CLI, the monitor and the dashboard see the same silences across
processes, machines and restarts (a running monitor reads them every tick).

API for the CLI and the dashboard (`db` is an AlertsDB or where the store is: a path or a
`postgresql://` URL):

    list_silences(db, now=None, include_expired=False) -> list[Silence]   (read-only)
    create_silence(db, ["budget=\"api-latency\"", ...], duration=3600.0 | ends_at=...,
                   starts_at=None, created_by="", comment="") -> Silence
        raises ValueError for bad matchers or times (the message says which); a silence ends at
    most MAX_SILENCE (10 years) from now
    expire_silence(db, silence_id) -> bool   (False: no such silence still running)
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import case, select, update

from alerts.db import AlertsDB, StoreLike, using
from alerts.matchers import LabelMatcher, matches_all, parse_matcher
from collectors.schema import alert_silences

log = logging.getLogger(__name__)

MAX_SILENCE = 10 * 365 * 86400.0
"""A silence starts and ends at most this far (10 years) from its creation."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[LabelMatcher, ...]
    starts_at: float
    ends_at: float
    created_at: float
    created_by: str = ""
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"


def silenced_by(
    labels: Mapping[str, str], silences: Sequence[Silence], now: float
) -> tuple[str, ...]:
    """Ids of the active silences whose matchers all match `labels`."""
    return tuple(s.id for s in silences if s.active(now) and matches_all(s.matchers, labels))


def new_silence(
    matchers: Sequence[str],
    *,
    starts_at: float,
    ends_at: float,
    now: float,
    created_by: str = "",
    comment: str = "",
) -> Silence:
    """Raises ValueError for bad matchers or times. A silence needs at least one matcher that
    cannot match the empty string, so it can never silence everything by accident."""
    parsed = tuple(parse_matcher(m) for m in matchers)
    if not parsed:
        raise ValueError('a silence needs at least one matcher, e.g. budget="api-latency"')
    if all(m.matches({}) for m in parsed):
        raise ValueError("these matchers match every alert; add one that names something")
    if not (math.isfinite(starts_at) and math.isfinite(ends_at)):
        raise ValueError("a silence needs a finite start and end")
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    if ends_at > now + MAX_SILENCE:
        raise ValueError("a silence may end at most 10 years from now")
    return Silence(uuid.uuid4().hex[:12], parsed, starts_at, ends_at, now, created_by, comment)


class SilenceStore(Protocol):
    def add(self, silence: Silence) -> None: ...

    def list(self, now: float, include_expired: bool = False) -> list[Silence]: ...

    def expire(self, silence_id: str, now: float) -> bool: ...


class SqlSilenceStore:
    """Silences in the store's `alert_silences` table."""

    def __init__(self, db: AlertsDB) -> None:
        self._db = db

    def add(self, silence: Silence) -> None:
        with self._db.write() as c:
            c.execute(
                alert_silences.insert().values(
                    id=silence.id,
                    matchers=json.dumps([str(m) for m in silence.matchers]),
                    starts_at=silence.starts_at,
                    ends_at=silence.ends_at,
                    created_at=silence.created_at,
                    created_by=silence.created_by,
                    comment=silence.comment,
                )
            )

    def list(self, now: float, include_expired: bool = False) -> list[Silence]:
        t = alert_silences
        query = select(
            t.c.id,
            t.c.matchers,
            t.c.starts_at,
            t.c.ends_at,
            t.c.created_at,
            t.c.created_by,
            t.c.comment,
        ).order_by(t.c.starts_at, t.c.id)
        if not include_expired:
            query = query.where(t.c.ends_at > now)
        return [s for s in map(_from_row, self._db.rows(query)) if s is not None]

    def expire(self, silence_id: str, now: float) -> bool:
        """End a silence now; False when there is no such silence that is still running."""
        t = alert_silences
        with self._db.write() as c:
            result = c.execute(
                update(t)
                .where(t.c.id == silence_id, t.c.ends_at > now)
                .values(
                    starts_at=case((t.c.starts_at > now, now), else_=t.c.starts_at), ends_at=now
                )
            )
            return result.rowcount > 0


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _from_row(r: Sequence[object]) -> Silence | None:
    """A stored silence, or None (logged) for a row this version cannot read (written by
    another tool or by hand): a time that is not a number, matchers that do not parse. A
    time no date can hold (year 11409972) is kept, so the silence can be seen and expired;
    readers format it with runtime.timestamps."""
    starts, ends, created = (_seconds(v) for v in r[2:5])
    try:
        if starts is None or ends is None or created is None:
            raise ValueError("a time that is not a number")
        matchers = tuple(parse_matcher(str(m)) for m in json.loads(str(r[1])))
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        log.warning("silence %r is unreadable and ignored: %s", r[0], exc)
        return None
    return Silence(str(r[0]), matchers, starts, ends, created, str(r[5]), str(r[6]))


def list_silences(
    db: AlertsDB | StoreLike, now: float | None = None, include_expired: bool = False
) -> list[Silence]:
    """Active and pending silences (and expired ones with `include_expired`)."""
    at = time.time() if now is None else now
    with using(db) as d:
        return SqlSilenceStore(d).list(at, include_expired=include_expired)


def create_silence(
    db: AlertsDB | StoreLike,
    matchers: Sequence[str],
    *,
    duration: float | None = None,
    ends_at: float | None = None,
    starts_at: float | None = None,
    created_by: str = "",
    comment: str = "",
    now: float | None = None,
) -> Silence:
    """Store a new silence (give `duration` seconds or `ends_at`); raises ValueError."""
    at = time.time() if now is None else now
    start = at if starts_at is None else starts_at
    if (duration is None) == (ends_at is None):
        raise ValueError("give a silence either a duration or an end time")
    end = start + duration if duration is not None else ends_at
    assert end is not None
    silence = new_silence(
        matchers, starts_at=start, ends_at=end, now=at, created_by=created_by, comment=comment
    )
    with using(db, readonly=False) as d:
        SqlSilenceStore(d).add(silence)
    return silence


def expire_silence(db: AlertsDB | StoreLike, silence_id: str, now: float | None = None) -> bool:
    at = time.time() if now is None else now
    with using(db, readonly=False) as d:
        return SqlSilenceStore(d).expire(silence_id, at)
