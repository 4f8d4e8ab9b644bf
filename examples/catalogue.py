"""The example service's cache-backed lookups, on the runtime's asyncio cache.

* Shard types change rarely and are read on every request: cached for 2 hours (5 % jitter), in
  the in-process layer too, with a stale-while-revalidate window so an expiry never makes a
  request wait for the database; warmed at start-up.
* Per-user permissions change when an admin edits them: cached for 5 minutes with 20 % jitter
  (users who logged in together do not all expire together), tagged `user:<id>` so a change
  invalidates them at once everywhere, and "no such user" is cached briefly. They are read on
  every request of a user, so the in-process layer holds them too (5 s at most per entry; a
  grant or revoke reaches every process's layer through pub/sub within the bound stated in
  docs/cache.md): a Redis round trip per request costs more than this example's local SQLite
  read (docs/cache-comparison.md).

Every lookup is awaited on the service's event loop: Redis through the asyncio client, the
database (on a miss) in the thread pool (`Database.aquery`), so no request waits behind
another's I/O. Create a `Catalogue` inside the event loop that uses it, then `await start()`.

`Catalogue` also satisfies the service's `Lookup` protocol: `get_or_load("shard:<name>", ...)`
and `get_or_load("perm:<user>", ...)` go to the matching cache and `forget_user` invalidates a
user's permissions; examples/service.py builds one unless the cache is switched off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from examples.db import Database
from runtime import RuntimeMetrics
from runtime.cache import AsyncCache, CacheMetrics, WarmReport

SHARD_TYPES_TTL = 2 * 3600.0
PERMISSIONS_TTL = 300.0


def _shard_row(row: Any) -> dict[str, Any]:
    return dict(zip(("name", "replicas", "tier"), row, strict=True))


class Catalogue:
    def __init__(
        self,
        client: Any,
        metrics: RuntimeMetrics | None = None,
        *,
        local_layer: bool = True,
        cache_metrics: CacheMetrics | None = None,
    ) -> None:
        runtime = metrics or RuntimeMetrics()
        self.metrics = cache_metrics or CacheMetrics.from_runtime(runtime)
        self.shard_types = AsyncCache(
            "shard-types",
            client,
            metrics=self.metrics,
            ttl=SHARD_TYPES_TTL,
            jitter=0.05,
            stale_ttl=600,
            negative_ttl=60,
            local_max_entries=10_000 if local_layer else 0,
            local_ttl=30,
        )
        self.permissions = AsyncCache(
            "permissions",
            client,
            metrics=self.metrics,
            ttl=PERMISSIONS_TTL,
            jitter=0.2,
            negative_ttl=30,
            local_max_entries=10_000 if local_layer else 0,
            local_ttl=5,
        )

    async def start(self, timeout: float = 5.0) -> bool:
        """Start both in-process layers' invalidation listeners; True once they listen."""
        return await self.shard_types.start(timeout) and await self.permissions.start(timeout)

    async def aclose(self) -> None:
        await self.shard_types.aclose()
        await self.permissions.aclose()

    # -- the service's Lookup protocol ---------------------------------------------------

    async def get_or_load(
        self, key: str, loader: Callable[[], Awaitable[Any]], ttl: float | None = None
    ) -> Any:
        kind, _, rest = key.partition(":")
        if kind == "shard":
            return await self.shard_types.get_or_load(rest, loader, ttl=ttl)
        if kind == "perm":
            return await self.permissions.get_or_load(rest, loader, ttl=ttl, tags=[f"user:{rest}"])
        raise KeyError(f"no cache for key {key!r} (expected shard:<name> or perm:<user>)")

    async def forget_user(self, user_id: int) -> None:
        """The user's permissions changed: drop them from Redis and every process's layer."""
        await self.permissions.invalidate_tags([f"user:{user_id}"])

    # -- typed lookups on the example database -------------------------------------------

    async def shard_type(self, db: Database, name: str) -> dict[str, Any] | None:
        async def load() -> dict[str, Any] | None:
            rows = await db.aquery(
                "shard_type", "SELECT name, replicas, tier FROM shard_types WHERE name = ?", (name,)
            )
            return _shard_row(rows[0]) if rows else None

        return await self.shard_types.get_or_load(name, load)

    async def permissions_of(self, db: Database, user_id: int) -> list[str]:
        async def load() -> list[str] | None:
            rows = await db.aquery(
                "permissions",
                "SELECT permission FROM permissions WHERE user_id = ? ORDER BY permission",
                (user_id,),
            )
            return [r[0] for r in rows]

        found: list[str] | None = await self.permissions.get_or_load(
            str(user_id), load, tags=[f"user:{user_id}"]
        )
        return found or []

    async def can(self, db: Database, user_id: int, permission: str) -> bool:
        return permission in await self.permissions_of(db, user_id)

    async def grant(self, db: Database, user_id: int, permission: str) -> None:
        """Change the source, then invalidate: no process serves the old list afterwards."""
        await db.aexecute("grant", "INSERT INTO permissions VALUES (?, ?)", (user_id, permission))
        await self.forget_user(user_id)

    async def revoke(self, db: Database, user_id: int, permission: str) -> None:
        await db.aexecute(
            "revoke",
            "DELETE FROM permissions WHERE user_id = ? AND permission = ?",
            (user_id, permission),
        )
        await self.forget_user(user_id)

    async def warm_shard_types(self, db: Database) -> WarmReport:
        """Load every shard type not cached yet, in pipelined batches (start-up)."""
        names = [r[0] for r in await db.aquery("shard_type_names", "SELECT name FROM shard_types")]

        async def load(batch: list[str]) -> dict[str, Any]:
            marks = ",".join("?" * len(batch))
            rows = await db.aquery(
                "shard_types_batch",
                f"SELECT name, replicas, tier FROM shard_types WHERE name IN ({marks})",  # noqa: S608 - placeholders only
                tuple(batch),
            )
            return {r[0]: _shard_row(r) for r in rows}

        return await self.shard_types.warm(names, load)
