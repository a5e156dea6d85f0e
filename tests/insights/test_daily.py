"""The daily report on the hand-made history (tests/insights/conftest.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from brapped.insights import PeriodError, day_report
from brapped.store import Store
from tests.insights.conftest import TZ, add_catalogue, add_plays, at

# ms of the plays on 2024-10-27 (Berlin), worked out from the fixture's comments.
T1, T2A, T2B, T5, T3 = 200_000, 60_000, 20_000, 90_000, 100_000


def _minutes(ms: int) -> float:
    return round(ms / 60_000, 2)


def test_fall_back_day_has_25_hours_and_exact_totals(history: Store) -> None:
    with history.connect() as conn:
        report = day_report(conn, date(2024, 10, 27), TZ)
    total = T1 + T2A + T2B + T5 + T3
    assert report["date"] == "2024-10-27"
    assert report["timezone"] == TZ
    assert report["hours_in_day"] == 25
    assert report["utc_start"] == at("2024-10-26T22:00:00")
    assert report["utc_end"] == at("2024-10-27T23:00:00")
    assert report["plays"] == 5  # the plays at local 23:59:59.999 the day before / 00:00 after are out
    assert report["streams"] == 4  # the 20 s play is not a stream
    assert report["ms_played"] == total
    assert report["minutes_listened"] == _minutes(total)
    assert report["distinct_tracks"] == 4
    # Alpha, Beta (featured), Gamma; both spellings of Various Artists are left out.
    assert report["distinct_artists"] == 3
    assert report["distinct_albums"] == 2
    assert report["time_sources"] == {
        "measured_minutes": _minutes(total - T3),
        "estimated_minutes": _minutes(T3),
        "estimated_share": round(T3 / total, 4),
        "unknown_plays": 0,
    }
    expected_hours = [0.0] * 24
    expected_hours[0] = _minutes(T1)
    expected_hours[2] = _minutes(T2A + T2B)  # 02:30 CEST and 02:30 CET share the label 2
    expected_hours[12] = _minutes(T5)
    expected_hours[23] = _minutes(T3)
    assert report["hours"] == expected_hours


def test_spring_forward_day_has_23_hours(history: Store) -> None:
    with history.connect() as conn:
        report = day_report(conn, date(2024, 3, 31), TZ)
    assert report["hours_in_day"] == 23
    assert report["plays"] == 3
    assert report["streams"] == 1  # exactly 30 000 ms is a stream, 29 999 is not, unknown is not
    assert report["ms_played"] == 59_999
    assert report["time_sources"]["unknown_plays"] == 1
    hours = report["hours"]
    assert hours[1] == _minutes(30_000)
    assert hours[2] == 0.0  # 02:00-03:00 does not exist that night
    assert hours[3] == _minutes(29_999)
    assert sum(1 for h in hours if h) == 2


def test_top_lists_credit_main_and_featured_apart(history: Store) -> None:
    with history.connect() as conn:
        report = day_report(conn, date(2024, 10, 27), TZ)
    artists = {a["id"]: a for a in report["top_artists"]}
    assert [a["id"] for a in report["top_artists"]] == ["a1", "a2", "a3"]  # no Various Artists
    assert artists["a1"] | {} == {
        "rank": 1,
        "id": "a1",
        "name": "Alpha",
        "plays": 3,
        "streams": 2,
        "minutes": _minutes(T1 + T2A + T2B),
        "ms_played": T1 + T2A + T2B,
        "main_plays": 3,
        "featured_plays": 0,
        "main_minutes": _minutes(T1 + T2A + T2B),
        "featured_minutes": 0.0,
        # Spotify's 2025 credit: streams as the main artist weigh 1, as a featured one 0.5.
        "main_streams": 2,
        "credit": 2.0,
    }
    assert artists["a2"]["main_plays"] == 0
    assert artists["a2"]["featured_plays"] == 2
    assert artists["a2"]["featured_minutes"] == _minutes(T2A + T2B)
    tracks = report["top_tracks"]
    assert [t["id"] for t in tracks] == ["t2", "t1", "t3", "t5"]  # plays, then minutes
    assert tracks[0]["artists"] == [
        {"id": "a1", "name": "Alpha", "role": "main"},
        {"id": "a2", "name": "Beta", "role": "featured"},
    ]
    assert tracks[0]["plays"] == 2
    assert tracks[0]["minutes"] == _minutes(T2A + T2B)


def test_discoveries_are_first_plays_ever(history: Store) -> None:
    with history.connect() as conn:
        report = day_report(conn, date(2024, 10, 27), TZ)
    # t1 was played in March, t4 the day before: t2, t3, t5 are new. Alpha and Beta were heard in
    # March (Beta through t4), so only Gamma is a new artist.
    assert report["discoveries"]["new_tracks"] == 3
    assert {t["id"] for t in report["discoveries"]["top_new_tracks"]} == {"t2", "t3", "t5"}
    assert report["discoveries"]["new_artists"] == 1
    assert [a["id"] for a in report["discoveries"]["top_new_artists"]] == ["a3"]


def test_average_day_counts_silent_days(history: Store) -> None:
    with history.connect() as conn:
        report = day_report(conn, date(2024, 10, 27), TZ)
    average = report["average_day"]
    # From the first play (2024-03-31) to 2024-10-26: 210 days, 4 plays (3 in March, 1 on Oct 26).
    days = (date(2024, 10, 26) - date(2024, 3, 31)).days + 1
    assert average["days"] == days
    assert average["start"] == "2024-03-31"
    assert average["plays"] == round(4 / days, 2)
    assert average["minutes_listened"] == round((30_000 + 29_999 + 40_000) / 60_000 / days, 2)
    # From the exact mean (4 / days), not the rounded one shown beside it.
    assert report["vs_average"]["plays"] == round(5 / (4 / days) - 1, 4)


def test_vs_average_uses_the_exact_average_not_the_rounded_one(store: Store) -> None:
    """One play 300 days earlier: the average day holds 1/300 play (0.0 to two decimals) and
    200 000 ms / 300 (0.01 min); the change must come from those, not from 0.0 (None) and 0.01."""
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(
            conn,
            [
                {"played_at": at("2024-01-01T12:00:00"), "track_id": "t1", "ms_played": 200_000},
                {"played_at": at("2024-10-27T12:00:00"), "track_id": "t1", "ms_played": 200_000},
            ],
        )
    with store.connect() as conn:
        report = day_report(conn, date(2024, 10, 27), TZ)
    days = (date(2024, 10, 26) - date(2024, 1, 1)).days + 1
    assert report["average_day"]["days"] == days
    assert report["average_day"]["plays"] == 0.0  # shown rounded
    assert report["vs_average"]["plays"] == round(1 / (1 / days) - 1, 4)
    assert report["vs_average"]["minutes_listened"] == round(200_000 / (200_000 / days) - 1, 4)


def test_empty_day_and_user_filter(history: Store) -> None:
    with history.connect() as conn:
        empty = day_report(conn, date(2020, 1, 1), TZ)
        other = day_report(conn, date(2024, 10, 27), TZ, user_id="someone-else")
    for report in (empty, other):
        assert report["plays"] == 0
        assert report["minutes_listened"] == 0.0
        assert report["hours"] == [0.0] * 24
        assert report["top_tracks"] == []
        assert report["top_artists"] == []
    assert empty["average_day"]["days"] == 0


def test_accounts_are_kept_apart(history: Store) -> None:
    with history.begin() as conn:
        add_plays(
            conn,
            [{"user_id": "u2", "played_at": at("2024-10-27T12:00:00"), "track_id": "t4", "ms_played": 1}],
        )
    with history.connect() as conn:
        everyone = day_report(conn, date(2024, 10, 27), TZ)
        u1 = day_report(conn, date(2024, 10, 27), TZ, user_id="u1")
        u2 = day_report(conn, date(2024, 10, 27), TZ, user_id="u2")
    assert (everyone["plays"], u1["plays"], u2["plays"]) == (6, 5, 1)


def test_unknown_timezone_is_a_clear_error(history: Store) -> None:
    with history.connect() as conn, pytest.raises(PeriodError, match="unknown timezone"):
        day_report(conn, date(2024, 10, 27), "Mars/Olympus")
