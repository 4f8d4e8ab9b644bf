"""The parts of a budget file that are not the budget itself: the validation context, the
fields every budget may set and `defaults:` may default (ramp-up, min_samples, on_missing,
scope, group_by), the `baseline:` mapping, and the unit rule for bare numbers. budgets.spec
reads whole files; budgets.spec_k6 reads the k6 `thresholds:` block."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from yaml.nodes import Node, ScalarNode

from budgets.aggregations import Aggregation
from budgets.k6 import bare_seconds_hint
from budgets.model import (
    BaselineRef,
    BaselineSpec,
    Condition,
    Level,
    Location,
    MissingPolicy,
    Scope,
    parse_number,
)
from budgets.selectors import Selector
from budgets.units import Unit, unit_of
from collectors.yamlspec import Invalid, SpecContext
from runtime.durations import parse_duration


@dataclass
class BudgetContext(SpecContext):
    def quote_hint(self, key: str) -> str:
        return f'quote it: {key}: "..."'  # budget files have always named the whole key path

    def location(self, node: Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)


SPAWN_PHASE = "spawning_complete"
_SPAWN_WORDS = ("spawn", "spawned", "spawning", "spawning_complete")


@dataclass(frozen=True)
class Defaults:
    ramp_up: float | str = 0.0
    min_samples: int = 1
    on_missing: MissingPolicy = MissingPolicy.FAIL
    scope: Scope = field(default_factory=Scope)
    group_by: tuple[str, ...] = ()


DEFAULT_KEYS = ("ramp_up", "min_samples", "on_missing", "scope", "group_by")


def read_defaults(ctx: BudgetContext, node: Node) -> Defaults:
    m = ctx.mapping(node, "defaults", DEFAULT_KEYS)
    d = Defaults()
    for name, (_, v) in m.items():
        key = f"defaults.{name}"
        with contextlib.suppress(Invalid):
            d = replace(d, **{name: COMMON[name](ctx, v, key)})
    return d


def ramp_up_value(ctx: BudgetContext, node: Node, key: str) -> float | str:
    """A duration, or `spawn`: exclude everything until the load generator reports that all
    users have spawned (the run's real phase, not a guess)."""
    value = ctx.scalar(node, key)
    if isinstance(value, str) and value.strip().lower() in _SPAWN_WORDS:
        return SPAWN_PHASE
    return ctx.convert(node, key, parse_duration, "a duration such as 30s or 2m, or spawn")


def ramp_fields(value: float | str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"ramp_up": 0.0, "ramp_up_phase": value}
    return {"ramp_up": value}


def min_samples(ctx: BudgetContext, node: Node, key: str) -> int:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"expected a whole number >= 0, got {value!r}")
        return value

    return ctx.convert(node, key, check)


def on_missing_policy(ctx: BudgetContext, node: Node, key: str) -> MissingPolicy:
    return ctx.convert(
        node, key, lambda v: MissingPolicy(str(v).lower()), "one of: fail, warn, pass"
    )


def scope_value(ctx: BudgetContext, node: Node, key: str) -> Scope:
    if isinstance(node, ScalarNode):
        value = ctx.scalar(node, key)
        if value in ("run", "whole_run", "whole-run"):
            return Scope()
        raise ctx.error(
            node, key, f"unknown scope {value!r}", 'use "run", {window: 1m} or {for: 2m}'
        )
    m = ctx.mapping(node, key, ("window", "for"))
    window = sustained = None
    if "window" in m:
        window = ctx.positive_seconds(m["window"][1], f"{key}.window")
    if "for" in m:
        sustained = ctx.positive_seconds(m["for"][1], f"{key}.for")
    return Scope(window, sustained)


LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def group_by_value(ctx: BudgetContext, node: Node, key: str) -> tuple[str, ...]:
    nodes = ctx.one_or_more(node, key)
    out = []
    for n in nodes:
        label = ctx.text(n, key)
        if not LABEL_NAME.match(label):
            raise ctx.error(n, key, f"{label!r} is not a label name")
        out.append(label)
    return tuple(out)


COMMON: dict[str, Callable[[BudgetContext, Node, str], Any]] = {
    "ramp_up": ramp_up_value,
    "min_samples": min_samples,
    "on_missing": on_missing_policy,
    "scope": scope_value,
    "group_by": group_by_value,
}


def check_unit(
    ctx: BudgetContext, node: Node, key: str, selector: Selector, agg: Aggregation, cond: Condition
) -> None:
    """A bare number on a metric in seconds is ambiguous (k6 habits say milliseconds,
    Prometheus says seconds): refuse it with a hint rather than guess."""
    if cond.value != 0 and unit_of(selector.name.pattern, agg) is Unit.SECONDS:
        ctx.error(
            node,
            key,
            f"a bare number on {selector.name.pattern} (seconds) is ambiguous",
            bare_seconds_hint(cond.value),
        )


BASELINE_KEYS = (
    "against",
    "max_increase",
    "max_regression",
    "alpha",
    "fdr",
    "chunk",
    "min_chunks",
    "on_regression",
    "on_inconclusive",
    "worse",
)


def baseline_spec(ctx: BudgetContext, node: Node, key: str) -> BaselineSpec:
    if isinstance(node, ScalarNode):
        value = ctx.scalar(node, key)
        if value is True:
            return BaselineSpec()
        raise ctx.error(node, key, "expected true or a mapping", "baseline: {max_increase: 10%}")
    m = ctx.mapping(node, key, BASELINE_KEYS)
    if "max_increase" in m and "max_regression" in m:
        raise ctx.error(
            m["max_regression"][0],
            f"{key}.max_regression",
            "give max_increase or its old name max_regression, not both",
        )
    spec = BaselineSpec()
    for name, (_, v) in m.items():
        path = f"{key}.{name}"
        with contextlib.suppress(Invalid):
            spec = replace(spec, **_baseline_field(ctx, name, v, path))
    return spec


def _baseline_field(ctx: BudgetContext, name: str, node: Node, path: str) -> dict[str, Any]:
    match name:
        case "against":
            ref = ctx.text(node, path)
            if ref in ("last_passing", "last-passing"):
                return {"ref": BaselineRef.LAST_PASSING, "name": None}
            return {"ref": BaselineRef.NAMED, "name": ref}
        case "max_increase" | "max_regression":  # max_regression: the name before 2026-12
            return {"max_increase": ctx.convert(node, path, _non_negative, "e.g. 10%")}
        case "alpha":
            return {"alpha": ctx.convert(node, path, _probability, "e.g. 0.05")}
        case "fdr":
            return {"fdr": ctx.convert(node, path, _probability, "e.g. 5%")}
        case "chunk":
            return {"chunk": ctx.positive_seconds(node, path)}
        case "min_chunks":
            n = min_samples(ctx, node, path)
            if n < 2:
                raise ctx.error(node, path, "needs at least 2 chunks for a test")
            return {"min_chunks": n}
        case "on_regression" | "on_inconclusive":
            level = ctx.convert(node, path, lambda v: Level.parse(str(v)), "pass, warn or fail")
            if level is Level.ABORT or (name == "on_regression" and level is Level.PASS):
                raise ctx.error(node, path, f"{level.label} is not allowed here", "warn or fail")
            return {name: level}
        case "worse":
            worse = ctx.text(node, path)
            if worse not in ("higher", "lower"):
                raise ctx.error(node, path, f"{worse!r} is not higher or lower")
            return {"higher_is_worse": worse == "higher"}
    raise AssertionError(name)


def _non_negative(value: Any) -> float:
    number = parse_number(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _probability(value: Any) -> float:
    number = parse_number(value)
    if not 0 < number < 1:
        raise ValueError("must be between 0 and 1")
    return number
