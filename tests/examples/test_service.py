"""The example service for real: uvicorn in a subprocess, workers, redis-server, SQLite."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from castiel.redis_server import free_port
from runtime import JobState, Queue, connect
from tests.helpers import ROOT, start_worker_process, wait_until


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), raw
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def start_service(redis_url: str, db: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "examples.service",
            "--port",
            str(port),
            "--redis",
            redis_url,
            "--db",
            str(db),
            *flags,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return http("GET", base + "/health")[0] == 200
        except OSError:
            assert proc.poll() is None, proc.communicate()[0].decode()
            return False

    wait_until(up, 20, interval=0.1, message="the example service to answer")
    return proc, base


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite", "--no-cache")
    yield base
    proc.terminate()
    proc.wait(10)


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = http("GET", base + "/metrics")[2].decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_catalogue_and_permissions(service: str) -> None:
    status, _, body = http("GET", service + "/shards/type-4")
    assert status == 200 and json.loads(body) == {"name": "type-4", "replicas": 5, "tier": "warm"}
    assert http("GET", service + "/shards/nope")[0] == 404
    status, _, body = http("GET", service + "/users/5/permissions")
    assert json.loads(body) == {"user": 5, "permissions": ["admin", "read", "write"]}
    s = samples(service)
    key = (
        "castiel_http_requests_total",
        (("method", "GET"), ("route", "/shards/{shard_type}"), ("status", "200")),
    )
    assert s[key] == 1
    assert s[("castiel_db_query_duration_seconds_count", (("query", "shard_type"),))] == 2


def test_order_flow_runs_on_workers_with_the_request_correlation_id(
    service: str, redis_url: str
) -> None:
    status, headers, body = http(
        "POST",
        service + "/orders",
        {"user": 3, "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 5}]},
        {"X-Correlation-ID": "trace-123"},
    )
    assert status == 201 and headers["x-correlation-id"] == "trace-123"
    job_id = json.loads(body)["job"]
    orders = Queue(connect(redis_url).sync, "orders")
    job = orders.get_job(job_id)
    assert job is not None and job.correlation_id == "trace-123"
    assert job.state == JobState.WAITING_CHILDREN and len(job.children) == 2
    workers = [
        start_worker_process(f"examples.jobs:{w}", redis_url)
        for w in ("StockWorker", "OrderWorker")
    ]
    try:
        wait_until(
            lambda: (j := orders.get_job(job_id)) is not None and j.state == JobState.COMPLETED,
            20,
            message="the order flow",
        )
    finally:
        for w in workers:
            w.terminate()
            w.wait(20)
    done = orders.get_job(job_id)
    assert done is not None and done.result == {"order": json.loads(body)["order"], "items": 7}
    stock = Queue(connect(redis_url).sync, "stock")
    child = stock.get_job(done.children[0].partition(":")[2])
    assert child is not None and child.correlation_id == "trace-123"


def test_bad_order_is_a_400(service: str) -> None:
    assert http("POST", service + "/orders", {"items": [{"sku": "a"}]})[0] == 400
    assert http("POST", service + "/orders", {"items": []})[0] == 400


def test_queries_per_request_expose_n_plus_one(redis_url: str, tmp_path: Path) -> None:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite", "--no-cache", "--n-plus-one")
    try:
        items = [{"sku": f"s{i}", "qty": 1} for i in range(6)]
        order = json.loads(http("POST", base + "/orders", {"items": items})[2])["order"]
        assert http("GET", f"{base}/orders/{order}")[0] == 200
        s = samples(base)
    finally:
        proc.terminate()
        proc.wait(10)
    per_request = s[("castiel_db_queries_per_request_sum", (("route", "/orders/{order_id:int}"),))]
    assert per_request == 1 + 1 + 6  # the order, the sku list, then one query per item


LAYERS = ("local", "redis")


def test_cache_on_serves_lookups_without_the_database_and_exports_hits(
    redis_url: str, tmp_path: Path
) -> None:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")  # the cache is on by default
    try:
        for _ in range(3):
            status, _, body = http("GET", base + "/shards/type-4")
            assert status == 200 and json.loads(body)["tier"] == "warm"
            status, _, body = http("GET", base + "/users/7/permissions")
            assert json.loads(body) == {"user": 7, "permissions": ["read", "write"]}
        # A grant invalidates the user's cached permissions before the answer is sent.
        assert http("POST", base + "/users/7/permissions", {"permission": "audit"})[0] == 201
        status, _, body = http("GET", base + "/users/7/permissions")
        assert json.loads(body)["permissions"] == ["audit", "read", "write"]
        s = samples(base)
    finally:
        proc.terminate()
        proc.wait(10)

    def value(name: str, **labels: str) -> float:
        return s.get((name, tuple(sorted(labels.items()))), 0.0)

    # Shard types were warmed at start-up: no per-request shard query at all.
    assert value("castiel_db_query_duration_seconds_count", query="shard_type") == 0
    assert value("castiel_db_query_duration_seconds_count", query="shard_types_batch") >= 1
    route = "/shards/{shard_type}"
    assert value("castiel_db_queries_per_request_sum", route=route) == 0
    assert value("castiel_db_queries_per_request_count", route=route) == 3

    def hits(cache: str) -> float:
        return sum(value("castiel_cache_hits_total", cache=cache, layer=x) for x in LAYERS)

    # Permissions: loaded once, served from the cache twice, loaded again after the grant.
    assert value("castiel_db_query_duration_seconds_count", query="permissions") == 2
    assert hits("permissions") == 2
    assert value("castiel_cache_misses_total", cache="permissions", layer="redis") == 2
    # The catalogue answer itself is cached: the first request built it (one shard-type
    # lookup, a hit of the warmed cache), the next two were replayed by the response cache.
    assert hits("shard-types") == 1
    assert value("castiel_cache_misses_total", cache="shard-types", layer="redis") == 0
    assert hits("http-catalogue") == 2
    assert value("castiel_cache_misses_total", cache="http-catalogue", layer="redis") == 1


def test_no_cache_sends_every_lookup_to_the_database(service: str) -> None:
    for _ in range(3):
        assert http("GET", service + "/users/7/permissions")[0] == 200
    s = samples(service)
    assert s[("castiel_db_query_duration_seconds_count", (("query", "permissions"),))] == 3
    assert not any(name.startswith("castiel_cache_") for name, _ in s)


def test_catalogue_responses_are_replayed_and_only_big_answers_are_compressed(
    redis_url: str, tmp_path: Path
) -> None:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    try:
        first = http("GET", base + "/shards/type-2")
        second = http("GET", base + "/shards/type-2")
        small = http("GET", base + "/users/3/permissions", headers={"Accept-Encoding": "gzip"})
        big = http("GET", base + "/metrics", headers={"Accept-Encoding": "gzip"})
    finally:
        proc.terminate()
        proc.wait(10)
    assert (first[1]["x-cache"], second[1]["x-cache"]) == ("miss", "hit")
    assert first[2] == second[2] and json.loads(second[2])["name"] == "type-2"
    assert "content-encoding" not in {k.lower() for k in small[1]}  # under one TCP segment
    assert big[1].get("content-encoding") == "gzip"
    text = gzip.decompress(big[2]).decode()
    assert "castiel_http_requests_total" in text and len(big[2]) < len(text) / 3


def test_a_locked_database_does_not_stall_the_event_loop(redis_url: str, tmp_path: Path) -> None:
    """An order write waits for a database lock another process holds; meanwhile the service
    keeps answering (its database calls run in the thread pool, not on the event loop)."""
    db = tmp_path / "db.sqlite"
    proc, base = start_service(redis_url, db, "--no-cache")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with ThreadPoolExecutor(1) as pool:
            order = pool.submit(http, "POST", base + "/orders", {"items": [{"sku": "a", "qty": 1}]})
            # For a whole second of the write's wait, every other request answers at once.
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                started = time.monotonic()
                assert http("GET", base + "/health")[0] == 200
                assert http("GET", base + "/users/3/permissions")[0] == 200  # WAL: reads go on
                assert time.monotonic() - started < 0.5
            assert not order.done()
            holder.execute("ROLLBACK")
            assert order.result(20)[0] == 201
    finally:
        holder.close()
        proc.terminate()
        proc.wait(10)


def test_max_concurrency_and_delay_give_a_known_capacity(redis_url: str, tmp_path: Path) -> None:
    # 2 slots x 200 ms: 6 simultaneous requests need 3 rounds, so at least 600 ms.
    proc, base = start_service(
        redis_url, tmp_path / "db.sqlite", "--max-concurrency", "2", "--delay", "200"
    )
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            url = base + "/users/1/permissions"
            codes = list(pool.map(lambda _: http("GET", url)[0], range(6)))
        elapsed = time.monotonic() - started
        health_started = time.monotonic()
        assert http("GET", base + "/health")[0] == 200
        assert time.monotonic() - health_started < 0.2  # never held back
    finally:
        proc.terminate()
        proc.wait(10)
    assert codes == [200] * 6 and elapsed >= 0.6
