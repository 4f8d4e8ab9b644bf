"""Email over SMTP (smtplib): a plain-text body with an HTML alternative, STARTTLS or implicit
TLS, optional login. SMTP 4xx replies and dropped connections are retried, 5xx are not."""

from __future__ import annotations

import base64
import html
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import partial
from typing import Any

from yaml.nodes import Node, ScalarNode

from alerts.channels.base import Outcome, SendContext, SendResult, excerpt, missing_secret
from alerts.channels.channel import AlertmanagerReceiver, AlertmanagerTarget, Channel
from alerts.channels.fields import max_alerts, secret
from alerts.channels.text import facts, limit, plain_text, state_word
from alerts.model import Notification
from alerts.secrets import MissingSecret, Secret
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class EmailConfig:
    to: tuple[str, ...]
    from_addr: str
    smarthost: str
    port: int = 587
    username: str | None = None
    password: Secret | None = None
    starttls: bool = True
    tls: bool = False
    """Implicit TLS (port 465)."""
    max_alerts: int = 50


def parse(ctx: SpecContext, node: Node, key: str) -> EmailConfig:
    def to(n: Node, k: str) -> tuple[str, ...]:
        if isinstance(n, ScalarNode):
            return (_address(ctx, n, k),)
        return tuple(_address(ctx, x, f"{k}[{i}]") for i, x in enumerate(ctx.items(n, k)))

    f = fields(
        ctx,
        node,
        key,
        {
            "to": to,
            "from": partial(_address, ctx),
            "smarthost": ctx.text,
            "username": ctx.text,
            "password": partial(secret, ctx),
            "starttls": ctx.boolean,
            "tls": ctx.boolean,
            "max_alerts": partial(max_alerts, ctx),
        },
        ("to", "from", "smarthost"),
    )
    host, _, port = f.pop("smarthost").rpartition(":")
    if not host or not port.isdigit():
        raise ctx.error(node, f"{key}.smarthost", "expected host:port, e.g. smtp.example.com:587")
    if f.get("tls") and f.get("starttls"):
        raise ctx.error(node, f"{key}.tls", "choose tls (implicit, port 465) or starttls")
    starttls = f.pop("starttls", not f.get("tls", False))
    return EmailConfig(
        smarthost=host, port=int(port), from_addr=f.pop("from"), starttls=starttls, **f
    )


def _address(ctx: SpecContext, n: Node, k: str) -> str:
    a = ctx.text(n, k)
    if "@" not in a or any(c.isspace() for c in a.strip()):
        raise ctx.error(n, k, f"not an email address: {a!r}")
    return a.strip()


def build(n: Notification, cfg: EmailConfig) -> EmailMessage:
    shown, left_out = limit(n.alerts, cfg.max_alerts)
    left_out += n.truncated
    msg = EmailMessage()
    msg["Subject"] = n.title()
    msg["From"] = cfg.from_addr
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = formatdate(n.created_at, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="castiel.local")
    msg["X-Castiel-Group"] = n.group_key
    if n.test:
        msg["X-Castiel-Test"] = "true"
    intro = "This is a test notification from `castiel alerts test`. Nothing is wrong.\n\n"
    more = f"\n\n{left_out} more alert(s) not shown." if left_out else ""
    msg.set_content((intro if n.test else "") + plain_text(shown) + more + "\n")
    parts = []
    for a in shown:
        rows = "".join(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in facts(a)
        )
        link = (
            f"<p><a href='{html.escape(a.link, quote=True)}'>Open in dashboard</a></p>"
            if a.link
            else ""
        )
        parts.append(
            f"<h3>{html.escape(state_word(a))}: {html.escape(a.evidence.summary())}</h3>"
            f"<table>{rows}</table>{link}"
        )
    head = f"<p><b>{html.escape(intro.strip())}</b></p>" if n.test else ""
    tail = f"<p>{left_out} more alert(s) not shown.</p>" if left_out else ""
    msg.add_alternative(f"<html><body>{head}{''.join(parts)}{tail}</body></html>", subtype="html")
    return msg


def send(n: Notification, cfg: EmailConfig, ctx: SendContext) -> SendResult:
    try:
        password = ctx.reveal(cfg.password) if cfg.password else None
    except MissingSecret as exc:
        return missing_secret(exc)
    if password is not None and cfg.username:  # what AUTH PLAIN sends, should a server echo it
        ctx.also_secret(base64.b64encode(f"\0{cfg.username}\0{password}".encode()).decode())
    msg = build(n, cfg)
    try:
        smtp: smtplib.SMTP
        if cfg.tls:
            smtp = smtplib.SMTP_SSL(
                cfg.smarthost, cfg.port, timeout=ctx.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(cfg.smarthost, cfg.port, timeout=ctx.timeout)
        with smtp:
            if cfg.starttls and not cfg.tls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username and password is not None:
                smtp.login(cfg.username, password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        return _smtp_code(ctx, exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        worst = max(codes) if codes else 550
        return _smtp_code(ctx, worst, b"recipients refused")
    except smtplib.SMTPNotSupportedError as exc:
        return SendResult(Outcome.FAILED, ctx.redact(f"smtp: {exc}"))
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, TimeoutError):
        return SendResult(Outcome.RETRY, "smtp: connection lost or timed out")
    except smtplib.SMTPException as exc:
        return SendResult(Outcome.RETRY, ctx.redact(f"smtp: {type(exc).__name__}"))
    except OSError as exc:
        return SendResult(Outcome.RETRY, ctx.redact(f"connect error: {exc.strerror or exc}"))
    return SendResult(Outcome.DELIVERED, "smtp 250")


def _smtp_code(ctx: SendContext, code: int, message: bytes | str) -> SendResult:
    reason = f"smtp {code}: {excerpt(message, ctx.redact, 120)}"
    outcome = Outcome.RETRY if 400 <= code < 500 else Outcome.FAILED
    return SendResult(outcome, reason, code)


def to_alertmanager(
    receiver: str, cfg: EmailConfig, target: AlertmanagerTarget
) -> AlertmanagerReceiver:
    conf: dict[str, Any] = {
        "to": ", ".join(cfg.to),
        "from": cfg.from_addr,
        "smarthost": f"{cfg.smarthost}:{cfg.port}",
        "require_tls": cfg.starttls,
    }
    if cfg.username:
        conf["auth_username"] = cfg.username
    if cfg.password is not None:
        conf["auth_password_file"] = target.secret_file(receiver, "password", cfg.password)
    if cfg.tls and cfg.port != 465:
        target.notes.append(
            f"receiver {receiver}: tls (implicit TLS): Alertmanager uses it on port 465 only"
        )
    return "email_configs", conf


CHANNEL = Channel(
    name="email",
    config=EmailConfig,
    parse=parse,
    secrets=("password",),
    send=send,
    alertmanager=to_alertmanager,
)
