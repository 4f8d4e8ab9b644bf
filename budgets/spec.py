"""Budget files: YAML -> `BudgetFile`, with every error located (file:line:column, key path)
and a hint. PyYAML's node tree keeps the marks, so values are validated straight off nodes.

Layout of a file (docs/budgets.md has the full guide):

    version: 1
    defaults: {ramp_up: 30s, min_samples: 50, on_missing: fail}
    budgets:
      - name: api-latency
        metric: castiel_http_request_duration_seconds{route=*"/api/*"}
        aggregation: p95
        warn: "< 200ms"
        fail: "< 300ms"
        group_by: [route]
      - name: checkout-p95            # or name a PromQL expression (a Prometheus source
        promql: histogram_quantile(0.95, sum by (le) (rate(x_bucket{route="/checkout"}[1m])))
        aggregation: max              #  in castiel.yaml evaluates it at every collection)
        fail: "< 300ms"
    thresholds:                       # k6 form: each string is one fail-level budget
      castiel_db_query_duration_seconds: ["p(95)<50ms"]
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode

from budgets.aggregations import AGGREGATIONS, LAST, RATE, Aggregation
from budgets.lhci import is_lighthouse_budget, parse_lighthouse_budgets
from budgets.model import (
    INTERVAL_PLACEHOLDER,
    THRESHOLD_LEVELS,
    Budget,
    BudgetFile,
    Condition,
    Level,
    Location,
    PromQLExpr,
    PromQLKind,
)
from budgets.selectors import Matcher, Selector, label_matcher, parse_selector
from budgets.shorthand import parse_expression
from budgets.spec_fields import (
    COMMON,
    DEFAULT_KEYS,
    LABEL_NAME,
    BudgetContext,
    Defaults,
    baseline_spec,
    check_unit,
    ramp_fields,
    read_defaults,
)
from budgets.spec_k6 import thresholds_block
from collectors.yamlspec import Invalid, SpecError, SpecIssue, compose, read_text

T = TypeVar("T")
SUPPORTED_VERSIONS = (1,)


class BudgetSpecError(SpecError):
    """One or more problems in a budget file; `str()` is the first, `issues` has them all."""


def load_budget_file(path: str | Path) -> BudgetFile:
    """Read and validate a budget file (Castiel YAML, or Lighthouse CI's budget.json). Raises
    BudgetSpecError (never anything else for bad content; OSError problems are reported the
    same way)."""
    p = Path(path)
    text = read_text(p)
    if isinstance(text, SpecIssue):
        raise BudgetSpecError([text])
    if is_lighthouse_budget(text):  # Lighthouse CI's budget.json, as is (budgets/lhci.py)
        try:
            return parse_lighthouse_budgets(text, str(p))
        except SpecError as exc:
            raise BudgetSpecError(exc.issues) from None
    return parse_budgets(text, str(p))


def parse_budgets(text: str, filename: str = "<budgets>") -> BudgetFile:
    ctx = BudgetContext(filename)
    root, problem = compose(text, filename)
    if problem is not None:
        raise BudgetSpecError([problem])
    if root is None:
        raise BudgetSpecError([SpecIssue(filename, 1, 1, "", "the file is empty", _EMPTY_HINT)])
    budgets: list[Budget] = []
    version = 1
    try:
        top = ctx.mapping(root, "", ("version", "defaults", "budgets", "thresholds"))
        if "version" in top:
            version = ctx.convert(top["version"][1], "version", _version)
        defaults = read_defaults(ctx, top["defaults"][1]) if "defaults" in top else Defaults()
        if "budgets" in top:
            for i, node in enumerate(ctx.items(top["budgets"][1], "budgets")):
                with contextlib.suppress(Invalid):
                    budgets.append(_budget(ctx, node, f"budgets[{i}]", defaults))
        if "thresholds" in top:
            budgets.extend(thresholds_block(ctx, top["thresholds"][1], defaults))
        if not budgets and not ctx.issues:
            raise ctx.error(root, "budgets", "no budgets defined", _EMPTY_HINT)
    except Invalid:
        pass
    except RecursionError:
        ctx.issues.append(SpecIssue(filename, 0, 0, "", "the document is nested too deeply"))
    _check_unique(ctx, budgets)
    if ctx.issues:
        ctx.issues.sort(key=lambda i: (i.line, i.column))
        raise BudgetSpecError(ctx.issues)
    return BudgetFile(filename, tuple(budgets), version)


_EMPTY_HINT = "add a 'budgets:' list; see docs/budgets.md"


def _version(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported version {value!r}; this Castiel reads version 1")
    return value


_BUDGET_KEYS = (
    "name",
    "description",
    "metric",
    "promql",
    "labels",
    "aggregation",
    "threshold",
    "warn",
    "fail",
    "abort",
    "denominator",
    "baseline",
    "abort_after",
    *DEFAULT_KEYS,
)


def _budget(ctx: BudgetContext, node: Node, key: str, defaults: Defaults) -> Budget:
    m = ctx.mapping(node, key, _BUDGET_KEYS)
    start_issues = len(ctx.issues)
    name = key
    if "name" in m:
        name = ctx.text(m["name"][1], f"{key}.name")
        key = f"{key}({name})"
    else:
        ctx.error(node, f"{key}.name", "missing name", "every budget needs a unique name")
    fields: dict[str, Any] = {
        "ramp_up": defaults.ramp_up,
        "min_samples": defaults.min_samples,
        "on_missing": defaults.on_missing,
        "scope": defaults.scope,
        "group_by": defaults.group_by,
    }
    for opt, fn in COMMON.items():
        if opt in m:
            with contextlib.suppress(Invalid):
                fields[opt] = fn(ctx, m[opt][1], f"{key}.{opt}")
    promql: PromQLExpr | None = None
    if "promql" in m:
        promql = ctx.guard(lambda: _promql(ctx, m, name, key))
        selector = Selector(Matcher.exact(promql.series)) if promql is not None else None
    else:
        selector = ctx.guard(lambda: _metric(ctx, m, node, key))
    aggregation: Aggregation | None = None
    if "aggregation" in m:
        aggregation = ctx.guard(
            lambda: ctx.parse_text(m["aggregation"][1], f"{key}.aggregation", Aggregation.parse)
        )
    thresholds: list[tuple[Level, Condition]] = []
    bare: list[tuple[Node, str, Condition]] = []
    for level_key, level in (
        ("threshold", Level.FAIL),
        *((lv.label, lv) for lv in THRESHOLD_LEVELS),
    ):
        if level_key not in m:
            continue
        vnode = m[level_key][1]
        path = f"{key}.{level_key}"
        try:
            agg, cond, is_bare = _level_value(ctx, vnode, path)
        except Invalid:
            continue
        if is_bare:
            bare.append((vnode, path, cond))
        if agg is not None:
            if aggregation is not None and agg != aggregation:
                ctx.error(
                    vnode,
                    path,
                    f"{agg} conflicts with aggregation {aggregation}",
                    "use one aggregation per budget",
                )
                continue
            aggregation = agg
        if any(lv is level for lv, _ in thresholds):
            ctx.error(vnode, path, f"{level.label} is given twice (threshold means fail)")
            continue
        thresholds.append((level, cond))
    thresholds.sort(key=lambda t: t[0].value)
    baseline = None
    if "baseline" in m:
        baseline = ctx.guard(lambda: baseline_spec(ctx, m["baseline"][1], f"{key}.baseline"))
    denominator: tuple[Selector, ...] = ()
    if "denominator" in m:
        denominator = (
            ctx.guard(lambda: _denominator(ctx, m["denominator"][1], f"{key}.denominator")) or ()
        )
    if aggregation is None and len(ctx.issues) == start_issues:
        ctx.error(
            node,
            f"{key}.aggregation",
            "missing aggregation",
            'add e.g. aggregation: p95, or fail: "p(95)<0.3"',
        )
    if not thresholds and baseline is None and len(ctx.issues) == start_issues:
        ctx.error(node, key, "no thresholds", "add warn:, fail: or abort: (or a baseline:)")
    _check_directions(ctx, node, key, thresholds)
    if aggregation is not None and len(ctx.issues) == start_issues:
        if aggregation.kind.denominator and not denominator:
            ctx.error(
                node,
                f"{key}.denominator",
                f"{aggregation} needs a denominator",
                "denominator: the selector of all events, e.g. castiel_http_requests_total",
            )
        if denominator and not aggregation.kind.denominator:
            users = " and ".join(k.name for k in AGGREGATIONS if k.denominator)
            ctx.error(m["denominator"][0], f"{key}.denominator", f"only {users} uses a denominator")
    if promql is not None and aggregation is not None and len(ctx.issues) == start_issues:
        _check_promql_aggregation(ctx, m["promql"][1], f"{key}.promql", promql, aggregation)
    if selector is not None and aggregation is not None:
        for vnode, path, cond in bare:
            check_unit(ctx, vnode, path, selector, aggregation, cond)
    abort_after = None
    if "abort_after" in m:
        abort_after = ctx.guard(
            lambda: ctx.positive_seconds(m["abort_after"][1], f"{key}.abort_after")
        )
    if len(ctx.issues) > start_issues or selector is None or aggregation is None:
        raise Invalid()
    return Budget(
        name=name,
        selector=selector,
        aggregation=aggregation,
        thresholds=tuple(thresholds),
        denominator=denominator,
        baseline=baseline,
        description=ctx.text(m["description"][1], f"{key}.description")
        if "description" in m
        else "",
        location=ctx.location(node),
        promql=promql,
        abort_after=abort_after,
        **{k: v for k, v in fields.items() if k != "ramp_up"},
        **ramp_fields(fields["ramp_up"]),
    )


def _metric(ctx: BudgetContext, m: dict[str, tuple[Node, Node]], node: Node, key: str) -> Selector:
    if "metric" not in m:
        raise ctx.error(
            node,
            f"{key}.metric",
            "missing metric",
            "metric: castiel_http_requests_total (or promql: an expression)",
        )
    selector = ctx.parse_text(m["metric"][1], f"{key}.metric", parse_selector)
    if "labels" in m:
        extra = _labels(ctx, m["labels"][1], f"{key}.labels")
        selector = Selector(selector.name, selector.labels + extra)
    return selector


PROMQL_SERIES_PREFIX = "castiel_promql:"
_PROMQL_KEYS = ("expr", "kind")
_SERIES_SAFE = re.compile(r"^[A-Za-z0-9_]+$")


def promql_series_name(budget: str) -> str:
    """The series a budget's PromQL expression is collected into: readable, a valid metric
    name, and distinct for distinct budget names (a hash is added when characters had to be
    replaced)."""
    if _SERIES_SAFE.match(budget):
        return PROMQL_SERIES_PREFIX + budget
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", budget).strip("_")[:60]
    digest = hashlib.sha256(budget.encode()).hexdigest()[:8]
    return f"{PROMQL_SERIES_PREFIX}{slug}_{digest}"


def _promql(ctx: BudgetContext, m: dict[str, tuple[Node, Node]], name: str, key: str) -> PromQLExpr:
    knode, vnode = m["promql"]
    path = f"{key}.promql"
    if "metric" in m:
        raise ctx.error(knode, path, "give metric: or promql:, not both")
    if "labels" in m:
        raise ctx.error(
            m["labels"][0],
            f"{key}.labels",
            "labels: narrows a metric: selector; a promql: budget has none",
            "put the label matchers inside the PromQL expression",
        )
    kind = PromQLKind.GAUGE
    expr_node = vnode
    if isinstance(vnode, MappingNode):
        spec = ctx.mapping(vnode, path, _PROMQL_KEYS)
        if "expr" not in spec:
            raise ctx.error(vnode, f"{path}.expr", "missing expr", "expr: a PromQL expression")
        expr_node = spec["expr"][1]
        path_expr = f"{path}.expr"
        if "kind" in spec:
            kind = ctx.convert(spec["kind"][1], f"{path}.kind", _promql_kind)
    else:
        path_expr = path
    expr = ctx.text(expr_node, path_expr).strip()
    ctx.attempt(expr_node, path_expr, partial(check_promql_syntax, expr))
    if kind is not PromQLKind.GAUGE and INTERVAL_PLACEHOLDER not in expr:
        raise ctx.error(
            expr_node,
            path_expr,
            f"a {kind.value} expression must measure the collection interval",
            f"write e.g. increase(x_total[{INTERVAL_PLACEHOLDER}]); Castiel substitutes it",
        )
    return PromQLExpr(expr, kind, promql_series_name(name))


def _promql_kind(value: Any) -> PromQLKind:
    try:
        return PromQLKind(str(value).lower())
    except ValueError:
        raise ValueError(f"unknown kind {value!r} (gauge, counter or histogram)") from None


def check_promql_syntax(expr: str) -> None:
    """What can be checked without a Prometheus server: text, closed strings, balanced
    brackets. The server checks the rest when the monitor starts (`castiel monitor`)."""
    if not expr:
        raise ValueError("the PromQL expression is empty")
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    escaped = False
    for i, c in enumerate(expr):
        if quote is not None:
            if escaped:
                escaped = False
            elif c == "\\" and quote != "`":
                escaped = True
            elif c == quote:
                quote = None
            continue
        if c in "\"'`":
            quote = c
        elif c == "#":
            break  # a PromQL comment runs to the end of the line
        elif c in "([{":
            stack.append((c, i))
        elif c in pairs:
            if not stack or stack[-1][0] != pairs[c]:
                raise ValueError(f"unbalanced {c!r} at character {i + 1} of the expression")
            stack.pop()
    if quote is not None:
        raise ValueError(f"unterminated string (opened with {quote}) in the expression")
    if stack:
        c, i = stack[-1]
        raise ValueError(f"{c!r} at character {i + 1} is never closed")


def _check_promql_aggregation(
    ctx: BudgetContext, node: Node, key: str, promql: PromQLExpr, agg: Aggregation
) -> None:
    if agg.kind.denominator:
        ctx.error(
            node,
            key,
            f"{agg} needs two selectors; a promql: budget has one expression",
            "compute the ratio in PromQL (a / b) and use aggregation: max, avg or last",
        )
    elif agg.kind is RATE and promql.kind is PromQLKind.GAUGE:
        ctx.error(
            node,
            key,
            "rate is not defined for a gauge expression (readings, not events)",
            "use rate() inside the expression and max/avg/last here, or kind: counter",
        )
    elif agg.kind is LAST and promql.kind is PromQLKind.HISTOGRAM:
        ctx.error(node, key, "last is not defined for a histogram expression", "use p95, avg")


_MATCH_KEYS = ("exact", "glob", "regex", "not", "not_glob", "not_regex")
_MATCH_OPS = {
    "exact": "=",
    "glob": "=*",
    "regex": "=~",
    "not": "!=",
    "not_glob": "!*",
    "not_regex": "!~",
}


def _labels(ctx: BudgetContext, node: Node, key: str) -> tuple[tuple[str, Matcher], ...]:
    out: list[tuple[str, Matcher]] = []
    for label, (knode, vnode) in ctx.mapping(node, key, ()).items():
        path = f"{key}.{label}"
        if not LABEL_NAME.match(label):
            ctx.error(knode, path, f"{label!r} is not a label name")
            continue
        try:
            if isinstance(vnode, ScalarNode):
                out.append((label, Matcher.exact(ctx.text(vnode, path))))
                continue
            spec = ctx.mapping(vnode, path, _MATCH_KEYS)
            if len(spec) != 1:
                raise ctx.error(vnode, path, "give exactly one of: " + ", ".join(_MATCH_KEYS))
            ((kind, (_, pnode)),) = spec.items()
            pattern = ctx.text(pnode, f"{path}.{kind}")
            out.append(
                (
                    label,
                    ctx.attempt(
                        pnode, f"{path}.{kind}", partial(label_matcher, _MATCH_OPS[kind], pattern)
                    ),
                )
            )
        except Invalid:
            continue
    return tuple(out)


def _denominator(ctx: BudgetContext, node: Node, key: str) -> tuple[Selector, ...]:
    nodes = ctx.one_or_more(node, key)
    return tuple(ctx.parse_text(n, key, parse_selector) for n in nodes)


def _level_value(
    ctx: BudgetContext, node: Node, key: str
) -> tuple[Aggregation | None, Condition, bool]:
    """(aggregation when written k6 style, condition, whether the number was bare)."""
    value = ctx.scalar(node, key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ctx.error(
            node,
            key,
            "a bare number does not say which side is bad",
            f'write "< {value}" (must stay below) or "> {value}" (must stay above)',
        )
    text = ctx.text(node, key)
    expr = ctx.attempt(node, key, partial(parse_expression, text))
    agg = None
    if expr.method is not None:
        agg = ctx.attempt(node, key, partial(Aggregation.parse, expr.method))
    return agg, expr.condition, expr.bare


def _check_directions(
    ctx: BudgetContext, node: Node, key: str, thresholds: list[tuple[Level, Condition]]
) -> None:
    thresholds = [(lv, c) for lv, c in thresholds if c.direction is not None]
    if len({c.higher_is_worse for _, c in thresholds}) > 1:
        ctx.error(
            node,
            key,
            "levels disagree on which side is bad",
            'use "<"/"<=" for every level (ceilings) or ">"/">=" for every level (floors)',
        )
        return
    for (la, ca), (lb, cb) in itertools.pairwise(thresholds):
        stricter = ca.value <= cb.value if ca.higher_is_worse else ca.value >= cb.value
        if not stricter:
            ctx.error(
                node,
                f"{key}.{lb.label}",
                f"{la.label} ({ca}) is looser than {lb.label} ({cb})",
                f"{la.label} must trigger before {lb.label}",
            )


def _check_unique(ctx: BudgetContext, budgets: list[Budget]) -> None:
    seen: set[str] = set()
    for b in budgets:
        if b.name in seen:
            loc = b.location or Location(ctx.file, 0, 0)
            ctx.issues.append(
                SpecIssue(
                    ctx.file,
                    loc.line,
                    loc.column,
                    b.name,
                    "duplicate budget name",
                    "names identify budgets in reports and baselines",
                )
            )
        seen.add(b.name)
