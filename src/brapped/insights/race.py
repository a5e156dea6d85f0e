"""The artist race: the top artists' ranking after each week or month of a period, cumulative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, case, func, select

from brapped.insights.period import Period, date_to_day, int_literal
from brapped.insights.scope import by_codepoint, minutes, not_various_artists
from brapped.insights.top import credit_value
from brapped.store.tables import artists, track_artists

# How many artists each frame ranks (a race shows ten lanes, as Spotify's top artists do).
RACE_SIZE = 10
# Up to this many days the race steps by week (13 frames for a quarter), up to three years by
# month (36 frames at most), beyond that by year: every step a frame worth watching.
WEEKLY_UP_TO_DAYS = 92
MONTHLY_UP_TO_DAYS = 3 * 366


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


def artist_race(conn: Connection, period: Period, dt: FromClause, *, size: int = RACE_SIZE) -> dict[str, Any]:
    """The top `size` artists by weighted credit (docs/reports.md) after each frame of the period.

    `dt`: the period's per-day-and-track sums (`wrapped.per_day_track`, with `streams`),
    materialised. Sums per (frame, artist) first, a few thousand rows; each frame's ranking then
    sums the rows of the frames up to it, and keeps its top `size` (a window function).
    """
    step, steps = frames(period)
    starts = [date_to_day(f.start) for f in steps[1:]]
    frame = (
        case(
            *[(dt.c.day < int_literal(s), int_literal(i)) for i, s in enumerate(starts)],
            else_=int_literal(len(starts)),
        )
        if starts
        else int_literal(0)
    )
    weight = case((track_artists.c.position == 0, 2), else_=1)  # doubled credit: integers
    per_frame = (
        select(
            frame.label("frame"),
            track_artists.c.artist_id,
            func.sum(dt.c.streams * weight).label("credit2"),
            func.sum(dt.c.streams).label("streams"),
            func.sum(case((track_artists.c.position == 0, dt.c.streams), else_=0)).label("main_streams"),
            func.sum(dt.c.plays).label("plays"),
            func.sum(dt.c.ms_played).label("ms_played"),
        )
        .select_from(
            dt.join(track_artists, track_artists.c.track_id == dt.c.track_id).join(
                artists, artists.c.id == track_artists.c.artist_id
            )
        )
        .where(not_various_artists())
        # A literal frame cannot be grouped by: SQL reads it as a column number.
        .group_by(*([frame] if starts else []), track_artists.c.artist_id)
        .subquery("per_frame")
    )
    upto = per_frame.alias("upto")
    ends = select(per_frame.c.frame).distinct().subquery("ends")
    cumulative = (
        select(
            ends.c.frame,
            upto.c.artist_id,
            func.sum(upto.c.credit2).label("credit2"),
            func.sum(upto.c.streams).label("streams"),
            func.sum(upto.c.main_streams).label("main_streams"),
            func.sum(upto.c.plays).label("plays"),
            func.sum(upto.c.ms_played).label("ms_played"),
        )
        .select_from(ends.join(upto, upto.c.frame <= ends.c.frame))
        .group_by(ends.c.frame, upto.c.artist_id)
        .subquery("cumulative")
    )
    named = cumulative.join(artists, artists.c.id == cumulative.c.artist_id)
    place = (
        func.row_number()
        .over(
            partition_by=cumulative.c.frame,
            order_by=[
                cumulative.c.credit2.desc(),
                cumulative.c.streams.desc(),
                cumulative.c.plays.desc(),
                cumulative.c.ms_played.desc(),
                by_codepoint(artists.c.name),
                by_codepoint(artists.c.id),
            ],
        )
        .label("place")
    )
    ranked = select(cumulative, artists.c.name, place).select_from(named).subquery("ranked")
    rows = conn.execute(
        select(ranked).where(ranked.c.place <= size).order_by(ranked.c.frame, ranked.c.place)
    ).all()
    rankings: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        rankings.setdefault(int(r.frame), []).append(
            {
                "rank": int(r.place),
                "id": r.artist_id,
                "name": r.name,
                "credit": credit_value(r.streams, r.main_streams),
                "streams": int(r.streams or 0),
                "plays": int(r.plays),
                "minutes": minutes(r.ms_played),
            }
        )
    out: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []
    for index, f in enumerate(steps):
        last = rankings.get(index, last)  # a frame without plays leaves the race as it was
        out.append(
            {"label": f.label, "start": f.start.isoformat(), "end": f.end.isoformat(), "ranking": last}
        )
    return {"step": step, "size": size, "frames": out}
