"""Invalidation messages and the listeners that apply them to the in-process layer.

Every `set` that overwrites, `delete` and `invalidate_tags` publishes (from inside its Lua
script) a small JSON message on the cache's channel: {"o": origin, "k": [keys], "t": [tags]}.
Each cache instance with an in-process layer subscribes; a listener drops the named keys and
every local entry carrying a named tag. The instance that invalidates has already dropped its
own entries before its call returns, so it ignores its own messages.

While the listener is not subscribed, the layer is switched off and emptied (messages sent
meanwhile are lost), so a broken channel costs hit rate, never correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runtime.cache.local import LocalLayer
from runtime.cache.metrics import CacheInstruments

log = logging.getLogger("castiel.cache")

_MAX_DELAY = 2.0


@dataclass(frozen=True)
class Invalidation:
    origin: str
    keys: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def encode_message(origin: str, keys: Iterable[str] = (), tags: Iterable[str] = ()) -> str:
    return json.dumps({"o": origin, "k": list(keys), "t": list(tags)}, separators=(",", ":"))


def decode_message(data: bytes | str) -> Invalidation | None:
    try:
        raw = json.loads(data)
        return Invalidation(str(raw["o"]), tuple(raw.get("k", ())), tuple(raw.get("t", ())))
    except (ValueError, KeyError, TypeError):
        return None


class _Handler:
    def __init__(
        self, cache: str, origin: str, layer: LocalLayer, metrics: CacheInstruments
    ) -> None:
        self.cache = cache
        self.origin = origin
        self.layer = layer
        self.metrics = metrics

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if isinstance(kind, bytes):
            kind = kind.decode()
        if kind == "subscribe":
            self.layer.set_ready(True)
        elif kind == "message":
            inv = decode_message(message["data"])
            if inv is None:
                log.warning("cache %r: ignoring a malformed invalidation message", self.cache)
                self.layer.set_ready(True)  # unknown content: trust nothing held so far
            elif inv.origin != self.origin:
                self.layer.invalidate(inv.keys, inv.tags)

    def lost(self, exc: BaseException) -> None:
        if self.layer.ready:
            self.metrics.pubsub_errors.inc()
            log.warning(
                "cache %r: invalidation channel lost (%s); in-process layer off until it is back",
                self.cache,
                exc,
            )
        self.layer.set_ready(False)


class InvalidationListener(_Handler):
    """A daemon thread subscribed with a sync client (Redis or RedisCluster)."""

    def __init__(
        self,
        client: Any,
        channel: str,
        cache: str,
        origin: str,
        layer: LocalLayer,
        metrics: CacheInstruments,
    ) -> None:
        super().__init__(cache, origin, layer, metrics)
        self.client = client
        self.channel = channel
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"castiel-cache-{cache}-invalidations", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.layer.set_ready(False)

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.client.pubsub()
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(ignore_subscribe_messages=False, timeout=0.2)
                    if message is not None:
                        self.handle(message)
                        delay = 0.05
            except Exception as exc:  # any failure: the channel can no longer be trusted
                self.lost(exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            self._stop.wait(delay)
            delay = min(_MAX_DELAY, delay * 2)


class AsyncInvalidationListener(_Handler):
    """An asyncio task subscribed with an asyncio client (Redis or RedisCluster)."""

    def __init__(
        self,
        client: Any,
        channel: str,
        cache: str,
        origin: str,
        layer: LocalLayer,
        metrics: CacheInstruments,
    ) -> None:
        super().__init__(cache, origin, layer, metrics)
        self.client = client
        self.channel = channel
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.layer.set_ready(False)

    async def _run(self) -> None:
        delay = 0.05
        while not self._stopping:
            pubsub = None
            try:
                pubsub = self.client.pubsub()
                await pubsub.subscribe(self.channel)
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=0.2)
                    if message is not None:
                        self.handle(message)
                        delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: the channel can no longer be trusted
                self.lost(exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(_MAX_DELAY, delay * 2)
