"""Metric selectors: a name matcher plus label matchers (exact, glob or regex, each may be
negated). Regexes are fully anchored, as in PromQL: `5..` matches `500`, not `1500`."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from enum import StrEnum

from collectors.model import SeriesKey


class MatchKind(StrEnum):
    EXACT = "exact"
    GLOB = "glob"
    REGEX = "regex"


@dataclass(frozen=True)
class Matcher:
    kind: MatchKind
    pattern: str
    negate: bool = False
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def exact(cls, value: str, negate: bool = False) -> Matcher:
        return cls(MatchKind.EXACT, value, negate)

    @classmethod
    def glob(cls, pattern: str, negate: bool = False) -> Matcher:
        return cls(MatchKind.GLOB, pattern, negate, re.compile(fnmatch.translate(pattern)))

    @classmethod
    def regex(cls, pattern: str, negate: bool = False) -> Matcher:
        """Raises ValueError on a bad pattern (the spec loader locates it)."""
        try:
            compiled = re.compile(f"(?:{pattern})\\Z")
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return cls(MatchKind.REGEX, pattern, negate, compiled)

    def matches(self, value: str | None) -> bool:
        """A missing label matches like an empty string (as in PromQL)."""
        v = value or ""
        if self.kind is MatchKind.EXACT:
            hit = v == self.pattern
        else:
            assert self._compiled is not None
            hit = self._compiled.match(v) is not None
        return hit != self.negate

    def __str__(self) -> str:
        op = {
            MatchKind.EXACT: "!=" if self.negate else "=",
            MatchKind.REGEX: "!~" if self.negate else "=~",
            MatchKind.GLOB: "!*" if self.negate else "=*",
        }[self.kind]
        return f'{op}"{self.pattern}"'


@dataclass(frozen=True)
class Selector:
    """Which series a budget reads: `name` and every label matcher must match."""

    name: Matcher
    labels: tuple[tuple[str, Matcher], ...] = ()

    def matches(self, key: SeriesKey) -> bool:
        if not self.name.matches(key.name):
            return False
        have = key.label_dict
        return all(m.matches(have.get(label)) for label, m in self.labels)

    def __str__(self) -> str:
        name = self.name.pattern if self.name.kind is MatchKind.EXACT else f"{{{self.name}}}"
        if not self.labels:
            return name
        return name + "{" + ",".join(f"{k}{m}" for k, m in self.labels) + "}"


_SELECTOR = re.compile(
    r"^\s*(?P<name>[A-Za-z_:*?\[\]][A-Za-z0-9_:*?\[\]]*)\s*(?:\{(?P<body>.*)\})?\s*$"
)
_LABEL = re.compile(
    r'\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|=\*|!\*|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)'
)


def parse_selector(text: str) -> Selector:
    """`name{label="v",other=~"re",route=*"/api/*"}`, PromQL syntax plus `=*`/`!*` for globs.
    A name containing `*`, `?` or `[` is a glob. Raises ValueError with a hint."""
    m = _SELECTOR.match(text)
    if m is None:
        raise ValueError(
            f'not a metric selector: {text!r} (expected name or name{{label="value",...}})'
        )
    raw_name = m.group("name")
    name = Matcher.glob(raw_name) if any(c in raw_name for c in "*?[") else Matcher.exact(raw_name)
    labels: list[tuple[str, Matcher]] = []
    body = (m.group("body") or "").strip()
    pos = 0
    while pos < len(body):
        lm = _LABEL.match(body, pos)
        if lm is None:
            raise ValueError(
                f"cannot parse labels at {body[pos:]!r} in {text!r} "
                '(expected label="v", label!="v", label=~"regex", label!~"regex" or label=*"glob")'
            )
        value = re.sub(r"\\(.)", r"\1", lm.group("value"))
        labels.append((lm.group("label"), label_matcher(lm.group("op"), value)))
        pos = lm.end()
    return Selector(name, tuple(labels))


def label_matcher(op: str, value: str) -> Matcher:
    match op:
        case "=":
            return Matcher.exact(value)
        case "!=":
            return Matcher.exact(value, negate=True)
        case "=~":
            return Matcher.regex(value)
        case "!~":
            return Matcher.regex(value, negate=True)
        case "=*":
            return Matcher.glob(value)
        case "!*":
            return Matcher.glob(value, negate=True)
    raise ValueError(f"unknown label operator {op!r}")
