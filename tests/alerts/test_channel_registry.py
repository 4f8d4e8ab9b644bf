"""Every registered alert channel is complete: frozen settings, a reader, its secret fields
(exactly the fields that hold a Secret), a sender, an Alertmanager mapping or the reason
there is none, and a row in docs/alerts.md (its secrets named there too)."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from alerts.channel_config import RECEIVER_KEYS
from alerts.channels import BY_NAME, CHANNELS, Channel
from alerts.channels.slack import SlackConfig
from alerts.channels.slack import parse as parse_slack
from alerts.channels.slack import send as send_slack
from alerts.secrets import Secret

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
    if channel.name not in RECEIVER_KEYS:
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
    assert len(BY_NAME) == len(CHANNELS)
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
