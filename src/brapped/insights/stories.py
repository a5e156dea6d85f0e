"""The story of one artist or one track: first and last play, rank, month by month, companions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from brapped.insights.aggregates import track_credits
from brapped.insights.period import LocalTime, day_to_date, zone
from brapped.insights.rollups import per_track_of
from brapped.insights.scope import (
    VARIOUS_ARTISTS_ID,
    VARIOUS_ARTISTS_NAME,
    Scope,
    by_codepoint,
    minutes,
    not_various_artists,
)
from brapped.insights.search import NotFound, resolve
from brapped.insights.top import artist_row, per_artist_of, track_query, track_rows
from brapped.store.tables import (
    albums,
    artist_genres,
    artist_tags,
    artists,
    musicbrainz_artists,
    plays,
    track_artists,
    tracks,
)


def _local(instant: datetime | None, timezone: str) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(zone(timezone)).isoformat(timespec="seconds")


def _months(
    conn: Connection,
    scope: Scope,
    timezone: str,
    first: datetime,
    last: datetime,
    *where: Any,
    join: Any = None,
) -> list[dict[str, Any]]:
    """Plays and minutes per local month between `first` and `last` (months without plays left out)."""
    local = LocalTime.of(plays.c.played_at, timezone, first, last + timedelta(seconds=1))
    source = plays if join is None else join
    inner = (
        select(local.day.label("day"), scope.ms().label("ms"), scope.is_stream().label("stream"))
        .select_from(source)
        .where(scope.where(), *where)
        .subquery()
    )
    # Summed per local day in SQL (integer arithmetic), then days into months here: formatting a
    # month per play was most of an artist page with tens of thousands of plays.
    rows = conn.execute(
        select(inner.c.day, func.count(), func.sum(inner.c.stream), func.sum(inner.c.ms)).group_by(
            inner.c.day
        )
    )
    months: dict[str, list[int]] = {}
    for day, n, streams, ms in rows:
        sums = months.setdefault(day_to_date(day).strftime("%Y-%m"), [0, 0, 0])
        sums[0] += int(n)
        sums[1] += int(streams or 0)
        sums[2] += int(ms or 0)
    return [
        {"month": m, "plays": n, "streams": s, "minutes": minutes(ms)}
        for m, (n, s, ms) in sorted(months.items())
    ]


MUSICBRAINZ_ARTIST_URL = "https://musicbrainz.org/artist/"


def _artist_facts(conn: Connection, artist_id: str, spotify_genres: list[str]) -> dict[str, Any]:
    """Genres (Spotify's, then MusicBrainz's by votes), tags only when no genre is known, and what
    MusicBrainz says of the artist (`musicbrainz`: None when it was not mapped)."""
    rows = conn.execute(
        select(artist_genres.c.genre, artist_genres.c.votes)
        .where(artist_genres.c.artist_id == artist_id)
        .order_by(
            case((artist_genres.c.source == "spotify", 0), else_=1),
            func.coalesce(artist_genres.c.votes, 0).desc(),
            artist_genres.c.genre,
        )
    ).all()
    genres = list(dict.fromkeys([*spotify_genres, *(str(r.genre) for r in rows)]))
    tags = (
        []
        if genres
        else [
            str(t)
            for t in conn.execute(
                select(artist_tags.c.tag)
                .where(artist_tags.c.artist_id == artist_id)
                .order_by(artist_tags.c.votes.desc(), artist_tags.c.tag)
            ).scalars()
        ]
    )
    mb = conn.execute(
        select(musicbrainz_artists).where(
            musicbrainz_artists.c.artist_id == artist_id, musicbrainz_artists.c.status == "mapped"
        )
    ).first()
    facts = None
    if mb is not None:
        f = mb._mapping
        facts = {
            "mbid": f["mbid"],
            "url": f"{MUSICBRAINZ_ARTIST_URL}{f['mbid']}",
            "type": f["type"],
            "country": f["country"],
            "area": f["area"],
            "begin_year": f["begin_year"],
            "end_year": f["end_year"],
            "disambiguation": f["disambiguation"],
            "fetched_at": f["fetched_at"],
        }
    return {"genres": genres, "tags": tags, "musicbrainz": facts}


def artist_story(
    conn: Connection,
    name_or_id: str,
    timezone: str,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
    limit: int = 10,
) -> dict[str, Any]:
    """Everything about one artist in your history; keys documented in docs/reports.md."""
    found = resolve(conn, "artist", name_or_id, user_id=user_id)
    artist_id = found["id"]
    scope = Scope(user_id=user_id, stream_threshold_ms=stream_threshold_ms)
    ms = scope.ms()
    main = track_artists.c.position == 0
    credited = plays.join(track_artists, track_artists.c.track_id == plays.c.track_id)
    stats = conn.execute(
        select(
            artists.c.id,
            artists.c.name,
            artists.c.genres,
            artists.c.image_url,
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(ms).label("ms_played"),
            func.sum(case((main, 1), else_=0)).label("main_plays"),
            func.sum(case((main, 0), else_=1)).label("featured_plays"),
            func.sum(case((main, ms), else_=0)).label("main_ms"),
            func.sum(case((main, 0), else_=ms)).label("featured_ms"),
            func.min(plays.c.played_at).label("first_played"),
            func.max(plays.c.played_at).label("last_played"),
        )
        .select_from(credited.join(artists, artists.c.id == track_artists.c.artist_id))
        .where(scope.where(), artists.c.id == artist_id)
        .group_by(artists.c.id, artists.c.name, artists.c.genres, artists.c.image_url)
    ).first()
    if stats is None:
        raise NotFound(f"you never played {found['name']!r}")
    m = stats._mapping
    # Rank among every artist by plays (any credit), all time: 1 + artists with more plays.
    # Per-artist sums of per-track sums (fewer rows to join than every play to its credits), read
    # from the stored sums when they are fresh (brapped.insights.rollups).
    per_artist = per_artist_of(conn, scope, names=False).subquery("per_artist")
    ahead = conn.execute(select(func.count()).where(per_artist.c.plays > int(m["plays"]))).scalar_one()
    is_various = artist_id == VARIOUS_ARTISTS_ID or str(m["name"]).lower() == VARIOUS_ARTISTS_NAME

    artist_tracks = select(track_artists.c.track_id).where(track_artists.c.artist_id == artist_id)
    # The artist's tracks' sums only: filtered inside the aggregate (SQLite does not push a filter
    # on the joined track into it, and would sum every play of the history first).
    artist_sums = per_track_of(conn, scope, artist_tracks).subquery("per_track")
    sub = track_query(scope, artist_sums).subquery()
    top_rows = conn.execute(
        select(sub)
        .order_by(
            sub.c.plays.desc(), sub.c.ms_played.desc(), by_codepoint(sub.c.name), by_codepoint(sub.c.id)
        )
        .limit(limit)
    ).all()

    mine = track_artists.alias("mine")
    other = track_artists.alias("other")
    n_plays = func.count().label("plays")
    companions = conn.execute(
        select(
            artists.c.id,
            artists.c.name,
            n_plays,
            func.count(func.distinct(plays.c.track_id)).label("tracks"),
            func.sum(case((mine.c.position == 0, 1), else_=0)).label("as_featured_guest"),
            func.sum(case((other.c.position == 0, 1), else_=0)).label("as_main_host"),
        )
        .select_from(
            plays.join(mine, and_(mine.c.track_id == plays.c.track_id, mine.c.artist_id == artist_id))
            .join(other, and_(other.c.track_id == plays.c.track_id, other.c.artist_id != artist_id))
            .join(artists, artists.c.id == other.c.artist_id)
        )
        .where(scope.where(), not_various_artists())
        .group_by(artists.c.id, artists.c.name)
        .order_by(n_plays.desc(), by_codepoint(artists.c.name), by_codepoint(artists.c.id))
        .limit(limit)
    ).all()

    genres: list[str] = []
    if m["genres"]:
        try:
            parsed = json.loads(m["genres"])
            genres = [str(g) for g in parsed] if isinstance(parsed, list) else []
        except ValueError:
            genres = []
    facts = _artist_facts(conn, artist_id, genres)
    return {
        "artist": {"id": m["id"], "name": m["name"], "image_url": m["image_url"], **facts},
        "also_matched": found["others"],
        **{k: v for k, v in artist_row(m).items() if k not in ("id", "name")},
        "rank": None if is_various else int(ahead) + 1,
        "first_played": m["first_played"],
        "last_played": m["last_played"],
        "first_played_local": _local(m["first_played"], timezone),
        "last_played_local": _local(m["last_played"], timezone),
        "timezone": timezone,
        "months": _months(
            conn,
            scope,
            timezone,
            m["first_played"],
            m["last_played"],
            track_artists.c.artist_id == artist_id,
            join=credited,
        ),
        "top_tracks": track_rows(conn, [r._mapping for r in top_rows]),
        "featured_with": [
            {
                "id": c.id,
                "name": c.name,
                "plays": int(c.plays),
                "tracks": int(c.tracks),
                # plays where this artist was main and the other featured, and the other way round
                "plays_with_them_featured": int(c.as_featured_guest),
                "plays_as_their_guest": int(c.as_main_host),
            }
            for c in companions
        ],
    }


def track_story(
    conn: Connection,
    name_or_id: str,
    timezone: str,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
) -> dict[str, Any]:
    """Everything about one track in your history; keys documented in docs/reports.md."""
    found = resolve(conn, "track", name_or_id, user_id=user_id)
    track_id = found["id"]
    scope = Scope(user_id=user_id, stream_threshold_ms=stream_threshold_ms)
    stats = conn.execute(
        select(
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(scope.ms()).label("ms_played"),
            func.sum(case((plays.c.skipped.is_(True), 1), else_=0)).label("skipped"),
            func.min(plays.c.played_at).label("first_played"),
            func.max(plays.c.played_at).label("last_played"),
        ).where(scope.where(), plays.c.track_id == track_id)
    ).one()
    if not stats.plays:
        raise NotFound(f"you never played {found['name']!r}")
    info = conn.execute(
        select(
            tracks.c.id,
            tracks.c.name,
            tracks.c.duration_ms,
            tracks.c.explicit,
            tracks.c.album_id,
            albums.c.name.label("album_name"),
            albums.c.release_date,
        )
        .select_from(tracks.outerjoin(albums, albums.c.id == tracks.c.album_id))
        .where(tracks.c.id == track_id)
    ).one()
    per_track = per_track_of(conn, scope).subquery("per_track")
    ahead = conn.execute(select(func.count()).where(per_track.c.plays > int(stats.plays))).scalar_one()

    local = LocalTime.of(
        plays.c.played_at, timezone, stats.first_played, stats.last_played + timedelta(seconds=1)
    )
    inner = (
        select(local.day.label("day"), scope.ms().label("ms"))
        .where(scope.where(), plays.c.track_id == track_id)
        .subquery()
    )
    n = func.count()
    busiest = conn.execute(
        select(inner.c.day, n.label("plays"), func.sum(inner.c.ms).label("ms_played"))
        .group_by(inner.c.day)
        .order_by(n.desc(), inner.c.day)
        .limit(1)
    ).one()
    return {
        "track": {
            "id": info.id,
            "name": info.name,
            "artists": track_credits(conn, [track_id])[track_id],
            "album": {"id": info.album_id, "name": info.album_name, "release_date": info.release_date}
            if info.album_id
            else None,
            "duration_ms": info.duration_ms,
            "explicit": info.explicit,
        },
        "also_matched": found["others"],
        "plays": int(stats.plays),
        "streams": int(stats.streams or 0),
        "minutes": minutes(stats.ms_played),
        "ms_played": int(stats.ms_played or 0),
        "skipped": int(stats.skipped or 0),
        "rank": int(ahead) + 1,
        "first_played": stats.first_played,
        "last_played": stats.last_played,
        "first_played_local": _local(stats.first_played, timezone),
        "last_played_local": _local(stats.last_played, timezone),
        "timezone": timezone,
        "busiest_day": {
            "date": day_to_date(busiest.day).isoformat(),
            "plays": int(busiest.plays),
            "minutes": minutes(busiest.ms_played),
        },
        "months": _months(
            conn, scope, timezone, stats.first_played, stats.last_played, plays.c.track_id == track_id
        ),
    }
