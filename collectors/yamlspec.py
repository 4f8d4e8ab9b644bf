"""Validating YAML straight off PyYAML's node tree, so every problem is reported with file,
line, column and key path (`file:line:col: key: message (hint: ...)`).

One implementation for every YAML file Castiel reads: the `sources:` section of
castiel.yaml (collectors.sources), budget files (budgets.spec), the alerts config
(alerts.yamlnodes) and castiel.yaml's top level (castiel.config). It lives in `collectors`
because that is the lowest layer allowed to read YAML (the runtime may not import it, and
every reader above may import collectors; DESIGN.md).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runtime.durations import parse_duration
from runtime.errors import BadInput

T = TypeVar("T")


@dataclass(frozen=True)
class SpecIssue:
    file: str
    line: int
    column: int
    key: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        key = f" {self.key}:" if self.key else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return _printable(f"{where}:{key} {self.message}{hint}")


def _printable(text: str) -> str:
    """One line, no control characters: keys and values come from untrusted files."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SpecError(BadInput):
    """One or more problems in a file; `str()` is the first, `issues` has them all."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{issues[0]}{more}")


class Invalid(Exception):
    """Abort validation of the current value; the issue is already recorded."""


def suggest(name: str, allowed: Sequence[str], label: str = "allowed") -> str:
    """The hint for an unknown name: the closest allowed one, else the whole list."""
    close = difflib.get_close_matches(name, allowed, n=1)
    return f"did you mean {close[0]!r}?" if close else f"{label}: {', '.join(allowed)}"


def read_text(path: Path) -> str | SpecIssue:
    """The file's text, or the issue that says why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SpecIssue(str(path), 0, 0, "", "file not found")
    except (OSError, UnicodeDecodeError) as exc:
        return SpecIssue(str(path), 0, 0, "", f"cannot read: {exc}")


def compose(text: str, filename: str) -> tuple[Node | None, SpecIssue | None]:
    """The node tree (None for an empty document), or the issue that says why it is not YAML."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = f"not valid YAML: {exc.problem or exc.context or exc}"
        return None, SpecIssue(filename, line, col, "", msg)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return None, SpecIssue(filename, 0, 0, "", f"not valid YAML: {type(exc).__name__}: {exc}")


@dataclass
class SpecContext:
    """Collects the issues of one file; each reader returns a typed value or raises `Invalid`
    after recording why."""

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
        """The value, typed by YAML (and by an explicit tag such as `!!int`). A value its tag
        does not fit is a located issue that never quotes the value: it may be a secret."""
        if not isinstance(node, ScalarNode):
            raise self.error(node, key, "expected a single value, not a list or mapping")
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception:  # PyYAML's constructors raise KeyError, TypeError, AttributeError...
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self.error(
                node, key, f"the value is not a valid {tag}", "remove the tag, or fix the value"
            ) from None

    def text(self, node: Node, key: str) -> str:
        value = self.scalar(node, key)
        if value is None or isinstance(value, bool | list | dict):
            raise self.error(node, key, "expected text", self.quote_hint(key))
        return str(value)

    def quote_hint(self, key: str) -> str:
        return f'quote it: {key.rsplit(".", 1)[-1]}: "..."'

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

    def seconds(self, node: Node, key: str) -> float:
        """A duration in the one grammar (runtime.durations: `250ms`, `5m`, plain seconds)."""
        value: float = self.convert(node, key, parse_duration)
        return value

    def positive_seconds(self, node: Node, key: str) -> float:
        value = self.seconds(node, key)
        if value <= 0:
            raise self.error(node, key, "must be longer than 0s")
        return value

    def convert(self, node: Node, key: str, fn: Callable[[Any], T], hint: str = "") -> T:
        """`fn` over the YAML value; its ValueError (and kin) becomes the located issue."""
        value = self.scalar(node, key)
        try:
            return fn(value)
        except (ValueError, TypeError, AttributeError, KeyError, re.error) as exc:
            raise self.error(node, key, str(exc), hint) from None

    def attempt(self, node: Node, key: str, fn: Callable[[], T], hint: str = "") -> T:
        """Run a parser over text already taken from `node`, locating its errors there."""
        try:
            return fn()
        except (ValueError, TypeError, re.error) as exc:
            raise self.error(node, key, str(exc), hint) from None

    def parse_text(self, node: Node, key: str, fn: Callable[[str], T], hint: str = "") -> T:
        return self.attempt(node, key, partial(fn, self.text(node, key)), hint)

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
                self.error(knode, path, f"unknown key {name!r}", suggest(name, allowed))
                continue
            out[name] = (knode, vnode)
        return out

    def items(self, node: Node, key: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, key, "expected a list (lines starting with '- ')")
        return list(node.value)

    def one_or_more(self, node: Node, key: str) -> list[Node]:
        """A list; a single value is accepted as a list of one."""
        return [node] if isinstance(node, ScalarNode) else self.items(node, key)

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
