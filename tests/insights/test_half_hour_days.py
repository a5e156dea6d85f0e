"""Days whose clocks move by 30 minutes (Australia/Lord_Howe), on SQLite and PostgreSQL.

Lord Howe Island is +11:00 in summer and +10:30 in winter. On 2025-04-06 the clock goes back from
02:00 to 01:30 (the day lasts 24.5 hours, 01:30-02:00 happens twice); on 2025-10-05 it jumps from
02:00 to 02:30 (23.5 hours, 02:00-02:30 never happens). Every expected value below comes from
`zoneinfo` in plain Python, never from the code under test.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from brapped.insights import Period, day_report
from brapped.insights.overview import overview
from brapped.insights.rollups import refresh_store
from brapped.store import Store
from tests.insights.conftest import add_catalogue, add_plays

ZONE = "Australia/Lord_Howe"
TZ = ZoneInfo(ZONE)
BACK, FORWARD = date(2025, 4, 6), date(2025, 10, 5)
TRACKS = ["t1", "t2", "t3", "t4", "t5"]


def _plays() -> list[dict[str, object]]:
    """A play ending every 7 minutes for two days around each change (odd minutes cross every label)."""
    rows: list[dict[str, object]] = []
    for day in (BACK, FORWARD):
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
        n = 0
        while moment < datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1):
            rows.append(
                {"played_at": moment, "track_id": TRACKS[n % 5], "ms_played": 10_000 + 1_000 * (n % 97)}
            )
            moment += timedelta(minutes=7)
            n += 1
    return rows


PLAYS = _plays()


def _true_length_hours(day: date) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=TZ).astimezone(UTC)
    return (end - start).total_seconds() / 3600


def _expected_hours_ms(day: date) -> list[int]:
    hours = [0] * 24
    for row in PLAYS:
        local = row["played_at"].astimezone(TZ)  # type: ignore[attr-defined]
        if local.date() == day:
            hours[local.hour] += row["ms_played"]  # type: ignore[operator]
    return hours


@pytest.fixture
def lord_howe(store: Store) -> Store:
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(conn, PLAYS)
    return store


def test_the_zone_really_moves_by_half_an_hour() -> None:
    # The premise, checked on the zone database itself.
    assert _true_length_hours(BACK) == 24.5
    assert _true_length_hours(FORWARD) == 23.5


@pytest.mark.parametrize(("day", "length"), [(BACK, 24.5), (FORWARD, 23.5), (date(2025, 4, 7), 24)])
def test_day_report_length_and_hours(lord_howe: Store, day: date, length: float) -> None:
    with lord_howe.connect() as conn:
        report = day_report(conn, day, ZONE)
    assert report["hours_in_day"] == length == _true_length_hours(day)
    assert isinstance(report["hours_in_day"], int) == (length == 24)
    expected = _expected_hours_ms(day)
    assert report["hours"] == [round(ms / 60_000, 2) for ms in expected]
    assert report["ms_played"] == sum(expected)
    assert report["plays"] == sum(1 for r in PLAYS if r["played_at"].astimezone(TZ).date() == day)  # type: ignore[attr-defined]


def test_hour_labels_of_the_half_hours(lord_howe: Store) -> None:
    # 2025-04-06: label 1 holds 01:00-02:00 (+11) and 01:30-02:00 again (+10:30): 90 real minutes.
    # 2025-10-05: label 2 holds only 02:30-03:00: 30 real minutes.
    def real_minutes(day: date, hour: int) -> float:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
        seconds = 0
        for step in range(0, 3 * 86_400, 60):
            local = (start + timedelta(seconds=step)).astimezone(TZ)
            seconds += 60 if (local.date(), local.hour) == (day, hour) else 0
        return seconds / 60

    assert real_minutes(BACK, 1) == 90 and real_minutes(FORWARD, 2) == 30
    assert sum(real_minutes(BACK, h) for h in range(24)) / 60 == 24.5
    with lord_howe.connect() as conn:
        back, forward = day_report(conn, BACK, ZONE), day_report(conn, FORWARD, ZONE)
    # Plays end every 7 minutes: a 90-minute label collects about 90/7, a 30-minute one about 30/7.
    assert back["hours"][1] == round(_expected_hours_ms(BACK)[1] / 60_000, 2)
    assert (
        12 <= sum(1 for r in PLAYS if r["played_at"].astimezone(TZ).timetuple()[:4] == (2025, 4, 6, 1)) <= 13
    )  # type: ignore[attr-defined]
    assert forward["hours"][2] == round(_expected_hours_ms(FORWARD)[2] / 60_000, 2)


def test_calendar_and_clock_with_and_without_stored_sums(lord_howe: Store) -> None:
    period = Period(date(2025, 4, 1), date(2025, 10, 31), ZONE)
    days: dict[int, int] = defaultdict(int)
    for row in PLAYS:
        local = row["played_at"].astimezone(TZ)  # type: ignore[attr-defined]
        days[(local.date() - date(1970, 1, 1)).days] += row["ms_played"]  # type: ignore[operator]
    with lord_howe.connect() as conn:
        _, from_plays, clock = overview(conn, period)
    assert dict(from_plays) == dict(days)
    # The stored per-hour sums (built in the zone, cutoff after every play) give the same numbers.
    # (The cutoff is a week before the newest play: April's plays come from the sums, October's not.)
    assert refresh_store(lord_howe, ZONE, 30_000, datetime(2026, 1, 1, tzinfo=UTC)).action == "built"
    with lord_howe.connect() as conn:
        _, from_sums, clock_from_sums = overview(conn, period)
    assert dict(from_sums) == dict(days)
    assert clock_from_sums == clock
