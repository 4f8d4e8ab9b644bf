"""The cache against a real redis-server and the 3-master Redis Cluster: reads and writes,
TTL jitter, negative caching, tags, early refresh, stale-while-revalidate, single-flight,
races with invalidation, warming, the in-process layer and metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis.cluster

from runtime import RuntimeMetrics, connect
from runtime.cache import AsyncCache, Cache, CacheMetrics, CacheUnavailableError
from runtime.cache.codec import JsonCodec
from runtime.cache.envelope import unpack
from runtime.connection import RedisConnection
from runtime.errors import ConfigError, PayloadError
from tests.helpers import wait_until
from tests.runtime.cache_shells import CacheFactory, CacheLike


class Clock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def sample(metrics: CacheMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


class Counting:
    """A loader that counts its calls."""

    def __init__(self, value: Any = "v", delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.value


def raw_entry(conn: RedisConnection, cache: str, key: str) -> Any:
    raw = conn.sync.get(f"castiel:cache:{{{cache}}}:{key}")
    return None if raw is None else unpack(raw, JsonCodec())


# -- basics ----------------------------------------------------------------------------------


def test_set_get_delete_and_key_layout(make_cache: CacheFactory, conn: RedisConnection) -> None:
    cache = make_cache("basics", ttl=60)
    cache.set("a", {"n": [1, 2.5, "x"]})
    assert cache.get("a") == {"n": [1, 2.5, "x"]}
    assert cache.get("missing", "dflt") == "dflt"
    assert conn.sync.exists("castiel:cache:{basics}:a") == 1
    assert cache.delete("a", "missing") == 1
    assert cache.get("a") is None


def test_values_must_be_json(make_cache: CacheFactory) -> None:
    cache = make_cache("json")
    with pytest.raises(PayloadError, match="json"):
        cache.set("a", {1, 2})
    with pytest.raises(PayloadError, match="None means"):
        cache.set("a", None)
    with pytest.raises(ConfigError, match="unknown cache option"):
        make_cache("json", tll=3)
    with pytest.raises(ConfigError, match="cache name"):
        make_cache("a{b}")


def test_set_many_get_many_in_one_round_trip(make_cache: CacheFactory) -> None:
    cache = make_cache("many", ttl=60)
    cache.set_many({f"k{i}": i for i in range(50)})
    got = cache.get_many([f"k{i}" for i in range(0, 60, 5)])
    assert got == {f"k{i}": i for i in range(0, 50, 5)}
    m = cache.metrics
    assert sample(m, "castiel_cache_hits_total", cache="many", layer="redis") == 10
    assert sample(m, "castiel_cache_misses_total", cache="many", layer="redis") == 2


def test_per_call_ttl_override(make_cache: CacheFactory, conn: RedisConnection) -> None:
    cache = make_cache("ttl", ttl=3600, jitter=0)
    cache.set("long", 1)
    cache.set("short", 1, ttl=5)
    cache.get_or_load("loaded", lambda: 1, ttl=7)
    assert 3590_000 < conn.sync.pttl("castiel:cache:{ttl}:long") <= 3600_000
    assert 4000 < conn.sync.pttl("castiel:cache:{ttl}:short") <= 5000
    assert 6000 < conn.sync.pttl("castiel:cache:{ttl}:loaded") <= 7000


def test_jitter_spreads_expiry_over_the_window(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    cache = make_cache("jitter", ttl=100, jitter=0.2)
    began = time.monotonic()
    cache.set_many({f"k{i}": i for i in range(400)})
    for i in range(100):  # and loads written one by one
        cache.get_or_load(f"l{i}", lambda: 1)
    with conn.sync.pipeline(transaction=False) as pipe:
        for i in range(400):
            pipe.pttl(f"castiel:cache:{{jitter}}:k{i}")
        for i in range(100):
            pipe.pttl(f"castiel:cache:{{jitter}}:l{i}")
        ttls = pipe.execute()
    # The TTLs have run down by as long as writing and reading them took (a loaded machine).
    elapsed_ms = (time.monotonic() - began) * 1000
    assert all(80_000 - elapsed_ms - 10 <= t <= 100_000 for t in ttls), (min(ttls), max(ttls))
    assert max(ttls) - min(ttls) > 17_000
    # Roughly uniform over [80 s, 100 s]: every quarter of the window gets its share.
    quarters = [
        sum(1 for t in ttls if 80_000 + q * 5000 <= t < 85_000 + q * 5000) for q in range(4)
    ]
    assert all(n > 60 for n in quarters), quarters


def test_negative_caching_has_its_own_ttl(make_cache: CacheFactory, conn: RedisConnection) -> None:
    cache = make_cache("neg", ttl=3600, negative_ttl=20, jitter=0)
    missing = Counting(None)
    assert cache.get_or_load("nobody", missing) is None
    assert cache.get_or_load("nobody", missing) is None
    assert missing.calls == 1
    assert 19_000 < conn.sync.pttl("castiel:cache:{neg}:nobody") <= 20_000
    assert cache.get("nobody", "dflt") == "dflt"
    m = cache.metrics
    assert sample(m, "castiel_cache_loads_total", cache="neg", outcome="not_found") == 1
    off = make_cache("neg-off", negative_ttl=0)
    assert off.get_or_load("nobody", missing) is None
    assert off.get_or_load("nobody", missing) is None
    assert missing.calls == 3


# -- tags ------------------------------------------------------------------------------------


def test_invalidate_tags_removes_every_tagged_key_and_nothing_else(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    cache = make_cache("tags", ttl=60)
    cache.set_many({f"u1:{i}": i for i in range(30)}, tags=["user:1"])
    cache.set("u1:profile", "p", tags=["user:1", "profiles"])
    cache.set("u2:profile", "q", tags=["user:2", "profiles"])
    cache.get_or_load("u1:loaded", lambda: "l", tags=["user:1"])
    cache.set("untagged", 1)
    assert cache.invalidate_tags(["user:1"]) == 32
    assert cache.get_many([f"u1:{i}" for i in range(30)]) == {}
    assert cache.get("u1:profile") is None
    assert cache.get("u1:loaded") is None
    assert cache.get("u2:profile") == "q"
    assert cache.get("untagged") == 1
    assert conn.sync.exists("castiel:cachetag:{tags}:user:1") == 0
    assert cache.invalidate_tags(["profiles", "nothing"]) == 1
    assert cache.get("u2:profile") is None
    assert cache.invalidate_tags(["profiles"]) == 0


def test_tag_sets_live_as_long_as_their_longest_member(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    cache = make_cache("tagttl", jitter=0)
    cache.set("a", 1, ttl=10, tags=["t"])
    cache.set("b", 1, ttl=100, tags=["t"])
    cache.set("c", 1, ttl=50, tags=["t"])
    assert 99_000 < conn.sync.pttl("castiel:cachetag:{tagttl}:t") <= 100_000


def test_a_load_that_began_before_an_invalidation_does_not_write(make_cache: CacheFactory) -> None:
    """The loader read the source before the invalidation; caching its answer would undo
    the invalidation. The caller still gets the value, nobody else does."""
    for invalidate in ("tag", "delete"):
        _load_racing_an_invalidation(make_cache(f"race-{invalidate}", ttl=60), invalidate)


def _load_racing_an_invalidation(cache: CacheLike, invalidate: str) -> None:
    started, release = threading.Event(), threading.Event()

    def loader() -> str:
        started.set()
        release.wait(10)
        return "read-before-invalidation"

    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(cache.get_or_load("k", loader, tags=["t"])))
    t.start()
    assert started.wait(10)
    if invalidate == "tag":
        cache.invalidate_tags(["t"])
    else:
        cache.delete("k")
    release.set()
    t.join(10)
    assert result == ["read-before-invalidation"]
    assert cache.get("k") is None
    assert cache.get_or_load("k", lambda: "fresh") == "fresh"


# -- single flight, locks, refresh -----------------------------------------------------------


def script_calls(conn: RedisConnection) -> int:
    """Lua script calls the server(s) executed so far (INFO commandstats)."""
    client = conn.sync
    if isinstance(client, redis.cluster.RedisCluster):
        infos = list(client.info("commandstats", target_nodes=client.ALL_NODES).values())
    else:
        infos = [client.info("commandstats")]
    return sum(
        info.get(f"cmdstat_{cmd}", {}).get("calls", 0)
        for info in infos
        for cmd in ("eval", "evalsha")
    )


def test_concurrent_loads_in_one_process_share_one_loader_call(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    """Followers in the process wait for the leader instead of polling the Redis lock: one
    lock-or-fetch and one fill, not 30 callers polling every poll_interval."""
    cache = make_cache("flight", ttl=60)
    loader = Counting({"v": 1}, delay=0.2)
    before = script_calls(conn)
    out: list[Any] = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get_or_load("k", loader)))
        for _ in range(30)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.calls == 1
    assert out == [{"v": 1}] * 30
    assert script_calls(conn) - before <= 4


def test_a_failing_loader_releases_the_lock_at_once(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    cache = make_cache("boom", ttl=60, lock_timeout=30)

    def boom() -> Any:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError, match="db down"):
        cache.get_or_load("k", boom)
    assert conn.sync.exists("castiel:cachelock:{boom}:k") == 0
    started = time.monotonic()
    assert cache.get_or_load("k", lambda: "ok") == "ok"
    assert (
        time.monotonic() - started < 10.0
    )  # no waiting for the 30 s lock (generous: a loaded machine)
    assert sample(cache.metrics, "castiel_cache_loads_total", cache="boom", outcome="error") == 1


def test_early_refresh_recomputes_a_hot_key_once_before_expiry(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    clock = Clock()
    cache = make_cache("early", ttl=10, jitter=0, clock=clock, rand=lambda: 0.5)
    first = Counting("v1", delay=0.05)
    assert cache.get_or_load("hot", first) == "v1"
    env = raw_entry(conn, "early", "hot")
    assert env.load_ms >= 40
    # Far from expiry: nobody refreshes.
    assert cache.get_or_load("hot", Counting("never")) == "v1"
    # -load_ms * ln(0.5) ~ 0.69 * load_ms before expiry, XFetch fires for every caller; the
    # lock lets exactly one recompute while the others keep the current value.
    clock.now = env.fresh_until_ms / 1000 - env.load_ms * 0.3 / 1000
    second = Counting("v2", delay=0.2)
    out: list[Any] = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get_or_load("hot", second)))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert second.calls == 1
    assert sorted(out) == ["v1"] * 9 + ["v2"]
    assert sample(cache.metrics, "castiel_cache_early_refreshes_total", cache="early") == 1
    clock.now = time.time()
    assert cache.get("hot") == "v2"


def test_stale_while_revalidate_serves_the_old_value_and_refreshes_once(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    clock = Clock()
    cache = make_cache("swr", ttl=10, stale_ttl=60, jitter=0, early_refresh_beta=0, clock=clock)
    began = time.monotonic()
    cache.get_or_load("k", lambda: "old")
    ttl = conn.sync.pttl("castiel:cache:{swr}:k")
    # 10 s fresh + 60 s stale, less however long writing and reading it took.
    assert 70_000 - (time.monotonic() - began) * 1000 - 10 <= ttl <= 70_000
    clock.now += 11  # past freshness, inside the stale window
    loader = Counting("new", delay=0.1)
    answers = [cache.get_or_load("k", loader) for _ in range(5)]
    assert answers == ["old"] * 5
    wait_until(lambda: raw_entry(conn, "swr", "k").value == "new", 20, message="background refresh")
    assert loader.calls == 1
    assert cache.get_or_load("k", loader) == "new"
    assert sample(cache.metrics, "castiel_cache_stale_total", cache="swr", layer="redis") >= 1


# -- warming ---------------------------------------------------------------------------------


def test_warm_loads_only_missing_keys_in_batches(make_cache: CacheFactory) -> None:
    cache = make_cache("warm", ttl=60)
    cache.set("k3", "already")
    batches: list[list[str]] = []
    lock = threading.Lock()

    def load(keys: list[str]) -> dict[str, str]:
        with lock:
            batches.append(keys)
        return {k: k.upper() for k in keys if k != "k7"}

    report = cache.warm([f"k{i}" for i in range(250)], load, batch_size=100, concurrency=3)
    assert (report.requested, report.present, report.loaded, report.not_found, report.failed) == (
        250,
        1,
        248,
        1,
        0,
    )
    assert sorted(len(b) for b in batches) == [50, 99, 100]
    assert cache.get("k3") == "already"
    assert cache.get("k249") == "K249"
    assert cache.get_or_load("k7", Counting("loader must not run")) is None  # cached not-found
    again = cache.warm([f"k{i}" for i in range(250)], load)
    assert (again.present, again.loaded) == (250, 0)


def test_warm_reports_failed_batches_and_goes_on(make_cache: CacheFactory) -> None:
    cache = make_cache("warmfail", ttl=60)

    def load(keys: list[str]) -> dict[str, int]:
        if "k0" in keys:
            raise RuntimeError("source timeout")
        return dict.fromkeys(keys, 1)

    report = cache.warm([f"k{i}" for i in range(20)], load, batch_size=10)
    assert (report.loaded, report.failed) == (10, 10)
    assert report.errors == ["RuntimeError: source timeout"]


# -- in-process layer ------------------------------------------------------------------------


def test_local_layer_serves_hits_and_is_bounded(make_cache: CacheFactory) -> None:
    cache = make_cache("local", ttl=60, local_max_entries=10)
    try:
        assert cache.wait_ready()
        cache.set_many({f"k{i}": i for i in range(20)})
        assert cache.local is not None and len(cache.local) == 10
        for _ in range(3):
            assert cache.get("k19") == 19
        m = cache.metrics
        assert sample(m, "castiel_cache_hits_total", cache="local", layer="local") == 3
        assert sample(m, "castiel_cache_evictions_total", cache="local", layer="local") == 10
        assert cache.get("k0") == 0  # evicted locally, still in Redis
        assert sample(m, "castiel_cache_hits_total", cache="local", layer="redis") == 1
    finally:
        cache.close()


def test_invalidations_reach_other_instances_local_layers(make_cache: CacheFactory) -> None:
    a = make_cache("shared", ttl=60, local_max_entries=100)
    b = make_cache("shared", ttl=60, local_max_entries=100)
    try:
        assert a.wait_ready() and b.wait_ready()
        a.set("x", 1, tags=["t"])
        a.set("y", 2)
        assert (b.get("x"), b.get("y")) == (1, 2)
        assert b.local is not None and "x" in b.local and "y" in b.local
        a.set("y", 3)  # an overwrite drops other processes' copies
        wait_until(lambda: "y" not in b.local, 2, message="overwrite to reach b")  # type: ignore[operator]
        assert b.get("y") == 3
        a.invalidate_tags(["t"])
        wait_until(lambda: "x" not in b.local, 2, message="tag invalidation to reach b")  # type: ignore[operator]
        assert b.get("x") is None
        a.delete("y")
        wait_until(lambda: "y" not in b.local, 2, message="delete to reach b")  # type: ignore[operator]
    finally:
        a.close()
        b.close()


# -- metrics ---------------------------------------------------------------------------------


def test_cache_metrics_appear_in_the_runtime_heartbeat_snapshot(make_cache: CacheFactory) -> None:
    runtime = RuntimeMetrics()
    metrics = CacheMetrics.from_runtime(runtime)
    assert metrics.registry is runtime.registry
    cache = make_cache("beat", ttl=60, metrics=metrics)
    cache.get_or_load("k", lambda: 1)
    cache.get_or_load("k", lambda: 1)
    cache.get("k")
    snapshot = {(name, tuple(sorted(labels.items()))): v for name, labels, v in runtime.snapshot()}
    assert snapshot[("castiel_cache_hits_total", (("cache", "beat"), ("layer", "redis")))] == 2
    assert snapshot[("castiel_cache_misses_total", (("cache", "beat"), ("layer", "redis")))] == 1
    assert snapshot[("castiel_cache_loads_total", (("cache", "beat"), ("outcome", "ok")))] == 1
    assert snapshot[("castiel_cache_load_duration_seconds_count", (("cache", "beat"),))] == 1


# -- asyncio ---------------------------------------------------------------------------------


def test_async_cache_single_flight_tags_and_local_layer(conn: RedisConnection) -> None:
    async def main() -> None:
        aio = connect(conn.settings.url).aio
        calls = 0

        async def load() -> dict[str, int]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.2)
            return {"v": 7}

        async with AsyncCache("async", aio, ttl=60, local_max_entries=50) as cache:
            out = await asyncio.gather(
                *(cache.get_or_load("k", load, tags=["t"]) for _ in range(100))
            )
            assert out == [{"v": 7}] * 100 and calls == 1
            assert cache.local is not None and "k" in cache.local
            assert await cache.get("k") == {"v": 7}
            await cache.set_many({"a": 1, "b": 2}, tags=["t"])
            assert await cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
            # A sync cache elsewhere invalidates; the async instance's layer follows.
            Cache("async", conn.sync).invalidate_tags(["t"])
            deadline = time.monotonic() + 2
            while "k" in cache.local and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert await cache.get("k") is None and await cache.get("a") is None
            report = await cache.warm(["w1", "w2"], lambda keys: {k: 1 for k in keys})
            assert report.loaded == 2
            assert await cache.delete("w1") == 1
        await aio.aclose()

    asyncio.run(main())


def test_fail_closed_raises_instead_of_loading(
    make_cache: CacheFactory, conn: RedisConnection
) -> None:
    dead = connect("redis://127.0.0.1:1/0", retries=0, connect_timeout=0.2, socket_timeout=0.2)
    cache = make_cache("closed", connection=dead, fail_open=False)
    with pytest.raises(CacheUnavailableError):
        cache.get_or_load("k", lambda: 1)
    with pytest.raises(CacheUnavailableError):
        cache.delete("k")  # never pretends an invalidation happened, fail-open or not
    assert conn.sync.ping()
