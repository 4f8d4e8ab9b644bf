"""The example service's SQLite database, instrumented: every query is timed by name, and the
number of queries per request is recorded, so budgets catch slow queries and N+1 patterns.

sqlite3 blocks, so the service never calls it on its event loop: `in_thread(fn, ...)` runs
a function of queries in the default thread pool (one connection per thread), with the
request's context, so its queries still count towards the request that made them."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import Histogram

from runtime import RuntimeMetrics

_queries_in_request: ContextVar[list[int] | None] = ContextVar("queries", default=None)
T = TypeVar("T")
DB_BUCKETS = (
    *(0.00005, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075),
    *(0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05),
    *(0.1, 0.25, 0.5, 1.0),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS shard_types (name TEXT PRIMARY KEY, replicas INTEGER, tier TEXT);
CREATE TABLE IF NOT EXISTS permissions (user_id INTEGER, permission TEXT);
CREATE INDEX IF NOT EXISTS permissions_user ON permissions(user_id);
CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, user_id INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS order_items (order_id INTEGER, sku TEXT, qty INTEGER);
CREATE INDEX IF NOT EXISTS order_items_order ON order_items(order_id);
"""


class Database:
    def __init__(self, path: Path, metrics: RuntimeMetrics) -> None:
        self.path = path
        self._local = threading.local()
        self.query_seconds = Histogram(
            "castiel_db_query_duration_seconds",
            "Database query duration by query name.",
            ["query"],
            # Queries run in the thread pool and take 0.1-2 ms there (GIL hand-offs
            # included): bounds about 1.5x apart keep their percentiles sharp (classic
            # buckets are interpolated linearly inside).
            buckets=DB_BUCKETS,
            registry=metrics.registry,
        )
        self.per_request = Histogram(
            "castiel_db_queries_per_request",
            "Database queries issued per HTTP request.",
            ["route"],
            buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55),
            registry=metrics.registry,
        )
        metrics.own(self.query_seconds)
        metrics.own(self.per_request)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def setup(self, shard_types: int = 50, users: int = 1000) -> None:
        conn = self._conn()
        conn.executescript(SCHEMA)
        if conn.execute("SELECT COUNT(*) FROM shard_types").fetchone()[0] == 0:
            conn.executemany(
                "INSERT INTO shard_types VALUES (?, ?, ?)",
                [
                    (f"type-{i}", 1 + i % 5, ("hot", "warm", "cold")[i % 3])
                    for i in range(shard_types)
                ],
            )
            conn.executemany(
                "INSERT INTO permissions VALUES (?, ?)",
                [(u, p) for u in range(users) for p in ("read", "write", "admin")[: 1 + u % 3]],
            )

    def query(self, name: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        start = time.perf_counter()
        try:
            return self._conn().execute(sql, params).fetchall()
        finally:
            self.query_seconds.labels(name).observe(time.perf_counter() - start)
            counter = _queries_in_request.get()
            if counter is not None:
                counter[0] += 1

    def execute(self, name: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        start = time.perf_counter()
        try:
            cur = self._conn().execute(sql, params)
            return int(cur.lastrowid or 0)
        finally:
            self.query_seconds.labels(name).observe(time.perf_counter() - start)
            counter = _queries_in_request.get()
            if counter is not None:
                counter[0] += 1

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the thread pool (asyncio.to_thread copies the request's context)."""
        return await asyncio.to_thread(fn, *args)

    async def aquery(self, name: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await self.in_thread(self.query, name, sql, params)

    async def aexecute(self, name: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        return await self.in_thread(self.execute, name, sql, params)

    @contextmanager
    def counting(self, route: str) -> Iterator[None]:
        """Count the queries a request issues and record them under its route."""
        counter = [0]
        token = _queries_in_request.set(counter)
        try:
            yield
        finally:
            _queries_in_request.reset(token)
            self.per_request.labels(route).observe(counter[0])
