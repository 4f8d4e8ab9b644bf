"""Validating YAML straight off PyYAML's node tree, so every problem is reported with file,
line, column and key path. Issues use the budgets spec's `SpecIssue` (same message format as
budget files)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from budgets.model import parse_duration
from budgets.spec import SpecIssue

T = TypeVar("T")


class Invalid(Exception):
    """Abort validation of the current value; the issue is already recorded."""


@dataclass
class Ctx:
    file: str
    issues: list[SpecIssue] = field(default_factory=list)
    warnings: list[SpecIssue] = field(default_factory=list)
    constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def issue(self, node: Node | None, key: str, message: str, hint: str = "") -> SpecIssue:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (0, 0)
        return SpecIssue(self.file, line, col, key, message, hint)

    def error(self, node: Node | None, key: str, message: str, hint: str = "") -> Invalid:
        self.issues.append(self.issue(node, key, message, hint))
        return Invalid()

    def warn(self, node: Node | None, key: str, message: str, hint: str = "") -> None:
        self.warnings.append(self.issue(node, key, message, hint))

    def scalar(self, node: Node, key: str) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.error(node, key, "expected a single value, not a list or mapping")
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self.error(node, key, f"unreadable value {node.value!r}: {exc}") from None

    def text(self, node: Node, key: str) -> str:
        value = self.scalar(node, key)
        if value is None or isinstance(value, bool | list | dict):
            raise self.error(
                node, key, "expected text", f'quote it: {key.rsplit(".", 1)[-1]}: "..."'
            )
        return str(value)

    def boolean(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            raise self.error(node, key, "expected true or false")
        return value

    def integer(self, node: Node, key: str, minimum: int = 0) -> int:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(node, key, f"expected a whole number >= {minimum}")
        return value

    def convert(self, node: Node, key: str, fn: Callable[[Any], T], hint: str = "") -> T:
        value = self.scalar(node, key)
        try:
            return fn(value)
        except (ValueError, TypeError, re.error, KeyError) as exc:
            raise self.error(node, key, str(exc), hint) from None

    def mapping(
        self, node: Node, key: str, allowed: tuple[str, ...] = ()
    ) -> dict[str, tuple[Node, Node]]:
        """{key: (key node, value node)}; unknown (when `allowed`) and duplicate keys are
        errors."""
        if not isinstance(node, MappingNode):
            raise self.error(node, key, "expected a mapping (key: value lines)")
        out: dict[str, tuple[Node, Node]] = {}
        for knode, vnode in node.value:
            name = knode.value if isinstance(knode, ScalarNode) else None
            path = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                self.error(knode, key, "keys must be plain names")
                continue
            if name in out:
                self.error(knode, path, "duplicate key", "each key may appear once")
                continue
            if allowed and name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                self.error(knode, path, f"unknown key {name!r}", hint)
                continue
            out[name] = (knode, vnode)
        return out

    def items(self, node: Node, key: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, key, "expected a list (lines starting with '- ')")
        return list(node.value)

    def texts(self, node: Node, key: str) -> tuple[str, ...]:
        """A list of strings; a single string is accepted as a list of one."""
        if isinstance(node, ScalarNode):
            return (self.text(node, key),)
        return tuple(self.text(n, f"{key}[{i}]") for i, n in enumerate(self.items(node, key)))

    def string_map(self, node: Node, key: str) -> tuple[tuple[str, str], ...]:
        m = self.mapping(node, key)
        return tuple(sorted((k, self.text(v, f"{key}.{k}")) for k, (_, v) in m.items()))

    def guard(self, fn: Callable[..., T], *args: Any) -> T | None:
        """Run one validation, recording its issue and carrying on with the rest."""
        try:
            return fn(*args)
        except Invalid:
            return None


def compose(text: str, filename: str) -> tuple[Node | None, SpecIssue | None]:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = f"not valid YAML: {exc.problem or exc.context or exc}"
        return None, SpecIssue(filename, line, col, "", msg)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return None, SpecIssue(filename, 0, 0, "", f"not valid YAML: {type(exc).__name__}: {exc}")


def choice(enum: Any, value: Any, what: str) -> Any:
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValueError(f"unknown {what} {value!r} ({allowed})") from None


def duration(ctx: Ctx, node: Node, key: str) -> float:
    seconds: float = ctx.convert(node, key, parse_duration)
    return seconds


def positive(ctx: Ctx, node: Node, key: str) -> float:
    d = duration(ctx, node, key)
    if d <= 0:
        raise ctx.error(node, key, "must be longer than 0s")
    return d


def url(ctx: Ctx, node: Node, key: str) -> str:
    u = ctx.text(node, key)
    if not u.startswith(("http://", "https://")):
        raise ctx.error(node, key, f"not an http(s) URL: {u!r}")
    return u


def fields(
    ctx: Ctx,
    node: Node,
    key: str,
    spec: Mapping[str, Callable[[Node, str], Any]],
    required: tuple[str, ...],
) -> dict[str, Any]:
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
