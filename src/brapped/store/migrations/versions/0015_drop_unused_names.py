"""Albums and artists by name (`name:` ids) that nothing refers to, removed.

Before this revision an import added the export's album and artist names for every track it
read, also for tracks already known with their real album and credits (a sync's): those names
stayed unused, and MusicBrainz enrichment spent a request a second on each such artist, and
`status` counted them. Imports now add them for new tracks only
(`brapped.store.staged_plays.load_music_dimensions`); this revision removes the ones already
stored, with their genres, tags and MusicBrainz rows. Albums and artists with Spotify ids stay.
Nothing played refers to them, so no sum, kept report or search result changes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNUSED_ALBUM = "albums.id LIKE 'name:%' AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = albums.id)"
_UNUSED_ARTIST = (
    "SELECT a.id FROM artists a WHERE a.id LIKE 'name:%' "
    "AND NOT EXISTS (SELECT 1 FROM track_artists c WHERE c.artist_id = a.id) "
    "AND NOT EXISTS (SELECT 1 FROM album_artists c WHERE c.artist_id = a.id)"
)


def upgrade() -> None:
    op.execute(f"DELETE FROM album_artists WHERE album_id IN (SELECT id FROM albums WHERE {_UNUSED_ALBUM})")
    op.execute(f"DELETE FROM albums WHERE {_UNUSED_ALBUM}")
    for table in ("artist_genres", "artist_tags", "musicbrainz_artists"):
        op.execute(f"DELETE FROM {table} WHERE artist_id IN ({_UNUSED_ARTIST})")
    op.execute(f"DELETE FROM artists WHERE id IN ({_UNUSED_ARTIST})")


def downgrade() -> None:
    """Nothing to put back: the rows were unused, and an import adds them again if needed."""
