"""A pure-ASGI middleware for services: request duration per route template, method and
status; a correlation id read from (or added to) a header, set in a contextvar so the jobs a
request enqueues and every log record carry it. No framework import: it works under any ASGI
server and framework (Starlette/FastAPI put the matched route in `scope["route"]`)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import Counter, Histogram

from runtime.correlation import correlation_id, new_correlation_id
from runtime.metrics import RuntimeMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Seconds. A handler answering from an in-process cache takes a fraction of a millisecond: the
# sub-millisecond buckets keep its percentiles (and what caching buys) visible. Between 0.1 and
# 0.5 s, where latency budgets usually sit, they are close enough that a 25 % change of a p95
# moves it to another bucket (percentiles are interpolated inside one), and the common
# thresholds (150, 200, 250, 300 ms) are boundaries, so budgets on them export as burn rates.
HTTP_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.125,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)
UNMATCHED = "<unmatched>"
# An incoming id is echoed into logs and headers: accept only a short, plain token.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class HttpMetrics:
    def __init__(self, metrics: RuntimeMetrics) -> None:
        r = metrics.registry
        self.duration = Histogram(
            "castiel_http_request_duration_seconds",
            "HTTP request duration by route template, method and status.",
            ["route", "method", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "castiel_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        metrics.own(self.duration)
        metrics.own(self.requests)


def route_template(scope: Scope) -> str:
    """The matched route's template (`/users/{user_id}`), never the raw path: raw paths
    would make one series per user id. FastAPI puts the route in `scope["route"]`; Starlette
    only leaves the matched `endpoint`, which we find among the app's routes."""
    path = getattr(scope.get("route"), "path", None) or scope.get("route_template")
    if not path and "endpoint" in scope:
        routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
        path = next(
            (
                getattr(r, "path", None)
                for r in routes
                if getattr(r, "endpoint", None) is scope["endpoint"]
            ),
            None,
        )
    return str(path) if path else UNMATCHED


class ObservabilityMiddleware:
    """`app = ObservabilityMiddleware(app, metrics)`; see the module docstring."""

    def __init__(
        self, app: ASGIApp, metrics: RuntimeMetrics, header: str = "x-correlation-id"
    ) -> None:
        self.app = app
        self.http = HttpMetrics(metrics)
        self.header = header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(self.header, b"").decode("latin-1")
        cid = incoming if _SAFE_ID.match(incoming) else new_correlation_id()
        token = correlation_id.set(cid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                headers.append((self.header, cid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            labels = (route_template(scope), scope.get("method", "GET"), str(status))
            self.http.duration.labels(*labels).observe(time.perf_counter() - start)
            self.http.requests.labels(*labels).inc()
            correlation_id.reset(token)
