"""Receivers and their channels in the alerts config: typed dataclasses and their parsers.
Secrets (`webhook_url`, `routing_key`, `api_key`, `hmac_secret`, `password`) are `Secret`s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode

from alerts.model import Severity
from alerts.secrets import Secret
from alerts.yamlnodes import Ctx, fields, positive, url

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_URL = "https://api.opsgenie.com"


# --- channels --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackConfig:
    webhook_url: Secret
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    max_alerts: int = 20


@dataclass(frozen=True)
class TeamsConfig:
    webhook_url: Secret
    """A Power Automate Workflows "post to a channel when a webhook request is received" URL."""
    max_alerts: int = 20


@dataclass(frozen=True)
class PagerDutyConfig:
    routing_key: Secret
    url: str = PAGERDUTY_URL
    source: str = "castiel"
    dedup: str = "alert"
    """"alert": one PagerDuty alert per Castiel alert; "group": one per aggregation group."""


@dataclass(frozen=True)
class OpsgenieConfig:
    api_key: Secret
    api_url: str = OPSGENIE_URL
    dedup: str = "alert"
    responders: tuple[tuple[tuple[str, str], ...], ...] = ()
    tags: tuple[str, ...] = ()
    priorities: tuple[tuple[str, str], ...] = (
        ("critical", "P1"),
        ("error", "P2"),
        ("warning", "P3"),
        ("info", "P5"),
    )


@dataclass(frozen=True)
class WebhookConfig:
    url: Secret
    hmac_secret: Secret | None = None
    max_alerts: int = 0
    """0 = all; otherwise Alertmanager's `max_alerts` (the rest counted in truncatedAlerts)."""


@dataclass(frozen=True)
class AlertmanagerConfig:
    url: str
    """Base URL of an existing Alertmanager, e.g. http://alertmanager:9093."""
    ttl: float = 86400.0
    """endsAt of firing alerts is now + ttl; re-sent at every repeat, so keep it longer."""


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


@dataclass(frozen=True)
class ConsoleConfig:
    stream: str = "stdout"


@dataclass(frozen=True)
class FileConfig:
    path: str


ChannelConfig = (
    SlackConfig
    | TeamsConfig
    | PagerDutyConfig
    | OpsgenieConfig
    | WebhookConfig
    | AlertmanagerConfig
    | EmailConfig
    | ConsoleConfig
    | FileConfig
)
CHANNELS = (
    "slack",
    "teams",
    "pagerduty",
    "opsgenie",
    "webhook",
    "alertmanager",
    "email",
    "console",
    "file",
)
RESOLVE_NATIVE = ("pagerduty", "opsgenie", "alertmanager")
"""Channels whose service closes the alert itself on a resolve event."""


@dataclass(frozen=True)
class ReceiverConfig:
    name: str
    kind: str
    channel: ChannelConfig
    fallback: tuple[str, ...] = ()
    send_resolved: bool = True

    def secrets(self) -> tuple[Secret, ...]:
        c = self.channel
        found = [getattr(c, f, None) for f in ("webhook_url", "routing_key", "api_key", "url")]
        found += [getattr(c, f, None) for f in ("hmac_secret", "password")]
        return tuple(s for s in found if isinstance(s, Secret))


RECEIVER_KEYS = ("name", "fallback", "send_resolved", *CHANNELS)


def parse_receivers(
    ctx: Ctx,
    node: Node,
    key: str,
    out: dict[str, ReceiverConfig],
    nodes: dict[str, Node],
) -> None:
    for i, rnode in enumerate(ctx.items(node, key)):
        k = f"{key}[{i}]"
        r = ctx.guard(_receiver, ctx, rnode, k)
        if r is None:
            # Still declared: routes naming it should not get a second, misleading error.
            if isinstance(rnode, MappingNode):
                for kn, vn in rnode.value:
                    if getattr(kn, "value", None) == "name" and isinstance(vn, ScalarNode):
                        nodes.setdefault(str(vn.value), rnode)
            continue
        if r.name in out:
            ctx.error(rnode, f"{k}.name", f"duplicate receiver {r.name!r}")
            continue
        out[r.name] = r
        nodes[r.name] = rnode


def _receiver(ctx: Ctx, node: Node, key: str) -> ReceiverConfig:
    m = ctx.mapping(node, key, RECEIVER_KEYS)
    if "name" not in m:
        raise ctx.error(node, f"{key}.name", "missing", "every receiver has a name")
    name = ctx.text(m["name"][1], f"{key}.name")
    kinds = [c for c in CHANNELS if c in m]
    if len(kinds) != 1:
        raise ctx.error(
            node,
            key,
            f"receiver {name!r} needs exactly one channel, found {len(kinds)}",
            f"one of {', '.join(CHANNELS)}; use `fallback` for a second one",
        )
    kind = kinds[0]
    ckey = f"{key}.{kind}"
    channel = _CHANNEL_PARSERS[kind](ctx, m[kind][1], ckey)
    fallback = ctx.texts(m["fallback"][1], f"{key}.fallback") if "fallback" in m else ()
    send_resolved = (
        ctx.boolean(m["send_resolved"][1], f"{key}.send_resolved") if "send_resolved" in m else True
    )
    return ReceiverConfig(name, kind, channel, tuple(fallback), send_resolved)


def _secret(ctx: Ctx, node: Node, key: str) -> Secret:
    s = Secret(ctx.text(node, key))
    if s.literal:
        ctx.warn(
            node,
            key,
            "a secret written into the file",
            "use a ${VARIABLE} reference and set it in the environment",
        )
    return s


def _secreturl(ctx: Ctx, node: Node, key: str) -> Secret:
    s = _secret(ctx, node, key)
    t = s.template
    if not t.startswith("${") and not t.startswith(("http://", "https://")):
        raise ctx.error(node, key, "not an http(s) URL or a ${VARIABLE} reference")
    return s


def _max_alerts(ctx: Ctx, n: Node, k: str) -> int:
    return ctx.integer(n, k, 0)


def _slack(ctx: Ctx, node: Node, key: str) -> SlackConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "webhook_url": lambda n, k: _secreturl(ctx, n, k),
            "channel": ctx.text,
            "username": ctx.text,
            "icon_emoji": ctx.text,
            "max_alerts": lambda n, k: _max_alerts(ctx, n, k),
        },
        ("webhook_url",),
    )
    return SlackConfig(**f)


def _teams(ctx: Ctx, node: Node, key: str) -> TeamsConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "webhook_url": lambda n, k: _secreturl(ctx, n, k),
            "max_alerts": lambda n, k: _max_alerts(ctx, n, k),
        },
        ("webhook_url",),
    )
    return TeamsConfig(**f)


def _dedup(ctx: Ctx, n: Node, k: str) -> str:
    v = ctx.text(n, k)
    if v not in ("alert", "group"):
        raise ctx.error(n, k, f"unknown dedup {v!r}", "alert (one per alert) or group")
    return v


def _pagerduty(ctx: Ctx, node: Node, key: str) -> PagerDutyConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "routing_key": lambda n, k: _secret(ctx, n, k),
            "url": lambda n, k: url(ctx, n, k),
            "source": ctx.text,
            "dedup": lambda n, k: _dedup(ctx, n, k),
        },
        ("routing_key",),
    )
    return PagerDutyConfig(**f)


def _responders(ctx: Ctx, n: Node, k: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    out = []
    for i, item in enumerate(ctx.items(n, k)):
        r = ctx.string_map(item, f"{k}[{i}]")
        d = dict(r)
        if "type" not in d or not ({"id", "name", "username"} & set(d)):
            raise ctx.error(
                item, f"{k}[{i}]", "a responder needs type and one of id, name, username"
            )
        out.append(r)
    return tuple(out)


def _priorities(ctx: Ctx, n: Node, k: str) -> tuple[tuple[str, str], ...]:
    m = ctx.string_map(n, k)
    for sev, prio in m:
        if sev not in tuple(Severity) or prio not in ("P1", "P2", "P3", "P4", "P5"):
            raise ctx.error(
                n, f"{k}.{sev}", "map a severity (critical, error, warning, info) to P1..P5"
            )
    return tuple(sorted({**dict(OpsgenieConfig.priorities), **dict(m)}.items()))


def _opsgenie(ctx: Ctx, node: Node, key: str) -> OpsgenieConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "api_key": lambda n, k: _secret(ctx, n, k),
            "api_url": lambda n, k: url(ctx, n, k),
            "dedup": lambda n, k: _dedup(ctx, n, k),
            "responders": lambda n, k: _responders(ctx, n, k),
            "tags": ctx.texts,
            "priorities": lambda n, k: _priorities(ctx, n, k),
        },
        ("api_key",),
    )
    return OpsgenieConfig(**f)


def _webhook(ctx: Ctx, node: Node, key: str) -> WebhookConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "url": lambda n, k: _secreturl(ctx, n, k),
            "hmac_secret": lambda n, k: _secret(ctx, n, k),
            "max_alerts": lambda n, k: _max_alerts(ctx, n, k),
        },
        ("url",),
    )
    return WebhookConfig(**f)


def _alertmanager(ctx: Ctx, node: Node, key: str) -> AlertmanagerConfig:
    f = fields(
        ctx,
        node,
        key,
        {
            "url": lambda n, k: url(ctx, n, k),
            "ttl": lambda n, k: positive(ctx, n, k),
        },
        ("url",),
    )
    return AlertmanagerConfig(**f)


def _address(ctx: Ctx, n: Node, k: str) -> str:
    a = ctx.text(n, k)
    if "@" not in a or any(c.isspace() for c in a.strip()):
        raise ctx.error(n, k, f"not an email address: {a!r}")
    return a.strip()


def _email(ctx: Ctx, node: Node, key: str) -> EmailConfig:
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
            "from": lambda n, k: _address(ctx, n, k),
            "smarthost": ctx.text,
            "username": ctx.text,
            "password": lambda n, k: _secret(ctx, n, k),
            "starttls": ctx.boolean,
            "tls": ctx.boolean,
            "max_alerts": lambda n, k: _max_alerts(ctx, n, k),
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


def _console(ctx: Ctx, node: Node, key: str) -> ConsoleConfig:
    if isinstance(node, ScalarNode) and node.value in ("", "~", "null", "{}"):
        return ConsoleConfig()
    f = fields(ctx, node, key, {"stream": ctx.text}, ())
    if f.get("stream", "stdout") not in ("stdout", "stderr"):
        raise ctx.error(node, f"{key}.stream", "stdout or stderr")
    return ConsoleConfig(**f)


def _file(ctx: Ctx, node: Node, key: str) -> FileConfig:
    f = fields(ctx, node, key, {"path": ctx.text}, ("path",))
    return FileConfig(**f)


_CHANNEL_PARSERS: dict[str, Callable[[Ctx, Node, str], ChannelConfig]] = {
    "slack": _slack,
    "teams": _teams,
    "pagerduty": _pagerduty,
    "opsgenie": _opsgenie,
    "webhook": _webhook,
    "alertmanager": _alertmanager,
    "email": _email,
    "console": _console,
    "file": _file,
}
