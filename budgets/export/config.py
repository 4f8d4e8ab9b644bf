"""The `oncall:` section of castiel.yaml: how budgets become production alerts.

    oncall:
      window: 5m              # budgets that judge a whole run: the trailing window in production
      period: 30d             # error-budget period of burn-rate alerts (per budget below)
      burn_rate: true         # false: threshold alerts only
      burn_windows:           # default: the Google SRE workbook's three
        - {long: 1h, short: 5m, consumed: 2%, notify: page}
        - {long: 6h, short: 30m, consumed: 5%, notify: page}
        - {long: 3d, short: 6h, consumed: 10%, notify: ticket}
      budgets:
        api-error-rate: {period: 28d}
      metrics:                # what a budget file cannot say about a metric
        castiel_db_query_duration_seconds:
          kind: histogram
          buckets: [0.001, 0.005, 0.025, 0.05, 0.1]

Every problem is located (file:line:column, key) like the rest of castiel.yaml."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from budgets.export.catalogue import Catalogue, MetricInfo
from budgets.export.options import BurnWindow, ExportOptions
from budgets.model import Level, parse_number
from collectors.model import MetricKind
from collectors.yamlspec import Invalid, SpecContext, SpecError, compose
from runtime.durations import EXAMPLES, parse_duration
from runtime.errors import ConfigError

SECTION = "oncall"
KEYS = ("window", "period", "burn_rate", "burn_windows", "budgets", "metrics")
_NOTIFY = {"page": Level.FAIL, "ticket": Level.WARN}


class OncallConfigError(SpecError, ConfigError):
    """Problems in castiel.yaml's `oncall:` section; exit 2."""


def parse_oncall(text: str, filename: str = "castiel.yaml") -> ExportOptions:
    """The options of castiel.yaml's `oncall:` section (the defaults when there is none).
    Raises OncallConfigError."""
    root, problem = compose(text, filename)
    if problem is not None:
        raise OncallConfigError([problem])
    if not isinstance(root, MappingNode):
        return ExportOptions()
    node = next((v for k, v in root.value if getattr(k, "value", None) == SECTION), None)
    if node is None:
        return ExportOptions()
    ctx = SpecContext(filename)
    options = ExportOptions()
    with contextlib.suppress(Invalid):
        options = _section(ctx, node)
    if ctx.issues:
        raise OncallConfigError(ctx.issues)
    return options


def _duration(ctx: SpecContext, node: Node, key: str) -> float:
    seconds = ctx.convert(node, key, parse_duration, EXAMPLES)
    if seconds <= 0:
        raise ctx.error(node, key, "must be longer than 0")
    return seconds


def _section(ctx: SpecContext, node: Node) -> ExportOptions:
    m = ctx.mapping(node, SECTION, KEYS)
    out: dict[str, Any] = {}
    g = ctx.guard
    for key in ("window", "period"):
        if key in m:
            out[key] = g(_duration, ctx, m[key][1], f"{SECTION}.{key}")
    if "burn_rate" in m:
        out["burn_rate"] = g(ctx.boolean, m["burn_rate"][1], f"{SECTION}.burn_rate")
    if "burn_windows" in m:
        out["burn_windows"] = g(_burn_windows, ctx, m["burn_windows"][1])
    if "budgets" in m:
        out["periods"] = g(_periods, ctx, m["budgets"][1])
    if "metrics" in m:
        extra = g(_metrics, ctx, m["metrics"][1])
        if extra is not None:
            out["catalogue"] = Catalogue.builtin(extra)
    if ctx.issues:
        raise Invalid()
    return replace(ExportOptions(), **{k: v for k, v in out.items() if v is not None})


def _burn_windows(ctx: SpecContext, node: Node) -> tuple[BurnWindow, ...]:
    key = f"{SECTION}.burn_windows"
    out = []
    for i, item in enumerate(ctx.items(node, key)):
        k = f"{key}[{i}]"
        m = ctx.mapping(item, k, ("long", "short", "consumed", "notify"))
        missing = [name for name in ("long", "short", "consumed") if name not in m]
        if missing:
            raise ctx.error(
                item, k, f"missing {', '.join(missing)}", "{long: 1h, short: 5m, consumed: 2%}"
            )
        long = _duration(ctx, m["long"][1], f"{k}.long")
        short = _duration(ctx, m["short"][1], f"{k}.short")
        if short >= long:
            raise ctx.error(m["short"][1], f"{k}.short", "must be shorter than long")
        consumed = ctx.convert(m["consumed"][1], f"{k}.consumed", parse_number, "e.g. 2%")
        if not 0 < consumed <= 1:
            raise ctx.error(m["consumed"][1], f"{k}.consumed", "must be between 0 and 100%")
        level = Level.FAIL
        if "notify" in m:
            notify = ctx.text(m["notify"][1], f"{k}.notify")
            if notify not in _NOTIFY:
                raise ctx.error(
                    m["notify"][1], f"{k}.notify", f"unknown {notify!r}", "page or ticket"
                )
            level = _NOTIFY[notify]
        out.append(BurnWindow(long, short, consumed, level))
    if not out:
        raise ctx.error(node, key, "no windows", "give at least one, or burn_rate: false")
    return tuple(out)


def _periods(ctx: SpecContext, node: Node) -> dict[str, float]:
    key = f"{SECTION}.budgets"
    out = {}
    for name, (_, vnode) in ctx.mapping(node, key).items():
        m = ctx.mapping(vnode, f"{key}.{name}", ("period",))
        if "period" in m:
            out[name] = _duration(ctx, m["period"][1], f"{key}.{name}.period")
    return out


def _metrics(ctx: SpecContext, node: Node) -> Mapping[str, MetricInfo]:
    key = f"{SECTION}.metrics"
    out = {}
    for name, (_, vnode) in ctx.mapping(node, key).items():
        k = f"{key}.{name}"
        m = ctx.mapping(vnode, k, ("kind", "buckets"))
        if "kind" not in m:
            raise ctx.error(vnode, f"{k}.kind", "missing", "histogram, counter or gauge")
        kind = ctx.convert(m["kind"][1], f"{k}.kind", lambda v: MetricKind(str(v).lower()))
        buckets: tuple[float, ...] = ()
        if "buckets" in m:
            if kind is not MetricKind.HISTOGRAM:
                raise ctx.error(m["buckets"][0], f"{k}.buckets", "only histograms have buckets")
            buckets = _buckets(ctx, m["buckets"][1], f"{k}.buckets")
        out[name] = MetricInfo(name, kind, buckets)
    return out


def _buckets(ctx: SpecContext, node: Node, key: str) -> tuple[float, ...]:
    nodes = [node] if isinstance(node, ScalarNode) else ctx.items(node, key)
    values = [
        ctx.convert(n, key, parse_number, "upper bounds in seconds, e.g. 0.25") for n in nodes
    ]
    if values != sorted(set(values)):
        raise ctx.error(node, key, "bucket bounds must be distinct and ascending")
    return tuple(values)
