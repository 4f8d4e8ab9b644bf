"""One schema definition (`collectors.schema`) and one set of migrations
(`collectors/migrations`) must describe the same database, on both backends: Alembic's own
comparison finds no difference between a migrated store and the Table objects."""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from collectors.locator import store_locator
from collectors.migrations import LATEST_VERSION, VERSION_TABLE, head_revision, same_default
from collectors.migrations.apply import script_directory
from collectors.schema import ALERT_TABLES, CORE_TABLES, metadata
from collectors.store import Store

DATA = Path(__file__).parent / "data"


def _differences(location: str) -> list[object]:
    engine = create_engine(store_locator(location).url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": same_default,
                    "version_table": VERSION_TABLE,
                },
            )
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()


def _shape(location: str) -> dict[str, tuple[list[str], list[str | None]]]:
    """Each table's columns and index names."""
    engine = create_engine(store_locator(location).url)
    try:
        insp = inspect(engine)
        return {
            t: (
                [c["name"] for c in insp.get_columns(t)],
                sorted(i["name"] or "" for i in insp.get_indexes(t)),
            )
            for t in (*CORE_TABLES, *ALERT_TABLES)
        }
    finally:
        engine.dispose()


def test_migrations_build_the_schema_module_on_sqlite(tmp_path: Path) -> None:
    Store.open(tmp_path / "c.db").close()
    assert _differences(str(tmp_path / "c.db")) == []


def test_an_upgraded_0_1_0_store_has_the_same_tables_columns_and_indexes(tmp_path: Path) -> None:
    # 0.1.0 declared REAL rather than FLOAT and left constraints unnamed: the same thing to
    # SQLite, and not worth copying every point of a big store to rename. Its alert tables
    # (made by alerting itself) gain revision 0004's columns and index.
    shutil.copyfile(DATA / "store-0.1.0.db", tmp_path / "old.db")
    Store.open(tmp_path / "old.db").close()
    Store.open(tmp_path / "new.db").close()
    assert _shape(str(tmp_path / "old.db")) == _shape(str(tmp_path / "new.db"))


def test_migrations_build_the_schema_module_on_postgres(empty_postgres_url: str) -> None:
    Store.migrate(empty_postgres_url)
    assert _differences(empty_postgres_url) == []


def test_revisions_are_numbered_in_one_line() -> None:
    revs = list(script_directory().walk_revisions())
    assert [r.revision for r in reversed(revs)] == [
        f"{v:04d}" for v in range(1, LATEST_VERSION + 1)
    ]
    assert head_revision() == f"{LATEST_VERSION:04d}" == script_directory().get_current_head()
    assert set(CORE_TABLES) | set(ALERT_TABLES) == set(metadata.tables)
