"""Opsgenie Alert API (docs.opsgenie.com, "Alert API"): create with `POST /v2/alerts` and close
with `POST /v2/alerts/{alias}/close?identifierType=alias`, authenticated by
`Authorization: GenieKey <key>`. The alias is the alert's dedup key (or the group's with
`dedup: group`), so a close always finds its create. Limits kept: message 130 characters,
alias 512, description 15000, details values are strings."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from yaml.nodes import Node

from alerts.channels.base import Outcome, SendContext, SendResult, missing_secret, post_json
from alerts.channels.channel import AlertmanagerReceiver, AlertmanagerTarget, Channel
from alerts.channels.fields import dedup, secret
from alerts.channels.text import clip, plain_text
from alerts.model import Notification, NotifiedAlert, Severity, label_text
from alerts.secrets import MissingSecret, Secret
from alerts.yamlnodes import fields, url
from collectors.yamlspec import SpecContext

OPSGENIE_URL = "https://api.opsgenie.com"


@dataclass(frozen=True)
class OpsgenieConfig:
    api_key: Secret
    api_url: str = OPSGENIE_URL
    dedup: str = "alert"
    responders: tuple[tuple[tuple[str, str], ...], ...] = ()
    tags: tuple[str, ...] = ()
    priorities: tuple[tuple[str, str], ...] = (
        ("critical", "P1"),
        ("error", "P2"),
        ("warning", "P3"),
        ("info", "P5"),
    )


def parse(ctx: SpecContext, node: Node, key: str) -> OpsgenieConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "api_key": partial(secret, ctx),
            "api_url": partial(url, ctx),
            "dedup": partial(dedup, ctx),
            "responders": partial(_responders, ctx),
            "tags": ctx.texts,
            "priorities": partial(_priorities, ctx),
        },
        ("api_key",),
    )
    return OpsgenieConfig(**f)


def _responders(ctx: SpecContext, n: Node, k: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    out = []
    for i, item in enumerate(ctx.items(n, k)):
        r = ctx.string_map(item, f"{k}[{i}]")
        d = dict(r)
        if "type" not in d or not ({"id", "name", "username"} & set(d)):
            raise ctx.error(
                item, f"{k}[{i}]", "a responder needs type and one of id, name, username"
            )
        out.append(r)
    return tuple(out)


def _priorities(ctx: SpecContext, n: Node, k: str) -> tuple[tuple[str, str], ...]:
    m = ctx.string_map(n, k)
    for sev, prio in m:
        if sev not in tuple(Severity) or prio not in ("P1", "P2", "P3", "P4", "P5"):
            raise ctx.error(
                n, f"{k}.{sev}", "map a severity (critical, error, warning, info) to P1..P5"
            )
    return tuple(sorted({**dict(OpsgenieConfig.priorities), **dict(m)}.items()))


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


def to_alertmanager(
    receiver: str, cfg: OpsgenieConfig, target: AlertmanagerTarget
) -> AlertmanagerReceiver:
    conf: dict[str, Any] = {"api_key_file": target.secret_file(receiver, "api_key", cfg.api_key)}
    if cfg.api_url != OPSGENIE_URL:
        conf["api_url"] = cfg.api_url.rstrip("/") + "/"
    if cfg.responders:
        conf["responders"] = [dict(r) for r in cfg.responders]
    if cfg.tags:
        conf["tags"] = ",".join(cfg.tags)
    branches = "".join(
        f'{{{{ {"if" if i == 0 else "else if"} eq .CommonLabels.severity "{sev}" }}}}{prio}'
        for i, (sev, prio) in enumerate(cfg.priorities)
    )
    conf["priority"] = branches + "{{ else }}P3{{ end }}"
    if cfg.dedup == "alert":
        target.notes.append(
            f"receiver {receiver}: dedup: alert (Alertmanager sends one Opsgenie alert per "
            "alert group)"
        )
    return "opsgenie_configs", conf


CHANNEL = Channel(
    name="opsgenie",
    config=OpsgenieConfig,
    parse=parse,
    secrets=("api_key",),
    send=send,
    alertmanager=to_alertmanager,
)
