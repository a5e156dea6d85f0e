"""The longest listening session of a period: plays less than a gap apart, from first start to last end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, FromClause, case, cast, func, null, or_, select, union_all

from brapped.insights.aggregates import PLAY_ORDER
from brapped.insights.period import Period
from brapped.insights.scope import by_codepoint, minutes


def numbering(conn: Connection) -> tuple[str, ...]:
    """What `materialized(..., numbered_by=...)` of the period's plays needs for `longest_session`:
    PLAY_ORDER on SQLite (a number per play, its rowid: nearly free), nothing on PostgreSQL
    (numbering costs a sort and a window there, and the sessions are found by windows anyway)."""
    return PLAY_ORDER if conn.dialect.name == "sqlite" else ()


def longest_session(
    conn: Connection, pp: FromClause, period: Period, gap_minutes: int, *, one_account: bool = False
) -> dict[str, Any] | None:
    """The longest listening session: plays less than `gap_minutes` apart, from first start to last end.

    `pp`: the period's `period_plays`, materialised with `numbered_by=numbering(conn)`. A play
    starts `ms_played` before it ended; the gap is from the previous play's end to this play's
    start (overlaps count as no gap). Plays are in PLAY_ORDER: by account, end, then id; plays of
    different accounts never share a session. The longest (then the earliest start) wins.
    `one_account`: every play is one account's (the scope names it), which spares PostgreSQL
    comparing accounts.
    """
    gap = gap_minutes * 60_000
    found = (
        _by_windows(conn, pp, gap, one_account)
        if conn.dialect.name == "postgresql"
        else _by_breaks(conn, pp, gap)
    )
    if found is None:
        return None
    first_n, last_n, start_ms_value, end_ms_value, listened = found
    tz = period.tz
    start = datetime.fromtimestamp(start_ms_value / 1000, UTC)
    end = datetime.fromtimestamp(end_ms_value / 1000, UTC)
    return {
        "start": start.astimezone(tz).isoformat(timespec="seconds"),
        "end": end.astimezone(tz).isoformat(timespec="seconds"),
        "minutes": round((end_ms_value - start_ms_value) / 60_000, 2),
        "plays": last_n - first_n + 1,
        "minutes_listened": minutes(listened),
    }


def _by_breaks(conn: Connection, pp: FromClause, gap: int) -> tuple[int, int, int, int, Any] | None:
    """(first n, last n, start ms, end ms, ms listened) of the longest session, from plays numbered
    `n` in PLAY_ORDER.

    One join pairs each play with the one before it (by number `n`, an integer join): the pairs
    with a gap, or a change of account, are the breaks between sessions, a few per day. The
    sessions are then read off the breaks alone: each runs from the play after the previous
    break to the play before the next one. (Window functions do the same in one pass on
    PostgreSQL, `_by_windows`, but each is a slow pass on SQLite.)
    """
    play, previous = pp.alias("play"), pp.alias("previous")
    ends = [  # after the very last play: a break with no next session
        select(
            pp.c.n.label("last_n"),
            pp.c.end_ms.label("last_end_ms"),
            cast(null(), BigInteger).label("next_n"),
            cast(null(), BigInteger).label("next_start_ms"),
        )
        .order_by(pp.c.n.desc())
        .limit(1)
        .subquery()
    ]
    breaks = union_all(
        select(
            previous.c.n.label("last_n"),
            previous.c.end_ms.label("last_end_ms"),
            play.c.n.label("next_n"),
            (play.c.end_ms - play.c.ms).label("next_start_ms"),
        )
        .select_from(play.join(previous, previous.c.n == play.c.n - 1))
        .where(
            or_(
                previous.c.user_id != play.c.user_id,
                play.c.end_ms - play.c.ms - previous.c.end_ms >= gap,
            )
        ),
        select(ends[0]),
    ).subquery()
    first_start = select(pp.c.end_ms - pp.c.ms).where(pp.c.n == 1).scalar_subquery()
    order = breaks.c.last_n
    sessions = select(
        func.coalesce(func.lag(breaks.c.next_n).over(order_by=order), 1).label("first_n"),
        func.coalesce(func.lag(breaks.c.next_start_ms).over(order_by=order), first_start).label("start_ms"),
        breaks.c.last_n,
        breaks.c.last_end_ms.label("end_ms"),
    ).subquery()
    row = conn.execute(
        select(sessions)
        .order_by((sessions.c.end_ms - sessions.c.start_ms).desc(), sessions.c.start_ms)
        .limit(1)
    ).first()
    if row is None:
        return None
    first_n, last_n = int(row.first_n), int(row.last_n)
    listened = conn.execute(select(func.sum(pp.c.ms)).where(pp.c.n >= first_n, pp.c.n <= last_n)).scalar_one()
    return first_n, last_n, int(row.start_ms), int(row.end_ms), listened


def _by_windows(
    conn: Connection, pp: FromClause, gap: int, one_account: bool
) -> tuple[int, int, int, int, Any] | None:
    """`_by_breaks` of unnumbered plays, by window functions: one sort of the plays in PLAY_ORDER
    numbers them, sums their milliseconds so far and marks those that start or end a session (a
    few a day); a second window over those pairs each start with its session's end."""
    # By code point: PostgreSQL sorts text of a non-C collation many times slower; any order of
    # the accounts keeps each one's plays together, which is all the numbers need.
    order = ([] if one_account else [by_codepoint(pp.c.user_id)]) + [pp.c.end_ms, pp.c.seq]
    start_ms = pp.c.end_ms - pp.c.ms
    columns = [
        pp.c.user_id,
        pp.c.end_ms,
        start_ms.label("start_ms"),
        pp.c.ms,
        func.row_number().over(order_by=order).label("n"),
        func.sum(pp.c.ms).over(order_by=order).label("ms_so_far"),  # the plays' order is unique
        func.lag(pp.c.end_ms).over(order_by=order).label("previous_end_ms"),
        func.lead(start_ms).over(order_by=order).label("next_start_ms"),
    ]
    if not one_account:
        columns += [
            func.lag(pp.c.user_id).over(order_by=order).label("previous_user_id"),
            func.lead(pp.c.user_id).over(order_by=order).label("next_user_id"),
        ]
    marked = select(*columns).subquery("marked")
    starts = or_(
        marked.c.previous_end_ms.is_(None),
        marked.c.start_ms - marked.c.previous_end_ms >= gap,
        *([] if one_account else [marked.c.previous_user_id != marked.c.user_id]),
    )
    ends = or_(
        marked.c.next_start_ms.is_(None),
        marked.c.next_start_ms - marked.c.end_ms >= gap,
        *([] if one_account else [marked.c.next_user_id != marked.c.user_id]),
    )
    bounds = (
        select(
            marked.c.n,
            marked.c.start_ms,
            marked.c.end_ms,
            marked.c.ms,
            marked.c.ms_so_far,
            case((starts, 1), else_=0).label("starts"),
            case((ends, 1), else_=0).label("ends"),
        )
        .where(or_(starts, ends))
        .subquery("bounds")
    )

    def at_end(column: Any) -> Any:
        """`column` of the start's session end: itself when it ends its session, else the next bound."""
        return case((bounds.c.ends == 1, column), else_=func.lead(column).over(order_by=bounds.c.n))

    sessions = select(
        bounds.c.starts,
        bounds.c.n.label("first_n"),
        at_end(bounds.c.n).label("last_n"),
        bounds.c.start_ms,
        at_end(bounds.c.end_ms).label("end_ms"),
        (at_end(bounds.c.ms_so_far) - bounds.c.ms_so_far + bounds.c.ms).label("listened"),
    ).subquery("sessions")
    row = conn.execute(
        select(
            sessions.c.first_n, sessions.c.last_n, sessions.c.start_ms, sessions.c.end_ms, sessions.c.listened
        )
        .where(sessions.c.starts == 1)
        .order_by((sessions.c.end_ms - sessions.c.start_ms).desc(), sessions.c.start_ms)
        .limit(1)
    ).first()
    if row is None:
        return None
    return int(row.first_n), int(row.last_n), int(row.start_ms), int(row.end_ms), row.listened
