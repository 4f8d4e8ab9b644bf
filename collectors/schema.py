"""The store's tables, once, for both backends (SQLite and PostgreSQL): every query in
`collectors.store` is built from these `Table`s. The migrations in `collectors/migrations/`
create the same schema step by step; `tests/collectors/test_store_schema.py` compares a
migrated database with this module on both backends, so the two cannot drift apart.

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
