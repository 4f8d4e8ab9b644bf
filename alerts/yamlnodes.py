"""Helpers for the alerts config on top of the shared YAML validation (collectors.yamlspec):
the same node-by-node checks and `file:line:col: key: message` issues as budget files and
castiel.yaml. Durations are `SpecContext.seconds` / `positive_seconds`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from yaml.nodes import Node

from collectors.yamlspec import Invalid, SpecContext, compose

__all__ = ["Invalid", "choice", "compose", "fields", "url"]


def choice(enum: Any, value: Any, what: str) -> Any:
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValueError(f"unknown {what} {value!r} ({allowed})") from None


def url(ctx: SpecContext, node: Node, key: str) -> str:
    u = ctx.text(node, key)
    if not u.startswith(("http://", "https://")):
        shown = u if "@" not in u else "<with credentials>"  # never quote a password
        raise ctx.error(node, key, f"not an http(s) URL: {shown!r}")
    return u


def fields(
    ctx: SpecContext,
    node: Node,
    key: str,
    spec: Mapping[str, Callable[[Node, str], Any]],
    required: tuple[str, ...],
) -> dict[str, Any]:
    """The mapping at `node` read key by key with `spec` (unknown keys are errors); raises
    Invalid when a `required` key is missing or unreadable."""
    m = ctx.mapping(node, key, tuple(spec))
    out: dict[str, Any] = {}
    for r in required:
        if r not in m:
            ctx.error(node, f"{key}.{r}", "missing")
    for name, (_, vnode) in m.items():
        value = ctx.guard(spec[name], vnode, f"{key}.{name}")
        if value is not None:
            out[name] = value
    if any(r not in out for r in required):
        raise Invalid()
    return out
