"""A file: one JSON line per notification (the generic webhook body), for audits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from alerts.channels import webhook
from alerts.channels.base import Outcome, SendContext, SendResult
from alerts.channels.channel import Channel
from alerts.model import Notification
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class FileConfig:
    path: str


def parse(ctx: SpecContext, node: Node, key: str) -> FileConfig:
    return FileConfig(**fields(ctx, node, key, {"path": ctx.text}, ("path",)))


def send(n: Notification, cfg: FileConfig, ctx: SendContext) -> SendResult:
    line = json.dumps(webhook.build(n), separators=(",", ":")) + "\n"
    try:
        path = Path(cfg.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        return SendResult(Outcome.RETRY, f"io error: {exc.strerror or type(exc).__name__}")
    return SendResult(Outcome.DELIVERED, "written")


CHANNEL = Channel(
    name="file",
    config=FileConfig,
    parse=parse,
    secrets=(),
    send=send,
    alertmanager="Castiel writes a local file",
)
