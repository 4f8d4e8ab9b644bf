"""The console (stdout/stderr) and a file (one JSON line per notification, the generic webhook
body): for local runs, CI logs and audits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from alerts.channel_config import ConsoleConfig, FileConfig
from alerts.channels import webhook
from alerts.channels.base import Outcome, SendContext, SendResult
from alerts.channels.text import plain_text
from alerts.model import Notification


def render(n: Notification) -> str:
    return f"== {n.title()} ==\n{plain_text(n.alerts)}\n"


def send_console(n: Notification, cfg: ConsoleConfig, ctx: SendContext) -> SendResult:
    stream = sys.stderr if cfg.stream == "stderr" else sys.stdout
    stream.write(render(n))
    stream.flush()
    return SendResult(Outcome.DELIVERED, "written")


def send_file(n: Notification, cfg: FileConfig, ctx: SendContext) -> SendResult:
    line = json.dumps(webhook.build(n), separators=(",", ":")) + "\n"
    try:
        path = Path(cfg.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        return SendResult(Outcome.RETRY, f"io error: {exc.strerror or type(exc).__name__}")
    return SendResult(Outcome.DELIVERED, "written")
