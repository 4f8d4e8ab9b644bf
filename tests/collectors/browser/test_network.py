"""DevTools network events -> requests and per-type totals (no browser: the events are the
ones Chromium sends, written out)."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.browser.network import (
    SUMMARY_ROWS,
    NetworkLog,
    is_cacheable,
    is_compressed,
    is_third_party,
    site,
    summarize,
)

PAGE = "http://127.0.0.1:8000/"


def sent(
    rid: str, url: str, kind: str, initiator: str = "parser", **extra: Any
) -> tuple[str, dict[str, Any]]:
    params = {
        "requestId": rid,
        "request": {"url": url},
        "type": kind,
        "initiator": {"type": initiator},
    }
    return "Network.requestWillBeSent", {**params, **extra}


def response(
    rid: str, status: int, header_bytes: int, **headers: str
) -> tuple[str, dict[str, Any]]:
    return "Network.responseReceived", {
        "requestId": rid,
        "response": {"status": status, "headers": headers, "encodedDataLength": header_bytes},
    }


def data(rid: str, n: int) -> tuple[str, dict[str, Any]]:
    return "Network.dataReceived", {"requestId": rid, "dataLength": n, "encodedDataLength": 0}


def done(rid: str, total: int) -> tuple[str, dict[str, Any]]:
    return "Network.loadingFinished", {"requestId": rid, "encodedDataLength": total}


def feed(*events: tuple[str, dict[str, Any]]) -> NetworkLog:
    log = NetworkLog()
    for method, params in events:
        log.feed(method, params)
    return log


def test_sizes_per_request_and_type() -> None:
    log = feed(
        sent("1", PAGE, "Document"),
        response("1", 200, 236, **{"Content-Encoding": "gzip", "Cache-Control": "no-cache"}),
        data("1", 944),
        done("1", 760),
        sent("2", PAGE + "static/app.js", "Script"),
        response("2", 200, 270, **{"content-encoding": "gzip", "cache-control": "max-age=60"}),
        data("2", 30000),
        data("2", 9146),
        done("2", 6215),
        sent("3", "https://cdn.other.example/lib.js", "Script"),
        response("3", 200, 100),
        data("3", 50),
        done("3", 150),
    )
    doc, app, lib = log.requests
    assert (doc.transfer_bytes, doc.body_bytes, doc.decoded_bytes) == (760, 524, 944)
    assert (app.transfer_bytes, app.body_bytes, app.decoded_bytes) == (6215, 5945, 39146)
    assert doc.compressed and not doc.cacheable and app.cacheable and not lib.compressed
    rows = summarize(log.requests, PAGE)
    assert tuple(rows) == SUMMARY_ROWS  # every row, zeros included
    assert rows["total"].requests == 3 and rows["total"].transfer_bytes == 760 + 6215 + 150
    assert rows["script"].requests == 2 and rows["script"].decoded_bytes == 39196
    assert rows["third-party"].requests == 1 and rows["third-party"].transfer_bytes == 150
    assert rows["font"].requests == 0 and rows["font"].transfer_bytes == 0
    assert log.pending == []


def test_cache_hits_transfer_nothing_and_revalidations_only_headers() -> None:
    log = feed(
        sent("1", PAGE, "Document"),
        response("1", 200, 138, **{"cache-control": "no-cache"}),
        data("1", 944),
        done("1", 138),  # a 304: headers only, the body came from the cache
        sent("2", PAGE + "static/app.js", "Script"),
        ("Network.requestServedFromCache", {"requestId": "2"}),
        response("2", 200, 0, **{"cache-control": "max-age=60"}),
        data("2", 39146),
        done("2", 0),
        sent("3", PAGE + "static/hero.png", "Image"),
        (
            "Network.responseReceived",
            {
                "requestId": "3",
                "response": {
                    "status": 200,
                    "headers": {},
                    "encodedDataLength": 0,
                    "fromDiskCache": True,
                },
            },
        ),
        done("3", 0),
    )
    rows = summarize(log.requests, PAGE)
    assert rows["total"].cached == 2 and rows["total"].transfer_bytes == 138
    assert rows["document"].body_bytes == 0 and rows["document"].decoded_bytes == 944


def test_redirects_are_requests_of_their_own() -> None:
    log = feed(
        sent("1", "http://127.0.0.1:8000/old", "Document"),
        sent(
            "1",
            PAGE,
            "Document",
            redirectResponse={
                "status": 301,
                "headers": {"Location": "/"},
                "encodedDataLength": 120,
            },
        ),
        response("1", 200, 200),
        done("1", 700),
    )
    hop, final = log.requests
    assert (hop.status, hop.transfer_bytes, hop.finished) == (301, 120, True)
    assert (final.status, final.transfer_bytes) == (200, 700)
    assert summarize(log.requests, PAGE)["document"].requests == 2


def test_inline_data_and_the_browsers_favicon_are_not_the_page() -> None:
    log = feed(
        sent("1", "data:image/png;base64,AAAA", "Image"),
        sent("2", PAGE + "favicon.ico", "Other", initiator="other"),
        sent("3", PAGE + "favicon.ico", "Image", initiator="parser"),  # the page asked for it
    )
    assert summarize(log.requests, PAGE)["total"].requests == 1
    assert [r.request_id for r in log.pending] == ["3"]


def test_an_open_event_stream_does_not_keep_the_page_loading() -> None:
    log = feed(sent("1", PAGE + "events", "EventSource"), sent("2", PAGE + "x.js", "Script"))
    assert [r.request_id for r in log.pending] == ["2"]


def test_failed_requests_count_and_finish() -> None:
    log = feed(
        sent("1", PAGE + "x.js", "Script"),
        ("Network.loadingFailed", {"requestId": "1", "errorText": "net::ERR_ABORTED"}),
    )
    assert log.pending == [] and log.requests[0].failed == "net::ERR_ABORTED"
    assert summarize(log.requests, PAGE)["script"].requests == 1


@pytest.mark.parametrize(
    ("headers", "cacheable"),
    [
        ({"cache-control": "public, max-age=31536000, immutable"}, True),
        ({"cache-control": "s-maxage=60"}, True),
        ({"cache-control": "max-age=0"}, False),
        ({"cache-control": "no-cache"}, False),
        ({"cache-control": "no-store, max-age=600"}, False),
        ({"cache-control": 'private, max-age="30"'}, True),
        (
            {"expires": "Thu, 03 Dec 2026 16:00:00 GMT", "date": "Thu, 03 Dec 2026 15:00:00 GMT"},
            True,
        ),
        ({"expires": "0", "date": "Thu, 03 Dec 2026 15:00:00 GMT"}, False),
        ({"last-modified": "Thu, 03 Dec 2026 15:00:00 GMT"}, False),  # heuristics do not count
        ({}, False),
    ],
)
def test_cacheable(headers: dict[str, str], cacheable: bool) -> None:
    assert is_cacheable(headers) is cacheable


def test_compressed() -> None:
    assert is_compressed({"content-encoding": "br"})
    assert is_compressed({"content-encoding": "identity, gzip"})
    assert not is_compressed({"content-encoding": "identity"})
    assert not is_compressed({})


def test_third_party_is_another_site() -> None:
    assert site("cdn.example.com") == "example.com"
    assert site("127.0.0.1") == "127.0.0.1"
    assert not is_third_party("https://static.example.com/a.js", "https://www.example.com/")
    assert is_third_party("https://example.org/a.js", "https://example.com/")
    assert is_third_party("http://127.0.0.2/a.js", "http://127.0.0.1/")
