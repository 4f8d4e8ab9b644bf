"""Builders for alert tests."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from alerts.config import AlertsConfig, parse_alerts_config
from alerts.model import (
    AlertInput,
    AlertKey,
    AlertState,
    Evidence,
    Notification,
    NotifiedAlert,
    group_dedup_key,
    labelset,
)
from budgets.model import Level

T0 = 1_790_000_000.0  # a fixed clock: 2026-09-21 14:13:20 UTC, a Monday


def config(text: str) -> AlertsConfig:
    return parse_alerts_config(textwrap.dedent(text), "alerts.yaml")


def inp(
    rule: str = "api-latency",
    reached: Level = Level.PASS,
    *,
    group: Mapping[str, str] | None = None,
    observed: float | None = 0.1,
    missing: bool = False,
    warn: str | None = "< 0.2",
    fail: str | None = "< 0.3",
    run: str = "run-1",
) -> AlertInput:
    thresholds = tuple(
        (lv, cond) for lv, cond in ((Level.WARN, warn), (Level.FAIL, fail)) if cond is not None
    )
    return AlertInput(
        rule=rule,
        group=labelset(group or {}),
        reached=reached,
        missing=missing,
        observed=None if missing else observed,
        thresholds=thresholds,
        aggregation="p95",
        metric="castiel_http_request_duration_seconds",
        run_id=run,
    )


SIMPLE = """
version: 1
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 10s
  repeat_interval: 1h
receivers:
  - name: hook
    console: {}
"""


def notification(
    receiver: str = "hook",
    *,
    firing: int = 1,
    resolved: int = 0,
    link: str | None = "http://dash:8501/review?run=run-1&budget=api-latency",
    nodata: int = 0,
) -> Notification:
    """A notification as the pipeline makes them: `firing` critical alerts of api-latency, one
    per route, plus `resolved` and `nodata` ones."""
    alerts = []
    states = (
        [AlertState.FIRING] * firing
        + [AlertState.RESOLVED] * resolved
        + [AlertState.NODATA] * nodata
    )
    for i, state in enumerate(states):
        group = labelset({"route": f"/api/items/{i}"})
        ev = Evidence(
            rule="api-latency",
            level="fail",
            severity="critical",
            observed=None if state is AlertState.NODATA else 0.42,
            threshold="< 0.3",
            aggregation="p95",
            metric="castiel_http_request_duration_seconds",
            group=group,
            run="run-1",
        )
        labels = labelset(
            {
                "alertname": "api-latency",
                "budget": "api-latency",
                "level": "fail",
                "severity": "critical",
                "group": f"route=/api/items/{i}",
                "run": "run-1",
                "route": f"/api/items/{i}",
            }
        )
        alerts.append(
            NotifiedAlert(
                dedup_key=AlertKey("api-latency", "fail", group, "run-1").dedup_key,
                state=state,
                labels=labels,
                annotations=labelset({"summary": ev.summary()}),
                starts_at=T0,
                ends_at=T0 + 60 if state is AlertState.RESOLVED else None,
                evidence=ev,
                link=link,
            )
        )
    return Notification(
        receiver=receiver,
        group_key='0:hook:{alertname="api-latency"}',
        group_labels=(("alertname", "api-latency"),),
        alerts=tuple(alerts),
        created_at=T0 + 60,
        group_dedup_key=group_dedup_key("0", receiver, (("alertname", "api-latency"),), "run-1"),
        external_url="http://dash:8501",
    )
