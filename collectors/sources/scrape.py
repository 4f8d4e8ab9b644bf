"""`sources.scrape`: Prometheus /metrics endpoints scraped directly, listed and/or discovered
from the workers' heartbeats (their `metrics_url`).

    scrape:
      endpoints: [http://127.0.0.1:8000/metrics]
      discover: true                     # also every worker heartbeat's metrics_url
      timeout: 2s
"""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import Node

from collectors.base import Collector
from collectors.promql import redact
from collectors.sources.base import (
    BuildContext,
    CheckContext,
    SourceCheck,
    SourceContext,
    SourceKind,
    attempt,
    http_url,
    positive_duration,
)
from collectors.sources.redis import REDIS


@dataclass(frozen=True)
class ScrapeSource:
    endpoints: tuple[str, ...] = ()
    discover: bool = False
    timeout: float = 2.0


def _parse(ctx: SourceContext, node: Node, key: str) -> ScrapeSource:
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
    timeout = 2.0
    if "timeout" in m:
        timeout = ctx.parse_text(m["timeout"][1], f"{key}.timeout", positive_duration)
    return ScrapeSource(endpoints, discover, timeout)


def _build(src: ScrapeSource, ctx: BuildContext) -> list[Collector]:
    from collectors.prometheus_scrape import PrometheusScrapeCollector  # noqa: PLC0415

    # The Redis source already reads the heartbeats' metric snapshots: skip them here.
    reads_heartbeats = ctx.sources.get(REDIS) is not None and ctx.redis_client is not None
    discover = ctx.redis_client if src.discover else None
    return [
        PrometheusScrapeCollector(
            src.endpoints, discover, src.timeout, skip_heartbeat_series=reads_heartbeats
        )
    ]


def _check(src: ScrapeSource, ctx: CheckContext) -> list[SourceCheck]:
    from collectors.prometheus_scrape import PrometheusScrapeCollector, parse  # noqa: PLC0415

    discover = ctx.redis_client if src.discover else None
    scraper = PrometheusScrapeCollector(src.endpoints, discover, ctx.timeout)
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

        out.append(attempt("scrape", redact(url), fetch))
    return out


SCRAPE = SourceKind(
    "scrape",
    ScrapeSource,
    _parse,
    _build,
    _check,
    series_view=lambda _: "sources.redis/scrape",
)
