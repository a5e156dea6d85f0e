"""An import adds to the catalogue only what its new tracks need: plays of a track already known
(from a sync, with its real album and artists) leave no album or artist by name that nothing
refers to (MusicBrainz would spend a request a second on each, and `status` would count them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import insert, select

from brapped.clock import SystemClock
from brapped.pipeline.import_plan import BulkPolicy
from brapped.pipeline.importing import import_paths
from brapped.store import open_store
from brapped.store.tables import album_artists, albums, artists, track_artists, tracks
from tests.pipeline.import_contents import ALWAYS_BULK, FILE_BY_FILE

KNOWN = 40  # tracks a sync stored before the import, each with a real album and artist


def _records(folder: Path) -> list[dict[str, Any]]:
    return [r for f in sorted(folder.glob("*.json")) for r in json.loads(f.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("policy", [FILE_BY_FILE, ALWAYS_BULK], ids=["file by file", "bulk"])
def test_plays_of_known_tracks_add_no_album_or_artist(
    db_url: str, tmp_path: Path, policy: BulkPolicy
) -> None:
    folder = tmp_path / "export"
    generate_exports(folder, plays=1500, seed=5, max_bytes=150_000, podcasts=False)
    records = _records(folder)
    uris = sorted({r["spotify_track_uri"] for r in records if r.get("spotify_track_uri")})
    known = [u.rsplit(":", 1)[1] for u in uris[:KNOWN]]
    new = {u.rsplit(":", 1)[1] for u in uris[KNOWN:]}
    store = open_store(db_url)
    with store.begin() as conn:  # as a sync stores them
        conn.execute(insert(artists), [{"id": f"realart{i}", "name": f"Real {i}"} for i in range(KNOWN)])
        conn.execute(insert(albums), [{"id": f"realalb{i}", "name": f"Album {i}"} for i in range(KNOWN)])
        conn.execute(
            insert(album_artists),
            [{"album_id": f"realalb{i}", "position": 0, "artist_id": f"realart{i}"} for i in range(KNOWN)],
        )
        conn.execute(
            insert(tracks),
            [{"id": t, "name": f"Song {i}", "album_id": f"realalb{i}"} for i, t in enumerate(known)],
        )
        conn.execute(
            insert(track_artists),
            [{"track_id": t, "position": 0, "artist_id": f"realart{i}"} for i, t in enumerate(known)],
        )

    result = import_paths(store, [folder], SystemClock(), user_id="u1", policy=policy)

    assert result.ok and sum(f.new for f in result.imported) == len(records)
    with store.connect() as conn:
        album_of = dict(conn.execute(select(tracks.c.id, tracks.c.album_id)).all())
        all_albums = set(conn.execute(select(albums.c.id)).scalars())
        all_artists = set(conn.execute(select(artists.c.id)).scalars())
        credited = set(conn.execute(select(track_artists.c.artist_id)).scalars())
        album_credited = dict(conn.execute(select(album_artists.c.album_id, album_artists.c.artist_id)).all())
    assert {t: album_of[t] for t in known} == {t: f"realalb{i}" for i, t in enumerate(known)}
    assert set(album_of) == set(known) | new
    # Every album belongs to a track, every artist to a track (or to an album a track is on).
    assert all_albums == set(album_of.values()) - {None}
    used_albums = set(album_of.values())
    assert all_artists == credited | {a for al, a in album_credited.items() if al in used_albums}
    assert {a for a in all_artists if a.startswith("realart")} == {f"realart{i}" for i in range(KNOWN)}
    store.close()
