"""The store's tables, once, for both backends (SQLite and PostgreSQL): every query in
`collectors.store` (and in `alerts/`, for alerting's tables) is built from these `Table`s.
The migrations in `collectors/migrations/` create the same schema step by step;
`tests/collectors/test_store_schema.py` compares a migrated database with this module on
both backends, so the two cannot drift apart.

Types are the portable ones: `Float` is a double on both, `LargeBinary` is BLOB/bytea, JSON
documents are `Text` (plain JSON, readable by any tool)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

# Deterministic constraint names, so a later migration can name what it alters on both
# backends (PostgreSQL would otherwise invent its own).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

runs = Table(
    "runs",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("scenario", Text, nullable=False, server_default=""),
    Column("git_commit", Text),
    Column("git_branch", Text),
    Column("config_hash", Text),
    Column("environment", Text, nullable=False, server_default="{}"),
    Column("status", Text, nullable=False, server_default="running"),
    Column("verdict", Text),
    Column("phases", Text, nullable=False, server_default="{}"),
    Index("runs_by_start", "started_at"),
    Index("runs_by_branch", "git_branch", "scenario", "started_at"),
)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("kind", Text, nullable=False),
    UniqueConstraint("name", "labels"),
)

points = Table(
    "points",
    metadata,
    Column("run_pk", Integer, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("series_id", Integer, ForeignKey("series.id"), nullable=False),
    Column("ts", Float, nullable=False),
    Column("value", Float, nullable=False),
    Index("points_by_run", "run_pk", "series_id", "ts"),
)

histograms = Table(
    "histograms",
    metadata,
    Column("run_pk", Integer, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("series_id", Integer, ForeignKey("series.id"), nullable=False),
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("offset", Integer, nullable=False),
    # Dense bucket counts from bucket index `offset`: little-endian unsigned integers whose
    # width (2, 4 or 8 bytes) is the first byte (`collectors.store.encode_counts`).
    Column("counts", LargeBinary, nullable=False),
    Column("zero_count", Integer, nullable=False),
    Column("total", Float, nullable=False),
    Column("min", Float),
    Column("max", Float),
    Index("histograms_by_run", "run_pk", "series_id", "end"),
)

verdicts = Table(
    "verdicts",
    metadata,
    # Live verdicts are replaced every second, so ids run high on a monitor that runs for
    # years; SQLite's INTEGER is 64-bit already (and must stay INTEGER to be the rowid).
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("run_pk", Integer, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("source", Text, nullable=False),
    Column("evaluated_at", Float, nullable=False),
    Column("budget", Text, nullable=False),
    Column("group_key", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Index("verdicts_by_run", "run_pk", "source"),
)

baselines = Table(
    "baselines",
    metadata,
    Column("name", Text, primary_key=True),
    Column("run_pk", Integer, ForeignKey("runs.pk"), nullable=False),
    Column("created_at", Float, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

CORE_TABLES = ("runs", "series", "points", "histograms", "verdicts", "baselines", "settings")

# --- alerting's tables -----------------------------------------------------------------------
# Written and read by `alerts/` (alerts.db, delivery, history, silences, snapshot); the store
# owns them so that one schema and one set of migrations serve both backends. Ids are
# AUTOINCREMENT on SQLite, as before revision 0004 (never reused, so "the newest event of an
# alert" is its largest id), and 64-bit on PostgreSQL (a monitor that runs for years).

_ID = BigInteger().with_variant(Integer(), "sqlite")

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Text, primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("comment", Text, nullable=False),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("receiver", Text, nullable=False),
    Column("primary_receiver", Text, nullable=False),
    Column("fallback_of", _ID),
    Column("chain", Text, nullable=False),
    Column("notification", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("last_reason", Text),
    Column("updated_at", Float),
    # The notification's alert group (`Notification.group_dedup_key`; "" = none): delivery
    # is ordered per receiver and group, and a newer notification supersedes older ones.
    Column("group_dedup_key", Text, nullable=False, server_default=""),
    Column("superseded_by", _ID),
    Index("alert_outbox_due", "state", "next_attempt_at"),
    Index("alert_outbox_group", "receiver", "group_dedup_key", "state", "id"),
    sqlite_autoincrement=True,
)

alert_attempts = Table(
    "alert_attempts",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("outbox_id", _ID),
    Column("at", Float, nullable=False),
    Column("receiver", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("status_code", Integer),
    Column("reason", Text, nullable=False),
    Column("duration", Float, nullable=False),
    Column("group_key", Text, nullable=False),
    Column("test", Integer, nullable=False, server_default="0"),
    Index("alert_attempts_at", "at"),
    sqlite_autoincrement=True,
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("at", Float, nullable=False),
    Column("dedup_key", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("group_labels", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("value", Float),
    Column("threshold", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("run_verdict", Text),
    Column("suppressed", Text, nullable=False, server_default=""),
    Index("alert_events_at", "at"),
    Index("alert_events_key", "dedup_key", "id"),
    Index("alert_events_run", "run_id", "at"),
    sqlite_autoincrement=True,
)

alert_engine_state = Table(
    "alert_engine_state",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("run_scoped", Integer, nullable=False, server_default="1"),
)

ALERT_TABLES = (
    "alert_silences",
    "alert_outbox",
    "alert_attempts",
    "alert_events",
    "alert_engine_state",
)
