"""MusicBrainz facts in the star schema: which artists still need asking, writing what was learned
(or why an artist stays unmapped), and the coverage `status` and `enrich` report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from brapped.store.load import _insert
from brapped.store.tables import (
    artist_genres,
    artist_tags,
    artists,
    musicbrainz_artists,
    plays,
    track_artists,
)

MUSICBRAINZ = "musicbrainz"
MAPPED = "mapped"


@dataclass(frozen=True)
class ArtistToMap:
    id: str
    name: str


def artists_to_map(conn: Connection, older_than: datetime) -> list[ArtistToMap]:
    """Artists MusicBrainz was never asked about, or last asked before `older_than`; most-played
    first (plays of every credit), then by id so the order is stable between passes."""
    per_artist = (
        select(track_artists.c.artist_id.label("id"), func.count(plays.c.id).label("n"))
        .join(plays, plays.c.track_id == track_artists.c.track_id)
        .group_by(track_artists.c.artist_id)
        .subquery()
    )
    mb = musicbrainz_artists
    query = (
        select(artists.c.id, artists.c.name)
        .outerjoin(per_artist, per_artist.c.id == artists.c.id)
        .outerjoin(mb, mb.c.artist_id == artists.c.id)
        .where(or_(mb.c.artist_id.is_(None), mb.c.fetched_at < older_than))
        .order_by(func.coalesce(per_artist.c.n, 0).desc(), artists.c.id)
    )
    return [ArtistToMap(str(row.id), str(row.name)) for row in conn.execute(query)]


def _upsert_row(conn: Connection, row: dict[str, Any]) -> None:
    stmt = _insert(conn, musicbrainz_artists).values(row)
    columns = {k: stmt.excluded[k] for k in row if k != "artist_id"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["artist_id"], set_=columns))


def _forget_musicbrainz(conn: Connection, artist_id: str) -> None:
    conn.execute(
        delete(artist_genres).where(
            artist_genres.c.artist_id == artist_id, artist_genres.c.source == MUSICBRAINZ
        )
    )
    conn.execute(delete(artist_tags).where(artist_tags.c.artist_id == artist_id))


def write_mapped(
    conn: Connection,
    artist_id: str,
    facts: dict[str, Any],
    genres: Sequence[tuple[str, int]],
    tags: Sequence[tuple[str, int]],
    now: datetime,
) -> None:
    """Store a mapped artist's facts, replacing what MusicBrainz said before. Genres go to
    `artist_genres` (a genre Spotify already gave keeps its Spotify row); tags only when there is no
    genre, to `artist_tags`."""
    _upsert_row(
        conn, {**facts, "artist_id": artist_id, "status": MAPPED, "source": MUSICBRAINZ, "fetched_at": now}
    )
    _forget_musicbrainz(conn, artist_id)
    if genres:
        rows = [
            {
                "artist_id": artist_id,
                "genre": name[:200],
                "source": MUSICBRAINZ,
                "votes": votes,
                "fetched_at": now,
            }
            for name, votes in genres
        ]
        conn.execute(_insert(conn, artist_genres).on_conflict_do_nothing(), rows)
    elif tags:
        rows = [
            {
                "artist_id": artist_id,
                "tag": name[:200],
                "votes": votes,
                "source": MUSICBRAINZ,
                "fetched_at": now,
            }
            for name, votes in tags
        ]
        conn.execute(_insert(conn, artist_tags).on_conflict_do_nothing(), rows)


FACT_COLUMNS = (
    "mbid",
    "mapped_by",
    "name",
    "type",
    "country",
    "area",
    "begin_year",
    "end_year",
    "disambiguation",
)


def write_unmapped(conn: Connection, artist_id: str, status: str, now: datetime) -> None:
    """Record that the artist stays unmapped and why; facts an earlier mapping stored are removed."""
    _upsert_row(
        conn,
        {
            "artist_id": artist_id,
            "status": status,
            "source": MUSICBRAINZ,
            "fetched_at": now,
            **dict.fromkeys(FACT_COLUMNS),
        },
    )
    _forget_musicbrainz(conn, artist_id)


def coverage(conn: Connection) -> dict[str, Any]:
    """Artists known, mapped, with genres (any source), unmapped by reason, never asked."""
    total = int(conn.execute(select(func.count()).select_from(artists)).scalar_one())
    by_status: dict[str, int] = dict(
        conn.execute(
            select(musicbrainz_artists.c.status, func.count()).group_by(musicbrainz_artists.c.status)
        ).all()
    )
    with_genres = int(conn.execute(select(func.count(func.distinct(artist_genres.c.artist_id)))).scalar_one())
    with_tags = int(conn.execute(select(func.count(func.distinct(artist_tags.c.artist_id)))).scalar_one())
    asked = sum(by_status.values())
    return {
        "artists": total,
        "mapped": int(by_status.pop(MAPPED, 0)),
        "with_genres": with_genres,
        "with_tags_only": with_tags,
        "unmapped": {str(k): int(v) for k, v in sorted(by_status.items())},
        "not_asked": total - asked,
    }


def mark_stale(conn: Connection, artist_ids: Sequence[str], when: datetime) -> None:
    """Make these artists due for asking again (tests, and a future `--refresh`)."""
    if artist_ids:
        conn.execute(
            update(musicbrainz_artists)
            .where(musicbrainz_artists.c.artist_id.in_(list(artist_ids)))
            .values(fetched_at=when)
        )


__all__ = [
    "MAPPED",
    "MUSICBRAINZ",
    "ArtistToMap",
    "artists_to_map",
    "coverage",
    "mark_stale",
    "write_mapped",
    "write_unmapped",
]
