"""The artist race: the top artists' ranking after each week or month of a period, cumulative."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Connection, FromClause, case, cast, func, literal_column, select

from brapped.insights.period import Period, date_to_day, int_literal
from brapped.insights.scope import credit_not_various, minutes
from brapped.insights.top import credit_value
from brapped.store.tables import artists, track_artists

# How many artists each frame ranks (a race shows ten lanes, as Spotify's top artists do).
RACE_SIZE = 10
# Up to this many days the race steps by week (13 frames for a quarter), up to three years by
# month (36 frames at most), beyond that by year: every step a frame worth watching.
WEEKLY_UP_TO_DAYS = 92
MONTHLY_UP_TO_DAYS = 3 * 366
# Names are read for the contenders only, this many per statement (bound parameters are limited).
NAMES_PER_QUERY = 500


@dataclass(frozen=True)
class Frame:
    """One step of the race: local days `start`..`end`, inclusive."""

    start: date
    end: date
    label: str


def frames(period: Period) -> tuple[str, list[Frame]]:
    """The race's step ("week", "month" or "year") and its frames, cut at the period's ends.

    Weeks are 7-day blocks from the period's first day (any period, no calendar week rule);
    months and years are calendar ones.
    """
    out: list[Frame] = []
    if period.days <= WEEKLY_UP_TO_DAYS:
        start = period.start
        while start <= period.end:
            end = min(start + timedelta(days=6), period.end)
            out.append(Frame(start, end, start.isoformat()))
            start = end + timedelta(days=1)
        return "week", out
    monthly = period.days <= MONTHLY_UP_TO_DAYS
    start = period.start
    while start <= period.end:
        if monthly:
            following = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
            label = start.strftime("%Y-%m")
        else:
            following = date(start.year + 1, 1, 1)
            label = str(start.year)
        end = min(following - timedelta(days=1), period.end)
        out.append(Frame(start, end, label))
        start = end + timedelta(days=1)
    return ("month" if monthly else "year"), out


class FrameSums(NamedTuple):
    """Per frame of the race and artist: sums of the period's plays (Various Artists left out)."""

    step: str
    frames: list[Frame]
    # (frame index, artist id, streams, main streams, plays, milliseconds), frames with plays only
    rows: Sequence[Any]


def frame_sums(conn: Connection, period: Period, dt: FromClause) -> FrameSums:
    """The race's one grouped query: per (frame, artist) sums of `dt`, rows of the period with
    `day`, `track_id`, `streams`, `plays` and `ms_played` (the per-day-and-track sums
    `wrapped.per_day_track`, or on PostgreSQL each play with its day: only sums are taken). Monthly
    frames give each month's artists too (`wrapped.top_artist_by_month` reads them)."""
    step, steps = frames(period)
    starts = [date_to_day(f.start) for f in steps[1:]]
    frame = _frame(conn, dt.c.day, starts) if starts else int_literal(0)
    main = track_artists.c.position == 0

    def total(value: Any) -> Any:  # BIGINT: PostgreSQL's SUM of BIGINT is a Decimal, slow to add
        return cast(func.sum(value), BigInteger)

    rows = conn.execute(
        select(
            frame.label("frame"),
            track_artists.c.artist_id,
            total(dt.c.streams),
            total(case((main, dt.c.streams), else_=0)),
            total(dt.c.plays),
            total(dt.c.ms_played),
        )
        .select_from(dt.join(track_artists, track_artists.c.track_id == dt.c.track_id))
        .where(credit_not_various())
        # A literal frame cannot be grouped by: SQL reads it as a column number.
        .group_by(*([frame] if starts else []), track_artists.c.artist_id)
    ).all()
    return FrameSums(step, steps, rows)


def _frame(conn: Connection, day: Any, starts: list[int]) -> Any:
    """The frame of local day `day`: how many of the frames' first days `starts` (ascending,
    the first frame's left out) are at or before it. PostgreSQL searches an array
    (`width_bucket`, the day computed once); elsewhere a CASE, which computes it per branch."""
    if conn.dialect.name == "postgresql":
        bounds: Any = literal_column("ARRAY[" + ",".join(str(int(s)) for s in starts) + "]::bigint[]")
        return func.width_bucket(cast(day, BigInteger), bounds)
    return case(
        *[(day < int_literal(s), int_literal(i)) for i, s in enumerate(starts)],
        else_=int_literal(len(starts)),
    )


def artist_race(
    conn: Connection,
    period: Period,
    dt: FromClause,
    *,
    size: int = RACE_SIZE,
    by_frame: FrameSums | None = None,
) -> dict[str, Any]:
    """The top `size` artists by weighted credit (docs/reports.md) after each frame of the period.

    `dt`: the period's per-day-and-track sums (`wrapped.per_day_track`, with `streams`),
    materialised; `by_frame`: its `frame_sums`, when already read. One grouped query sums per
    (frame, artist), a few thousand rows; the frames' cumulative rankings are kept here, adding
    each frame's rows onto the running sums (SQL would sum every earlier frame again for each
    frame).
    """
    step, steps, rows = by_frame if by_frame is not None else frame_sums(conn, period, dt)
    per_frame: dict[int, list[Any]] = {}
    for row in rows:
        per_frame.setdefault(row[0], []).append(row)
    # artist id -> [doubled credit, streams, plays, ms, main streams], over the frames so far
    running: dict[str, list[int]] = {}
    # Each frame's contenders (a copy of their sums then), or None: the race as it was
    contenders: list[list[tuple[str, tuple[int, ...]]] | None] = []
    previous: list[tuple[str, tuple[int, ...]]] = []
    for index in range(len(steps)):
        added = per_frame.get(index)
        if not added:  # a frame without plays leaves the race as it was
            contenders.append(None)
            continue
        for _, artist_id, streams, main_streams, count, ms in added:
            sums = running.get(artist_id)
            if sums is None:
                sums = running[artist_id] = [0, 0, 0, 0, 0]
            sums[0] += streams + main_streams
            sums[1] += streams
            sums[2] += count
            sums[3] += ms
            sums[4] += main_streams
        # Sums only grow: an artist neither among the last contenders nor played in this frame
        # stayed below the last floor, which only rises. Those two sets hold the new contenders.
        changed = {row[1] for row in added}.union(artist_id for artist_id, _ in previous)
        previous = _contenders({artist_id: running[artist_id] for artist_id in changed}, size)
        contenders.append(previous)
    ids = sorted({artist_id for frame_contenders in contenders for artist_id, _ in frame_contenders or []})
    names: dict[str, str] = {}
    for chunk in range(0, len(ids), NAMES_PER_QUERY):  # usually one: a few dozen contenders
        listed = ids[chunk : chunk + NAMES_PER_QUERY]
        names.update(conn.execute(select(artists.c.id, artists.c.name).where(artists.c.id.in_(listed))).all())
    out: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []
    for f, frame_contenders in zip(steps, contenders, strict=True):
        if frame_contenders is not None:
            last = _ranking(frame_contenders, names, size)
        out.append(
            {"label": f.label, "start": f.start.isoformat(), "end": f.end.isoformat(), "ranking": last}
        )
    return {"step": step, "size": size, "frames": out}


def _contenders(running: dict[str, list[int]], size: int) -> list[tuple[str, tuple[int, ...]]]:
    """The artists that may be among the top `size` of the running sums: those with at least the
    `size`-th highest credit (a handful of thousands), with a copy of their sums."""
    credits = heapq.nlargest(size, (sums[0] for sums in running.values()))
    floor = credits[-1] if credits else 0
    return [(artist_id, tuple(sums)) for artist_id, sums in running.items() if sums[0] >= floor]


def _ranking(
    contenders: list[tuple[str, tuple[int, ...]]], names: dict[str, str], size: int
) -> list[dict[str, Any]]:
    """The top `size` contenders: by doubled credit, streams, plays, milliseconds, then name and
    id by code point (as Python compares strings)."""
    ranked = sorted(contenders, key=lambda c: (-c[1][0], -c[1][1], -c[1][2], -c[1][3], names[c[0]], c[0]))
    return [
        {
            "rank": rank,
            "id": artist_id,
            "name": names[artist_id],
            "credit": credit_value(streams, main_streams),
            "streams": streams,
            "plays": count,
            "minutes": minutes(ms),
        }
        for rank, (artist_id, (_, streams, count, ms, main_streams)) in enumerate(ranked[:size], 1)
    ]
