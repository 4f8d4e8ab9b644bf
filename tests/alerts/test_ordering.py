"""Notifications arrive in order (issue 13): per receiver and alert group, a retried firing
notification is never delivered after the resolve that followed it, and after an outage the
last state is the one delivered last. Against a real PagerDuty-style receiver, on SQLite and
on PostgreSQL (two monitors sharing one PostgreSQL store: test_shared_outbox.py)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from alerts.channels.base import HttpxClient
from alerts.config import AlertsConfig
from alerts.db import AlertsDB
from alerts.delivery import DeliveryWorker
from alerts.engine import AlertEngine
from alerts.model import AlertState, Notification
from alerts.ordering import supersede
from alerts.outbox import PENDING, SUPERSEDED, Outbox
from alerts.silences import SqlSilenceStore
from budgets.model import Level
from tests.alerts.helpers import T0, config, inp, notification
from tests.alerts.receivers import Receiver, Reply

PD = """
route: {{receiver: pd, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers: [{{name: pd, pagerduty: {{routing_key: "${{PD_KEY}}", url: "{url}/pd"}}}}]
delivery: {{max_attempts: 20, initial_backoff: 1s, max_backoff: 5s, max_age: 1h}}
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> Iterator[HttpxClient]:
    client = HttpxClient()
    yield client
    client.close()


def _wire(
    db: AlertsDB, cfg: AlertsConfig, http: HttpxClient, clock: Clock, seed: int
) -> tuple[AlertEngine, DeliveryWorker]:
    worker = DeliveryWorker(
        Outbox(db), cfg, http, clock=clock, env={"PD_KEY": "pdkey1"}, rng=random.Random(seed)
    )
    engine = AlertEngine(cfg, Outbox(db), SqlSilenceStore(db), run_id="run-1")
    return engine, worker


def _events(receiver: Receiver) -> dict[str, list[tuple[str, str]]]:
    """(event_action, the trigger's timestamp) of the events the receiver accepted, for each
    dedup key, in arrival order (a failing budget is two alerts: warn and fail)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for r in receiver.delivered():
        event = r.json()
        when = event.get("payload", {}).get("timestamp", "")
        out.setdefault(event["dedup_key"], []).append((event["event_action"], when))
    return out


def _settle(worker: DeliveryWorker, clock: Clock, seconds: float, step: float = 0.5) -> None:
    """Let the worker retry on the test's clock for `seconds`."""
    end = clock.now + seconds
    while clock.now < end:
        worker.process_due()
        clock.now += step


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_retried_trigger_is_never_delivered_after_its_resolve(
    db: AlertsDB, receiver: Receiver, http: HttpxClient, seed: int
) -> None:
    receiver.default = Reply(202, body=b"{}")
    receiver.script(*[Reply(503)] * 4)
    clock = Clock()
    engine, worker = _wire(db, config(PD.format(url=receiver.url)), http, clock, seed)
    engine.observe([inp(reached=Level.FAIL, observed=0.5)], clock.now)
    while len(receiver.all()) < 4:  # the trigger fails four times, backing off
        worker.process_due()
        clock.now += 0.5
    # the budget recovers while the trigger waits for its fifth attempt
    engine.observe([inp(reached=Level.PASS, observed=0.1)], clock.now)
    _settle(worker, clock, 60)
    assert [i for i in worker.outbox.items() if i.state == "pending"] == []
    assert [r.status for r in receiver.all()][:4] == [503] * 4
    events = _events(receiver)
    assert len(events) == 2, events  # the warn and the fail alert
    for sequence in events.values():
        assert [a for a, _ in sequence] in (["trigger", "resolve"], ["resolve"]), events


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_an_outage_over_fire_resolve_fire_ends_with_the_last_state_delivered_last(
    db: AlertsDB, receiver: Receiver, http: HttpxClient, seed: int
) -> None:
    receiver.default = Reply(503)
    clock = Clock()
    engine, worker = _wire(db, config(PD.format(url=receiver.url)), http, clock, seed)
    engine.observe([inp(reached=Level.FAIL, observed=0.5)], clock.now)
    _settle(worker, clock, 6)
    engine.observe([inp(reached=Level.PASS, observed=0.1)], clock.now)
    _settle(worker, clock, 6)
    engine.observe([inp(reached=Level.FAIL, observed=0.6)], clock.now)
    second_firing = clock.now
    worker.process_due()
    receiver.default = Reply(202, body=b"{}")  # the receiver recovers
    _settle(worker, clock, 60)
    states = [i.state for i in worker.outbox.items()]
    assert PENDING not in states and SUPERSEDED in states  # the backlog collapsed
    events = _events(receiver)
    assert len(events) == 2, events
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second_firing))
    for sequence in events.values():
        actions = [a for a, _ in sequence]
        # each state told at most once, in the order it happened, and the last one last
        assert actions in (["trigger"], ["resolve", "trigger"], ["trigger", "resolve", "trigger"])
        assert sequence[-1][1].startswith(second), events


def _n(*alerts: tuple[str, AlertState], key: str = "castiel-g-1") -> Notification:
    base = notification()
    template = base.alerts[0]
    return replace(
        base,
        group_dedup_key=key,
        alerts=tuple(replace(template, dedup_key=k, state=st) for k, st in alerts),
    )


def test_a_newer_notification_keeps_the_resolves_it_does_not_name() -> None:
    older = [_n(("a", AlertState.FIRING), ("b", AlertState.FIRING)), _n(("b", AlertState.RESOLVED))]
    newest = _n(("c", AlertState.FIRING))
    merged = supersede(older, newest)
    assert [(a.dedup_key, a.status) for a in merged.alerts] == [
        ("b", "resolved"),  # told once, not lost
        ("c", "firing"),
    ]  # a: muted since (the newest does not name it), so its old trigger is dropped
    assert supersede([], newest) == newest


def test_the_newest_state_of_an_alert_wins() -> None:
    older = [_n(("a", AlertState.FIRING)), _n(("a", AlertState.RESOLVED))]
    assert [a.status for a in supersede(older, _n(("a", AlertState.FIRING))).alerts] == ["firing"]
    assert [a.status for a in supersede(older[:1], _n(("a", AlertState.RESOLVED))).alerts] == [
        "resolved"
    ]
    # resolved, then fired again, and now muted: neither old state is told
    again = [*older, _n(("a", AlertState.FIRING))]
    assert [a.dedup_key for a in supersede(again, _n(("z", AlertState.FIRING))).alerts] == ["z"]
