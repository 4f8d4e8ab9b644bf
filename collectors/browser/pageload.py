"""Page loads in headless Chromium: cold (a fresh browser context: empty cache, no open
connections, as Lighthouse loads a page) and then warm (the same context again, so the
browser keeps what the cache headers allow it to keep).

A load is finished when the load event has fired and the network has been quiet (no request
in flight) for `quiet` seconds; a page that does not get there within `timeout` is a
`PageLoadError` naming what was still pending. Nothing here waits without a deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from collectors.browser.cdp import CDPConnection, CommandTimeout
from collectors.browser.chromium import Chromium
from collectors.browser.errors import BrowserError, PageLoadError
from collectors.browser.network import NetworkLog, Request, TypeTotals, summarize
from collectors.browser.vitals import COLLECT_JS, OBSERVER_JS, Vitals, vitals_from

DEFAULT_TIMEOUT = 30.0
DEFAULT_QUIET = 0.5


class CacheState(StrEnum):
    COLD = "cold"
    WARM = "warm"


@dataclass(frozen=True)
class PageLoad:
    url: str
    page: str
    """The URL's path and query: the `page` label, what budget.json `path` patterns match."""
    cache: CacheState
    started: float
    ended: float
    vitals: Vitals
    resources: Mapping[str, TypeTotals]
    """Per summary row (network.SUMMARY_ROWS)."""
    requests: tuple[Request, ...]
    status: int


def page_label(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def check_url(url: str) -> str:
    """An http(s) URL with a host, or ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url


class Browser:
    """One headless Chromium and its DevTools connection: `with Browser.start() as b:`."""

    def __init__(
        self, chromium: Chromium, conn: CDPConnection, clock: Callable[[], float] = time.time
    ) -> None:
        self.chromium = chromium
        self.conn = conn
        self.clock = clock

    @classmethod
    def start(cls, executable: str | None = None) -> Browser:
        chromium = Chromium.start(executable)
        try:
            conn = CDPConnection.open(chromium.endpoint.ws_url)
        except BaseException:
            chromium.close()
            raise
        return cls(chromium, conn)

    @property
    def version(self) -> str:
        return self.chromium.endpoint.version

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self.chromium.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def measure(
        self,
        url: str,
        caches: Sequence[CacheState] = (CacheState.COLD, CacheState.WARM),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        quiet: float = DEFAULT_QUIET,
    ) -> list[PageLoad]:
        """Load `url` once per entry of `caches`, in one fresh browser context (so a warm
        load follows a cold one). Raises PageLoadError for the first load that fails."""
        loads: list[PageLoad] = []
        with self._page() as session:
            for i, cache in enumerate(caches):
                if i:
                    self._blank(session)
                loads.append(self._load(session, url, cache, timeout, quiet))
        return loads

    @contextmanager
    def _page(self) -> Iterator[str]:
        """A page in a fresh browser context, with network events and the vitals observers
        on; the context (cache, cookies, connections) is thrown away afterwards."""
        context = self.conn.call("Target.createBrowserContext")["browserContextId"]
        try:
            target = self.conn.call(
                "Target.createTarget", {"url": "about:blank", "browserContextId": context}
            )["targetId"]
            session = self.conn.call(
                "Target.attachToTarget", {"targetId": target, "flatten": True}
            )["sessionId"]
            self.conn.call("Network.enable", {}, session)
            self.conn.call("Page.enable", {}, session)
            self.conn.call(
                "Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER_JS}, session
            )
            yield session
        finally:
            # A broken connection has already said so; do not hide that error behind this one.
            with contextlib.suppress(BrowserError):
                self.conn.call("Target.disposeBrowserContext", {"browserContextId": context})
            self.conn.drain()

    def _blank(self, session: str) -> None:
        """Leave the page, so the next load is a new navigation, not a reload (a reload
        revalidates everything and would not show what the cache keeps)."""
        self.conn.call("Page.navigate", {"url": "about:blank"}, session)
        self.conn.drain()

    def _load(
        self, session: str, url: str, cache: CacheState, timeout: float, quiet: float
    ) -> PageLoad:
        self.conn.drain()
        log = NetworkLog()
        started = self.clock()
        deadline = time.monotonic() + timeout
        try:
            nav = self.conn.call("Page.navigate", {"url": url}, session, timeout=timeout)
        except CommandTimeout:
            raise _timeout(url, cache, timeout, log, loaded=False) from None
        if nav.get("errorText"):
            raise PageLoadError(f"{url} is unreachable: {nav['errorText']}")
        _wait_loaded(self.conn, session, log, url, cache, deadline, timeout, quiet)
        document = log.document(nav.get("loaderId"))
        status = document.status if document is not None and document.status else 0
        if status >= 400:
            raise PageLoadError(f"{url} answered HTTP {status} ({cache.value} load)")
        raw = self._evaluate(session, COLLECT_JS, deadline)
        return PageLoad(
            url=url,
            page=page_label(url),
            cache=cache,
            started=started,
            ended=self.clock(),
            vitals=vitals_from(raw),
            resources=summarize(log.requests, url),
            requests=tuple(log.requests),
            status=status,
        )

    def _evaluate(self, session: str, expression: str, deadline: float) -> Mapping[str, Any]:
        reply = self.conn.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True},
            session,
            timeout=max(1.0, deadline - time.monotonic()),
        )
        if "exceptionDetails" in reply:
            text = reply["exceptionDetails"].get("text", "an exception")
            raise BrowserError(f"measuring the page failed: {text}")
        value = reply.get("result", {}).get("value")
        if not isinstance(value, dict):
            raise BrowserError("measuring the page returned nothing")
        return value


def _wait_loaded(
    conn: CDPConnection,
    session: str,
    log: NetworkLog,
    url: str,
    cache: CacheState,
    deadline: float,
    timeout: float,
    quiet: float,
) -> None:
    loaded = False
    last_activity = time.monotonic()
    while True:
        now = time.monotonic()
        if loaded and not log.pending and now - last_activity >= quiet:
            return
        if now >= deadline:
            raise _timeout(url, cache, timeout, log, loaded)
        event = conn.next_event(min(deadline, now + 0.1))
        if event is None or event.get("sessionId") != session:
            continue
        method = str(event.get("method", ""))
        if method.startswith("Network."):
            log.feed(method, event.get("params", {}))
            last_activity = time.monotonic()
        elif method == "Page.loadEventFired":
            loaded = True
            last_activity = time.monotonic()
        elif method in ("Inspector.targetCrashed", "Target.targetCrashed"):
            raise BrowserError(f"the page crashed while loading {url}")


def _timeout(
    url: str, cache: CacheState, timeout: float, log: NetworkLog, loaded: bool
) -> PageLoadError:
    pending = log.pending
    what = (
        f"{len(pending)} request(s) still pending, e.g. {pending[0].url}"
        if pending
        else "the load event never fired"
        if not loaded
        else "the network never went quiet"
    )
    return PageLoadError(
        f"{url} did not finish loading within {timeout:g}s ({cache.value} load; {what})"
    )
