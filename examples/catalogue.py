"""The example service's cache-backed lookups, on the runtime cache.

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

`Catalogue` also satisfies the service's `Lookup` protocol: `get_or_load("shard:<name>", ...)`
and `get_or_load("perm:<user>", ...)` go to the matching cache and `forget_user` invalidates a
user's permissions; examples/service.py builds one unless the cache is switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from examples.db import Database
from runtime import RuntimeMetrics
from runtime.cache import Cache, CacheMetrics, WarmReport

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
        self.shard_types = Cache(
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
        self.permissions = Cache(
            "permissions",
            client,
            metrics=self.metrics,
            ttl=PERMISSIONS_TTL,
            jitter=0.2,
            negative_ttl=30,
            local_max_entries=10_000 if local_layer else 0,
            local_ttl=5,
        )

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until both in-process layers listen for invalidations (tests, start-up)."""
        return self.shard_types.wait_ready(timeout) and self.permissions.wait_ready(timeout)

    def close(self) -> None:
        self.shard_types.close()
        self.permissions.close()

    # -- the service's Lookup protocol ---------------------------------------------------

    def get_or_load(self, key: str, loader: Callable[[], Any], ttl: float | None = None) -> Any:
        kind, _, rest = key.partition(":")
        if kind == "shard":
            return self.shard_types.get_or_load(rest, loader, ttl=ttl)
        if kind == "perm":
            return self.permissions.get_or_load(rest, loader, ttl=ttl, tags=[f"user:{rest}"])
        raise KeyError(f"no cache for key {key!r} (expected shard:<name> or perm:<user>)")

    def forget_user(self, user_id: int) -> None:
        """The user's permissions changed: drop them from Redis and every process's layer."""
        self.permissions.invalidate_tags([f"user:{user_id}"])

    # -- typed lookups on the example database -------------------------------------------

    def shard_type(self, db: Database, name: str) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            rows = db.query(
                "shard_type", "SELECT name, replicas, tier FROM shard_types WHERE name = ?", (name,)
            )
            return _shard_row(rows[0]) if rows else None

        return self.shard_types.get_or_load(name, load)

    def permissions_of(self, db: Database, user_id: int) -> list[str]:
        def load() -> list[str]:
            rows = db.query(
                "permissions",
                "SELECT permission FROM permissions WHERE user_id = ? ORDER BY permission",
                (user_id,),
            )
            return [r[0] for r in rows]

        found = self.permissions.get_or_load(str(user_id), load, tags=[f"user:{user_id}"])
        return found or []

    def can(self, db: Database, user_id: int, permission: str) -> bool:
        return permission in self.permissions_of(db, user_id)

    def grant(self, db: Database, user_id: int, permission: str) -> None:
        """Change the source, then invalidate: no process serves the old list afterwards."""
        db.execute("grant", "INSERT INTO permissions VALUES (?, ?)", (user_id, permission))
        self.permissions.invalidate_tags([f"user:{user_id}"])

    def revoke(self, db: Database, user_id: int, permission: str) -> None:
        db.execute(
            "revoke",
            "DELETE FROM permissions WHERE user_id = ? AND permission = ?",
            (user_id, permission),
        )
        self.permissions.invalidate_tags([f"user:{user_id}"])

    def warm_shard_types(self, db: Database) -> WarmReport:
        """Load every shard type not cached yet, in pipelined batches (start-up)."""
        names = [r[0] for r in db.query("shard_type_names", "SELECT name FROM shard_types")]

        def load(batch: list[str]) -> dict[str, Any]:
            marks = ",".join("?" * len(batch))
            rows = db.query(
                "shard_types_batch",
                f"SELECT name, replicas, tier FROM shard_types WHERE name IN ({marks})",  # noqa: S608 - placeholders only
                tuple(batch),
            )
            return {r[0]: _shard_row(r) for r in rows}

        return self.shard_types.warm(names, load)
