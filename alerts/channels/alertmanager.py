"""Alertmanager API v2: `POST /api/v2/alerts` with a list of postable alerts (labels,
annotations, startsAt, endsAt, generatorURL), into an Alertmanager a team already runs. A
resolve is the same alert posted again with endsAt = now. Firing alerts get endsAt = now + ttl,
and are re-posted at every repeat, so Alertmanager resolves them on its own only if Castiel
stops talking to it for longer than ttl."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from yaml.nodes import Node

from alerts.channels.base import SendContext, SendResult, post_json
from alerts.channels.channel import Channel
from alerts.channels.text import iso
from alerts.model import Notification
from alerts.yamlnodes import fields, url
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class AlertmanagerConfig:
    url: str
    """Base URL of an existing Alertmanager, e.g. http://alertmanager:9093."""
    ttl: float = 86400.0
    """endsAt of firing alerts is now + ttl; re-sent at every repeat, so keep it longer."""


def parse(ctx: SpecContext, node: Node, key: str) -> AlertmanagerConfig:
    f = fields(ctx, node, key, {"url": partial(url, ctx), "ttl": ctx.positive_seconds}, ("url",))
    return AlertmanagerConfig(**f)


def build(n: Notification, cfg: AlertmanagerConfig, now: float) -> list[dict[str, Any]]:
    out = []
    for a in n.alerts:
        labels = dict(a.labels)
        if n.test:
            labels["castiel_test"] = "true"
        annotations = dict(a.annotations)
        ev = a.evidence
        annotations.update(
            {
                "observed": ev.observed_text(),
                "threshold": ev.threshold,
                "state": a.state.value,
                "dedup_key": a.dedup_key,
            }
        )
        if ev.run_verdict:
            annotations["run_verdict"] = ev.run_verdict
        ends = (a.ends_at if a.ends_at is not None else now) if a.status == "resolved" else None
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": iso(a.starts_at),
            "endsAt": iso(ends if ends is not None else now + cfg.ttl),
        }
        if a.link:
            alert["generatorURL"] = a.link
        out.append(alert)
    return out


def send(n: Notification, cfg: AlertmanagerConfig, ctx: SendContext) -> SendResult:
    return post_json(ctx, cfg.url.rstrip("/") + "/api/v2/alerts", build(n, cfg, ctx.now))


CHANNEL = Channel(
    name="alertmanager",
    config=AlertmanagerConfig,
    parse=parse,
    secrets=(),
    send=send,
    alertmanager="the exported alerts reach Alertmanager already",
)
