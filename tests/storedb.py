"""Look inside a store behind Castiel's back (either backend): what the tests check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from collectors.locator import store_locator


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
