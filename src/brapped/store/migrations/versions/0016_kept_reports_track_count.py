"""kept reports: an album's track count moves the generation on, as its name and date do

Wrapped's new albums (brapped.insights.highlights.top_new_albums) are the albums released in the
period with more than half of `albums.total_tracks` streamed. Enrich fills the count in after the
album was stored (a sync or an import stores it without one), so a Wrapped kept before showed no
such album, and went on showing none. The trigger of revision 0008 on albums now watches
`total_tracks` too, on both databases.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE report_state SET generation = generation + 1 WHERE id = 1;"


def _sqlite(columns: Sequence[str]) -> None:
    differs = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("id", *columns))
    summed = "EXISTS (SELECT 1 FROM album_totals WHERE album_id = OLD.id)"
    op.execute("DROP TRIGGER summaries_kept_albums")
    op.execute(
        f"CREATE TRIGGER summaries_kept_albums AFTER UPDATE OF id, {', '.join(columns)} ON albums "
        f"WHEN ({differs}) AND {summed} BEGIN {_BUMP} END"
    )


def _postgresql(columns: Sequence[str]) -> None:
    old = ", ".join(f"o.{c}" for c in columns)
    new = ", ".join(f"n.{c}" for c in columns)
    op.execute(
        "CREATE OR REPLACE FUNCTION summaries_kept_albums_update() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF EXISTS (SELECT 1 FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id "
        "JOIN album_totals t ON t.album_id = o.id "
        f"WHERE n.id IS NULL OR ({old}) IS DISTINCT FROM ({new})) THEN {_BUMP} END IF; "
        "RETURN NULL; END $$"
    )


def _watch(columns: Sequence[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql(columns)
    else:
        _sqlite(columns)


def upgrade() -> None:
    _watch(("name", "release_date", "total_tracks"))


def downgrade() -> None:
    _watch(("name", "release_date"))
