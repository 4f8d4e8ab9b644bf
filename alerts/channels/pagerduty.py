"""PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event"): `trigger` and
`resolve` events to /v2/enqueue, paired by `dedup_key`. With `dedup: alert` (default) each
Castiel alert is one PagerDuty alert keyed by its own dedup key; with `dedup: group` one event
per aggregation group, keyed by the group's key. Re-sending a trigger with the same key is
idempotent on PagerDuty's side, so a retried notification never opens a second incident."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from yaml.nodes import Node

from alerts.channels.base import Outcome, SendContext, SendResult, missing_secret, post_json
from alerts.channels.channel import AlertmanagerReceiver, AlertmanagerTarget, Channel
from alerts.channels.fields import dedup, secret
from alerts.channels.text import clip, iso
from alerts.model import Notification, NotifiedAlert
from alerts.secrets import MissingSecret, Secret
from alerts.yamlnodes import fields, url
from collectors.yamlspec import SpecContext

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class PagerDutyConfig:
    routing_key: Secret
    url: str = PAGERDUTY_URL
    source: str = "castiel"
    dedup: str = "alert"
    """"alert": one PagerDuty alert per Castiel alert; "group": one per aggregation group."""


def parse(ctx: SpecContext, node: Node, key: str) -> PagerDutyConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "routing_key": partial(secret, ctx),
            "url": partial(url, ctx),
            "source": ctx.text,
            "dedup": partial(dedup, ctx),
        },
        ("routing_key",),
    )
    return PagerDutyConfig(**f)


SEVERITIES = ("critical", "error", "warning", "info")


def _trigger(
    n: Notification,
    cfg: PagerDutyConfig,
    key: str,
    alerts: tuple[NotifiedAlert, ...],
    routing_key: str,
) -> dict[str, Any]:
    first = alerts[0]
    ev = first.evidence
    if len(alerts) == 1:
        summary = ev.summary()
        if first.state.value == "nodata":
            summary = f"NO DATA: {summary}"
    else:
        summary = f"{len(alerts)} alerts: " + "; ".join(a.evidence.summary() for a in alerts)
    if n.test:
        summary = f"[TEST] {summary}"
    severity = max(
        (a.evidence.severity for a in alerts),
        key=lambda s: -SEVERITIES.index(s) if s in SEVERITIES else -1,
    )
    links = [{"href": a.link, "text": f"Castiel: {a.evidence.rule}"} for a in alerts if a.link]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": clip(summary, 1024),
            "source": cfg.source,
            "severity": severity if severity in SEVERITIES else "error",
            "timestamp": iso(first.starts_at),
            "component": ev.rule,
            "group": ev.run,
            "class": ev.level,
            "custom_details": {
                "test": n.test,
                "group_labels": dict(n.group_labels),
                "alerts": [
                    {**a.evidence.to_json(), "state": a.state.value, "labels": dict(a.labels)}
                    for a in alerts
                ],
            },
        },
        "client": "Castiel",
    }
    if n.external_url:
        event["client_url"] = n.external_url
    if links:
        event["links"] = links[:10]
    return event


def build(n: Notification, cfg: PagerDutyConfig, routing_key: str) -> list[dict[str, Any]]:
    """The events to send, in order."""
    if cfg.dedup == "group":
        if n.firing:
            return [_trigger(n, cfg, n.group_dedup_key, n.firing, routing_key)]
        return [_resolve(n.group_dedup_key, routing_key)]
    events = []
    for a in n.alerts:
        if a.status == "firing":
            events.append(_trigger(n, cfg, a.dedup_key, (a,), routing_key))
        else:
            events.append(_resolve(a.dedup_key, routing_key))
    return events


def _resolve(key: str, routing_key: str) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}


def send(n: Notification, cfg: PagerDutyConfig, ctx: SendContext) -> SendResult:
    try:
        routing_key = ctx.reveal(cfg.routing_key)
    except MissingSecret as exc:
        return missing_secret(exc)
    result = SendResult(Outcome.DELIVERED, "nothing to send")
    per_alert = cfg.dedup != "group"  # then one event per alert, in the alerts' order
    for i, event in enumerate(build(n, cfg, routing_key)):
        result = post_json(ctx, cfg.url, event)
        if result.outcome is not Outcome.DELIVERED:
            return replace(result, done=i) if per_alert else result
    return result


def to_alertmanager(
    receiver: str, cfg: PagerDutyConfig, target: AlertmanagerTarget
) -> AlertmanagerReceiver:
    conf: dict[str, Any] = {
        "routing_key_file": target.secret_file(receiver, "routing_key", cfg.routing_key),
        # Castiel's severities are PagerDuty's four.
        "severity": '{{ or .CommonLabels.severity "error" }}',
        "source": cfg.source,
    }
    if cfg.url != PAGERDUTY_URL:
        conf["url"] = cfg.url
    if cfg.dedup == "alert":
        target.notes.append(
            f"receiver {receiver}: dedup: alert (Alertmanager sends one PagerDuty incident per "
            "alert group; group by every label to get one per alert)"
        )
    return "pagerduty_configs", conf


CHANNEL = Channel(
    name="pagerduty",
    config=PagerDutyConfig,
    parse=parse,
    secrets=("routing_key",),
    send=send,
    alertmanager=to_alertmanager,
)
