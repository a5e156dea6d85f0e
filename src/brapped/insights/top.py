"""Top lists: artists (main and featured credit apart), tracks, albums, genres."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Connection, FromClause, Select, case, exists, func, select, tuple_

from brapped.errors import BrappedError
from brapped.insights import rollups
from brapped.insights.aggregates import (
    ALBUM_SUMS,
    ARTIST_SUMS,
    album_credits,
    per_album,
    per_artist,
    per_track,
    track_credits,
)
from brapped.insights.rollups import per_track_of
from brapped.insights.scope import Scope, by_codepoint, minutes, ratio
from brapped.store.tables import (
    album_totals,
    albums,
    artist_genres,
    artist_totals,
    artists,
    musicbrainz_artists,
    tracks,
)

Kind = Literal["artists", "tracks", "albums", "genres", "countries"]
By = Literal["plays", "streams", "minutes", "credit"]
KINDS: tuple[Kind, ...] = ("artists", "tracks", "albums", "genres", "countries")
BYS: tuple[By, ...] = ("plays", "streams", "minutes", "credit")
# Spotify's 2025 rule: a stream credits the track's main artist fully and each featured artist
# less. Half: a featured artist usually brings a verse or a hook, about half a track, and at
# one half two guests never outweigh the artist whose track it is (docs/reports.md).
FEATURED_WEIGHT = 0.5


class ReportError(BrappedError):
    """A report asked for something that does not exist (unknown list kind, ordering, item)."""


def _order(
    by: By, plays_col: Any, streams_col: Any, ms_col: Any, *tiebreak: Any, credit_col: Any = None
) -> list[Any]:
    if by not in BYS:
        raise ReportError(f"cannot rank by {by!r}: use plays, streams, minutes or credit (artists)")
    if by == "credit" and credit_col is None:
        raise ReportError("credit ranks artists only: use plays, streams or minutes")
    first = {"plays": plays_col, "streams": streams_col, "minutes": ms_col, "credit": credit_col}[by]
    # Credit ranks streams (weighted): then plain streams break a tie, as Spotify would.
    rest = [c for c in ((streams_col,) if by == "credit" else ()) + (plays_col, ms_col) if c is not first]
    return [first.desc(), *(c.desc() for c in rest), *tiebreak]


def doubled_credit(streams: Any, main_streams: Any) -> Any:
    """Twice the weighted artist credit, an integer: main streams x 2, featured streams x 1.

    Credit = main_streams + FEATURED_WEIGHT x featured_streams; doubled it stays integer
    arithmetic on both databases (no float ordering), and featured = streams - main_streams.
    """
    return streams + main_streams


def credit_value(streams: Any, main_streams: Any) -> float:
    """The weighted credit (see `doubled_credit`) as a number for JSON."""
    main = int(main_streams or 0)
    return main + FEATURED_WEIGHT * (int(streams or 0) - main)


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ReportError(f"limit must be at least 1, not {limit}")


def _source(conn: Connection, scope: Scope, source: FromClause | None) -> FromClause:
    """Per-track sums: the given (materialised) table, else the aggregate as a subquery."""
    return source if source is not None else per_track_of(conn, scope).subquery("per_track")


def top_artists(
    conn: Connection, scope: Scope, *, by: By = "plays", limit: int = 10, source: FromClause | None = None
) -> list[dict[str, Any]]:
    """Artists by plays (or streams/minutes/credit), every credited artist counted, main and
    featured apart. `by="credit"`: streams weighted 1 as main artist, FEATURED_WEIGHT as featured.

    A play credits each artist of its track once: position 0 as main artist, others as featured.
    `source`: per-track sums of `scope` already materialised (see `scope.materialized`).
    """
    _check_limit(limit)
    if source is None:
        pa = per_artist_of(conn, scope).subquery("per_artist")
    else:
        pa = per_artist(source).subquery("per_artist")
    return top_artists_from(conn, pa, by=by, limit=limit)


def per_artist_of(conn: Connection, scope: Scope, *, names: bool = True) -> Select[Any]:
    """`per_artist` of the scope's per-track sums, from `artist_totals` when the summaries cover
    the scope (brapped.insights.rollups): the same columns and numbers, thousands of rows read.

    `names=False`: without the `name` column, when the sums are all that is needed (a rank): from
    the summaries, no lookup of every artist's name.
    """
    found = rollups.covering(conn, scope)
    if found is None:
        return per_artist(per_track_of(conn, scope).subquery("per_track"))
    later = per_artist(per_track(rollups.recent(scope, found)).subquery("later_track")).subquery("later")
    merged_rows = rollups.merged(artist_totals, "artist_id", ARTIST_SUMS, later, scope)
    if not names:
        return merged_rows
    merged = merged_rows.subquery("merged")
    return select(
        merged.c.artist_id, artists.c.name.label("name"), *(merged.c[c] for c in ARTIST_SUMS)
    ).select_from(merged.join(artists, artists.c.id == merged.c.artist_id))


def per_album_of(conn: Connection, scope: Scope) -> Select[Any]:
    """`per_album` of the scope's per-track sums, from `album_totals` when the summaries cover the
    scope; then without the NULL album (tracks not resolved yet), which no report shows or counts."""
    found = rollups.covering(conn, scope)
    if found is None:
        return per_album(per_track_of(conn, scope).subquery("per_track"))
    rows = per_album(per_track(rollups.recent(scope, found)).subquery("later_track")).subquery("rows")
    # Tracks not resolved yet sum up under a NULL album: nothing any report shows or counts.
    later = select(rows).where(rows.c.album_id.is_not(None)).subquery("later")
    return rollups.merged(album_totals, "album_id", ALBUM_SUMS, later, scope)


def top_artists_from(
    conn: Connection, pa: FromClause, *, by: By = "plays", limit: int = 10
) -> list[dict[str, Any]]:
    """`top_artists` from per-artist sums `pa` (`per_artist(...)`, possibly materialised)."""
    _check_limit(limit)
    query = (
        select(
            pa.c.artist_id.label("id"),
            pa.c.name,
            pa.c.plays,
            pa.c.streams,
            pa.c.ms_played,
            pa.c.main_plays,
            pa.c.featured_plays,
            pa.c.main_ms,
            pa.c.featured_ms,
            pa.c.main_streams,
        )
        .order_by(
            *_order(
                by,
                pa.c.plays,
                pa.c.streams,
                pa.c.ms_played,
                by_codepoint(pa.c.name),
                by_codepoint(pa.c.artist_id),
                credit_col=doubled_credit(pa.c.streams, pa.c.main_streams),
            )
        )
        .limit(limit)
    )
    return [artist_row(row._mapping, rank) for rank, row in enumerate(conn.execute(query), 1)]


def artist_row(m: Any, rank: int | None = None) -> dict[str, Any]:
    """The JSON shape of one artist statistic (see docs/reports.md)."""
    row: dict[str, Any] = {"rank": rank} if rank is not None else {}
    row.update(
        id=m["id"],
        name=m["name"],
        plays=int(m["plays"]),
        streams=int(m["streams"] or 0),
        minutes=minutes(m["ms_played"]),
        ms_played=int(m["ms_played"] or 0),
        main_plays=int(m["main_plays"] or 0),
        featured_plays=int(m["featured_plays"] or 0),
        main_minutes=minutes(m["main_ms"]),
        featured_minutes=minutes(m["featured_ms"]),
    )
    if "main_streams" in m:
        row["main_streams"] = int(m["main_streams"] or 0)
        row["credit"] = credit_value(m["streams"], m["main_streams"])
    return row


def track_query(scope: Scope, source: FromClause | None = None) -> Select[Any]:
    """Per-track sums with the track's name and album (one row per track played in the scope)."""
    pt = source if source is not None else per_track(scope).subquery("per_track")
    return select(
        tracks.c.id,
        tracks.c.name,
        tracks.c.album_id,
        albums.c.name.label("album_name"),
        pt.c.plays,
        pt.c.streams,
        pt.c.ms_played,
    ).select_from(
        pt.join(tracks, tracks.c.id == pt.c.track_id).outerjoin(albums, albums.c.id == tracks.c.album_id)
    )


def top_tracks(
    conn: Connection, scope: Scope, *, by: By = "plays", limit: int = 10, source: FromClause | None = None
) -> list[dict[str, Any]]:
    """Tracks by plays (or streams/minutes), each with all its credited artists.

    `source`: the scope's per-track sums already materialised; then only the rows that can make
    the list are joined to names and albums (`_contenders`).
    """
    _check_limit(limit)
    if source is not None:
        source = _contenders(conn, source, by, limit)
    sub = track_query(scope, _source(conn, scope, source)).subquery()
    query = (
        select(sub)
        .order_by(
            *_order(
                by,
                sub.c.plays,
                sub.c.streams,
                sub.c.ms_played,
                by_codepoint(sub.c.name),
                by_codepoint(sub.c.id),
            )
        )
        .limit(limit)
    )
    rows = [row._mapping for row in conn.execute(query)]
    return track_rows(conn, rows)


def _contenders(conn: Connection, pt: FromClause, by: By, limit: int) -> FromClause:
    """The rows of per-track sums `pt` that can be among the top `limit`: those whose counts are at
    least the `limit`-th row's. Only ties on every count are left for the names to order, so the
    list is the same as ordering every row, but thousands of rows skip the joins."""
    order = _order(by, pt.c.plays, pt.c.streams, pt.c.ms_played)
    keys = [c.element for c in order]  # the counts, without DESC
    cutoff = conn.execute(select(*keys).order_by(*order).offset(limit - 1).limit(1)).first()
    if cutoff is None:  # fewer rows than the list holds
        return pt
    return select(pt).where(tuple_(*keys) >= tuple_(*cutoff)).subquery("contenders")


def track_rows(conn: Connection, rows: list[Any], first_rank: int = 1) -> list[dict[str, Any]]:
    """The JSON shape of track statistics (see docs/reports.md), artists looked up in one query."""
    credits = track_credits(conn, (m["id"] for m in rows))
    return [
        {
            "rank": rank,
            "id": m["id"],
            "name": m["name"],
            "artists": credits[m["id"]],
            "album": {"id": m["album_id"], "name": m["album_name"]} if m["album_id"] else None,
            "plays": int(m["plays"]),
            "streams": int(m["streams"] or 0),
            "minutes": minutes(m["ms_played"]),
            "ms_played": int(m["ms_played"] or 0),
        }
        for rank, m in enumerate(rows, first_rank)
    ]


def top_albums(
    conn: Connection,
    scope: Scope,
    *,
    by: By = "plays",
    limit: int = 10,
    source: FromClause | None = None,
    album_source: FromClause | None = None,
) -> list[dict[str, Any]]:
    """Albums by plays of their tracks (or streams/minutes).

    `album_source`: the scope's per-album sums (`per_album`) already materialised.
    """
    _check_limit(limit)
    if album_source is None:
        album_source = (per_album(source) if source is not None else per_album_of(conn, scope)).subquery(
            "per_album"
        )
    pal = album_source
    query = (
        select(albums.c.id, albums.c.name, albums.c.release_date, pal.c.plays, pal.c.streams, pal.c.ms_played)
        .select_from(pal.join(albums, albums.c.id == pal.c.album_id))
        .order_by(
            *_order(
                by,
                pal.c.plays,
                pal.c.streams,
                pal.c.ms_played,
                by_codepoint(albums.c.name),
                by_codepoint(albums.c.id),
            )
        )
        .limit(limit)
    )
    rows = [row._mapping for row in conn.execute(query)]
    credits = album_credits(conn, (m["id"] for m in rows))
    return [
        {
            "rank": rank,
            "id": m["id"],
            "name": m["name"],
            "artists": credits[m["id"]],
            "release_date": m["release_date"],
            "plays": int(m["plays"]),
            "streams": int(m["streams"] or 0),
            "minutes": minutes(m["ms_played"]),
            "ms_played": int(m["ms_played"] or 0),
        }
        for rank, m in enumerate(rows, 1)
    ]


def top_genres(
    conn: Connection,
    scope: Scope,
    *,
    by: By = "plays",
    limit: int = 10,
    source: FromClause | None = None,
    artist_source: FromClause | None = None,
) -> list[dict[str, Any]]:
    """Genres of the main artist of each play (plays whose main artist has no known genre, or is
    Various Artists: none).

    `artist_source`: the scope's per-artist sums (`per_artist`) already materialised: their main
    credits' plays, streams and ms are the genre sums, without joining every track to its credits.
    Otherwise from `source` or the scope's per-artist sums (`per_artist_of`).
    """
    _check_limit(limit)
    pa: FromClause = (
        artist_source
        if artist_source is not None
        else (
            (per_artist(source) if source is not None else per_artist_of(conn, scope)).subquery("per_artist")
        )
    )
    n_plays = func.sum(pa.c.main_plays).label("plays")
    n_streams = func.sum(pa.c.main_streams).label("streams")
    total_ms = func.sum(pa.c.main_ms).label("ms_played")
    query = (
        select(artist_genres.c.genre, n_plays, n_streams, total_ms)
        .select_from(pa.join(artist_genres, artist_genres.c.artist_id == pa.c.artist_id))
        .where(pa.c.main_plays > 0)
        .group_by(artist_genres.c.genre)
        .order_by(*_order(by, n_plays, n_streams, total_ms, by_codepoint(artist_genres.c.genre)))
        .limit(limit)
    )
    return [
        {
            "rank": rank,
            "genre": m["genre"],
            "plays": int(m["plays"]),
            "streams": int(m["streams"] or 0),
            "minutes": minutes(m["ms_played"]),
            "ms_played": int(m["ms_played"] or 0),
        }
        for rank, m in enumerate((row._mapping for row in conn.execute(query)), 1)
    ]


def top_countries(
    conn: Connection,
    scope: Scope,
    *,
    by: By = "plays",
    limit: int = 10,
    source: FromClause | None = None,
    artist_source: FromClause | None = None,
) -> list[dict[str, Any]]:
    """Where the main artist of each play comes from: MusicBrainz's `country` (ISO 3166-1), with how
    many of those artists you played; plays whose main artist has no known country count for none.
    `source` and `artist_source` as for `top_genres`."""
    _check_limit(limit)
    pa: FromClause = (
        artist_source
        if artist_source is not None
        else (
            (per_artist(source) if source is not None else per_artist_of(conn, scope)).subquery("per_artist")
        )
    )
    mb = musicbrainz_artists
    n_plays = func.sum(pa.c.main_plays).label("plays")
    n_streams = func.sum(pa.c.main_streams).label("streams")
    total_ms = func.sum(pa.c.main_ms).label("ms_played")
    n_artists = func.count(func.distinct(mb.c.artist_id)).label("artists")
    query = (
        select(mb.c.country, n_plays, n_streams, total_ms, n_artists)
        .select_from(pa.join(mb, mb.c.artist_id == pa.c.artist_id))
        .where(pa.c.main_plays > 0, mb.c.country.is_not(None))
        .group_by(mb.c.country)
        .order_by(*_order(by, n_plays, n_streams, total_ms, by_codepoint(mb.c.country)))
        .limit(limit)
    )
    return [
        {
            "rank": rank,
            "country": m["country"],
            "artists": int(m["artists"]),
            "plays": int(m["plays"]),
            "streams": int(m["streams"] or 0),
            "minutes": minutes(m["ms_played"]),
            "ms_played": int(m["ms_played"] or 0),
        }
        for rank, m in enumerate((row._mapping for row in conn.execute(query)), 1)
    ]


def genre_coverage(conn: Connection, scope: Scope) -> dict[str, Any]:
    """How many of the scope's plays have a main artist with a known genre: `plays`,
    `plays_with_genres` and `share` (0..1, None without plays), so a genre list can say honestly how
    much of the listening it covers."""
    pa = per_artist_of(conn, scope, names=False).subquery("per_artist")
    known = exists().where(artist_genres.c.artist_id == pa.c.artist_id)
    with_genres = int(conn.execute(select(func.sum(case((known, pa.c.main_plays), else_=0)))).scalar() or 0)
    # Every play of the scope: those of Various Artists (not in per_artist) and of tracks without
    # a credit are among the plays the genres leave out, not outside the count.
    pt = per_track_of(conn, scope, columns=("plays",)).subquery("per_track")
    total = int(conn.execute(select(func.sum(pt.c.plays))).scalar() or 0)
    return {"plays": total, "plays_with_genres": with_genres, "share": ratio(with_genres, total)}


def top(
    conn: Connection,
    kind: Kind,
    scope: Scope,
    *,
    by: By = "plays",
    limit: int = 10,
    source: FromClause | None = None,
) -> list[dict[str, Any]]:
    """The top list of `kind` ('artists', 'tracks', 'albums', 'genres', 'countries')."""
    functions = {
        "artists": top_artists,
        "tracks": top_tracks,
        "albums": top_albums,
        "genres": top_genres,
        "countries": top_countries,
    }
    if kind not in functions:
        raise ReportError(f"unknown list {kind!r}: use artists, tracks, albums, genres or countries")
    return functions[kind](conn, scope, by=by, limit=limit, source=source)
