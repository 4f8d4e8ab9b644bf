"""What the exporters need to know about a metric that a budget file does not say: its kind
(a Prometheus histogram, counter or gauge) and, for histograms, the bucket boundaries (a
latency budget becomes a burn-rate alert only when its threshold is one of them).

Known without being told: the runtime's own histograms (their buckets are the runtime's
constants), the metric contract of docs/metrics.md, and the naming rule that `*_total` is a
counter. Series Castiel derives itself (worker heartbeats, the load generator) are known too,
as not available to Prometheus. Anything else is given in castiel.yaml (`oncall.metrics`) or
assumed to be a gauge, and the export says it assumed so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from collectors.model import MetricKind
from runtime.asgi import HTTP_BUCKETS
from runtime.cache.metrics import LOAD_BUCKETS
from runtime.metrics import DURATION_BUCKETS


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: MetricKind
    buckets: tuple[float, ...] = ()
    """Upper bounds of a classic histogram's buckets, ascending, without +Inf; () = unknown."""
    unavailable: str = ""
    """Why no production source has this series (it is computed by Castiel during a run)."""


_H, _C, _G = MetricKind.HISTOGRAM, MetricKind.COUNTER, MetricKind.GAUGE
_HEARTBEATS = (
    "derived by Castiel's runtime collector from worker heartbeats in Redis; no /metrics "
    "endpoint exposes it (alert on Prometheus' `up` of the workers instead)"
)
_LOCUST = "measured by the load generator during `castiel run`; production has no such series"

BUILTIN: tuple[MetricInfo, ...] = (
    MetricInfo("castiel_http_request_duration_seconds", _H, HTTP_BUCKETS),
    MetricInfo("castiel_job_processing_seconds", _H, DURATION_BUCKETS),
    MetricInfo("castiel_job_wait_seconds", _H, DURATION_BUCKETS),
    MetricInfo("castiel_cache_load_duration_seconds", _H, LOAD_BUCKETS),
    # The example service's histograms: the kind is the contract, the buckets its own.
    MetricInfo("castiel_db_query_duration_seconds", _H),
    MetricInfo("castiel_db_queries_per_request", _H),
    MetricInfo("castiel_jobs_in_flight", _G),
    MetricInfo("castiel_queue_jobs", _G),
    MetricInfo("castiel_workers", _G, unavailable=_HEARTBEATS),
    MetricInfo("castiel_schedulers", _G, unavailable=_HEARTBEATS),
    MetricInfo("locust_request_duration_seconds", _H, unavailable=_LOCUST),
    MetricInfo("locust_requests_total", _C, unavailable=_LOCUST),
    MetricInfo("locust_failures_total", _C, unavailable=_LOCUST),
    MetricInfo("locust_users", _G, unavailable=_LOCUST),
)


@dataclass(frozen=True)
class Lookup:
    info: MetricInfo
    assumed: bool = False
    """True when nothing said what kind the metric is (a gauge was assumed)."""


@dataclass(frozen=True)
class Catalogue:
    entries: Mapping[str, MetricInfo] = field(default_factory=dict)

    @classmethod
    def builtin(cls, extra: Mapping[str, MetricInfo] | None = None) -> Catalogue:
        """The built-in knowledge, overridden by `extra` (from castiel.yaml)."""
        return cls({**{m.name: m for m in BUILTIN}, **(extra or {})})

    def lookup(self, name: str) -> Lookup:
        known = self.entries.get(name)
        if known is not None:
            return Lookup(known)
        if name.endswith("_total"):
            return Lookup(MetricInfo(name, MetricKind.COUNTER))
        return Lookup(MetricInfo(name, MetricKind.GAUGE), assumed=True)
