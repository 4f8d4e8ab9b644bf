"""The `sources:` section as a whole: read it (every problem located), find sources that
would deliver the same series twice, build every source's collectors, check every source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yaml.nodes import ScalarNode

from collectors.base import Collector
from collectors.sources import registry
from collectors.sources.base import (
    BuildContext,
    CheckContext,
    SourceCheck,
    SourceContext,
    SourcesConfig,
    SourcesConfigError,
    scrub,
    secret_values,
)
from collectors.yamlspec import Invalid, SpecIssue, compose, read_text


def parse_sources(
    text: str, filename: str = "castiel.yaml", env: Mapping[str, str] | None = None
) -> SourcesConfig:
    """The `sources:` section of a castiel.yaml text. Raises SourcesConfigError."""
    ctx = SourceContext(filename, env=os.environ if env is None else env)
    root, problem = compose(text, filename)
    if problem is not None:
        raise SourcesConfigError([problem])
    if root is None:
        return SourcesConfig(filename)
    kinds = {kind.name: kind for kind in registry.SOURCES}
    entries: dict[str, Any] = {}
    locations: dict[str, tuple[int, int]] = {}
    try:
        top = ctx.mapping(root, "")
        snode = top["sources"][1] if "sources" in top else None
        if snode is not None and not (
            isinstance(snode, ScalarNode) and snode.tag.endswith(":null")
        ):
            for name, (_, node) in ctx.mapping(snode, "sources", tuple(kinds)).items():
                locations[name] = (node.start_mark.line + 1, node.start_mark.column + 1)
                try:
                    entries[name] = kinds[name].parse(ctx, node, f"sources.{name}")
                except Invalid:
                    continue
    except Invalid:
        pass
    if ctx.issues:
        raise SourcesConfigError(ctx.issues)
    return SourcesConfig(filename, entries, locations)


def load_sources(path: str | Path, env: Mapping[str, str] | None = None) -> SourcesConfig:
    p = Path(path)
    text = read_text(p)
    if isinstance(text, SpecIssue):
        raise SourcesConfigError([text])
    return parse_sources(text, str(p), env)


def metric_overlap(config: SourcesConfig) -> SpecIssue | None:
    """Pure: two sources that would both deliver the services' `castiel_*` series, so every
    budget would count each request twice. Redis and scrape endpoints are one local view (they
    complement each other, as in `castiel run --redis --metrics`); a Prometheus server with
    its default queries is another; Application Insights a third. None when there is at
    most one."""
    views: list[tuple[str, str]] = []  # (section, view), first source of each view
    for kind in registry.SOURCES:
        src = config.get(kind)
        view = kind.series_view(src) if src is not None else None
        if view is not None and all(view != seen for _, seen in views):
            views.append((kind.name, view))
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


def build_collectors(
    config: SourcesConfig, *, redis_client: Any = None, azure_credential: Any = None
) -> list[Collector]:
    """Every configured source's collectors. `redis_client` (a sync client for the Redis
    source's URL) is injected by the caller, which owns its lifetime."""
    ctx = BuildContext(config, redis_client, azure_credential)
    out: list[Collector] = []
    for kind in registry.SOURCES:
        src = config.get(kind)
        if src is not None:
            out.extend(kind.build(src, ctx))
    return out


def check_sources(
    config: SourcesConfig, *, timeout: float = 5.0, azure_credential: Any = None
) -> list[SourceCheck]:
    """Ask every configured source once. Never raises for an unreachable source; no secret
    of a source's config appears in what it reports."""
    ctx = CheckContext(timeout, azure_credential)
    out: list[SourceCheck] = []
    try:
        for kind in registry.SOURCES:
            src = config.get(kind)
            if src is not None:
                secrets = secret_values(kind, src)
                out.extend(scrub(check, secrets) for check in kind.check(src, ctx))
    finally:
        if ctx.redis_client is not None:
            ctx.redis_client.close()
    return out
