"""Page loads in the background of a run, as a collector: a thread loads every page (cold,
then warm) over and over; each `collect(now)` hands over the loads finished since the last
call as histograms over `(previous now, now]`, so frontend timings land on the same time
axis as the API's.

A page that fails to load is counted in `castiel_page_load_failures_total{page}` and tried
again next round; a browser that dies is a `CollectorError` from then on (the monitor
records it and the rest of the run carries on).

Chromium is started by `start()` in the calling thread, not in the loading thread: the
parent-death signal that takes the browser down with Castiel is tied to the thread that
started it (chromium.py).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence

from collectors.base import CollectorError
from collectors.browser.errors import BrowserError, PageLoadError
from collectors.browser.pageload import (
    DEFAULT_TIMEOUT,
    Browser,
    CacheState,
    PageLoad,
    page_label,
)
from collectors.browser.series import failure_key, loads_batch
from collectors.model import Batch

log = logging.getLogger(__name__)
PAUSE = 2.0
"""Seconds between two rounds over the pages."""


class BrowserCollector:
    name = "browser"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pause: float = PAUSE,
        check_first: bool = False,
        start_browser: Callable[[], Browser] = Browser.start,
    ) -> None:
        self.urls = tuple(urls)
        self.timeout = timeout
        self.pause = pause
        self.check_first = check_first
        self._start_browser = start_browser
        self._browser: Browser | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._loads: list[PageLoad] = []
        self._failures: Counter[str] = Counter()
        self._fatal: str | None = None
        self._last: float | None = None
        self.rounds = 0

    @property
    def browser(self) -> Browser | None:
        return self._browser

    @property
    def fatal(self) -> str | None:
        """Why the loading thread gave up (the browser died), if it did."""
        with self._lock:
            return self._fatal

    def start(self) -> BrowserCollector:
        """Start Chromium (here, in the caller's thread) and the loading thread. With
        `check_first`, load every page once here first (not recorded): a page that cannot
        load raises PageLoadError before anything else starts."""
        self._browser = self._start_browser()
        if self.check_first:
            try:
                for url in self.urls:
                    self._browser.measure(url, (CacheState.COLD,), timeout=self.timeout)
            except BaseException:
                self._browser.close()
                raise
        self._thread = threading.Thread(target=self._loop, name="castiel-browser", daemon=True)
        self._thread.start()
        return self

    def collect(self, now: float) -> Batch:
        with self._lock:
            loads, self._loads = self._loads, []
            failures, self._failures = self._failures, Counter()
            fatal = self._fatal
        start = (
            self._last if self._last is not None else min((x.started for x in loads), default=now)
        )
        self._last = now
        batch = loads_batch(loads, (start, now)) if loads else Batch()
        for page, n in failures.items():
            batch.add_increment(failure_key(page), now, n)
        if fatal is not None and not len(batch):
            raise CollectorError(fatal)
        return batch

    def close(self) -> None:
        """Stop loading and end Chromium (its process group); safe to call twice."""
        self._stop.set()
        if self._browser is not None:
            self._browser.close()  # unblocks a load in progress: its connection closes
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> BrowserCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        assert self._browser is not None
        while not self._stop.is_set():
            for url in self.urls:
                if self._stop.is_set():
                    return
                try:
                    loads = self._browser.measure(url, timeout=self.timeout)
                except PageLoadError as exc:
                    log.warning("frontend: %s", exc)
                    with self._lock:
                        self._failures[page_label(url)] += 1
                    continue
                except BrowserError as exc:
                    if not self._stop.is_set():
                        log.error("frontend: the browser stopped working: %s", exc)
                        with self._lock:
                            self._fatal = f"the browser stopped working: {exc}"
                    return
                with self._lock:
                    self._loads.extend(loads)
            self.rounds += 1
            self._stop.wait(self.pause)
