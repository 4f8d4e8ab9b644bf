"""PrometheusScrapeCollector: scrapes /metrics endpoints (listed, or discovered from the
`metrics_url` of worker heartbeats) and parses them with prometheus_client's parser. Counters
become increments, classic histograms interval histograms; each series gets an `instance`
label. An endpoint that does not answer sets `castiel_scrape_up{instance}` to 0 and is logged
once per outage; the others are still collected."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from collectors.exposition import IntervalTracker, Sample
from collectors.model import Batch, SeriesKey
from runtime.heartbeat import read_heartbeats

log = logging.getLogger("castiel.collectors")


def parse(text: str) -> list[Sample]:
    return [
        (s.name, s.labels, float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def instance_of(url: str) -> str:
    return urlsplit(url).netloc or url


@dataclass
class PrometheusScrapeCollector:
    urls: Sequence[str] = ()
    discover_from: Any = None  # a sync Redis client: also scrape every worker's metrics_url
    timeout: float = 2.0
    name: str = "scrape"
    # Set when a RuntimeCollector reads the same heartbeats: the series a heartbeat already
    # carries are dropped from that process's scrape, or every job would be counted twice.
    skip_heartbeat_series: bool = False
    _tracker: IntervalTracker = field(default_factory=lambda: IntervalTracker("instance"))
    _down: set[str] = field(default_factory=set)
    _last: float | None = None

    def targets(self) -> dict[str, frozenset[str]]:
        """url -> names of the samples to drop from it."""
        urls = dict.fromkeys(self.urls, frozenset[str]())
        if self.discover_from is not None:
            beats, _ = read_heartbeats(self.discover_from)
            for b in beats:
                if b.metrics_url and b.metrics_url not in urls:
                    carried = {m[0] for m in b.metrics} if self.skip_heartbeat_series else set()
                    urls[b.metrics_url] = frozenset(carried)
        return urls

    def fetch(self, url: str) -> str:
        with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310
            return str(resp.read().decode("utf-8", errors="replace"))

    def collect(self, now: float) -> Batch:
        readings: dict[str, list[Sample]] = {}
        up: dict[str, float] = {}
        for url, skip in self.targets().items():
            instance = instance_of(url)
            try:
                readings[instance] = [x for x in parse(self.fetch(url)) if x[0] not in skip]
            except (urllib.error.URLError, OSError, ValueError) as exc:
                up[instance] = 0.0
                if instance not in self._down:
                    log.warning("scrape of %s failed: %s (logged once per outage)", url, exc)
                    self._down.add(instance)
                continue
            up[instance] = 1.0
            if instance in self._down:
                log.warning("scrape of %s answers again", url)
                self._down.discard(instance)
        start = self._last if self._last is not None else now - 1.0
        batch = self._tracker.batch(readings, start, now)
        for instance, value in up.items():
            batch.add_gauge(SeriesKey.of("castiel_scrape_up", {"instance": instance}), now, value)
        self._last = now
        return batch
