"""Every party member's numbers (brapped.insights.party), for all members at once.

Each number has the definition of the member's Wrapped (brapped.insights.wrapped) for the period,
so the two agree exactly; but a Wrapped per member reads the period's plays many times over for
lists the party never shows. Here the period's plays of all members are read in a few grouped
statements instead:

- one pass sums them per member and track (plays, streams, milliseconds); in the same statement
  the totals, the per-artist sums (distinct artists, top artist by weighted credit, the plays per
  artist that the compare scores of the pairs need) and the top track's candidates come from it;
- the plays per member and local hour come from the report summaries' `hour_totals`
  (brapped.insights.rollups) when they hold the period, else from one pass;
- the longest session of each member: one pass with window functions, on a second connection
  meanwhile (`alongside`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    union_all,
)

from brapped.insights.aggregates import end_ms, local_hour, period_plays
from brapped.insights.compare import Counts
from brapped.insights.period import Period, date_to_day
from brapped.insights.rollups import usable
from brapped.insights.scope import (
    Scope,
    alongside,
    by_codepoint,
    minutes,
    not_various_artists,
)
from brapped.store.tables import artists, hour_totals, plays, track_artists, tracks


def member_sums(
    conn: Connection,
    period: Period,
    user_ids: Sequence[str],
    *,
    stream_threshold_ms: int = 30_000,
    session_gap_minutes: int = 30,
) -> tuple[dict[str, dict[str, Any]], Counts]:
    """Per listener of `user_ids` with plays in `period`: the numbers the awards and member cards
    use (`plays`, `streams`, `minutes_listened`, `distinct_artists`, `top_artist` and `top_track`
    (`id`, `name`, `plays`), `plays_by_hour` (24 local hours), `longest_session_minutes`), and
    their credited plays per artist."""
    users = list(user_ids)
    scope = Scope.of(period, None, stream_threshold_ms)
    sessions = alongside(conn, lambda other: longest_sessions(other, scope, users, session_gap_minutes))
    ut = (
        select(
            plays.c.user_id,
            plays.c.track_id,
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(scope.ms()).label("ms_played"),
        )
        .where(scope.where(), plays.c.user_id.in_(users))
        .group_by(plays.c.user_id, plays.c.track_id)
        .cte("per_user_track")
    )
    # One statement, the per-track sums read three times from the database's memory (a common
    # table expression used more than once is materialised by both databases), not written
    # to a table: rows of three kinds.
    rows = conn.execute(union_all(_totals(ut), _artist_rows(ut), _track_rows(ut))).all()
    totals = {r[1]: (int(r[3]), int(r[4]), int(r[5])) for r in rows if r[0] == "total"}
    counts, top_artist = _artists(conn, [r for r in rows if r[0] == "artist"])
    top_track = _top_tracks(conn, [r for r in rows if r[0] == "track"])
    by_hour = plays_by_hour(conn, scope, period, users)
    longest = sessions()
    result: dict[str, dict[str, Any]] = {}
    for user in users:
        if user not in totals:
            continue
        n, streams, ms = totals[user]
        result[user] = {
            "plays": n,
            "streams": streams,
            "minutes_listened": minutes(ms),
            "distinct_artists": len(counts.get(user, {})),
            "top_artist": top_artist.get(user),
            "top_track": top_track.get(user),
            "plays_by_hour": by_hour[user],
            "longest_session_minutes": longest.get(user),
        }
    return result, {u: counts.get(u, {}) for u in result}


def various_artists() -> Select[Any]:
    """The ids of the artists no top list counts (`not_various_artists`): the few the credits of
    the members' tracks are checked against, instead of joining every credit to its artist."""
    return select(artists.c.id).where(not_(not_various_artists()))


def _totals(ut: Any) -> Select[Any]:
    total = [cast(func.sum(ut.c[c]), BigInteger) for c in ("plays", "streams", "ms_played")]
    return select(
        literal("total").label("kind"), ut.c.user_id, cast(null(), String).label("id"), *total, null()
    ).group_by(ut.c.user_id)


def _artist_rows(ut: Any) -> Select[Any]:
    """Per member and credited artist (Various Artists left out): plays, streams, milliseconds and
    streams as main artist, as `per_artist` sums them."""
    credit = track_artists
    main = credit.c.position == 0
    return (
        select(
            literal("artist"),
            ut.c.user_id,
            credit.c.artist_id,
            func.sum(ut.c.plays),
            func.sum(ut.c.streams),
            func.sum(ut.c.ms_played),
            func.sum(case((main, ut.c.streams), else_=0)),
        )
        .select_from(ut.join(credit, credit.c.track_id == ut.c.track_id))
        .where(credit.c.artist_id.not_in(various_artists().scalar_subquery()))
        .group_by(ut.c.user_id, credit.c.artist_id)
    )


def _track_rows(ut: Any) -> Select[Any]:
    """The tracks with a member's most streams: only they can be Wrapped's top track."""
    most = (
        select(ut.c.user_id, func.max(ut.c.streams).label("streams")).group_by(ut.c.user_id).subquery("most")
    )
    return select(
        literal("track"), ut.c.user_id, ut.c.track_id, ut.c.plays, ut.c.streams, ut.c.ms_played, null()
    ).select_from(ut.join(most, (most.c.user_id == ut.c.user_id) & (most.c.streams == ut.c.streams)))


def _artists(conn: Connection, rows: Sequence[Any]) -> tuple[Counts, dict[str, dict[str, Any]]]:
    """Credited plays per member and artist, and each member's top artist as Wrapped ranks them:
    by weighted credit, then streams, plays, milliseconds, name and id (brapped.insights.top).
    Only the artists tied on every count need their names."""
    counts: Counts = {}
    best: dict[str, list[tuple[Any, ...]]] = {}
    for _, user, artist_id, n, streams, ms, main_streams in rows:
        n, streams, ms, main_streams = int(n), int(streams or 0), int(ms or 0), int(main_streams or 0)
        counts.setdefault(user, {})[artist_id] = n
        # Twice the weighted credit: `top.doubled_credit`.
        rank = (-(streams + main_streams), -streams, -n, -ms)
        held = best.get(user)
        if held is None or rank < held[0][0]:
            best[user] = [(rank, artist_id)]
        elif rank == held[0][0]:
            held.append((rank, artist_id))
    tied = [a for candidates in best.values() for _, a in candidates]
    names = dict(conn.execute(select(artists.c.id, artists.c.name).where(artists.c.id.in_(tied))).all())
    top = {}
    for user, candidates in best.items():
        # Python orders str by code point, as `by_codepoint` makes both databases do.
        rank, artist_id = min(candidates, key=lambda c: (names[c[1]], c[1]))
        top[user] = {"id": artist_id, "name": names[artist_id], "plays": -rank[2]}
    return counts, top


def _top_tracks(conn: Connection, rows: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Each member's top track as Wrapped ranks them: by streams, then plays, milliseconds, name
    and id, among the tracks with their most streams."""
    # Only the tracks tied on every count need their names (all of a member's tracks tie on 0
    # streams when every play is short).
    most: dict[str, tuple[int, int]] = {}
    for _, user, _track, n, _streams, ms, _ in rows:
        most[user] = max(most.get(user, (0, 0)), (int(n), int(ms or 0)))
    tied = [r for r in rows if (int(r[3]), int(r[5] or 0)) == most[r[1]]]
    ids = [r[2] for r in tied]
    names = dict(conn.execute(select(tracks.c.id, tracks.c.name).where(tracks.c.id.in_(ids))).all())
    best: dict[str, tuple[Any, ...]] = {}
    for _, user, track_id, n, _streams, ms, _ in tied:
        rank = (-int(n), -int(ms or 0), names[track_id], track_id)
        if user not in best or rank < best[user]:
            best[user] = rank
    return {user: {"id": r[3], "name": r[2], "plays": -r[0]} for user, r in best.items()}


def plays_by_hour(
    conn: Connection, scope: Scope, period: Period, users: Sequence[str]
) -> dict[str, list[int]]:
    """Plays per member and local hour (0-23) of `period`, as Wrapped's listening clock counts them.

    From `hour_totals` when the summaries are usable for the period's zone (as `rollups.grid_of`),
    plus the plays after their cutoff; else from the plays.
    """
    counts = {u: [0] * 24 for u in users}
    found = usable(conn, scope.stream_threshold_ms, period.timezone)
    if found is None or period.start_utc >= found.cutoff:
        _add_hours(conn, scope, period, users, counts)
        return counts
    ht = hour_totals
    rows = conn.execute(
        select(ht.c.user_id, ht.c.hour, cast(func.sum(ht.c.plays), BigInteger))
        .where(
            ht.c.day >= date_to_day(period.start),
            ht.c.day <= date_to_day(period.end),
            ht.c.user_id.in_(list(users)),
        )
        .group_by(ht.c.user_id, ht.c.hour)
    )
    for user, hour, n in rows:
        counts[user][int(hour)] += int(n)
    if period.end_utc > found.cutoff:
        later = Scope(None, found.cutoff, period.end_utc, scope.stream_threshold_ms)
        _add_hours(conn, later, period, users, counts)
    return counts


def _add_hours(
    conn: Connection, scope: Scope, period: Period, users: Sequence[str], counts: dict[str, list[int]]
) -> None:
    pp = period_plays(scope, period).where(plays.c.user_id.in_(list(users))).subquery("pp")
    inner = select(pp.c.user_id, local_hour(pp).label("hour")).subquery("hours")
    rows = conn.execute(
        select(inner.c.user_id, inner.c.hour, func.count()).group_by(inner.c.user_id, inner.c.hour)
    )
    for user, hour, n in rows:
        counts[user][int(hour)] += int(n)


def longest_sessions(
    conn: Connection, scope: Scope, users: Sequence[str], gap_minutes: int
) -> dict[str, float]:
    """Each member's longest session in minutes, as `wrapped.longest_session` finds it: plays in
    order of end (then id), a new session where the previous play ended `gap_minutes` or more
    before this one started; a session spans from its first play's start to its last play's end.

    One pass with one window (the previous play's end, the next play's start) keeps the plays
    that start or end a session, a few a day; a second window over those pairs each start with
    its session's end.
    """
    gap = gap_minutes * 60_000
    base = (
        select(
            plays.c.user_id,
            plays.c.id.label("seq"),
            end_ms(plays.c.played_at).label("end_ms"),
            scope.ms().label("ms"),
        )
        .where(scope.where(), plays.c.user_id.in_(list(users)))
        .subquery("base")
    )
    # By code point: PostgreSQL sorts text of a non-C collation many times slower.
    member = by_codepoint(base.c.user_id)
    order = [base.c.end_ms, base.c.seq]
    marked = select(
        base.c.user_id,
        base.c.seq,
        base.c.end_ms,
        (base.c.end_ms - base.c.ms).label("start_ms"),
        func.lag(base.c.end_ms).over(partition_by=member, order_by=order).label("previous_end_ms"),
        func.lead(base.c.end_ms - base.c.ms).over(partition_by=member, order_by=order).label("next_start_ms"),
    ).subquery("marked")
    starts = or_(marked.c.previous_end_ms.is_(None), marked.c.start_ms - marked.c.previous_end_ms >= gap)
    ends = or_(marked.c.next_start_ms.is_(None), marked.c.next_start_ms - marked.c.end_ms >= gap)
    bounds = (
        select(
            marked.c.user_id,
            marked.c.seq,
            marked.c.start_ms,
            marked.c.end_ms,
            case((starts, 1), else_=0).label("starts"),
            case((ends, 1), else_=0).label("ends"),
        )
        .where(or_(starts, ends))
        .subquery("bounds")
    )
    # A start that does not also end its session: the next bound is that session's end.
    session_end = case(
        (bounds.c.ends == 1, bounds.c.end_ms),
        else_=func.lead(bounds.c.end_ms).over(
            partition_by=by_codepoint(bounds.c.user_id), order_by=[bounds.c.end_ms, bounds.c.seq]
        ),
    )
    sessions = select(
        bounds.c.user_id, bounds.c.starts, (session_end - bounds.c.start_ms).label("span_ms")
    ).subquery("sessions")
    rows = conn.execute(
        select(sessions.c.user_id, func.max(sessions.c.span_ms))
        .where(sessions.c.starts == 1)
        .group_by(sessions.c.user_id)
    )
    return {user: round(int(span) / 60_000, 2) for user, span in rows}


__all__ = ["longest_sessions", "member_sums", "plays_by_hour"]
