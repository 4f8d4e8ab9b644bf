"""The cache's pure parts: envelope, TTL jitter, XFetch, the in-process layer's rules, and
the step protocol of `CacheOps` driven by hand."""

from __future__ import annotations

import asyncio
import math

import pytest
import redis.exceptions
from hypothesis import given
from hypothesis import strategies as st

from runtime.cache import CacheMetrics, CacheOptions, CacheUnavailableError, JsonCodec
from runtime.cache.envelope import Envelope, pack, unpack
from runtime.cache.errors import CacheError
from runtime.cache.invalidation import decode_message, encode_message
from runtime.cache.local import LocalLayer
from runtime.cache.ops import CacheOps
from runtime.cache.policy import jittered_ms, should_refresh_early
from runtime.cache.steps import Flight, Get, Load, Script
from runtime.errors import ConfigError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@given(
    value=json_values.filter(lambda v: v is not None),
    tags=st.lists(st.text(min_size=1), max_size=3),
)
def test_envelope_round_trips(value: object, tags: list[str]) -> None:
    env = Envelope(value, 1_700_000_000_123, 42, False, tuple(tags))
    assert unpack(pack(env, JsonCodec()), JsonCodec()) == env


def test_negative_envelope_and_garbage() -> None:
    env = Envelope(None, 5, 0, True)
    assert unpack(pack(env, JsonCodec()), JsonCodec()) == env
    for raw in (b"plain value", b"1|x|0|0|\n1", b"1|1|0|0|\n{bad json"):
        with pytest.raises(CacheError):
            unpack(raw, JsonCodec())


@given(ttl=st.floats(0.01, 1e6), jitter=st.floats(0, 0.99), rand=st.floats(0, 0.999999))
def test_jitter_never_exceeds_ttl_nor_undercuts_the_window(
    ttl: float, jitter: float, rand: float
) -> None:
    ms = jittered_ms(ttl, jitter, rand)
    assert 1 <= ms <= max(1, int(ttl * 1000))
    assert ms >= int(ttl * 1000 * (1 - jitter)) - 1


def test_xfetch_fires_closer_to_expiry_and_for_slower_loads() -> None:
    expiry = 100_000
    # rand = e^-1: fires once the remaining time is below load_ms * beta.
    r = math.exp(-1)
    assert not should_refresh_early(expiry - 500, expiry, 100, 1.0, r)
    assert should_refresh_early(expiry - 50, expiry, 100, 1.0, r)
    assert should_refresh_early(expiry - 500, expiry, 1000, 1.0, r)
    assert not should_refresh_early(expiry - 1, expiry, 100, 0.0, r)  # beta 0: off
    assert not should_refresh_early(expiry - 1, expiry, 0, 1.0, r)  # unknown load time


def test_options_are_validated() -> None:
    for bad in ({"ttl": 0}, {"jitter": 1.0}, {"lock_timeout": 0}, {"local_max_entries": -1}):
        with pytest.raises(ConfigError):
            CacheOptions(**bad)  # type: ignore[arg-type]
    assert CacheOptions(lock_timeout=3).wait_seconds == 4.0


def fresh(value: object, tags: tuple[str, ...] = ()) -> Envelope:
    return Envelope(value, 10_000_000_000_000, 1, False, tags)


def test_local_layer_is_lru_bounded_and_respects_expiry() -> None:
    layer = LocalLayer(max_entries=2, ttl=10)
    layer.set_ready(True)
    for key in ("a", "b"):
        assert layer.put(key, fresh(key), layer.ticket(), now=0)
    assert layer.get("a", now=1) is not None  # a is now the most recent
    layer.put("c", fresh("c"), layer.ticket(), now=1)
    assert "b" not in layer and "a" in layer and "c" in layer
    assert layer.counts.evictions == 1
    assert layer.get("a", now=20) is None  # past local_ttl
    expiring = Envelope("x", 5_000, 1, False)  # fresh until t=5 s
    layer.put("x", expiring, layer.ticket(), now=1)
    assert layer.get("x", now=4.9) is not None and layer.get("x", now=5.1) is None


def test_a_read_that_raced_an_invalidation_is_not_stored() -> None:
    layer = LocalLayer(max_entries=10, ttl=10)
    layer.set_ready(True)
    ticket = layer.ticket()  # a reader starts reading "k" from Redis
    layer.invalidate(["k"])  # meanwhile "k" is invalidated
    assert not layer.put("k", fresh("old"), ticket, now=0)
    ticket = layer.ticket()
    layer.invalidate([], ["t"])
    assert not layer.put("k", fresh("old", ("t",)), ticket, now=0)
    assert layer.put("k", fresh("ok", ("u",)), ticket, now=0)  # unrelated invalidation
    layer.invalidate([], ["u"])
    assert "k" not in layer


def test_local_layer_is_off_until_subscribed_and_cleared_when_the_channel_drops() -> None:
    layer = LocalLayer(max_entries=10, ttl=10)
    assert not layer.put("k", fresh(1), layer.ticket(), now=0)
    layer.set_ready(True)
    assert layer.put("k", fresh(1), layer.ticket(), now=0)
    layer.set_ready(False)
    assert len(layer) == 0 and layer.get("k", now=0) is None


def test_invalidation_messages() -> None:
    inv = decode_message(encode_message("me", ["a"], ["t"]))
    assert inv is not None and (inv.origin, inv.keys, inv.tags) == ("me", ("a",), ("t",))
    assert decode_message(b"not json") is None


# -- the step protocol (runtime/cache/ops.py), driven by hand: no Redis, no shell ------------


def _ops(**options: object) -> CacheOps:
    return CacheOps("units", None, dict(options), None, CacheMetrics(), lambda: 1000.0, None)


def test_a_redis_hit_is_one_get_and_a_miss_goes_through_the_flight_to_the_lock() -> None:
    ops = _ops(ttl=60, jitter=0, early_refresh_beta=0)
    fresh = pack(Envelope("v", 2_000_000, 5), JsonCodec())
    hit = ops.get_or_load("k", None, ())
    assert next(hit) == Get("castiel:cache:{units}:k")
    with pytest.raises(StopIteration) as done:
        hit.send(fresh)
    assert done.value.value == "v"

    miss = ops.get_or_load("k", None, ())
    next(miss)
    flight = miss.send(None)
    assert isinstance(flight, Flight) and flight.key == "k"
    lock = next(flight.steps)
    assert isinstance(lock, Script) and lock.name == "fetch_or_lock"
    assert isinstance(flight.steps.send([2, b"0"]), Load)  # we hold the lock: load
    fill = flight.steps.send({"n": 1})
    assert isinstance(fill, Script) and fill.name == "fill"
    with pytest.raises(StopIteration) as loaded:
        flight.steps.send(1)
    assert loaded.value.value == {"n": 1}


def test_redis_down_is_thrown_in_and_the_loader_answers_without_redis() -> None:
    ops = _ops()
    steps = ops.get_or_load("k", None, ())
    next(steps)
    flight = steps.throw(redis.exceptions.ConnectionError("refused"))
    assert isinstance(flight, Flight)
    assert next(flight.steps) == Load()
    with pytest.raises(StopIteration) as done:
        flight.steps.send("from the loader")
    assert done.value.value == "from the loader"
    # Within retry_after, the next call does not even try Redis.
    skipped = ops.get_or_load("k", None, ())
    assert isinstance(next(skipped), Flight)


def test_a_failing_loader_releases_the_lock_even_when_cancelled() -> None:
    ops = _ops()
    steps = ops.get_or_load("k", None, ())
    next(steps)
    fill = steps.send(None).steps
    next(fill)
    assert fill.send([2, b"0"]) == Load()
    release = fill.throw(asyncio.CancelledError())
    assert isinstance(release, Script) and release.name == "release" and release.shielded
    with pytest.raises(asyncio.CancelledError):
        fill.send(1)


def test_a_plain_get_is_decided_before_and_after_the_one_call() -> None:
    ops = _ops(ttl=60)
    fresh = pack(Envelope("v", 2_000_000), JsonCodec())  # clock: 1,000,000 ms
    stale = pack(Envelope("old", 999_999), JsonCodec())
    ticket = ops.before_read()
    assert ticket == 0
    assert ops.read_reply("k", fresh, ticket, "dflt") == "v"
    assert ops.read_reply("k", stale, ticket, "dflt") == "dflt"
    assert ops.read_reply("k", b"not an envelope", ticket, "dflt") == "dflt"
    assert ops.read_reply("k", None, ticket, "dflt") == "dflt"
    assert (ops.m.redis.hits, ops.m.redis.misses) == (1, 3)
    assert ops.read_failed(redis.exceptions.ConnectionError("refused"), "dflt") == "dflt"
    assert ops.before_read() is None  # within retry_after: do not even try
    closed = _ops(fail_open=False)
    with pytest.raises(CacheUnavailableError):
        closed.read_failed(redis.exceptions.ConnectionError("refused"), "dflt")
