"""Wrapped on the hand-made history (tests/insights/conftest.py); expected values worked out by hand."""

from __future__ import annotations

from datetime import date

from brapped.insights import Period, wrapped
from brapped.store import Store
from tests.insights.conftest import TZ, add_catalogue, add_plays, at

# Every play of the fixture in 2024 (ms; None = unknown).
ALL_MS = [40_000, 200_000, 60_000, 20_000, 90_000, 100_000, 50_000, 30_000, 29_999, None]
TOTAL = sum(ms or 0 for ms in ALL_MS)


def _min(ms: int) -> float:
    return round(ms / 60_000, 2)


def test_wrapped_totals_and_top_lists(history: Store) -> None:
    with history.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    assert report["period"] == {"start": "2024-01-01", "end": "2024-12-31", "timezone": TZ}
    assert report["plays"] == len(ALL_MS)
    assert report["streams"] == sum(1 for ms in ALL_MS if ms is not None and ms >= 30_000)
    assert report["ms_played"] == TOTAL
    assert report["minutes_listened"] == _min(TOTAL)
    assert (report["distinct_tracks"], report["distinct_artists"], report["distinct_albums"]) == (5, 3, 3)
    assert [
        (a["id"], a["plays"], a["main_plays"], a["featured_plays"], a["minutes"])
        for a in report["top_artists"]
    ] == [
        ("a1", 6, 6, 0, _min(200_000 + 50_000 + 30_000 + 29_999 + 60_000 + 20_000)),
        ("a2", 4, 2, 2, _min(60_000 + 20_000 + 40_000)),
        ("a3", 1, 1, 0, _min(100_000)),
    ]
    assert [(t["id"], t["plays"]) for t in report["top_tracks"]] == [
        ("t1", 4),
        ("t2", 2),  # ties with t4 on plays, more minutes
        ("t4", 2),
        ("t3", 1),
        ("t5", 1),
    ]
    assert set(report["top_tracks"][0]) >= {"id", "name", "artists", "plays", "minutes"}
    assert [(a["id"], a["plays"]) for a in report["top_albums"]] == [("al1", 6), ("al2", 2), ("al3", 2)]
    assert report["top_albums"][1]["artists"] == [{"id": "0LyfQWJT6nXafLPZqxe9Of", "name": "Various Artists"}]
    assert [(g["genre"], g["plays"]) for g in report["top_genres"]] == [("pop", 6), ("indie", 1), ("rock", 1)]


def test_wrapped_months_clock_days_and_streaks(history: Store) -> None:
    with history.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    assert report["top_artist_by_month"] == [
        {"month": "2024-03", "artist": {"id": "a1", "name": "Alpha"}, "plays": 2, "minutes": _min(59_999)},
        {"month": "2024-10", "artist": {"id": "a1", "name": "Alpha"}, "plays": 4, "minutes": _min(330_000)},
    ]
    clock = report["listening_clock"]
    assert clock["weekdays"][0] == "Monday"
    sunday = 6
    assert clock["plays"][sunday][2] == 2  # 02:30 CEST and 02:30 CET on 27 October
    assert clock["minutes"][sunday][2] == _min(80_000)
    assert clock["plays"][sunday][1] == 1 and clock["plays"][sunday][3] == 1  # 31 March
    assert clock["plays"][5][23] == 1  # Saturday 26 October 23:59:59.999
    assert clock["plays"][0][0] == 1  # Monday 28 October 00:00
    assert sum(map(sum, clock["plays"])) == len(ALL_MS)
    assert report["busiest_day"] == {"date": "2024-10-27", "minutes": _min(470_000), "plays": 5}
    assert report["longest_streak"] == {"days": 3, "start": "2024-10-26", "end": "2024-10-28"}
    assert report["most_repeated_track_in_a_day"]["date"] == "2024-10-27"
    assert report["most_repeated_track_in_a_day"]["track"]["id"] == "t2"
    assert report["most_repeated_track_in_a_day"]["plays"] == 2


def test_wrapped_sessions_follow_the_gap_setting(history: Store) -> None:
    with history.connect() as conn:
        default = wrapped(conn, Period.year(2024, TZ))
        short_gap = wrapped(conn, Period.year(2024, TZ), session_gap_minutes=20)
    # Saturday 23:59:19.999 (40 s play) then a 200 s play ending 00:30: 26 min 40 s apart.
    assert default["longest_session"] == {
        "start": "2024-10-26T23:59:19+02:00",
        "end": "2024-10-27T00:30:00+02:00",
        "minutes": round((30 * 60 + 40.001) / 60, 2),
        "plays": 2,
        "minutes_listened": _min(240_000),
    }
    assert short_gap["longest_session"]["plays"] == 1
    assert short_gap["longest_session"]["start"] == "2024-10-27T00:26:40+02:00"


def test_wrapped_extras(history: Store) -> None:
    with history.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    assert report["discoveries"]["new_artists"] == 3
    # Plays on dated albums: 2 of 1990, 6 of 2001: the 4th and 5th values are both 2001.
    # Tracks played until the end of 2024: t1, t2 (2001), t3, t5 (1990), t4 undated. 2001 holds
    # 6/8 of the plays and 2/4 of those tracks (index 1.5); every window with 2001 and without
    # 1990 ties: the one centred on 2001 wins.
    assert report["listening_age"] == {
        "median_release_year": 2001.0,
        "plays_with_release_year": 8,
        "compared_with": "played_tracks",
        "baseline_tracks_with_release_year": 4,
        "window": {"start": 1999, "end": 2003, "share": 0.75, "baseline_share": 0.5, "index": 1.5},
        "born_around": 1999 - 16,
        "age": 2024 - (1999 - 16),
    }
    assert report["skip_rate"] == {"skipped": 1, "plays_with_skip_flag": 3, "rate": round(1 / 3, 4)}
    assert report["estimated_share"] == round(100_000 / TOTAL, 4)
    assert report["previous_period"]["period"] == {"start": "2023-01-01", "end": "2023-12-31", "timezone": TZ}
    assert report["previous_period"]["plays"] == 0
    assert report["change"]["plays"] is None
    assert report["spoken_word"] == {
        "podcasts": {"plays": 0, "minutes": 0.0, "top_shows": []},
        "audiobooks": {"plays": 0, "minutes": 0.0, "top_shows": []},
    }


def test_change_from_previous_period_and_spotify_window(history: Store) -> None:
    with history.begin() as conn:
        add_plays(conn, [{"played_at": at("2023-05-01T12:00:00"), "track_id": "t1", "ms_played": 120_000}])
        add_plays(conn, [{"played_at": at("2024-12-01T12:00:00"), "track_id": "t3", "ms_played": 60_000}])
    with history.connect() as conn:
        calendar = wrapped(conn, Period.year(2024, TZ))
        spotify = wrapped(conn, Period.year(2024, TZ, window="spotify"))
    assert calendar["plays"] == len(ALL_MS) + 1
    assert spotify["plays"] == len(ALL_MS)  # 1 December is after 15 November
    assert calendar["previous_period"]["plays"] == 1
    assert calendar["change"]["plays"] == round((len(ALL_MS) + 1 - 1) / 1, 4)
    assert calendar["change"]["minutes_listened"] == round((TOTAL + 60_000 - 120_000) / 120_000, 4)
    # t1 and Alpha were heard in 2023: no longer discoveries.
    assert calendar["discoveries"]["new_artists"] == 2


def test_change_in_minutes_uses_exact_time(store: Store) -> None:
    """200 000 ms in 2023 (3.33 min shown) and 400 000 ms in 2024 (6.67 min shown): exactly +100 %,
    not (6.67 - 3.33) / 3.33."""
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(
            conn,
            [
                {"played_at": at("2023-05-01T12:00:00"), "track_id": "t1", "ms_played": 200_000},
                {"played_at": at("2024-05-01T12:00:00"), "track_id": "t1", "ms_played": 200_000},
                {"played_at": at("2024-05-02T12:00:00"), "track_id": "t1", "ms_played": 200_000},
            ],
        )
    with store.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    assert report["previous_period"]["minutes_listened"] == 3.33
    assert report["change"]["minutes_listened"] == 1.0


def test_spoken_word_is_reported_apart(history: Store) -> None:
    from sqlalchemy import insert

    from brapped.store import tables

    with history.begin() as conn:
        conn.execute(
            insert(tables.episodes),
            [
                {"id": "e1", "kind": "podcast", "name": "Ep 1", "show_name": "Show A"},
                {"id": "e2", "kind": "podcast", "name": "Ep 2", "show_name": "Show A"},
                {"id": "b1", "kind": "audiobook", "name": "Chapter 1", "show_name": "Book"},
            ],
        )
        base = {"user_id": "u1", "source": "export"}
        conn.execute(
            insert(tables.episode_plays),
            [
                {**base, "played_at": at("2024-05-01T10:00:00"), "episode_id": "e1", "ms_played": 600_000},
                {**base, "played_at": at("2024-05-02T10:00:00"), "episode_id": "e2", "ms_played": 300_000},
                {**base, "played_at": at("2024-05-03T10:00:00"), "episode_id": "b1", "ms_played": 1_200_000},
            ],
        )
    with history.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    assert report["plays"] == len(ALL_MS)  # music only
    assert report["spoken_word"]["podcasts"] == {
        "plays": 2,
        "minutes": 15.0,
        "top_shows": [{"name": "Show A", "plays": 2, "minutes": 15.0}],
    }
    assert report["spoken_word"]["audiobooks"]["minutes"] == 20.0


def test_empty_period(history: Store) -> None:
    with history.connect() as conn:
        report = wrapped(conn, Period(date(2030, 1, 1), date(2030, 1, 31), TZ))
    assert report["plays"] == 0
    assert report["top_artists"] == [] and report["top_artist_by_month"] == []
    assert report["busiest_day"] is None and report["longest_streak"] is None
    assert report["longest_session"] is None and report["most_repeated_track_in_a_day"] is None
    assert report["listening_age"]["median_release_year"] is None
    assert report["listening_age"]["plays_with_release_year"] == 0
    assert report["listening_age"]["window"] is None and report["listening_age"]["age"] is None
    assert report["skip_rate"]["rate"] is None
    assert report["obsession"] is None and report["top_new_albums"] == []
    # Alpha, Beta and Gamma were played in 2024, none in January 2030: all gone, after a silence.
    assert report["rediscovery"] is None
    assert report["forgotten_favourite"]["artist"]["id"] == "a1"
    assert report["forgotten_favourite"]["last_played"] == "2024-10-28"
    assert [f["ranking"] for f in report["artist_race"]["frames"]] == [[]] * 5
    assert report["artist_race"]["step"] == "week"


def test_top_artist_of_a_month_breaks_a_tie_by_name_as_top_lists_do(store: Store) -> None:
    """Gamma (id a3) and Aardvark (id z1) both have one play of 100 000 ms in May: the month's top
    artist is Aardvark, as `report top artists --period 2024-05` ranks them (name, then id), on
    both of its paths (a year: from the race's months; two months: from the days)."""
    from sqlalchemy import insert

    from brapped.store import tables

    with store.begin() as conn:
        add_catalogue(conn)
        conn.execute(insert(tables.artists), [{"id": "z1", "name": "Aardvark"}])
        conn.execute(insert(tables.tracks), [{"id": "tz", "name": "Zed", "album_id": None}])
        conn.execute(insert(tables.track_artists), [{"track_id": "tz", "position": 0, "artist_id": "z1"}])
        add_plays(
            conn,
            [
                {"played_at": at("2024-05-01T12:00:00"), "track_id": "t3", "ms_played": 100_000},
                {"played_at": at("2024-05-02T12:00:00"), "track_id": "tz", "ms_played": 100_000},
            ],
        )
    expected = [{"month": "2024-05", "artist": {"id": "z1", "name": "Aardvark"}, "plays": 1, "minutes": 1.67}]
    with store.connect() as conn:
        for period in (Period.year(2024, TZ), Period(date(2024, 5, 1), date(2024, 6, 30), TZ)):
            assert wrapped(conn, period)["top_artist_by_month"] == expected
