"""BI views: v_plays, v_daily, v_artist_credit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from brapped.store.views import create_views, drop_views

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The definitions live in brapped.store.views; a later revision that changes them calls
    # create_views again (it drops and recreates every view).
    create_views(op.get_bind())


def downgrade() -> None:
    drop_views(op.get_bind())
