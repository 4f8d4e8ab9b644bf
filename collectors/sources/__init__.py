"""The `sources:` section of `castiel.yaml`: where metrics come from, as typed dataclasses,
validated with file:line:column and key in every message; `${VAR}` (or `${VAR:-default}`)
takes a value from the environment, for secrets. Other top-level sections are left to their
own loaders.

    sources:
      redis: {url: ${CASTIEL_REDIS_URL}, queues: [orders, stock]}
      scrape: {endpoints: [http://127.0.0.1:8000/metrics], discover: true}
      prometheus: {url: http://prometheus:9090, match: 'job="shop"'}
      azure: {workspace_id: ${AZURE_LOG_ANALYTICS_WORKSPACE}, roles: [shop-api]}

Each kind of source is one module here defining one `SourceKind` (its keys are documented
there), listed once in `registry.py`. `parse_sources` reads the section,
`build_collectors` turns it into collectors, `check_sources` asks each source once (what
`castiel sources check` prints)."""

from collectors.sources.azure import AZURE, AzureMetricsSource, AzureSource
from collectors.sources.base import (
    BuildContext,
    CheckContext,
    SourceCheck,
    SourceContext,
    SourceKind,
    SourcesConfig,
    SourcesConfigError,
)
from collectors.sources.prometheus import PROMETHEUS, PrometheusSource
from collectors.sources.redis import REDIS, RedisSource
from collectors.sources.registry import SOURCES
from collectors.sources.scrape import SCRAPE, ScrapeSource
from collectors.sources.section import (
    build_collectors,
    check_sources,
    load_sources,
    metric_overlap,
    parse_sources,
)

__all__ = [
    "AZURE",
    "PROMETHEUS",
    "REDIS",
    "SCRAPE",
    "SOURCES",
    "AzureMetricsSource",
    "AzureSource",
    "BuildContext",
    "CheckContext",
    "PrometheusSource",
    "RedisSource",
    "ScrapeSource",
    "SourceCheck",
    "SourceContext",
    "SourceKind",
    "SourcesConfig",
    "SourcesConfigError",
    "build_collectors",
    "check_sources",
    "load_sources",
    "metric_overlap",
    "parse_sources",
]
