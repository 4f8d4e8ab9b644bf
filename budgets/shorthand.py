"""k6-style compact thresholds: `p(95)<200ms`, `avg<=0.1`, `rate<0.01`, `max < 2s`, and the bare
condition form `< 0.3` used by the long budget form.

Meaning differs from k6 in one place: Castiel metrics follow Prometheus, so `rate` is per
second (throughput). k6's `rate` on a Rate metric (the fraction of failed requests) is
Castiel's `ratio` with a `denominator`. Values are in the metric's unit (seconds for
durations); `ms`, `us`, `s` and `%` suffixes convert.
"""

from __future__ import annotations

import re

from budgets.model import Aggregation, Condition, Op, parse_number

_CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*(.+?)\s*$")
_SHORTHAND = re.compile(r"^\s*([A-Za-z]+(?:\(\s*[0-9.]+\s*\)|[0-9.]+)?)\s*(<=|>=|<|>)\s*(.+?)\s*$")


def parse_condition(text: str) -> Condition:
    """`< 0.3`, `>= 0.8`, `< 250ms`. Raises ValueError with a hint."""
    m = _CONDITION.match(text)
    if m is None:
        raise ValueError(
            f'not a condition: {text!r} (write it as an operator and a number, e.g. "< 0.3")'
        )
    return Condition(Op(m.group(1)), parse_number(m.group(2)))


def parse_shorthand(text: str) -> tuple[Aggregation, Condition]:
    """`p(95)<200ms` -> (p95, < 0.2). Raises ValueError with a hint."""
    m = _SHORTHAND.match(text)
    if m is None:
        raise ValueError(
            f'not a threshold expression: {text!r} (examples: "p(95)<250ms", '
            '"avg<=0.1", "rate>50", "max<2s")'
        )
    agg = Aggregation.parse(re.sub(r"\s+", "", m.group(1)))
    return agg, Condition(Op(m.group(2)), parse_number(m.group(3)))


def is_shorthand(text: str) -> bool:
    return _SHORTHAND.match(text) is not None
