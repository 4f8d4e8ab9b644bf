"""The k6-style `thresholds:` block of a budget file: metric -> expressions, where k6's own
metric names mean what they mean in k6 (budgets/k6.py) and any other name is a Castiel
selector. Each expression becomes one budget named after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from typing import Any

from yaml.nodes import MappingNode, Node

from budgets.aggregations import Aggregation
from budgets.k6 import is_k6_metric, parse_metric_name, translate
from budgets.model import Budget, Level
from budgets.selectors import Selector, parse_selector
from budgets.shorthand import parse_expression
from budgets.spec_fields import BudgetContext, Defaults, check_unit, ramp_fields
from collectors.yamlspec import Invalid

_K6_OBJECT_KEYS = ("threshold", "abortOnFail", "delayAbortEval")


def thresholds_block(ctx: BudgetContext, node: Node, defaults: Defaults) -> Iterator[Budget]:
    """`thresholds:` as in k6: metric -> expressions (strings, or objects with `threshold`,
    `abortOnFail`, `delayAbortEval`). k6's metric names map to Locust's series
    (budgets/k6.py); any other name is a Castiel selector."""
    for metric, (knode, vnode) in ctx.mapping(node, "thresholds", ()).items():
        path = f"thresholds.{metric}"
        try:
            k6 = is_k6_metric(metric)
            selector = None if k6 else ctx.parse_text(knode, path, parse_selector)
            if k6:
                ctx.attempt(knode, path, partial(parse_metric_name, metric))
            entries = ctx.one_or_more(vnode, path)
        except Invalid:
            continue
        for i, entry in enumerate(entries):
            with contextlib.suppress(Invalid):
                yield _k6_budget(ctx, metric, selector, entry, f"{path}[{i}]", defaults)


def _k6_budget(
    ctx: BudgetContext,
    metric: str,
    selector: Selector | None,
    entry: Node,
    path: str,
    defaults: Defaults,
) -> Budget:
    abort, delay = False, None
    tnode = entry
    if isinstance(entry, MappingNode):
        m = ctx.mapping(entry, path, _K6_OBJECT_KEYS)
        if "threshold" not in m:
            raise ctx.error(entry, f"{path}.threshold", "missing threshold", 'e.g. "p(95)<500"')
        tnode = m["threshold"][1]
        if "abortOnFail" in m:
            abort = ctx.boolean(m["abortOnFail"][1], f"{path}.abortOnFail")
        if "delayAbortEval" in m and ctx.scalar(m["delayAbortEval"][1], path) is not None:
            delay = ctx.positive_seconds(m["delayAbortEval"][1], f"{path}.delayAbortEval")
    text = ctx.text(tnode, path)
    expr = ctx.attempt(tnode, path, partial(parse_expression, text))
    if selector is None:  # a k6 metric name
        tr = ctx.attempt(tnode, path, partial(translate, metric, expr))
        parts: dict[str, Any] = {
            "selector": tr.selector,
            "aggregation": tr.aggregation,
            "cond": tr.condition,
            "denominator": tr.denominator,
            "run_scenario": tr.run_scenario,
        }
    else:
        if expr.method is None:
            raise ctx.error(tnode, path, f"{text!r} names no aggregation", 'e.g. "p(95)<200ms"')
        agg = ctx.attempt(tnode, path, partial(Aggregation.parse, expr.method))
        if agg.kind.denominator:
            raise ctx.error(tnode, path, f"{agg} needs a denominator", "use the long form")
        if expr.bare:
            check_unit(ctx, tnode, path, selector, agg, expr.condition)
        parts = {"selector": selector, "aggregation": agg, "cond": expr.condition}
    cond = parts.pop("cond")
    return Budget(
        name=f"{metric} {text}",
        thresholds=((Level.ABORT if abort else Level.FAIL, cond),),
        abort_after=delay,
        **parts,
        **ramp_fields(defaults.ramp_up),
        min_samples=defaults.min_samples,
        on_missing=defaults.on_missing,
        scope=defaults.scope,
        group_by=defaults.group_by,
        location=ctx.location(tnode),
    )
