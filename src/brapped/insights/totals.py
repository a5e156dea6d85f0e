"""Numbers several reports show: totals, discoveries, spoken word, the first play."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, FromClause, Select, func, select

from brapped.insights.aggregates import per_artist, per_track, track_credits
from brapped.insights.rollups import per_track_of
from brapped.insights.scope import (
    Scope,
    by_codepoint,
    credit_not_various,
    minutes,
    not_various_artists,
    ratio,
)
from brapped.store.tables import artists, episode_plays, episodes, plays, track_artists, tracks


def totals(
    conn: Connection,
    scope: Scope,
    *,
    source: FromClause | None = None,
    artist_source: FromClause | None = None,
    album_source: FromClause | None = None,
) -> dict[str, Any]:
    """Plays, streams, listening time (measured vs estimated) and distinct tracks/albums/artists.

    `source`: the scope's per-track sums already materialised (`scope.materialized(per_track(...))`);
    `artist_source` / `album_source`: its per-artist / per-album sums (`per_artist(source)`,
    `per_album(source)`) already materialised.
    """
    pt = source if source is not None else per_track_of(conn, scope).subquery("per_track")
    row = (
        conn.execute(
            select(
                func.count().label("distinct_tracks"),
                func.coalesce(func.sum(pt.c.plays), 0).label("plays"),
                func.coalesce(func.sum(pt.c.streams), 0).label("streams"),
                func.coalesce(func.sum(pt.c.ms_played), 0).label("ms_played"),
                func.coalesce(func.sum(pt.c.measured_ms), 0).label("measured_ms"),
                func.coalesce(func.sum(pt.c.estimated_ms), 0).label("estimated_ms"),
                func.coalesce(func.sum(pt.c.unknown_plays), 0).label("unknown_plays"),
            ).select_from(pt)
        )
        .one()
        ._mapping
    )
    distinct_albums = conn.execute(
        select(func.count(album_source.c.album_id))  # one row per album (and NULL: no album yet)
        if album_source is not None
        else select(func.count(func.distinct(tracks.c.album_id))).select_from(
            pt.join(tracks, tracks.c.id == pt.c.track_id)
        )
    ).scalar_one()
    distinct_artists = conn.execute(
        select(func.count()).select_from(artist_source)
        if artist_source is not None
        else select(func.count(func.distinct(track_artists.c.artist_id)))
        .select_from(
            pt.join(track_artists, track_artists.c.track_id == pt.c.track_id).join(
                artists, artists.c.id == track_artists.c.artist_id
            )
        )
        .where(not_various_artists())
    ).scalar_one()
    total_ms = int(row["ms_played"])
    # ms_played_source NULL with a value (older rows) counts as measured: it came with the play.
    other_ms = total_ms - int(row["measured_ms"]) - int(row["estimated_ms"])
    return {
        "minutes_listened": minutes(total_ms),
        "ms_played": total_ms,
        "plays": int(row["plays"]),
        "streams": int(row["streams"]),
        "distinct_tracks": int(row["distinct_tracks"]),
        "distinct_artists": int(distinct_artists),
        "distinct_albums": int(distinct_albums),
        "time_sources": {
            "measured_minutes": minutes(int(row["measured_ms"]) + other_ms),
            "estimated_minutes": minutes(int(row["estimated_ms"])),
            "estimated_share": ratio(int(row["estimated_ms"]), total_ms),
            "unknown_plays": int(row["unknown_plays"]),
        },
    }


COMPARED = ("minutes_listened", "plays", "streams", "distinct_tracks", "distinct_artists")


def compared_totals(conn: Connection, scope: Scope) -> dict[str, Any]:
    """The COMPARED figures of `totals` (what Wrapped sets against the previous period) and the
    exact `ms_played` its change in minutes is worked out from, in one
    statement: the scope's plays summed per track once (a CTE both parts read), then counted, and
    joined to the credits for the artists. Various Artists is left out by id (a few rows), not by
    a lookup of every credit's artist name.
    """
    pt = (
        per_track(scope)  # its WHERE and grouping (a long range read in track order on SQLite)
        .with_only_columns(
            plays.c.track_id.label("track_id"),
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(scope.ms()).label("ms_played"),
        )
        .cte("compared_track")
    )
    credited = (
        select(track_artists.c.artist_id)
        .select_from(pt.join(track_artists, track_artists.c.track_id == pt.c.track_id))
        .where(credit_not_various())
        .distinct()  # then counted: PostgreSQL sorts for COUNT(DISTINCT), hashes for DISTINCT
        .subquery("credited")
    )
    distinct_artists = select(func.count()).select_from(credited).scalar_subquery()
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(pt.c.plays), 0),
            func.coalesce(func.sum(pt.c.streams), 0),
            func.coalesce(func.sum(pt.c.ms_played), 0),
            distinct_artists,
        ).select_from(pt)
    ).one()
    return {
        "minutes_listened": minutes(row[3]),
        "ms_played": int(row[3]),  # what the change in minutes is worked out from, unrounded
        "plays": int(row[1]),
        "streams": int(row[2]),
        "distinct_tracks": int(row[0]),
        "distinct_artists": int(row[4]),
    }


def sums(conn: Connection, scope: Scope) -> dict[str, int]:
    """Just plays, streams and milliseconds of the scope: one pass, no joins."""
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(scope.is_stream()), 0),
            func.coalesce(func.sum(scope.ms()), 0),
        ).where(scope.where())
    ).one()
    return {"plays": int(row[0]), "streams": int(row[1]), "ms_played": int(row[2])}


def first_play_of(track_id: Any, scope: Scope) -> Any:
    """When `track_id` was first played (by the scope's account, at any time): a scalar subquery."""
    earlier = plays.alias("earlier")
    conditions = [earlier.c.track_id == track_id]
    if scope.user_id is not None:
        # `|| ''` keeps SQLite on the (track_id, played_at) index (see `new_artists`).
        conditions.append(earlier.c.user_id.concat("") == scope.user_id)
    return select(func.min(earlier.c.played_at)).where(*conditions).scalar_subquery()


def new_tracks(conn: Connection, scope: Scope, *, limit: int = 5) -> tuple[int, list[dict[str, Any]]]:
    """Tracks first ever played inside the scope: (how many, the most played of them)."""
    assert scope.start is not None
    before = first_play_of(plays.c.track_id, scope) < scope.start
    sub = (
        select(
            tracks.c.id,
            tracks.c.name,
            func.count().label("plays"),
            func.sum(scope.ms()).label("ms_played"),
        )
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .where(scope.where(), ~before)
        .group_by(tracks.c.id, tracks.c.name)
        .subquery()
    )
    count = int(conn.execute(select(func.count()).select_from(sub)).scalar_one())
    rows = conn.execute(
        select(sub)
        .order_by(
            sub.c.plays.desc(), sub.c.ms_played.desc(), by_codepoint(sub.c.name), by_codepoint(sub.c.id)
        )
        .limit(limit)
    ).all()
    credits = track_credits(conn, (r.id for r in rows))
    return count, [
        {
            "id": r.id,
            "name": r.name,
            "artists": credits[r.id],
            "plays": int(r.plays),
            "minutes": minutes(r.ms_played),
        }
        for r in rows
    ]


def new_artists(
    conn: Connection,
    scope: Scope,
    *,
    limit: int = 5,
    source: FromClause | None = None,
    artist_source: FromClause | None = None,
    earlier_artists: FromClause | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Artists (any credit) first ever played inside the scope: (how many, the most played of them).

    `source` / `artist_source`: the scope's per-track / per-artist sums already materialised;
    `earlier_artists`: the per-artist sums of its account's plays before it
    (`earlier.earlier_per_artist`), materialised: the old artists, at hand.
    """
    assert scope.start is not None
    if artist_source is not None:
        sub = artist_source
    else:
        pt = source if source is not None else per_track_of(conn, scope).subquery("per_track")
        sub = per_artist(pt).subquery("per_artist")
    if earlier_artists is not None:
        old = select(earlier_artists.c.artist_id)
        return _ranked_new(conn, select(sub).where(sub.c.artist_id.not_in(old)), limit)
    # An artist is old when any of its tracks has a play before the scope. Asked per artist as
    # "one such play, LIMIT 1": the search stops at the first old track (most artists of a long
    # history are old at their first track), each track one probe of the (track_id, played_at)
    # index; a scalar subquery so that neither database turns it into a join over every earlier play.
    credit = track_artists.alias("credit")
    older = plays.alias("earlier")
    conditions = [
        credit.c.artist_id == sub.c.artist_id,
        older.c.track_id == credit.c.track_id,
        older.c.played_at < scope.start,
    ]
    if scope.user_id is not None:
        # `|| ''`: with a plain equality SQLite probes the (user_id, played_at, ...) index and reads
        # every earlier play of the account per artist, instead of the few of the track.
        conditions.append(older.c.user_id.concat("") == scope.user_id)
    earlier_play = (
        select(older.c.track_id)
        .select_from(credit.join(older, older.c.track_id == credit.c.track_id))
        .where(*conditions)
        .limit(1)
        .scalar_subquery()
    )
    return _ranked_new(conn, select(sub).where(earlier_play.is_(None)), limit)


def _ranked_new(conn: Connection, query: Select[Any], limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many artists `query` (per-artist sums) gives, and the `limit` most played of them."""
    new = query.subquery()
    # One pass: all new artists in rank order (hundreds at most in a year), counted here.
    rows = conn.execute(
        select(new).order_by(
            new.c.plays.desc(),
            new.c.ms_played.desc(),
            by_codepoint(new.c.name),
            by_codepoint(new.c.artist_id),
        )
    ).all()
    return len(rows), [
        {"id": r.artist_id, "name": r.name, "plays": int(r.plays), "minutes": minutes(r.ms_played)}
        for r in rows[:limit]
    ]


def spoken_word(conn: Connection, scope: Scope, *, limit: int = 5) -> dict[str, Any]:
    """Podcasts and audiobooks, reported apart from music: minutes, plays, top shows/books."""
    ms = func.coalesce(episode_plays.c.ms_played, 0)
    where = scope.where(episode_plays)
    result: dict[str, Any] = {}
    for kind, key in (("podcast", "podcasts"), ("audiobook", "audiobooks")):
        joined = episode_plays.join(episodes, episodes.c.id == episode_plays.c.episode_id)
        total = conn.execute(
            select(func.count(), func.coalesce(func.sum(ms), 0))
            .select_from(joined)
            .where(where, episodes.c.kind == kind)
        ).one()
        show = func.coalesce(episodes.c.show_name, episodes.c.name)
        n_plays = func.count().label("plays")
        total_ms = func.sum(ms).label("ms_played")
        shows = conn.execute(
            select(show.label("name"), n_plays, total_ms)
            .select_from(joined)
            .where(where, episodes.c.kind == kind)
            .group_by(show)
            .order_by(n_plays.desc(), total_ms.desc(), by_codepoint(show))
            .limit(limit)
        ).all()
        result[key] = {
            "plays": int(total[0]),
            "minutes": minutes(int(total[1])),
            "top_shows": [
                {"name": s.name, "plays": int(s.plays), "minutes": minutes(s.ms_played)} for s in shows
            ],
        }
    return result


def first_play_at(conn: Connection, user_id: str | None) -> datetime | None:
    """When the scope's first music play ended (None with no plays)."""
    query = select(func.min(plays.c.played_at))
    if user_id is not None:
        query = query.where(plays.c.user_id == user_id)
    value: datetime | None = conn.execute(query).scalar_one()
    return value
