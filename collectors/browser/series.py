"""Page loads -> the time-series model: every measurement of a load is one observation in an
interval histogram, like every latency Castiel keeps, so percentiles, baselines and change
points work on frontend series unchanged.

Labels: `page` (the URL's path and query), `cache` (`cold` or `warm`) and, on resource
series, `type` (Lighthouse's resource-summary rows: total, document, script, stylesheet,
image, media, font, other, third-party; `total` and `third-party` overlap the others, so
never sum over `type`). docs/metrics.md lists every series.

This module imports no browser code: budgets (the budget.json mapping) read the names here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from collectors.model import Batch, Histogram, HistogramBuilder, SeriesKey

if TYPE_CHECKING:
    from collectors.browser.pageload import PageLoad
    from collectors.browser.vitals import Vitals

TTFB = "castiel_page_ttfb_seconds"
FCP = "castiel_page_fcp_seconds"
LCP = "castiel_page_lcp_seconds"
CLS = "castiel_page_cls"
TBT = "castiel_page_tbt_seconds"
LONGEST_TASK = "castiel_page_longest_task_seconds"
LOAD = "castiel_page_load_seconds"
TRANSFER_BYTES = "castiel_page_transfer_bytes"
BODY_BYTES = "castiel_page_body_bytes"
DECODED_BYTES = "castiel_page_decoded_bytes"
REQUESTS = "castiel_page_requests"
CACHED_REQUESTS = "castiel_page_cached_requests"
COMPRESSED_REQUESTS = "castiel_page_compressed_requests"
CACHEABLE_REQUESTS = "castiel_page_cacheable_requests"
LOAD_FAILURES = "castiel_page_load_failures_total"

TIMINGS: dict[str, Callable[[Vitals], float | None]] = {
    TTFB: lambda v: v.ttfb,
    FCP: lambda v: v.fcp,
    LCP: lambda v: v.lcp,
    CLS: lambda v: v.cls,
    TBT: lambda v: v.tbt,
    LONGEST_TASK: lambda v: v.longest_task,
    LOAD: lambda v: v.load,
}
RESOURCES: dict[str, str] = {
    TRANSFER_BYTES: "transfer_bytes",
    BODY_BYTES: "body_bytes",
    DECODED_BYTES: "decoded_bytes",
    REQUESTS: "requests",
    CACHED_REQUESTS: "cached",
    COMPRESSED_REQUESTS: "compressed",
    CACHEABLE_REQUESTS: "cacheable",
}
"""Series name -> the `network.TypeTotals` field it records."""


def observations(load: PageLoad) -> Iterator[tuple[SeriesKey, float]]:
    base = {"page": load.page, "cache": load.cache.value}
    for name, pick in TIMINGS.items():
        value = pick(load.vitals)
        if value is not None:
            yield SeriesKey.of(name, base), value
    for row, totals in load.resources.items():
        for name, attr in RESOURCES.items():
            yield SeriesKey.of(name, {**base, "type": row}), float(getattr(totals, attr))


def loads_batch(loads: Iterable[PageLoad], interval: tuple[float, float] | None = None) -> Batch:
    """Without `interval`: one histogram point per load, over its own (start, end]. With
    it: every load merged into one point per series over that interval (a collector's
    `(previous now, now]`)."""
    batch = Batch()
    if interval is None:
        for load in loads:
            for key, value in observations(load):
                batch.add_histogram(key, load.started, load.ended, Histogram.of((value,)))
        return batch
    builders: dict[SeriesKey, HistogramBuilder] = {}
    for load in loads:
        for key, value in observations(load):
            builders.setdefault(key, HistogramBuilder()).record(value)
    for key, builder in builders.items():
        batch.add_histogram(key, interval[0], interval[1], builder.build())
    return batch


def failure_key(page: str) -> SeriesKey:
    return SeriesKey.of(LOAD_FAILURES, {"page": page})
