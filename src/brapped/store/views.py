"""SQL views for BI tools, defined once here and created by Alembic (revision 0002).

Views bucket days in UTC: SQLite has no timezone rules, and a view baked with one zone would be
wrong for every other reader of the same database. docs/bi.md shows how to get local days in each
BI tool, and `brapped export` writes a `plays_wide` file with local time already computed.

A migration that alters a table under these views on SQLite (Alembic's batch mode copies and renames
the table) must call `drop_views` before and `create_views` after, or SQLite refuses the rename.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Connection, Select, and_, case, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

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


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a UTCDateTime column as 'YYYY-MM-DD' text, on either database."""

    type = String(10)
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.fff' in UTC: the day is the first ten characters.
    return f"substr({compiler.process(next(iter(element.clauses)), **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_pg(element: utc_day, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"to_char({arg} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class utc_hour(FunctionElement[str]):
    """The UTC hour of a UTCDateTime column as 'YYYY-MM-DD HH' text, on either database."""

    type = String(13)
    inherit_cache = True


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element: utc_hour, compiler: Any, **kw: Any) -> str:
    return f"substr({compiler.process(next(iter(element.clauses)), **kw)}, 1, 13)"


@compiles(utc_hour, "postgresql")
def _utc_hour_pg(element: utc_hour, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"to_char({arg} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"


def _main_artist() -> Any:
    return track_artists.alias("main_credit")


def v_plays() -> Select[Any]:
    """One row per music play with track, album and main artist names (flat, for BI tools)."""
    credit = _main_artist()
    main = artists.alias("main_artist")
    featured = (
        select(func.count())
        .select_from(track_artists)
        .where(track_artists.c.track_id == plays.c.track_id, track_artists.c.position > 0)
        .scalar_subquery()
    )
    return select(
        plays.c.id.label("play_id"),
        plays.c.user_id,
        plays.c.played_at,
        utc_day(plays.c.played_at).label("day_utc"),
        plays.c.ms_played,
        plays.c.ms_played_source,
        plays.c.source,
        plays.c.track_id,
        tracks.c.name.label("track_name"),
        tracks.c.duration_ms,
        tracks.c.explicit,
        tracks.c.album_id,
        albums.c.name.label("album_name"),
        albums.c.release_date,
        credit.c.artist_id.label("main_artist_id"),
        main.c.name.label("main_artist_name"),
        featured.label("featured_artist_count"),
        plays.c.context_type,
        plays.c.context_uri,
        plays.c.platform,
        plays.c.conn_country,
        plays.c.reason_start,
        plays.c.reason_end,
        plays.c.shuffle,
        plays.c.skipped,
        plays.c.offline,
        plays.c.incognito,
    ).select_from(
        plays.join(tracks, tracks.c.id == plays.c.track_id)
        .outerjoin(albums, albums.c.id == tracks.c.album_id)
        .outerjoin(credit, and_(credit.c.track_id == plays.c.track_id, credit.c.position == 0))
        .outerjoin(main, main.c.id == credit.c.artist_id)
    )


def v_daily() -> Select[Any]:
    """One row per user and UTC day: plays, listening time, distinct tracks, albums and artists.

    Counted as the reports count them: unknown listening time is 0, every credited artist counts.
    """
    day = utc_day(plays.c.played_at)
    ms = func.coalesce(func.sum(func.coalesce(plays.c.ms_played, 0)), 0)
    facts = (
        select(
            plays.c.user_id,
            day.label("day_utc"),
            func.count().label("plays"),
            cast(ms, BigInteger).label("ms_played"),
            func.count(func.distinct(plays.c.track_id)).label("distinct_tracks"),
            func.count(func.distinct(tracks.c.album_id)).label("distinct_albums"),
            func.sum(case((plays.c.skipped.is_(True), 1), else_=0)).label("skipped"),
            func.min(plays.c.played_at).label("first_played_at"),
            func.max(plays.c.played_at).label("last_played_at"),
        )
        .select_from(plays.join(tracks, tracks.c.id == plays.c.track_id))
        .group_by(plays.c.user_id, day)
        .subquery("facts")
    )
    credited = (
        select(
            plays.c.user_id,
            day.label("day_utc"),
            func.count(func.distinct(track_artists.c.artist_id)).label("distinct_artists"),
        )
        .select_from(plays.join(track_artists, track_artists.c.track_id == plays.c.track_id))
        .group_by(plays.c.user_id, day)
        .subquery("credited")
    )
    return select(
        facts.c.user_id,
        facts.c.day_utc,
        facts.c.plays,
        facts.c.ms_played,
        (facts.c.ms_played / 60000.0).label("minutes_played"),
        facts.c.distinct_tracks,
        facts.c.distinct_albums,
        func.coalesce(credited.c.distinct_artists, 0).label("distinct_artists"),
        facts.c.skipped,
        facts.c.first_played_at,
        facts.c.last_played_at,
    ).select_from(
        facts.outerjoin(
            credited, and_(credited.c.user_id == facts.c.user_id, credited.c.day_utc == facts.c.day_utc)
        )
    )


def v_artist_credit() -> Select[Any]:
    """One row per play and credited artist: role 'main' (position 0) or 'featured'."""
    return select(
        plays.c.id.label("play_id"),
        plays.c.user_id,
        plays.c.played_at,
        utc_day(plays.c.played_at).label("day_utc"),
        plays.c.track_id,
        track_artists.c.artist_id,
        artists.c.name.label("artist_name"),
        track_artists.c.position,
        case((track_artists.c.position == 0, literal("main")), else_=literal("featured")).label("role"),
        plays.c.ms_played,
    ).select_from(
        plays.join(track_artists, track_artists.c.track_id == plays.c.track_id).join(
            artists, artists.c.id == track_artists.c.artist_id
        )
    )


# Creation order matters only if a view reads another; none does today.
VIEWS: dict[str, Any] = {"v_plays": v_plays, "v_daily": v_daily, "v_artist_credit": v_artist_credit}


def view_sql(name: str, dialect: Any) -> str:
    """The SELECT of view `name` compiled for `dialect`, with no bound parameters left."""
    query: Select[Any] = VIEWS[name]()
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


def create_views(conn: Connection) -> None:
    """(Re)create every view with the current definitions."""
    drop_views(conn)
    for name in VIEWS:
        # exec_driver_sql: the compiled SELECT may hold colons that text() would take for parameters.
        conn.exec_driver_sql(f"CREATE VIEW {name} AS {view_sql(name, conn.dialect)}")


def drop_views(conn: Connection) -> None:
    """Drop every view (before a migration rewrites a table they read)."""
    for name in reversed(list(VIEWS)):
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")


def view_columns(name: str) -> list[str]:
    """Column names of a view, in order (for docs and tests)."""
    query: Select[Any] = VIEWS[name]()
    return [column.name for column in query.selected_columns]


# Views over MusicBrainz facts (revision 0010). Kept apart from VIEWS: revision 0002 creates
# VIEWS with the current definitions, before these tables exist.
def v_artist_facts() -> Select[Any]:
    """One row per artist with what MusicBrainz says about it (NULLs when not asked or unmapped)."""
    mb = musicbrainz_artists
    return select(
        artists.c.id.label("artist_id"),
        artists.c.name.label("artist_name"),
        mb.c.status.label("musicbrainz_status"),
        mb.c.mbid,
        mb.c.mapped_by,
        mb.c.type.label("artist_type"),
        mb.c.country,
        mb.c.area,
        mb.c.begin_year,
        mb.c.end_year,
        mb.c.disambiguation,
        mb.c.source,
        mb.c.fetched_at,
    ).select_from(artists.outerjoin(mb, mb.c.artist_id == artists.c.id))


def v_artist_genres() -> Any:
    """One row per artist and genre, or tag (kind 'tag': only for artists with no genre)."""
    genres = select(
        artist_genres.c.artist_id,
        artist_genres.c.genre.label("name"),
        literal("genre").label("kind"),
        artist_genres.c.votes,
        artist_genres.c.source,
        artist_genres.c.fetched_at,
    )
    tags = select(
        artist_tags.c.artist_id,
        artist_tags.c.tag.label("name"),
        literal("tag").label("kind"),
        artist_tags.c.votes,
        artist_tags.c.source,
        artist_tags.c.fetched_at,
    )
    return genres.union_all(tags)


ARTIST_VIEWS: dict[str, Any] = {"v_artist_facts": v_artist_facts, "v_artist_genres": v_artist_genres}


def create_artist_views(conn: Connection) -> None:
    """(Re)create the MusicBrainz fact views."""
    drop_artist_views(conn)
    for name, build in ARTIST_VIEWS.items():
        compiled = build().compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        conn.exec_driver_sql(f"CREATE VIEW {name} AS {compiled}")


def drop_artist_views(conn: Connection) -> None:
    for name in reversed(list(ARTIST_VIEWS)):
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
