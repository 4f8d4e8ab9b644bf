"""The example service's cache-backed lookups (examples/catalogue.py) on a real redis-server
and the example's real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.catalogue import PERMISSIONS_TTL, SHARD_TYPES_TTL, Catalogue
from examples.db import Database
from runtime import RuntimeMetrics, connect
from runtime.connection import RedisConnection

Setup = tuple[Catalogue, Database, RuntimeMetrics, RedisConnection]


@pytest.fixture
def setup(redis_url: str, tmp_path: Path) -> Iterator[Setup]:
    metrics = RuntimeMetrics()
    db = Database(tmp_path / "example.db", metrics)
    db.setup(shard_types=50, users=200)
    conn = connect(redis_url)
    catalogue = Catalogue(conn.sync, metrics)
    assert catalogue.wait_ready()
    yield catalogue, db, metrics, conn
    catalogue.close()
    conn.close()


def queries(metrics: RuntimeMetrics, name: str) -> float:
    return (
        metrics.registry.get_sample_value(
            "castiel_db_query_duration_seconds_count", {"query": name}
        )
        or 0.0
    )


def test_shard_types_are_cached_for_two_hours_and_served_in_process(setup: Setup) -> None:
    catalogue, db, metrics, conn = setup
    for _ in range(20):
        assert catalogue.shard_type(db, "type-3") == {
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
    assert catalogue.shard_type(db, "no-such-type") is None
    assert catalogue.shard_type(db, "no-such-type") is None
    assert queries(metrics, "shard_type") == 2  # "not found" is cached too
    beat = {(n, tuple(sorted(lab.items()))): v for n, lab, v in metrics.snapshot()}
    local_hits = beat[("castiel_cache_hits_total", (("cache", "shard-types"), ("layer", "local")))]
    assert local_hits >= 18


def test_permissions_expire_with_jitter_and_follow_grants_at_once(setup: Setup) -> None:
    catalogue, db, _, conn = setup
    for user in range(100):
        catalogue.permissions_of(db, user)
    with conn.sync.pipeline(transaction=False) as pipe:
        for user in range(100):
            pipe.pttl(f"castiel:cache:{{permissions}}:{user}")
        ttls = pipe.execute()
    assert all(PERMISSIONS_TTL * 800 - 1000 <= t <= PERMISSIONS_TTL * 1000 for t in ttls)
    assert max(ttls) - min(ttls) > PERMISSIONS_TTL * 1000 * 0.12
    assert not catalogue.can(db, 0, "admin")
    catalogue.grant(db, 0, "admin")
    assert catalogue.can(db, 0, "admin")
    catalogue.revoke(db, 0, "admin")
    assert not catalogue.can(db, 0, "admin")


def test_warming_and_the_service_lookup_protocol(setup: Setup) -> None:
    catalogue, db, metrics, _ = setup
    report = catalogue.warm_shard_types(db)
    assert (report.requested, report.loaded, report.failed) == (50, 50, 0)
    before = queries(metrics, "shard_type")
    assert (
        catalogue.get_or_load("shard:type-7", lambda: pytest.fail("must be warm"))["tier"] == "warm"
    )
    assert queries(metrics, "shard_type") == before
    assert catalogue.get_or_load("perm:5", lambda: ["read"]) == ["read"]
    with pytest.raises(KeyError):
        catalogue.get_or_load("orders:1", lambda: None)
