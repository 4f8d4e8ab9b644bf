"""The injected regression of the example service (`--slow ROUTE=AMOUNT`), used by
bench/gate_power.py: only the named route slows down, by the amount asked, and the service's
own latency metric sees it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.slowdown import Slow, parse_slow
from tests.examples.test_service import http, start_service


def test_parse_slow() -> None:
    assert parse_slow("/orders=25%") == ("/orders", Slow(fraction=0.25))
    assert parse_slow("POST /orders=20ms") == ("POST /orders", Slow(fixed=0.02))
    for bad in ("/orders", "=25%", "/orders=fast", "/orders=-5%"):
        with pytest.raises(ValueError):
            parse_slow(bad)


def durations(base: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of the service's request durations per route."""
    _, _, body = http("GET", base + "/metrics")
    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        if family.name != "castiel_http_request_duration_seconds":
            continue
        for s in family.samples:
            if s.name.endswith(("_sum", "_count")):
                cell = out.setdefault(s.labels["route"], [0.0, 0.0])
                cell[0 if s.name.endswith("_sum") else 1] += s.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_only_the_named_route_is_slowed(redis_url: str, tmp_path: Path) -> None:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite", "--slow", "POST /orders=40ms")
    try:
        timings: dict[str, list[float]] = {"/orders": [], "/shards/{shard_type}": []}
        for _ in range(10):
            t = time.perf_counter()
            order = {"user": 1, "items": [{"sku": "a", "qty": 1}]}
            status = http("POST", base + "/orders", order)[0]
            timings["/orders"].append(time.perf_counter() - t)
            assert status == 201
            t = time.perf_counter()
            assert http("GET", base + "/shards/type-1")[0] in (200, 404)
            timings["/shards/{shard_type}"].append(time.perf_counter() - t)
        assert min(timings["/orders"]) >= 0.04  # every order paused 40 ms
        assert min(timings["/shards/{shard_type}"]) < 0.04
        seen = durations(base)
        total, count = seen["/orders"]
        assert count == 10 and total / count >= 0.04  # the service's own metric includes it
    finally:
        proc.terminate()
        proc.wait(10)
