"""A small hand-made listening history: every number the insight tests expect is worked out by hand.

Zone Europe/Berlin. 2024-03-31 has 23 hours (02:00 CET jumps to 03:00 CEST at 01:00 UTC);
2024-10-27 has 25 hours (03:00 CEST falls back to 02:00 CET at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from brapped.store import Store, tables

TZ = "Europe/Berlin"
VA = "0LyfQWJT6nXafLPZqxe9Of"


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DDTHH:MM:SS[.fff]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_catalogue(conn: Connection) -> None:
    conn.execute(
        insert(tables.artists),
        [
            {"id": "a1", "name": "Alpha", "genres": '["pop"]'},
            {"id": "a2", "name": "Beta", "genres": None},
            {"id": "a3", "name": "Gamma", "genres": '["rock", "indie"]'},
            {"id": VA, "name": "Various Artists", "genres": None},
            {"id": "name:0123456789abcdef0123", "name": "various ARTISTS", "genres": None},
        ],
    )
    conn.execute(
        insert(tables.artist_genres),
        [
            {"artist_id": "a1", "genre": "pop"},
            {"artist_id": "a3", "genre": "rock"},
            {"artist_id": "a3", "genre": "indie"},
        ],
    )
    conn.execute(
        insert(tables.albums),
        [
            {"id": "al1", "name": "First", "release_date": "2001-05-01"},
            {"id": "al2", "name": "Comp", "release_date": "1990"},
            {"id": "al3", "name": "Undated", "release_date": None},
        ],
    )
    conn.execute(
        insert(tables.album_artists),
        [
            {"album_id": "al1", "position": 0, "artist_id": "a1"},
            {"album_id": "al2", "position": 0, "artist_id": VA},
            {"album_id": "al3", "position": 0, "artist_id": "a2"},
        ],
    )
    conn.execute(
        insert(tables.tracks),
        [
            {"id": "t1", "name": "One", "album_id": "al1", "duration_ms": 200_000},
            {"id": "t2", "name": "Two (feat. Beta)", "album_id": "al1", "duration_ms": 180_000},
            {"id": "t3", "name": "Three", "album_id": "al2", "duration_ms": 240_000},
            {"id": "t4", "name": "Four", "album_id": "al3", "duration_ms": 100_000},
            {"id": "t5", "name": "Five", "album_id": "al2", "duration_ms": 100_000},
        ],
    )
    conn.execute(
        insert(tables.track_artists),
        [
            {"track_id": "t1", "position": 0, "artist_id": "a1"},
            {"track_id": "t2", "position": 0, "artist_id": "a1"},
            {"track_id": "t2", "position": 1, "artist_id": "a2"},
            {"track_id": "t3", "position": 0, "artist_id": "a3"},
            {"track_id": "t4", "position": 0, "artist_id": "a2"},
            {"track_id": "t5", "position": 0, "artist_id": VA},
            {"track_id": "t5", "position": 1, "artist_id": "name:0123456789abcdef0123"},
        ],
    )


def add_plays(conn: Connection, rows: list[dict[str, Any]]) -> None:
    defaults = {"user_id": "u1", "source": "export", "ms_played_source": "export", "skipped": None}
    conn.execute(insert(tables.plays), [{**defaults, **row} for row in rows])


# (UTC end, track, ms, extra)
FALL_BACK_DAY = [
    # 2024-10-26 local 23:59:59.999 CEST: the day before
    {"played_at": at("2024-10-26T21:59:59.999"), "track_id": "t4", "ms_played": 40_000},
    # 2024-10-27 local 00:30 CEST
    {"played_at": at("2024-10-26T22:30:00"), "track_id": "t1", "ms_played": 200_000, "skipped": False},
    # local 02:30 CEST (first pass through 02:xx)
    {"played_at": at("2024-10-27T00:30:00"), "track_id": "t2", "ms_played": 60_000, "skipped": False},
    # local 02:30 CET (second pass), not a stream
    {"played_at": at("2024-10-27T01:30:00"), "track_id": "t2", "ms_played": 20_000, "skipped": True},
    # local 12:00 CET: Various Artists compilation track
    {"played_at": at("2024-10-27T11:00:00"), "track_id": "t5", "ms_played": 90_000},
    # local 23:59:59.999 CET, estimated time
    {
        "played_at": at("2024-10-27T22:59:59.999"),
        "track_id": "t3",
        "ms_played": 100_000,
        "ms_played_source": "estimate",
        "source": "api",
    },
    # 2024-10-28 local 00:00 CET: the day after
    {"played_at": at("2024-10-27T23:00:00"), "track_id": "t1", "ms_played": 50_000},
]

SPRING_FORWARD_DAY = [
    # 2024-03-31 local 01:59:59 CET: exactly the threshold, a stream
    {"played_at": at("2024-03-31T00:59:59"), "track_id": "t1", "ms_played": 30_000},
    # local 03:00:00 CEST (02:xx does not exist): 1 ms short of a stream
    {"played_at": at("2024-03-31T01:00:00"), "track_id": "t1", "ms_played": 29_999},
    # unknown time (API play never estimated)
    {
        "played_at": at("2024-03-31T12:00:00"),
        "track_id": "t4",
        "ms_played": None,
        "ms_played_source": None,
        "source": "api",
    },
]


@pytest.fixture
def history(store: Store) -> Store:
    """The store with the catalogue and both DST days of plays for user u1."""
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(conn, FALL_BACK_DAY + SPRING_FORWARD_DAY)
    return store
