"""alerts.yaml -> typed config: defaults, secrets, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.channel_config import EmailConfig, PagerDutyConfig, SlackConfig
from alerts.config import (
    AlertsConfigError,
    load_alerts_config,
    parse_alerts_config,
    unset_variables,
)
from alerts.state import NoDataPolicy
from budgets.model import Level
from tests.alerts.helpers import config
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "alerts.yaml"


def test_the_example_config_is_valid_and_complete() -> None:
    c = load_alerts_config(EXAMPLE)
    assert set(c.receivers) == {"team-slack", "oncall-pagerduty", "platform-teams", "team-email"}
    assert c.warnings == ()  # every secret is a ${VAR}
    assert c.receivers["oncall-pagerduty"].fallback == ("team-slack", "team-email")
    email = c.receivers["team-email"].channel
    assert isinstance(email, EmailConfig)
    assert (email.smarthost, email.port, email.starttls) == ("smtp.example.com", 587, True)
    assert c.timing("api-latency-p95").for_ == 30.0
    assert c.timing("api-latency-sustained").for_ == 0.0
    assert c.timing("api-throughput").nodata is NoDataPolicy.KEEP_LAST
    assert c.timing("email-backlog").for_ == 60.0
    (rule,) = c.rules
    assert rule.budget.scope.window == 120.0
    assert [lv for lv, _ in rule.budget.thresholds] == [Level.WARN, Level.FAIL]
    assert dict(c.settings("workers-healthy").labels) == {"team": "platform"}
    assert "maintenance" in c.time_intervals
    assert unset_variables(c, {"SLACK_WEBHOOK_URL": "x"}) == [
        ("oncall-pagerduty", "PAGERDUTY_ROUTING_KEY"),
        ("platform-teams", "TEAMS_WORKFLOW_URL"),
        ("team-email", "SMTP_PASSWORD"),
    ]


def test_a_castiel_yaml_section_is_read_too() -> None:
    text = "project: shop\nalerts:\n" + "".join(
        "  " + line + "\n" for line in EXAMPLE.read_text().splitlines()
    )
    c = parse_alerts_config(text, "castiel.yaml")
    assert set(c.receivers) == set(load_alerts_config(EXAMPLE).receivers)


def test_secrets_never_show_their_value() -> None:
    c = config(
        """
        route: {receiver: p}
        receivers:
          - name: p
            pagerduty: {routing_key: "${PD_KEY}"}
          - name: s
            slack: {webhook_url: "https://hooks.slack.com/services/T0/B0/literal-secret"}
        """
    )
    pd = c.receivers["p"].channel
    assert isinstance(pd, PagerDutyConfig)
    assert pd.routing_key.reveal({"PD_KEY": "abc123"}) == "abc123"
    slack = c.receivers["s"].channel
    assert isinstance(slack, SlackConfig)
    for text in (repr(c), str(c), repr(slack)):
        assert "literal-secret" not in text and "abc123" not in text
    assert "${PD_KEY}" in repr(pd)
    (warning,) = c.warnings
    assert warning.key == "receivers[1].slack.webhook_url"
    assert warning.line == 7  # the text starts with an empty line


@pytest.mark.parametrize(
    ("text", "where", "key", "message"),
    [
        (
            "route: {receiver: x}\nreceivers: [{name: y, console: {}}]\n",
            1,
            "route.receiver",
            "unknown receiver 'x'",
        ),
        (
            "route:\n  receiver: y\n  group_wait: soon\nreceivers: [{name: y, console: {}}]\n",
            3,
            "route.group_wait",
            "not a duration",
        ),
        (
            "route:\n  receiver: y\n  routes:\n    - matchers: ['a=~\"(\"']\n"
            "receivers: [{name: y, console: {}}]\n",
            4,
            "route.routes[0].matchers[0]",
            "invalid regex",
        ),
        (
            "route: {receiver: y}\nreceivers:\n  - name: y\n    slak: {}\n",
            4,
            "receivers[0].slak",
            "unknown key",
        ),
        (
            "route: {receiver: y}\nreceivers:\n  - name: y\n",
            3,
            "receivers[0]",
            "exactly one channel",
        ),
        (
            "route: {receiver: y}\nreceivers:\n  - name: y\n    console: {}\n    fallback: [z]\n",
            3,
            "receivers.y.fallback",
            "unknown receiver 'z'",
        ),
        (
            "route: {receiver: y}\nreceivers:\n  - name: y\n    email: {to: a, from: b@c, "
            "smarthost: h:25}\n",
            4,
            "receivers[0].email.to",
            "not an email address",
        ),
        (
            "route: {receiver: y}\nreceivers: [{name: y, console: {}}]\nrules:\n  - name: r\n"
            "    metric: m\n    aggregation: p95\n    fail: 'about 3'\n",
            7,
            "rules[0].fail",
            "not a condition",
        ),
        (
            "route: {receiver: y}\nreceivers: [{name: y, console: {}}]\nbudgets:\n  b:\n"
            "    nodata: maybe\n",
            5,
            "budgets.b.nodata",
            "nodata",
        ),
        (
            "route:\n  receiver: y\n  routes:\n    - mute_time_intervals: [nights]\n"
            "receivers: [{name: y, console: {}}]\n",
            4,
            "route.routes[0]",
            "unknown time interval 'nights'",
        ),
        (
            "route:\n  receiver: y\n  mute_time_intervals: [nights]\n"
            "receivers: [{name: y, console: {}}]\n",
            3,
            "route.mute_time_intervals",
            "the root route cannot be muted",
        ),
        (
            "version: 2\nroute: {receiver: y}\nreceivers: [{name: y, console: {}}]\n",
            1,
            "version",
            "unsupported version",
        ),
        ("route: [\n", 2, "", "not valid YAML"),
    ],
)
def test_errors_name_file_line_and_key(text: str, where: int, key: str, message: str) -> None:
    with pytest.raises(AlertsConfigError) as err:
        parse_alerts_config(text, "alerts.yaml")
    issue = next(i for i in err.value.issues if i.key == key)
    assert issue.line == where
    assert message in issue.message
    assert str(issue).startswith(f"alerts.yaml:{where}:")


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = (
        "route:\n  receiver: nobody\n  group_wait: x\n"
        "receivers:\n  - name: a\n    webhook: {url: ftp://x}\n"
    )
    with pytest.raises(AlertsConfigError) as err:
        parse_alerts_config(text, "alerts.yaml")
    keys = {i.key for i in err.value.issues}
    assert {"route.group_wait", "receivers[0].webhook.url", "route.receiver"} <= keys


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AlertsConfigError, match="file not found"):
        load_alerts_config(tmp_path / "nope.yaml")
