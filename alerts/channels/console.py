"""The console (stdout or stderr): readable text, for local runs and CI logs."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from yaml.nodes import Node, ScalarNode

from alerts.channels.base import Outcome, SendContext, SendResult
from alerts.channels.channel import Channel
from alerts.channels.text import plain_text
from alerts.model import Notification
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class ConsoleConfig:
    stream: str = "stdout"


def parse(ctx: SpecContext, node: Node, key: str) -> ConsoleConfig:
    if isinstance(node, ScalarNode) and node.value in ("", "~", "null", "{}"):
        return ConsoleConfig()
    f = fields(ctx, node, key, {"stream": ctx.text}, ())
    if f.get("stream", "stdout") not in ("stdout", "stderr"):
        raise ctx.error(node, f"{key}.stream", "stdout or stderr")
    return ConsoleConfig(**f)


def render(n: Notification) -> str:
    return f"== {n.title()} ==\n{plain_text(n.alerts)}\n"


def send(n: Notification, cfg: ConsoleConfig, ctx: SendContext) -> SendResult:
    stream = sys.stderr if cfg.stream == "stderr" else sys.stdout
    stream.write(render(n))
    stream.flush()
    return SendResult(Outcome.DELIVERED, "written")


CHANNEL = Channel(
    name="console",
    config=ConsoleConfig,
    parse=parse,
    secrets=(),
    send=send,
    alertmanager="Castiel prints to its own output",
)
