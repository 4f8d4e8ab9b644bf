"""The alerts config as an Alertmanager config: `amtool check-config` (Debian's
prometheus-alertmanager) accepts it, the routing tree and receivers are Castiel's, and no
secret value is ever written, only `*_file` references."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from alerts.alertmanager_config import alertmanager_config, parse_version
from alerts.config import load_alerts_config, parse_alerts_config
from tests.helpers import ROOT, need

EVERY_CHANNEL = """
version: 1
route:
  receiver: slack
  group_by: [alertname, group]
  routes:
    - {matchers: ['severity="critical"'], receiver: pager, continue: true}
    - {matchers: ['team=~"plat.*"'], receiver: genie, group_wait: 10s}
    - {matchers: ['budget!="x"'], receiver: mail, active_time_intervals: [office]}
    - {matchers: ['level="warn"'], receiver: hook}
    - {matchers: ['level="abort"'], receiver: teams}
    - {matchers: ['level="fail"'], receiver: console}
receivers:
  - name: slack
    slack: {webhook_url: "${SLACK_URL}", channel: "#oncall"}
  - name: pager
    pagerduty: {routing_key: "${PD_KEY}", dedup: group}
  - name: genie
    opsgenie:
      api_key: "${GENIE_KEY}"
      tags: [castiel, shop]
      responders: [{type: team, name: platform}]
  - name: mail
    email:
      to: [a@example.com, b@example.com]
      from: castiel@example.com
      smarthost: smtp.example.com:587
      username: castiel
      password: "${SMTP_PASSWORD}"
  - name: hook
    webhook: {url: "https://hooks.example.com/castiel?token=${HOOK_TOKEN}", hmac_secret: "${H}"}
  - name: teams
    teams: {webhook_url: "${TEAMS_URL}"}
  - name: console
    console: {}
inhibit_rules:
  - {source_matchers: ['level="fail"'], target_matchers: ['level="warn"'], equal: [budget]}
time_intervals:
  - name: office
    time_intervals:
      - weekdays: ["monday:friday"]
        days_of_month: ["1:10", "-3:-1"]
        months: ["january:march"]
        times: [{start_time: "08:30", end_time: "18:00"}]
        location: Europe/Berlin
"""


def amtool(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("amtool"), "check-config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "source", [ROOT / "examples" / "alerts.yaml", None], ids=["examples", "every-channel"]
)
def test_amtool_accepts_the_config_for_the_installed_alertmanager(
    source: Path | None, tmp_path: Path
) -> None:
    cfg = (
        load_alerts_config(source)
        if source is not None
        else parse_alerts_config(EVERY_CHANNEL, "alerts.yaml")
    )
    out = alertmanager_config(cfg, "/run/secrets", parse_version("0.25"))
    path = tmp_path / "alertmanager.yml"
    path.write_text(out.to_yaml(cfg.path))
    result = amtool(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_routes_receivers_and_secrets_as_files() -> None:
    cfg = parse_alerts_config(EVERY_CHANNEL, "alerts.yaml")
    out = alertmanager_config(cfg, "/run/secrets", parse_version("0.28"))
    text = out.to_yaml("alerts.yaml")
    am = yaml.safe_load(text)
    route = am["route"]
    assert route["receiver"] == "slack" and route["group_by"] == ["alertname", "group"]
    pager, genie, mail, *_ = route["routes"]
    assert pager == {"receiver": "pager", "matchers": ['severity="critical"'], "continue": True}
    assert genie == {"receiver": "genie", "matchers": ['team=~"plat.*"'], "group_wait": "10s"}
    assert mail["active_time_intervals"] == ["office"]
    receivers = {r["name"]: r for r in am["receivers"]}
    assert receivers["slack"]["slack_configs"] == [
        {"api_url_file": "/run/secrets/SLACK_URL", "channel": "#oncall", "send_resolved": True}
    ]
    assert receivers["pager"]["pagerduty_configs"][0]["routing_key_file"] == ("/run/secrets/PD_KEY")
    genie_conf = receivers["genie"]["opsgenie_configs"][0]
    assert genie_conf["tags"] == "castiel,shop"
    assert genie_conf["responders"] == [{"name": "platform", "type": "team"}]
    assert genie_conf["priority"].startswith('{{ if eq .CommonLabels.severity "critical" }}P1')
    assert receivers["mail"]["email_configs"][0]["to"] == "a@example.com, b@example.com"
    # A secret inside a URL: the whole URL goes into a file named after the receiver.
    assert receivers["hook"]["webhook_configs"][0]["url_file"] == "/run/secrets/hook_url"
    assert out.secret_files["/run/secrets/hook_url"] == "the value of ${HOOK_TOKEN}"
    assert receivers["teams"]["msteamsv2_configs"][0]["webhook_url_file"] == (
        "/run/secrets/TEAMS_URL"
    )
    assert receivers["console"] == {"name": "console"}
    assert am["inhibit_rules"] == [
        {
            "source_matchers": ['level="fail"'],
            "target_matchers": ['level="warn"'],
            "equal": ["budget"],
        }
    ]
    (office,) = am["time_intervals"][0]["time_intervals"]
    assert office == {
        "times": [{"start_time": "08:30", "end_time": "18:00"}],
        "weekdays": ["monday:friday"],
        "days_of_month": ["1:10", "-3:-1"],
        "months": ["january:march"],
        "location": "Europe/Berlin",
    }
    notes = "\n".join(out.notes)
    assert "receiver hook: hmac_secret" in notes
    assert "receiver console: Alertmanager has no console integration" in notes
    assert "https://hooks.example.com" not in text


def test_older_alertmanagers_get_no_integration_they_cannot_read() -> None:
    cfg = parse_alerts_config(EVERY_CHANNEL, "alerts.yaml")
    out = alertmanager_config(cfg, "/s", parse_version("0.25"))
    receivers = {r["name"]: r for r in out.config["receivers"]}
    assert receivers["hook"] == {"name": "hook"} and receivers["teams"] == {"name": "teams"}
    notes = "\n".join(out.notes)
    assert "receiver hook: Alertmanager reads a webhook URL from a file from 0.26" in notes
    assert "receiver teams: Microsoft Teams Workflows webhooks need Alertmanager 0.28" in notes


def test_secret_values_never_reach_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    literal = "https://hooks.slack.com/services/T000/B000/literal-secret-value"
    cfg = parse_alerts_config(
        f"""
        route: {{receiver: s}}
        receivers:
          - name: s
            slack: {{webhook_url: "{literal}"}}
        """,
        "alerts.yaml",
    )
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/from-env")
    out = alertmanager_config(cfg, "/s")
    text = out.to_yaml("alerts.yaml")
    assert literal not in text and "from-env" not in text
    assert out.config["receivers"][0]["slack_configs"][0]["api_url_file"] == "/s/s_webhook_url"
    assert any("written into the alerts config itself" in n for n in out.notes)
    with pytest.raises(ValueError, match="not an Alertmanager version"):
        parse_version("latest")
