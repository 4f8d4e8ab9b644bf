"""A known capacity for the example service, for load tests that must find it: at most
`max_concurrency` requests are worked on at once (the others wait their turn, as behind a
pool of N database connections or N worker threads), and each takes at least `delay` seconds
of that slot (a slow dependency). Capacity is then `max_concurrency / delay` requests/s,
whatever the machine. /health and /metrics are never held back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
EXEMPT = frozenset({"/health", "/metrics"})


class CapacityLimit:
    def __init__(self, app: ASGIApp, max_concurrency: int = 0, delay: float = 0.0) -> None:
        if max_concurrency < 0 or delay < 0:
            raise ValueError("max_concurrency and delay must be >= 0")
        self.app = app
        self.delay = delay
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            await self._work(scope, receive, send)
            return
        async with self._slots:
            await self._work(scope, receive, send)

    async def _work(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)
