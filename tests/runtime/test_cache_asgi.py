"""The HTTP response cache behind a real uvicorn server on a free loopback port, talking
HTTP with the standard library's client."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from castiel.redis_server import free_port
from runtime import connect
from runtime.asgi_cache import CacheMiddleware, cache_control, etag_matches, request_key
from runtime.cache import AsyncCache, Cache
from tests.helpers import wait_until


class App:
    """A raw ASGI app that counts how often each path is really computed."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"]
        self.calls[path] += 1
        headers = [(b"content-type", b"application/json")]
        if path == "/cookie":
            headers.append((b"set-cookie", b"session=abc"))
        if path == "/nostore":
            headers.append((b"cache-control", b"no-store"))
        body = json.dumps(
            {
                "path": path,
                "query": scope["query_string"].decode(),
                "n": self.calls[path],
                "accept": dict(scope["headers"]).get(b"accept", b"").decode(),
            }
        ).encode()
        status = 404 if path == "/missing" else 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[:5], "more_body": True})
        await send({"type": "http.response.body", "body": body[5:]})


@dataclass
class Served:
    port: int
    app: App
    url: str

    def get(
        self, path: str, method: str = "GET", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()


@pytest.fixture
def served(redis_url: str) -> Iterator[Served]:
    app = App()
    cache = AsyncCache("http", connect(redis_url).aio, ttl=60)
    port = free_port()
    config = uvicorn.Config(
        CacheMiddleware(app, cache, vary=("accept",), tags=lambda scope: ["api"]),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, message="uvicorn to start")
    yield Served(port, app, redis_url)
    server.should_exit = True
    thread.join(10)


def test_second_get_is_served_from_the_cache_with_an_etag(served: Served) -> None:
    s1, h1, b1 = served.get("/shards?a=1&b=2")
    s2, h2, b2 = served.get("/shards?b=2&a=1")  # parameter order does not matter
    assert (s1, s2) == (200, 200)
    assert (h1["x-cache"], h2["x-cache"]) == ("miss", "hit")
    assert b1 == b2 and json.loads(b2)["n"] == 1
    assert served.app.calls["/shards"] == 1
    assert h1["etag"] == h2["etag"] and h2["etag"].startswith('"')
    assert h2["vary"] == "accept"
    assert int(h2["content-length"]) == len(b2)
    s3, h3, b3 = served.get("/shards?a=1&b=2", If_None_Match=h1["etag"])
    assert (s3, b3, h3["etag"]) == (304, b"", h1["etag"])
    s4, _, b4 = served.get("/shards?a=1&b=2", "HEAD")
    assert (s4, b4) == (200, b"")
    assert served.app.calls["/shards"] == 1


def test_vary_headers_and_query_make_separate_entries(served: Served) -> None:
    _, _, json_body = served.get("/v", Accept="application/json")
    _, _, text_body = served.get("/v", Accept="text/plain")
    _, h, _ = served.get("/v", Accept="text/plain")
    _, _, other = served.get("/v?page=2", Accept="text/plain")
    assert json.loads(json_body)["accept"] == "application/json"
    assert json.loads(text_body)["accept"] == "text/plain"
    assert h["x-cache"] == "hit"
    assert json.loads(other)["query"] == "page=2"
    assert served.app.calls["/v"] == 3


def test_request_cache_control_no_cache_and_no_store(served: Served) -> None:
    served.get("/r")
    _, h, body = served.get("/r", Cache_Control="no-cache")
    assert h["x-cache"] == "miss" and json.loads(body)["n"] == 2
    _, h, body = served.get("/r")  # no-cache stored the fresh answer
    assert h["x-cache"] == "hit" and json.loads(body)["n"] == 2
    _, h, body = served.get("/r", Cache_Control="no-store")
    assert "x-cache" not in h and json.loads(body)["n"] == 3
    _, h, body = served.get("/r")
    assert json.loads(body)["n"] == 2  # no-store neither read nor wrote the cache


def test_uncacheable_answers_and_methods_pass_through(served: Served) -> None:
    for path in ("/cookie", "/nostore", "/missing"):
        served.get(path)
        served.get(path)
        assert served.app.calls[path] == 2, path
    served.get("/post", "POST")
    served.get("/post", "POST")
    assert served.app.calls["/post"] == 2
    served.get("/auth", Authorization="Bearer x")
    served.get("/auth", Authorization="Bearer y")
    assert served.app.calls["/auth"] == 2


def test_tag_invalidation_drops_cached_routes(served: Served) -> None:
    served.get("/shards")
    served.get("/other")
    cache = Cache("http", connect(served.url).sync)
    assert cache.invalidate_tags(["path:/shards"]) == 1
    _, h, _ = served.get("/shards")
    assert h["x-cache"] == "miss"
    _, h, _ = served.get("/other")
    assert h["x-cache"] == "hit"
    assert cache.invalidate_tags(["api"]) == 2  # the app-supplied tag covers both
    _, h, _ = served.get("/other")
    assert h["x-cache"] == "miss"


def test_header_helpers() -> None:
    assert cache_control('no-cache, max-age=30, private="x"') == {
        "no-cache": None,
        "max-age": "30",
        "private": "x",
    }
    assert etag_matches('W/"a", "b"', '"a"') and etag_matches("*", '"z"')
    assert not etag_matches('"a"', '"b"')
    assert request_key("/p", b"a=1&b=2", [("accept", "x")]) == request_key(
        "/p", b"b=2&a=1", [("accept", "x")]
    )
    assert request_key("/p", b"", [("accept", "x")]) != request_key("/p", b"", [("accept", "y")])
