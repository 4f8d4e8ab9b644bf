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


def named(name: str) -> Channel[Any]:
    """The registered channel called `name` (a receiver's `kind`). Read at call time, so the
    registry is the one place a channel is added (tests add one the recipe's way)."""
    for channel in CHANNELS:
        if channel.name == name:
            return channel
    raise KeyError(name)


def send(receiver: ReceiverConfig, n: Notification, ctx: SendContext) -> SendResult:
    channel = named(receiver.kind)
    try:
        return channel.send(n, receiver.channel, ctx)
    except Exception as exc:  # a channel bug must not kill the delivery worker
        return SendResult(Outcome.FAILED, ctx.redact(f"internal error: {type(exc).__name__}"))


__all__ = ["CHANNELS", "Channel", "Outcome", "SendContext", "SendResult", "named", "send"]
