"""Sums and lookups several reports share: each play once as a narrow row, sums per track, artist,
album and local day x hour, the listening clock drawn from those, and the artists credited.

These only build SQL or shape rows; whether a report reads them from `plays` or from the stored
sums (brapped.insights.rollups) is decided above this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Connection, FromClause, Select, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from brapped.insights.period import LocalTime, Period, int_literal, utc_offset
from brapped.insights.scope import Scope, credit_not_various, minutes, not_various_artists
from brapped.store.tables import album_artists, artists, plays, track_artists, tracks
from brapped.store.types import epoch_ms

PLAY_ORDER = ("user_id", "end_ms", "seq")
# The columns of `period_plays` that hold one play's value, each within 32 bits (`ms_played` is).
PER_PLAY = ("offset_s", "ms", "stream", "measured_ms", "estimated_ms", "unknown", "skipped")
# Past this span a period's per-track sums read the whole track index (see `per_track`).
LONG_RANGE = timedelta(days=550)
# The end of a scope "from an instant on" that must still be a range for SQLite's planner (see
# `rollups.recent`): never a long range, whatever its span (the plays after a recent instant).
OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)


def period_plays(scope: Scope, period: Period) -> Select[Any]:
    """The scope's plays as narrow rows, with what reports compute per play done once.

    Materialised (`materialized`), it is the one read of `plays` a many-part report (Wrapped)
    makes: the per-track, per-day and per-hour sums, sessions and the skip rate all read this
    table instead of each parsing the stored instants and shifting them to local time again.
    Materialise it with `numbered_by=PLAY_ORDER`: column `n` numbers the plays 1, 2, ... by
    account, then end, then `seq`. Columns: `seq` (the play's id), `user_id`, `track_id`, `end_ms`
    (epoch milliseconds of `played_at`, when the play ended), `offset_s` (the zone's UTC offset
    then: `local_day` and `local_hour` turn both into the local day and hour), `ms` (0 when
    unknown), `stream`, `measured_ms`, `estimated_ms`, `unknown` (1 when `ms_played` is unknown)
    and `skipped` (1, 0 or NULL when the source does not say).
    """
    ms = scope.ms()
    return select(
        plays.c.id.label("seq"),
        plays.c.user_id,
        plays.c.track_id,
        end_ms(plays.c.played_at).label("end_ms"),
        # The offset alone, not local time: local time would parse the stored instant a second
        # time per play (SQLite), the costliest part of this pass.
        utc_offset(plays.c.played_at, period.timezone, period.start_utc, period.end_utc).label("offset_s"),
        ms.label("ms"),
        scope.is_stream().label("stream"),
        case((plays.c.ms_played_source == "export", ms), else_=0).label("measured_ms"),
        case((plays.c.ms_played_source == "estimate", ms), else_=0).label("estimated_ms"),
        case((plays.c.ms_played.is_(None), 1), else_=0).label("unknown"),
        case((plays.c.skipped.is_(True), 1), (plays.c.skipped.is_(False), 0)).label("skipped"),
    ).where(scope.where())


class end_ms(FunctionElement[int]):
    """`epoch_ms` of a stored instant, computed faster on PostgreSQL (see `_end_ms_pg`)."""

    type = BigInteger()
    inherit_cache = True


@compiles(end_ms)
def _end_ms(element: end_ms, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(epoch_ms(next(iter(element.clauses))), **kw))


@compiles(end_ms, "postgresql")
def _end_ms_pg(element: end_ms, compiler: Any, **kw: Any) -> str:
    # Instants are stored to the millisecond (timestamptz(3)): the double's error is far below
    # half a millisecond, so rounding it (the cast does) gives `epoch_ms` exactly, without the
    # numeric arithmetic of EXTRACT, the costliest part of a pass over a year of plays.
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(date_part('epoch', {arg}) * 1000 AS BIGINT)"


def local_day(pp: FromClause) -> ColumnElement[int]:
    """The local day number (`LocalTime.day`) of a `period_plays` row."""
    return _local_s(pp) // int_literal(86_400)


def local_hour(pp: FromClause) -> ColumnElement[int]:
    """The local hour (0-23) of a `period_plays` row."""
    return (_local_s(pp) % int_literal(86_400)) // int_literal(3600)


def _local_s(pp: FromClause) -> ColumnElement[int]:
    # Integer division of positive epochs: floor on both databases.
    return pp.c.end_ms // int_literal(1000) + pp.c.offset_s


def per_track(scope: Scope, source: FromClause | None = None) -> Select[Any]:
    """One row per track played in the scope with its sums: the small table most reports start from.

    Aggregating plays by track first, then joining the 10-50x fewer rows to credits, albums and
    genres, is what keeps long periods fast on SQLite. `source`: the scope's `period_plays`
    already materialised (then `plays` is not read again).
    """
    if source is not None:
        return select(
            source.c.track_id.label("track_id"),
            func.count().label("plays"),
            func.sum(source.c.stream).label("streams"),
            func.sum(source.c.ms).label("ms_played"),
            func.sum(source.c.measured_ms).label("measured_ms"),
            func.sum(source.c.estimated_ms).label("estimated_ms"),
            func.sum(source.c.unknown).label("unknown_plays"),
        ).group_by(source.c.track_id)
    ms = scope.ms()
    # SQLite's planner (no statistics) takes any two-sided range of played_at through its index,
    # looking up every play's row and sorting them by track. Past a year and a half, reading the
    # (track_id, played_at, ms_played, ...) index whole is faster: in track order, every column in it.
    long_range = (
        scope.start is not None
        and scope.end is not None
        and scope.end != OPEN_END
        and scope.end - scope.start > LONG_RANGE
    )
    return (
        select(
            plays.c.track_id.label("track_id"),
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(ms).label("ms_played"),
            func.sum(case((plays.c.ms_played_source == "export", ms), else_=0)).label("measured_ms"),
            func.sum(case((plays.c.ms_played_source == "estimate", ms), else_=0)).label("estimated_ms"),
            func.sum(case((plays.c.ms_played.is_(None), 1), else_=0)).label("unknown_plays"),
        )
        .where(scope.where(by_instant=not long_range))
        .group_by(plays.c.track_id)
    )


PER_TRACK_COLUMNS = ("plays", "streams", "ms_played", "measured_ms", "estimated_ms", "unknown_plays")


def per_artist(pt: FromClause, *, by_user: bool = False, names: bool = True) -> Select[Any]:
    """Per-artist sums (`artist_id`, `name`, plays, streams, ms and their main/featured split) of
    per-track sums `pt`: every credited artist except "Various Artists".

    `by_user`: per account too (`pt` has a `user_id` column; the result gets one). `names=False`:
    without `name`, the credits not joined to `artists` (Various Artists left out by id, a few
    rows): for sums that are only added to others.
    """
    main = track_artists.c.position == 0
    if not names:
        credited = (
            select(track_artists.c.artist_id.label("artist_id"), *_artist_sums(pt, main))
            .select_from(pt.join(track_artists, track_artists.c.track_id == pt.c.track_id))
            .where(credit_not_various())
        )
        if not by_user:
            return credited.group_by(track_artists.c.artist_id)
        # Grouped by account first: SQLite's planner (no statistics) then reads `pt` in its key's
        # order and each track's credits off their covering index, rather than every credit's
        # track looked up from the artists outward (docs/decisions.md, "The import's tail, again").
        return credited.add_columns(pt.c.user_id).group_by(pt.c.user_id, track_artists.c.artist_id)
    query = (
        select(
            artists.c.id.label("artist_id"),
            artists.c.name.label("name"),
            *_artist_sums(pt, main),
        )
        .select_from(
            pt.join(track_artists, track_artists.c.track_id == pt.c.track_id).join(
                artists, artists.c.id == track_artists.c.artist_id
            )
        )
        .where(not_various_artists())
        .group_by(artists.c.id, artists.c.name)
    )
    return query.add_columns(pt.c.user_id).group_by(pt.c.user_id) if by_user else query


def _artist_sums(pt: FromClause, main: ColumnElement[bool]) -> list[Any]:
    return [
        func.sum(pt.c.plays).label("plays"),
        func.sum(pt.c.streams).label("streams"),
        func.sum(pt.c.ms_played).label("ms_played"),
        func.sum(case((main, pt.c.plays), else_=0)).label("main_plays"),
        func.sum(case((main, 0), else_=pt.c.plays)).label("featured_plays"),
        func.sum(case((main, pt.c.ms_played), else_=0)).label("main_ms"),
        func.sum(case((main, 0), else_=pt.c.ms_played)).label("featured_ms"),
        # What genres need: the main artist's streams (plays and ms are above).
        func.sum(case((main, pt.c.streams), else_=0)).label("main_streams"),
    ]


ARTIST_SUMS = (
    "plays",
    "streams",
    "ms_played",
    "main_plays",
    "featured_plays",
    "main_ms",
    "featured_ms",
    "main_streams",
)
ALBUM_SUMS = ("plays", "streams", "ms_played")


def per_album(pt: FromClause, *, by_user: bool = False) -> Select[Any]:
    """Per-album sums (`album_id`, plays, streams, ms) of per-track sums `pt`; tracks without an
    album (not resolved yet) sum up under a NULL `album_id`. `by_user`: as for `per_artist`."""
    query = (
        select(
            tracks.c.album_id.label("album_id"),
            func.sum(pt.c.plays).label("plays"),
            func.sum(pt.c.streams).label("streams"),
            func.sum(pt.c.ms_played).label("ms_played"),
        )
        .select_from(pt.join(tracks, tracks.c.id == pt.c.track_id))
        .group_by(tracks.c.album_id)
    )
    return query.add_columns(pt.c.user_id).group_by(pt.c.user_id) if by_user else query


class Cell(NamedTuple):
    """One local hour of one local day (a named tuple: a long history's grid has 100,000 of them)."""

    day: int  # local day number (days since 1970-01-01)
    hour: int
    plays: int
    streams: int
    ms_played: int


def day_hour_grid(
    conn: Connection, scope: Scope, period: Period, *, source: FromClause | None = None
) -> list[Cell]:
    """Plays, streams and milliseconds per local day and local hour (only hours with plays).

    On the day clocks go back, the repeated hour's plays share one local hour label; on the day
    they go forward, the skipped hour has none. `source`: the scope's `period_plays` already
    materialised.
    """
    if source is not None:
        inner = select(
            local_day(source).label("day"), local_hour(source).label("hour"), source.c.stream, source.c.ms
        ).subquery()
    else:
        local = LocalTime.of(plays.c.played_at, period.timezone, period.start_utc, period.end_utc)
        inner = (
            select(
                local.day.label("day"),
                local.hour.label("hour"),
                scope.is_stream().label("stream"),
                scope.ms().label("ms"),
            )
            .where(scope.where())
            .subquery()
        )
    rows = conn.execute(
        select(
            inner.c.day,
            inner.c.hour,
            func.count(),
            func.sum(inner.c.stream),
            func.sum(inner.c.ms),
        )
        .group_by(inner.c.day, inner.c.hour)
        .order_by(inner.c.day, inner.c.hour)
    )
    return [Cell(int(d), int(h), int(n), int(s or 0), int(m or 0)) for d, h, n, s, m in rows]


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def listening_clock(grid: list[Cell]) -> dict[str, Any]:
    """Minutes and plays per local weekday (Monday first) and local hour."""
    ms = [[0] * 24 for _ in WEEKDAYS]
    counts = [[0] * 24 for _ in WEEKDAYS]
    for cell in grid:
        # Day 0, 1970-01-01, was a Thursday: no date object per cell (90,000 on a long history).
        weekday = (cell.day + 3) % 7
        ms[weekday][cell.hour] += cell.ms_played
        counts[weekday][cell.hour] += cell.plays
    return clock_document(ms, counts)


def clock_document(ms: list[list[int]], counts: list[list[int]]) -> dict[str, Any]:
    """The listening clock's JSON shape from milliseconds and plays per [weekday][hour]."""
    return {
        "weekdays": list(WEEKDAYS),
        "minutes": [[minutes(v) for v in row] for row in ms],
        "plays": counts,
    }


def track_credits(conn: Connection, track_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every credited artist of each track, main artist first: {track_id: [{id, name, role}]}."""
    ids = list(dict.fromkeys(track_ids))
    credits: dict[str, list[dict[str, Any]]] = {t: [] for t in ids}
    if not ids:
        return credits
    rows = conn.execute(
        select(track_artists.c.track_id, track_artists.c.position, artists.c.id, artists.c.name)
        .join(artists, artists.c.id == track_artists.c.artist_id)
        .where(track_artists.c.track_id.in_(ids))
        .order_by(track_artists.c.track_id, track_artists.c.position)
    )
    for track_id, position, artist_id, name in rows:
        credits[track_id].append(
            {"id": artist_id, "name": name, "role": "main" if position == 0 else "featured"}
        )
    return credits


def album_credits(conn: Connection, album_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Artists of each album in credit order: {album_id: [{id, name}]}."""
    ids = list(dict.fromkeys(album_ids))
    credits: dict[str, list[dict[str, Any]]] = {a: [] for a in ids}
    if not ids:
        return credits
    rows = conn.execute(
        select(album_artists.c.album_id, artists.c.id, artists.c.name)
        .join(artists, artists.c.id == album_artists.c.artist_id)
        .where(album_artists.c.album_id.in_(ids))
        .order_by(album_artists.c.album_id, album_artists.c.position)
    )
    for album_id, artist_id, name in rows:
        credits[album_id].append({"id": artist_id, "name": name})
    return credits
