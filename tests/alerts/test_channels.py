"""Every webhook channel against a real local HTTP receiver: the payload each one sends is
checked against the shape its service documents."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from pathlib import Path

import pytest

from alerts.channels import send
from alerts.channels.base import HttpxClient, Outcome, SendContext, parse_retry_after
from alerts.config import AlertsConfig
from alerts.model import Notification
from tests.alerts.helpers import T0, config, notification
from tests.alerts.receivers import Receiver, Reply

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def receiver_config(url: str, channel_yaml: str) -> AlertsConfig:
    return config(
        f"""
        route: {{receiver: r}}
        receivers:
          - name: r
            {channel_yaml.format(url=url)}
        """
    )


def deliver(cfg: AlertsConfig, n: Notification, env: dict[str, str] | None = None) -> Outcome:
    http = HttpxClient()
    try:
        ctx = SendContext(http, env or {}, T0 + 60, timeout=5)
        return send(cfg.receivers["r"], n, ctx).outcome
    finally:
        http.close()


def evidence_in(text: str, lt: str = "<") -> None:
    for needle in ("api-latency", "0.42", f"{lt} 0.3", "route=/api/items/0", "run-1"):
        assert needle in text, needle


def test_slack_block_kit(receiver: Receiver) -> None:
    cfg = receiver_config(receiver.url, 'slack: {{webhook_url: "${{SLACK_URL}}"}}')
    n = notification(firing=2, resolved=1)
    assert deliver(cfg, n, {"SLACK_URL": receiver.url + "/services/T0/B0/xyz"}) is Outcome.DELIVERED
    (req,) = receiver.delivered()
    assert req.path == "/services/T0/B0/xyz"
    assert req.header("content-type") == "application/json"
    body = req.json()
    assert body["text"].startswith("[FIRING:2] api-latency")
    blocks = body["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": body["text"][:150], "emoji": True},
    }
    assert len(blocks) <= 50
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 3
    for s in sections:
        assert s["text"]["type"] == "mrkdwn" and len(s["text"]["text"]) <= 3000
        assert 1 <= len(s["fields"]) <= 10
        assert all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in s["fields"])
    evidence_in(json.dumps(sections[0]), lt="&lt;")  # Slack escapes < > &
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["type"] == "button"
    assert buttons[0]["url"] == "http://dash:8501/review?run=run-1&budget=api-latency"
    assert "RESOLVED" in sections[2]["text"]["text"]
    assert blocks[-1]["type"] == "context"


def test_slack_storm_stays_within_block_limits(receiver: Receiver) -> None:
    cfg = receiver_config(receiver.url, "slack: {{webhook_url: {url}}}")
    assert deliver(cfg, notification(firing=300)) is Outcome.DELIVERED
    body = receiver.delivered()[0].json()
    assert len(body["blocks"]) <= 50
    assert "280 more not shown" in body["blocks"][-1]["elements"][0]["text"]


def test_teams_workflows_adaptive_card(receiver: Receiver) -> None:
    receiver.default = Reply(202, body=b"")
    cfg = receiver_config(receiver.url, "teams: {{webhook_url: {url}/workflows/abc}}")
    assert deliver(cfg, notification(firing=1, resolved=1)) is Outcome.DELIVERED
    (req,) = receiver.delivered()
    assert req.path == "/workflows/abc"
    body = req.json()
    assert body["type"] == "message"
    (att,) = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert att["contentUrl"] is None
    card = att["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    kinds = {e["type"] for e in card["body"]}
    assert kinds <= {"TextBlock", "FactSet", "ActionSet"}
    facts = [f for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]]
    assert all(set(f) == {"title", "value"} for f in facts)
    evidence_in(json.dumps(card["body"]))
    opens = [a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]]
    assert opens[0]["type"] == "Action.OpenUrl" and opens[0]["url"].startswith("http://dash")
    assert "MessageCard" not in json.dumps(body)  # the retired connector format


def test_pagerduty_events_v2_trigger_and_resolve_pair_by_dedup_key(receiver: Receiver) -> None:
    receiver.default = Reply(202, body=b'{"status":"success","message":"Event processed"}')
    cfg = receiver_config(
        receiver.url, 'pagerduty: {{routing_key: "${{PD_KEY}}", url: "{url}/v2/enqueue"}}'
    )
    n = notification(firing=2, resolved=1)
    assert deliver(cfg, n, {"PD_KEY": "R0UT1NGKEY"}) is Outcome.DELIVERED
    events = [r.json() for r in receiver.delivered()]
    assert all(r.path == "/v2/enqueue" for r in receiver.delivered())
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert [e["dedup_key"] for e in events] == [a.dedup_key for a in n.alerts]
    assert all(e["routing_key"] == "R0UT1NGKEY" for e in events)
    t = events[0]
    p = t["payload"]
    assert set(p) >= {"summary", "source", "severity"}
    assert len(p["summary"]) <= 1024 and p["severity"] in ("critical", "error", "warning", "info")
    assert ISO.match(p["timestamp"])
    evidence_in(json.dumps(p))
    assert t["links"][0]["href"].startswith("http://dash:8501/")
    assert events[2] == {
        "routing_key": "R0UT1NGKEY",
        "event_action": "resolve",
        "dedup_key": n.alerts[2].dedup_key,
    }


def test_pagerduty_group_dedup_sends_one_event_per_group(receiver: Receiver) -> None:
    cfg = receiver_config(
        receiver.url, "pagerduty: {{routing_key: k3y1, url: {url}, dedup: group}}"
    )
    n = notification(firing=40)
    assert deliver(cfg, n) is Outcome.DELIVERED
    (event,) = [r.json() for r in receiver.delivered()]
    assert event["dedup_key"] == n.group_dedup_key
    assert len(event["payload"]["custom_details"]["alerts"]) == 40
    assert deliver(cfg, notification(firing=0, resolved=40)) is Outcome.DELIVERED
    assert receiver.delivered()[-1].json()["event_action"] == "resolve"
    assert receiver.delivered()[-1].json()["dedup_key"] == n.group_dedup_key


def test_opsgenie_create_and_close_by_alias(receiver: Receiver) -> None:
    receiver.default = Reply(202, body=b'{"result":"Request will be processed","took":0.1}')
    cfg = receiver_config(
        receiver.url,
        'opsgenie: {{api_key: "${{OG_KEY}}", api_url: "{url}", tags: [shop], '
        "responders: [{{type: team, name: sre}}]}}",
    )
    n = notification(firing=1, resolved=1)
    assert deliver(cfg, n, {"OG_KEY": "0pskey-123"}) is Outcome.DELIVERED
    create, close = receiver.delivered()
    assert create.path == "/v2/alerts"
    assert create.header("authorization") == "GenieKey 0pskey-123"
    body = create.json()
    assert body["alias"] == n.alerts[0].dedup_key and len(body["alias"]) <= 512
    assert len(body["message"]) <= 130 and body["priority"] == "P1"
    assert body["responders"] == [{"name": "sre", "type": "team"}]
    assert "shop" in body["tags"]
    assert all(isinstance(v, str) for v in body["details"].values())
    evidence_in(body["description"])
    alias = urllib.parse.quote(n.alerts[1].dedup_key, safe="")
    assert close.path == f"/v2/alerts/{alias}/close?identifierType=alias"
    assert close.json()["source"] == "castiel"


def test_generic_webhook_is_alertmanager_v4_and_signed(receiver: Receiver) -> None:
    cfg = receiver_config(
        receiver.url,
        'webhook: {{url: "{url}/hook", hmac_secret: "${{HOOK_SECRET}}", max_alerts: 2}}',
    )
    n = notification(firing=2, resolved=1)
    assert deliver(cfg, n, {"HOOK_SECRET": "s3cr3t-hmac"}) is Outcome.DELIVERED
    (req,) = receiver.delivered()
    body = req.json()
    assert set(body) >= {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    assert body["truncatedAlerts"] == 1 and len(body["alerts"]) == 2
    assert body["groupLabels"] == {"alertname": "api-latency"}
    assert body["commonLabels"]["budget"] == "api-latency"
    a = body["alerts"][0]
    assert set(a) >= {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert a["status"] == "firing" and a["endsAt"] == "0001-01-01T00:00:00Z"
    assert ISO.match(a["startsAt"])
    evidence_in(json.dumps(a))
    ts = req.header("X-Castiel-Timestamp")
    assert ts is not None
    want = hmac.new(b"s3cr3t-hmac", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.header("X-Castiel-Signature") == f"sha256={want}"


def test_file_channel_writes_one_json_line_per_notification(tmp_path: Path) -> None:
    cfg = receiver_config("", f"file: {{{{path: {tmp_path / 'alerts.jsonl'}}}}}")
    assert deliver(cfg, notification()) is Outcome.DELIVERED
    assert deliver(cfg, notification(firing=0, resolved=1)) is Outcome.DELIVERED
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x)["status"] for x in lines] == ["firing", "resolved"]


def test_console_channel(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = receiver_config("", "console: {{}}")
    assert deliver(cfg, notification()) is Outcome.DELIVERED
    out = capsys.readouterr().out
    assert out.startswith("== [FIRING:1] api-latency")
    evidence_in(out)


@pytest.mark.parametrize(
    ("reply", "outcome", "reason", "retry_after"),
    [
        (Reply(500, body=b"boom"), Outcome.RETRY, "http 500: boom", None),
        (Reply(503, {"Retry-After": "7"}), Outcome.RETRY, "http 503", 7.0),
        (
            Reply(429, {"Retry-After": "120"}, b'{"message":"slow down"}'),
            Outcome.RETRY,
            "http 429: slow down",
            120.0,
        ),
        (Reply(400, body=b"invalid_payload"), Outcome.FAILED, "http 400: invalid_payload", None),
        (Reply(404, body=b"no_service"), Outcome.FAILED, "http 404: no_service", None),
    ],
)
def test_http_failures_are_classified(
    receiver: Receiver, reply: Reply, outcome: Outcome, reason: str, retry_after: float | None
) -> None:
    receiver.default = reply
    cfg = receiver_config(receiver.url, "webhook: {{url: {url}}}")
    http = HttpxClient()
    result = send(cfg.receivers["r"], notification(), SendContext(http, {}, T0, timeout=5))
    http.close()
    assert (result.outcome, result.status_code, result.retry_after) == (
        outcome,
        reply.status,
        retry_after,
    )
    assert result.reason.startswith(reason)


def test_unreachable_and_unconfigured_receivers(receiver: Receiver) -> None:
    url = receiver.url
    receiver.stop()
    http = HttpxClient()
    down = send(
        receiver_config(url, "webhook: {{url: {url}}}").receivers["r"],
        notification(),
        SendContext(http, {}, T0, timeout=2),
    )
    assert down.outcome is Outcome.RETRY and down.reason.startswith("connect error")
    unset = send(
        receiver_config(url, 'slack: {{webhook_url: "${{NOT_SET_ANYWHERE}}"}}').receivers["r"],
        notification(),
        SendContext(http, {}, T0),
    )
    http.close()
    assert unset.outcome is Outcome.FAILED
    assert unset.reason == "config: environment variable $NOT_SET_ANYWHERE is not set"


def test_retry_after_parsing() -> None:
    assert parse_retry_after("30", 0) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after("-5", 0) == 0
