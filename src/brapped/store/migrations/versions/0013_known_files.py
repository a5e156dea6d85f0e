"""known_files: the file contents each account's plays already hold, so an unchanged file imported
again is recognised by its size and hash instead of read (brapped.store.known_files).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "known_files",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="of the file's bytes"),
        sa.Column(
            "size", sa.BigInteger(), nullable=False, comment="the file's size as its folder or zip states it"
        ),
        sa.Column(
            "plays", sa.Integer(), nullable=False, comment="its records stored as plays (new, known, merged)"
        ),
        sa.Column(
            "skipped", sa.Text(), nullable=False, comment="JSON object: its records not stored, by reason"
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_known_files_run_id_runs")),
        sa.PrimaryKeyConstraint("user_id", "sha256", name=op.f("pk_known_files")),
    )
    op.create_index("ix_known_files_user_id_size", "known_files", ["user_id", "size"])


def downgrade() -> None:
    op.drop_index("ix_known_files_user_id_size", table_name="known_files")
    op.drop_table("known_files")
