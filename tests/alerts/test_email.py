"""Email through a real local SMTP server (aiosmtpd), including login and refused recipients."""

from __future__ import annotations

from typing import Any

from alerts.channels import send
from alerts.channels.base import HttpxClient, Outcome, SendContext
from castiel.redis_server import free_port
from tests.alerts.conftest import Inbox
from tests.alerts.helpers import T0, config, notification


def _send(port: int, extra: str = "", env: dict[str, str] | None = None) -> Any:
    cfg = config(
        f"""
        route: {{receiver: mail}}
        receivers:
          - name: mail
            email:
              to: [oncall@example.com, lead@example.com]
              from: castiel@example.com
              smarthost: 127.0.0.1:{port}
              starttls: false
              {extra}
        """
    )
    http = HttpxClient()
    try:
        return send(
            cfg.receivers["mail"],
            notification(firing=2, resolved=1),
            SendContext(http, env or {}, T0, timeout=5),
        )
    finally:
        http.close()


def test_email_is_delivered_with_text_and_html(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    result = _send(port)
    assert result.outcome is Outcome.DELIVERED
    ((mail_from, rcpts, msg),) = inbox.messages
    assert mail_from == "castiel@example.com"
    assert rcpts == ["oncall@example.com", "lead@example.com"]
    assert msg["Subject"] == "[FIRING:2] api-latency {alertname=api-latency}"
    assert msg["X-Castiel-Group"] == '0:hook:{alertname="api-latency"}'
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart()
    }
    text, html = parts["text/plain"], parts["text/html"]
    for needle in (
        "api-latency",
        "0.42",
        "< 0.3",
        "route=/api/items/0",
        "run-1",
        "http://dash:8501/review?run=run-1&budget=api-latency",
    ):
        assert needle in text
    assert "RESOLVED" in text
    assert "&lt; 0.3" in html and "<table>" in html


def test_login_with_a_secret_password(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    auth = 'username: castiel\n              password: "${SMTP_PASSWORD}"'
    assert _send(port, auth, {"SMTP_PASSWORD": "smtp-pa55"}).outcome is Outcome.DELIVERED
    bad = _send(port, auth, {"SMTP_PASSWORD": "wrong-pa55"})
    assert bad.outcome is Outcome.FAILED and bad.status_code == 535
    assert "wrong-pa55" not in bad.reason
    assert len(inbox.messages) == 1


def test_refused_recipients_5xx_fail_and_4xx_retry(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.rcpt_reply = "550 5.1.1 no such user"
    assert _send(port).outcome is Outcome.FAILED
    inbox.rcpt_reply = "451 4.3.0 try again later"
    assert _send(port).outcome is Outcome.RETRY
    assert inbox.messages == []


def test_no_server_is_retried() -> None:
    result = _send(free_port())
    assert result.outcome is Outcome.RETRY and "connect error" in result.reason
