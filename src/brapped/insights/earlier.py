"""The plays before a period, as Wrapped's cards about the past read them.

The new artists, the former top artists (forgotten favourite), the rediscovery and the listening
age's baseline look at everything a listener played before the period: on a heavy listener's long
history, most of their plays. The stored summaries (brapped.insights.rollups) hold those sums up to
a cutoff; the plays between the cutoff and the period are added, or taken off, from `plays`.

- `earlier_per_artist`: per-artist sums, from `artist_totals` (thousands of rows);
- `played_before_end`: the tracks played up to the period's end, from `track_totals`' keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Connection, FromClause, Select, func, select, union, union_all

from brapped.insights import rollups
from brapped.insights.aggregates import ARTIST_SUMS, per_artist, per_track
from brapped.insights.scope import Scope, one_account
from brapped.store.tables import artist_totals, artists, plays, track_totals


def stored_cutoff(conn: Connection, scope: Scope) -> datetime | None:
    """The summaries' cutoff when the plays before the scope are best read from them, else None:
    when they may be read and fewer plays lie between their cutoff and the scope (`between`) than
    before it (this year's Wrapped, after years of history)."""
    assert scope.start is not None and scope.end is not None
    found = rollups.usable(conn, scope.stream_threshold_ms)
    if found is None or found.first_played_at is None:
        return None
    between = _between(scope, found.cutoff)
    assert between.start is not None and between.end is not None
    if between.end - between.start < scope.start - found.first_played_at:
        return found.cutoff
    return None


def earlier_per_artist(conn: Connection, scope: Scope, pa: FromClause | None = None) -> Select[Any]:
    """`per_artist` of every play of the scope's account(s) before `scope.start`: `artist_id`,
    `name` and ARTIST_SUMS, one row per artist with plays. `pa`: the scope's own per-artist sums
    (`per_artist` of its per-track sums), materialised; summed here when not given.

    `committed_per_artist`, less the scope's own sums when it says so (`less_own`).
    """
    committed, own_counted = committed_per_artist(conn, scope)
    own = None
    if own_counted:
        own = pa
        if own is None:
            own = per_artist(per_track(scope).subquery("own_track"), names=False).subquery("own")
    return less_own(committed.subquery("committed"), own)


def committed_per_artist(conn: Connection, scope: Scope) -> tuple[Select[Any], bool]:
    """What `earlier_per_artist` needs of the database besides the scope's own per-artist sums:
    (`artist_id` and ARTIST_SUMS per artist, whether the scope's own sums are to be taken off).
    Reads no temporary table: another connection may compute it (`scope.alongside`).

    When `stored_cutoff` gives a cutoff: the sums of `artist_totals` plus or minus those of the
    plays between the cutoff and the scope's end (or start, when the cutoff is before the
    scope); the stored sums then take in the scope's own when the cutoff is at or after its
    start. Per-artist sums add up as per-track ones do (a play credits each artist of its track
    once), so the tens of thousands of earlier tracks are never joined to their credits.
    Otherwise every earlier play, summed per track and then per artist. Only artists with plays
    (taking the scope's own off can only leave fewer).
    """
    assert scope.start is not None and scope.end is not None
    cutoff = stored_cutoff(conn, scope)
    if cutoff is None:
        before = Scope(scope.user_id, None, scope.start, scope.stream_threshold_ms)
        return per_artist(per_track(before).subquery("before_track"), names=False), False
    stored = select(artist_totals.c.artist_id, *(artist_totals.c[c] for c in ARTIST_SUMS))
    if scope.user_id is not None:
        stored = stored.where(artist_totals.c.user_id == scope.user_id)
    between_track = per_track(_between(scope, cutoff)).subquery("between_track")
    between = per_artist(between_track, names=False).subquery("between")
    sign = _sign(scope, cutoff)
    own_counted = cutoff >= scope.start
    if own_counted and _one_row_per_key(conn, scope, artist_totals):
        summed = _less_joined(stored.subquery("stored"), "artist_id", ARTIST_SUMS, None, between, sign)
    else:
        summed = _less(stored, "artist_id", ARTIST_SUMS, None, between, sign)
    return summed, own_counted


def less_own(committed: FromClause, own: FromClause | None) -> Select[Any]:
    """`earlier_per_artist` from `committed_per_artist` (as a subquery or materialised) less the
    scope's own per-artist sums `own` (None: nothing to take off), with the artists' names: for
    the few thousand artists summed, not for every credit on the way."""

    def left(column: str) -> Any:
        value: Any = committed.c[column]
        return value if own is None else value - func.coalesce(own.c[column], 0)

    joined = committed.join(artists, artists.c.id == committed.c.artist_id)
    if own is not None:
        joined = joined.outerjoin(own, own.c.artist_id == committed.c.artist_id)
    query = select(
        committed.c.artist_id, artists.c.name.label("name"), *(left(c).label(c) for c in ARTIST_SUMS)
    ).select_from(joined)
    return query if own is None else query.where(left("plays") > 0)


def played_before_end(conn: Connection, scope: Scope) -> Select[Any]:
    """`track_id` of every track the scope's account(s) played before `scope.end`, each once.

    From the stored summaries' keys when `stored_cutoff` gives a cutoff: with the tracks played
    from the cutoff to the scope's end (a cutoff before the end: every earlier track is a stored
    one or played since), or less the tracks whose stored plays all came after the scope (a
    cutoff after its end). Reads no temporary table: another connection may compute it.
    """
    assert scope.start is not None and scope.end is not None
    cutoff = stored_cutoff(conn, scope)
    if cutoff is None:
        before_end = Scope(scope.user_id, None, scope.end, scope.stream_threshold_ms)
        return select(plays.c.track_id).where(before_end.where()).distinct()
    stored = select(track_totals.c.track_id)
    if scope.user_id is not None:
        stored = stored.where(track_totals.c.user_id == scope.user_id)
    if cutoff < scope.end:
        since = Scope(scope.user_id, cutoff, scope.end, scope.stream_threshold_ms)
        return _ids(union(stored, select(plays.c.track_id).where(since.where())))
    # The cutoff after the scope's end: a stored track was played before the end unless every
    # one of its stored plays came after it.
    counted = select(track_totals.c.track_id, track_totals.c.plays)
    if scope.user_id is not None:
        counted = counted.where(track_totals.c.user_id == scope.user_id)
    later = per_track(_between(scope, cutoff)).subquery("after_end")
    if _one_row_per_key(conn, scope, track_totals):
        left = _less_joined(counted.subquery("stored"), "track_id", ("plays",), None, later, -1)
        return select(left.subquery("left").c.track_id)
    both = union_all(counted, select(later.c.track_id, -later.c.plays)).subquery("both")
    return select(both.c.track_id).group_by(both.c.track_id).having(func.sum(both.c.plays) > 0)


def _ids(tracks: CompoundSelect[Any]) -> Select[Any]:
    unique = tracks.subquery("played")
    return select(unique.c.track_id)


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


def _sign(scope: Scope, cutoff: datetime) -> int:
    """-1 when the plays `_between` gives are taken off the stored sums, +1 when added."""
    assert scope.end is not None
    return -1 if cutoff >= scope.end else 1


def _one_row_per_key(conn: Connection, scope: Scope, table: Any) -> bool:
    """Whether `table` (a summary, keyed by account first) has one row per key for the scope:
    the scope is one account's, or the database holds one account."""
    return scope.user_id is not None or one_account(conn, table)


def _less_joined(
    stored: FromClause,
    key: str,
    columns: tuple[str, ...],
    own: FromClause | None,
    between: FromClause,
    sign: int,
) -> Select[Any]:
    """`_less` when every key with plays left is a stored one, each stored once (the cutoff at
    or after the scope's start, one account's rows): joined by key instead of grouped, which
    spares a sum per column and key (PostgreSQL sums them as NUMERIC)."""
    joined = stored
    if own is not None:
        joined = joined.outerjoin(own, own.c[key] == stored.c[key])
    joined = joined.outerjoin(between, between.c[key] == stored.c[key])

    def left(column: str) -> Any:
        value: Any = stored.c[column]
        if own is not None:
            value = value - func.coalesce(own.c[column], 0)
        return value + sign * func.coalesce(between.c[column], 0)

    return (
        select(stored.c[key].label(key), *(left(c).label(c) for c in columns))
        .select_from(joined)
        .where(left("plays") > 0)
    )


def _less(
    stored: Select[Any],
    key: str,
    columns: tuple[str, ...],
    own: FromClause | None,
    between: FromClause,
    sign: int,
) -> Select[Any]:
    """The stored sums, less `own` (when given), plus `sign` times `between`, per `key`; only
    keys with plays left."""
    parts = [stored]
    if own is not None:
        parts.append(select(own.c[key], *(-own.c[c] for c in columns)))
    parts.append(select(between.c[key], *(sign * between.c[c] for c in columns)))
    both = union_all(*parts).subquery("both")
    return (
        select(both.c[key].label(key), *(func.sum(both.c[c]).label(c) for c in columns))
        .group_by(both.c[key])
        .having(func.sum(both.c.plays) > 0)
    )
