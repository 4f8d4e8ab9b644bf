"""Generic webhook: the JSON body of Alertmanager's webhook receiver (version "4", see
prometheus.io/docs/alerting/latest/configuration/#webhook_config), so anything that consumes
Alertmanager webhooks consumes Castiel's. Extra keys (`castiel`, per-alert `evidence`) carry
the evidence; consumers that do not know them ignore them.

Signing: with `hmac_secret`, the request has `X-Castiel-Timestamp: <unix seconds>` and
`X-Castiel-Signature: sha256=<hex>` where hex = HMAC-SHA256(secret, "<timestamp>." + body).
Receivers recompute it over the raw body and reject old timestamps (replays)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from yaml.nodes import Node

from alerts.channels.base import SendContext, SendResult, missing_secret, post_bytes
from alerts.channels.channel import AlertmanagerReceiver, AlertmanagerTarget, Channel
from alerts.channels.fields import max_alerts, secret, secret_url
from alerts.channels.text import iso, limit
from alerts.model import Notification, NotifiedAlert
from alerts.secrets import MissingSecret, Secret
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext

SIGNATURE_HEADER = "X-Castiel-Signature"
TIMESTAMP_HEADER = "X-Castiel-Timestamp"
WEBHOOK_URL_FILE = (0, 26)
"""The first Alertmanager release that reads a webhook URL from a file (url_file)."""


@dataclass(frozen=True)
class WebhookConfig:
    url: Secret
    hmac_secret: Secret | None = None
    max_alerts: int = 0
    """0 = all; otherwise Alertmanager's `max_alerts` (the rest counted in truncatedAlerts)."""


def parse(ctx: SpecContext, node: Node, key: str) -> WebhookConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "url": partial(secret_url, ctx),
            "hmac_secret": partial(secret, ctx),
            "max_alerts": partial(max_alerts, ctx),
        },
        ("url",),
    )
    return WebhookConfig(**f)


def am_alert(a: NotifiedAlert) -> dict[str, Any]:
    return {
        "status": a.status,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": iso(a.starts_at),
        "endsAt": iso(a.ends_at),
        "generatorURL": a.link or "",
        "fingerprint": a.fingerprint,
        "evidence": {**a.evidence.to_json(), "state": a.state.value, "dedup_key": a.dedup_key},
    }


def build(n: Notification, max_alerts: int = 0) -> dict[str, Any]:
    shown, left_out = limit(n.alerts, max_alerts)
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": left_out + n.truncated,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": dict(n.group_labels),
        "commonLabels": dict(n.common_labels),
        "commonAnnotations": dict(n.common_annotations),
        "externalURL": n.external_url or "",
        "alerts": [am_alert(a) for a in shown],
        "castiel": {"test": n.test, "groupDedupKey": n.group_dedup_key},
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send(n: Notification, cfg: WebhookConfig, ctx: SendContext) -> SendResult:
    try:
        url = ctx.reveal(cfg.url)
        key = ctx.reveal(cfg.hmac_secret) if cfg.hmac_secret else None
    except MissingSecret as exc:
        return missing_secret(exc)
    body = json.dumps(build(n, cfg.max_alerts), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        ts = str(int(ctx.now))
        headers[TIMESTAMP_HEADER] = ts
        headers[SIGNATURE_HEADER] = signature(key, ts, body)
    return post_bytes(ctx, url, body, headers)


def to_alertmanager(
    receiver: str, cfg: WebhookConfig, target: AlertmanagerTarget
) -> AlertmanagerReceiver:
    if target.version < WEBHOOK_URL_FILE:
        target.notes.append(
            f"receiver {receiver}: Alertmanager reads a webhook URL from a file from 0.26 on "
            "(url_file), and the URL is a secret; not written for this version"
        )
        return None
    conf: dict[str, Any] = {"url_file": target.secret_file(receiver, "url", cfg.url)}
    if cfg.max_alerts:
        conf["max_alerts"] = cfg.max_alerts
    if cfg.hmac_secret is not None:
        target.notes.append(
            f"receiver {receiver}: hmac_secret (Alertmanager does not sign webhooks)"
        )
    return "webhook_configs", conf


CHANNEL = Channel(
    name="webhook",
    config=WebhookConfig,
    parse=parse,
    secrets=("url", "hmac_secret"),
    send=send,
    alertmanager=to_alertmanager,
)
