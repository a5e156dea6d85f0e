"""insights: covering indexes for reports; triggers that keep search_names honest

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Entity table -> search_names.kind. A renamed or deleted row must lose its folded name, so that
# brapped.insights.search sees the count differ and refolds (new rows are found by count alone).
KINDS = {"tracks": "track", "artists": "artist", "albums": "album"}


def upgrade() -> None:
    # "Was this track/artist played before?" (discoveries) and plays per track, from the index alone.
    op.create_index("ix_plays_track_id_played_at", "plays", ["track_id", "played_at"], unique=False)
    # Credits read by every artist report, without visiting the table.
    op.create_index(
        "ix_track_artists_track_id_position_artist_id",
        "track_artists",
        ["track_id", "position", "artist_id"],
        unique=False,
    )
    op.create_index("ix_tracks_id_album_id", "tracks", ["id", "album_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION search_names_forget() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM search_names WHERE kind = TG_ARGV[0] AND item_id = OLD.id; RETURN NULL; END $$"
        )
    for table, kind in KINDS.items():
        for event in ("UPDATE OF id, name", "DELETE"):
            name = f"search_names_{table}_{event.split()[0].lower()}"
            if bind.dialect.name == "postgresql":
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION search_names_forget('{kind}')"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                    f"DELETE FROM search_names WHERE kind = '{kind}' AND item_id = OLD.id; END"
                )


def downgrade() -> None:
    bind = op.get_bind()
    for table in KINDS:
        for event in ("update", "delete"):
            suffix = f" ON {table}" if bind.dialect.name == "postgresql" else ""
            op.execute(f"DROP TRIGGER IF EXISTS search_names_{table}_{event}{suffix}")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS search_names_forget()")
    op.drop_index("ix_tracks_id_album_id", table_name="tracks")
    op.drop_index("ix_track_artists_track_id_position_artist_id", table_name="track_artists")
    op.drop_index("ix_plays_track_id_played_at", table_name="plays")
