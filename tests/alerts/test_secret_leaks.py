"""Secrets never leak through error text: every channel against a real local receiver that
echoes the request (path, headers, body) back in a 500 (SMTP: 535) reply, raw, JSON-escaped
and URL-encoded, of many lengths, with the secret at every offset around the point where the
reason is cut (160 characters, 120 for SMTP). Nothing of a secret may survive: not whole, not
encoded, not any 8 characters of it. Then the same through the real command line, grepping
stdout, stderr, logs and the store file."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.channels import send
from alerts.channels.base import HttpxClient, Outcome, SendContext
from alerts.config import AlertsConfig, parse_alerts_config
from alerts.pipeline import test_notification as marked_test_notification
from castiel.redis_server import free_port
from tests.alerts.conftest import Inbox
from tests.alerts.receivers import Received, Receiver, Reply
from tests.helpers import ROOT

LIMIT = 160
SMTP_LIMIT = 120
PIECE = 8


def pieces(secret: str) -> set[str]:
    """Every 8-character piece of `secret` (the secret itself when shorter)."""
    if len(secret) <= PIECE:
        return {secret}
    return {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}


def leaks(text: str, secrets: list[str]) -> list[str]:
    """What of `secrets` appears in `text`: any 8 characters, or an encoded whole."""
    found = [p for s in secrets for p in pieces(s) if p in text]
    for s in secrets:
        encoded = {
            urllib.parse.quote(s, safe=""),
            json.dumps(s)[1:-1].replace("/", "\\/"),
            base64.b64encode(s.encode()).decode(),
        }
        found += [e for e in encoded if e != s and e in text]
    return found


@dataclass(frozen=True)
class Channel:
    name: str
    yaml: str
    """The receiver's channel config; URL_ is replaced by the receiver's base URL."""
    env: dict[str, str]
    secrets: list[str]
    """What must never show: for a URL, the secret parts of its path and query (the host and
    a service's public route such as Slack's `/services/` are not secrets)."""


def channels(base: str) -> list[Channel]:
    slack_path = "/services/T0SLACKTEAM1/B0SLACKBOT2/xoxbSLACKTOKENqZ7vK9pWy"
    teams_path = "/webhookb2/0f3c9a7e-SECRET-TENANT/IncomingWebhook/Qa1Zb2Yc3SIGNATURE"
    hook_path, hook_query = "/hook/PATHSECRETqz7Wk3", "token=QUERYSECRETvk9Jm4"
    return [
        Channel(
            "slack",
            'slack: {webhook_url: "${SLACK_URL}"}',
            {"SLACK_URL": base + slack_path},
            # `/services/` is Slack's public route; what follows it is the secret.
            [slack_path.removeprefix("/services/"), "T0SLACKTEAM1", "xoxbSLACKTOKENqZ7vK9pWy"],
        ),
        Channel(
            "teams",
            'teams: {webhook_url: "${TEAMS_URL}"}',
            {"TEAMS_URL": base + teams_path},
            ["0f3c9a7e-SECRET-TENANT", "Qa1Zb2Yc3SIGNATURE"],
        ),
        Channel(
            "pagerduty",
            'pagerduty: {routing_key: "${PD_KEY}", url: "URL_/v2/enqueue"}',
            {"PD_KEY": "R0UTINGKEYpdQx7Lm2Vb9TzR"},
            ["R0UTINGKEYpdQx7Lm2Vb9TzR"],
        ),
        Channel(
            "opsgenie",
            'opsgenie: {api_key: "${OG_KEY}", api_url: "URL_"}',
            {"OG_KEY": "0ps6enie-apikey-Wq3Zr-Tx8Lm-Kv2Pn"},
            ["0ps6enie-apikey-Wq3Zr-Tx8Lm-Kv2Pn"],
        ),
        Channel(
            "webhook",
            'webhook: {url: "${HOOK_URL}", hmac_secret: "${HOOK_HMAC}"}',
            {"HOOK_URL": f"{base}{hook_path}?{hook_query}", "HOOK_HMAC": "hmac-SECRET-value-42"},
            ["PATHSECRETqz7Wk3", hook_query, "QUERYSECRETvk9Jm4"],
        ),
    ]


def config(ch: Channel, base: str) -> AlertsConfig:
    text = f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    {ch.yaml.replace('URL_', base)}\n"
    return parse_alerts_config(text, "alerts.yaml")


def request_text(r: Received) -> str:
    """The request as one line, as a service's error page might repeat it."""
    headers = " ".join(f"{k}: {v}" for k, v in r.headers.items())
    return f"{r.method} {r.path} HTTP/1.1 {headers} {r.body.decode('utf-8', 'replace')}"


def placed(text: str, secret: str, offset: int, keep: int | None) -> str:
    """`text` shifted so that `secret` starts at `offset`, then cut after `keep` characters
    of the secret (None: not cut), like a service that truncates its own error text."""
    at = text.find(secret)
    assert at >= 0, (secret, text)
    shifted = "x" * (offset - at) + text if offset >= at else text[at - offset :]
    return shifted if keep is None else shifted[: offset + keep]


STYLES: dict[str, Callable[[str], bytes]] = {
    "raw": lambda s: s.encode(),
    "json": lambda s: json.dumps({"message": s}).encode(),
    "json-slashes": lambda s: json.dumps({"error": s}).replace("/", "\\/").encode(),
    "json-nested": lambda s: json.dumps({"errors": [{"detail": s}]}).encode(),
    "urlencoded": lambda s: urllib.parse.quote(s).encode(),
}


def echoing(secret: str, style: str, offset: int, keep: int | None, *more: str) -> Reply:
    """A 500 echoing the request, with `secret` (or the first of `more` the request holds)
    at `offset`."""

    def body(r: Received) -> bytes:
        text = request_text(r)
        anchor = next((s for s in (secret, *more) if s in text), secret)
        return STYLES[style](placed(text, anchor, offset, keep))

    return Reply(500, echo=body)


@pytest.fixture
def echo_receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.mark.slow
def test_no_channel_leaks_a_secret_whatever_the_receiver_echoes(echo_receiver: Receiver) -> None:
    base = echo_receiver.url
    http = HttpxClient()
    tried = 0
    try:
        for ch in channels(base):
            cfg = config(ch, base)
            receiver = cfg.receivers["r"]
            n = marked_test_notification(cfg, "r", 1_700_000_000.0)
            anchor = ch.secrets[-1] if len(ch.secrets) > 1 else ch.secrets[0]
            for style in STYLES:
                for offset in range(LIMIT - len(anchor) - 2, LIMIT + 3):
                    for keep in (None, 3, PIECE - 1, PIECE, len(anchor) - 1):
                        echo_receiver.script(echoing(anchor, style, offset, keep))
                        ctx = SendContext(http, ch.env, 1_700_000_000.0, timeout=5)
                        result = send(receiver, n, ctx)
                        assert result.outcome is Outcome.RETRY, (ch.name, result)
                        assert result.reason.startswith("http 500"), result.reason
                        assert leaks(result.reason, ch.secrets) == [], (
                            ch.name,
                            style,
                            offset,
                            keep,
                            result.reason,
                        )
                        tried += 1
    finally:
        http.close()
    assert tried > 1000  # every channel, style, offset and cut was really sent


# --- email: a 535 reply that echoes the AUTH exchange ----------------------------------------

SMTP_PASSWORD = "smtp-S3CRET-passw0rd-Jq9x"


def smtp_echo(offset: int, keep: int | None, encoded: bool) -> Callable[..., AuthResult]:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        seen = f"{mechanism} user={auth_data.login.decode()} password={auth_data.password.decode()}"
        if encoded:
            plain = b"\0" + auth_data.login + b"\0" + auth_data.password
            seen = f"{mechanism} {base64.b64encode(plain).decode()}"
            secret = base64.b64encode(plain).decode()
        else:
            secret = SMTP_PASSWORD
        text = placed(seen, secret, offset, keep)
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 {text}")

    return authenticate


@pytest.mark.parametrize("encoded", [False, True])
def test_email_never_leaks_its_password_in_a_refusal(encoded: bool) -> None:
    http = HttpxClient()
    tried = 0
    try:
        for offset in range(SMTP_LIMIT - len(SMTP_PASSWORD) - 2, SMTP_LIMIT + 3, 3):
            for keep in (None, PIECE - 1, PIECE, 12):
                port = free_port()
                controller = Controller(
                    Inbox(),
                    hostname="127.0.0.1",
                    port=port,
                    authenticator=smtp_echo(offset, keep, encoded),
                    auth_require_tls=False,
                )
                controller.start()
                try:
                    cfg = parse_alerts_config(
                        "route: {receiver: r}\nreceivers:\n  - name: r\n    email:\n"
                        "      to: [oncall@example.com]\n      from: castiel@example.com\n"
                        f"      smarthost: 127.0.0.1:{port}\n      starttls: false\n"
                        '      username: castiel\n      password: "${SMTP_PASSWORD}"\n',
                        "alerts.yaml",
                    )
                    ctx = SendContext(http, {"SMTP_PASSWORD": SMTP_PASSWORD}, 1.7e9, timeout=5)
                    result = send(
                        cfg.receivers["r"], marked_test_notification(cfg, "r", 1.7e9), ctx
                    )
                finally:
                    controller.stop()
                assert result.reason.startswith("smtp 535"), result.reason
                plain = base64.b64encode(f"\0castiel\0{SMTP_PASSWORD}".encode()).decode()
                assert leaks(result.reason, [SMTP_PASSWORD, plain]) == [], result.reason
                tried += 1
    finally:
        http.close()
    assert tried >= 20


# --- the command line: stdout, stderr, logs and the store file ----------------------------


def castiel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.slow
def test_alerts_test_and_attempts_show_nothing_of_a_secret(
    echo_receiver: Receiver, tmp_path: Path
) -> None:
    base = echo_receiver.url
    store = tmp_path / "s.db"
    for ch in channels(base):
        anchor = ch.secrets[-1] if len(ch.secrets) > 1 else ch.secrets[0]
        echo_receiver.default = echoing(anchor, "json", LIMIT - len(anchor) // 2, None)
        cfg = tmp_path / f"{ch.name}.yaml"
        cfg.write_text(
            "route: {receiver: r}\n"
            f"receivers:\n  - name: r\n    {ch.yaml.replace('URL_', base)}\n"
        )
        sent = castiel(
            "-vv", "alerts", "test", "r", "--config", str(cfg), "--store", str(store), env=ch.env
        )
        assert sent.returncode == 3, sent.stdout + sent.stderr  # the receiver said 500
        assert "http 500" in sent.stderr
        shown = castiel("alerts", "attempts", "--store", str(store), env={})
        assert shown.returncode == 0 and "http 500" in shown.stdout
        for text in (sent.stdout, sent.stderr, shown.stdout, shown.stderr):
            assert leaks(text, ch.secrets) == [], (ch.name, text)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*")).decode("latin-1")
    for ch in channels(base):
        assert leaks(raw, ch.secrets) == [], ch.name


# --- configuration errors never quote a value found at a secret's position ---------------

KEY = "R0UTINGKEYwritten1nto7heFILE42"
TAGS = ["!!int", "!!bool", "!!float", "!!timestamp", "!!binary", "!!null", "!!str", "!!set"]
POSITIONS = [
    ("pagerduty", "routing_key: {tag} {key}"),
    ("opsgenie", "api_key: {tag} {key}"),
    ("slack", "webhook_url: {tag} https://hooks.slack.com/services/{key}"),
    ("webhook", "url: {tag} https://example.com/{key}"),
]


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize(("channel", "line"), POSITIONS)
def test_a_tagged_secret_is_never_echoed_and_never_crashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str, channel: str, line: str
) -> None:
    from castiel.cli import main

    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(
        "route: {receiver: r}\nreceivers:\n  - name: r\n"
        f"    {channel}:\n      {line.format(tag=tag, key=KEY)}\n"
    )
    code = main(["alerts", "validate", str(cfg)])
    out = capsys.readouterr()
    assert code in (0, 2), out
    assert leaks(out.out + out.err, [KEY]) == [], out
    if code == 2:
        assert f"{cfg}:5:" in out.err  # located: file:line


FAILING = """
version: 1
budgets:
  - name: endpoint p50
    metric: locust_request_duration_seconds
    aggregation: p50
    fail: "< 1us"
"""


@pytest.mark.slow
def test_a_run_whose_receivers_echo_leaks_nothing_anywhere(
    redis_url: str, echo_receiver: Receiver, tmp_path: Path
) -> None:
    """`castiel run` with a failing budget paging Slack, falling back to PagerDuty, both
    answering 500 with the request echoed: stdout, stderr (with -v logs), every file the run
    wrote (reports, Locust's log) and the store file hold nothing of either secret."""
    from tests.examples.test_service import start_service

    base = echo_receiver.url
    slack, pd = channels(base)[0], channels(base)[2]
    echo_receiver.default = echoing(slack.secrets[-1], "json", LIMIT - 10, None, *pd.secrets)
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(
        "route: {receiver: s, group_wait: 0s, group_interval: 1s}\n"
        "receivers:\n"
        f"  - name: s\n    fallback: [p]\n    {slack.yaml}\n"
        f"  - name: p\n    {pd.yaml.replace('URL_', base)}\n"
        "defaults: {for: 0s}\n"
        "delivery: {max_attempts: 2, initial_backoff: 100ms}\n"
    )
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(FAILING)
    service, target = start_service(redis_url, tmp_path / "db.sqlite")
    try:
        result = castiel(
            *("-v", "run", "--target", target, "--budgets", str(budgets), "--alerts", str(alerts)),
            *("--store", str(tmp_path / "s.db"), "--runs-dir", str(tmp_path / "runs")),
            *("--duration", "6s", "--users", "2"),
            env={**slack.env, **pd.env},
        )
    finally:
        service.terminate()
        service.wait(10)
    assert result.returncode == 1, result.stdout + result.stderr  # the budget failed
    assert len(echo_receiver.all()) >= 2  # both receivers were tried, and answered 500
    secrets = slack.secrets + pd.secrets
    assert leaks(result.stdout + result.stderr, secrets) == []
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert any(p.name == "report.html" for p in written)
    for path in written:
        text = path.read_bytes().decode("latin-1")
        assert leaks(text, secrets) == [], path
