"""Every party member's numbers (brapped.insights.party), for all members at once.

Each number has the definition of the member's Wrapped (brapped.insights.wrapped) for the period,
so the two agree exactly; but a Wrapped per member reads the period's plays many times over for
lists the party never shows. Here the period's plays of all members are read in a few grouped
statements instead:

- one pass sums them per member and track (plays, streams, milliseconds), materialised: the
  totals, the per-artist sums (distinct artists, top artist by weighted credit, the plays per
  artist that the compare scores of the pairs need) and the top track by streams come from it;
- the plays per member and local hour come from the report summaries' `hour_totals`
  (brapped.insights.rollups) when they hold the period, else from one pass;
- the longest session of each member: one pass with window functions, on a second connection
  meanwhile (`alongside`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, cast, func, or_, select

from brapped.insights.aggregates import local_hour, per_artist, period_plays
from brapped.insights.period import Period, date_to_day
from brapped.insights.rollups import usable
from brapped.insights.scope import Scope, alongside, materialized, minutes
from brapped.store.tables import hour_totals, plays, tracks
from brapped.store.types import epoch_ms

Counts = dict[str, dict[str, int]]  # user id -> artist id -> credited plays


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
    per_user_track = (
        select(
            plays.c.user_id,
            plays.c.track_id,
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(scope.ms()).label("ms_played"),
        )
        .where(scope.where(), plays.c.user_id.in_(users))
        .group_by(plays.c.user_id, plays.c.track_id)
    )
    with materialized(conn, per_user_track) as ut:
        totals = {
            user: (int(n), int(streams), int(ms))
            for user, n, streams, ms in conn.execute(
                select(
                    ut.c.user_id,
                    cast(func.sum(ut.c.plays), BigInteger),
                    cast(func.sum(ut.c.streams), BigInteger),
                    cast(func.sum(ut.c.ms_played), BigInteger),
                ).group_by(ut.c.user_id)
            )
        }
        counts, top_artist = _artists(conn, ut)
        top_track = _top_tracks(conn, ut)
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


def _artists(conn: Connection, ut: Any) -> tuple[Counts, dict[str, dict[str, Any]]]:
    """Credited plays per member and artist, and each member's top artist as Wrapped ranks them:
    by weighted credit, then streams, plays, milliseconds, name and id (brapped.insights.top)."""
    pa = per_artist(ut, by_user=True).subquery("per_artist")
    counts: Counts = {}
    best: dict[str, tuple[Any, ...]] = {}
    rows = conn.execute(
        select(
            pa.c.user_id,
            pa.c.artist_id,
            pa.c.name,
            pa.c.plays,
            pa.c.streams,
            pa.c.ms_played,
            pa.c.main_streams,
        )
    )
    for user, artist_id, name, n, streams, ms, main_streams in rows:
        n, streams, ms, main_streams = int(n), int(streams or 0), int(ms or 0), int(main_streams or 0)
        counts.setdefault(user, {})[artist_id] = n
        # Doubled credit (main x 2, featured x 1): `top.doubled_credit`. Python orders str by code
        # point, as `by_codepoint` makes both databases do.
        rank = (-(streams + main_streams), -streams, -n, -ms, name, artist_id)
        if user not in best or rank < best[user]:
            best[user] = rank
    top = {user: {"id": r[5], "name": r[4], "plays": -r[2]} for user, r in best.items()}
    return counts, top


def _top_tracks(conn: Connection, ut: Any) -> dict[str, dict[str, Any]]:
    """Each member's top track as Wrapped ranks them: by streams, then plays, milliseconds, name
    and id. The counts are ranked in SQL; only ties on all three meet the names."""
    place = (
        func.rank()
        .over(
            partition_by=ut.c.user_id,
            order_by=[ut.c.streams.desc(), ut.c.plays.desc(), ut.c.ms_played.desc()],
        )
        .label("place")
    )
    ranked = select(ut.c.user_id, ut.c.track_id, ut.c.plays, place).subquery("ranked")
    rows = conn.execute(
        select(ranked.c.user_id, ranked.c.track_id, tracks.c.name, ranked.c.plays)
        .join(tracks, tracks.c.id == ranked.c.track_id)
        .where(ranked.c.place == 1)
    )
    best: dict[str, tuple[str, str, int]] = {}
    for user, track_id, name, n in rows:
        if user not in best or (name, track_id) < best[user][:2]:
            best[user] = (name, track_id, int(n))
    return {user: {"id": t, "name": name, "plays": n} for user, (name, t, n) in best.items()}


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

    One pass: each play's previous end (`lag`) marks the plays that start a session; each session
    then ends where the next one's first play says the previous ended, the last one at the
    member's last end.
    """
    gap = gap_minutes * 60_000
    base = (
        select(
            plays.c.user_id,
            plays.c.id.label("seq"),
            epoch_ms(plays.c.played_at).label("end_ms"),
            scope.ms().label("ms"),
        )
        .where(scope.where(), plays.c.user_id.in_(list(users)))
        .subquery("base")
    )
    order = [base.c.end_ms, base.c.seq]
    marked = select(
        base.c.user_id,
        base.c.seq,
        base.c.end_ms,
        (base.c.end_ms - base.c.ms).label("start_ms"),
        func.lag(base.c.end_ms).over(partition_by=base.c.user_id, order_by=order).label("previous_end_ms"),
        func.max(base.c.end_ms).over(partition_by=base.c.user_id).label("last_end_ms"),
    ).subquery("marked")
    starts = (
        select(marked)
        .where(
            or_(
                marked.c.previous_end_ms.is_(None),
                marked.c.start_ms - marked.c.previous_end_ms >= gap,
            )
        )
        .subquery("starts")
    )
    following = func.lead(starts.c.previous_end_ms).over(
        partition_by=starts.c.user_id, order_by=[starts.c.end_ms, starts.c.seq]
    )
    sessions = select(
        starts.c.user_id,
        (func.coalesce(following, starts.c.last_end_ms) - starts.c.start_ms).label("span_ms"),
    ).subquery("sessions")
    rows = conn.execute(select(sessions.c.user_id, func.max(sessions.c.span_ms)).group_by(sessions.c.user_id))
    return {user: round(int(span) / 60_000, 2) for user, span in rows}


__all__ = ["Counts", "longest_sessions", "member_sums", "plays_by_hour"]
