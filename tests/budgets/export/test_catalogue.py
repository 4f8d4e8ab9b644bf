"""The export's built-in metric knowledge matches the runtime: every histogram the runtime
registers is known with the buckets it really exposes (read from a real exposition)."""

from __future__ import annotations

import math

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from budgets.export.catalogue import Catalogue
from collectors.model import MetricKind
from runtime.asgi import HttpMetrics
from runtime.cache.metrics import CacheMetrics
from runtime.metrics import RuntimeMetrics


def test_every_runtime_histogram_is_known_with_its_buckets() -> None:
    metrics = RuntimeMetrics()
    http = HttpMetrics(metrics)
    cache = CacheMetrics(metrics.registry)
    # A labelled histogram exposes its buckets once a child exists.
    http.duration.labels("/a", "GET", "200").observe(0.01)
    metrics.processing.labels("q").observe(0.01)
    metrics.waiting.labels("q").observe(0.01)
    cache.load_duration.labels("c").observe(0.01)
    text = generate_latest(metrics.registry).decode()
    exposed = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        bounds = sorted(
            {float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")}
        )
        exposed[family.name] = tuple(b for b in bounds if math.isfinite(b))
    assert len(exposed) == 4
    catalogue = Catalogue.builtin()
    for name, buckets in exposed.items():
        found = catalogue.lookup(name)
        assert not found.assumed and found.info.kind is MetricKind.HISTOGRAM, name
        assert found.info.buckets == buckets, name


def test_naming_rules_for_unknown_metrics() -> None:
    catalogue = Catalogue.builtin()
    assert catalogue.lookup("shop_orders_total").info.kind is MetricKind.COUNTER
    unknown = catalogue.lookup("shop_basket_items")
    assert unknown.assumed and unknown.info.kind is MetricKind.GAUGE
    assert catalogue.lookup("castiel_workers").info.unavailable
