"""Case- and accent-insensitive search over the tracks, artists and albums you have played.

Neither database folds accents the same way (SQLite has no unaccent, PostgreSQL's needs an
extension), so names are folded here in Python, once per name, into the `search_names` table;
`refresh_search_names` adds what is new or renamed before each search (when the search's
transaction may still write: `_refresh_if_possible`). The search itself is then a LIKE over
already-folded text: the same answer on both databases.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from brapped.errors import BrappedError
from brapped.insights.aggregates import album_credits, track_credits
from brapped.insights.rollups import covering, most_played_tracks, per_track_of
from brapped.insights.scope import Scope, by_codepoint, not_various_artists
from brapped.insights.top import per_album_of, per_artist_of
from brapped.store.engine import sqlite_locked
from brapped.store.tables import albums, artists, plays, search_names, track_artists, tracks

SearchKind = Literal["track", "artist", "album"]
ENTITIES: dict[SearchKind, Table] = {"track": tracks, "artist": artists, "album": albums}
_CHUNK = 500

log = logging.getLogger(__name__)


class NotFound(BrappedError):
    """Nothing you played matches the name or id asked for."""

    exit_code = 4


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced `text`: "Björk  Guðmundsdóttir" -> "bjork gudmundsdottir"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Letters that do not decompose into a base letter plus an accent.
    stripped = stripped.translate(_NON_DECOMPOSING)
    return " ".join(stripped.split())


_NON_DECOMPOSING = str.maketrans({"ø": "o", "đ": "d", "ð": "d", "ł": "l", "æ": "ae", "œ": "oe", "þ": "th"})


def _refresh_if_possible(conn: Connection) -> None:
    """`refresh_search_names` where this transaction may still write, in a savepoint.

    On SQLite a transaction that has read cannot write once another connection has committed
    since (a sync, meanwhile): the search then answers from the names folded so far, and the names
    it could not fold wait for the next search (or the dashboard's next warm-up). On PostgreSQL two
    searches may fold the same new names at once: the second finds them folded by the first."""
    try:
        with conn.begin_nested():
            refresh_search_names(conn)
    except IntegrityError as exc:
        log.debug("search names folded by another transaction meanwhile: %s", str(exc.orig))
    except OperationalError as exc:
        if conn.dialect.name != "sqlite" or exc.orig is None or not sqlite_locked(exc.orig):
            raise
        log.debug("search names not refreshed: %s", str(exc.orig))


def refresh_search_names(conn: Connection, *, full: bool = False) -> int:
    """Fold names that are new or changed since the last refresh; returns how many were (re)folded.

    Triggers (revision 0004) delete the folded name of a renamed or deleted row, so a kind whose
    row count equals its number of folded names is up to date: only then is the full comparison
    skipped (`full=True` forces it).
    """
    changed = 0
    for kind, table in ENTITIES.items():
        if not full:
            entities = conn.execute(select(func.count()).select_from(table)).scalar_one()
            folded = conn.execute(
                select(func.count()).select_from(search_names).where(search_names.c.kind == kind)
            ).scalar_one()
            if entities == folded:
                continue
        known = search_names.alias("known")
        rows = conn.execute(
            select(table.c.id, table.c.name)
            .outerjoin(known, and_(known.c.kind == kind, known.c.item_id == table.c.id))
            .where(or_(known.c.item_id.is_(None), known.c.name != table.c.name))
        ).all()
        changed += len(rows)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            conn.execute(
                delete(search_names).where(
                    search_names.c.kind == kind, search_names.c.item_id.in_([r.id for r in chunk])
                )
            )
            conn.execute(
                insert(search_names),
                [{"kind": kind, "item_id": r.id, "name": r.name, "folded": fold(r.name)} for r in chunk],
            )
        # Rows removed without the triggers (TRUNCATE, a table rebuilt by a migration): drop their names.
        conn.execute(
            delete(search_names).where(
                search_names.c.kind == kind, ~exists().where(table.c.id == search_names.c.item_id)
            )
        )
    return changed


_IN_LIST_MAX = 500
_FILTER_MAX = 10_000


class _Matches(NamedTuple):
    """How many names of a kind contain the query; their (item_id, folded) when at most
    `_IN_LIST_MAX`, else only those equal to the query (the exact matches)."""

    total: int
    rows: list[tuple[str, str]]


def _matched(conn: Connection, query: str) -> dict[SearchKind, _Matches]:
    """Per kind, how many folded names contain `query`, and which (see `_Matches`): a count over
    the table, then the rows wanted.

    A letter or two matches most names: fetching them all would cost more than the rest of the
    search; the statements then read those matches from `search_names`.
    """
    folded_query = fold(query)
    contains = search_names.c.folded.contains(folded_query, autoescape=True)
    counts = conn.execute(
        select(*(func.count().filter(search_names.c.kind == kind) for kind in ENTITIES)).where(contains)
    ).one()
    found = {kind: _Matches(int(n or 0), []) for kind, n in zip(ENTITIES, counts, strict=True)}
    if any(found.values()):
        few = [kind for kind, matches in found.items() if matches.total <= _IN_LIST_MAX]
        rows = conn.execute(
            # `kind || ''`: see _candidates (a scan beats walking the primary key for a LIKE).
            select(search_names.c.kind, search_names.c.item_id, search_names.c.folded).where(
                contains, or_(search_names.c.kind.concat("").in_(few), search_names.c.folded == folded_query)
            )
        )
        for kind, item_id, folded in rows:
            if kind in found:
                found[kind].rows.append((item_id, folded))
    return found


def _candidates(kind: SearchKind, query: str, matched: _Matches, id_column: Any) -> tuple[Any, Any, Any]:
    """(WHERE clause, exact-match-first ORDER BY term) restricting `id_column` to the matches, and
    the matched ids (a list, or a subquery) for other statements to start from.

    A few hundred matches go to the database as a list of ids (every statement then starts from
    them); more (a query of one or two letters) as a MATERIALIZED CTE over `search_names`, so that
    the planner still starts from the matches instead of from plays.
    """
    folded_query = fold(query)
    if matched.total <= _IN_LIST_MAX:
        exact = [item_id for item_id, folded in matched.rows if folded == folded_query]
        ids = [item_id for item_id, _ in matched.rows]
        return id_column.in_(ids), id_column.in_(exact).desc(), ids
    cte = (
        select(search_names.c.item_id, search_names.c.folded)
        .where(
            # `kind || ''` keeps SQLite from walking the primary-key index for kind = ..., which
            # visits the table row by row: a plain scan of the narrow table is faster for a LIKE.
            search_names.c.kind.concat("") == kind,
            search_names.c.folded.contains(folded_query, autoescape=True),
        )
        .cte(f"matched_{kind}")
        .prefix_with("MATERIALIZED")
    )
    exact_ids = select(cte.c.item_id).where(cte.c.folded == folded_query)
    ids_query = select(cte.c.item_id)
    return id_column.in_(ids_query), id_column.in_(exact_ids).desc(), ids_query


def _contains(kind: SearchKind, item_id: Any, query: str) -> ColumnElement[bool]:
    """Whether the item's folded name contains `query` (a lookup by the primary key)."""
    return exists().where(
        search_names.c.kind == kind,
        search_names.c.item_id == item_id,
        search_names.c.folded.contains(fold(query), autoescape=True),
    )


class _Hit(NamedTuple):
    id: str
    name: str
    plays: int
    first_played: datetime
    last_played: datetime


def _played(kind: SearchKind) -> Any:
    """The kind's table joined to the plays that count for it (any credit, for an artist)."""
    if kind == "track":
        return tracks.join(plays, plays.c.track_id == tracks.c.id)
    if kind == "artist":
        return artists.join(track_artists, track_artists.c.artist_id == artists.c.id).join(
            plays, plays.c.track_id == track_artists.c.track_id
        )
    return albums.join(tracks, tracks.c.album_id == albums.c.id).join(plays, plays.c.track_id == tracks.c.id)


def _ranked(
    conn: Connection,
    kind: SearchKind,
    query: str,
    matched: _Matches,
    scope: Scope,
    limit: int,
    *,
    summed: bool,
) -> Sequence[Any]:
    """The kind's top `limit` matches: exact ones first, then by plays (rows of id, name, plays,
    first_played, last_played)."""
    if not matched.total:
        return []
    entity = ENTITIES[kind]
    where, exact, ids = _candidates(kind, query, matched, entity.c.id)
    extra = [not_various_artists()] if kind == "artist" else []
    first = func.min(plays.c.played_at).label("first_played")
    last = func.max(plays.c.played_at).label("last_played")
    tiebreak = (by_codepoint(entity.c.name), by_codepoint(entity.c.id))
    if not (summed and matched.total > _IN_LIST_MAX):
        # Only what the (track_id, played_at) index holds: reading ms_played would visit every play row.
        n_plays = func.count().label("plays")
        return conn.execute(
            select(entity.c.id, entity.c.name, n_plays, first, last)
            .select_from(_played(kind))
            .where(where, scope.where(), *extra)
            .group_by(entity.c.id, entity.c.name)
            .order_by(exact, n_plays.desc(), *tiebreak)
            .limit(limit)
        ).all()
    # A query of a letter or two matches most of a long history: ranked by the stored sums
    # (brapped.insights.rollups) rather than by counting every play; for tracks only the
    # matched ones' sums, unless they are most of them (then probing each costs more).
    if kind == "track":
        only = ids if matched.total <= _FILTER_MAX else None
        found = most_played_tracks(conn, scope, lambda track_id: _contains(kind, track_id, query), limit)
        if found is not None:
            # Only the few tracks that can make the list, and the exact matches (first whatever
            # their plays): no sum over every matched track.
            exact_ids = [item_id for item_id, folded in matched.rows if folded == fold(query)]
            only = list({*found, *exact_ids})
            where, exact = entity.c.id.in_(only), entity.c.id.in_(exact_ids).desc()
        sums = per_track_of(conn, scope, only, columns=("plays",)).subquery("sums")
        key = sums.c.track_id
    elif kind == "artist":
        sums = per_artist_of(conn, scope, names=False).subquery("sums")
        key = sums.c.artist_id
    else:
        sums = per_album_of(conn, scope).subquery("sums")
        key = sums.c.album_id
    rows = conn.execute(
        select(entity.c.id, entity.c.name, sums.c.plays)
        .select_from(entity.join(sums, key == entity.c.id))
        .where(where, *extra)
        .order_by(exact, sums.c.plays.desc(), *tiebreak)
        .limit(limit)
    ).all()
    if not rows:
        return []
    # When each shown hit was first and last played: a few index probes.
    when = {
        item: (first_played, last_played)
        for item, first_played, last_played in conn.execute(
            select(entity.c.id, first, last)
            .select_from(_played(kind))
            .where(entity.c.id.in_([r[0] for r in rows]), scope.where())
            .group_by(entity.c.id)
        )
    }
    return [_Hit(r[0], r[1], int(r[2]), *when[r[0]]) for r in rows]


def search(conn: Connection, query: str, *, user_id: str | None = None, limit: int = 10) -> dict[str, Any]:
    """Tracks, artists and albums whose name contains `query`, among what the scope played.

    Each list: exact matches first, then by plays. Needs a connection in a transaction that may write
    (it refreshes `search_names`).
    """
    if not fold(query):
        raise BrappedError("search needs some letters or digits")
    _refresh_if_possible(conn)
    scope = Scope(user_id=user_id)
    matched = _matched(conn, query)
    summed = covering(conn, scope) is not None
    track_rows, artist_rows, album_rows = (
        _ranked(conn, kind, query, matched[kind], scope, limit, summed=summed) for kind in ENTITIES
    )
    track_artist_map = track_credits(conn, (r.id for r in track_rows))
    album_artist_map = album_credits(conn, (r.id for r in album_rows))

    def shape(row: Any, **extra: Any) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            **extra,
            "plays": int(row.plays),
            "first_played": row.first_played,
            "last_played": row.last_played,
        }

    return {
        "query": query,
        "tracks": [shape(r, artists=track_artist_map[r.id]) for r in track_rows],
        "artists": [shape(r) for r in artist_rows],
        "albums": [shape(r, artists=album_artist_map[r.id]) for r in album_rows],
    }


def resolve(
    conn: Connection, kind: SearchKind, name_or_id: str, *, user_id: str | None = None
) -> dict[str, Any]:
    """The track or artist meant by an id or a name: {"id", "name", "others": [...]}.

    An exact id wins; then names equal to it once folded; then names containing it. Among several
    candidates the most played is chosen and the rest are listed in "others" (up to 5).
    """
    table = ENTITIES[kind]
    row = conn.execute(select(table.c.id, table.c.name).where(table.c.id == name_or_id)).first()
    if row is not None:
        return {"id": row.id, "name": row.name, "others": []}
    if not fold(name_or_id):
        raise NotFound(f"no {kind} named {name_or_id!r}")
    _refresh_if_possible(conn)
    scope = Scope(user_id=user_id)
    played: Any
    if kind == "artist":
        played = track_artists.join(plays, plays.c.track_id == track_artists.c.track_id)
        item = track_artists.c.artist_id
    else:
        played = plays
        item = plays.c.track_id
    for condition in (
        search_names.c.folded == fold(name_or_id),
        search_names.c.folded.contains(fold(name_or_id), autoescape=True),
    ):
        candidates = conn.execute(
            select(search_names.c.item_id, search_names.c.name, func.count().label("plays"))
            .select_from(search_names.join(played, item == search_names.c.item_id))
            .where(search_names.c.kind == kind, condition, scope.where())
            .group_by(search_names.c.item_id, search_names.c.name)
            .order_by(
                func.count().desc(), by_codepoint(search_names.c.name), by_codepoint(search_names.c.item_id)
            )
            .limit(6)
        ).all()
        if candidates:
            best, *others = candidates
            listed = [{"id": o.item_id, "name": o.name, "plays": int(o.plays)} for o in others]
            if kind == "track":  # tracks of one name are told apart by their artists
                credits = track_credits(conn, (o["id"] for o in listed))
                for other in listed:
                    other["artists"] = credits[other["id"]]
            return {"id": best.item_id, "name": best.name, "others": listed}
    raise NotFound(f"no {kind} you played matches {name_or_id!r} (try `brapped search`)")
