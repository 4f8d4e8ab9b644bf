"""`sources.azure`: Azure Monitor. Application Insights telemetry through Log Analytics (KQL,
azure-monitor-query) and, optionally, platform metrics (azure-monitor-querymetrics).

    azure:
      workspace_id: ${AZURE_LOG_ANALYTICS_WORKSPACE}   # or resource_id: (classic schema)
      roles: [shop-api]
      on_partial: error                  # or no-data
      metrics:                           # platform metrics
        endpoint: https://westeurope.metrics.monitor.azure.com
        namespace: Microsoft.Cache/redis
        resources: [/subscriptions/.../Microsoft.Cache/Redis/cache1]
        names: [serverLoad, usedmemorypercentage]
        aggregation: Maximum

Credentials come from the environment (azure-identity's DefaultAzureCredential), never from
castiel.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yaml.nodes import Node

from collectors.base import Collector
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

_AGGREGATIONS = ("Average", "Count", "Minimum", "Maximum", "Total")


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


_KEYS = (
    "workspace_id",
    "resource_id",
    "schema",
    "endpoint",
    "roles",
    "on_partial",
    "timeout",
    "metrics",
)


def _parse(ctx: SourceContext, node: Node, key: str) -> AzureSource:
    m = ctx.mapping(node, key, _KEYS)
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
            m["schema"][1], f"{key}.schema", choice("workspace", "classic")
        )
    if "endpoint" in m:
        kw["endpoint"] = ctx.parse_text(m["endpoint"][1], f"{key}.endpoint", http_url)
    if "roles" in m:
        kw["roles"] = ctx.texts(m["roles"][1], f"{key}.roles")
    if "on_partial" in m:
        kw["on_partial"] = ctx.parse_text(
            m["on_partial"][1], f"{key}.on_partial", choice("error", "no-data")
        )
    if "timeout" in m:
        kw["timeout"] = ctx.parse_text(m["timeout"][1], f"{key}.timeout", positive_duration)
    if "metrics" in m:
        kw["metrics"] = _parse_metrics(ctx, m["metrics"][1], f"{key}.metrics")
    return AzureSource(**kw)


def _parse_metrics(ctx: SourceContext, node: Node, key: str) -> AzureMetricsSource:
    m = ctx.mapping(
        node, key, ("endpoint", "namespace", "resources", "names", "aggregation", "granularity")
    )
    for required in ("endpoint", "namespace", "resources", "names"):
        if required not in m:
            raise ctx.error(node, f"{key}.{required}", f"missing {required}")
    return AzureMetricsSource(
        endpoint=ctx.parse_text(m["endpoint"][1], f"{key}.endpoint", http_url),
        namespace=ctx.text(m["namespace"][1], f"{key}.namespace"),
        resources=ctx.texts(m["resources"][1], f"{key}.resources"),
        names=ctx.texts(m["names"][1], f"{key}.names"),
        aggregation=(
            ctx.parse_text(m["aggregation"][1], f"{key}.aggregation", choice(*_AGGREGATIONS))
            if "aggregation" in m
            else "Maximum"
        ),
        granularity=(
            ctx.parse_text(m["granularity"][1], f"{key}.granularity", positive_duration)
            if "granularity" in m
            else 60.0
        ),
    )


def _collectors(src: AzureSource, credential: Any) -> list[Any]:
    # Imported here: azure.core imports requests, which must not precede locust (fleet.md).
    from collectors import azure_monitor as az  # noqa: PLC0415
    from collectors.azure_kql import Schema  # noqa: PLC0415

    call = {"enforce_https": False} if src.endpoint.startswith("http://") else {}
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


def _build(src: AzureSource, ctx: BuildContext) -> list[Collector]:
    return _collectors(src, ctx.azure_credential)


def _check(src: AzureSource, ctx: CheckContext) -> list[SourceCheck]:
    try:
        collectors = _collectors(src, ctx.azure_credential)
    except Exception as exc:  # a missing or broken credential: say so, check the rest
        return [SourceCheck("azure", src.endpoint, False, f"cannot set up: {exc}")]
    out = [attempt("azure-monitor", src.workspace_id or src.resource_id or "", collectors[0].check)]
    if len(collectors) > 1 and src.metrics is not None:
        out.append(attempt("azure-metrics", src.metrics.namespace, collectors[1].check))
    return out


AZURE = SourceKind(
    "azure",
    AzureSource,
    _parse,
    _build,
    _check,
    series_view=lambda _: "sources.azure",
)
