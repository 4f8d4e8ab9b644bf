"""Run phases (e.g. when spawning completed) for ramp-up exclusion.

Revision 0003, after 0002. Release 0.1.0's `PRAGMA user_version` 3. Written once, never
edited after a release: it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("phases", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    raise NotImplementedError("the store migrates forward only")
