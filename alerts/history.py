"""Alert history: every state transition of every alert, kept in the store's `alert_events`
table, so the dashboard can draw a timeline and say what is firing now.

Read API (stable; the dashboard's Alerts page and Overview use it). `db` is an open
`alerts.db.AlertsDB` or where the metrics store is, a path or a `postgresql://` URL (then
opened read-only; a store without alert tables gives empty lists):

    events(db, since=None, run_id=None, limit=500, dedup_key=None) -> list[AlertEvent]
        transitions, newest first; `since` is a Unix time, `run_id` a run's id.
    firing_now(db) -> list[AlertEvent]
        for every alert whose latest transition left it active (`firing` or `nodata`), that
        transition, newest first. A run that ends resolves its alerts, so this is empty once
        every run has ended; the alerts of a run whose process was killed are resolved
        (`run_verdict: abandoned`) by the next engine that opens the store 10 minutes later.

`AlertEvent.state` is one of pending, firing, nodata, resolved, or inactive (a pending alert
that recovered before its `for` elapsed, so it never fired).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from alerts.db import AlertsDB, StoreLike, using
from alerts.model import AlertState
from collectors.schema import alert_events

ACTIVE_STATES = (AlertState.FIRING.value, AlertState.NODATA.value)


@dataclass(frozen=True)
class AlertEvent:
    at: float
    """When the transition happened (Unix time)."""
    dedup_key: str
    """The alert's stable key (PagerDuty's dedup_key, Opsgenie's alias)."""
    name: str
    """The budget or standalone rule."""
    severity: str
    labels: Mapping[str, str]
    """Every label of the alert (alertname, budget/rule, level, severity, group, run, ...)."""
    group: Mapping[str, str]
    """The budget's group (e.g. {"route": "/api/items"}); {} for an ungrouped budget."""
    state: str
    """pending, firing, nodata, resolved or inactive."""
    value: float | None
    """The observed value (None: no data)."""
    threshold: str
    """The condition that must hold, e.g. "< 0.3"."""
    run_id: str
    summary: str
    """One line: `api-latency [route=/a]: p95 = 0.42, must be < 0.3 (fail)`."""
    kind: str = "budget"
    """"budget" or "rule"."""
    level: str = ""
    """The budget level this alert is about: warn, fail or abort."""
    scope: str = ""
    """The run id, or the deployment name of a continuous `castiel monitor`."""
    run_verdict: str | None = None
    """Set on the resolves that the end of a run caused: that run's verdict."""
    suppressed: str = ""
    """Why the alert was not notified at that moment ("silenced by ...", "inhibited by ...")."""
    previous: str = field(default="", compare=False)
    """The state before this transition (not stored; set only on freshly made events)."""


e = alert_events
_COLUMNS = (
    e.c.at,
    e.c.dedup_key,
    e.c.name,
    e.c.kind,
    e.c.level,
    e.c.severity,
    e.c.labels,
    e.c.group_labels,
    e.c.state,
    e.c.value,
    e.c.threshold,
    e.c.run_id,
    e.c.scope,
    e.c.summary,
    e.c.run_verdict,
    e.c.suppressed,
)


def insert_events(c: Connection, events: Iterable[AlertEvent]) -> None:
    """Write events inside the caller's transaction."""
    rows = [
        {
            "at": ev.at,
            "dedup_key": ev.dedup_key,
            "name": ev.name,
            "kind": ev.kind,
            "level": ev.level,
            "severity": ev.severity,
            "labels": json.dumps(dict(ev.labels), sort_keys=True),
            "group_labels": json.dumps(dict(ev.group), sort_keys=True),
            "state": ev.state,
            "value": ev.value if ev.value is not None and math.isfinite(ev.value) else None,
            "threshold": ev.threshold,
            "run_id": ev.run_id,
            "scope": ev.scope,
            "summary": ev.summary,
            "run_verdict": ev.run_verdict,
            "suppressed": ev.suppressed,
        }
        for ev in events
    ]
    if rows:
        c.execute(alert_events.insert(), rows)


def record(db: AlertsDB, events: Sequence[AlertEvent]) -> None:
    if events:
        with db.write() as c:
            insert_events(c, events)


def _number(value: object) -> float | None:
    """A stored number, None for anything else (a row written by another tool or by hand)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _labels(value: object) -> dict[str, str]:
    try:
        loaded = json.loads(str(value))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _event(row: Sequence[Any]) -> AlertEvent:
    """A stored transition. Values this version did not write never raise: a time that is no
    number is NaN (shown as empty), unreadable labels are empty."""
    at = _number(row[0])
    return AlertEvent(
        at=math.nan if at is None else at,
        dedup_key=str(row[1]),
        name=str(row[2]),
        kind=str(row[3]),
        level=str(row[4]),
        severity=str(row[5]),
        labels=_labels(row[6]),
        group=_labels(row[7]),
        state=str(row[8]),
        value=_number(row[9]),
        threshold=str(row[10]),
        run_id=str(row[11]),
        scope=str(row[12]),
        summary=str(row[13]),
        run_verdict=None if row[14] is None else str(row[14]),
        suppressed=str(row[15]),
    )


def events(
    db: AlertsDB | StoreLike,
    since: float | None = None,
    run_id: str | None = None,
    limit: int = 500,
    dedup_key: str | None = None,
) -> list[AlertEvent]:
    """Transitions, newest first."""
    query = select(*_COLUMNS).order_by(e.c.at.desc(), e.c.id.desc()).limit(int(limit))
    if since is not None:
        query = query.where(e.c.at >= since)
    if run_id is not None:
        query = query.where(e.c.run_id == run_id)
    if dedup_key is not None:
        query = query.where(e.c.dedup_key == dedup_key)
    with using(db) as d:
        return [_event(r) for r in d.rows(query)]


def firing_now(db: AlertsDB | StoreLike) -> list[AlertEvent]:
    """The latest transition of every alert that is active (firing or no data) now."""
    latest = select(func.max(e.c.id)).group_by(e.c.dedup_key)
    query = (
        select(*_COLUMNS)
        .where(e.c.id.in_(latest), e.c.state.in_(ACTIVE_STATES))
        .order_by(e.c.at.desc(), e.c.id.desc())
    )
    with using(db) as d:
        return [_event(r) for r in d.rows(query)]
