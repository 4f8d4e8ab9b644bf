"""Microsoft Teams through a Power Automate Workflows webhook ("When a Teams webhook request is
received"), posting an Adaptive Card as a message attachment (learn.microsoft.com: "Create
incoming webhooks with Workflows for Microsoft Teams"). The retired Office 365 connector
MessageCard format is deliberately not offered."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from yaml.nodes import Node

from alerts.channels.base import SendContext, SendResult, missing_secret, post_json
from alerts.channels.channel import AlertmanagerReceiver, AlertmanagerTarget, Channel
from alerts.channels.fields import max_alerts, secret_url
from alerts.channels.text import facts, limit, state_word
from alerts.model import Notification, NotifiedAlert
from alerts.secrets import MissingSecret, Secret
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class TeamsConfig:
    webhook_url: Secret
    """A Power Automate Workflows "post to a channel when a webhook request is received" URL."""
    max_alerts: int = 20


def parse(ctx: SpecContext, node: Node, key: str) -> TeamsConfig:
    f = fields(
        ctx,
        node,
        key,
        {"webhook_url": partial(secret_url, ctx), "max_alerts": partial(max_alerts, ctx)},
        ("webhook_url",),
    )
    return TeamsConfig(**f)


MSTEAMSV2 = (0, 28)
"""The first Alertmanager release with Workflows webhooks (msteamsv2_configs)."""
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def _alert_items(a: NotifiedAlert) -> list[dict[str, Any]]:
    color = "Good" if a.status == "resolved" else "Attention"
    if a.state.value == "nodata":
        color = "Warning"
    items: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{state_word(a)}: {a.evidence.summary()}",
            "weight": "Bolder",
            "color": color,
            "wrap": True,
            "separator": True,
        },
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(a)]},
    ]
    if a.link:
        items.append(
            {
                "type": "ActionSet",
                "actions": [
                    {"type": "Action.OpenUrl", "title": "Open in dashboard", "url": a.link}
                ],
            }
        )
    return items


def build(n: Notification, cfg: TeamsConfig) -> dict[str, Any]:
    shown, left_out = limit(n.alerts, cfg.max_alerts)
    left_out += n.truncated
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": n.title(),
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "style": "heading",
        }
    ]
    if n.test:
        body.append(
            {
                "type": "TextBlock",
                "text": "This is a test notification from `castiel alerts test`. Nothing is wrong.",
                "wrap": True,
                "isSubtle": True,
            }
        )
    for a in shown:
        body.extend(_alert_items(a))
    footer = f"Castiel · receiver {n.receiver}"
    if left_out:
        footer += f" · {left_out} more not shown"
    body.append(
        {"type": "TextBlock", "text": footer, "isSubtle": True, "size": "Small", "wrap": True}
    )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if n.external_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Castiel dashboard", "url": n.external_url}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


def send(n: Notification, cfg: TeamsConfig, ctx: SendContext) -> SendResult:
    try:
        url = ctx.reveal(cfg.webhook_url)
    except MissingSecret as exc:
        return missing_secret(exc)
    return post_json(ctx, url, build(n, cfg))


def to_alertmanager(
    receiver: str, cfg: TeamsConfig, target: AlertmanagerTarget
) -> AlertmanagerReceiver:
    if target.version < MSTEAMSV2:
        target.notes.append(
            f"receiver {receiver}: Microsoft Teams Workflows webhooks need Alertmanager 0.28 "
            "(msteamsv2_configs); not written for this version"
        )
        return None
    return "msteamsv2_configs", {
        "webhook_url_file": target.secret_file(receiver, "webhook_url", cfg.webhook_url)
    }


CHANNEL = Channel(
    name="teams",
    config=TeamsConfig,
    parse=parse,
    secrets=("webhook_url",),
    send=send,
    alertmanager=to_alertmanager,
)
