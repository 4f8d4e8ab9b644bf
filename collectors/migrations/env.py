"""Alembic's entry point for the store's migrations.

Castiel itself passes the connection it has locked (`config.attributes["connection"]`) and
runs inside that connection's transaction. For a developer running Alembic by hand
(`python -m collectors.migrations ...`, docs/development.md) the connection comes from the
same place."""

from __future__ import annotations

from alembic import context

from collectors.migrations import VERSION_TABLE, same_default
from collectors.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite alters a table by copying it; batch mode does that for every ALTER.
    render_as_batch=True,
    compare_server_default=same_default,
)
with context.begin_transaction():
    context.run_migrations()
