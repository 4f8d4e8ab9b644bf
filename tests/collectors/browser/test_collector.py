"""Page loads in the background of a run: the collector contract (samples stamped with the
collection instant, histograms over (previous now, now]), failures counted, Chromium gone
when it closes."""

from __future__ import annotations

import time

import pytest

from collectors.base import CollectorError
from collectors.browser.collector import BrowserCollector
from collectors.browser.errors import PageLoadError
from collectors.browser.series import LCP, LOAD_FAILURES, TRANSFER_BYTES
from collectors.model import Batch, HistogramSample
from tests.collectors.browser.test_pageload import _group_alive
from tests.helpers import need, wait_until


def histograms(batch: Batch, name: str, **labels: str) -> list[HistogramSample]:
    return [
        h
        for h in batch.histograms
        if h.key.name == name and all(h.key.label(k) == v for k, v in labels.items())
    ]


def test_loads_land_as_histograms_of_the_collection_interval(levers_on: str) -> None:
    need("chromium")
    with BrowserCollector([levers_on + "/"], pause=0.1, check_first=True) as collector:
        t0 = time.time()
        assert len(collector.collect(t0)) == 0  # nothing finished yet
        wait_until(lambda: collector.rounds >= 2, 60, 0.05, "two rounds of page loads")
        t1 = time.time()
        batch = collector.collect(t1)
        pgid = collector.browser.chromium.proc.pid if collector.browser else 0
    for cache in ("cold", "warm"):
        (lcp,) = histograms(batch, LCP, page="/", cache=cache)
        assert (lcp.point.start, lcp.point.end) == (t0, t1)
        assert lcp.point.histogram.count >= 2  # every load of the interval, merged
    (total,) = histograms(batch, TRANSFER_BYTES, page="/", cache="cold", type="total")
    assert total.point.histogram.min == total.point.histogram.max > 20_000  # same page each time
    assert _group_alive(pgid) == []


def test_a_page_that_fails_is_counted_and_tried_again(stuck_server: str) -> None:
    need("chromium")
    with BrowserCollector([stuck_server + "/missing"], pause=0.1) as collector:
        wait_until(lambda: collector.rounds >= 2, 60, 0.05, "two rounds")
        now = time.time()
        batch = collector.collect(now)
    failures = [s for s in batch.scalars if s.key.name == LOAD_FAILURES]
    assert len(failures) == 1 and failures[0].point.timestamp == now
    assert failures[0].key.label("page") == "/missing" and failures[0].point.value >= 2


def test_check_first_refuses_a_page_that_cannot_load(stuck_server: str) -> None:
    need("chromium")
    collector = BrowserCollector([stuck_server + "/missing"], check_first=True)
    with pytest.raises(PageLoadError, match="HTTP 404"):
        collector.start()
    assert collector.browser is not None and not collector.browser.chromium.alive
    collector.close()  # harmless after a failed start


def test_a_dead_browser_is_a_collector_error(levers_on: str) -> None:
    need("chromium")
    with BrowserCollector([levers_on + "/"], pause=0.1) as collector:
        assert collector.browser is not None
        collector.browser.chromium.close()  # Chromium crashes
        wait_until(lambda: collector.fatal is not None, 60, 0.05, "the loader to notice")
        with pytest.raises(CollectorError, match="the browser stopped working"):
            while True:  # loads finished before the crash are handed over first
                collector.collect(time.time())
