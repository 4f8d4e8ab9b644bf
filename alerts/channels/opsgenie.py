"""Opsgenie Alert API (docs.opsgenie.com, "Alert API"): create with `POST /v2/alerts` and close
with `POST /v2/alerts/{alias}/close?identifierType=alias`, authenticated by
`Authorization: GenieKey <key>`. The alias is the alert's dedup key (or the group's with
`dedup: group`), so a close always finds its create. Limits kept: message 130 characters,
alias 512, description 15000, details values are strings."""

from __future__ import annotations

import urllib.parse
from dataclasses import replace
from typing import Any

from alerts.channel_config import OpsgenieConfig
from alerts.channels.base import Outcome, SendContext, SendResult, missing_secret, post_json
from alerts.channels.text import clip, plain_text
from alerts.model import Notification, NotifiedAlert, label_text
from alerts.secrets import MissingSecret


def _create(
    n: Notification, cfg: OpsgenieConfig, alias: str, alerts: tuple[NotifiedAlert, ...]
) -> dict[str, Any]:
    ev = alerts[0].evidence
    message = ev.summary() if len(alerts) == 1 else f"{len(alerts)} alerts: {n.title()}"
    if alerts[0].state.value == "nodata" and len(alerts) == 1:
        message = f"NO DATA: {message}"
    if n.test:
        message = f"[TEST] {message}"
    priorities = dict(cfg.priorities)
    ranks = ["P1", "P2", "P3", "P4", "P5"]
    priority = min((priorities.get(a.evidence.severity, "P3") for a in alerts), key=ranks.index)
    details = {
        "budget": ev.rule,
        "level": ev.level,
        "observed": ev.observed_text(),
        "threshold": ev.threshold,
        "aggregation": ev.aggregation,
        "group": label_text(ev.group),
        "run": ev.run,
        "test": str(n.test).lower(),
    }
    if alerts[0].link:
        details["dashboard"] = alerts[0].link
    body: dict[str, Any] = {
        "message": clip(message, 130),
        "alias": alias,
        "description": clip(plain_text(alerts), 15000),
        "tags": list(dict.fromkeys([*cfg.tags, "castiel", ev.severity])),
        "details": details,
        "entity": ev.rule,
        "source": "castiel",
        "priority": priority,
    }
    if cfg.responders:
        body["responders"] = [dict(r) for r in cfg.responders]
    return body


def _close(alias: str, note: str) -> tuple[str, dict[str, Any]]:
    path = f"/v2/alerts/{urllib.parse.quote(alias, safe='')}/close?identifierType=alias"
    return path, {"source": "castiel", "note": clip(note, 25000)}


def build(n: Notification, cfg: OpsgenieConfig) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) requests to send, in order."""
    if cfg.dedup == "group":
        if n.firing:
            return [("/v2/alerts", _create(n, cfg, n.group_dedup_key, n.firing))]
        return [
            _close(
                n.group_dedup_key,
                "resolved: " + "; ".join(a.evidence.summary() for a in n.resolved),
            )
        ]
    out = []
    for a in n.alerts:
        if a.status == "firing":
            out.append(("/v2/alerts", _create(n, cfg, a.dedup_key, (a,))))
        else:
            verdict = f" (run verdict: {a.evidence.run_verdict})" if a.evidence.run_verdict else ""
            out.append(_close(a.dedup_key, f"resolved: {a.evidence.summary()}{verdict}"))
    return out


def send(n: Notification, cfg: OpsgenieConfig, ctx: SendContext) -> SendResult:
    try:
        key = ctx.reveal(cfg.api_key)
    except MissingSecret as exc:
        return missing_secret(exc)
    headers = {"Authorization": f"GenieKey {key}"}
    result = SendResult(Outcome.DELIVERED, "nothing to send")
    per_alert = cfg.dedup != "group"  # then one request per alert, in the alerts' order
    for i, (path, body) in enumerate(build(n, cfg)):
        result = post_json(ctx, cfg.api_url.rstrip("/") + path, body, headers)
        if result.outcome is not Outcome.DELIVERED:
            return replace(result, done=i) if per_alert else result
    return result
