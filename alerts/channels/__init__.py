"""Alert channels: one module per channel, each defining one `Channel` (its settings, their
reader, its secret fields, its sender, its Alertmanager integration: alerts/channels/channel.py),
registered in `CHANNELS` below. `send` dispatches a notification to its receiver's channel
and never raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alerts.channels import (
    alertmanager,
    console,
    email,
    file,
    opsgenie,
    pagerduty,
    slack,
    teams,
    webhook,
)
from alerts.channels.base import Outcome, SendContext, SendResult
from alerts.channels.channel import Channel
from alerts.model import Notification

if TYPE_CHECKING:  # channel_config reads this registry
    from alerts.channel_config import ReceiverConfig

CHANNELS: tuple[Channel[Any], ...] = (
    slack.CHANNEL,
    teams.CHANNEL,
    pagerduty.CHANNEL,
    opsgenie.CHANNEL,
    webhook.CHANNEL,
    alertmanager.CHANNEL,
    email.CHANNEL,
    console.CHANNEL,
    file.CHANNEL,
)
"""Every channel, in the order error messages and docs list them."""

BY_NAME: dict[str, Channel[Any]] = {c.name: c for c in CHANNELS}


def send(receiver: ReceiverConfig, n: Notification, ctx: SendContext) -> SendResult:
    channel = BY_NAME[receiver.kind]
    try:
        return channel.send(n, receiver.channel, ctx)
    except Exception as exc:  # a channel bug must not kill the delivery worker
        return SendResult(Outcome.FAILED, ctx.redact(f"internal error: {type(exc).__name__}"))


__all__ = ["BY_NAME", "CHANNELS", "Channel", "Outcome", "SendContext", "SendResult", "send"]
