"""ix_plays_estimated: each account's plays without a measured length (estimated, or not yet),
indexed alone, so finding and re-estimating them reads those plays only, not every play.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As `brapped.store.tables` writes it (a migration does not import the tables of its day).
_ESTIMATED = "ms_played_source IS NULL OR ms_played_source = 'estimate'"


def upgrade() -> None:
    op.create_index(
        "ix_plays_estimated",
        "plays",
        ["user_id", "played_at"],
        sqlite_where=sa.text(_ESTIMATED),
        postgresql_where=sa.text(_ESTIMATED),
    )


def downgrade() -> None:
    op.drop_index("ix_plays_estimated", table_name="plays")
