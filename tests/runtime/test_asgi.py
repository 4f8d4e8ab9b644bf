"""The observability middleware driven through real ASGI calls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime import Queue, RuntimeMetrics, connect
from runtime.asgi import ObservabilityMiddleware, Scope
from runtime.correlation import get_correlation_id


def call(
    app: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None, route: str | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    scope: Scope = {"type": "http", "method": "GET", "path": path, "headers": headers or []}
    if route:
        scope["route_template"] = route
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


def make_app(redis_url: str) -> Any:
    queue = Queue(connect(redis_url).sync, "emails")

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("handler crashed")
        job_id = queue.add("send", {"to": "x"})
        body = f"{get_correlation_id()} {job_id}".encode()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def test_correlation_id_flows_from_header_into_the_job(redis_url: str) -> None:
    metrics = RuntimeMetrics()
    app = ObservabilityMiddleware(make_app(redis_url), metrics)
    status, headers, body = call(
        app, "/users/7", [(b"x-correlation-id", b"req-42")], route="/users/{user_id}"
    )
    cid, job_id = body.decode().split()
    assert status == 201 and cid == "req-42" and headers[b"x-correlation-id"] == b"req-42"
    job = Queue(connect(redis_url).sync, "emails").get_job(job_id)
    assert job is not None and job.correlation_id == "req-42"
    assert (
        metrics.registry.get_sample_value(
            "castiel_http_requests_total",
            {"route": "/users/{user_id}", "method": "GET", "status": "201"},
        )
        == 1
    )


def test_missing_or_unsafe_ids_are_replaced(redis_url: str) -> None:
    app = ObservabilityMiddleware(make_app(redis_url), RuntimeMetrics())
    _, headers, body = call(app, "/x", [(b"x-correlation-id", b"<script>\nalert(1)")])
    cid = body.decode().split()[0]
    assert len(cid) == 32 and headers[b"x-correlation-id"] == cid.encode()
    _, headers2, _ = call(app, "/x")
    assert headers2[b"x-correlation-id"] != headers[b"x-correlation-id"]


def test_crashing_handler_is_recorded_as_500_under_the_unmatched_route(redis_url: str) -> None:
    metrics = RuntimeMetrics()
    app = ObservabilityMiddleware(make_app(redis_url), metrics)
    with pytest.raises(RuntimeError, match="handler crashed"):
        call(app, "/boom")
    assert (
        metrics.registry.get_sample_value(
            "castiel_http_request_duration_seconds_count",
            {"route": "<unmatched>", "method": "GET", "status": "500"},
        )
        == 1
    )
    assert get_correlation_id() is None  # the contextvar is reset after the request
