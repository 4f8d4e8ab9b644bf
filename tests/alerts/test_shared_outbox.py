"""Two monitors sharing one PostgreSQL store (issue 16): their alert engines run in separate
processes, each with its delivery worker claiming from the one outbox (`FOR UPDATE SKIP
LOCKED`). A real PagerDuty-style receiver gets every notification exactly once, in order per
alert (issue 13), also when it fails for a while and a resolve is queued meanwhile."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerts.db import AlertsDB
from alerts.engine import AlertEngine
from alerts.metrics import METRIC, AlertMetrics
from alerts.model import AlertState, group_dedup_key
from alerts.outbox import DELIVERED, PENDING, Outbox, recent_attempts, waiting
from alerts.silences import SqlSilenceStore
from budgets.model import Level
from tests.alerts.helpers import config, inp, notification
from tests.alerts.receivers import Receiver, Reply
from tests.helpers import wait_until

CONFIG = """
route: {{receiver: pd, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers: [{{name: pd, pagerduty: {{routing_key: "${{PD_KEY}}", url: "{url}/pd"}}}}]
delivery: {{max_attempts: 20, initial_backoff: 200ms, max_backoff: 1s, max_age: 1h}}
"""
ENV = {"PD_KEY": "pdkey1"}


def _monitor(url: str, cfg_text: str, name: str, start: Any, stop: Any, out: Any) -> None:
    """What a `castiel monitor` with alerting runs: an engine whose worker thread delivers
    from the store's outbox. Reports how many notifications it delivered."""
    registry = CollectorRegistry()
    engine = AlertEngine.open(
        config(cfg_text),
        store_path=url,
        run_id=name,
        metrics=AlertMetrics(registry),
        env=ENV,
        start=False,
    )
    assert engine.worker is not None
    engine.worker.poll_interval = 0.05
    start.wait(timeout=60)
    engine.worker.start()
    stop.wait(timeout=120)
    engine.close(drain=5)
    delivered = registry.get_sample_value(METRIC, {"receiver": "pd", "outcome": DELIVERED})
    out.put((name, int(delivered or 0)))


class Monitors:
    """Two monitor processes on the store at `url`, started together."""

    def __init__(self, url: str, cfg_text: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.start = ctx.Barrier(3)
        self.stop = ctx.Event()
        self.out: Any = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_monitor,
                args=(url, cfg_text, f"monitor-{i}", self.start, self.stop, self.out),
            )
            for i in (1, 2)
        ]
        for p in self.procs:
            p.start()
        self.start.wait(timeout=90)

    def finish(self) -> dict[str, int]:
        self.stop.set()
        got = dict(self.out.get(timeout=60) for _ in self.procs)
        for p in self.procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        return got

    def kill(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.kill()


@pytest.fixture
def pd_receiver() -> Iterator[Receiver]:
    # A little latency per request, so both monitors are sending at the same time.
    r = Receiver(Reply(202, body=b"{}", delay=0.02))
    yield r
    r.stop()


def _events(receiver: Receiver) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in receiver.delivered():
        event = r.json()
        out.setdefault(event["dedup_key"], []).append(event["event_action"])
    return out


@pytest.mark.slow
def test_two_monitors_deliver_each_notification_exactly_once_in_order(
    postgres_url: str, pd_receiver: Receiver
) -> None:
    groups = 40
    with AlertsDB.open(postgres_url) as db:
        outbox = Outbox(db)
        now = time.time()
        for g in range(groups):  # per alert group: its trigger, then its resolve
            firing = notification(receiver="pd")
            key = group_dedup_key("0", "pd", (("alertname", f"a{g}"),), "run-1")
            alert = replace(firing.alerts[0], dedup_key=f"castiel-{g:040d}")
            outbox.enqueue(replace(firing, alerts=(alert,), group_dedup_key=key), now)
            resolved = replace(alert, state=AlertState.RESOLVED, ends_at=now)
            outbox.enqueue(replace(firing, alerts=(resolved,), group_dedup_key=key), now)
    monitors = Monitors(postgres_url, CONFIG.format(url=pd_receiver.url))
    try:
        wait_until(lambda: waiting(postgres_url) == [], timeout=120, message="the outbox to empty")
        per_monitor = monitors.finish()
    finally:
        monitors.kill()
    events = _events(pd_receiver)
    assert len(events) == groups
    assert all(seq == ["trigger", "resolve"] for seq in events.values()), events
    assert len(pd_receiver.all()) == 2 * groups  # nothing was sent twice
    attempts = recent_attempts(postgres_url, limit=1000)
    assert sorted(a.outbox_id for a in attempts) == list(range(1, 2 * groups + 1))
    assert {a.outcome for a in attempts} == {DELIVERED}
    assert sum(per_monitor.values()) == 2 * groups
    assert all(n > 0 for n in per_monitor.values()), per_monitor  # both took their share


@pytest.mark.slow
def test_two_monitors_never_deliver_a_retried_trigger_after_its_resolve(
    postgres_url: str, pd_receiver: Receiver
) -> None:
    pd_receiver.script(*[Reply(503)] * 4)
    cfg_text = CONFIG.format(url=pd_receiver.url)
    monitors = Monitors(postgres_url, cfg_text)
    try:
        with AlertsDB.open(postgres_url) as db:
            # the run whose budgets are evaluated: it only enqueues, the monitors send
            cfg = config(cfg_text)
            run = AlertEngine(cfg, Outbox(db), SqlSilenceStore(db), run_id="run-1")
            run.observe([inp(reached=Level.FAIL, observed=0.5)], time.time())
            wait_until(lambda: len(pd_receiver.all()) >= 4, timeout=60, message="four 503s")
            run.observe([inp(reached=Level.PASS, observed=0.1)], time.time() + 2)
            wait_until(
                lambda: not Outbox(db).items(PENDING), timeout=60, message="the outbox to empty"
            )
        monitors.finish()
    finally:
        monitors.kill()
    assert [r.status for r in pd_receiver.all()][:4] == [503] * 4
    events = _events(pd_receiver)
    assert len(events) == 2, events  # the warn and the fail alert
    for sequence in events.values():
        assert sequence in (["trigger", "resolve"], ["resolve"]), events
