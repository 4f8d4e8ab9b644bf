"""Prometheus metrics of the cache, per cache name and layer, on an injectable registry.

Families (all `castiel_cache_*`):
  hits_total{cache,layer}, misses_total{cache,layer}, evictions_total{cache,layer},
  stale_total{cache,layer}, loads_total{cache,outcome}, load_duration_seconds{cache},
  errors_total{cache,layer}, early_refreshes_total{cache}.
Hit ratio of the whole cache: sum(hits) / (sum(hits) + misses{layer="redis"}); of the
in-process layer alone: hits{layer="local"} / (hits + misses){layer="local"}.

Hits, misses and evictions are counted in plain integers by each layer (under locks the
layers take anyway) and reported by a collector at scrape time: on the in-process hit path a
Counter.inc would cost as much as the whole lookup. Everything else uses prometheus Counters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.cache.local import LayerCounts
from runtime.metrics import RuntimeMetrics

# Seconds: loads range from a fast primary-key lookup to a slow report query.
LOAD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LockedCounts(LayerCounts):
    """Counts for a layer whose callers hold no lock of their own (the Redis layer)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def hit(self) -> None:
        with self._lock:
            self.hits += 1

    def miss(self) -> None:
        with self._lock:
            self.misses += 1


class _LayerCountsCollector(Collector):
    """hits/misses/evictions families, summed over every registered LayerCounts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: list[tuple[str, str, LayerCounts]] = []

    def add(self, cache: str, layer: str, counts: LayerCounts) -> None:
        with self._lock:
            self._counts.append((cache, layer, counts))

    def totals(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        with self._lock:
            registered = list(self._counts)
        out: dict[tuple[str, str], tuple[int, int, int]] = {}
        for cache, layer, c in registered:
            h, m, e = out.get((cache, layer), (0, 0, 0))
            out[(cache, layer)] = (h + c.hits, m + c.misses, e + c.evictions)
        return out

    def collect(self) -> Iterator[Metric]:
        labels = ["cache", "layer"]
        hits = CounterMetricFamily("castiel_cache_hits", "Cache lookups answered.", labels=labels)
        misses = CounterMetricFamily(
            "castiel_cache_misses", "Cache lookups not answered by the layer.", labels=labels
        )
        evictions = CounterMetricFamily(
            "castiel_cache_evictions",
            "Entries dropped to stay within the layer's size bound.",
            labels=labels,
        )
        for (cache, layer), (h, m, e) in sorted(self.totals().items()):
            hits.add_metric([cache, layer], h)
            misses.add_metric([cache, layer], m)
            if layer == "local":  # Redis evicts by its own policy, invisible per cache
                evictions.add_metric([cache, layer], e)
        yield hits
        yield misses
        yield evictions


@dataclass
class CacheMetrics:
    """Every cache metric of a process. Share one instance among all caches of a process;
    build it with `CacheMetrics.from_runtime(runtime_metrics)` to put it on the same registry
    and into the worker heartbeat snapshot."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.layer_counts = _LayerCountsCollector()
        r.register(self.layer_counts)
        self.stale = Counter(
            "castiel_cache_stale",
            "Stale values served while a refresh runs (stale-while-revalidate).",
            ["cache", "layer"],
            registry=r,
        )
        self.loads = Counter(
            "castiel_cache_loads",
            "Loader calls, by outcome (ok, not_found, error).",
            ["cache", "outcome"],
            registry=r,
        )
        self.load_duration = Histogram(
            "castiel_cache_load_duration_seconds",
            "Time the loader took.",
            ["cache"],
            buckets=LOAD_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "castiel_cache_errors",
            "Cache operations that failed: redis (unreachable), pubsub (invalidation channel "
            "lost), codec (undecodable entry).",
            ["cache", "layer"],
            registry=r,
        )
        self.early_refreshes = Counter(
            "castiel_cache_early_refreshes",
            "Values recomputed before expiry (XFetch) or after it within the stale window.",
            ["cache"],
            registry=r,
        )

    @property
    def collectors(self) -> list[Collector]:
        return [
            self.layer_counts,
            self.stale,
            self.loads,
            self.load_duration,
            self.errors,
            self.early_refreshes,
        ]

    @classmethod
    def from_runtime(cls, runtime: RuntimeMetrics) -> CacheMetrics:
        """Cache metrics on the runtime's registry, included in its heartbeat snapshot."""
        metrics = cls(runtime.registry)
        for collector in metrics.collectors:
            runtime.own(collector)
        return metrics

    def bind(self, cache: str) -> CacheInstruments:
        return CacheInstruments(self, cache)


class CacheInstruments:
    """One cache instance's label-bound metrics (binding labels once keeps them off the hot
    path) and its own layer counts."""

    def __init__(self, metrics: CacheMetrics, cache: str) -> None:
        self.redis = LockedCounts()
        self.local = LayerCounts()
        metrics.layer_counts.add(cache, "redis", self.redis)
        metrics.layer_counts.add(cache, "local", self.local)
        self.stale = metrics.stale.labels(cache, "redis")
        self.loads_ok = metrics.loads.labels(cache, "ok")
        self.loads_not_found = metrics.loads.labels(cache, "not_found")
        self.loads_error = metrics.loads.labels(cache, "error")
        self.load_duration = metrics.load_duration.labels(cache)
        self.redis_errors = metrics.errors.labels(cache, "redis")
        self.pubsub_errors = metrics.errors.labels(cache, "pubsub")
        self.codec_errors = metrics.errors.labels(cache, "codec")
        self.early_refreshes = metrics.early_refreshes.labels(cache)

    def loaded(self, value: object, seconds: float) -> None:
        self.load_duration.observe(seconds)
        (self.loads_not_found if value is None else self.loads_ok).inc()
