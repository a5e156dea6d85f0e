"""insights: search_names table (folded names for accent-insensitive search)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_names",
        sa.Column("kind", sa.String(length=8), nullable=False, comment="'track' | 'artist' | 'album'"),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False, comment="the name that was folded (to spot renames)"),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "item_id", name=op.f("pk_search_names")),
    )


def downgrade() -> None:
    op.drop_table("search_names")
