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
from typing import Any

from alerts.channel_config import WebhookConfig
from alerts.channels.base import SendContext, SendResult, missing_secret, post_bytes
from alerts.channels.text import iso, limit
from alerts.model import Notification, NotifiedAlert
from alerts.secrets import MissingSecret

SIGNATURE_HEADER = "X-Castiel-Signature"
TIMESTAMP_HEADER = "X-Castiel-Timestamp"


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
