"""Revision 0015 removes the albums and artists by name that nothing refers to (an import before
it added them for tracks already known), and keeps every other one."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert, select

from brapped.store import Store
from brapped.store.schema import alembic_config, current_revision, head_revision
from brapped.store.tables import (
    album_artists,
    albums,
    artist_genres,
    artist_tags,
    artists,
    musicbrainz_artists,
    track_artists,
    tracks,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _migrate(store: Store, revision: str, down: bool = False) -> None:
    with store.engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def test_0015_drops_unused_albums_and_artists_by_name(store: Store) -> None:
    _migrate(store, "0014", down=True)
    with store.begin() as conn:
        conn.execute(
            insert(artists),
            [
                {"id": "realart", "name": "Real"},  # a sync's, credited
                {"id": "realidle", "name": "Real, unused"},  # a Spotify id: kept however unused
                {"id": "name:used", "name": "Used"},  # credits an imported track
                {"id": "name:onalbum", "name": "On a used album"},
                {"id": "name:idle", "name": "Unused"},  # only on an unused album
                {"id": "name:mapped", "name": "Unused, enriched"},
            ],
        )
        conn.execute(
            insert(albums),
            [
                {"id": "realalb", "name": "Real"},
                {"id": "realempty", "name": "Real, no track"},
                {"id": "name:usedalb", "name": "Used"},
                {"id": "name:idlealb", "name": "Unused"},
                {"id": "name:idlealb2", "name": "Unused too"},
            ],
        )
        conn.execute(
            insert(album_artists),
            [
                {"album_id": "realalb", "position": 0, "artist_id": "realart"},
                {"album_id": "name:usedalb", "position": 0, "artist_id": "name:onalbum"},
                {"album_id": "name:idlealb", "position": 0, "artist_id": "name:idle"},
                {"album_id": "name:idlealb2", "position": 0, "artist_id": "name:mapped"},
            ],
        )
        conn.execute(
            insert(tracks),
            [
                {"id": "t1", "name": "Synced", "album_id": "realalb"},
                {"id": "t2", "name": "Imported", "album_id": "name:usedalb"},
            ],
        )
        conn.execute(
            insert(track_artists),
            [
                {"track_id": "t1", "position": 0, "artist_id": "realart"},
                {"track_id": "t2", "position": 0, "artist_id": "name:used"},
            ],
        )
        conn.execute(
            insert(artist_genres),
            [{"artist_id": a, "genre": "pop", "source": "musicbrainz"} for a in ("name:used", "name:mapped")],
        )
        conn.execute(
            insert(artist_tags),
            [
                {"artist_id": a, "tag": "x", "votes": 1, "fetched_at": NOW}
                for a in ("name:used", "name:mapped")
            ],
        )
        conn.execute(
            insert(musicbrainz_artists),
            [{"artist_id": a, "status": "no_match", "fetched_at": NOW} for a in ("name:used", "name:mapped")],
        )

    _migrate(store, "head")

    with store.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert set(conn.execute(select(artists.c.id)).scalars()) == {
            "realart",
            "realidle",
            "name:used",
            "name:onalbum",
        }
        assert set(conn.execute(select(albums.c.id)).scalars()) == {"realalb", "realempty", "name:usedalb"}
        assert set(conn.execute(select(album_artists.c.album_id)).scalars()) == {"realalb", "name:usedalb"}
        for table in (artist_genres, artist_tags, musicbrainz_artists):
            assert set(conn.execute(select(table.c.artist_id)).scalars()) == {"name:used"}
