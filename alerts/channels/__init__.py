"""One module per channel: a pure payload builder (`build`) and `send` through the injected
HTTP client. `send` here dispatches on the receiver's channel and never raises."""

from __future__ import annotations

from alerts.channel_config import (
    AlertmanagerConfig,
    ConsoleConfig,
    EmailConfig,
    FileConfig,
    OpsgenieConfig,
    PagerDutyConfig,
    ReceiverConfig,
    SlackConfig,
    TeamsConfig,
    WebhookConfig,
)
from alerts.channels import alertmanager, console, email, opsgenie, pagerduty, slack, teams, webhook
from alerts.channels.base import Outcome, SendContext, SendResult
from alerts.model import Notification


def send(receiver: ReceiverConfig, n: Notification, ctx: SendContext) -> SendResult:
    c = receiver.channel
    try:
        match c:
            case SlackConfig():
                return slack.send(n, c, ctx)
            case TeamsConfig():
                return teams.send(n, c, ctx)
            case PagerDutyConfig():
                return pagerduty.send(n, c, ctx)
            case OpsgenieConfig():
                return opsgenie.send(n, c, ctx)
            case WebhookConfig():
                return webhook.send(n, c, ctx)
            case AlertmanagerConfig():
                return alertmanager.send(n, c, ctx)
            case EmailConfig():
                return email.send(n, c, ctx)
            case ConsoleConfig():
                return console.send_console(n, c, ctx)
            case FileConfig():
                return console.send_file(n, c, ctx)
    except Exception as exc:  # a channel bug must not kill the delivery worker
        return SendResult(Outcome.FAILED, ctx.redact(f"internal error: {type(exc).__name__}"))
    raise AssertionError(f"unknown channel {type(c).__name__}")


__all__ = ["Outcome", "SendContext", "SendResult", "send"]
