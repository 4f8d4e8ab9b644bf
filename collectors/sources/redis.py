"""`sources.redis`: the runtime's own Redis. Queue depths, job counters and every worker's
heartbeat (with its metric snapshot), so the embedded monitor needs no Prometheus server.

    redis:
      url: ${CASTIEL_REDIS_URL}          # redis://, rediss://, redis+cluster://
      queues: [orders, stock]            # default: every queue ever used
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import Node

from collectors.base import Collector
from collectors.promql import redact
from collectors.sources.base import (
    BuildContext,
    CheckContext,
    SourceCheck,
    SourceContext,
    SourceKind,
)
from runtime.connection import RedisSettings
from runtime.errors import ConfigError
from runtime.redis_outage import REDIS_FAILED


@dataclass(frozen=True)
class RedisSource:
    url: str = field(repr=False)  # may carry a password
    queues: tuple[str, ...] | None = None


def _redis_url(text: str) -> str:
    try:
        RedisSettings.from_url(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return text


def _parse(ctx: SourceContext, node: Node, key: str) -> RedisSource:
    m = ctx.mapping(node, key, ("url", "queues"))
    if "url" not in m:
        raise ctx.error(node, f"{key}.url", "missing url (redis://host:port/0)")
    url = ctx.parse_text(m["url"][1], f"{key}.url", _redis_url)
    queues = ctx.texts(m["queues"][1], f"{key}.queues") if "queues" in m else None
    return RedisSource(url, queues)


def _build(src: RedisSource, ctx: BuildContext) -> list[Collector]:
    if ctx.redis_client is None:
        return []
    from collectors.runtime import RuntimeCollector  # noqa: PLC0415 - light until used

    queues = list(src.queues) if src.queues is not None else None
    return [RuntimeCollector(ctx.redis_client, queues)]


def _check(src: RedisSource, ctx: CheckContext) -> list[SourceCheck]:
    from runtime.connection import connect  # noqa: PLC0415
    from runtime.heartbeat import read_heartbeats  # noqa: PLC0415

    settings = RedisSettings.from_url(src.url)
    target = redact(src.url) if "://" in src.url else src.url
    conn = connect(src.url, socket_timeout=ctx.timeout, connect_timeout=ctx.timeout, retries=0)
    try:
        client: Any = conn.sync  # a cluster client asks for the topology here
        client.ping()
        beats, missing = read_heartbeats(client)
    except REDIS_FAILED as exc:
        conn.close()
        return [SourceCheck("redis", target, False, f"does not answer: {exc}")]
    ctx.redis_client = client
    kind = "cluster" if settings.is_cluster else "server"
    detail = f"Redis {kind} answers; {len(beats)} workers alive, {len(missing)} silent"
    return [SourceCheck("redis", target, True, detail)]


REDIS = SourceKind(
    "redis",
    RedisSource,
    _parse,
    _build,
    _check,
    secret_fields=("url",),
    series_view=lambda _: "sources.redis/scrape",
)
