"""Two listeners side by side: a compatibility score, what they share, what only one plays, and who
found a shared artist first.

The score (docs/reports.md, "compare") is the overlap of the two listeners' artist shares:
`100 * sum over artists of min(share_a, share_b)`, where an artist's share is its credited plays over
all credited plays of that listener in the period ("Various Artists" left out). It is symmetric by
construction, 100 when both spread their listening over the same artists in the same proportions, 0
when they share no artist. One grouped read of both listeners' plays (`history`: per listener and
track, the plays in the period and the first play ever; per listener and artist, the same summed
over its credits) gives everything; the rest is arithmetic on those sums.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Float, case, cast, func, literal, null, select, text, union_all
from sqlalchemy.sql.elements import TextClause

from brapped.errors import BrappedError
from brapped.insights.period import Period
from brapped.insights.scope import Scope, by_codepoint, not_various_artists
from brapped.store.tables import accounts, artists, plays, track_artists, tracks

Counts = dict[str, dict[str, int]]  # user id -> item id -> plays


class CompareError(BrappedError):
    """The listeners to compare are not there, or are one and the same."""


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Each item's part of the listener's plays (they sum to 1; empty without plays)."""
    whole = sum(counts.values())
    return {k: v / whole for k, v in counts.items()} if whole else {}


def score(a: Mapping[str, int], b: Mapping[str, int]) -> int:
    """Compatibility 0-100 of two listeners' plays per artist: 100 * sum of min(share_a, share_b)."""
    share_a, share_b = shares(a), shares(b)
    overlap = sum(min(share, share_b[k]) for k, share in share_a.items() if k in share_b)
    return round(100 * overlap)


def display_names(conn: Connection, user_ids: Sequence[str]) -> dict[str, str | None]:
    """Account id -> display name, for the ids that have an accounts row."""
    rows = conn.execute(select(accounts.c.id, accounts.c.display_name).where(accounts.c.id.in_(user_ids)))
    return {r.id: r.display_name for r in rows}


def _user_ids(table: str) -> TextClause:
    """The distinct user ids of `table` read as a loose index scan: one step down its (user_id,
    played_at, ...) key per listener, instead of a pass over every play."""
    return text(
        "WITH RECURSIVE u(id) AS ("
        f" SELECT (SELECT min(user_id) FROM {table})"
        f" UNION ALL SELECT (SELECT min(user_id) FROM {table} WHERE user_id > u.id) FROM u"
        " WHERE u.id IS NOT NULL"
        ") SELECT id FROM u WHERE id IS NOT NULL"
    )


# A listener of podcasts or audiobooks alone has episode plays only.
_USER_IDS = (_user_ids("plays"), _user_ids("episode_plays"))


def known_users(conn: Connection) -> list[str]:
    """Every listener with plays or an account row, by id."""
    with_plays = {str(r[0]) for query in _USER_IDS for r in conn.execute(query)}
    named = {r[0] for r in conn.execute(select(accounts.c.id))}
    return sorted(with_plays | named)


def require_listener(conn: Connection, user_id: str | None) -> None:
    """A CompareError unless `user_id` (when given) is a listener of the database: a mistyped
    `--user` would otherwise read as a year of silence."""
    if user_id is not None and user_id not in known_users(conn):
        raise CompareError(f"no listener {user_id!r} in the database: `brapped accounts` lists them")


def listeners(conn: Connection) -> list[dict[str, Any]]:
    """Every listener of the database, by id: `id`, `display_name`, and `account` (true when a sync
    created its accounts row; import-only listeners have none). Cheap on any number of plays."""
    names = {r.id: r.display_name for r in conn.execute(select(accounts.c.id, accounts.c.display_name))}
    return [{"id": u, "display_name": names.get(u), "account": u in names} for u in known_users(conn)]


def _artist_names(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {
        r.id: r.name for r in conn.execute(select(artists.c.id, artists.c.name).where(artists.c.id.in_(ids)))
    }


def _track_items(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    names = {
        r.id: r.name for r in conn.execute(select(tracks.c.id, tracks.c.name).where(tracks.c.id.in_(ids)))
    }
    credits: dict[str, list[dict[str, str]]] = {i: [] for i in ids}
    rows = conn.execute(
        select(track_artists.c.track_id, artists.c.id, artists.c.name)
        .join(artists, artists.c.id == track_artists.c.artist_id)
        .where(track_artists.c.track_id.in_(ids))
        .order_by(track_artists.c.track_id, track_artists.c.position)
    )
    for track_id, artist_id, name in rows:
        credits[track_id].append({"id": artist_id, "name": name})
    return {i: {"id": i, "name": names.get(i), "artists": credits[i]} for i in ids}


@dataclass(frozen=True)
class History:
    """Two listeners in a period: their plays, credited plays per artist, the tracks both played,
    and, for each artist a listener played in the period, when they first played it (over all
    time: who discovered a shared artist first)."""

    plays: dict[str, int]
    artists: Counts
    first_plays: dict[tuple[str, str], datetime]
    shared_tracks: int
    top_shared_tracks: list[tuple[str, int, int]]  # (track id, plays of a, plays of b), best first


def history(conn: Connection, user_a: str, user_b: str, period: Period | None, limit: int) -> History:
    """What `compare` shows of `user_a` and `user_b` in `period` (None: all time), in one statement.

    Both listeners' plays of all time are grouped once per listener and track (plays in the
    period, first play); the rest comes from those rows: the artists' sums over the credits,
    the totals, and the shared tracks (only the `limit` best of them are sent), instead of a pass
    over the plays for each (compare used to read them three times) and a row per track.
    """
    users = [user_a, user_b]
    if period is None:
        in_period: Any = func.count()
    else:
        in_period = func.sum(case((Scope.of(period).where(), 1), else_=0))
    per_track = (
        select(
            plays.c.user_id,
            plays.c.track_id,
            in_period.label("plays"),
            func.min(plays.c.played_at).label("first_played_at"),
        )
        .where(plays.c.user_id.in_(users))
        .group_by(plays.c.user_id, plays.c.track_id)
        .cte("per_track")
    )
    credited = per_track.join(track_artists, track_artists.c.track_id == per_track.c.track_id).join(
        artists, artists.c.id == track_artists.c.artist_id
    )
    by_user = {u: func.sum(case((per_track.c.user_id == u, per_track.c.plays), else_=0)) for u in users}
    pair = (
        select(per_track.c.track_id, by_user[user_a].label("plays_a"), by_user[user_b].label("plays_b"))
        .group_by(per_track.c.track_id)
        .cte("pair")
    )
    shared = select(pair).where(pair.c.plays_a > 0, pair.c.plays_b > 0).subquery("shared")
    summed = select(func.sum(pair.c.plays_a).label("a"), func.sum(pair.c.plays_b).label("b")).cte("summed")
    totals = {user_a: select(summed.c.a).scalar_subquery(), user_b: select(summed.c.b).scalar_subquery()}
    # The order of `_ranked_shared`: the same IEEE double divisions as Python's.
    share_a = cast(shared.c.plays_a, Float) / cast(totals[user_a], Float)
    share_b = cast(shared.c.plays_b, Float) / cast(totals[user_b], Float)
    least = case((share_a <= share_b, share_a), else_=share_b)
    best = (
        select(shared.c.track_id, shared.c.plays_a, shared.c.plays_b)
        .order_by(least.desc(), (shared.c.plays_a + shared.c.plays_b).desc(), by_codepoint(shared.c.track_id))
        .limit(limit)
        .subquery("best")
    )
    # Artists first: their column types are the union's (the first play needs converting).
    rows = union_all(
        select(
            literal("artist").label("kind"),
            per_track.c.user_id,
            track_artists.c.artist_id.label("id"),
            func.sum(per_track.c.plays).label("plays"),
            cast(null(), BigInteger).label("plays_b"),
            func.min(per_track.c.first_played_at).label("first_played_at"),
        )
        .select_from(credited)
        .where(not_various_artists())
        .group_by(per_track.c.user_id, track_artists.c.artist_id)
        # Only artists played in the period can be shared, so only they need a first play.
        .having(func.sum(per_track.c.plays) > 0),
        select(literal("total"), literal(user_a), null(), totals[user_a], null(), null()),
        select(literal("total"), literal(user_b), null(), totals[user_b], null(), null()),
        select(literal("shared"), null(), null(), func.count(), null(), null()).select_from(shared),
        select(literal("track"), null(), best.c.track_id, best.c.plays_a, best.c.plays_b, null()),
    )
    counts: Counts = {u: {} for u in users}
    sums = dict.fromkeys(users, 0)
    firsts: dict[tuple[str, str], datetime] = {}
    shared_count = 0
    top: list[tuple[str, int, int]] = []
    for kind, user, item, n, n_b, first in conn.execute(rows).all():
        if kind == "artist":
            firsts[(user, item)] = first
            if n:
                counts[user][item] = int(n)
        elif kind == "total":
            sums[user] = int(n or 0)
        elif kind == "shared":
            shared_count = int(n)
        else:
            top.append((item, int(n), int(n_b)))
    ranked = _ranked_shared(
        {t: a for t, a, _ in top}, {t: b for t, _, b in top}, limit, sums[user_a], sums[user_b]
    )
    by_id = {t: (t, a, b) for t, a, b in top}
    return History(sums, counts, firsts, shared_count, [by_id[t] for t in ranked])


def _ranked_shared(
    a: Mapping[str, int],
    b: Mapping[str, int],
    limit: int,
    whole_a: int | None = None,
    whole_b: int | None = None,
) -> list[str]:
    """Shared ids, the ones both give the largest part of their listening first (then by id).

    `whole_a`, `whole_b`: the listeners' totals, when `a` and `b` hold only some of their items."""
    whole_a = sum(a.values()) if whole_a is None else whole_a
    whole_b = sum(b.values()) if whole_b is None else whole_b
    common = [k for k in a if k in b]
    # The shares as `shares` gives them; only the first `limit` are ordered.
    return heapq.nsmallest(
        limit, common, key=lambda k: (-min(a[k] / whole_a, b[k] / whole_b), -(a[k] + b[k]), k)
    )


def _only(mine: Mapping[str, int], theirs: Mapping[str, int], limit: int) -> list[str]:
    return heapq.nsmallest(limit, (k for k in mine if k not in theirs), key=lambda k: (-mine[k], k))


def compare(
    conn: Connection, user_a: str, user_b: str, period: Period | None = None, *, limit: int = 10
) -> dict[str, Any]:
    """Listeners `user_a` and `user_b` in `period` (None: all time); keys in docs/reports.md."""
    if user_a == user_b:
        raise CompareError("compare needs two different listeners")
    for user in (user_a, user_b):
        require_listener(conn, user)
    read = history(conn, user_a, user_b, period, limit)
    arts_a, arts_b = read.artists[user_a], read.artists[user_b]
    shared_artist_ids = _ranked_shared(arts_a, arts_b, limit)
    shared_track_ids = [t for t, _, _ in read.top_shared_tracks]
    only_a, only_b = _only(arts_a, arts_b, limit), _only(arts_b, arts_a, limit)
    names = _artist_names(conn, [*shared_artist_ids, *only_a, *only_b])
    items = _track_items(conn, shared_track_ids)
    every_shared = [k for k in arts_a if k in arts_b]
    firsts = read.first_plays  # who found each shared artist first, over all time
    discovered = {user_a: 0, user_b: 0}
    first_by: dict[str, str | None] = {}
    for artist_id in every_shared:
        first_a, first_b = firsts.get((user_a, artist_id)), firsts.get((user_b, artist_id))
        by = None
        if first_a is not None and first_b is not None and first_a != first_b:
            by = user_a if first_a < first_b else user_b
            discovered[by] += 1
        first_by[artist_id] = by
    people = display_names(conn, [user_a, user_b])
    shared_artists = [
        {
            "rank": rank,
            "id": artist_id,
            "name": names.get(artist_id),
            "plays_a": arts_a[artist_id],
            "plays_b": arts_b[artist_id],
            "first_played_a": firsts.get((user_a, artist_id)),
            "first_played_b": firsts.get((user_b, artist_id)),
            "discovered_first_by": first_by[artist_id],
        }
        for rank, artist_id in enumerate(shared_artist_ids, 1)
    ]
    return {
        "period": period.as_dict() if period is not None else None,
        "a": _who(user_a, people, read.plays, arts_a),
        "b": _who(user_b, people, read.plays, arts_b),
        "score": score(arts_a, arts_b),
        "shared_artists": len(every_shared),
        "shared_tracks": read.shared_tracks,
        "top_shared_artists": shared_artists,
        "top_shared_tracks": [
            {"rank": rank, **items[t], "plays_a": plays_a, "plays_b": plays_b}
            for rank, (t, plays_a, plays_b) in enumerate(read.top_shared_tracks, 1)
        ],
        "only_a": [{"id": k, "name": names.get(k), "plays": arts_a[k]} for k in only_a],
        "only_b": [{"id": k, "name": names.get(k), "plays": arts_b[k]} for k in only_b],
        "discovered_first": discovered,
    }


def _who(
    user: str, people: Mapping[str, str | None], totals: Mapping[str, int], arts: Mapping[str, int]
) -> dict[str, Any]:
    return {"user_id": user, "display_name": people.get(user), "plays": totals[user], "artists": len(arts)}


__all__ = [
    "CompareError",
    "History",
    "compare",
    "history",
    "known_users",
    "listeners",
    "score",
    "shares",
]
