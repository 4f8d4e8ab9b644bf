"""The engine's state (alerts and aggregation groups) as JSON, saved per scope in the store's
`alert_engine_state` table. A `castiel monitor` with a `deployment` name keeps one scope across
restarts, so after a restart its firing alerts stay firing (no second page) and their resolves
are still sent; a `castiel run` has a scope of its own (its run id).

A running engine refreshes its row at least every `HEARTBEAT` seconds. A run-scoped row older
than `ORPHAN_AFTER` belongs to a process that died without ending its run (SIGKILL, OOM, a
cancelled CI job): the next engine that opens on the store adopts it and resolves its alerts
(`run_verdict: abandoned`), so no page stays open forever and the dashboard does not show
them as firing now."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy import delete as sql_delete

from alerts.db import AlertsDB
from alerts.grouping import Group, NotifyLog
from alerts.model import AlertKey, AlertState, Evidence, labelset
from alerts.pipeline import AlertRecord, EngineState
from alerts.state import Status
from collectors.database import dialect_insert
from collectors.schema import alert_engine_state as t

VERSION = 1


def _status(s: Status) -> dict[str, Any]:
    return {
        "state": s.state.value,
        "pending_since": s.pending_since,
        "active_since": s.active_since,
        "last_violation": s.last_violation,
        "missing_since": s.missing_since,
        "resolved_at": s.resolved_at,
    }


def _record(r: AlertRecord) -> dict[str, Any]:
    return {
        "key": [r.key.rule, r.key.level, [list(p) for p in r.key.group], r.key.scope],
        "status": _status(r.status),
        "labels": dict(r.labels),
        "annotations": dict(r.annotations),
        "evidence": r.evidence.to_json(),
    }


def _group(g: Group) -> dict[str, Any]:
    log = g.log
    return {
        "key": g.key,
        "route_id": g.route_id,
        "receiver": g.receiver,
        "labels": dict(g.labels),
        "created_at": g.created_at,
        "next_flush": g.next_flush,
        "members": sorted(g.members),
        "log": None
        if log is None
        else {
            "firing": sorted([k, s] for k, s in log.firing),
            "resolved": sorted(log.resolved),
            "at": log.at,
            "open": sorted(log.open),
        },
    }


def to_json(state: EngineState) -> dict[str, Any]:
    return {
        "version": VERSION,
        "alerts": {dk: _record(r) for dk, r in sorted(state.alerts.items())},
        "groups": {gk: _group(g) for gk, g in sorted(state.groups.items())},
    }


def from_json(d: Mapping[str, Any]) -> EngineState:
    if d.get("version") != VERSION:
        return EngineState()
    alerts = {}
    for dk, r in d["alerts"].items():
        rule, level, group, scope = r["key"]
        s = r["status"]
        alerts[dk] = AlertRecord(
            AlertKey(rule, level, labelset((str(k), str(v)) for k, v in group), scope),
            Status(
                AlertState(s["state"]),
                s["pending_since"],
                s["active_since"],
                s["last_violation"],
                s["missing_since"],
                s["resolved_at"],
            ),
            labelset(r["labels"]),
            labelset(r["annotations"]),
            Evidence.from_json(r["evidence"]),
        )
    groups = {}
    for gk, g in d["groups"].items():
        log = g["log"]
        groups[gk] = Group(
            key=g["key"],
            route_id=g["route_id"],
            receiver=g["receiver"],
            labels=labelset(g["labels"]),
            created_at=g["created_at"],
            next_flush=g["next_flush"],
            members=frozenset(g["members"]),
            log=None
            if log is None
            else NotifyLog(
                frozenset((k, s) for k, s in log["firing"]),
                frozenset(log["resolved"]),
                log["at"],
                frozenset(log["open"]),
            ),
        )
    return EngineState(alerts, groups)


def dumps(state: EngineState) -> str:
    return json.dumps(to_json(state), separators=(",", ":"), allow_nan=False)


HEARTBEAT = 30.0
ORPHAN_AFTER = 600.0


def save(c: Connection, scope: str, text: str, now: float, run_scoped: bool = True) -> None:
    """Inside the caller's transaction; `text` is `dumps(state)`."""
    stmt = dialect_insert(c.dialect.name, t).values(
        scope=scope, state=text, updated_at=now, run_scoped=int(run_scoped)
    )
    c.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.scope],
            set_={
                "state": stmt.excluded.state,
                "updated_at": stmt.excluded.updated_at,
                "run_scoped": stmt.excluded.run_scoped,
            },
        )
    )


def delete(c: Connection, scope: str) -> None:
    c.execute(sql_delete(t).where(t.c.scope == scope))


def take_orphans(
    c: Connection, now: float, keep: str, older_than: float = ORPHAN_AFTER
) -> list[tuple[str, EngineState]]:
    """Inside the caller's transaction, so two engines never adopt the same run: remove and
    return the run-scoped states not refreshed for `older_than` seconds. On PostgreSQL the
    rows are locked (a row another engine is adopting is left to it); on SQLite the write
    lock is held already."""
    rows = c.execute(
        select(t.c.scope, t.c.state)
        .where(t.c.run_scoped == 1, t.c.scope != keep, t.c.updated_at < now - older_than)
        .with_for_update(skip_locked=True)
    ).all()
    out = []
    for scope, text in rows:
        delete(c, scope)
        try:
            state = from_json(json.loads(text))
        except (ValueError, KeyError, TypeError):
            continue
        if state.alerts:
            out.append((str(scope), state))
    return out


def load(db: AlertsDB, scope: str) -> EngineState:
    rows = db.rows(select(t.c.state).where(t.c.scope == scope))
    if not rows:
        return EngineState()
    try:
        return from_json(json.loads(rows[0][0]))
    except (ValueError, KeyError, TypeError):
        return EngineState()  # an unreadable snapshot must not stop the monitor
