"""Listening time for plays the API reported without it.

The API says when a play ended, not how long it lasted. A play cannot have lasted longer than the
time since the previous play ended, nor longer than the track: the gap rule takes the smaller of the
two (the track's duration when there is no previous play). When the gap is longer than the track by
two minutes or more, the listener paused or stopped before it, and the track's duration is scaled by
the share of a track the listener really plays then; when the gap is shorter than the track, the gap
is scaled by the share of such gaps they really play (brief pauses, skips the API never reports).
Both shares: brapped.store.calibration, learned from their export. Plays whose `ms_played` came
from an export are never touched. Measured accuracy: docs/accuracy.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from brapped.store import calibration
from brapped.store.calibration import API_MIN_MS, PAUSE_FROM_MS, SILENCE_FROM_MS, Calibration
from brapped.store.tables import plays, tracks
from brapped.store.types import epoch


def _least(a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
    # LEAST() is PostgreSQL-only and SQLite's two-argument min() is SQLite-only.
    return case((a < b, a), else_=b)


def _share(duration: ColumnElement[int], factor: float) -> ColumnElement[int]:
    """`factor` of the duration, but never under 30 s (or the whole of a shorter track): the API
    reports only plays of at least 30 s, so a calibrated play stays a stream."""
    if factor == 1.0:
        return duration
    scaled = cast(func.round(duration * literal(factor)), Integer)
    return case((scaled >= API_MIN_MS, scaled), else_=_least(duration, literal(API_MIN_MS)))


def _scaled_gap(gap: ColumnElement[int], factor: float) -> ColumnElement[int]:
    """`factor` of a gap shorter than the track: the listener's share of such gaps really played
    (brief pauses and plays under 30 s hidden in it)."""
    if factor == 1.0:
        return gap
    return cast(func.round(gap * literal(factor)), BigInteger)


def _estimated(user_id: str) -> ColumnElement[bool]:
    """The account's plays `update_estimates` (re)writes: estimated, or without a value yet.

    Those of the partial index `ix_plays_estimated` (`tables.ESTIMATED_PLAYS`), with the value
    written out, not bound: so PostgreSQL proves the index usable for a generic plan too."""
    return and_(
        plays.c.user_id == user_id,
        or_(plays.c.ms_played_source.is_(None), plays.c.ms_played_source == literal_column("'estimate'")),
    )


def has_estimates(conn: Connection, user_id: str) -> bool:
    """Whether a new calibration could change any of the account's plays."""
    return conn.execute(select(literal(1)).where(_estimated(user_id)).limit(1)).first() is not None


def update_estimates(
    conn: Connection, user_id: str, since: datetime | None = None, using: Calibration | None = None
) -> int:
    """(Re)estimate `ms_played` of this user's plays without a measured value; returns rows updated.

    `since` limits the work to plays that ended at or after it (the earliest play a load added):
    only those, and the play right after each of them, can have changed neighbours. `using`: the
    calibration to apply, by default the one kept for the account (the plain gap rule when none is).
    """
    factors = using if using is not None else calibration.in_use(conn, user_id)
    prev = plays.alias("prev")
    prev_at = (
        select(func.max(prev.c.played_at))
        .where(prev.c.user_id == plays.c.user_id, prev.c.played_at < plays.c.played_at)
        .scalar_subquery()
    )
    duration = select(tracks.c.duration_ms).where(tracks.c.id == plays.c.track_id).scalar_subquery()
    # Rounded, not truncated: the epoch difference is a float and 45.5 s may come out as 45499.99.. ms.
    # BIGINT: a gap of more than 24.8 days overflows PostgreSQL's INTEGER.
    gap_ms = cast(func.round((epoch(plays.c.played_at) - epoch(prev_at)) * 1000), BigInteger)
    estimate = case(
        (prev_at.is_(None), _share(duration, factors.silence)),
        (duration.is_(None), gap_ms),
        (gap_ms - duration >= SILENCE_FROM_MS, _share(duration, factors.silence)),
        (gap_ms - duration >= PAUSE_FROM_MS, _share(duration, factors.pause)),
        (gap_ms < duration, _scaled_gap(gap_ms, factors.follows)),
        else_=duration,
    )
    conditions = [_estimated(user_id)]
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


def recalibrate_estimates(
    conn: Connection, user_id: str, now: datetime, learned: Calibration | None = None
) -> int:
    """Learn the account's calibration again (after an import) and, when it changed, re-estimate
    every estimated play of the account; returns the plays re-estimated. `learned`: what
    `calibration.learn_stored` gave, on another connection since the plays last changed.

    The UPDATE fires revision 0007's triggers, so report summaries (and, through them, kept
    reports) of the plays before their cutoff are stale until rebuilt.
    """
    found = calibration.learn_stored(conn, user_id) if learned is None else learned
    changed = calibration.keep(conn, user_id, found, now)
    return update_estimates(conn, user_id) if changed else 0


def ensure_calibrated(conn: Connection, user_id: str, now: datetime) -> int:
    """Calibrate an account that has no calibration of the current rule yet (a new account, or a
    database from before calibration), re-estimating its plays; returns the plays re-estimated."""
    if calibration.stored(conn, user_id) is not None:
        return 0
    return recalibrate_estimates(conn, user_id, now)
