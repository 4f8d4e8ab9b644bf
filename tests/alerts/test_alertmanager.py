"""The Alertmanager API v2 channel against a real Alertmanager started by the test: alerts
arrive with Castiel's labels and evidence, Alertmanager routes them on to its own webhook, and
a resolve closes them there."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from alerts.channels import send
from alerts.channels.base import HttpxClient, Outcome, SendContext
from alerts.config import AlertsConfig
from alerts.model import AlertState, Notification
from tests.alerts.conftest import Alertmanager
from tests.alerts.helpers import config, notification
from tests.alerts.receivers import Receiver
from tests.helpers import wait_until


def am_config(url: str) -> AlertsConfig:
    return config(
        f"""
        route: {{receiver: am}}
        receivers:
          - name: am
            alertmanager: {{url: "{url}"}}
        """
    )


def post(cfg: AlertsConfig, n: Notification) -> Any:
    http = HttpxClient()
    try:
        return send(cfg.receivers["am"], n, SendContext(http, {}, time.time()))
    finally:
        http.close()


def seen(receiver: Receiver, status: str) -> set[str]:
    return {
        a["labels"]["group"]
        for r in receiver.delivered()
        for a in r.json()["alerts"]
        if a["status"] == status
    }


def test_alerts_posted_to_alertmanager_fire_and_resolve(
    alertmanager: Alertmanager, receiver: Receiver
) -> None:
    cfg = am_config(alertmanager.url)
    now = time.time()
    n = notification(receiver="am", firing=2)
    firing = replace(n, alerts=tuple(replace(a, starts_at=now - 5) for a in n.alerts))
    assert post(cfg, firing).outcome is Outcome.DELIVERED
    held = wait_until(
        lambda: len(alertmanager.alerts()) == 2 and alertmanager.alerts(),
        timeout=10,
        message="alerts in alertmanager",
    )
    a = held[0]
    assert a["labels"]["budget"] == "api-latency"
    assert a["labels"]["severity"] == "critical"
    assert a["annotations"]["observed"] == "0.42"
    assert a["annotations"]["threshold"] == "< 0.3"
    assert a["annotations"]["dedup_key"].startswith("castiel-")
    assert a["status"]["state"] == "active"
    assert a["generatorURL"].startswith("http://dash:8501/review")
    # Alertmanager notifies its own receiver (our local webhook) ...
    both = {"route=/api/items/0", "route=/api/items/1"}
    wait_until(
        lambda: seen(receiver, "firing") == both,
        timeout=10,
        message="alertmanager's firing webhook",
    )
    # ... and a resolve from Castiel closes them there
    resolved = replace(
        firing,
        alerts=tuple(
            replace(x, state=AlertState.RESOLVED, ends_at=time.time()) for x in firing.alerts
        ),
    )
    assert post(cfg, resolved).outcome is Outcome.DELIVERED
    wait_until(
        lambda: seen(receiver, "resolved") == both,
        timeout=15,
        message="alertmanager's resolved webhook",
    )
    assert alertmanager.alerts() == []


def test_an_invalid_alert_is_a_4xx_and_not_retried(alertmanager: Alertmanager) -> None:
    n = notification(receiver="am")
    bad = replace(n, alerts=tuple(replace(a, labels=(("0-not-a-label", "x"),)) for a in n.alerts))
    result = post(am_config(alertmanager.url), bad)
    assert result.outcome is Outcome.FAILED and result.status_code == 400
