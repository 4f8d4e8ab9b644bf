"""Cumulative Prometheus-style samples (a scrape, or a worker heartbeat's metric snapshot) →
per-interval Batch: counters become increments, classic histograms become interval
histograms, gauges stay gauges. Shared by RuntimeCollector and PrometheusScrapeCollector.

Samples are `(name, labels, value)`. Kinds follow the exposition naming rules: `*_bucket`
with `le` is a histogram bucket (its `_sum`/`_count` are folded into the histogram), `*_total`
a counter, `*_created` is dropped, anything else a gauge."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from collectors.model import (
    Batch,
    Histogram,
    SeriesKey,
    cumulative_delta,
    merge_histograms,
)

Sample = tuple[str, Mapping[str, str], float]


@dataclass
class _Readings:
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    gauges: dict[SeriesKey, float] = field(default_factory=dict)
    buckets: dict[SeriesKey, list[tuple[float, float]]] = field(default_factory=dict)
    sums: dict[SeriesKey, float] = field(default_factory=dict)


def split(samples: Iterable[Sample]) -> _Readings:
    """Pure: sort samples into counters, gauges and histogram buckets by their names."""
    out = _Readings()
    samples = list(samples)
    histograms = {
        name[: -len("_bucket")]
        for name, labels, _ in samples
        if name.endswith("_bucket") and "le" in labels
    }
    for name, labels, value in samples:
        if name.endswith("_created"):
            continue
        if not math.isfinite(value) and not name.endswith("_bucket"):
            continue
        if name.endswith("_bucket") and "le" in labels:
            rest = {k: v for k, v in labels.items() if k != "le"}
            le = math.inf if labels["le"] in ("+Inf", "inf") else float(labels["le"])
            out.buckets.setdefault(SeriesKey.of(name[: -len("_bucket")], rest), []).append(
                (le, value)
            )
        elif name.endswith("_sum") and name[: -len("_sum")] in histograms:
            out.sums[SeriesKey.of(name[: -len("_sum")], labels)] = value
        elif name.endswith("_count") and name[: -len("_count")] in histograms:
            continue
        elif name.endswith("_total"):
            out.counters[SeriesKey.of(name, labels)] = value
        else:
            out.gauges[SeriesKey.of(name, labels)] = value
    return out


@dataclass
class IntervalTracker:
    """Remembers each source's previous cumulative readings. `source_label` set: every series
    gets that label with the source's name (per-instance view); None: sources are summed and
    merged (fleet view, e.g. all workers of a queue)."""

    source_label: str | None = None
    _counters: dict[SeriesKey, float] = field(default_factory=dict)
    _buckets: dict[tuple[str, SeriesKey], list[tuple[float, float]]] = field(default_factory=dict)
    _sums: dict[tuple[str, SeriesKey], float] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def _key(self, key: SeriesKey, source: str) -> SeriesKey:
        if self.source_label is None:
            return key
        return SeriesKey.of(key.name, {**key.label_dict, self.source_label: source})

    def batch(self, readings: Mapping[str, Iterable[Sample]], start: float, now: float) -> Batch:
        """`readings`: source name → its cumulative samples at `now`."""
        counters: dict[SeriesKey, float] = {}
        gauges: dict[SeriesKey, float] = {}
        histograms: dict[SeriesKey, list[Histogram]] = {}
        for source, samples in readings.items():
            r = split(samples)
            # A series that appears in a source we already read started from zero since then
            # (e.g. a label seen for the first time): all of it happened in this interval.
            known = source in self._seen
            self._seen.add(source)
            for key, value in r.counters.items():
                tracked = SeriesKey.of(f"{source}\0{key.name}", key.label_dict)
                prev = self._counters.get(tracked, 0.0 if known else None)
                self._counters[tracked] = value
                # A counter that went down was reset (the process restarted): all of it is new.
                inc = None if prev is None else (value - prev if value >= prev else value)
                if inc is not None:
                    out = self._key(key, source)
                    counters[out] = counters.get(out, 0.0) + inc
            for key, value in r.gauges.items():
                out = self._key(key, source)
                gauges[out] = gauges.get(out, 0.0) + value
            for key, buckets in r.buckets.items():
                prev_buckets = self._buckets.get((source, key))
                if prev_buckets is None and known:
                    prev_buckets = [(le, 0.0) for le, _ in buckets]
                    self._sums[(source, key)] = 0.0
                self._buckets[(source, key)] = buckets
                total = r.sums.get(key, 0.0)
                prev_total = self._sums.get((source, key))
                self._sums[(source, key)] = total
                if prev_buckets is None:
                    continue  # the first reading only sets the baseline
                delta = cumulative_delta(prev_buckets, buckets)
                # Sums of durations only grow; a smaller one means the process restarted.
                if prev_total is None or total < prev_total:
                    interval_sum = total
                else:
                    interval_sum = total - prev_total
                h = Histogram.from_cumulative_buckets(delta, max(0.0, interval_sum))
                if h.count:
                    histograms.setdefault(self._key(key, source), []).append(h)
        batch = Batch()
        for key, inc in counters.items():
            batch.add_increment(key, now, inc)
        for key, value in gauges.items():
            batch.add_gauge(key, now, value)
        for key, hs in histograms.items():
            batch.add_histogram(key, start, now, merge_histograms(hs))
        return batch
