"""The jobs a worker holds (`Held`), and at shutdown letting them finish or handing them back
to waiting (`drain`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from runtime.queue import AsyncQueue, Fetched
from runtime.redis_outage import REDIS_UNAVAILABLE

log = logging.getLogger("castiel.worker")


@dataclass
class Held:
    """A job this worker fetched and runs, under the lease `fetched.token` names."""

    fetched: Fetched
    task: asyncio.Task[None]
    lost: bool = False
    thread: Future[Any] | None = None  # a sync `process` call, which cannot be interrupted


async def drain(
    held: dict[str, Held],
    q: AsyncQueue,
    grace: float,
    is_forced: Callable[[], bool],
    forced: asyncio.Event,
) -> None:
    """Give in-flight jobs `grace` seconds, then hand the rest back to waiting at once.

    Except jobs whose code runs in a thread, which cannot be interrupted: handing those
    back would let another worker run them while they still run here. They keep their
    (renewed) leases until they end; a second signal stops waiting for them, and their
    leases then lapse when the process is gone.

    `held` is the worker's own, live map (a job that ends leaves it); `is_forced` says whether
    a forced stop was asked for by now, and `forced` is set when one is."""
    tasks = [h.task for h in held.values()]
    if tasks and not is_forced() and grace > 0:
        log.info("stopping: waiting up to %.1fs for %d job(s)", grace, len(tasks))
        await asyncio.wait(tasks, timeout=grace)
    running = [h for h in held.values() if h.thread is not None and not h.thread.cancel()]
    leftover = [h for h in held.values() if all(h is not r for r in running)]
    for h in leftover:  # no await since the lists were made: none of them can finish now
        h.task.cancel()
    await asyncio.gather(*(h.task for h in leftover), return_exceptions=True)
    if leftover:
        ids = [(h.fetched.job.id, h.fetched.token) for h in leftover]
        try:
            n = await q.release(ids)
            log.info("handed %d unfinished job(s) back to waiting", n)
        except REDIS_UNAVAILABLE as exc:
            log.warning("could not hand back %d job(s) (%s); the sweep will", len(ids), exc)
    if running and not is_forced():
        log.warning(
            "stopping: %d job(s) still running in threads cannot be interrupted; keeping "
            "their leases until they end (a second signal exits without them: their "
            "leases then lapse and they run again)",
            len(running),
        )
        waiting = asyncio.create_task(forced.wait())
        ended = asyncio.gather(*(h.task for h in running), return_exceptions=True)
        either: set[asyncio.Future[Any]] = {waiting, ended}
        await asyncio.wait(either, return_when="FIRST_COMPLETED")
        waiting.cancel()
    for h in running:
        h.task.cancel()  # stops awaiting the thread; the job's lease is left to lapse
    await asyncio.gather(*(h.task for h in running), return_exceptions=True)
