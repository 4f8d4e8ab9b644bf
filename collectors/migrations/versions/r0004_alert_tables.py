"""Alerting's tables (silences, outbox, attempts, events, engine state) in the store's schema,
on both backends; the outbox learns each notification's alert group, so delivery is ordered
per receiver and group and a newer notification supersedes an older one.

Revision 0004, after 0003. Before it, alerting created these tables itself in SQLite stores
(`CREATE TABLE IF NOT EXISTS`, alerts/db.py of Castiel 0.1.0 up to this revision): such
tables are kept with their rows, and only what is new is added to them. Written once, never
edited after a release: it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "alert_silences" not in have:
        _silences()
    if "alert_outbox" in have:
        _extend_outbox()
    else:
        _outbox()
    if "alert_attempts" not in have:
        _attempts()
    if "alert_events" not in have:
        _events()
    if "alert_engine_state" not in have:
        _engine_state()


def _silences() -> None:
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_silences"),
    )


def _outbox() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", _ID, nullable=False),
        sa.Column("receiver", sa.Text, nullable=False),
        sa.Column("primary_receiver", sa.Text, nullable=False),
        sa.Column("fallback_of", _ID),
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("notification", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("last_reason", sa.Text),
        sa.Column("updated_at", sa.Float),
        sa.Column("group_dedup_key", sa.Text, nullable=False, server_default=""),
        sa.Column("superseded_by", _ID),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
        sqlite_autoincrement=True,
    )
    op.create_index("alert_outbox_due", "alert_outbox", ["state", "next_attempt_at"])
    _group_index()


def _extend_outbox() -> None:
    """A table alerting made before this revision: two columns more (SQLite adds them in
    place), and the group of every notification still waiting, from its JSON."""
    op.add_column(
        "alert_outbox",
        sa.Column("group_dedup_key", sa.Text, nullable=False, server_default=""),
    )
    op.add_column("alert_outbox", sa.Column("superseded_by", _ID))
    _group_index()
    conn = op.get_bind()
    outbox = sa.table(
        "alert_outbox",
        sa.column("id"),
        sa.column("notification"),
        sa.column("state"),
        sa.column("group_dedup_key"),
    )
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.notification).where(outbox.c.state == "pending")
    ).all()
    for row_id, text in rows:
        try:
            key = json.loads(text).get("group_dedup_key") or ""
        except (ValueError, AttributeError):
            continue  # unreadable: its delivery says so; it just is not ordered
        if key:
            conn.execute(
                sa.update(outbox).where(outbox.c.id == row_id).values(group_dedup_key=str(key))
            )


def _group_index() -> None:
    op.create_index(
        "alert_outbox_group", "alert_outbox", ["receiver", "group_dedup_key", "state", "id"]
    )


def _attempts() -> None:
    op.create_table(
        "alert_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("outbox_id", _ID),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("receiver", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("test", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_attempts"),
        sqlite_autoincrement=True,
    )
    op.create_index("alert_attempts_at", "alert_attempts", ["at"])


def _events() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("dedup_key", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("group_labels", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("threshold", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("run_verdict", sa.Text),
        sa.Column("suppressed", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("alert_events_at", "alert_events", ["at"])
    op.create_index("alert_events_key", "alert_events", ["dedup_key", "id"])
    op.create_index("alert_events_run", "alert_events", ["run_id", "at"])


def _engine_state() -> None:
    op.create_table(
        "alert_engine_state",
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("run_scoped", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("scope", name="pk_alert_engine_state"),
    )


def downgrade() -> None:
    raise NotImplementedError("the store migrates forward only")
