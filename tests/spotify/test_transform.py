"""Recently-played payloads → rows, on Spotify's real samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from brapped.spotify.transform import (
    album_row,
    artist_genre_rows,
    artist_row,
    epoch_ms,
    parse_instant,
    recently_played,
)
from tests.conftest import SAMPLES


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return data


FIFTY = _load("chekos__spotify-git-scraping__recently_played__2023-01-26_b4503d24_50items.json")
CONTEXT = _load("chekos__spotify-git-scraping__recently_played__2026-06-26_60b3153e_context.json")
TOP_ARTISTS = _load("chekos__spotify-git-scraping__top_50_artists_long_term__2026-06-26.json")


def test_fifty_real_items() -> None:
    batch = recently_played(FIFTY["items"], "me")
    keys = {(item["played_at"], item["track"]["id"]) for item in FIFTY["items"]}
    assert len(batch.plays) == len(keys) == 50
    assert batch.skipped == {}
    assert batch.plays[0]["played_at"] == datetime(2023, 1, 26, 4, 13, 50, 392000, tzinfo=UTC)
    assert set(batch.entities.tracks) == {item["track"]["id"] for item in FIFTY["items"]}
    for item in FIFTY["items"]:
        track = item["track"]
        positions = batch.entities.track_artists[track["id"]]
        assert [p["artist_id"] for p in positions] == [a["id"] for a in track["artists"]]
        assert [p["position"] for p in positions] == list(range(len(track["artists"])))
        row = batch.entities.tracks[track["id"]]
        assert (row["duration_ms"], row["album_id"], row["isrc"]) == (
            track["duration_ms"],
            track["album"]["id"],
            track["external_ids"]["isrc"],
        )
    every_artist = {
        a["id"] for i in FIFTY["items"] for a in i["track"]["artists"] + i["track"]["album"]["artists"]
    }
    assert set(batch.entities.artists) == every_artist


def test_context_and_cursor() -> None:
    batch = recently_played(CONTEXT["items"], "me")
    play = batch.plays[0]
    assert (play["context_type"], play["context_uri"]) == (
        "playlist",
        "spotify:playlist:0cHi6cXNHFJtpYDTMUSCWc",
    )
    assert epoch_ms(play["played_at"]) == int(CONTEXT["cursors"]["after"])
    album = album_row(CONTEXT["items"][0]["track"]["album"])
    assert album["image_url"] == "https://i.scdn.co/image/ab67616d0000b273dc2463cf2d676563d7c4b5c9"
    assert (album["release_date"], album["release_date_precision"]) == ("2016-06-17", "day")


def test_odd_items_are_skipped_with_reasons() -> None:
    good = CONTEXT["items"][0]
    items = [
        good,
        good,  # the same play twice: once
        {**good, "played_at": "yesterday"},
        {**good, "track": {**good["track"], "id": None, "is_local": True}},
        {**good, "track": {"type": "episode", "id": "e1"}},
        {**good, "track": None},
    ]
    batch = recently_played(items, "me")
    assert len(batch.plays) == 1
    assert batch.skipped == {"bad played_at": 1, "local file": 1, "not a track": 2}


def test_full_artist_rows() -> None:
    artist = TOP_ARTISTS["items"][0]
    row = artist_row(artist, full=True, now=datetime(2026, 6, 26, tzinfo=UTC))
    assert json.loads(row["genres"]) == sorted(set(artist["genres"]))
    assert row["followers"] == artist["followers"]["total"] and row["popularity"] == artist["popularity"]
    assert [r["genre"] for r in artist_genre_rows(artist)] == sorted(set(artist["genres"]))
    withheld = {k: v for k, v in artist.items() if k not in ("genres", "popularity", "followers")}
    row = artist_row(withheld, full=True)
    assert (row["genres"], row["popularity"], row["followers"]) == (None, None, None)
    assert artist_genre_rows(withheld) == []


def test_parse_instant_without_milliseconds() -> None:
    assert parse_instant("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_instant("2026-01-01T00:00:00.5+01:00") == datetime(
        2025, 12, 31, 23, 0, 0, 500000, tzinfo=UTC
    )
