"""Workers of the example service, built on `runtime.BaseWorker`."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from runtime import BaseWorker, Job, UnrecoverableError


class ThumbnailWorker(BaseWorker):
    """Renders a (pretend) thumbnail: a few milliseconds of I/O-bound work. About 3% of
    attempts hit a transient error and are retried; a job marked `corrupt` fails for good."""

    queue = "thumbnails"
    concurrency = 20

    async def process(self, job: Job) -> Any:
        await asyncio.sleep(random.uniform(0.002, 0.02))
        if job.data.get("corrupt"):
            raise UnrecoverableError(f"image {job.data['image']} is corrupt")
        if random.random() < 0.03:
            raise ConnectionError("storage timed out (transient)")
        return {"image": job.data["image"], "size": [128, 128]}


class StockWorker(BaseWorker):
    """Reserves stock for one order item (a flow child)."""

    queue = "stock"
    concurrency = 20

    async def process(self, job: Job) -> Any:
        await asyncio.sleep(random.uniform(0.001, 0.005))
        return {"sku": job.data["sku"], "reserved": job.data["qty"]}


class OrderWorker(BaseWorker):
    """Fulfils an order once every reservation (its children) is done."""

    queue = "orders"
    concurrency = 20

    async def process(self, job: Job) -> Any:
        reserved = await self.children(job)
        return {
            "order": job.data["order"],
            "items": sum(r["reserved"] for r in reserved.values.values()),
        }
