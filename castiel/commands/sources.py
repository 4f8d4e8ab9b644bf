"""`castiel sources check [--config castiel.yaml]`: ask every metrics source of castiel.yaml
once and print which answer. Exit 0 all answer, 3 some do not, 2 bad config.

Also the wiring `castiel monitor` and `castiel run` share: the collectors for the configured
sources (plus `--redis`/`--metrics`), and the PromQL expressions budgets name
(`promql:`), checked against the Prometheus server before anything runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from budgets.model import Budget
from castiel import argtypes
from castiel.config import ProjectConfig, load_project_config
from castiel.errors import EXIT_BROKEN, EXIT_PASS, UsageError
from collectors.base import Collector
from collectors.promql import (
    NamedQuery,
    PrometheusClient,
    PromQLQueryError,
    QueryKind,
    substitute_interval,
)
from collectors.sources import (
    PROMETHEUS,
    REDIS,
    SCRAPE,
    RedisSource,
    ScrapeSource,
    SourcesConfig,
    SourcesConfigError,
    build_collectors,
    check_sources,
    metric_overlap,
)
from runtime.connection import connect


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sources",
        help="metrics sources of castiel.yaml (Redis, scrape, Prometheus, Azure Monitor)",
        description="Work with the `sources:` section of castiel.yaml.",
    )
    ssub = p.add_subparsers(dest="sources_command", metavar="ACTION")
    ssub.required = True
    c = ssub.add_parser(
        "check",
        help="tell which sources answer",
        description="Ask every configured source once. Exit 0 all answer, 3 some do not, "
        "2 the config is bad.",
    )
    c.add_argument(
        "--config",
        type=Path,
        default=Path("castiel.yaml"),
        metavar="FILE",
        help="project config (default castiel.yaml)",
    )
    c.add_argument(
        "--timeout",
        type=argtypes.duration(maximum=3600.0),
        default=5.0,
        metavar="DURATION",
        help="per source, e.g. 5s, 500ms (5s; at most 1h)",
    )
    c.set_defaults(handler=check)


def check(args: argparse.Namespace) -> int:
    config = load_project_config(args.config).sources  # a ConfigError: exit 2
    if config.empty:
        raise UsageError(f"{args.config}: no sources configured (add a `sources:` section)")
    results = check_sources(config, timeout=args.timeout)
    table = Table(title=f"sources in {args.config}")
    for column in ("source", "target", "answers", "detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r.source, r.target, "yes" if r.ok else "[red]no[/red]", r.detail)
    Console(width=160).print(table)
    failed = sum(not r.ok for r in results)
    if failed:
        print(f"castiel: {failed} of {len(results)} sources do not answer", file=sys.stderr)
        return EXIT_BROKEN
    return EXIT_PASS


# --- shared by `castiel monitor` and `castiel run` -----------------------------------------------


@dataclass(frozen=True)
class Wiring:
    collectors: list[Collector]
    redis_url: str | None
    """The runtime's Redis (flag or `sources.redis`), for the preflight check."""
    described: str
    """One line for the console: what is collected from where (no secrets)."""


def promql_budgets(budgets: Sequence[Budget]) -> list[Budget]:
    return [b for b in budgets if b.promql is not None]


def _named_queries(budgets: Sequence[Budget]) -> tuple[NamedQuery, ...]:
    return tuple(
        NamedQuery(b.promql.series, b.promql.expr, QueryKind(b.promql.kind.value))
        for b in budgets
        if b.promql is not None
    )


def merged_sources(
    config: SourcesConfig, redis_url: str | None, metrics: Sequence[str]
) -> SourcesConfig:
    """Pure: the config's sources with the command-line flags applied: `--redis` replaces
    `sources.redis.url` and, as without a config, also scrapes the endpoints the workers'
    heartbeats advertise; `--metrics` adds scrape endpoints."""
    out = config
    if redis_url:
        configured = config.get(REDIS)
        queues = configured.queues if configured is not None else None
        out = out.with_source(REDIS, RedisSource(redis_url, queues))
    scrape = out.get(SCRAPE)
    if metrics:
        scrape = scrape or ScrapeSource(discover=out.get(REDIS) is not None)
        extra = tuple(m for m in metrics if m not in scrape.endpoints)
        out = out.with_source(SCRAPE, replace(scrape, endpoints=scrape.endpoints + extra))
    elif redis_url and scrape is None:
        out = out.with_source(SCRAPE, ScrapeSource(discover=True))
    return out


def wire_sources(
    project: ProjectConfig,
    budgets: Sequence[Budget],
    redis_url: str | None,
    metrics: Sequence[str],
    *,
    allow_empty: bool = False,
    check_timeout: float = 10.0,
) -> Wiring:
    """The collectors a monitor loop runs. Raises UsageError/ConfigError (exit 2): two sources
    of the same series, `promql:` budgets without a Prometheus source, an expression
    Prometheus rejects (with the budget's file:line). Raises PrometheusError (a RunBroken, exit
    3) when the Prometheus server does not answer that check."""
    sources = merged_sources(project.sources, redis_url, metrics)
    overlap = metric_overlap(sources)
    if overlap is not None:
        raise SourcesConfigError([overlap])
    wanted = promql_budgets(budgets)
    prom = sources.get(PROMETHEUS)
    if wanted and prom is None:
        b = wanted[0]
        raise UsageError(
            f"{b.location}: {b.name}.promql: this budget names a PromQL expression, but no "
            "Prometheus source is configured (add sources.prometheus.url to castiel.yaml; "
            "defaults: false collects only such expressions)"
        )
    if sources.empty:
        if allow_empty:
            return Wiring([], None, "none")
        raise UsageError(
            "nothing to watch: give --redis URL and/or --metrics URL, or a `sources:` section "
            "in castiel.yaml (docs/fleet.md)"
        )
    if prom is not None and wanted:
        check_promql(
            PrometheusClient(prom.url, min(prom.timeout, check_timeout), dict(prom.headers)), wanted
        )
        queries = prom.queries + _named_queries(wanted)
        sources = sources.with_source(PROMETHEUS, replace(prom, queries=queries))
    redis = sources.get(REDIS)
    client = connect(redis.url).sync if redis is not None else None
    collectors = build_collectors(sources, redis_client=client)
    return Wiring(
        collectors,
        redis.url if redis is not None else None,
        ", ".join(c.name for c in collectors),
    )


def check_promql(client: PrometheusClient, budgets: Sequence[Budget]) -> None:
    """Ask Prometheus to evaluate each budget's expression once, so a typo is a located
    error now, not a budget that never has data."""
    for b in budgets:
        assert b.promql is not None
        try:
            client.query(substitute_interval(b.promql.expr, 60.0))
        except PromQLQueryError as exc:  # bad input, located in the budget file
            raise UsageError(f"{b.location}: {b.name}.promql: {exc}") from None
