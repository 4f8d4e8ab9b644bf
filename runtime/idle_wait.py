"""The worker's pump when the queue has nothing for it: what the empty fetches said about when
to look again (`EmptyFetches`), and the wait until then (`IdleWait`), blocking on Redis instead
of polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from runtime.queue import AsyncQueue, SettleResult
from runtime.redis_outage import REDIS_FAILED, OutageTracker


@dataclass(frozen=True)
class EmptyFetches:
    """What the fetches that found nothing said about when to look again. With calls
    overlapping, a reply can be older than one handled before it, so the soonest wins (too
    soon costs one fetch; too late would leave a due job waiting)."""

    next_delayed_ms: int  # -1: nothing delayed
    rate_limited_ms: int  # 0: not rate-limited

    @classmethod
    def of(cls, res: SettleResult, before: EmptyFetches | None) -> EmptyFetches:
        new = cls(res.next_delayed_ms, res.rate_limited_ms)
        if before is None:
            return new
        delays = [d for d in (new.next_delayed_ms, before.next_delayed_ms) if d >= 0]
        limits = [d for d in (new.rate_limited_ms, before.rate_limited_ms) if d > 0]
        return cls(min(delays, default=-1), min(limits, default=0))


class IdleWait:
    """The pump's wait while the queue has nothing for it: blocks on Redis (BLPOP on the
    queue's notify list), not polling, until a job may be ready, a job of ours finishes, a
    delayed job falls due or the queue's rate limit frees a slot, or we are asked to stop.

    `wake` is the worker's event (a job of ours finished, or stop); `blocking_q` the queue on
    a client of its own (BLPOP holds its connection); `block` the longest single BLPOP;
    `sleep` the worker's sleep that a stop request cuts short."""

    def __init__(
        self,
        wake: asyncio.Event,
        blocking_q: AsyncQueue,
        block: float,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.wake = wake
        self.blocking_q = blocking_q
        self.block = block
        self.sleep = sleep
        self.blpop: asyncio.Task[bool] | None = None
        self.woken: asyncio.Task[bool] | None = None

    async def wait(self, empty: EmptyFetches, outage: OutageTracker) -> None:
        if empty.rate_limited_ms:
            # Work is waiting but the rate limit is spent: a BLPOP would return at once (the
            # queue is not empty), so wait for the limit (or a job of ours).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), empty.rate_limited_ms / 1000)
            return
        if self.blpop is None or self.blpop.done():
            self.blpop = asyncio.create_task(self.blocking_q.wait_for_work(self.block))
        if self.woken is None or self.woken.done():
            self.woken = asyncio.create_task(self.wake.wait())
        delayed = empty.next_delayed_ms
        timeout = None if delayed < 0 else delayed / 1000 + 0.001
        await asyncio.wait(
            {self.blpop, self.woken}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self.blpop.done() and not self.blpop.cancelled() and self.blpop.exception() is not None:
            error = self.blpop.exception() or RuntimeError("BLPOP failed")
            if not isinstance(error, REDIS_FAILED):
                raise error  # a bug, not an outage: the worker stops (BaseWorker._loop_ended)
            await self.sleep(outage.failed(error))

    async def close(self) -> None:
        pending = [t for t in (self.blpop, self.woken) if t is not None and not t.done()]
        for t in pending:
            t.cancel()
        # Let a cancelled BLPOP hand its connection back before the pool is closed.
        if pending:
            await asyncio.wait(pending, timeout=2)
