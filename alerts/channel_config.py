"""Receivers in the alerts config: a name, exactly one channel (one key of the channel registry,
alerts/channels), fallbacks and `send_resolved`. Each channel reads its own section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from alerts import channels
from alerts.secrets import Secret
from collectors.yamlspec import SpecContext


@dataclass(frozen=True)
class ReceiverConfig:
    name: str
    kind: str
    """The channel's name (`slack`): alerts.channels.named(kind) is the channel."""
    channel: Any
    """That channel's settings (its `Channel.config` dataclass)."""
    fallback: tuple[str, ...] = ()
    send_resolved: bool = True

    def secrets(self) -> tuple[Secret, ...]:
        return channels.named(self.kind).secret_values(self.channel)


def receiver_keys() -> tuple[str, ...]:
    """What a receiver may say: its own keys and one key per registered channel."""
    return ("name", "fallback", "send_resolved", *(c.name for c in channels.CHANNELS))


def parse_receivers(
    ctx: SpecContext,
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


def _receiver(ctx: SpecContext, node: Node, key: str) -> ReceiverConfig:
    m = ctx.mapping(node, key, receiver_keys())
    if "name" not in m:
        raise ctx.error(node, f"{key}.name", "missing", "every receiver has a name")
    name = ctx.text(m["name"][1], f"{key}.name")
    registered = channels.CHANNELS
    kinds = [c for c in registered if c.name in m]
    if len(kinds) != 1:
        raise ctx.error(
            node,
            key,
            f"receiver {name!r} needs exactly one channel, found {len(kinds)}",
            f"one of {', '.join(c.name for c in registered)}; use `fallback` for a second one",
        )
    channel = kinds[0]
    settings = channel.parse(ctx, m[channel.name][1], f"{key}.{channel.name}")
    fallback = ctx.texts(m["fallback"][1], f"{key}.fallback") if "fallback" in m else ()
    send_resolved = (
        ctx.boolean(m["send_resolved"][1], f"{key}.send_resolved") if "send_resolved" in m else True
    )
    return ReceiverConfig(name, channel.name, settings, tuple(fallback), send_resolved)


def __getattr__(name: str) -> Any:
    """Each channel's settings class by its name (`SlackConfig`), for callers that import it
    from here; its home is the channel's module."""
    for c in channels.CHANNELS:
        if c.config.__name__ == name:
            return c.config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
