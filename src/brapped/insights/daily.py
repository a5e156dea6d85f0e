"""The daily report: one local day, compared with the listener's average day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection

from brapped.insights.aggregates import day_hour_grid
from brapped.insights.period import Period, date_to_day
from brapped.insights.scope import Scope, change, minutes
from brapped.insights.top import top_artists, top_tracks
from brapped.insights.totals import (
    first_play_at,
    new_artists,
    new_tracks,
    spoken_word,
    sums,
    totals,
)

AVERAGE_DAYS = 365


def day_report(
    conn: Connection,
    day: date,
    timezone: str,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
    limit: int = 5,
) -> dict[str, Any]:
    """Everything about one local day; keys documented in docs/reports.md."""
    period = Period.day(day, timezone)
    scope = Scope.of(period, user_id, stream_threshold_ms)
    summary = totals(conn, scope)
    grid = day_hour_grid(conn, scope, period)
    hours_ms = [0] * 24
    for cell in grid:
        if cell.day == date_to_day(day):
            hours_ms[cell.hour] += cell.ms_played
    new_track_count, new_track_list = new_tracks(conn, scope, limit=limit)
    new_artist_count, new_artist_list = new_artists(conn, scope, limit=limit)
    window = _average_window(conn, period, user_id=user_id, stream_threshold_ms=stream_threshold_ms)
    average = _average_of(window)
    return {
        "date": day.isoformat(),
        "timezone": timezone,
        "utc_start": period.start_utc,
        "utc_end": period.end_utc,
        "hours_in_day": hours_in_day(period),
        **summary,
        "hours": [minutes(ms) for ms in hours_ms],
        "top_tracks": top_tracks(conn, scope, limit=limit),
        "top_artists": top_artists(conn, scope, limit=limit),
        "discoveries": {
            "new_tracks": new_track_count,
            "new_artists": new_artist_count,
            "top_new_tracks": new_track_list,
            "top_new_artists": new_artist_list,
        },
        "average_day": average,
        # From the exact means: the shown ones are rounded to 1/100, which a quiet history's
        # average (1 play in 300 days) rounds to 0.
        "vs_average": {
            "minutes_listened": _vs(summary["ms_played"], window, "ms_played"),
            "plays": _vs(summary["plays"], window, "plays"),
        },
        "spoken_word": spoken_word(conn, scope, limit=limit),
    }


def hours_in_day(period: Period) -> int | float:
    """How long the period's days really last, in hours: 23, 24, 25, or 23.5 / 24.5 where clocks
    move by 30 minutes (Australia/Lord_Howe). Whole hours stay integers (the JSON stays `24`);
    anything else keeps its fraction (rounded to 1/100 h for historic odd offsets), never rounded to
    a whole hour: `round(24.5)` is 24.
    """
    seconds = int((period.end_utc - period.start_utc).total_seconds())
    if seconds % 3600 == 0:
        return seconds // 3600
    return round(seconds / 3600, 2)


def average_day(
    conn: Connection, period: Period, *, user_id: str | None = None, stream_threshold_ms: int = 30_000
) -> dict[str, Any]:
    """Mean minutes, plays and streams per local day over the days before `period`.

    The window is the AVERAGE_DAYS days before the period, cut to start on the day of the first
    play ever; days without listening count as zero. No earlier day: `days` is 0 and means are 0.
    """
    return _average_of(
        _average_window(conn, period, user_id=user_id, stream_threshold_ms=stream_threshold_ms)
    )


class _Window(NamedTuple):
    start: date
    end: date
    days: int
    sums: dict[str, int]


def _average_window(
    conn: Connection, period: Period, *, user_id: str | None, stream_threshold_ms: int
) -> _Window | None:
    """The days `average_day` averages over and their sums; None when there is no earlier day."""
    end = period.start - timedelta(days=1)
    start = period.start - timedelta(days=AVERAGE_DAYS)
    first = first_play_at(conn, user_id)
    if first is not None:
        first_day = first.astimezone(period.tz).date()
        start = max(start, first_day)
    if first is None or start > end:
        return None
    window = Period(start, end, period.timezone)
    return _Window(start, end, window.days, sums(conn, Scope.of(window, user_id, stream_threshold_ms)))


def _average_of(window: _Window | None) -> dict[str, Any]:
    if window is None:
        return {"days": 0, "start": None, "end": None, "minutes_listened": 0.0, "plays": 0.0, "streams": 0.0}
    days, summary = window.days, window.sums
    return {
        "days": days,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "minutes_listened": round(summary["ms_played"] / 60_000 / days, 2),
        "plays": round(summary["plays"] / days, 2),
        "streams": round(summary["streams"] / days, 2),
    }


def _vs(value: int, window: _Window | None, key: str) -> float | None:
    """The relative change of the day's `value` from the window's exact mean of `key`."""
    if window is None:
        return None
    return change(value, window.sums[key] / window.days)


def today(now: datetime, timezone: str) -> date:
    """The local date of instant `now` in `timezone`."""
    return now.astimezone(Period.day(date(2000, 1, 1), timezone).tz).date()
