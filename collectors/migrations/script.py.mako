"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. Written once, never edited after a
release: it runs on SQLite and on PostgreSQL (docs/development.md, "Adding a migration")."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("the store migrates forward only")
