"""`sources.prometheus`: a Prometheus server, asked with PromQL (for fleets, where the
services are already scraped).

    prometheus:
      url: http://prometheus:9090
      match: 'job="shop"'                # label matchers added to every default query
      method: exact                      # or increase (server-side, for large fleets)
      window: 10s                        # shortest PromQL window: >= 2 scrape intervals
      headers: {Authorization: "Bearer ${PROMETHEUS_TOKEN}"}
      queries:                           # named PromQL expressions -> series
        checkout_5xx: 'sum(rate(castiel_http_requests_total{status=~"5.."}[$__interval]))'
        queue_lag: {expr: 'max(castiel_job_wait_seconds_sum)', kind: gauge}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node

from collectors.base import Collector
from collectors.promql import (
    DEFAULT_METRICS,
    DEFAULT_QUANTILES,
    CountMethod,
    NamedQuery,
    QueryKind,
    redact,
)
from collectors.sources.base import (
    BuildContext,
    CheckContext,
    SourceCheck,
    SourceContext,
    SourceKind,
    attempt,
    choice,
    http_url,
    positive_duration,
)
from collectors.yamlspec import Invalid

_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_MATCHERS = re.compile(
    r'^\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(?:,\s*|$))*$'
)


@dataclass(frozen=True)
class PrometheusSource:
    url: str
    timeout: float = 10.0
    match: str = ""
    metrics: str = DEFAULT_METRICS
    method: CountMethod = CountMethod.EXACT
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    error_status: str = "5.."
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    queries: tuple[NamedQuery, ...] = ()
    defaults: bool = True
    window: float = 10.0
    """Shortest PromQL window (rates, quantiles, server-side increases): >= 2 scrape intervals."""


def _matchers(text: str) -> str:
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    if not _MATCHERS.match(body):
        raise ValueError(
            f'{text!r} is not a list of label matchers (e.g. job="shop",env=~"prod.*")'
        )
    return body.strip().rstrip(",")


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"invalid regex {text!r}: {exc}") from None
    return text


def _quantile(text: str) -> float:
    q = float(text)
    if not 0 < q < 1:
        raise ValueError("quantiles are between 0 and 1 (0.95)")
    return q


def _parse(ctx: SourceContext, node: Node, key: str) -> PrometheusSource:
    m = ctx.mapping(node, key, tuple(_READERS))
    if "url" not in m:
        raise ctx.error(node, f"{key}.url", "missing url (http://prometheus:9090)")
    kw = {
        name: read(ctx, m[name][1], f"{key}.{name}") for name, read in _READERS.items() if name in m
    }
    return PrometheusSource(**kw)


def _text(check: Callable[[str], Any]) -> Callable[[SourceContext, Node, str], Any]:
    return lambda ctx, node, key: ctx.parse_text(node, key, check)


def _quantiles(ctx: SourceContext, node: Node, key: str) -> tuple[float, ...]:
    return tuple(
        ctx.parse_text(item, f"{key}[{i}]", _quantile)
        for i, item in enumerate(ctx.one_or_more(node, key))
    )


def _headers(ctx: SourceContext, node: Node, key: str) -> tuple[tuple[str, str], ...]:
    headers = ctx.mapping(node, key, ())
    return tuple((h, ctx.text(v, f"{key}.{h}")) for h, (_, v) in headers.items())


def _queries(ctx: SourceContext, node: Node, key: str) -> tuple[NamedQuery, ...]:
    out = []
    for name, (_, vnode) in ctx.mapping(node, key).items():
        path = f"{key}.{name}"
        try:
            if not _NAME.match(name):
                raise ctx.error(
                    vnode, path, f"{name!r} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
                )
            kind = QueryKind.GAUGE
            if isinstance(vnode, MappingNode):
                q = ctx.mapping(vnode, path, ("expr", "kind"))
                if "expr" not in q:
                    raise ctx.error(vnode, f"{path}.expr", "missing expr (a PromQL expression)")
                expr = ctx.text(q["expr"][1], f"{path}.expr")
                if "kind" in q:
                    kinds = choice(*(k.value for k in QueryKind))
                    kind = QueryKind(ctx.parse_text(q["kind"][1], f"{path}.kind", kinds))
            else:
                expr = ctx.text(vnode, path)
            out.append(NamedQuery(name, expr, kind))
        except Invalid:
            continue
    return tuple(out)


# Each key of the section and how its value is read.
_READERS: dict[str, Callable[[SourceContext, Node, str], Any]] = {
    "url": _text(http_url),
    "timeout": _text(positive_duration),
    "match": _text(_matchers),
    "metrics": _text(_regex),
    "method": lambda c, n, k: CountMethod(c.parse_text(n, k, choice("exact", "increase"))),
    "quantiles": _quantiles,
    "error_status": _text(_regex),
    "headers": _headers,
    "queries": _queries,
    "defaults": lambda c, n, k: c.flag(n, k),
    "window": _text(positive_duration),
}


def promql_collector(src: PrometheusSource) -> Any:
    from collectors.promql import PrometheusClient, PromQLCollector  # noqa: PLC0415

    return PromQLCollector(
        PrometheusClient(src.url, src.timeout, dict(src.headers)),
        matchers=src.match,
        metrics=src.metrics,
        method=src.method,
        quantiles=src.quantiles,
        error_status=src.error_status,
        queries=src.queries,
        defaults=src.defaults,
        min_window=src.window,
    )


def _build(src: PrometheusSource, ctx: BuildContext) -> list[Collector]:
    return [promql_collector(src)]


def _check(src: PrometheusSource, ctx: CheckContext) -> list[SourceCheck]:
    return [attempt("prometheus", redact(src.url), promql_collector(src).check)]


PROMETHEUS = SourceKind(
    "prometheus",
    PrometheusSource,
    _parse,
    _build,
    _check,
    secret_fields=("headers",),
    series_view=lambda src: "sources.prometheus" if src.defaults else None,
)
