"""Every registered alert channel is complete: frozen settings, a reader, its secret fields
(exactly the fields that hold a Secret), a sender, an Alertmanager mapping or the reason
there is none, and a row in docs/alerts.md (its secrets named there too)."""

from __future__ import annotations

import dataclasses
import importlib
import re
import typing
from pathlib import Path
from typing import Any

import pytest

import alerts.channels
from alerts.alertmanager_config import alertmanager_config
from alerts.channel_config import receiver_keys
from alerts.channels import CHANNELS, Channel, named, send
from alerts.channels.base import HttpxClient, Outcome, SendContext
from alerts.channels.slack import SlackConfig
from alerts.channels.slack import parse as parse_slack
from alerts.channels.slack import send as send_slack
from alerts.config import AlertsConfigError
from alerts.secrets import Secret
from tests.alerts.helpers import T0, config, notification
from tests.alerts.receivers import Receiver, Reply
from tests.helpers import recipe

DOCS = Path(__file__).parents[2] / "docs" / "alerts.md"


def secret_fields(config: type) -> set[str]:
    hints = typing.get_type_hints(config)
    return {
        f.name
        for f in dataclasses.fields(config)
        if hints[f.name] is Secret or Secret in typing.get_args(hints[f.name])
    }


def channel_problems(channel: Channel[Any], docs: str) -> list[str]:
    """What is missing or wrong in one registered channel (empty when it is complete)."""
    out = []
    config = channel.config
    if not (dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        out.append("its settings are not a frozen dataclass")
        return out
    declared, found = list(channel.secrets), sorted(secret_fields(config))
    if sorted(declared) != found:
        out.append(f"secrets {tuple(declared)} != the Secret fields {found}")
    if not callable(channel.parse):
        out.append("no reader")
    if not callable(channel.send):
        out.append("no sender")
    am = channel.alertmanager
    if not (callable(am) or (isinstance(am, str) and am.strip())):
        out.append("no Alertmanager mapping and no reason why not")
    if channel.name not in receiver_keys():
        out.append("the config reader does not accept it")
    if not re.search(rf"^\| `{re.escape(channel.name)}` \|", docs, re.M):
        out.append("no row in the channel table of docs/alerts.md")
    secrets_section = docs.split("### Secrets", 1)[-1].split("\n## ", 1)[0]
    for name in channel.secrets:
        if f"`{name}`" not in secrets_section:
            out.append(f"its secret {name!r} is not named under Secrets in docs/alerts.md")
    return out


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
def test_every_registered_channel_is_complete(channel: Channel[Any]) -> None:
    assert channel_problems(channel, DOCS.read_text()) == []


def test_names_and_settings_are_registered_once() -> None:
    assert all(named(c.name) is c for c in CHANNELS)
    assert len({c.name for c in CHANNELS}) == len(CHANNELS)
    assert len({c.config for c in CHANNELS}) == len(CHANNELS)


def test_the_check_finds_an_incomplete_channel() -> None:
    """The completeness check can fail: a channel that forgets a secret field, has no reason
    for lacking an Alertmanager mapping, and is not documented."""
    broken = Channel(
        name="carrier-pigeon",
        config=SlackConfig,
        parse=parse_slack,
        secrets=(),
        send=send_slack,
        alertmanager=" ",
    )
    found = channel_problems(broken, DOCS.read_text())
    assert any("Secret fields ['webhook_url']" in p for p in found), found
    assert "no Alertmanager mapping and no reason why not" in found
    assert "no row in the channel table of docs/alerts.md" in found
    assert "the config reader does not accept it" in found


def test_the_new_channel_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """docs/development.md "A new alert channel", run as written: the module and one line in
    CHANNELS, and the channel is read, checked, redacted, delivered and exported like any."""
    (tmp_path / "ntfy.py").write_text(recipe("A new alert channel"))
    monkeypatch.syspath_prepend(str(tmp_path))
    ntfy = importlib.import_module("ntfy")
    monkeypatch.setattr(alerts.channels, "CHANNELS", (*CHANNELS, ntfy.CHANNEL))
    # Complete but for the two docs/alerts.md lines the recipe asks for last.
    assert channel_problems(ntfy.CHANNEL, DOCS.read_text()) == [
        "no row in the channel table of docs/alerts.md",
        "its secret 'topic_url' is not named under Secrets in docs/alerts.md",
    ]

    cfg = config(
        """
        route: {receiver: phone}
        receivers:
          - name: phone
            ntfy: {topic_url: "${NTFY_TOPIC_URL}"}
        """
    )
    phone = cfg.receivers["phone"]
    assert phone.kind == "ntfy" and [s.template for s in phone.secrets()] == ["${NTFY_TOPIC_URL}"]
    topic = receiver.url + "/castiel-alerts-k3y"
    http = HttpxClient()
    try:
        ctx = SendContext(http, {"NTFY_TOPIC_URL": topic}, T0, timeout=5)
        assert send(phone, notification("phone"), ctx).outcome is Outcome.DELIVERED
        receiver.script(Reply(status=404, echo_path=True))
        failed = send(phone, notification("phone"), ctx)
    finally:
        http.close()
    (got, _) = receiver.all()
    assert got.method == "POST" and got.path == "/castiel-alerts-k3y"
    assert "api-latency" in got.body.decode() and "0.42" in got.body.decode()
    # A 404 that echoes the topic: a permanent failure, the secret redacted from its reason.
    assert failed.outcome is Outcome.FAILED and failed.status_code == 404
    assert "k3y" not in failed.reason, failed.reason

    exported = alertmanager_config(cfg)
    assert "receiver phone: Alertmanager has no ntfy integration" in " ".join(exported.notes)

    with pytest.raises(AlertsConfigError, match=r"alerts.yaml:4:.*topic_url"):
        config("route: {receiver: p}\nreceivers:\n  - name: p\n    ntfy: {}\n")
