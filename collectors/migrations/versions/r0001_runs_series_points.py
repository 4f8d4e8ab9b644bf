"""Runs, series, points, interval histograms, verdicts, named baselines.

Revision 0001, the first. Release 0.1.0's `PRAGMA user_version` 1. Written once, never edited
after a release: it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("pk", sa.Integer),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("scenario", sa.Text, nullable=False, server_default=""),
        sa.Column("git_commit", sa.Text),
        sa.Column("git_branch", sa.Text),
        sa.Column("config_hash", sa.Text),
        sa.Column("environment", sa.Text, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("verdict", sa.Text),
        sa.PrimaryKeyConstraint("pk", name="pk_runs"),
        sa.UniqueConstraint("id", name="uq_runs_id"),
    )
    op.create_index("runs_by_start", "runs", ["started_at"])
    op.create_index("runs_by_branch", "runs", ["git_branch", "scenario", "started_at"])
    op.create_table(
        "series",
        sa.Column("id", sa.Integer),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_series"),
        sa.UniqueConstraint("name", "labels", name="uq_series_name_labels"),
    )
    op.create_table(
        "points",
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], name="fk_points_run_pk_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], name="fk_points_series_id_series"),
    )
    op.create_index("points_by_run", "points", ["run_pk", "series_id", "ts"])
    op.create_table(
        "histograms",
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("offset", sa.Integer, nullable=False),
        sa.Column("counts", sa.LargeBinary, nullable=False),
        sa.Column("zero_count", sa.Integer, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("min", sa.Float),
        sa.Column("max", sa.Float),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], name="fk_histograms_run_pk_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name="fk_histograms_series_id_series"
        ),
    )
    op.create_index("histograms_by_run", "histograms", ["run_pk", "series_id", "end"])
    op.create_table(
        "verdicts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("evaluated_at", sa.Float, nullable=False),
        sa.Column("budget", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], name="fk_verdicts_run_pk_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("verdicts_by_run", "verdicts", ["run_pk", "source"])
    op.create_table(
        "baselines",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_baselines"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], name="fk_baselines_run_pk_runs"),
    )


def downgrade() -> None:
    raise NotImplementedError("the store migrates forward only")
