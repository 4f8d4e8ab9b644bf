"""Automatic batching of concurrent calls made in the same event-loop tick (the idea of ioredis'
auto-pipelining): the first call of a tick schedules a flush for the next tick, later calls
of the same tick join it, and the flush sends them all in one round trip. A web service whose
requests each enqueue one job thus pays one Redis round trip (and one script call) per tick,
not per request.

Each `Batcher` serves one queue, so a batch never spans hash slots and a Redis Cluster gets
one single-slot call per batch. Per call the outcome is exact: a caller gets the result of
its own item, or the exception of the round trip that carried it (the same exception a call
of its own would have seen); items keep the order in which the calls were made; a caller
cancelled before its batch is sent is left out of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """`await batcher.submit(item)` → `send([items of this tick])[its index]`."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._send = send
        self._pending: list[tuple[Item, asyncio.Future[Result]]] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if self._pending is None:
            self._pending = []
            # A new task's first step runs after every callback already due in this
            # iteration: all tasks woken together (by the previous batch's replies, say)
            # join this batch before it is sent.
            task = loop.create_task(self._deliver())
            self._in_flight.add(task)  # a task nobody references may be garbage-collected
            task.add_done_callback(self._in_flight.discard)
        self._pending.append((item, future))
        return future

    async def _deliver(self) -> None:
        batch = [p for p in self._pending or () if not p[1].cancelled()]
        self._pending = None
        if not batch:
            return
        try:
            results = await self._send([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} got {len(results)} results")
        except asyncio.CancelledError:  # the loop is shutting down: so are the callers
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
