"""DevTools network events -> one record per request, and the per-type totals Lighthouse's
resource summary reports (pure functions: tests feed them events, no browser needed).

Sizes, per request:
* transfer bytes: what came over the wire, response headers included (Lighthouse's
  `transferSize`, what budget.json `resourceSizes` limits); 0 when served from the cache;
* body bytes: the body as sent (compressed when it was), transfer minus the headers;
* decoded bytes: the body after decompression (Lighthouse's `resourceSize`).

Types are Lighthouse's: document, script, stylesheet, image, media, font, other (XHR, fetch,
manifests, ...). The summary adds `total` (every request) and `third-party` (requests to
another site than the page's), which overlap the others, as in Lighthouse.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class ResourceType(StrEnum):
    DOCUMENT = "document"
    SCRIPT = "script"
    STYLESHEET = "stylesheet"
    IMAGE = "image"
    MEDIA = "media"
    FONT = "font"
    OTHER = "other"


TOTAL = "total"
THIRD_PARTY = "third-party"
SUMMARY_ROWS: tuple[str, ...] = (TOTAL, *(t.value for t in ResourceType), THIRD_PARTY)
"""Every row of a summary, always present (zeros included), so a budget on a type the page
does not use passes instead of finding no data."""

_CDP_TYPES = {
    "Document": ResourceType.DOCUMENT,
    "Script": ResourceType.SCRIPT,
    "Stylesheet": ResourceType.STYLESHEET,
    "Image": ResourceType.IMAGE,
    "Media": ResourceType.MEDIA,
    "Font": ResourceType.FONT,
}
COMPRESSED_ENCODINGS = frozenset({"gzip", "br", "deflate", "zstd", "compress"})
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass
class Request:
    request_id: str
    url: str
    cdp_type: str
    initiator: str = ""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers, names lower-cased."""
    header_bytes: int = 0
    transfer_bytes: int = 0
    decoded_bytes: int = 0
    from_cache: bool = False
    finished: bool = False
    failed: str | None = None

    @property
    def type(self) -> ResourceType:
        return _CDP_TYPES.get(self.cdp_type, ResourceType.OTHER)

    @property
    def body_bytes(self) -> int:
        return max(0, self.transfer_bytes - self.header_bytes)

    @property
    def compressed(self) -> bool:
        return is_compressed(self.headers)

    @property
    def cacheable(self) -> bool:
        return is_cacheable(self.headers)


class NetworkLog:
    """Feed it one page's `Network.*` events in order; read `requests` and `pending`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._open: dict[str, Request] = {}

    def feed(self, method: str, params: Mapping[str, Any]) -> None:
        rid = str(params.get("requestId", ""))
        if method == "Network.requestWillBeSent":
            self._sent(rid, params)
            return
        req = self._open.get(rid)
        if req is None:
            return
        match method:
            case "Network.responseReceived":
                _respond(req, params.get("response", {}))
            case "Network.requestServedFromCache":
                req.from_cache = True
            case "Network.dataReceived":
                req.decoded_bytes += int(params.get("dataLength") or 0)
            case "Network.loadingFinished":
                req.transfer_bytes = 0 if req.from_cache else int(params["encodedDataLength"])
                req.finished = True
            case "Network.loadingFailed":
                req.failed = str(params.get("errorText") or "failed")
                req.finished = True

    def _sent(self, rid: str, params: Mapping[str, Any]) -> None:
        redirect = params.get("redirectResponse")
        previous = self._open.get(rid)
        if redirect is not None and previous is not None:
            # A redirect hop is a request of its own (as in Lighthouse), headers only.
            _respond(previous, redirect)
            previous.transfer_bytes = int(redirect.get("encodedDataLength") or 0)
            previous.finished = True
        req = Request(
            rid,
            str(params.get("request", {}).get("url", "")),
            str(params.get("type", "Other")),
            str(params.get("initiator", {}).get("type", "")),
        )
        self._open[rid] = req
        self.requests.append(req)

    @property
    def pending(self) -> list[Request]:
        """Requests still in flight, except streams that never end by design (EventSource):
        a page that keeps one open still finishes loading."""
        return [
            r
            for r in self.requests
            if not r.finished and not ignored(r) and r.cdp_type != "EventSource"
        ]

    def document(self, loader_id: str | None = None) -> Request | None:
        """The page's own document request (for the main frame, its id is the loader id)."""
        docs = [r for r in self.requests if r.type is ResourceType.DOCUMENT]
        for r in docs:
            if loader_id and r.request_id == loader_id:
                return r
        return docs[-1] if docs else None


def _respond(req: Request, response: Mapping[str, Any]) -> None:
    req.status = int(response.get("status") or 0)
    req.headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    req.header_bytes = int(response.get("encodedDataLength") or 0)
    if response.get("fromDiskCache") or response.get("fromPrefetchCache"):
        req.from_cache = True
    if response.get("fromServiceWorker"):
        req.from_cache = True


def ignored(req: Request) -> bool:
    """Not part of the page: inline data and the browser's own favicon request (Lighthouse
    leaves both out of its resource summary too)."""
    scheme = urlsplit(req.url).scheme
    if scheme not in ("http", "https"):
        return True
    return req.initiator == "other" and urlsplit(req.url).path == "/favicon.ico"


def is_compressed(headers: Mapping[str, str]) -> bool:
    encodings = {e.strip().lower() for e in headers.get("content-encoding", "").split(",")}
    return bool(encodings & COMPRESSED_ENCODINGS)


def is_cacheable(headers: Mapping[str, str]) -> bool:
    """The response may be reused without asking the server again: an explicit lifetime
    (`max-age`/`s-maxage` > 0, or `Expires` after `Date`) and neither `no-store` nor
    `no-cache`. Heuristic freshness (Last-Modified alone) does not count: it is a guess the
    browser may or may not make."""
    cc = headers.get("cache-control", "").lower()
    directives = {d.split("=", 1)[0].strip() for d in cc.split(",") if d.strip()}
    if {"no-store", "no-cache"} & directives:
        return False
    ages = [int(m) for m in _MAX_AGE.findall(cc)]
    if ages:
        return max(ages) > 0
    expires, date = headers.get("expires"), headers.get("date")
    if expires and date:
        try:
            return parsedate_to_datetime(expires) > parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return False
    return False


def site(host: str) -> str:
    """The part of a host name that decides first or third party: the last two labels
    (`cdn.example.com` -> `example.com`), an IP address or `localhost` as is. Without the
    Public Suffix List, `a.co.uk` and `b.co.uk` count as one site."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) > 2 else host


def is_third_party(url: str, page_url: str) -> bool:
    return site(urlsplit(url).hostname or "") != site(urlsplit(page_url).hostname or "")


@dataclass(frozen=True)
class TypeTotals:
    requests: int = 0
    transfer_bytes: int = 0
    body_bytes: int = 0
    decoded_bytes: int = 0
    cached: int = 0
    """Served from the browser's cache, nothing fetched."""
    compressed: int = 0
    cacheable: int = 0

    def add(self, req: Request) -> TypeTotals:
        return TypeTotals(
            self.requests + 1,
            self.transfer_bytes + req.transfer_bytes,
            self.body_bytes + req.body_bytes,
            self.decoded_bytes + req.decoded_bytes,
            self.cached + req.from_cache,
            self.compressed + req.compressed,
            self.cacheable + req.cacheable,
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def summarize(requests: Iterable[Request], page_url: str) -> dict[str, TypeTotals]:
    """Totals per summary row (every row of SUMMARY_ROWS, zeros included)."""
    rows = dict.fromkeys(SUMMARY_ROWS, TypeTotals())
    for req in requests:
        if ignored(req):
            continue
        rows[TOTAL] = rows[TOTAL].add(req)
        rows[req.type.value] = rows[req.type.value].add(req)
        if is_third_party(req.url, page_url):
            rows[THIRD_PARTY] = rows[THIRD_PARTY].add(req)
    return rows
