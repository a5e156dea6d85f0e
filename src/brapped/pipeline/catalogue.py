"""Tracks, albums and artists fetched from Spotify into the catalogue tables, replacing the
name-based stand-ins an export's tracks pointed at (used by sync and by resolving)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from brapped.spotify.transform import Entities
from brapped.store import load as store_load
from brapped.store.tables import album_artists, albums, artists, track_artists, tracks


def _existing(conn: Connection, column: Any, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars().all())
    return found


@dataclass
class Loaded:
    """How many catalogue rows `load_entities` added."""

    new_tracks: int
    new_albums: int
    new_artists: int


def load_entities(conn: Connection, entities: Entities) -> Loaded:
    """Write full-track catalogue rows; replace synthetic albums/artists the tracks had before."""
    track_ids = list(entities.tracks)
    known_tracks = _existing(conn, tracks.c.id, track_ids)
    known_albums = _existing(conn, albums.c.id, list(entities.albums))
    known_artists = _existing(conn, artists.c.id, list(entities.artists))
    old_albums: set[str] = set()
    if known_tracks:
        for start in range(0, len(track_ids), 500):
            chunk = track_ids[start : start + 500]
            old_albums.update(
                a
                for a in conn.execute(select(tracks.c.album_id).where(tracks.c.id.in_(chunk))).scalars().all()
                if a
            )
    store_load.upsert_artists(conn, entities.artists.values())
    store_load.upsert_albums(conn, entities.albums.values())
    old_artists = store_load.replace_positions(conn, album_artists, "album_id", entities.album_artists)
    store_load.upsert_tracks(conn, entities.tracks.values())
    old_artists |= store_load.replace_positions(conn, track_artists, "track_id", entities.track_artists)
    # Tracks that came from an export pointed at name-based stand-ins; drop the ones now unused.
    store_load.delete_orphans(conn, old_albums - set(entities.albums), old_artists - set(entities.artists))
    return Loaded(
        new_tracks=len(set(track_ids) - known_tracks),
        new_albums=len(set(entities.albums) - known_albums),
        new_artists=len(set(entities.artists) - known_artists),
    )


__all__ = ["Loaded", "load_entities"]
