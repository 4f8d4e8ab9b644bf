"""Readers of the settings several channels share: secrets, secret URLs, `max_alerts`,
`dedup`. Each takes (context, node, key path) like every reader of `collectors.yamlspec`."""

from __future__ import annotations

from yaml.nodes import Node

from alerts.secrets import Secret
from collectors.yamlspec import SpecContext


def secret(ctx: SpecContext, node: Node, key: str) -> Secret:
    s = Secret(ctx.text(node, key))
    if s.literal:
        ctx.warn(
            node,
            key,
            "a secret written into the file",
            "use a ${VARIABLE} reference and set it in the environment",
        )
    return s


def secret_url(ctx: SpecContext, node: Node, key: str) -> Secret:
    s = secret(ctx, node, key)
    t = s.template
    if not t.startswith("${") and not t.startswith(("http://", "https://")):
        raise ctx.error(node, key, "not an http(s) URL or a ${VARIABLE} reference")
    return s


def max_alerts(ctx: SpecContext, node: Node, key: str) -> int:
    return ctx.integer(node, key, 0)


def dedup(ctx: SpecContext, node: Node, key: str) -> str:
    """`alert` (one incident per alert) or `group` (one per aggregation group)."""
    v = ctx.text(node, key)
    if v not in ("alert", "group"):
        raise ctx.error(node, key, f"unknown dedup {v!r}", "alert (one per alert) or group")
    return v
