"""Settings (retention) kept in the store itself.

Revision 0002, after 0001. Release 0.1.0's `PRAGMA user_version` 2. Written once, never
edited after a release: it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    raise NotImplementedError("the store migrates forward only")
