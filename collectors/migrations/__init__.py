"""The store's schema migrations: one Alembic history for SQLite and PostgreSQL.

Revisions are numbered `0001`, `0002`, ... (`versions/`); the number is the store's schema
version. Alembic records the applied revision in the table `castiel_schema_version` (not
`alembic_version`, so a PostgreSQL database shared with another Alembic project is not
confused). On SQLite `PRAGMA user_version` mirrors the number, as it did before Alembic: a
store written by release 0.1.0 (`user_version` 1 to 3, no version table) is stamped with the
matching revision and upgraded from there, and an older Castiel still refuses a store that is
newer than it.

`apply.upgrade(conn, state)` runs inside the caller's transaction (`env.py` uses that
connection), so the caller decides the locking: `collectors.database` takes SQLite's write
lock or a PostgreSQL advisory lock first, then reads `schema_state`, then upgrades. See
docs/development.md for how to add a migration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, column, inspect, select, table

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "castiel_schema_version"
LEGACY_LAST = 3
"""The last `PRAGMA user_version` of release 0.1.0, before Alembic: revisions 0001-0003
re-create exactly its three migrations."""


def version_of(revision: str) -> int:
    """`0003` -> 3; a revision this Castiel does not know may not be a number at all."""
    return int(revision) if revision.isdigit() else 1 << 30


_REVISION_FILE = re.compile(r"^r(\d{4})_\w+\.py$")


def known_revisions() -> list[str]:
    """The revisions this Castiel has, from the file names in `versions/` (cheap: Alembic
    itself is imported only to migrate, `collectors.migrations.apply`)."""
    found = (_REVISION_FILE.match(p.name) for p in (HERE / "versions").iterdir())
    return sorted(m.group(1) for m in found if m)


def is_known(revision: str) -> bool:
    return revision in known_revisions()


LATEST_VERSION = version_of(known_revisions()[-1])
"""The schema version this Castiel writes (the head revision's number)."""


READABLE_FROM = 3
"""The oldest schema a read-only Castiel reads without migrating it: the revisions after it
only add alerting's tables and columns, which readers do without (alerts.db: a store whose
alert tables are missing reads as one without alerts). So a dashboard keeps working on a
store that no writer of this version has opened yet."""


def head_revision() -> str:
    return f"{LATEST_VERSION:04d}"


@dataclass(frozen=True)
class SchemaState:
    revision: str | None
    """Alembic's record, None when the version table is absent."""
    legacy_version: int
    """SQLite's `PRAGMA user_version` (0 on PostgreSQL)."""
    tables: frozenset[str]

    @property
    def version(self) -> int:
        """The schema version: Alembic's, else release 0.1.0's user_version, else 0."""
        if self.revision is not None:
            return version_of(self.revision)
        return self.legacy_version

    @property
    def empty(self) -> bool:
        return self.version == 0 and not self.tables


def schema_state(conn: Connection) -> SchemaState:
    # Read directly rather than through Alembic's MigrationContext, which logs at INFO on
    # every open.
    names = frozenset(inspect(conn).get_table_names())
    revision = None
    if VERSION_TABLE in names:
        version = table(VERSION_TABLE, column("version_num"))
        revision = conn.execute(select(version.c.version_num)).scalar()
    legacy = 0
    if conn.dialect.name == "sqlite":
        legacy = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
    return SchemaState(revision, legacy, names - {VERSION_TABLE})


def same_default(
    ctx: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """For Alembic's comparisons (autogenerate, tests): SQLite reads DEFAULT '' back as
    "('')", the same default, not a change."""
    if ctx.dialect.name != "sqlite" or inspected_default is None:
        return None  # Alembic's own comparison
    if rendered_metadata_default is None:
        return None
    return inspected_default.strip("()'\"") != rendered_metadata_default.strip("()'\"")


__all__ = [
    "LATEST_VERSION",
    "READABLE_FROM",
    "VERSION_TABLE",
    "SchemaState",
    "head_revision",
    "is_known",
    "same_default",
    "schema_state",
    "upgrade",
]
