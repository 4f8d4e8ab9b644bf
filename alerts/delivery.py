"""Delivery: a worker thread that sends what the durable outbox (alerts.outbox) holds.

* The worker claims due items with a lease (alerts.outbox: one worker per item, in order per
  receiver and alert group, safe with several monitors on one store), sends, writes every
  attempt to `alert_attempts` (time, receiver, outcome, status code, classified and redacted
  reason) and counts it in `castiel_alert_notifications_total{receiver,outcome}`.
* 429, 5xx, timeouts and refused connections are retried with exponential backoff and jitter,
  waiting at least what `Retry-After` asks (capped by `max_retry_after`); other 4xx, bad config
  and missing secrets are not retried. When an item fails for good (permanent error, or
  `max_attempts` / `max_age` used up) it is handed to the receiver's fallback receivers.
* Items still pending survive a restart: a new worker on the same store sends them.
Delivery is at least once: a crash between a send and its record re-sends it after restart
(PagerDuty and Opsgenie deduplicate such repeats by key).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from alerts.channels import send as channel_send
from alerts.channels.base import HttpClient, Outcome, SendContext, SendResult
from alerts.config import AlertsConfig, DeliveryPolicy
from alerts.metrics import AlertMetrics
from alerts.model import Notification
from alerts.outbox import DELIVERED, FAILED, PENDING, Attempt, Decision, Outbox, OutboxItem

log = logging.getLogger(__name__)


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
        self._busy = threading.Event()
        """Set while the thread is claiming and sending: the group of an item in flight is
        not due (it waits for the item), yet a drain must wait for it."""
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
            if self._busy.is_set():
                time.sleep(0.05)
                continue
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
                self._busy.set()
                try:
                    self.process_due()
                finally:
                    self._busy.clear()
                nxt = self.outbox.next_due_at(self.config.receivers)
                if nxt is not None:
                    wait = min(wait, max(0.0, nxt - self.clock()))
            except Exception:  # the worker must outlive a bad row or a locked database
                log.exception("alert delivery loop error")
            self._wake.wait(wait)
            self._wake.clear()
