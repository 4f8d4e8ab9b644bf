"""The durable outbox in the store's alert tables (alerts.db): notifications waiting to be
sent, claimed by delivery workers (alerts.delivery), and every delivery attempt.

* `Outbox.enqueue` is one short insert: the monitor never waits for a network.
* `claim_due` leases due items to one worker at a time, so a second worker (another monitor
  on a shared store, or a restarted one after a crash) never sends an item another one is
  sending, and a crashed send is retried once the lease expires. On PostgreSQL the claim is
  `SELECT ... FOR UPDATE SKIP LOCKED`: monitors on many machines claim side by side without
  waiting for each other. On SQLite the claim is one `BEGIN IMMEDIATE` transaction, and the
  file's single write lock already lets only one claimer in at a time.
* Delivery is ordered per receiver and alert group (`group_dedup_key`): only the oldest
  pending item of a group can be claimed, so a retried trigger never arrives after the
  resolve that followed it. When that oldest item is a retry (its receiver has been failing)
  and newer items of the group wait behind it, claiming it folds them all into the newest
  one (alerts.ordering), which is what is sent; the older ones are marked `superseded`.

Read API (`db` is an AlertsDB or where the store is, opened read-only): `recent_attempts(db,
since=None, receiver=None, failures_only=False, limit=200)` -> `list[Attempt]`, newest first;
`waiting(db)` -> `list[OutboxItem]`, the notifications not delivered yet.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select, update

from alerts.db import AlertsDB, StoreLike, using
from alerts.model import Notification
from alerts.ordering import supersede
from collectors.schema import alert_attempts, alert_outbox

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
SUPERSEDED = "superseded"
"""Folded into a newer notification of the same receiver and group (`superseded_by`)."""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    receiver: str
    primary_receiver: str
    fallback_of: int | None
    chain: tuple[str, ...]
    notification: Notification
    created_at: float
    next_attempt_at: float
    attempts: int
    state: str
    last_reason: str | None = None


@dataclass(frozen=True)
class Attempt:
    outbox_id: int | None
    at: float
    receiver: str
    channel: str
    outcome: str
    status_code: int | None
    reason: str
    duration: float
    group_key: str
    test: bool = False


@dataclass(frozen=True)
class Decision:
    """What happens to an item after one attempt (alerts.delivery.decide)."""

    state: str
    next_attempt_at: float | None = None
    fallback: bool = False


o = alert_outbox
# Columns a store older than revision 0004 has too, so its outbox reads the same.
_ITEM = (
    o.c.id,
    o.c.receiver,
    o.c.primary_receiver,
    o.c.fallback_of,
    o.c.chain,
    o.c.notification,
    o.c.created_at,
    o.c.next_attempt_at,
    o.c.attempts,
    o.c.state,
    o.c.last_reason,
)
_ATTEMPT = (
    alert_attempts.c.outbox_id,
    alert_attempts.c.at,
    alert_attempts.c.receiver,
    alert_attempts.c.channel,
    alert_attempts.c.outcome,
    alert_attempts.c.status_code,
    alert_attempts.c.reason,
    alert_attempts.c.duration,
    alert_attempts.c.group_key,
    alert_attempts.c.test,
)


def _item(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        receiver=str(row[1]),
        primary_receiver=str(row[2]),
        fallback_of=None if row[3] is None else int(row[3]),
        chain=tuple(json.loads(str(row[4]))),
        notification=Notification.from_json(json.loads(str(row[5]))),
        created_at=float(row[6]),
        next_attempt_at=float(row[7]),
        attempts=int(row[8]),
        state=str(row[9]),
        last_reason=None if row[10] is None else str(row[10]),
    )


def _attempt(r: Sequence[Any]) -> Attempt:
    return Attempt(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]))


def _head() -> ColumnElement[bool]:
    """A pending item with no older pending item of its receiver and group: the one item of
    its group that may be sent now (items without a group are each their own)."""
    older = alert_outbox.alias("older")
    waiting_before = exists().where(
        older.c.state == PENDING,
        older.c.receiver == o.c.receiver,
        older.c.group_dedup_key == o.c.group_dedup_key,
        older.c.id < o.c.id,
    )
    return and_(o.c.state == PENDING, or_(o.c.group_dedup_key == "", ~waiting_before))


def _for(receivers: Collection[str] | None) -> list[ColumnElement[bool]]:
    return [] if receivers is None else [o.c.receiver.in_(sorted(receivers))]


class Outbox:
    def __init__(self, db: AlertsDB) -> None:
        self.db = db

    def enqueue(
        self,
        n: Notification,
        now: float,
        *,
        chain: tuple[str, ...] = (),
        fallback_of: int | None = None,
        primary: str | None = None,
    ) -> int:
        with self.db.write() as c:
            return insert_notification(
                c, n, now, chain=chain, fallback_of=fallback_of, primary=primary
            )

    def claim_due(
        self,
        now: float,
        lease: float,
        limit: int = 20,
        receivers: Collection[str] | None = None,
    ) -> list[OutboxItem]:
        """Due items, each the turn of its receiver and group, leased to the caller until
        now + lease. With `receivers`, only items for those: a `castiel run` and a `castiel
        monitor` sharing a store each send their own config's notifications, never each
        other's."""
        due = (
            select(*_ITEM)
            .where(_head(), o.c.next_attempt_at <= now, *_for(receivers))
            .order_by(o.c.next_attempt_at, o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's write lock is held
        )
        with self.db.write() as c:
            heads = [_item(r) for r in c.execute(due).all()]
            return [_lease(c, head, now, now + lease) for head in heads]

    def next_due_at(self, receivers: Collection[str] | None = None) -> float | None:
        """When the next item can be claimed (items waiting behind another of their group
        are not: they go with it)."""
        rows = self.db.rows(select(func.min(o.c.next_attempt_at)).where(_head(), *_for(receivers)))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def record(
        self,
        item: OutboxItem,
        attempt: Attempt,
        decision: Decision,
        remaining: Notification | None = None,
    ) -> None:
        """The attempt and the item's new state, in one transaction; `remaining` replaces the
        stored notification when part of it was accepted already. An item that is no longer
        pending (its lease ran out and another worker superseded it) keeps its state."""
        values: dict[str, Any] = {
            "attempts": o.c.attempts + 1,
            "state": decision.state,
            "last_reason": attempt.reason,
            "updated_at": attempt.at,
        }
        if decision.next_attempt_at is not None:
            values["next_attempt_at"] = decision.next_attempt_at
        if remaining is not None:
            values["notification"] = _notification_json(remaining)
        with self.db.write() as c:
            _insert_attempt(c, attempt)
            c.execute(update(o).where(o.c.id == item.id, o.c.state == PENDING).values(**values))

    def record_attempt(self, attempt: Attempt) -> None:
        """An attempt outside the outbox (`castiel alerts test`)."""
        with self.db.write() as c:
            _insert_attempt(c, attempt)

    def items(self, state: str | None = None, limit: int = 1000) -> list[OutboxItem]:
        query = select(*_ITEM).order_by(o.c.id).limit(limit)
        if state is not None:
            query = query.where(o.c.state == state)
        return [_item(r) for r in self.db.rows(query)]

    def attempts(self, receiver: str | None = None, limit: int = 1000) -> list[Attempt]:
        query = select(*_ATTEMPT).order_by(alert_attempts.c.id).limit(limit)
        if receiver is not None:
            query = query.where(alert_attempts.c.receiver == receiver)
        return [_attempt(r) for r in self.db.rows(query)]


def _lease(c: Connection, head: OutboxItem, now: float, until: float) -> OutboxItem:
    """Lease `head` (inside the claim's transaction). When it is a retry and newer items of
    its group wait behind it, the newest one, carrying what the older ones still have to say,
    is leased in its place and the others are superseded: after an outage the receiver hears
    the latest state, not a replay. A head never tried yet is sent as it is (a receiver that
    works hears every state, in order)."""
    key = head.notification.group_dedup_key
    newer = []
    if key and head.attempts:  # a retry: the receiver was failing while newer states queued
        newer = [
            _item(r)
            for r in c.execute(
                select(*_ITEM)
                .where(
                    o.c.state == PENDING,
                    o.c.receiver == head.receiver,
                    o.c.group_dedup_key == key,
                    o.c.id > head.id,
                )
                .order_by(o.c.id)
                .with_for_update()
            ).all()
        ]
    if not newer:
        c.execute(update(o).where(o.c.id == head.id).values(next_attempt_at=until))
        return head
    older, newest = [head, *newer[:-1]], newer[-1]
    merged = supersede([i.notification for i in older], newest.notification)
    c.execute(
        update(o)
        .where(o.c.id.in_([i.id for i in older]))
        .values(state=SUPERSEDED, superseded_by=newest.id, updated_at=now)
    )
    c.execute(
        update(o)
        .where(o.c.id == newest.id)
        .values(notification=_notification_json(merged), next_attempt_at=until)
    )
    return replace(newest, notification=merged)


def insert_notification(
    c: Connection,
    n: Notification,
    now: float,
    *,
    chain: tuple[str, ...] = (),
    fallback_of: int | None = None,
    primary: str | None = None,
) -> int:
    """Queue `n` inside the caller's transaction; returns the outbox id."""
    result = c.execute(
        o.insert().values(
            receiver=n.receiver,
            primary_receiver=primary or n.receiver,
            fallback_of=fallback_of,
            chain=json.dumps(list(chain or (n.receiver,))),
            notification=_notification_json(n),
            created_at=now,
            next_attempt_at=now,
            updated_at=now,
            group_dedup_key=n.group_dedup_key,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return int(key[0])


def _notification_json(n: Notification) -> str:
    return json.dumps(n.to_json(), separators=(",", ":"), allow_nan=False)


def _insert_attempt(c: Connection, a: Attempt) -> None:
    c.execute(
        alert_attempts.insert().values(
            outbox_id=a.outbox_id,
            at=a.at,
            receiver=a.receiver,
            channel=a.channel,
            outcome=a.outcome,
            status_code=a.status_code,
            reason=a.reason,
            duration=a.duration,
            group_key=a.group_key,
            test=int(a.test),
        )
    )


def recent_attempts(
    db: AlertsDB | StoreLike,
    since: float | None = None,
    receiver: str | None = None,
    failures_only: bool = False,
    limit: int = 200,
) -> list[Attempt]:
    """Delivery attempts, newest first (`outcome` is delivered, retry or failed; `reason` is
    classified and redacted). With a store location it is opened read-only."""
    a = alert_attempts
    query = select(*_ATTEMPT).order_by(a.c.at.desc(), a.c.id.desc()).limit(int(limit))
    if since is not None:
        query = query.where(a.c.at >= since)
    if receiver is not None:
        query = query.where(a.c.receiver == receiver)
    if failures_only:
        query = query.where(a.c.outcome != DELIVERED)
    with using(db) as d:
        return [_attempt(r) for r in d.rows(query)]


def waiting(db: AlertsDB | StoreLike, limit: int = 1000) -> list[OutboxItem]:
    """Notifications not delivered yet (pending in the outbox), oldest first."""
    query = select(*_ITEM).where(o.c.state == PENDING).order_by(o.c.id).limit(int(limit))
    with using(db) as d:
        return [_item(r) for r in d.rows(query)]
