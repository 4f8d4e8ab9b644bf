"""Worker heartbeats: a JSON record per worker process that expires when the worker dies."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from runtime.keys import WORKERS_KEY, worker_key


@dataclass
class Heartbeat:
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started: float
    last_beat: float
    in_flight: int = 0
    processed: int = 0
    failed: int = 0
    metrics_url: str | None = None
    metrics: list[list[Any]] = field(default_factory=list)
    # "worker" processes jobs; "scheduler" only fires schedules. Health counts keep them apart so
    # a scheduler does not pass for a healthy worker.
    kind: str = "worker"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Heartbeat:
        # Unknown keys are ignored: during a rolling upgrade newer processes may write fields
        # that older readers do not know.
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(raw).items() if k in known})


SCHEDULER_ID_PREFIX = "scheduler:"


def kind_of_id(process_id: str) -> str:
    """The kind of a process whose heartbeat has expired (only its id is left)."""
    return "scheduler" if process_id.startswith(SCHEDULER_ID_PREFIX) else "worker"


async def publish(client: Any, beat: Heartbeat, ttl: float) -> None:
    """Write the heartbeat (expiring after `ttl`) and register the worker for discovery."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(worker_key(beat.id), beat.to_json(), px=int(ttl * 1000))
        pipe.zadd(WORKERS_KEY, {beat.id: beat.last_beat})
        await pipe.execute()


async def withdraw(client: Any, worker_id: str) -> None:
    async with client.pipeline(transaction=False) as pipe:
        pipe.delete(worker_key(worker_id))
        pipe.zrem(WORKERS_KEY, worker_id)
        await pipe.execute()


def read_heartbeats(client: Any, forget_after: float = 3600.0) -> tuple[list[Heartbeat], list[str]]:
    """Sync read for the CLI and collectors: (live heartbeats, ids of workers whose heartbeat
    expired — dead or hung). Ids silent for longer than `forget_after` seconds are pruned."""
    ids = [i.decode() if isinstance(i, bytes) else i for i in client.zrange(WORKERS_KEY, 0, -1)]
    if not ids:
        return [], []
    with client.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.get(worker_key(worker_id))
        raws = pipe.execute()
    live, missing = [], []
    for worker_id, raw in zip(ids, raws, strict=True):
        if raw is None:
            missing.append(worker_id)
        else:
            live.append(Heartbeat.from_json(raw))
    if missing:
        newest = max((b.last_beat for b in live), default=None)
        if newest is not None:
            client.zremrangebyscore(WORKERS_KEY, "-inf", newest - forget_after)
    return live, missing
