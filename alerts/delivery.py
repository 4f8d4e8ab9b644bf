"""Delivery: a durable outbox in the store's alert tables (alerts.db) and a worker thread
that sends from it.

* `Outbox.enqueue` is one short SQLite insert: the monitor never waits for a network.
* The worker claims due items with a lease (so a second worker, or a restarted monitor after a
  crash, never sends an item another one is sending, and a crashed send is retried once the
  lease expires), sends, writes every attempt to `alert_attempts` (time, receiver, outcome,
  status code, classified and redacted reason) and counts it in
  `castiel_alert_notifications_total{receiver,outcome}`.
* 429, 5xx, timeouts and refused connections are retried with exponential backoff and jitter,
  waiting at least what `Retry-After` asks (capped by `max_retry_after`); other 4xx, bad config
  and missing secrets are not retried. When an item fails for good (permanent error, or
  `max_attempts` / `max_age` used up) it is handed to the receiver's fallback receivers.
* Items still pending survive a restart: a new worker on the same database sends them.
Delivery is at least once: a crash between a send and its record re-sends it after restart
(PagerDuty and Opsgenie deduplicate such repeats by key).

Read API (`db` is an AlertsDB or a store path, opened read-only): `recent_attempts(db,
since=None, receiver=None, failures_only=False, limit=200)` -> `list[Attempt]`, newest first;
`waiting(db)` -> `list[OutboxItem]`, the notifications not delivered yet.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alerts.channels import send as channel_send
from alerts.channels.base import HttpClient, Outcome, SendContext, SendResult
from alerts.config import AlertsConfig, DeliveryPolicy
from alerts.db import AlertsDB, using
from alerts.metrics import AlertMetrics
from alerts.model import Notification

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


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
    state: str
    next_attempt_at: float | None = None
    fallback: bool = False


def backoff(attempts: int, policy: DeliveryPolicy, rng: random.Random) -> float:
    """Delay after the `attempts`-th failed attempt: exponential, capped, with jitter (half to
    all of the step), so many receivers failing together do not retry in lockstep."""
    step = min(policy.max_backoff, policy.initial_backoff * 2.0 ** max(0, attempts - 1))
    return float(step * (0.5 + 0.5 * rng.random()))


def decide(
    item: OutboxItem, result: SendResult, policy: DeliveryPolicy, now: float, rng: random.Random
) -> Decision:
    """Pure: what happens to an item after one attempt."""
    if result.outcome is Outcome.DELIVERED:
        return Decision(DELIVERED)
    attempts = item.attempts + 1
    if result.outcome is Outcome.FAILED:
        return Decision(FAILED, fallback=True)
    delay = backoff(attempts, policy, rng)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.max_retry_after))
    if attempts >= policy.max_attempts or now + delay - item.created_at > policy.max_age:
        return Decision(FAILED, fallback=True)
    return Decision(PENDING, next_attempt_at=now + delay)


_SELECT = (
    "SELECT id, receiver, primary_receiver, fallback_of, chain, notification, created_at, "
    "next_attempt_at, attempts, state, last_reason FROM alert_outbox "
)


def _item(row: tuple[object, ...]) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),  # type: ignore[call-overload]
        receiver=str(row[1]),
        primary_receiver=str(row[2]),
        fallback_of=None if row[3] is None else int(row[3]),  # type: ignore[call-overload]
        chain=tuple(json.loads(str(row[4]))),
        notification=Notification.from_json(json.loads(str(row[5]))),
        created_at=float(row[6]),  # type: ignore[arg-type]
        next_attempt_at=float(row[7]),  # type: ignore[arg-type]
        attempts=int(row[8]),  # type: ignore[call-overload]
        state=str(row[9]),
        last_reason=None if row[10] is None else str(row[10]),
    )


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
        """Due pending items, leased to the caller until now + lease. With `receivers`, only
        items for those: a `castiel run` and a `castiel monitor` sharing a store each send
        their own config's notifications, never each other's."""
        with self.db.write() as c:
            rows = c.execute(
                _SELECT  # noqa: S608 (fixed columns)
                + "WHERE state = ? AND next_attempt_at <= ? AND "
                "(? IS NULL OR receiver IN (SELECT value FROM json_each(?))) "
                "ORDER BY next_attempt_at, id LIMIT ?",
                (PENDING, now, *_names(receivers), limit),
            ).fetchall()
            c.executemany(
                "UPDATE alert_outbox SET next_attempt_at = ? WHERE id = ?",
                [(now + lease, r[0]) for r in rows],
            )
        return [_item(r) for r in rows]

    def next_due_at(self, receivers: Collection[str] | None = None) -> float | None:
        rows = self.db.read(
            "SELECT MIN(next_attempt_at) FROM alert_outbox WHERE state = ? AND "
            "(? IS NULL OR receiver IN (SELECT value FROM json_each(?)))",
            (PENDING, *_names(receivers)),
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def record(
        self,
        item: OutboxItem,
        attempt: Attempt,
        decision: Decision,
        remaining: Notification | None = None,
    ) -> None:
        """The attempt and the item's new state, in one transaction; `remaining` replaces the
        stored notification when part of it was accepted already."""
        with self.db.write() as c:
            _insert_attempt(c, attempt)
            if remaining is not None:
                c.execute(
                    "UPDATE alert_outbox SET notification = ? WHERE id = ?",
                    (_notification_json(remaining), item.id),
                )
            c.execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, state = ?, "
                "next_attempt_at = COALESCE(?, next_attempt_at), last_reason = ?, "
                "updated_at = ? WHERE id = ?",
                (decision.state, decision.next_attempt_at, attempt.reason, attempt.at, item.id),
            )

    def record_attempt(self, attempt: Attempt) -> None:
        """An attempt outside the outbox (`castiel alerts test`)."""
        with self.db.write() as c:
            _insert_attempt(c, attempt)

    def items(self, state: str | None = None, limit: int = 1000) -> list[OutboxItem]:
        rows = self.db.read(
            _SELECT + "WHERE ?1 IS NULL OR state = ?1 ORDER BY id LIMIT ?2",
            (state, limit),
        )
        return [_item(r) for r in rows]

    def attempts(self, receiver: str | None = None, limit: int = 1000) -> list[Attempt]:
        rows = self.db.read(
            "SELECT outbox_id, at, receiver, channel, outcome, status_code, reason, duration, "
            "group_key, test FROM alert_attempts WHERE ?1 IS NULL OR receiver = ?1 "
            "ORDER BY id LIMIT ?2",
            (receiver, limit),
        )
        return [_attempt_row(r) for r in rows]


def _names(receivers: Collection[str] | None) -> tuple[str | None, str | None]:
    text = None if receivers is None else json.dumps(sorted(receivers))
    return text, text


def insert_notification(
    c: sqlite3.Connection,
    n: Notification,
    now: float,
    *,
    chain: tuple[str, ...] = (),
    fallback_of: int | None = None,
    primary: str | None = None,
) -> int:
    """Queue `n` inside the caller's transaction; returns the outbox id."""
    cur = c.execute(
        "INSERT INTO alert_outbox (receiver, primary_receiver, fallback_of, chain, "
        "notification, created_at, next_attempt_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            n.receiver,
            primary or n.receiver,
            fallback_of,
            json.dumps(list(chain or (n.receiver,))),
            _notification_json(n),
            now,
            now,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _notification_json(n: Notification) -> str:
    return json.dumps(n.to_json(), separators=(",", ":"), allow_nan=False)


def _attempt_row(r: Sequence[Any]) -> Attempt:
    return Attempt(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]))


def recent_attempts(
    db: AlertsDB | str | os.PathLike[str],
    since: float | None = None,
    receiver: str | None = None,
    failures_only: bool = False,
    limit: int = 200,
) -> list[Attempt]:
    """Delivery attempts, newest first (`outcome` is delivered, retry or failed; `reason` is
    classified and redacted). With a store path the file is opened read-only."""
    where: list[str] = []
    params: list[object] = []  # only fixed column names are spliced into the SQL
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if receiver is not None:
        where.append("receiver = ?")
        params.append(receiver)
    if failures_only:
        where.append("outcome != 'delivered'")
    sql = (
        "SELECT outbox_id, at, receiver, channel, outcome, status_code, reason, duration, "
        "group_key, test FROM alert_attempts"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    with using(db) as d:
        rows = d.read(sql + " ORDER BY at DESC, id DESC LIMIT ?", (*params, int(limit)))
    return [_attempt_row(r) for r in rows]


def waiting(db: AlertsDB | str | os.PathLike[str], limit: int = 1000) -> list[OutboxItem]:
    """Notifications not delivered yet (pending in the outbox), oldest first."""
    with using(db) as d:
        rows = d.read(_SELECT + "WHERE state = ? ORDER BY id LIMIT ?", (PENDING, int(limit)))
    return [_item(r) for r in rows]


def _insert_attempt(c: object, a: Attempt) -> None:
    c.execute(  # type: ignore[attr-defined]
        "INSERT INTO alert_attempts (outbox_id, at, receiver, channel, outcome, status_code, "
        "reason, duration, group_key, test) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            a.outbox_id,
            a.at,
            a.receiver,
            a.channel,
            a.outcome,
            a.status_code,
            a.reason,
            a.duration,
            a.group_key,
            int(a.test),
        ),
    )


def send_now(
    config: AlertsConfig,
    n: Notification,
    http: HttpClient,
    env: Mapping[str, str],
    now: float,
) -> tuple[SendResult, float]:
    """One attempt at once, no outbox (used by `castiel alerts test` and the worker)."""
    receiver = config.receivers[n.receiver]
    ctx = SendContext(http, env, now, timeout=config.delivery.timeout)
    started = time.monotonic()
    result = channel_send(receiver, n, ctx)
    return result, time.monotonic() - started


class DeliveryWorker:
    """Sends what the outbox holds, in a thread of its own (or synchronously with
    `process_due`, which is what tests and `castiel alerts` use)."""

    def __init__(
        self,
        outbox: Outbox,
        config: AlertsConfig,
        http: HttpClient,
        metrics: AlertMetrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.http = http
        self.metrics = metrics
        self.clock = clock
        self.env = env if env is not None else os.environ
        self.rng = rng or random.Random()
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease(self) -> float:
        return self.config.delivery.timeout * 3 + 5.0

    def process_due(self) -> int:
        """Attempt every due item once; returns how many were attempted."""
        done = 0
        while not self._stop.is_set():
            items = self.outbox.claim_due(self.clock(), self.lease, receivers=self.config.receivers)
            if not items:
                break
            for item in items:
                self._attempt(item)
                done += 1
        return done

    def _attempt(self, item: OutboxItem) -> None:
        now = self.clock()
        receiver = self.config.receivers.get(item.receiver)
        if receiver is None:
            result, duration, channel = (
                SendResult(Outcome.FAILED, f"config: no receiver {item.receiver!r}"),
                0.0,
                "?",
            )
        else:
            result, duration = send_now(self.config, item.notification, self.http, self.env, now)
            channel = receiver.kind
        decision = decide(item, result, self.config.delivery, now, self.rng)
        outcome, reason = result.outcome.value, result.reason
        if result.outcome is Outcome.RETRY and decision.state == FAILED:
            # The last try of a transient failure: the log and the metric must say the
            # notification is given up on, not that another retry is coming.
            outcome, reason = FAILED, f"{reason}; gave up after {item.attempts + 1} attempt(s)"
        attempt = Attempt(
            item.id,
            now,
            item.receiver,
            channel,
            outcome,
            result.status_code,
            reason,
            duration,
            item.notification.group_key,
            item.notification.test,
        )
        remaining = None
        if result.outcome is not Outcome.DELIVERED and 0 < result.done < len(
            item.notification.alerts
        ):
            # Part of it went through (one request per alert): retries and fallbacks only
            # carry the rest, so a rate-limited storm makes progress.
            n = item.notification
            remaining = replace(n, alerts=n.alerts[result.done :])
            item = replace(item, notification=remaining)
        self.outbox.record(item, attempt, decision, remaining)
        if self.metrics is not None:
            self.metrics.attempt(item.receiver, outcome)
        if result.outcome is Outcome.DELIVERED:
            log.info("alert notification delivered to %s (%s)", item.receiver, result.reason)
        else:
            log.warning(
                "alert notification to %s: %s (%s, attempt %d)",
                item.receiver,
                outcome,
                reason,
                item.attempts + 1,
            )
        if decision.fallback:
            self._fallback(item, now)

    def _fallback(self, item: OutboxItem, now: float) -> None:
        receiver = self.config.receivers.get(item.receiver)
        targets = [f for f in (receiver.fallback if receiver else ()) if f not in item.chain]
        if not targets:
            log.error("alert notification to %s failed for good; no fallback left", item.receiver)
            return
        for name in targets:
            n = replace(
                item.notification,
                receiver=name,
                extra={**dict(item.notification.extra), "fallback_for": item.receiver},
            )
            self.outbox.enqueue(
                n,
                now,
                chain=(*item.chain, name),
                fallback_of=item.id,
                primary=item.primary_receiver,
            )
            if self.metrics is not None:
                self.metrics.attempt(item.receiver, "fallback")
            log.warning("alert notification to %s handed to fallback %s", item.receiver, name)

    # --- thread ----------------------------------------------------------------------------

    def start(self) -> DeliveryWorker:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="castiel-alerts-delivery", daemon=True
        )
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, drain: float = 0.0) -> None:
        """Stop the thread; with `drain`, first give pending items up to that long."""
        deadline = time.monotonic() + drain
        while drain and time.monotonic() < deadline:
            nxt = self.outbox.next_due_at(self.config.receivers)
            if nxt is None or nxt > self.clock() + (deadline - time.monotonic()):
                break
            self.wake()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.delivery.timeout + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.poll_interval
            try:
                self.process_due()
                nxt = self.outbox.next_due_at(self.config.receivers)
                if nxt is not None:
                    wait = min(wait, max(0.0, nxt - self.clock()))
            except Exception:  # the worker must outlive a bad row or a locked database
                log.exception("alert delivery loop error")
            self._wake.wait(wait)
            self._wake.clear()
