"""run owners: which process on which machine runs a `runs` row, and how long it may stay silent

A run killed (SIGKILL, power loss, OOM) never writes its outcome and would stay `running` forever.
Each run now records its owner (`host`, `pid`) and the longest it may go without a heartbeat
(`stale_after_s`); whoever reads runs marks it `interrupted` when its process is gone on this host,
or, for a run of another host (a PostgreSQL database shared by machines), when its heartbeat is
older than that bound (brapped.store.runs). An index on `outcome` keeps the search for running
runs, done by every run's start, off the whole table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("host", sa.String(length=255), comment="host name of the process"))
    op.add_column("runs", sa.Column("pid", sa.Integer(), comment="process id on that host"))
    op.add_column(
        "runs",
        sa.Column("stale_after_s", sa.Integer(), comment="seconds without a heartbeat before it is stale"),
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps no column comments
        op.alter_column(
            "runs",
            "outcome",
            existing_type=sa.String(length=16),
            comment="running | ok | partial | rate_limited | failed | interrupted",
            existing_comment="running | ok | partial | rate_limited | failed",
        )
    op.create_index("ix_runs_outcome", "runs", ["outcome"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_outcome", table_name="runs")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "runs",
            "outcome",
            existing_type=sa.String(length=16),
            comment="running | ok | partial | rate_limited | failed",
            existing_comment="running | ok | partial | rate_limited | failed | interrupted",
        )
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("stale_after_s")
        batch.drop_column("pid")
        batch.drop_column("host")
