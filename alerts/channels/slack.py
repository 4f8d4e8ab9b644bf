"""Slack incoming webhook with Block Kit (docs: api.slack.com/messaging/webhooks,
api.slack.com/reference/block-kit). Limits kept: 50 blocks, header 150 chars, section text
3000, 10 fields of 2000 each, button text 75; `text` is the notification fallback."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from yaml.nodes import Node

from alerts.channels.base import SendContext, SendResult, missing_secret, post_json
from alerts.channels.channel import AlertmanagerReceiver, AlertmanagerTarget, Channel
from alerts.channels.fields import max_alerts, secret_url
from alerts.channels.text import clip, facts, limit, state_word
from alerts.model import Notification, NotifiedAlert
from alerts.secrets import MissingSecret, Secret
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class SlackConfig:
    webhook_url: Secret
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    max_alerts: int = 20


def parse(ctx: SpecContext, node: Node, key: str) -> SlackConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "webhook_url": partial(secret_url, ctx),
            "channel": ctx.text,
            "username": ctx.text,
            "icon_emoji": ctx.text,
            "max_alerts": partial(max_alerts, ctx),
        },
        ("webhook_url",),
    )
    return SlackConfig(**f)


MAX_ALERTS_CAP = 23
"""2 blocks per alert + 4 around them stays within Slack's 50."""


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alert_blocks(a: NotifiedAlert) -> list[dict[str, Any]]:
    icon = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}[a.status]
    if a.state.value == "nodata":
        icon = ":grey_question:"
    title = f"{icon} *{_esc(state_word(a))}* {_esc(a.evidence.summary())}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(title, 3000)},
            "fields": [
                {"type": "mrkdwn", "text": clip(f"*{_esc(k)}*\n{_esc(v)}", 2000)}
                for k, v in facts(a)[:10]
            ],
        }
    ]
    if a.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in dashboard"},
                        "url": clip(a.link, 3000),
                    }
                ],
            }
        )
    return blocks


def build(n: Notification, cfg: SlackConfig) -> dict[str, Any]:
    shown, left_out = limit(n.alerts, min(cfg.max_alerts or MAX_ALERTS_CAP, MAX_ALERTS_CAP))
    left_out += n.truncated
    title = n.title()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(title, 150), "emoji": True}}
    ]
    if n.test:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*This is a test notification from `castiel alerts test`.* "
                    "Nothing is wrong.",
                },
            }
        )
    for a in shown:
        blocks.extend(_alert_blocks(a))
    context = (
        f"Castiel · receiver {n.receiver} · {len(n.firing)} firing, {len(n.resolved)} resolved"
    )
    if left_out:
        context += f" · {left_out} more not shown"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(context)}]})
    payload: dict[str, Any] = {"text": clip(title, 3000), "blocks": blocks}
    for key in ("channel", "username", "icon_emoji"):
        value = getattr(cfg, key)
        if value:
            payload[key] = value
    return payload


def send(n: Notification, cfg: SlackConfig, ctx: SendContext) -> SendResult:
    try:
        url = ctx.reveal(cfg.webhook_url)
    except MissingSecret as exc:
        return missing_secret(exc)
    return post_json(ctx, url, build(n, cfg))


def to_alertmanager(
    receiver: str, cfg: SlackConfig, target: AlertmanagerTarget
) -> AlertmanagerReceiver:
    conf: dict[str, Any] = {
        "api_url_file": target.secret_file(receiver, "webhook_url", cfg.webhook_url)
    }
    for key in ("channel", "username", "icon_emoji"):
        if getattr(cfg, key):
            conf[key] = getattr(cfg, key)
    return "slack_configs", conf


CHANNEL = Channel(
    name="slack",
    config=SlackConfig,
    parse=parse,
    secrets=("webhook_url",),
    send=send,
    alertmanager=to_alertmanager,
)
