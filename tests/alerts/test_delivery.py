"""Delivery through the durable outbox against real local receivers: retries, Retry-After, no
retry on 4xx, fallbacks, restarts, metrics, and secrets that never leak."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from alerts.channels.base import HttpxClient, Outcome, SendResult
from alerts.config import AlertsConfig, DeliveryPolicy
from alerts.db import AlertsDB
from alerts.delivery import DeliveryWorker, backoff, decide
from alerts.metrics import AlertMetrics
from alerts.outbox import DELIVERED, FAILED, PENDING, Outbox
from tests.alerts.helpers import T0, config, notification
from tests.alerts.receivers import Receiver, Reply
from tests.helpers import wait_until
from tests.storedb import dump


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make_config(
    primary: str, fallback: str = "http://127.0.0.1:9/never", **delivery: str
) -> AlertsConfig:
    settings = {"max_attempts": "3", "initial_backoff": "1s", "timeout": "3s", **delivery}
    extra = "".join(f"\n  {k}: {v}" for k, v in settings.items())
    return config(
        f"""
route: {{receiver: primary}}
receivers:
  - name: primary
    webhook: {{url: "{primary}"}}
    fallback: [backup]
  - name: backup
    webhook: {{url: "{fallback}"}}
delivery:{extra}
"""
    )


@pytest.fixture
def http() -> Iterator[HttpxClient]:
    client = HttpxClient()
    yield client
    client.close()


def worker(
    db: AlertsDB,
    cfg: AlertsConfig,
    http: HttpxClient,
    clock: Clock,
    registry: CollectorRegistry | None = None,
) -> DeliveryWorker:
    metrics = AlertMetrics(registry) if registry is not None else None
    return DeliveryWorker(Outbox(db), cfg, http, metrics, clock=clock, env={}, rng=random.Random(1))


def test_a_receiver_that_is_down_then_back_gets_it_exactly_once(
    db: AlertsDB, receiver: Receiver, http: HttpxClient
) -> None:
    clock = Clock()
    receiver.stop()
    registry = CollectorRegistry()
    w = worker(db, make_config(receiver.url + "/hook"), http, clock, registry)
    item = w.outbox.enqueue(notification(receiver="primary"), clock.now)
    assert w.process_due() == 1
    assert w.outbox.items()[0].state == PENDING
    assert w.process_due() == 0  # not due again before its backoff
    receiver.start()
    clock.now += 60
    assert w.process_due() == 1
    clock.now += 3600
    assert w.process_due() == 0
    assert len(receiver.all()) == 1 and len(receiver.delivered()) == 1
    attempts = w.outbox.attempts()
    assert [(a.outbox_id, a.outcome) for a in attempts] == [(item, "retry"), (item, "delivered")]
    assert attempts[0].reason.startswith("connect error")
    assert w.outbox.items()[0].state == DELIVERED

    def count(outcome: str) -> float | None:
        return registry.get_sample_value(
            "castiel_alert_notifications_total", {"receiver": "primary", "outcome": outcome}
        )

    assert (count("retry"), count("delivered")) == (1.0, 1.0)


def test_a_4xx_is_not_retried(db: AlertsDB, receiver: Receiver, http: HttpxClient) -> None:
    receiver.default = Reply(400, body=b"invalid_payload")
    clock = Clock()
    w = worker(db, make_config(receiver.url), http, clock)
    w.outbox.enqueue(notification(receiver="primary"), clock.now)
    w.process_due()
    for _ in range(5):
        clock.now += 3600
        w.process_due()
    assert len(receiver.all()) == 1
    (a,) = w.outbox.attempts("primary")
    assert (a.outcome, a.status_code, a.reason) == ("failed", 400, "http 400: invalid_payload")
    assert w.outbox.attempts("backup")  # handed on at once, not retried
    assert w.outbox.items()[0].state == FAILED


def test_fallback_receiver_is_used_when_the_primary_keeps_failing(
    db: AlertsDB, receiver: Receiver, http: HttpxClient
) -> None:
    backup = Receiver()
    try:
        receiver.default = Reply(503)
        clock = Clock()
        w = worker(db, make_config(receiver.url, backup.url + "/backup"), http, clock)
        w.outbox.enqueue(notification(receiver="primary"), clock.now)
        for _ in range(10):
            w.process_due()
            clock.now += 600
        assert len(receiver.all()) == 3  # max_attempts
        outcomes = [(a.outcome, a.status_code) for a in w.outbox.attempts("primary")]
        assert sorted(outcomes) == [("failed", 503), ("retry", 503), ("retry", 503)]
        last = max(w.outbox.attempts("primary"), key=lambda a: a.at)
        assert last.outcome == "failed" and "gave up after 3 attempt(s)" in last.reason
        (got,) = backup.delivered()
        body = got.json()
        assert (
            body["receiver"] == "backup" and body["alerts"][0]["labels"]["budget"] == "api-latency"
        )
        items = w.outbox.items()
        assert [(i.receiver, i.state, i.fallback_of) for i in items] == [
            ("primary", FAILED, None),
            ("backup", DELIVERED, items[0].id),
        ]
        assert items[1].chain == ("primary", "backup")
    finally:
        backup.stop()


def test_retry_after_is_honoured(db: AlertsDB, receiver: Receiver, http: HttpxClient) -> None:
    receiver.script(Reply(429, {"Retry-After": "120"}))
    clock = Clock()
    w = worker(db, make_config(receiver.url, max_attempts="5"), http, clock)
    w.outbox.enqueue(notification(receiver="primary"), clock.now)
    w.process_due()
    (item,) = w.outbox.items()
    assert item.state == PENDING and item.next_attempt_at >= clock.now + 120
    clock.now += 119
    assert w.process_due() == 0
    clock.now += 1
    assert w.process_due() == 1
    assert [r.status for r in receiver.all()] == [429, 200]


def test_a_rate_limited_storm_to_pagerduty_resumes_where_it_stopped(
    db: AlertsDB, receiver: Receiver, http: HttpxClient
) -> None:
    cfg = config(
        f"""
route: {{receiver: pd}}
receivers: [{{name: pd, pagerduty: {{routing_key: "${{PD_KEY}}", url: "{receiver.url}/pd"}}}}]
"""
    )
    receiver.script(Reply(202), Reply(202), Reply(429, {"Retry-After": "30"}))
    clock = Clock()
    w = DeliveryWorker(Outbox(db), cfg, http, clock=clock, env={"PD_KEY": "k1"})
    w.outbox.enqueue(notification(receiver="pd", firing=5), clock.now)
    w.process_due()
    (item,) = w.outbox.items()
    assert item.state == PENDING and len(item.notification.alerts) == 3  # 2 accepted
    clock.now += 30
    w.process_due()
    keys = [r.json()["dedup_key"] for r in receiver.delivered()]
    assert len(keys) == 5 == len(set(keys))  # each alert's trigger accepted exactly once
    assert [a.outcome for a in w.outbox.attempts()] == ["retry", "delivered"]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = DeliveryPolicy(initial_backoff=1, max_backoff=10)
    rng = random.Random(3)
    delays = [backoff(n, policy, rng) for n in range(1, 8)]
    assert all(
        0.5 * min(10, 2 ** (n - 1)) <= d <= min(10, 2 ** (n - 1))
        for n, d in zip(range(1, 8), delays, strict=True)
    )
    item = type("I", (), {"attempts": 0, "created_at": 0.0})()
    d = decide(
        item,
        SendResult(Outcome.RETRY, "x", 503, retry_after=99999),
        DeliveryPolicy(max_attempts=9, max_age=10**9, max_retry_after=600),
        0.0,
        rng,
    )  # type: ignore[arg-type]
    assert d.state == PENDING and d.next_attempt_at == 600  # capped


def test_undelivered_notifications_survive_a_restart(
    store_location: str, receiver: Receiver, http: HttpxClient
) -> None:
    path = store_location
    cfg = make_config(receiver.url)
    clock = Clock()
    with AlertsDB.open(path) as db:
        Outbox(db).enqueue(notification(receiver="primary"), clock.now)
        # a worker claims it and dies before sending (crash): the lease keeps others off...
        w = worker(db, cfg, http, clock)
        assert len(w.outbox.claim_due(clock.now, w.lease)) == 1
    with AlertsDB.open(path) as db:  # the monitor restarts
        w = worker(db, cfg, http, clock)
        assert w.process_due() == 0
        clock.now += w.lease  # ...until the lease expires
        assert w.process_due() == 1
    assert len(receiver.delivered()) == 1


def test_monitors_sharing_a_store_send_only_their_own_receivers(
    db: AlertsDB, receiver: Receiver, http: HttpxClient
) -> None:
    mine = make_config(receiver.url + "/mine")
    other = config(
        f"""
route: {{receiver: elsewhere}}
receivers: [{{name: elsewhere, webhook: {{url: "{receiver.url}/other"}}}}]
"""
    )
    clock = Clock()
    Outbox(db).enqueue(notification(receiver="primary"), clock.now)
    Outbox(db).enqueue(notification(receiver="elsewhere"), clock.now)
    w_other = worker(db, other, http, clock)
    assert w_other.process_due() == 1
    assert w_other.outbox.next_due_at(other.receivers) is None  # nothing of its own left
    assert worker(db, mine, http, clock).process_due() == 1
    assert sorted(r.path for r in receiver.delivered()) == ["/mine", "/other"]
    assert all(a.outcome == "delivered" for a in Outbox(db).attempts())


def test_the_worker_thread_never_blocks_the_caller(
    db: AlertsDB, receiver: Receiver, http: HttpxClient
) -> None:
    receiver.default = Reply(200, delay=0.4)
    cfg = make_config(receiver.url)
    w = DeliveryWorker(Outbox(db), cfg, http, env={}, poll_interval=0.05).start()
    try:
        started = time.monotonic()
        for _ in range(3):
            w.outbox.enqueue(notification(receiver="primary"), time.time())
            w.wake()
        assert time.monotonic() - started < 0.3  # three sends would take 1.2 s
        wait_until(lambda: len(receiver.delivered()) >= 2, timeout=10, message="deliveries")
    finally:
        w.stop(drain=10)
    assert len(receiver.delivered()) == 3
    assert all(i.state == DELIVERED for i in w.outbox.items())


def test_secrets_appear_in_no_log_no_stored_row_and_no_error(
    db: AlertsDB, receiver: Receiver, http: HttpxClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "T0SECRET/B0SECRET/xoxSECRETtoken1234"
    env = {"SLACK_URL": f"{receiver.url}/services/{secret}", "PD_KEY": "pdSECRETroutingkey42"}
    cfg = config(
        f"""
route: {{receiver: slack}}
receivers:
  - name: slack
    slack: {{webhook_url: "${{SLACK_URL}}"}}
    fallback: [pd]
  - name: pd
    pagerduty: {{routing_key: "${{PD_KEY}}", url: "{receiver.url}/v2/enqueue"}}
delivery: {{max_attempts: 2, initial_backoff: 1s}}
"""
    )
    # the service echoes the request path (the secret) in its error bodies
    receiver.script(
        Reply(500, echo_path=True),
        Reply(404, echo_path=True),
        Reply(400, body=b'{"message":"bad routing key pdSECRETroutingkey42"}'),
    )
    clock = Clock()
    caplog.set_level(logging.DEBUG)
    w = DeliveryWorker(
        Outbox(db),
        cfg,
        http,
        AlertMetrics(CollectorRegistry()),
        clock=clock,
        env=env,
        rng=random.Random(0),
    )
    w.outbox.enqueue(notification(receiver="slack"), clock.now)
    for _ in range(4):
        w.process_due()
        clock.now += 60
    assert len(receiver.all()) == 3  # 500, 404 (slack), 400 (pd)
    receiver.stop()  # and a connection error with the secret URL
    w.outbox.enqueue(notification(receiver="slack"), clock.now)
    w.process_due()
    secrets = (secret, "xoxSECRETtoken1234", "pdSECRETroutingkey42")
    texts = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    stored = [a.reason for a in w.outbox.attempts()] + [str(i) for i in w.outbox.items()]
    reasons = [a.reason for a in w.outbox.attempts()]
    assert any("http 500" in r for r in reasons) and any("<redacted>" in r for r in reasons)
    for s in secrets:
        assert not any(s in t for t in texts), s
        assert not any(s in t for t in stored), s
    stored_text = dump(db.locator.secret_text())
    assert "http 500" in stored_text  # the dump has the attempts
    assert not any(s in stored_text for s in secrets)
    if db.path is not None:  # and the SQLite file's bytes, its WAL included
        raw = b"".join(p.read_bytes() for p in db.path.parent.glob("castiel.db*"))
        assert not any(s.encode() in raw for s in secrets)
    # the error a missing variable raises names the variable, never a value
    w2 = DeliveryWorker(Outbox(db), cfg, http, clock=clock, env={})
    w2.outbox.enqueue(notification(receiver="pd"), clock.now)
    w2.process_due()
    assert w2.outbox.attempts()[-1].reason == "config: environment variable $PD_KEY is not set"
