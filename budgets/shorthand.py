"""Threshold expressions: k6's compact form `p(95)<200ms`, `avg<=0.1`, `rate<0.01`,
`count==0`, and the bare condition form `< 0.3` of the long budget form.

Operators are k6's: `<`, `<=`, `>`, `>=`, `==`, `===` (the same as `==`: values are numbers),
`!=`. The number may carry a unit (`ms`, `us`, `s`, `%`); whether it did is kept (`bare`),
because a bare number means different things on different metrics: on Castiel's own
`_seconds` metrics it is refused as ambiguous, on k6's metric names it means what it means in
k6 (budgets/k6.py).

Aggregation names are Castiel's (budgets.aggregations); k6's `value` (a gauge's last
value) is accepted here and resolved by the metric it applies to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from budgets.aggregations import Aggregation
from budgets.model import Condition, Op, parse_number

_OPS = r"(===|==|!=|<=|>=|<|>)"
_CONDITION = re.compile(rf"^\s*{_OPS}\s*(.+?)\s*$")
_SHORTHAND = re.compile(rf"^\s*([A-Za-z]+(?:\(\s*[^()]*\s*\)|[0-9.]+)?)\s*{_OPS}\s*(.*?)\s*$")
_UNIT = re.compile(r"(ms|us|s|%)\s*$")


@dataclass(frozen=True)
class Expression:
    """One parsed threshold: `method` is the aggregation as written (None for the bare
    condition form), `condition` has its value in base units, `bare` says the number had no
    unit suffix."""

    method: str | None
    condition: Condition
    bare: bool


def _op(text: str) -> Op:
    return Op.EQ if text == "===" else Op(text)


def _value(text: str, expression: str) -> tuple[float, bool]:
    if not text:
        raise ValueError(f"{expression!r} has no value after the operator")
    return parse_number(text), _UNIT.search(text) is None


def parse_expression(text: str) -> Expression:
    """`p(95)<200ms`, `rate<0.01`, or `< 0.3`. Raises ValueError with a hint."""
    m = _CONDITION.match(text)
    if m is not None:
        value, bare = _value(m.group(2), text)
        return Expression(None, Condition(_op(m.group(1)), value), bare)
    m = _SHORTHAND.match(text)
    if m is None:
        raise ValueError(
            f'not a threshold expression: {text!r} (examples: "p(95)<250ms", "avg<=0.1", '
            '"rate>50", "max<2s", "count==0"; operators <, <=, >, >=, ==, ===, !=)'
        )
    value, bare = _value(m.group(3), text)
    return Expression(re.sub(r"\s+", "", m.group(1)), Condition(_op(m.group(2)), value), bare)


def parse_condition(text: str) -> Condition:
    """`< 0.3`, `>= 0.8`, `< 250ms`. Raises ValueError with a hint."""
    m = _CONDITION.match(text)
    if m is None:
        raise ValueError(
            f'not a condition: {text!r} (write it as an operator and a number, e.g. "< 0.3")'
        )
    return Condition(_op(m.group(1)), _value(m.group(2), text)[0])


def parse_shorthand(text: str) -> tuple[Aggregation, Condition]:
    """`p(95)<200ms` -> (p95, < 0.2). Raises ValueError with a hint."""
    e = parse_expression(text)
    if e.method is None:
        raise ValueError(f"{text!r} names no aggregation (e.g. p(95)<200ms)")
    return Aggregation.parse(e.method), e.condition


def is_shorthand(text: str) -> bool:
    return _CONDITION.match(text) is None and _SHORTHAND.match(text) is not None
