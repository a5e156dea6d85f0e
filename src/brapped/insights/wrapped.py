"""Wrapped for any period: totals, top lists, the listening clock, streaks, sessions and more."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, Integer, Select, case, func, literal_column, or_, select, true

from brapped.insights.period import LocalTime, Period, date_to_day, day_to_date
from brapped.insights.scope import (
    Scope,
    by_codepoint,
    change,
    materialized,
    minutes,
    not_various_artists,
    per_track,
    ratio,
)
from brapped.insights.summary import Cell, day_hour_grid, new_artists, spoken_word, totals
from brapped.insights.top import (
    per_artist,
    top_albums,
    top_artists_from,
    top_genres,
    top_tracks,
    track_credits,
)
from brapped.store.tables import albums, artists, plays, track_artists, tracks
from brapped.store.types import epoch

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def wrapped(
    conn: Connection,
    period: Period,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
    session_gap_minutes: int = 30,
    limit: int = 100,
) -> dict[str, Any]:
    """The Wrapped report for `period`; keys documented in docs/reports.md.

    Plays are read in four passes (per track, per local day and track, per local day and hour,
    sessions); everything else is computed from those small temporary tables (and the per-artist
    sums, shared by the top artists, the distinct-artist count and the discoveries).
    """
    scope = Scope.of(period, user_id, stream_threshold_ms)
    previous_period = period.previous()
    previous_scope = Scope.of(previous_period, user_id, stream_threshold_ms)
    with (
        materialized(conn, per_track(scope)) as pt,
        materialized(conn, per_day_track(scope, period)) as dt,
        materialized(conn, per_track(previous_scope)) as previous_pt,
        materialized(conn, per_artist(pt)) as pa,
    ):
        summary = totals(conn, scope, source=pt, artist_source=pa)
        previous = totals(conn, previous_scope, source=previous_pt)
        grid = day_hour_grid(conn, scope, period)
        new_count, new_list = new_artists(conn, scope, limit=5, artist_source=pa)
        return {
            "period": period.as_dict(),
            **summary,
            "top_artists": top_artists_from(conn, pa, limit=limit),
            "top_tracks": top_tracks(conn, scope, limit=limit, source=pt),
            "top_albums": top_albums(conn, scope, limit=limit, source=pt),
            "top_genres": top_genres(conn, scope, limit=limit, source=pt),
            "top_artist_by_month": top_artist_by_month(conn, scope, period, source=dt),
            "listening_clock": listening_clock(grid),
            "busiest_day": busiest_day(grid),
            "longest_streak": longest_streak(grid),
            "longest_session": longest_session(conn, scope, period, session_gap_minutes),
            "most_repeated_track_in_a_day": most_repeated_track(conn, scope, period, source=dt),
            "discoveries": {"new_artists": new_count, "top_new_artists": new_list},
            "listening_age": listening_age(conn, scope, source=pt),
            "skip_rate": skip_rate(conn, scope),
            "estimated_share": summary["time_sources"]["estimated_share"],
            "previous_period": {
                "period": previous_period.as_dict(),
                "minutes_listened": previous["minutes_listened"],
                "plays": previous["plays"],
                "streams": previous["streams"],
                "distinct_tracks": previous["distinct_tracks"],
                "distinct_artists": previous["distinct_artists"],
            },
            "change": {
                key: change(summary[key], previous[key])
                for key in ("minutes_listened", "plays", "streams", "distinct_tracks", "distinct_artists")
            },
            "spoken_word": spoken_word(conn, scope),
        }


def per_day_track(scope: Scope, period: Period) -> Select[Any]:
    """One row per local day and track played in the scope: plays and milliseconds."""
    local = LocalTime.of(plays.c.played_at, period.timezone, period.start_utc, period.end_utc)
    inner = (
        select(local.day.label("day"), plays.c.track_id, scope.ms().label("ms"))
        .where(scope.where())
        .subquery()
    )
    return select(
        inner.c.day,
        inner.c.track_id.label("track_id"),
        func.count().label("plays"),
        func.sum(inner.c.ms).label("ms_played"),
    ).group_by(inner.c.day, inner.c.track_id)


def listening_clock(grid: list[Cell]) -> dict[str, Any]:
    """Minutes and plays per local weekday (Monday first) and local hour."""
    ms = [[0] * 24 for _ in WEEKDAYS]
    counts = [[0] * 24 for _ in WEEKDAYS]
    for cell in grid:
        weekday = day_to_date(cell.day).weekday()
        ms[weekday][cell.hour] += cell.ms_played
        counts[weekday][cell.hour] += cell.plays
    return {
        "weekdays": list(WEEKDAYS),
        "minutes": [[minutes(v) for v in row] for row in ms],
        "plays": counts,
    }


def busiest_day(grid: list[Cell]) -> dict[str, Any] | None:
    """The local day with the most minutes (earliest on a tie)."""
    per_day: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for cell in grid:
        per_day[cell.day][0] += cell.ms_played
        per_day[cell.day][1] += cell.plays
    if not per_day:
        return None
    day, (ms, count) = min(per_day.items(), key=lambda item: (-item[1][0], item[0]))
    return {"date": day_to_date(day).isoformat(), "minutes": minutes(ms), "plays": count}


def longest_streak(grid: list[Cell]) -> dict[str, Any] | None:
    """The longest run of consecutive local days with at least one stream (earliest on a tie)."""
    days = sorted({cell.day for cell in grid if cell.streams > 0})
    best: tuple[int, int] | None = None
    run_start = None
    for index, day in enumerate(days):
        if index == 0 or day != days[index - 1] + 1:
            run_start = day
        assert run_start is not None
        if best is None or day - run_start > best[1] - best[0]:
            best = (run_start, day)
    if best is None:
        return None
    return {
        "days": best[1] - best[0] + 1,
        "start": day_to_date(best[0]).isoformat(),
        "end": day_to_date(best[1]).isoformat(),
    }


def top_artist_by_month(
    conn: Connection, scope: Scope, period: Period, *, source: FromClause | None = None
) -> list[dict[str, Any]]:
    """The most played artist (any credit) of each local month with plays.

    `source`: `per_day_track(scope, period)` already materialised.
    """
    dt = source if source is not None else per_day_track(scope, period).subquery("per_day_track")
    month = month_key(dt.c.day, period)
    single_month = len(_months(period)) == 1
    # Days to months first (integer arithmetic, no date formatting per row), then the fewer
    # (month, track) rows to their credits.
    per_month = (
        select(
            month.label("month"),
            dt.c.track_id,
            func.sum(dt.c.plays).label("plays"),
            func.sum(dt.c.ms_played).label("ms_played"),
        )
        # A literal month (one-month period) cannot be grouped by: SQL reads it as a column number.
        .group_by(*([] if single_month else [month]), dt.c.track_id)
        .subquery()
    )
    inner = (
        select(per_month.c.month, track_artists.c.artist_id, per_month.c.plays, per_month.c.ms_played)
        .select_from(
            per_month.join(track_artists, track_artists.c.track_id == per_month.c.track_id).join(
                artists, artists.c.id == track_artists.c.artist_id
            )
        )
        .where(not_various_artists())
        .subquery()
    )
    n_plays = func.sum(inner.c.plays)
    total_ms = func.sum(inner.c.ms_played)
    ranked = (
        select(
            inner.c.month,
            inner.c.artist_id,
            n_plays.label("plays"),
            total_ms.label("ms_played"),
            func.row_number()
            .over(
                partition_by=inner.c.month,
                order_by=[n_plays.desc(), total_ms.desc(), by_codepoint(inner.c.artist_id)],
            )
            .label("place"),
        )
        .group_by(inner.c.month, inner.c.artist_id)
        .subquery()
    )
    rows = conn.execute(
        select(ranked.c.month, artists.c.id, artists.c.name, ranked.c.plays, ranked.c.ms_played)
        .join(artists, artists.c.id == ranked.c.artist_id)
        .where(ranked.c.place == 1)
        .order_by(ranked.c.month)
    )
    names = month_names(period)
    return [
        {
            "month": names[int(r.month)],
            "artist": {"id": r.id, "name": r.name},
            "plays": int(r.plays),
            "minutes": minutes(r.ms_played),
        }
        for r in rows
    ]


def _months(period: Period) -> list[date]:
    """The first day of each calendar month the period touches."""
    first = period.start.replace(day=1)
    months = []
    while first <= period.end:
        months.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return months


def month_key(day: Any, period: Period) -> Any:
    """The index (0 = the period's first month) of a local day number's month, as SQL."""
    starts = [date_to_day(m) for m in _months(period)[1:]]
    if not starts:
        return literal_column("0", Integer)
    whens = [
        (day < literal_column(str(start), Integer), literal_column(str(i), Integer))
        for i, start in enumerate(starts)
    ]
    return case(*whens, else_=literal_column(str(len(starts)), Integer))


def month_names(period: Period) -> list[str]:
    """'YYYY-MM' of each `month_key`."""
    return [m.strftime("%Y-%m") for m in _months(period)]


def most_repeated_track(
    conn: Connection, scope: Scope, period: Period, *, source: FromClause | None = None
) -> dict[str, Any] | None:
    """The track played most times within one local day (most minutes, then earliest day on a tie)."""
    dt = source if source is not None else per_day_track(scope, period).subquery("per_day_track")
    row = conn.execute(
        select(dt.c.day, dt.c.track_id, dt.c.plays, dt.c.ms_played)
        .order_by(dt.c.plays.desc(), dt.c.ms_played.desc(), dt.c.day, by_codepoint(dt.c.track_id))
        .limit(1)
    ).first()
    if row is None:
        return None
    name = conn.execute(select(tracks.c.name).where(tracks.c.id == row.track_id)).scalar_one()
    return {
        "date": day_to_date(row.day).isoformat(),
        "track": {
            "id": row.track_id,
            "name": name,
            "artists": track_credits(conn, [row.track_id])[row.track_id],
        },
        "plays": int(row.plays),
        "minutes": minutes(row.ms_played),
    }


def longest_session(
    conn: Connection, scope: Scope, period: Period, gap_minutes: int
) -> dict[str, Any] | None:
    """The longest listening session: plays less than `gap_minutes` apart, from first start to last end.

    A play starts `ms_played` before it ended; the gap is from the previous play's end to this
    play's start (overlaps count as no gap). Plays of different accounts never share a session.
    """
    gap = gap_minutes * 60
    ms = scope.ms()
    order = [plays.c.played_at, plays.c.id]

    def over(function: Any) -> Any:
        # Every window below is the same one: the database sorts the period's plays once.
        return function.over(partition_by=plays.c.user_id, order_by=order)

    end_s = epoch(plays.c.played_at)
    start_s = end_s - ms / 1000.0
    timed = (
        select(
            plays.c.user_id,
            plays.c.played_at,
            plays.c.id,
            start_s.label("start_s"),
            end_s.label("end_s"),
            over(func.lag(end_s)).label("prev_end_s"),
            over(func.lead(start_s)).label("next_start_s"),
            over(func.row_number()).label("n"),
            over(func.sum(ms)).label("ms_so_far"),
            ms.label("ms"),
        )
        .where(scope.where())
        .subquery()
    )
    first = or_(timed.c.prev_end_s.is_(None), timed.c.start_s - timed.c.prev_end_s >= gap)
    last = or_(timed.c.next_start_s.is_(None), timed.c.next_start_s - timed.c.end_s >= gap)
    # Only the first and last play of each session remain: a few rows per day, cheap to pair up.
    edges = select(timed, first.label("is_first"), last.label("is_last")).where(or_(first, last)).subquery()

    def following(column: Any) -> Any:
        return func.lead(column).over(partition_by=edges.c.user_id, order_by=[edges.c.played_at, edges.c.id])

    paired = select(
        edges.c.is_first,
        edges.c.start_s,
        edges.c.n,
        edges.c.ms,
        edges.c.ms_so_far,
        case((edges.c.is_last, edges.c.end_s), else_=following(edges.c.end_s)).label("end_s"),
        case((edges.c.is_last, edges.c.n), else_=following(edges.c.n)).label("last_n"),
        case((edges.c.is_last, edges.c.ms_so_far), else_=following(edges.c.ms_so_far)).label(
            "last_ms_so_far"
        ),
    ).subquery()
    row = conn.execute(
        select(
            paired.c.start_s,
            paired.c.end_s,
            (paired.c.last_n - paired.c.n + 1).label("plays"),
            (paired.c.last_ms_so_far - paired.c.ms_so_far + paired.c.ms).label("ms_played"),
        )
        .where(paired.c.is_first == true())
        .order_by((paired.c.end_s - paired.c.start_s).desc(), paired.c.start_s)
        .limit(1)
    ).first()
    if row is None:
        return None
    tz = period.tz
    start = datetime.fromtimestamp(float(row.start_s), UTC)
    end = datetime.fromtimestamp(float(row.end_s), UTC)
    return {
        "start": start.astimezone(tz).isoformat(timespec="seconds"),
        "end": end.astimezone(tz).isoformat(timespec="seconds"),
        "minutes": round((float(row.end_s) - float(row.start_s)) / 60, 2),
        "plays": int(row.plays),
        "minutes_listened": minutes(row.ms_played),
    }


def listening_age(conn: Connection, scope: Scope, *, source: FromClause | None = None) -> dict[str, Any]:
    """Median release year of the period's plays (each play one vote; plays of undated albums skipped)."""
    pt = source if source is not None else per_track(scope).subquery("per_track")
    year = func.substr(albums.c.release_date, 1, 4)
    rows = conn.execute(
        select(year.label("year"), func.sum(pt.c.plays).label("plays"))
        .select_from(
            pt.join(tracks, tracks.c.id == pt.c.track_id).join(albums, albums.c.id == tracks.c.album_id)
        )
        .where(albums.c.release_date.is_not(None), func.length(albums.c.release_date) >= 4)
        .group_by(year)
        .order_by(year)
    ).all()
    counted = [(int(r.year), int(r.plays)) for r in rows if str(r.year).isdigit()]
    total = sum(n for _, n in counted)
    return {"median_release_year": weighted_median(counted), "plays_with_release_year": total}


def weighted_median(values: list[tuple[int, int]]) -> float | None:
    """Median of sorted (value, count) pairs: the middle value, or the mean of the two middle ones."""
    total = sum(n for _, n in values)
    if total == 0:
        return None

    def nth(k: int) -> int:  # 0-based k-th value of the expanded list
        seen = 0
        for value, n in values:
            seen += n
            if k < seen:
                return value
        raise AssertionError("k out of range")

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


def skip_rate(conn: Connection, scope: Scope) -> dict[str, Any]:
    """Share of plays marked skipped, among plays where the source says whether (exports do)."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(case((plays.c.skipped.is_(True), 1), else_=0)), 0),
            func.count(plays.c.skipped),
        ).where(scope.where())
    ).one()
    skipped, known = int(row[0]), int(row[1])
    return {"skipped": skipped, "plays_with_skip_flag": known, "rate": ratio(skipped, known)}
