"""`Channel`: everything Castiel knows about one kind of receiver, in one object.

A channel module (alerts/channels/slack.py...) defines its settings as a frozen dataclass, the
reader of its YAML section, its sender and its Alertmanager integration, and ends with one
`CHANNEL = Channel(...)`; alerts/channels/__init__.py lists it in `CHANNELS`. Everything else
(the config reader, secret checks, delivery, `castiel budgets export alertmanager`) reads the
registry, so a new channel is a new module plus one line (docs/development.md).
tests/alerts/test_channel_registry.py checks that every registered channel is complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from yaml.nodes import Node

from alerts.channels.base import SendContext, SendResult
from alerts.model import Notification
from alerts.secrets import Secret
from collectors.yamlspec import SpecContext

C = TypeVar("C")

AlertmanagerReceiver = tuple[str, dict[str, Any]] | None
"""Alertmanager's integration key (`slack_configs`) and its settings, or None when this
receiver cannot be written for the target version (a note says why)."""


class AlertmanagerTarget(Protocol):
    """What a channel's Alertmanager mapping may use (alerts/alertmanager_config.py)."""

    version: tuple[int, int]
    notes: list[str]
    """What the export cannot express, for people: `receiver NAME: ...`."""

    def secret_file(self, receiver: str, key: str, secret: Secret) -> str:
        """The `*_file` path Alertmanager reads `secret` from (a secret is never written)."""
        ...


@dataclass(frozen=True)
class Channel(Generic[C]):
    name: str
    """The receiver's key in alerts.yaml (`slack:`), and the receiver's `kind`."""
    config: type[C]
    """Its settings: a frozen dataclass."""
    parse: Callable[[SpecContext, Node, str], C]
    """Reads its YAML section (node, key path) into `config`; problems go to the context."""
    secrets: tuple[str, ...]
    """The fields of `config` holding a `Secret` (revealed only at send time, redacted from
    every reason recorded, checked for unset `${VARIABLES}` by `castiel alerts validate`)."""
    send: Callable[[Notification, C, SendContext], SendResult]
    """Delivers one notification. Returns a classified, redacted result; may raise only on a
    bug (the dispatcher turns that into a failed delivery)."""
    alertmanager: Callable[[str, C, AlertmanagerTarget], AlertmanagerReceiver] | str
    """Alertmanager's equivalent (receiver name, settings, target), or why there is none."""

    def secret_values(self, config: Any) -> tuple[Secret, ...]:
        found = (getattr(config, name) for name in self.secrets)
        return tuple(s for s in found if isinstance(s, Secret))
