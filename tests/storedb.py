"""Look inside a store behind Castiel's back (either backend): what the tests check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, inspect, text

from collectors.locator import store_locator
from collectors.model import Batch, Histogram, SeriesKey
from collectors.store import Store


def sql(location: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the store at `location` in its own transaction; the rows."""
    engine = create_engine(store_locator(location).url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def scalar(location: str, query: str, **params: Any) -> Any:
    return sql(location, query, **params)[0][0]


def dump(location: str) -> str:
    """Every row of every table of the store, as text: what a leak check greps."""
    engine = create_engine(store_locator(location).url)
    try:
        with engine.connect() as conn:
            return "\n".join(
                repr(tuple(row))
                for name in sorted(inspect(conn).get_table_names())
                for row in conn.execute(text(f'SELECT * FROM "{name}"'))
            )
    finally:
        engine.dispose()


def fill_run(location: str, started_at: float = 1000.0, seconds: int = 10) -> str:
    """One finished run with Locust-like latency and request counts, through the Store API."""
    with Store.open(location) as store:
        run = store.create_run(started_at=started_at, scenario="normal", git_branch="main")
        for t in range(int(started_at) + 1, int(started_at) + seconds + 1):
            b = Batch()
            b.add_histogram(
                SeriesKey.of("locust_request_duration_seconds", {"name": "/a", "method": "GET"}),
                t - 1,
                t,
                Histogram.of([0.05, 0.1, 0.2]),
            )
            b.add_increment(SeriesKey.of("locust_requests_total", {"name": "/a"}), t, 3)
            store.write(run.id, b)
        store.finish_run(run.id, started_at + seconds)
    return run.id
