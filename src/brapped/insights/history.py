"""What a period's Wrapped needs of the plays before it, without reading them all.

The former top artists, the new artists, the rediscovery and the listening age's baseline each ask
about every play before the period: a heavy listener's whole history. They share one small table
instead, the per-track sums of the plays before the period (`earlier_per_track`), built from the
stored summaries (brapped.insights.rollups) and the few plays between their cutoff and the period;
the rediscovery's last plays come from the half year just before the period (`last_plays_before`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, Select, func, select, union_all

from brapped.insights import rollups
from brapped.insights.aggregates import per_track
from brapped.insights.scope import Scope
from brapped.store.tables import plays, track_artists, track_totals
from brapped.store.types import epoch_ms

EARLIER_SUMS = ("plays", "streams", "ms_played")


def earlier_per_track(conn: Connection, scope: Scope, pt: FromClause | None = None) -> Select[Any]:
    """Per-track sums (`track_id` and EARLIER_SUMS) of every play of the scope's account(s) before
    `scope.start`, one row per track with plays. `pt`: the scope's own per-track sums (`per_track`),
    materialised; summed here from `plays` when not given.

    When the stored summaries may be read and fewer plays lie between their cutoff and the scope
    than before it (this year's Wrapped, after years of history): the stored sums, less the scope's
    own, plus or minus the plays between the cutoff and the scope's end (or start, when the cutoff
    is before the scope). Otherwise every earlier play, summed per track.
    """
    assert scope.start is not None and scope.end is not None
    start = scope.start
    found = rollups.usable(conn, scope.stream_threshold_ms)
    if found is not None and found.first_played_at is not None:
        cutoff = found.cutoff
        between = _between(scope, cutoff)
        assert between.start is not None and between.end is not None
        if between.end - between.start < start - found.first_played_at:
            return _stored_less(scope, cutoff, between, pt)
    before = Scope(scope.user_id, None, start, scope.stream_threshold_ms)
    summed = per_track(before).subquery("before_track")
    return select(summed.c.track_id, *(summed.c[c] for c in EARLIER_SUMS))


def _between(scope: Scope, cutoff: datetime) -> Scope:
    """The plays read from `plays` besides the stored sums and the scope's own."""
    assert scope.start is not None and scope.end is not None
    if cutoff >= scope.end:  # summed too: taken off
        low, high = scope.end, cutoff
    elif cutoff >= scope.start:  # the scope's plays after the cutoff: not in the stored sums
        low, high = cutoff, scope.end
    else:  # before the scope, after the cutoff: added
        low, high = cutoff, scope.start
    return Scope(scope.user_id, low, high, scope.stream_threshold_ms)


def _stored_less(scope: Scope, cutoff: datetime, between: Scope, pt: FromClause | None) -> Select[Any]:
    assert scope.start is not None and scope.end is not None
    stored = select(track_totals.c.track_id, *(track_totals.c[c] for c in EARLIER_SUMS))
    if scope.user_id is not None:
        stored = stored.where(track_totals.c.user_id == scope.user_id)
    parts = [stored]
    if cutoff >= scope.start:  # the stored sums hold (some of) the scope's plays
        own = pt if pt is not None else per_track(scope).subquery("own")
        parts.append(select(own.c.track_id, *(-own.c[c] for c in EARLIER_SUMS)))
    other = per_track(between).subquery("between")
    sign = -1 if cutoff >= scope.end else 1
    parts.append(select(other.c.track_id, *(sign * other.c[c] for c in EARLIER_SUMS)))
    both = union_all(*parts).subquery("both")
    return (
        select(both.c.track_id.label("track_id"), *(func.sum(both.c[c]).label(c) for c in EARLIER_SUMS))
        .group_by(both.c.track_id)
        .having(func.sum(both.c.plays) > 0)
    )


def last_plays_before(scope: Scope, within: timedelta) -> Select[Any]:
    """(`artist_id`, `last_ms`): the last play (epoch milliseconds) of each artist played by the
    scope's account(s) in the `within` before `scope.start`. One range of the played_at index,
    however long the history.

    Not limited to a list of artists: SQLite drives the credits' (track_id, artist_id) index with
    such a list, probing every listed artist for every track (minutes on a long history).
    """
    assert scope.start is not None
    recent = Scope(scope.user_id, scope.start - within, scope.start, scope.stream_threshold_ms)
    per = (
        select(plays.c.track_id, func.max(plays.c.played_at).label("last_at"))
        .where(recent.where())
        .group_by(plays.c.track_id)
        .subquery("recent_last")
    )
    last = func.max(per.c.last_at)
    return (
        select(track_artists.c.artist_id, epoch_ms(last).label("last_ms"))
        .select_from(per.join(track_artists, track_artists.c.track_id == per.c.track_id))
        .group_by(track_artists.c.artist_id)
    )
