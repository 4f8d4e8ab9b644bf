"""Label matchers in Alertmanager's syntax: `severity="critical"`, `route!="/health"`,
`service=~"api|web"`, `env!~"dev.*"` (quotes optional for plain values). Regexes are fully
anchored and a missing label matches like the empty string, as in Alertmanager; the matching
itself is the budgets selector `Matcher`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alerts.model import LabelSet
from budgets.selectors import Matcher, label_matcher

_MATCHER = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"\s,{}]*))\s*$'
)
OPERATORS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    op: str
    value: str
    matcher: Matcher

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matcher.matches(labels.get(self.name))

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> LabelMatcher:
    """Raises ValueError with a hint."""
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(
            f'not a label matcher: {text!r} (examples: severity="critical", '
            'route!="/health", service=~"api|web")'
        )
    quoted = m.group("quoted")
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else m.group("bare")
    op = m.group("op")
    return LabelMatcher(m.group("name"), op, value, label_matcher(op, value))


def matches_all(matchers: Iterable[LabelMatcher], labels: Mapping[str, str] | LabelSet) -> bool:
    have = labels if isinstance(labels, Mapping) else dict(labels)
    return all(m.matches(have) for m in matchers)
