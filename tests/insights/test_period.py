"""Local periods: DST-correct UTC bounds, offsets, parsing, and local bucketing in SQL on both databases."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from brapped.insights import LocalTime, Period, PeriodError, bound_day
from brapped.insights.period import date_to_day, day_to_date, offsets
from brapped.store import Store, tables
from tests.insights.conftest import TZ, add_catalogue, at


def test_dst_days_have_23_and_25_hours() -> None:
    spring = Period.day(date(2024, 3, 31), TZ)
    autumn = Period.day(date(2024, 10, 27), TZ)
    assert (spring.start_utc, spring.end_utc) == (at("2024-03-30T23:00:00"), at("2024-03-31T22:00:00"))
    assert (autumn.start_utc, autumn.end_utc) == (at("2024-10-26T22:00:00"), at("2024-10-27T23:00:00"))
    assert spring.end_utc - spring.start_utc == timedelta(hours=23)
    assert autumn.end_utc - autumn.start_utc == timedelta(hours=25)


def test_offsets_find_both_transitions_to_the_second() -> None:
    table = offsets(ZoneInfo(TZ), at("2024-01-01T00:00:00"), at("2025-01-01T00:00:00"))
    assert table == [
        (int(at("2024-01-01T00:00:00").timestamp()), 3600),
        (int(at("2024-03-31T01:00:00").timestamp()), 7200),
        (int(at("2024-10-27T01:00:00").timestamp()), 3600),
    ]
    assert offsets(ZoneInfo("UTC"), at("2024-01-01T00:00:00"), at("2025-01-01T00:00:00")) == [
        (int(at("2024-01-01T00:00:00").timestamp()), 0)
    ]


def test_southern_hemisphere_and_half_hour_zones() -> None:
    # Adelaide: +10:30 in January (DST), +09:30 from 2024-04-07 03:00 local.
    table = offsets(ZoneInfo("Australia/Adelaide"), at("2024-01-01T00:00:00"), at("2024-06-01T00:00:00"))
    assert [offset for _, offset in table] == [37800, 34200]
    assert datetime.fromtimestamp(table[1][0], UTC) == at("2024-04-06T16:30:00")


def test_parse_and_windows() -> None:
    assert Period.parse("2024", TZ) == Period(date(2024, 1, 1), date(2024, 12, 31), TZ)
    assert Period.parse("2024-02", TZ) == Period(date(2024, 2, 1), date(2024, 2, 29), TZ)
    assert Period.parse("2023-12", TZ) == Period(date(2023, 12, 1), date(2023, 12, 31), TZ)
    assert Period.parse("2024-03-05", TZ) == Period.day(date(2024, 3, 5), TZ)
    assert Period.parse("2024-03..2024-05-10", TZ) == Period(date(2024, 3, 1), date(2024, 5, 10), TZ)
    assert Period.year(2024, TZ, window="spotify") == Period(date(2024, 1, 1), date(2024, 11, 15), TZ)
    assert Period.year(2024, TZ).days == 366


@pytest.mark.parametrize("text", ["", "2024-13", "2024-02-30", "yesterday", "2024-01-01-01", "2024..20x"])
def test_bad_periods_are_clear_errors(text: str) -> None:
    with pytest.raises(PeriodError, match="not a date or period"):
        Period.parse(text, TZ)


def test_other_bad_inputs() -> None:
    with pytest.raises(PeriodError, match="before it starts"):
        Period(date(2024, 2, 1), date(2024, 1, 1), TZ)
    with pytest.raises(PeriodError, match="unknown timezone"):
        Period.day(date(2024, 1, 1), "Europe/Atlantis")
    with pytest.raises(PeriodError, match="unknown window"):
        Period.year(2024, TZ, window="fiscal")


def test_previous_period() -> None:
    assert Period.year(2024, TZ).previous() == Period.year(2023, TZ)
    assert Period.year(2024, TZ, window="spotify").previous() == Period.year(2023, TZ, window="spotify")
    assert Period.parse("2024-03", TZ).previous() == Period.parse("2024-02", TZ)
    assert Period.parse("2024-01..2024-02", TZ).previous() == Period.parse("2023-11..2023-12", TZ)
    week = Period(date(2024, 3, 4), date(2024, 3, 10), TZ)
    assert week.previous() == Period(date(2024, 2, 26), date(2024, 3, 3), TZ)
    assert Period(date(2024, 2, 29), date(2024, 3, 1), TZ).previous().days == 2


def test_day_numbers_round_trip() -> None:
    assert date_to_day(date(1970, 1, 1)) == 0
    assert day_to_date(date_to_day(date(2024, 10, 27))) == date(2024, 10, 27)


def test_local_buckets_in_sql_on_both_databases(store: Store) -> None:
    instants = [
        at("2024-03-31T00:59:59.999"),  # 01:59:59.999 CET, Sunday
        at("2024-03-31T01:00:00"),  # 03:00 CEST
        at("2024-10-26T21:59:59.999"),  # Saturday 23:59:59.999 CEST
        at("2024-10-26T22:00:00"),  # Sunday 00:00 CEST
        at("2024-10-27T00:59:59.999"),  # 02:59:59.999 CEST
        at("2024-10-27T01:00:00"),  # 02:00 CET (again)
        at("2024-12-31T22:59:59.999"),  # 23:59:59.999 on New Year's Eve
        at("2024-12-31T23:00:00"),  # 2025-01-01 00:00
    ]
    with store.begin() as conn:
        add_catalogue(conn)
        conn.execute(
            insert(tables.plays),
            [{"user_id": "u", "played_at": t, "track_id": "t1", "source": "api"} for t in instants],
        )
    local = LocalTime.of(tables.plays.c.played_at, TZ, at("2024-01-01T00:00:00"), at("2025-01-02T00:00:00"))
    with store.connect() as conn:
        rows = conn.execute(
            select(local.day, local.hour, local.weekday, local.month).order_by(tables.plays.c.played_at)
        ).all()
    expected = []
    for instant in instants:
        wall = instant.astimezone(ZoneInfo(TZ))
        expected.append((date_to_day(wall.date()), wall.hour, wall.weekday(), wall.strftime("%Y-%m")))
    assert [tuple(r) for r in rows] == expected


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-02", date(2023, 2, 1), date(2023, 2, 28)),
        ("2023-12", date(2023, 12, 1), date(2023, 12, 31)),
        ("2024-03-05", date(2024, 3, 5), date(2024, 3, 5)),
        (" 2024-3-5 ", date(2024, 3, 5), date(2024, 3, 5)),
    ],
)
def test_bound_day_is_a_year_or_months_first_or_last_day(text: str, first: date, last: date) -> None:
    assert (bound_day(text), bound_day(text, last=True)) == (first, last)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a date: '': use YYYY, YYYY-MM or YYYY-MM-DD"),
        ("2024..2025", "not a date: '2024..2025': use YYYY, YYYY-MM or YYYY-MM-DD"),
        ("2024-+3", "not a date: '2024-+3'"),
        ("2024-1_0", "not a date: '2024-1_0'"),
        ("２０２４", "not a date: '２０２４'"),
        ("9" * 20, "not a date: '" + "9" * 20 + "'"),
        ("2024-13", "not a date: '2024-13' (month must be in 1..12)"),
        ("1970", "'1970': reports cover 1970-01-02 to 2999-12-30"),
        ("2999-12", "'2999-12': reports cover 1970-01-02 to 2999-12-30"),
    ],
)
def test_bound_day_refuses_junk(text: str, message: str) -> None:
    with pytest.raises(PeriodError, match=re.escape(message)):
        bound_day(text)
