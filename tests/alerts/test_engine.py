"""The engine as a monitor embeds it, against real receivers: a run that ends resolves its
alerts on every channel, the Monitor's on_verdicts hook drives it, and silences added from
another connection (the CLI) are honoured."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerts.channels.base import HttpxClient
from alerts.config import AlertsConfig
from alerts.db import AlertsDB
from alerts.delivery import DeliveryWorker
from alerts.engine import AlertEngine
from alerts.outbox import DELIVERED, Outbox
from alerts.silences import SqlSilenceStore, new_silence
from budgets.model import Level
from budgets.spec import parse_budgets
from collectors.model import Batch, SeriesKey
from collectors.store import Store
from loadtest.monitor import Monitor
from tests.alerts.conftest import Alertmanager, Inbox
from tests.alerts.helpers import config, inp
from tests.alerts.receivers import Receiver, Reply
from tests.helpers import wait_until

EVERY_CHANNEL = """
route:
  receiver: slack
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  routes:
    - {{receiver: slack, continue: true}}
    - {{receiver: teams, continue: true}}
    - {{receiver: pagerduty, continue: true}}
    - {{receiver: opsgenie, continue: true}}
    - {{receiver: webhook, continue: true}}
    - {{receiver: email, continue: true}}
    - {{receiver: alertmanager}}
receivers:
  - {{name: slack, slack: {{webhook_url: "{url}/slack"}}}}
  - {{name: teams, teams: {{webhook_url: "{url}/teams"}}}}
  - {{name: pagerduty, pagerduty: {{routing_key: "${{PD_KEY}}", url: "{url}/pd"}}}}
  - {{name: opsgenie, opsgenie: {{api_key: "${{OG_KEY}}", api_url: "{url}/og"}}}}
  - {{name: webhook, webhook: {{url: "{url}/hook"}}}}
  - name: email
    email: {{to: oncall@example.com, from: castiel@example.com, smarthost: "127.0.0.1:{smtp}",
             starttls: false}}
  - {{name: alertmanager, alertmanager: {{url: "{am}"}}}}
"""


def bodies(receiver: Receiver, prefix: str) -> list[dict[str, object]]:
    return [r.json() for r in receiver.delivered() if r.path.startswith(prefix)]


def test_a_run_that_ends_resolves_its_alerts_on_every_channel(
    tmp_path: Path, receiver: Receiver, smtp: tuple[Inbox, int], alertmanager: Alertmanager
) -> None:
    inbox, smtp_port = smtp
    receiver.default = Reply(202, body=b"{}")
    cfg = config(EVERY_CHANNEL.format(url=receiver.url, smtp=smtp_port, am=alertmanager.url))
    db = AlertsDB.open(tmp_path / "castiel.db")
    http = HttpxClient()
    worker = DeliveryWorker(Outbox(db), cfg, http, env={"PD_KEY": "pdkey1", "OG_KEY": "ogkey1"})
    engine = AlertEngine(cfg, Outbox(db), SqlSilenceStore(db), run_id="run-1", worker=worker)
    now = time.time()
    try:
        groups = [{"route": "/a"}, {"route": "/b"}]
        engine.observe([inp(reached=Level.FAIL, observed=0.5, group=g) for g in groups], now)
        assert worker.process_due() == 7
        wait_until(lambda: len(alertmanager.alerts()) == 4, timeout=10, message="am alerts")
        engine.end_run("fail", time.time())
        assert worker.process_due() == 7
        assert all(i.state == DELIVERED for i in worker.outbox.items())

        # PagerDuty: every trigger has its resolve, paired by dedup_key
        pd = bodies(receiver, "/pd")
        triggers = {e["dedup_key"] for e in pd if e["event_action"] == "trigger"}
        resolves = {e["dedup_key"] for e in pd if e["event_action"] == "resolve"}
        assert len(triggers) == 4 and triggers == resolves
        # Opsgenie: every create is closed by its alias
        og = receiver.delivered()
        created = {r.json()["alias"] for r in og if r.path == "/og/v2/alerts"}
        closed = {
            urllib.parse.unquote(r.path.split("/")[4]) for r in og if r.path.endswith("alias")
        }
        assert len(created) == 4 and created == closed
        # webhook, Slack, Teams: a resolved message with the run's verdict
        hook = bodies(receiver, "/hook")
        assert [b["status"] for b in hook] == ["firing", "resolved"]
        last = hook[-1]["alerts"]
        assert isinstance(last, list)
        assert {a["evidence"]["run_verdict"] for a in last} == {"fail"}
        assert "RESOLVED" in json.dumps(bodies(receiver, "/slack")[-1])
        assert "RESOLVED" in json.dumps(bodies(receiver, "/teams")[-1])
        # email
        assert [m["Subject"].split("]")[0] for _, _, m in inbox.messages] == [
            "[FIRING:4",
            "[RESOLVED:4",
        ]
        # Alertmanager: nothing active any more
        wait_until(lambda: alertmanager.alerts() == [], timeout=10, message="am resolved")
    finally:
        http.close()
        db.close()


def test_the_monitor_drives_the_engine_through_on_verdicts(
    tmp_path: Path, store_location: str
) -> None:
    out = tmp_path / "notifications.jsonl"
    cfg: AlertsConfig = config(
        f"""
        route: {{receiver: file, group_wait: 0s, group_interval: 1s}}
        receivers: [{{name: file, file: {{path: "{out}"}}}}]
        dashboard: {{url: "http://127.0.0.1:8501"}}
        """
    )
    spec = parse_budgets(
        """
version: 1
budgets:
  - name: backlog
    metric: castiel_queue_jobs{state="wait"}
    aggregation: last
    warn: "< 100"
    group_by: queue
    min_samples: 1
"""
    )

    class Depth:
        name = "depth"

        def __init__(self) -> None:
            self.value = 10.0

        def collect(self, now: float) -> Batch:
            b = Batch()
            b.add_gauge(
                SeriesKey.of("castiel_queue_jobs", {"queue": "q", "state": "wait"}),
                now,
                self.value,
            )
            return b

    depth = Depth()
    store_path = store_location
    with Store.open(store_path) as store:
        run = store.create_run(started_at=1000.0, scenario="test")
        engine = AlertEngine.open(
            cfg,
            store_path=store_path,
            run_id=run.id,
            registry=CollectorRegistry(),
            env={},
            start=False,
        )
        monitor = Monitor(store, run, spec.budgets, [depth], on_verdicts=engine.on_verdicts)
        for t in range(1, 4):
            monitor.tick(1000.0 + t)
        depth.value = 500.0
        for t in range(4, 8):
            monitor.tick(1000.0 + t)
        engine.end_run("warn", 1009.0)
        assert engine.worker is not None
        engine.worker.process_due()
        engine.close()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    alert = lines[0]["alerts"][0]
    assert alert["labels"]["budget"] == "backlog" and alert["labels"]["queue"] == "q"
    assert alert["evidence"]["observed"] == 500.0 and alert["evidence"]["threshold"] == "< 100"
    assert alert["generatorURL"] == f"http://127.0.0.1:8501/review?run={run.id}&budget=backlog"


def test_a_silence_added_elsewhere_mutes_the_next_tick(tmp_path: Path, store_location: str) -> None:
    out = tmp_path / "n.jsonl"
    cfg = config(
        f"""
        route: {{receiver: file, group_wait: 0s}}
        receivers: [{{name: file, file: {{path: "{out}"}}}}]
        """
    )
    store_path = store_location
    engine = AlertEngine.open(
        cfg, store_path=store_path, run_id="r", registry=CollectorRegistry(), start=False
    )
    with AlertsDB.open(store_path) as other:  # e.g. `castiel alerts silence add`
        SqlSilenceStore(other).add(
            new_silence(
                ['budget="api-latency"'],
                starts_at=time.time() - 1,
                ends_at=time.time() + 60,
                now=time.time(),
            )
        )
    r = engine.observe(
        [inp(reached=Level.FAIL, observed=0.5), inp("other", Level.FAIL, observed=1)]
    )
    assert {n.alerts[0].evidence.rule for n in r.notifications} == {"other"}
    assert sum(why.startswith("silenced") for why in r.suppressed.values()) == 2
    engine.close()
