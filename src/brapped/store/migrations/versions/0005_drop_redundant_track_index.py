"""Drop ix_plays_track_id: ix_plays_track_id_played_at (revision 0004) serves every lookup it served,
and each index on plays costs every import a write per play.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_plays_track_id", table_name="plays")


def downgrade() -> None:
    op.create_index("ix_plays_track_id", "plays", ["track_id"])
