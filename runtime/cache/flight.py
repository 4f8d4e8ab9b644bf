"""In-process single-flight: concurrent loads of one key share one leader's result.

The leader does the cross-process part (Redis lock, waiting, loading); followers wait for it
with a deadline and, if the leader is stuck (a hung loader), go on by themselves, so a hung
loader blocks nobody past the Redis lock timeout."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class LeaderGone(Exception):
    """The leading load was cancelled; followers load by themselves."""


class Flight:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class SingleFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Flight] = {}

    def run(self, key: str, work: Callable[[], T], wait: float) -> T:
        """`work()` once per key at a time; a follower waits up to `wait` seconds for the
        leader's result (or exception), then goes on alone."""
        flight, leader = self.join(key)
        if not leader:
            if flight.done.wait(wait):
                return flight.result()  # type: ignore[no-any-return]
            return work()  # the leader is stuck: go on alone
        try:
            value = work()
        except BaseException as exc:
            self.finish(key, flight, error=exc)
            raise
        self.finish(key, flight, value)
        return value

    def join(self, key: str) -> tuple[Flight, bool]:
        """(flight, True if the caller leads it)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def finish(
        self, key: str, flight: Flight, value: Any = None, error: BaseException | None = None
    ) -> None:
        flight.value, flight.error = value, error
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()


class AsyncSingleFlight:
    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]], wait: float) -> T:
        """As `SingleFlight.run`; followers also go on alone if the leader is cancelled."""
        flight, leader = self.join(key)
        if not leader:
            try:
                return await asyncio.wait_for(asyncio.shield(flight), wait)
            except (TimeoutError, LeaderGone):
                return await work()
        try:
            value = await work()
        except asyncio.CancelledError:
            self.finish(key, flight, error=LeaderGone())
            raise
        except BaseException as exc:
            self.finish(key, flight, error=exc)
            raise
        self.finish(key, flight, value)
        return value

    def join(self, key: str) -> tuple[asyncio.Future[Any], bool]:
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        flight = self._flights[key] = asyncio.get_running_loop().create_future()
        return flight, True

    def finish(
        self,
        key: str,
        flight: asyncio.Future[Any],
        value: Any = None,
        error: BaseException | None = None,
    ) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.done():
            return
        if error is not None:
            flight.set_exception(error)
            # Followers may all have timed out; do not warn about a never-read exception.
            flight.exception()
        else:
            flight.set_result(value)
