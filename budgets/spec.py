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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode

from budgets.lhci import is_lighthouse_budget, parse_lighthouse_budgets
from budgets.model import (
    INTERVAL_PLACEHOLDER,
    THRESHOLD_LEVELS,
    AggKind,
    Aggregation,
    BaselineRef,
    BaselineSpec,
    Budget,
    BudgetFile,
    Condition,
    Level,
    Location,
    MissingPolicy,
    PromQLExpr,
    PromQLKind,
    Scope,
    parse_number,
)
from budgets.selectors import Matcher, Selector, label_matcher, parse_selector
from budgets.shorthand import is_shorthand, parse_condition, parse_shorthand
from collectors.yamlspec import Invalid, SpecContext, SpecError, SpecIssue, compose, read_text
from runtime.durations import parse_duration

T = TypeVar("T")
SUPPORTED_VERSIONS = (1,)


class BudgetSpecError(SpecError):
    """One or more problems in a budget file; `str()` is the first, `issues` has them all."""


@dataclass
class _Ctx(SpecContext):
    def quote_hint(self, key: str) -> str:
        return f'quote it: {key}: "..."'  # budget files have always named the whole key path

    def location(self, node: Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)


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
    ctx = _Ctx(filename)
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
        defaults = _defaults(ctx, top["defaults"][1]) if "defaults" in top else _Defaults()
        if "budgets" in top:
            for i, node in enumerate(ctx.items(top["budgets"][1], "budgets")):
                with contextlib.suppress(Invalid):
                    budgets.append(_budget(ctx, node, f"budgets[{i}]", defaults))
        if "thresholds" in top:
            budgets.extend(_k6_thresholds(ctx, top["thresholds"][1], defaults))
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


SPAWN_PHASE = "spawning_complete"
_SPAWN_WORDS = ("spawn", "spawned", "spawning", "spawning_complete")


@dataclass(frozen=True)
class _Defaults:
    ramp_up: float | str = 0.0
    min_samples: int = 1
    on_missing: MissingPolicy = MissingPolicy.FAIL
    scope: Scope = field(default_factory=Scope)
    group_by: tuple[str, ...] = ()


_DEFAULT_KEYS = ("ramp_up", "min_samples", "on_missing", "scope", "group_by")


def _defaults(ctx: _Ctx, node: Node) -> _Defaults:
    m = ctx.mapping(node, "defaults", _DEFAULT_KEYS)
    d = _Defaults()
    for name, (_, v) in m.items():
        key = f"defaults.{name}"
        with contextlib.suppress(Invalid):
            d = replace(d, **{name: _COMMON[name](ctx, v, key)})
    return d


def _ramp_up(ctx: _Ctx, node: Node, key: str) -> float | str:
    """A duration, or `spawn`: exclude everything until the load generator reports that all
    users have spawned (the run's real phase, not a guess)."""
    value = ctx.scalar(node, key)
    if isinstance(value, str) and value.strip().lower() in _SPAWN_WORDS:
        return SPAWN_PHASE
    return ctx.convert(node, key, parse_duration, "a duration such as 30s or 2m, or spawn")


def _ramp_fields(value: float | str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"ramp_up": 0.0, "ramp_up_phase": value}
    return {"ramp_up": value}


def _min_samples(ctx: _Ctx, node: Node, key: str) -> int:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"expected a whole number >= 0, got {value!r}")
        return value

    return ctx.convert(node, key, check)


def _on_missing(ctx: _Ctx, node: Node, key: str) -> MissingPolicy:
    return ctx.convert(
        node, key, lambda v: MissingPolicy(str(v).lower()), "one of: fail, warn, pass"
    )


def _scope(ctx: _Ctx, node: Node, key: str) -> Scope:
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
        window = _positive_duration(ctx, m["window"][1], f"{key}.window")
    if "for" in m:
        sustained = _positive_duration(ctx, m["for"][1], f"{key}.for")
    return Scope(window, sustained)


def _positive_duration(ctx: _Ctx, node: Node, key: str) -> float:
    seconds = ctx.convert(node, key, parse_duration, "a duration such as 30s or 2m")
    if seconds <= 0:
        raise ctx.error(node, key, "must be longer than 0")
    return seconds


_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _group_by(ctx: _Ctx, node: Node, key: str) -> tuple[str, ...]:
    nodes = ctx.one_or_more(node, key)
    out = []
    for n in nodes:
        label = ctx.text(n, key)
        if not _LABEL_NAME.match(label):
            raise ctx.error(n, key, f"{label!r} is not a label name")
        out.append(label)
    return tuple(out)


_COMMON: dict[str, Callable[[_Ctx, Node, str], Any]] = {
    "ramp_up": _ramp_up,
    "min_samples": _min_samples,
    "on_missing": _on_missing,
    "scope": _scope,
    "group_by": _group_by,
}

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
    *_DEFAULT_KEYS,
)


def _budget(ctx: _Ctx, node: Node, key: str, defaults: _Defaults) -> Budget:
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
    for opt, fn in _COMMON.items():
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
    for level_key, level in (
        ("threshold", Level.FAIL),
        *((lv.label, lv) for lv in THRESHOLD_LEVELS),
    ):
        if level_key not in m:
            continue
        vnode = m[level_key][1]
        path = f"{key}.{level_key}"
        try:
            agg, cond = _level_value(ctx, vnode, path)
        except Invalid:
            continue
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
        baseline = ctx.guard(lambda: _baseline(ctx, m["baseline"][1], f"{key}.baseline"))
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
        if aggregation.kind is AggKind.RATIO and not denominator:
            ctx.error(
                node,
                f"{key}.denominator",
                "ratio needs a denominator",
                "denominator: the selector of all events, e.g. castiel_http_requests_total",
            )
        if denominator and aggregation.kind is not AggKind.RATIO:
            ctx.error(m["denominator"][0], f"{key}.denominator", "only ratio uses a denominator")
    if promql is not None and aggregation is not None and len(ctx.issues) == start_issues:
        _check_promql_aggregation(ctx, m["promql"][1], f"{key}.promql", promql, aggregation)
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
        **{k: v for k, v in fields.items() if k != "ramp_up"},
        **_ramp_fields(fields["ramp_up"]),
    )


def _metric(ctx: _Ctx, m: dict[str, tuple[Node, Node]], node: Node, key: str) -> Selector:
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


def _promql(ctx: _Ctx, m: dict[str, tuple[Node, Node]], name: str, key: str) -> PromQLExpr:
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
    ctx: _Ctx, node: Node, key: str, promql: PromQLExpr, agg: Aggregation
) -> None:
    if agg.kind is AggKind.RATIO:
        ctx.error(
            node,
            key,
            "ratio needs two selectors; a promql: budget has one expression",
            "compute the ratio in PromQL (a / b) and use aggregation: max, avg or last",
        )
    elif agg.kind is AggKind.RATE and promql.kind is PromQLKind.GAUGE:
        ctx.error(
            node,
            key,
            "rate is not defined for a gauge expression (readings, not events)",
            "use rate() inside the expression and max/avg/last here, or kind: counter",
        )
    elif agg.kind is AggKind.LAST and promql.kind is PromQLKind.HISTOGRAM:
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


def _labels(ctx: _Ctx, node: Node, key: str) -> tuple[tuple[str, Matcher], ...]:
    out: list[tuple[str, Matcher]] = []
    for label, (knode, vnode) in ctx.mapping(node, key, ()).items():
        path = f"{key}.{label}"
        if not _LABEL_NAME.match(label):
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


def _denominator(ctx: _Ctx, node: Node, key: str) -> tuple[Selector, ...]:
    nodes = ctx.one_or_more(node, key)
    return tuple(ctx.parse_text(n, key, parse_selector) for n in nodes)


def _level_value(ctx: _Ctx, node: Node, key: str) -> tuple[Aggregation | None, Condition]:
    value = ctx.scalar(node, key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ctx.error(
            node,
            key,
            "a bare number does not say which side is bad",
            f'write "< {value}" (must stay below) or "> {value}" (must stay above)',
        )
    text = ctx.text(node, key)
    if is_shorthand(text):
        agg, cond = ctx.attempt(node, key, partial(parse_shorthand, text))
        return agg, cond
    return None, ctx.attempt(node, key, partial(parse_condition, text))


def _check_directions(
    ctx: _Ctx, node: Node, key: str, thresholds: list[tuple[Level, Condition]]
) -> None:
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


_BASELINE_KEYS = (
    "against",
    "max_regression",
    "alpha",
    "chunk",
    "min_chunks",
    "on_regression",
    "on_inconclusive",
    "worse",
)


def _baseline(ctx: _Ctx, node: Node, key: str) -> BaselineSpec:
    if isinstance(node, ScalarNode):
        value = ctx.scalar(node, key)
        if value is True:
            return BaselineSpec()
        raise ctx.error(node, key, "expected true or a mapping", "baseline: {max_regression: 10%}")
    m = ctx.mapping(node, key, _BASELINE_KEYS)
    spec = BaselineSpec()
    for name, (_, v) in m.items():
        path = f"{key}.{name}"
        with contextlib.suppress(Invalid):
            spec = replace(spec, **_baseline_field(ctx, name, v, path))
    return spec


def _baseline_field(ctx: _Ctx, name: str, node: Node, path: str) -> dict[str, Any]:
    match name:
        case "against":
            ref = ctx.text(node, path)
            if ref in ("last_passing", "last-passing"):
                return {"ref": BaselineRef.LAST_PASSING, "name": None}
            return {"ref": BaselineRef.NAMED, "name": ref}
        case "max_regression":
            return {"max_regression": ctx.convert(node, path, _non_negative, "e.g. 10%")}
        case "alpha":
            return {"alpha": ctx.convert(node, path, _probability, "e.g. 0.05")}
        case "chunk":
            return {"chunk": _positive_duration(ctx, node, path)}
        case "min_chunks":
            n = _min_samples(ctx, node, path)
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


def _k6_thresholds(ctx: _Ctx, node: Node, defaults: _Defaults) -> Iterator[Budget]:
    for metric, (knode, vnode) in ctx.mapping(node, "thresholds", ()).items():
        path = f"thresholds.{metric}"
        try:
            selector = ctx.parse_text(knode, path, parse_selector)
            texts = ctx.one_or_more(vnode, path)
        except Invalid:
            continue
        for tnode in texts:
            try:
                text = ctx.text(tnode, path)
                agg, cond = ctx.attempt(tnode, path, partial(parse_shorthand, text))
                if agg.kind is AggKind.RATIO:
                    raise ctx.error(tnode, path, "ratio needs a denominator", "use the long form")
            except Invalid:
                continue
            yield Budget(
                name=f"{metric} {text}",
                selector=selector,
                aggregation=agg,
                thresholds=((Level.FAIL, cond),),
                **_ramp_fields(defaults.ramp_up),
                min_samples=defaults.min_samples,
                on_missing=defaults.on_missing,
                scope=defaults.scope,
                group_by=defaults.group_by,
                location=ctx.location(tnode),
            )


def _check_unique(ctx: _Ctx, budgets: list[Budget]) -> None:
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
