"""The benchmark data generator: deterministic, exact sizes, Spotify's export shape, same history twice."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from bench.generate import build_catalogue, default_sizes, generate_database, generate_exports
from sqlalchemy import func, select

from brapped.store import open_store, tables

EXPORT_KEYS = [
    "ts", "platform", "ms_played", "conn_country", "ip_addr", "master_metadata_track_name",
    "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri",
    "episode_name", "episode_show_name", "spotify_episode_uri", "audiobook_title", "audiobook_uri",
    "audiobook_chapter_uri", "audiobook_chapter_title", "reason_start", "reason_end", "shuffle", "skipped",
    "offline", "offline_timestamp", "incognito_mode",
]  # fmt: skip


def _records(folder: Path) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for path in sorted(
        folder.glob("Streaming_History_Audio_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1])
    ):
        records.extend(json.loads(path.read_text(encoding="utf-8")))
    return records


def test_exports_have_spotifys_shape_and_exact_counts(tmp_path: Path) -> None:
    summary = generate_exports(tmp_path, plays=3000, seed=7, max_bytes=400_000)
    records = _records(tmp_path)
    music = [r for r in records if r["spotify_track_uri"]]
    episodes = [r for r in records if r["spotify_episode_uri"]]
    assert len(music) == 3000 == summary.plays
    assert len(episodes) == summary.episode_plays
    assert len(records) == summary.records
    assert all(list(r) == EXPORT_KEYS for r in records)
    assert sum(int(r["ms_played"]) for r in music) == summary.ms_played  # type: ignore[call-overload]
    assert len({r["spotify_track_uri"] for r in music}) == summary.distinct_tracks_played
    # Split like Spotify: several files, none above the limit, named by the years they cover.
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == len(summary.files) > 1
    assert all(p.stat().st_size <= 400_000 for p in files)
    # Strictly increasing ts: (user, ts, track) is unique, as in a real export.
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    skipped = Counter(bool(r["skipped"]) for r in music)
    assert 0.1 < skipped[True] / len(music) < 0.4


def test_same_seed_same_bytes_other_seed_other_history(tmp_path: Path) -> None:
    generate_exports(tmp_path / "a", plays=500, seed=3)
    generate_exports(tmp_path / "b", plays=500, seed=3)
    generate_exports(tmp_path / "c", plays=500, seed=4)
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert a == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert _records(tmp_path / "a") != _records(tmp_path / "c")


def test_zip_like_spotify_sends_it(tmp_path: Path) -> None:
    summary = generate_exports(tmp_path, plays=300, seed=1, as_zip=True)
    assert [p.name for p in summary.files] == ["my_spotify_data.zip"]
    with zipfile.ZipFile(summary.files[0]) as archive:
        names = archive.namelist()
        history = [n for n in names if n.endswith(".json")]
        assert all(
            n.startswith("Spotify Extended Streaming History/Streaming_History_Audio_") for n in history
        )
        assert any(n.endswith(".pdf") for n in names)
        rows = [r for n in history for r in json.loads(archive.read(n)) if r["spotify_track_uri"]]
    assert len(rows) == 300


def test_catalogue_is_long_tailed_with_featured_artists() -> None:
    tracks, artists = default_sizes(1_000_000)
    assert (tracks, artists) == (50_000, 8_000)
    catalogue = build_catalogue(5000, 800, seed=1)
    assert len(catalogue.tracks) == 5000 and len(catalogue.artists) == 800
    assert len({t.id for t in catalogue.tracks}) == 5000
    featured = sum(1 for t in catalogue.tracks if len(t.artists) > 1)
    assert 0.08 < featured / 5000 < 0.3
    weights = [b - a for a, b in zip([0.0, *catalogue.track_cum], catalogue.track_cum, strict=False)]
    top = sorted(weights, reverse=True)
    assert sum(top[:50]) / sum(top) > 0.1  # 1% of tracks hold more than 10% of the weight


def test_database_holds_the_exports_history(db_url: str, tmp_path: Path) -> None:
    summary = generate_database(db_url, plays=2000, seed=5, api_days=3)
    generate_exports(tmp_path, plays=2000, seed=5)
    music = [r for r in _records(tmp_path) if r["spotify_track_uri"]]
    store = open_store(db_url)
    try:
        with store.connect() as conn:
            plays = tables.plays
            rows = conn.execute(select(plays.c.track_id, plays.c.ms_played, plays.c.played_at)).all()
            assert len(rows) == 2000
            assert Counter(r.track_id for r in rows) == Counter(
                str(r["spotify_track_uri"]).split(":")[2] for r in music
            )
            assert sum(r.ms_played for r in rows) == sum(int(r["ms_played"]) for r in music)  # type: ignore[call-overload]
            first = min(r.played_at for r in rows)
            assert first.strftime("%Y-%m-%dT%H:%M:%SZ") == music[0]["ts"]
            count = conn.execute(select(func.count()).select_from(tables.tracks)).scalar_one()
            assert count == summary.tracks
            missing_artist = conn.execute(
                select(func.count())
                .select_from(tables.tracks)
                .where(~tables.tracks.c.id.in_(select(tables.track_artists.c.track_id)))
            ).scalar_one()
            assert missing_artist == 0
            both = conn.execute(select(func.count()).where(plays.c.source == "both")).scalar_one()
            assert 0 < both < 2000
    finally:
        store.close()
    with pytest.raises(ValueError, match="already holds 2000 plays"):
        generate_database(db_url, plays=10, seed=5)


def test_history_ends_before_end_and_reaches_its_day(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    end = datetime(2026, 5, 5, 15, 30, tzinfo=UTC)
    summary = generate_exports(tmp_path, plays=1500, seed=2, end=end, days=10)
    stamps = sorted(str(r["ts"]) for r in _records(tmp_path))
    assert stamps[-1] < "2026-05-05T15:30:00Z"
    assert stamps[-1].startswith("2026-05-05")  # a history ending now has plays today
    assert stamps[0] >= "2026-04-26"
    assert summary.plays == 1500


def test_more_plays_than_days_can_hold_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not fit in 3 days"):
        generate_exports(tmp_path, plays=5000, days=3)
