"""An injected regression for benchmarks (bench/gate_power.py): `--slow ROUTE=25%` makes one
endpoint 25 % slower (its response starts after a pause of a quarter of the time it took),
`--slow ROUTE=20ms` adds a fixed pause. Pure ASGI, outside the handlers, so it works whatever
the handlers do; the service's own latency metrics include the pause, as a real regression's
would. `ROUTE` is a request path (`/orders`), optionally with a method (`POST /orders`).

The pause holds the event loop, as more work in the handler would. An `await asyncio.sleep`
would not: the request would give up the loop and, on a busy process, wait for it (and for
the GIL, 5 ms at a time) far longer than asked; measured on the example service, "25 %" that
way made /orders 3x slower."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.asgi import ASGIApp, Message, Receive, Scope, Send
from runtime.durations import parse_duration


@dataclass(frozen=True)
class Slow:
    fraction: float = 0.0
    """Pause for this fraction of the time the response took to start."""
    fixed: float = 0.0
    """Then this many more seconds."""


def parse_slow(text: str) -> tuple[str, Slow]:
    """`/orders=25%`, `POST /orders=20ms` -> ("POST /orders", Slow(...)). Raises ValueError."""
    route, sep, amount = text.rpartition("=")
    route, amount = route.strip(), amount.strip()
    if not sep or not route or not amount:
        raise ValueError(f"expected ROUTE=25% or ROUTE=20ms, got {text!r}")
    if amount.endswith("%"):
        fraction = float(amount[:-1]) / 100
        if not 0 <= fraction <= 10:
            raise ValueError(f"{amount} is not a slowdown between 0% and 1000%")
        return route, Slow(fraction=fraction)
    return route, Slow(fixed=parse_duration(amount))


class Slowdown:
    def __init__(self, app: ASGIApp, routes: Mapping[str, Slow]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slow = None
        if scope["type"] == "http":
            path = scope.get("path", "")
            slow = self.routes.get(f"{scope.get('method', 'GET')} {path}") or self.routes.get(path)
        if slow is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def paused(message: Message) -> None:
            if message["type"] == "http.response.start":
                now = time.perf_counter()
                until = now + slow.fraction * (now - start) + slow.fixed
                while time.perf_counter() < until:
                    pass  # busy, on purpose: see the module docstring
            await send(message)

        await self.app(scope, receive, paused)
