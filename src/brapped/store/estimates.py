"""Listening time for plays the API reported without it.

The API says when a play ended, not how long it lasted. A play cannot have lasted longer than the
time since the previous play ended, nor longer than the track: the estimate is the smaller of the two
(the track's duration when there is no previous play). Plays whose `ms_played` came from an export are
never touched. Measured accuracy: docs/accuracy.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Integer, and_, case, cast, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from brapped.store.tables import plays, tracks
from brapped.store.types import epoch


def _least(a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
    # LEAST() is PostgreSQL-only and SQLite's two-argument min() is SQLite-only.
    return case((a < b, a), else_=b)


def update_estimates(conn: Connection, user_id: str, since: datetime | None = None) -> int:
    """(Re)estimate `ms_played` of this user's plays without a measured value; returns rows updated.

    `since` limits the work to plays that ended at or after it (the earliest play a load added):
    only those, and the play right after each of them, can have changed neighbours.
    """
    prev = plays.alias("prev")
    prev_at = (
        select(func.max(prev.c.played_at))
        .where(prev.c.user_id == plays.c.user_id, prev.c.played_at < plays.c.played_at)
        .scalar_subquery()
    )
    duration = select(tracks.c.duration_ms).where(tracks.c.id == plays.c.track_id).scalar_subquery()
    # Rounded, not truncated: the epoch difference is a float and 45.5 s may come out as 45499.99.. ms.
    gap_ms = cast(func.round((epoch(plays.c.played_at) - epoch(prev_at)) * 1000), Integer)
    estimate = case(
        (prev_at.is_(None), duration),
        (duration.is_(None), gap_ms),
        else_=_least(duration, gap_ms),
    )
    conditions = [
        plays.c.user_id == user_id,
        or_(plays.c.ms_played_source.is_(None), plays.c.ms_played_source == "estimate"),
    ]
    if since is not None:
        conditions.append(plays.c.played_at >= since)
    result = conn.execute(
        update(plays)
        .where(and_(*conditions))
        .values(
            ms_played=estimate,
            ms_played_source=case((estimate.is_(None), None), else_="estimate"),
        )
    )
    return int(result.rowcount or 0)
