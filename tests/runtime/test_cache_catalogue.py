"""The example service's cache-backed lookups (examples/catalogue.py, on the asyncio cache) on
a real redis-server and the example's real SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from examples.catalogue import PERMISSIONS_TTL, SHARD_TYPES_TTL, Catalogue
from examples.db import Database
from runtime import RuntimeMetrics, connect
from runtime.connection import RedisConnection

Setup = tuple[Catalogue, Database, RuntimeMetrics, RedisConnection]
Body = Callable[[Catalogue, Database, RuntimeMetrics, RedisConnection], Awaitable[None]]


def with_catalogue(redis_url: str, tmp_path: Path, body: Body) -> None:
    """Runs `body` in an event loop of its own, where the catalogue is created and started."""

    async def main() -> None:
        metrics = RuntimeMetrics()
        db = Database(tmp_path / "example.db", metrics)
        db.setup(shard_types=50, users=200)
        conn = connect(redis_url)
        catalogue = Catalogue(conn.aio, metrics)
        assert await catalogue.start()
        try:
            await body(catalogue, db, metrics, conn)
        finally:
            await catalogue.aclose()
            await conn.aio.aclose()
            conn.close()

    asyncio.run(main())


def queries(metrics: RuntimeMetrics, name: str) -> float:
    return (
        metrics.registry.get_sample_value(
            "castiel_db_query_duration_seconds_count", {"query": name}
        )
        or 0.0
    )


def test_shard_types_are_cached_for_two_hours_and_served_in_process(
    redis_url: str, tmp_path: Path
) -> None:
    async def body(
        catalogue: Catalogue, db: Database, metrics: RuntimeMetrics, conn: RedisConnection
    ) -> None:
        for _ in range(20):
            assert await catalogue.shard_type(db, "type-3") == {
                "name": "type-3",
                "replicas": 4,
                "tier": "hot",
            }
        assert queries(metrics, "shard_type") == 1
        ttl_ms = conn.sync.pttl("castiel:cache:{shard-types}:type-3")
        stale_ms = 600_000
        assert (
            SHARD_TYPES_TTL * 1000 * 0.95 + stale_ms - 5000
            < ttl_ms
            <= SHARD_TYPES_TTL * 1000 + stale_ms
        )
        assert await catalogue.shard_type(db, "no-such-type") is None
        assert await catalogue.shard_type(db, "no-such-type") is None
        assert queries(metrics, "shard_type") == 2  # "not found" is cached too
        beat = {(n, tuple(sorted(lab.items()))): v for n, lab, v in metrics.snapshot()}
        key = ("castiel_cache_hits_total", (("cache", "shard-types"), ("layer", "local")))
        assert beat[key] >= 18

    with_catalogue(redis_url, tmp_path, body)


def test_permissions_expire_with_jitter_and_follow_grants_at_once(
    redis_url: str, tmp_path: Path
) -> None:
    async def body(
        catalogue: Catalogue, db: Database, metrics: RuntimeMetrics, conn: RedisConnection
    ) -> None:
        for user in range(100):
            await catalogue.permissions_of(db, user)
        with conn.sync.pipeline(transaction=False) as pipe:
            for user in range(100):
                pipe.pttl(f"castiel:cache:{{permissions}}:{user}")
            ttls = pipe.execute()
        assert all(PERMISSIONS_TTL * 800 - 1000 <= t <= PERMISSIONS_TTL * 1000 for t in ttls)
        assert max(ttls) - min(ttls) > PERMISSIONS_TTL * 1000 * 0.12
        assert not await catalogue.can(db, 0, "admin")
        await catalogue.grant(db, 0, "admin")
        assert await catalogue.can(db, 0, "admin")
        await catalogue.revoke(db, 0, "admin")
        assert not await catalogue.can(db, 0, "admin")

    with_catalogue(redis_url, tmp_path, body)


def test_warming_and_the_service_lookup_protocol(redis_url: str, tmp_path: Path) -> None:
    async def body(
        catalogue: Catalogue, db: Database, metrics: RuntimeMetrics, conn: RedisConnection
    ) -> None:
        report = await catalogue.warm_shard_types(db)
        assert (report.requested, report.loaded, report.failed) == (50, 50, 0)
        before = queries(metrics, "shard_type")

        async def must_be_warm() -> None:
            pytest.fail("must be warm")

        async def read() -> list[str]:
            return ["read"]

        found = await catalogue.get_or_load("shard:type-7", must_be_warm)
        assert found["tier"] == "warm" and queries(metrics, "shard_type") == before
        assert await catalogue.get_or_load("perm:5", read) == ["read"]
        with pytest.raises(KeyError):
            await catalogue.get_or_load("orders:1", read)

    with_catalogue(redis_url, tmp_path, body)
