"""The `sources:` section of `castiel.yaml`: where metrics come from, as typed dataclasses,
validated with file:line:column and key in every message; `${VAR}` (or `${VAR:-default}`)
takes a value from the environment, for secrets. Other top-level sections are left to their
own loaders.

    sources:
      redis:
        url: ${CASTIEL_REDIS_URL}          # redis://, rediss://, redis+cluster://
        queues: [orders, stock]            # default: every queue ever used
      scrape:
        endpoints: [http://127.0.0.1:8000/metrics]
        discover: true                     # also every worker heartbeat's metrics_url
        timeout: 2s
      prometheus:
        url: http://prometheus:9090
        match: 'job="shop"'                # label matchers added to every default query
        method: exact                      # or increase (server-side, for large fleets)
        window: 10s                        # shortest PromQL window: >= 2 scrape intervals
        headers: {Authorization: "Bearer ${PROMETHEUS_TOKEN}"}
        queries:                           # named PromQL expressions -> series
          checkout_5xx: 'sum(rate(castiel_http_requests_total{status=~"5.."}[$__interval]))'
          queue_lag: {expr: 'max(castiel_job_wait_seconds_sum)', kind: gauge}
      azure:
        workspace_id: ${AZURE_LOG_ANALYTICS_WORKSPACE}   # or resource_id: (classic schema)
        roles: [shop-api]
        on_partial: error                  # or no-data
        metrics:                           # platform metrics (azure-monitor-querymetrics)
          endpoint: https://westeurope.metrics.monitor.azure.com
          namespace: Microsoft.Cache/redis
          resources: [/subscriptions/.../Microsoft.Cache/Redis/cache1]
          names: [serverLoad, usedmemorypercentage]
          aggregation: Maximum

`build_collectors` turns the config into collectors; `check_sources` asks each source once
(what `castiel sources check` prints).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node, ScalarNode

from collectors import envrefs
from collectors.base import Collector, CollectorError
from collectors.promql import (
    DEFAULT_METRICS,
    DEFAULT_QUANTILES,
    CountMethod,
    NamedQuery,
    QueryKind,
    redact,
)
from collectors.yamlspec import Invalid, SpecContext, SpecError, SpecIssue, compose, read_text
from runtime.connection import RedisSettings
from runtime.durations import parse_duration
from runtime.errors import ConfigError
from runtime.redis_outage import REDIS_FAILED

_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_MATCHERS = re.compile(
    r'^\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(?:,\s*|$))*$'
)


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisSource:
    url: str
    queues: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScrapeSource:
    endpoints: tuple[str, ...] = ()
    discover: bool = False
    timeout: float = 2.0


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


@dataclass(frozen=True)
class AzureMetricsSource:
    endpoint: str
    namespace: str
    resources: tuple[str, ...]
    names: tuple[str, ...]
    aggregation: str = "Maximum"
    granularity: float = 60.0


@dataclass(frozen=True)
class AzureSource:
    workspace_id: str | None = None
    resource_id: str | None = None
    schema: str = "workspace"
    endpoint: str = "https://api.loganalytics.io"
    roles: tuple[str, ...] = ()
    on_partial: str = "error"
    timeout: float = 60.0
    metrics: AzureMetricsSource | None = None


@dataclass(frozen=True)
class SourcesConfig:
    path: str = ""
    redis: RedisSource | None = None
    scrape: ScrapeSource | None = None
    prometheus: PrometheusSource | None = None
    azure: AzureSource | None = None
    locations: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False)
    """(line, column) of each section (`redis`, `prometheus` ...), for later messages."""

    @property
    def empty(self) -> bool:
        return not (self.redis or self.scrape or self.prometheus or self.azure)

    def issue(self, section: str, key: str, message: str) -> SpecIssue:
        line, column = self.locations.get(section, (0, 0))
        return SpecIssue(self.path, line, column, key, message)


class SourcesConfigError(SpecError, ConfigError):
    """One or more problems in the sources section; `str()` is the first, `issues` all."""


# --- the loader ----------------------------------------------------------------------------------


@dataclass
class _Ctx(SpecContext):
    """Values are read as text (no YAML typing) with `${VAR}` expanded, and a hint is written
    into the message in parentheses, as everywhere in this section's messages."""

    env: Mapping[str, str] = field(default_factory=dict)

    def error(self, node: Node | None, key: str, message: str, hint: str = "") -> Invalid:
        return super().error(node, key, f"{message} ({hint})" if hint else message)

    def text(self, node: Node, key: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag.endswith(":null") or node.value == "":
            raise self.error(node, key, "expected a text value")
        return self.expand(node, key, str(node.value))

    def expand(self, node: Node, key: str, value: str) -> str:
        try:
            return envrefs.expand(value, self.env)
        except envrefs.UnsetVariable as exc:
            raise self.error(node, key, str(exc)) from None

    def flag(self, node: Node, key: str) -> bool:
        value = self.text(node, key).lower()
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        raise self.error(node, key, "expected true or false")


def duration(text: str) -> float:
    """A duration in the one grammar (runtime.durations: `250ms`, `2s`, `5m`, `1h30m`, plain
    seconds); must be > 0."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be more than 0")
    return seconds


def http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{redact(text)!r} is not an http:// or https:// URL")
    return text


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return text

    return check


def _redis_url(text: str) -> str:
    try:
        RedisSettings.from_url(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return text


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


def _redis(ctx: _Ctx, node: Node, key: str) -> RedisSource:
    m = ctx.mapping(node, key, ("url", "queues"))
    if "url" not in m:
        raise ctx.error(node, f"{key}.url", "missing url (redis://host:port/0)")
    url = ctx.parse_text(m["url"][1], f"{key}.url", _redis_url)
    queues = ctx.texts(m["queues"][1], f"{key}.queues") if "queues" in m else None
    return RedisSource(url, queues)


def _scrape(ctx: _Ctx, node: Node, key: str) -> ScrapeSource:
    m = ctx.mapping(node, key, ("endpoints", "discover", "timeout"))
    endpoints: tuple[str, ...] = ()
    if "endpoints" in m:
        endpoints = tuple(
            ctx.parse_text(item, f"{key}.endpoints[{i}]", http_url)
            for i, item in enumerate(ctx.one_or_more(m["endpoints"][1], f"{key}.endpoints"))
        )
    discover = ctx.flag(m["discover"][1], f"{key}.discover") if "discover" in m else False
    if not endpoints and not discover:
        raise ctx.error(node, key, "give endpoints: [...] or discover: true")
    timeout = ctx.parse_text(m["timeout"][1], f"{key}.timeout", duration) if "timeout" in m else 2.0
    return ScrapeSource(endpoints, discover, timeout)


_PROM_KEYS = (
    "url",
    "timeout",
    "match",
    "metrics",
    "method",
    "quantiles",
    "error_status",
    "headers",
    "queries",
    "defaults",
    "window",
)


def _prometheus(ctx: _Ctx, node: Node, key: str) -> PrometheusSource:
    m = ctx.mapping(node, key, _PROM_KEYS)
    if "url" not in m:
        raise ctx.error(node, f"{key}.url", "missing url (http://prometheus:9090)")
    kw: dict[str, Any] = {"url": ctx.parse_text(m["url"][1], f"{key}.url", http_url)}
    if "timeout" in m:
        kw["timeout"] = ctx.parse_text(m["timeout"][1], f"{key}.timeout", duration)
    if "match" in m:
        kw["match"] = ctx.parse_text(m["match"][1], f"{key}.match", _matchers)
    if "metrics" in m:
        kw["metrics"] = ctx.parse_text(m["metrics"][1], f"{key}.metrics", _regex)
    if "method" in m:
        kw["method"] = CountMethod(
            ctx.parse_text(m["method"][1], f"{key}.method", _choice("exact", "increase"))
        )
    if "quantiles" in m:
        kw["quantiles"] = tuple(
            ctx.parse_text(item, f"{key}.quantiles[{i}]", _quantile)
            for i, item in enumerate(ctx.one_or_more(m["quantiles"][1], f"{key}.quantiles"))
        )
    if "error_status" in m:
        kw["error_status"] = ctx.parse_text(m["error_status"][1], f"{key}.error_status", _regex)
    if "defaults" in m:
        kw["defaults"] = ctx.flag(m["defaults"][1], f"{key}.defaults")
    if "window" in m:
        kw["window"] = ctx.parse_text(m["window"][1], f"{key}.window", duration)
    if "headers" in m:
        headers = ctx.mapping(m["headers"][1], f"{key}.headers", ())
        kw["headers"] = tuple(
            (h, ctx.text(v, f"{key}.headers.{h}")) for h, (_, v) in headers.items()
        )
    if "queries" in m:
        kw["queries"] = _queries(ctx, m["queries"][1], f"{key}.queries")
    return PrometheusSource(**kw)


def _queries(ctx: _Ctx, node: Node, key: str) -> tuple[NamedQuery, ...]:
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
                    kinds = _choice(*(k.value for k in QueryKind))
                    kind = QueryKind(ctx.parse_text(q["kind"][1], f"{path}.kind", kinds))
            else:
                expr = ctx.text(vnode, path)
            out.append(NamedQuery(name, expr, kind))
        except Invalid:
            continue
    return tuple(out)


def _azure(ctx: _Ctx, node: Node, key: str) -> AzureSource:
    allowed = (
        "workspace_id",
        "resource_id",
        "schema",
        "endpoint",
        "roles",
        "on_partial",
        "timeout",
        "metrics",
    )
    m = ctx.mapping(node, key, allowed)
    kw: dict[str, Any] = {}
    for k in ("workspace_id", "resource_id"):
        if k in m:
            kw[k] = ctx.text(m[k][1], f"{key}.{k}")
    if ("workspace_id" in kw) == ("resource_id" in kw):
        raise ctx.error(
            node,
            key,
            "give exactly one of workspace_id (workspace-based) and resource_id "
            "(an Application Insights resource)",
        )
    rid = kw.get("resource_id")
    if rid is not None and not rid.startswith("/subscriptions/"):
        raise ctx.error(
            m["resource_id"][1],
            f"{key}.resource_id",
            "expected /subscriptions/<id>/resourceGroups/<rg>/providers/"
            "microsoft.insights/components/<name>",
        )
    kw["schema"] = "workspace" if "workspace_id" in kw else "classic"
    if "schema" in m:
        kw["schema"] = ctx.parse_text(
            m["schema"][1], f"{key}.schema", _choice("workspace", "classic")
        )
    if "endpoint" in m:
        kw["endpoint"] = ctx.parse_text(m["endpoint"][1], f"{key}.endpoint", http_url)
    if "roles" in m:
        kw["roles"] = ctx.texts(m["roles"][1], f"{key}.roles")
    if "on_partial" in m:
        kw["on_partial"] = ctx.parse_text(
            m["on_partial"][1], f"{key}.on_partial", _choice("error", "no-data")
        )
    if "timeout" in m:
        kw["timeout"] = ctx.parse_text(m["timeout"][1], f"{key}.timeout", duration)
    if "metrics" in m:
        kw["metrics"] = _azure_metrics(ctx, m["metrics"][1], f"{key}.metrics")
    return AzureSource(**kw)


def _azure_metrics(ctx: _Ctx, node: Node, key: str) -> AzureMetricsSource:
    m = ctx.mapping(
        node, key, ("endpoint", "namespace", "resources", "names", "aggregation", "granularity")
    )
    for required in ("endpoint", "namespace", "resources", "names"):
        if required not in m:
            raise ctx.error(node, f"{key}.{required}", f"missing {required}")
    aggregations = ("Average", "Count", "Minimum", "Maximum", "Total")
    return AzureMetricsSource(
        endpoint=ctx.parse_text(m["endpoint"][1], f"{key}.endpoint", http_url),
        namespace=ctx.text(m["namespace"][1], f"{key}.namespace"),
        resources=ctx.texts(m["resources"][1], f"{key}.resources"),
        names=ctx.texts(m["names"][1], f"{key}.names"),
        aggregation=(
            ctx.parse_text(m["aggregation"][1], f"{key}.aggregation", _choice(*aggregations))
            if "aggregation" in m
            else "Maximum"
        ),
        granularity=(
            ctx.parse_text(m["granularity"][1], f"{key}.granularity", duration)
            if "granularity" in m
            else 60.0
        ),
    )


_SECTIONS: dict[str, Callable[[_Ctx, Node, str], Any]] = {
    "redis": _redis,
    "scrape": _scrape,
    "prometheus": _prometheus,
    "azure": _azure,
}


def parse_sources(
    text: str, filename: str = "castiel.yaml", env: Mapping[str, str] | None = None
) -> SourcesConfig:
    """The `sources:` section of a castiel.yaml text. Raises SourcesConfigError."""
    ctx = _Ctx(filename, env=os.environ if env is None else env)
    root, problem = compose(text, filename)
    if problem is not None:
        raise SourcesConfigError([problem])
    if root is None:
        return SourcesConfig(filename)
    sections: dict[str, Any] = {}
    locations: dict[str, tuple[int, int]] = {}
    try:
        top = ctx.mapping(root, "")
        snode = top["sources"][1] if "sources" in top else None
        if snode is not None and not (
            isinstance(snode, ScalarNode) and snode.tag.endswith(":null")
        ):
            for name, (_, node) in ctx.mapping(snode, "sources", tuple(_SECTIONS)).items():
                locations[name] = (node.start_mark.line + 1, node.start_mark.column + 1)
                try:
                    sections[name] = _SECTIONS[name](ctx, node, f"sources.{name}")
                except Invalid:
                    continue
    except Invalid:
        pass
    if ctx.issues:
        raise SourcesConfigError(ctx.issues)
    return SourcesConfig(filename, **sections, locations=locations)


def metric_overlap(config: SourcesConfig) -> SpecIssue | None:
    """Pure: two sources that would both deliver the services' `castiel_*` series, so every
    budget would count each request twice. Redis and scrape endpoints are one local view (they
    complement each other, as in `castiel run --redis --metrics`); a Prometheus server with
    its default queries is another; Application Insights a third. None when there is at
    most one."""
    views: list[tuple[str, str]] = []
    if config.redis is not None or config.scrape is not None:
        views.append(("redis" if config.redis is not None else "scrape", "sources.redis/scrape"))
    if config.prometheus is not None and config.prometheus.defaults:
        views.append(("prometheus", "sources.prometheus"))
    if config.azure is not None:
        views.append(("azure", "sources.azure"))
    if len(views) < 2:
        return None
    (_, first), (section, second) = views[0], views[1]
    return config.issue(
        section,
        second,
        f"{second} and {first} both deliver the services' castiel_* metrics, so budgets "
        "would count every request twice: keep one of them for a monitor (`castiel sources "
        "check` may list them all), or set prometheus.defaults: false to collect only the "
        "named queries and promql: budgets from Prometheus",
    )


def load_sources(path: str | Path, env: Mapping[str, str] | None = None) -> SourcesConfig:
    p = Path(path)
    text = read_text(p)
    if isinstance(text, SpecIssue):
        raise SourcesConfigError([text])
    return parse_sources(text, str(p), env)


# --- collectors and checks -----------------------------------------------------------------------


def _prom_client(src: PrometheusSource) -> Any:
    from collectors.promql import PrometheusClient  # noqa: PLC0415 - keeps this module's imports light

    return PrometheusClient(src.url, src.timeout, dict(src.headers))


def _promql(src: PrometheusSource) -> Any:
    from collectors.promql import PromQLCollector  # noqa: PLC0415

    return PromQLCollector(
        _prom_client(src),
        matchers=src.match,
        metrics=src.metrics,
        method=src.method,
        quantiles=src.quantiles,
        error_status=src.error_status,
        queries=src.queries,
        defaults=src.defaults,
        min_window=src.window,
    )


def _azure_collectors(src: AzureSource, credential: Any, http_ok: bool) -> list[Any]:
    # Imported here: azure.core imports requests, which must not precede locust (fleet.md).
    from collectors import azure_monitor as az  # noqa: PLC0415
    from collectors.azure_kql import Schema  # noqa: PLC0415

    call = {"enforce_https": False} if http_ok else {}
    out: list[Any] = [
        az.AzureMonitorCollector(
            az.logs_client(src.endpoint, credential),
            workspace_id=src.workspace_id,
            resource_id=src.resource_id,
            schema=Schema(src.schema),
            roles=src.roles,
            on_partial=az.PartialPolicy(src.on_partial),
            server_timeout=max(1, round(src.timeout)),
            call_kwargs=call,
        )
    ]
    if src.metrics is not None:
        m = src.metrics
        out.append(
            az.AzureMetricsCollector(
                az.metrics_client(m.endpoint, credential),
                resource_ids=m.resources,
                namespace=m.namespace,
                metric_names=m.names,
                aggregation=m.aggregation,
                granularity=m.granularity,
                call_kwargs={"enforce_https": False} if m.endpoint.startswith("http://") else {},
            )
        )
    return out


def build_collectors(
    config: SourcesConfig, *, redis_client: Any = None, azure_credential: Any = None
) -> list[Collector]:
    """One collector per configured source. `redis_client` (a sync client for the redis URL)
    is injected by the caller, which owns its lifetime."""
    from collectors.prometheus_scrape import PrometheusScrapeCollector  # noqa: PLC0415
    from collectors.runtime import RuntimeCollector  # noqa: PLC0415

    out: list[Collector] = []
    reads_heartbeats = False
    if config.redis is not None and redis_client is not None:
        queues = list(config.redis.queues) if config.redis.queues is not None else None
        out.append(RuntimeCollector(redis_client, queues))
        reads_heartbeats = True
    if config.scrape is not None:
        s = config.scrape
        discover = redis_client if s.discover else None
        out.append(
            PrometheusScrapeCollector(
                s.endpoints, discover, s.timeout, skip_heartbeat_series=reads_heartbeats
            )
        )
    if config.prometheus is not None:
        out.append(_promql(config.prometheus))
    if config.azure is not None:
        http_ok = config.azure.endpoint.startswith("http://")
        out.extend(_azure_collectors(config.azure, azure_credential, http_ok))
    return out


@dataclass(frozen=True)
class SourceCheck:
    source: str
    target: str
    ok: bool
    detail: str


def check_sources(
    config: SourcesConfig, *, timeout: float = 5.0, azure_credential: Any = None
) -> list[SourceCheck]:
    """Ask every configured source once. Never raises for an unreachable source."""
    out: list[SourceCheck] = []
    redis_client = None
    if config.redis is not None:
        check, redis_client = _check_redis(config.redis, timeout)
        out.append(check)
    try:
        if config.scrape is not None:
            out.extend(_check_scrape(config.scrape, redis_client, timeout))
        if config.prometheus is not None:
            src = config.prometheus
            out.append(_attempt("prometheus", redact(src.url), _promql(src).check))
        if config.azure is not None:
            a = config.azure
            try:
                collectors = _azure_collectors(
                    a, azure_credential, a.endpoint.startswith("http://")
                )
            except Exception as exc:
                out.append(SourceCheck("azure", a.endpoint, False, f"cannot set up: {exc}"))
            else:
                target = a.workspace_id or a.resource_id or ""
                out.append(_attempt("azure-monitor", target, collectors[0].check))
                if len(collectors) > 1 and a.metrics is not None:
                    out.append(_attempt("azure-metrics", a.metrics.namespace, collectors[1].check))
    finally:
        if redis_client is not None:
            redis_client.close()
    return out


def _attempt(source: str, target: str, fn: Callable[[], str]) -> SourceCheck:
    try:
        return SourceCheck(source, target, True, fn())
    except (CollectorError, OSError, ValueError) as exc:
        return SourceCheck(source, target, False, str(exc))


def _check_redis(src: RedisSource, timeout: float) -> tuple[SourceCheck, Any]:
    from runtime.connection import connect  # noqa: PLC0415
    from runtime.heartbeat import read_heartbeats  # noqa: PLC0415

    settings = RedisSettings.from_url(src.url)
    target = redact(src.url) if "://" in src.url else src.url
    conn = connect(src.url, socket_timeout=timeout, connect_timeout=timeout, retries=0)
    try:
        conn.sync.ping()
        beats, missing = read_heartbeats(conn.sync)
    except REDIS_FAILED as exc:
        conn.close()
        return SourceCheck("redis", target, False, f"does not answer: {exc}"), None
    kind = "cluster" if settings.is_cluster else "server"
    detail = f"Redis {kind} answers; {len(beats)} workers alive, {len(missing)} silent"
    return SourceCheck("redis", target, True, detail), conn.sync


def _check_scrape(src: ScrapeSource, redis_client: Any, timeout: float) -> list[SourceCheck]:
    from collectors.prometheus_scrape import PrometheusScrapeCollector, parse  # noqa: PLC0415

    scraper = PrometheusScrapeCollector(
        src.endpoints, redis_client if src.discover else None, timeout
    )
    try:
        targets = scraper.targets()
    except (OSError, ValueError) as exc:
        return [SourceCheck("scrape", "(discovery)", False, str(exc))]
    if not targets:
        return [
            SourceCheck("scrape", "(discovery)", False, "no endpoints configured or discovered")
        ]
    out = []
    for url in targets:

        def fetch(url: str = url) -> str:
            return f"{len(parse(scraper.fetch(url)))} samples"

        out.append(_attempt("scrape", redact(url), fetch))
    return out
