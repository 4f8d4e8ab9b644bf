"""Running the migrations with Alembic (imported only when a store needs migrating, or by a
developer writing one: `python -m collectors.migrations`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from collectors.migrations import HERE, LATEST_VERSION, VERSION_TABLE, SchemaState


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def upgrade(conn: Connection, state: SchemaState) -> list[str]:
    """Bring the schema to the head revision inside the caller's transaction; returns the
    revisions applied. A 0.1.0 store (no version table) is stamped with its revision first."""
    cfg = config(conn)
    if state.revision is None and state.legacy_version:
        command.stamp(cfg, f"{state.legacy_version:04d}")
    current = state.version
    command.upgrade(cfg, "head")
    if conn.dialect.name == "sqlite":
        # What 0.1.0 reads: an older Castiel refuses a store newer than it understands.
        conn.exec_driver_sql(f"PRAGMA user_version = {LATEST_VERSION:d}")
    return [f"{v:04d}" for v in range(current + 1, LATEST_VERSION + 1)]
