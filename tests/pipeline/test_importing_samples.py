"""Every real export sample imports; counts and minutes equal a plain-json computation; re-import adds 0."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from brapped import identity
from brapped.clock import SystemClock
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from brapped.store.tables import (
    album_artists,
    albums,
    artists,
    episode_plays,
    episodes,
    imported_files,
    plays,
    track_artists,
    tracks,
)
from tests.conftest import SAMPLES


def _load(name: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def _expected() -> dict[str, tuple[int, int]]:
    """(count, ms) per fact, computed from the samples with nothing but json."""
    music = spoken = music_ms = spoken_ms = 0
    for path in sorted(SAMPLES.glob("*Streaming_History_*.json")):
        for r in json.loads(path.read_text(encoding="utf-8")):
            if r["spotify_track_uri"]:
                music, music_ms = music + 1, music_ms + r["ms_played"]
            elif r["spotify_episode_uri"] or r["audiobook_chapter_uri"]:
                spoken, spoken_ms = spoken + 1, spoken_ms + r["ms_played"]
    for r in _load("hobbies-w-erin__Spotify-Account-Data__StreamingHistory_music_0.json"):
        music, music_ms = music + 1, music_ms + r["msPlayed"]
    for name in ("podcast", "audiobook"):
        for r in _load(f"hobbies-w-erin__Spotify-Account-Data__StreamingHistory_{name}_0.json"):
            spoken, spoken_ms = spoken + 1, spoken_ms + r["msPlayed"]
    return {"plays": (music, music_ms), "episode_plays": (spoken, spoken_ms)}


def _stored(store: Store) -> dict[str, tuple[int, int]]:
    with store.connect() as conn:
        p = conn.execute(select(func.count(), func.sum(plays.c.ms_played))).one()
        e = conn.execute(select(func.count(), func.sum(episode_plays.c.ms_played))).one()
    return {"plays": (p[0], p[1]), "episode_plays": (e[0], e[1])}


def test_every_sample_imports_with_exact_counts_and_minutes(store: Store) -> None:
    result = import_paths(store, [SAMPLES], SystemClock(), user_id="listener")
    assert result.ok, [f.message for f in result.failed]
    expected = _expected()
    assert _stored(store) == expected
    history = sorted(SAMPLES.glob("*Streaming*History*.json"))
    assert sorted(Path(f.name).name for f in result.imported) == sorted(p.name for p in history)
    # The recently-played and top-list payloads are not export history: listed as skipped.
    assert {Path(f.name).name for f in result.files if f.status == "skipped"} == {
        p.name for p in SAMPLES.glob("chekos__*.json")
    }
    totals = result.totals()
    assert totals["new"] == expected["plays"][0] + expected["episode_plays"][0]
    assert totals["records"] == sum(len(json.loads(p.read_text(encoding="utf-8"))) for p in history)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(imported_files)).scalar() == len(history)

    again = import_paths(store, [SAMPLES], SystemClock(), user_id="listener")
    assert again.ok
    assert (again.totals()["new"], again.totals()["known"]) == (0, totals["new"])
    assert _stored(store) == expected


def test_an_extended_record_becomes_these_rows(store: Store) -> None:
    name = "Efrrowini__spotify-music-analysis__Streaming_History_Audio_2022.json"
    first = _load(name)[0]
    result = import_paths(store, [SAMPLES / name], SystemClock(), user_id="listener")
    assert result.ok
    track_id = first["spotify_track_uri"].split(":")[2]
    artist = first["master_metadata_album_artist_name"]
    album = first["master_metadata_album_album_name"]
    with store.connect() as conn:
        play = conn.execute(select(plays).where(plays.c.track_id == track_id)).mappings().one()
        track = conn.execute(select(tracks).where(tracks.c.id == track_id)).mappings().one()
        credit = conn.execute(select(track_artists).where(track_artists.c.track_id == track_id)).all()
        artist_name = conn.execute(
            select(artists.c.name).where(artists.c.id == identity.artist_id(artist))
        ).scalar()
        album_row = conn.execute(
            select(albums.c.name).where(albums.c.id == identity.album_id(artist, album))
        ).scalar()
        album_credit = conn.execute(
            select(album_artists.c.artist_id).where(
                album_artists.c.album_id == identity.album_id(artist, album)
            )
        ).all()
    assert play["played_at"] == datetime.fromisoformat(first["ts"]).astimezone(UTC)
    assert (play["ms_played"], play["ms_played_source"], play["source"]) == (
        first["ms_played"],
        "export",
        "export",
    )
    assert (play["platform"], play["conn_country"], play["reason_start"], play["reason_end"]) == (
        first["platform"],
        first["conn_country"],
        first["reason_start"],
        first["reason_end"],
    )
    assert (play["shuffle"], play["skipped"], play["offline"], play["incognito"]) == (
        first["shuffle"],
        first["skipped"],
        first["offline"],
        first["incognito_mode"],
    )
    assert play["offline_at"] == datetime.fromtimestamp(first["offline_timestamp"], UTC)
    assert play["ip_addr"] is None  # privacy by default
    assert (track["name"], track["is_resolved"], track["album_id"]) == (
        first["master_metadata_track_name"],
        False,
        identity.album_id(artist, album),
    )
    assert [tuple(c) for c in credit] == [(track_id, 0, identity.artist_id(artist))]
    assert (artist_name, album_row) == (artist, album)
    assert [tuple(c) for c in album_credit] == [(identity.artist_id(artist),)]


def test_keep_personal_stores_the_ip_address(store: Store) -> None:
    name = "Efrrowini__spotify-music-analysis__Streaming_History_Audio_2022.json"
    records = _load(name)
    import_paths(store, [SAMPLES / name], SystemClock(), user_id="listener", keep_personal=True)
    with store.connect() as conn:
        ips = set(conn.execute(select(plays.c.ip_addr)).scalars())
    assert ips == {r["ip_addr"] for r in records}


def test_account_data_gets_name_based_ids(store: Store) -> None:
    name = "hobbies-w-erin__Spotify-Account-Data__StreamingHistory_music_0.json"
    first = _load(name)[0]
    import_paths(store, [SAMPLES / name], SystemClock(), user_id="listener")
    tid = identity.track_id(first["artistName"], first["trackName"])
    with store.connect() as conn:
        track = conn.execute(select(tracks.c.name, tracks.c.is_resolved).where(tracks.c.id == tid)).one()
        credit = conn.execute(
            select(track_artists.c.artist_id).where(track_artists.c.track_id == tid)
        ).scalar()
        at = conn.execute(select(func.min(plays.c.played_at)).where(plays.c.track_id == tid)).scalar()
        kinds = dict(conn.execute(select(episodes.c.kind, func.count()).group_by(episodes.c.kind)).all())
    assert tuple(track) == (first["trackName"], False)
    assert credit == identity.artist_id(first["artistName"])
    assert at == datetime.fromisoformat(first["endTime"] + ":00+00:00")
    assert kinds == {}  # music only in this file
