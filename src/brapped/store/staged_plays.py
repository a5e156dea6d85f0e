"""Imported plays through staging tables: a stage filled fast, then set-based SQL into the schema.

SQLite: many rows a statement into a temporary table inside the caller's transaction. PostgreSQL:
`COPY` into a temporary table (psycopg 3). From there plain `INSERT ... SELECT` statements, the
same on both databases, add the missing artists, albums, tracks, episodes and the new plays.
Everything runs in the caller's transaction, so a failure leaves nothing behind. The functions take
plain values (columns, tuples, text); `brapped.pipeline.import_rows` makes them of a file's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from brapped.serialise.bulk_rows import COPY_UNSAFE, insert_rows

MUSIC_STAGE = "import_music_stage"
MUSIC_PROFILE_STAGE = "import_music_profile_stage"
MUSIC_DIMENSION_STAGE = "import_music_dimension_stage"
EPISODE_STAGE = "import_episode_stage"
# Binding a value costs more than anything else per play, so a play is staged as its own four
# values and a number: the number of its profile, the play's few-valued fields (platform, country,
# reasons, flags) staged once each. Likewise the distinct dimension fields are staged apart.
_MUSIC_TYPES = (
    ("played_at", "TIMESTAMP"),
    ("track_id", "TEXT"),
    ("ms_played", "INTEGER"),
    ("offline_ms", "BIGINT"),
    ("reported_ms", "BIGINT"),  # an offline play moved to its real end: when the export reported it
)
_MUSIC_PROFILE_TYPES = (
    ("platform", "TEXT"),
    ("conn_country", "TEXT"),
    ("reason_start", "TEXT"),
    ("reason_end", "TEXT"),
    ("shuffle", "BOOLEAN"),
    ("skipped", "BOOLEAN"),
    ("offline", "BOOLEAN"),
    ("incognito", "BOOLEAN"),
    ("ip_addr", "TEXT"),
    ("user_agent", "TEXT"),
)
_MUSIC_STAGE_TYPES = (*_MUSIC_TYPES, ("profile", "INTEGER"))
_MUSIC_PROFILE_STAGE_TYPES = (("profile", "INTEGER"), *_MUSIC_PROFILE_TYPES)
_MUSIC_DIMENSION_TYPES = (
    ("track_id", "TEXT"),
    ("track_name", "TEXT"),
    ("artist_id", "TEXT"),
    ("artist_name", "TEXT"),
    ("album_id", "TEXT"),
    ("album_name", "TEXT"),
    ("uri", "TEXT"),
)
_EPISODE_TYPES = (
    ("played_at", "TIMESTAMP"),
    ("episode_id", "TEXT"),
    ("kind", "TEXT"),
    ("name", "TEXT"),
    ("show_name", "TEXT"),
    ("uri", "TEXT"),
    ("show_uri", "TEXT"),
    ("ms_played", "INTEGER"),
    *_MUSIC_PROFILE_TYPES,  # an episode play keeps the same context and flags as a music play
    ("origin", "TEXT"),
)
# A play's context and flags: the columns of a profile, which `plays` and `episode_plays` store.
PLAY_FIELDS = tuple(c for c, _ in _MUSIC_PROFILE_TYPES)
# What a music play's track, album and artist are staged as, and an episode play, in order.
DIMENSION_COLUMNS = tuple(c for c, _ in _MUSIC_DIMENSION_TYPES)
EPISODE_COLUMNS = tuple(c for c, _ in _EPISODE_TYPES)


def _create_stage(conn: Connection, name: str, columns: Sequence[tuple[str, str]]) -> None:
    postgres = conn.dialect.name == "postgresql"
    # SQLite keeps instants as text in the stored form; PostgreSQL reads that text as UTC below.
    cols = ", ".join(
        f"{c} {'TIMESTAMPTZ' if postgres else 'TEXT'}" if t == "TIMESTAMP" else f"{c} {t}" for c, t in columns
    )
    if postgres:
        # A bulk load stages file after file in one transaction: a stage an earlier file made is
        # emptied, not dropped and made again (which wrote its catalog rows anew each time, late
        # in a long transaction). One round trip; the stage goes at commit.
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({cols}) ON COMMIT DROP; TRUNCATE {name}"
        )
        return
    # A bulk load stages file after file in one transaction: the previous file's table may be there
    # (or one whose drop a rolled-back savepoint undid, which `_held` does not know of), and is
    # emptied rather than made again: each drop and create changed the schema, and every statement
    # prepared on the connection was prepared anew after it (docs/decisions.md).
    _held(conn).add(name)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({cols})")
    conn.exec_driver_sql(f"DELETE FROM {_temp(conn)}.{name}")


def _temp(conn: Connection) -> str:
    """The schema of the connection's temporary tables."""
    return "pg_temp" if conn.dialect.name == "postgresql" else "temp"


@contextmanager
def raw_errors(conn: Connection, statement: str) -> Iterator[None]:
    """Errors of the driver's own calls (COPY, a worker's staging image) raised as SQLAlchemy's, as
    those of `execute` are: the import rolls back the file and reports it, instead of stopping on a
    psycopg or sqlite3 error."""
    dbapi: Any = conn.dialect.dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _fill_stage(
    conn: Connection, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]
) -> None:
    if conn.dialect.name == "postgresql":
        # The stored text has no zone: make the session's zone UTC for this transaction.
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    fill_table(conn, name, [c for c, _ in columns], rows)


def fill_table(conn: Connection, name: str, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Append `rows` to table `name`, whose columns are `names` in that order: COPY on PostgreSQL,
    many rows a statement on SQLite."""
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        statement = f"COPY {name} ({', '.join(names)}) FROM STDIN"
        with raw_errors(conn, statement), raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    # The stage's columns are `columns`, in order.
    insert_rows(conn.connection.dbapi_connection, name, len(names), rows)


def _copy_text(conn: Connection, name: str, columns: str, payload: str) -> None:
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    raw: Any = conn.connection.dbapi_connection
    statement = f"COPY {name} ({columns}) FROM STDIN"
    with raw_errors(conn, statement), raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(payload)


def stage_music(
    conn: Connection,
    profiles: Iterable[Sequence[Any]],
    played_at: Sequence[str],
    track_id: Sequence[str],
    ms_played: Sequence[int],
    offline_ms: Sequence[int | None],
    profile: Sequence[int],
    reported_ms: Sequence[int | None],
) -> None:
    """Put music plays to load into staging: their `profiles` (each its number and the values of
    `PLAY_FIELDS`), then the plays a column at a time, each with its profile's number."""
    _create_stage(conn, MUSIC_PROFILE_STAGE, _MUSIC_PROFILE_STAGE_TYPES)
    _fill_stage(conn, MUSIC_PROFILE_STAGE, _MUSIC_PROFILE_STAGE_TYPES, profiles)
    _create_stage(conn, MUSIC_STAGE, _MUSIC_STAGE_TYPES)
    if played_at and conn.dialect.name == "postgresql" and not COPY_UNSAFE.search("".join(track_id)):
        # COPY's text form built by joins (C speed) instead of a write_row call per play: these
        # columns hold numbers, the stored time form and ids, none of which COPY would escape.
        lines = zip(
            played_at,
            track_id,
            map(str, ms_played),
            map(str, profile),
            _copy_numbers(offline_ms),
            _copy_numbers(reported_ms),
            strict=True,
        )
        payload = "\n".join(map("\t".join, lines)) + "\n"
        _copy_text(
            conn, MUSIC_STAGE, "played_at, track_id, ms_played, profile, offline_ms, reported_ms", payload
        )
    elif played_at:
        _fill_stage(
            conn,
            MUSIC_STAGE,
            _MUSIC_STAGE_TYPES,
            zip(played_at, track_id, ms_played, offline_ms, reported_ms, profile, strict=True),
        )


def _copy_numbers(values: Sequence[int | None]) -> list[str]:
    """Whole numbers, or null, in COPY's text form: at C speed when none or all are absent."""
    absent = values.count(None)
    if not absent:
        return list(map(str, values))
    if absent == len(values):
        return ["\\N"] * absent
    return ["\\N" if v is None else str(v) for v in values]


def stage_music_dimensions(conn: Connection, fields: Iterable[Sequence[Any]]) -> None:
    """Put distinct track, album and artist fields (each the values of `DIMENSION_COLUMNS`) into
    staging."""
    _create_stage(conn, MUSIC_DIMENSION_STAGE, _MUSIC_DIMENSION_TYPES)
    _fill_stage(conn, MUSIC_DIMENSION_STAGE, _MUSIC_DIMENSION_TYPES, fields)


def stage_episodes(conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Put the episode plays to load (each the values of `EPISODE_COLUMNS`) into staging."""
    _create_stage(conn, EPISODE_STAGE, _EPISODE_TYPES)
    _fill_stage(conn, EPISODE_STAGE, _EPISODE_TYPES, rows)


_STAGES = (MUSIC_STAGE, MUSIC_PROFILE_STAGE, MUSIC_DIMENSION_STAGE, EPISODE_STAGE)


def drop_stages(conn: Connection, images: bool = False) -> None:
    """Remove the staging tables (SQLite; PostgreSQL drops them at commit and empties a reused one):
    at the end of a file's transaction, or of a bulk load, whose files reuse them. `images`: only
    those named as a worker's staging image names its tables, which would hide the image's.

    Only those this connection made since it last dropped them: a bulk load of many small files
    otherwise spent a statement a stage it never made, twice a file."""
    if conn.dialect.name == "postgresql":
        return
    held = _held(conn)
    names = (MUSIC_STAGE, MUSIC_PROFILE_STAGE) if images else _STAGES
    for name in names:
        if name in held:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_temp(conn)}.{name}")
            held.discard(name)


_HELD_STAGES = "brapped_held_stages"


def _held(conn: Connection) -> set[str]:
    """The temporary stages (SQLite) the connection may hold: those it made and has not dropped.
    A stage made in a savepoint rolled back since is gone but still named here, which only costs
    a drop of nothing."""
    held: set[str] = conn.info.setdefault(_HELD_STAGES, set())
    return held


# The schema a worker's staging image (`brapped.imports.staging.sqlite_image`) is attached as: a
# database in memory, replaced by each file's image (SQLite cannot detach it inside the import's
# transaction, nor attach more than ten).
IMAGE = "import_image"
_IMAGE_ATTACHED = "brapped_import_image"


def load_image(conn: Connection, image: bytes) -> None:
    """Put a worker's staging image under the schema `IMAGE` (SQLite), replacing the previous one."""
    raw: Any = conn.connection.dbapi_connection
    with raw_errors(conn, f"ATTACH DATABASE ':memory:' AS {IMAGE}"):
        if not conn.info.get(_IMAGE_ATTACHED):
            raw.execute(f"ATTACH DATABASE ':memory:' AS {IMAGE}")
            conn.info[_IMAGE_ATTACHED] = True
        raw.deserialize(image, name=IMAGE)


def detach_image(conn: Connection) -> None:
    """Drop the image schema, if `load_image` attached one; outside any transaction."""
    if conn.info.pop(_IMAGE_ATTACHED, False):
        conn.connection.dbapi_connection.execute(f"DETACH DATABASE {IMAGE}")  # type: ignore[union-attr]


def copies_new_plays(conn: Connection) -> bool:
    """Whether `copy_plays` can load plays here (PostgreSQL's COPY)."""
    return conn.dialect.name == "postgresql"


def copy_plays(conn: Connection, columns: Sequence[str], payload: str) -> int:
    """COPY plays given in COPY's text form, each the values of `columns`, straight into `plays`
    (PostgreSQL); returns plays copied.

    For a bulk load only, and only plays no stored play can collide with: COPY knows no
    `ON CONFLICT`, so a play already stored under the same key would fail the whole file. The
    caller knows none can be there when nothing of the user's is stored in the plays' period.
    Against staging and `INSERT ... SELECT ... ON CONFLICT` this saves the stage's write and read,
    the join with the profiles and the speculative insertion per play.
    """
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    raw: Any = conn.connection.dbapi_connection
    statement = f"COPY plays ({', '.join(columns)}) FROM STDIN"
    with raw_errors(conn, statement), raw.cursor() as cursor:
        with cursor.copy(statement) as copy:
            copy.write(payload)
        return int(cursor.rowcount)


# Typed, because PostgreSQL must infer one type for a parameter used in two places.
_USER = "CAST(:user_id AS VARCHAR(64))"
_PLAY_FIELDS = ", ".join(PLAY_FIELDS)


def load_music_dimensions(conn: Connection, stage: str = MUSIC_DIMENSION_STAGE) -> None:
    """Add the artists, albums and tracks the staged music names that are not stored yet.

    Only what a new track needs (an artist also for a known track without one): the names of a
    known track's album and artists are the export's, and its stored album and credits (a
    sync's real ones) stay; adding them anyway left albums and artists nothing refers to.
    `stage`: the table holding the dimension fields (`IMAGE`'s, for a worker's image)."""
    new_track = "NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = d.track_id)"
    uncredited = "NOT EXISTS (SELECT 1 FROM track_artists c WHERE c.track_id = d.track_id)"
    conn.execute(
        text(
            f"INSERT INTO artists (id, name) SELECT artist_id, MIN(artist_name) FROM {stage} d "
            f"WHERE artist_id IS NOT NULL AND {uncredited} "
            f"AND NOT EXISTS (SELECT 1 FROM artists a WHERE a.id = d.artist_id) GROUP BY artist_id"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO albums (id, name) SELECT album_id, MIN(album_name) FROM {stage} d "
            f"WHERE album_id IS NOT NULL AND {new_track} "
            f"AND NOT EXISTS (SELECT 1 FROM albums a WHERE a.id = d.album_id) GROUP BY album_id"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO album_artists (album_id, position, artist_id) "
            f"SELECT album_id, 0, MIN(artist_id) FROM {stage} d "
            f"WHERE album_id IS NOT NULL AND artist_id IS NOT NULL AND {new_track} "
            f"AND NOT EXISTS (SELECT 1 FROM album_artists a WHERE a.album_id = d.album_id) "
            f"GROUP BY album_id"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO tracks (id, name, album_id, uri, is_resolved) "
            f"SELECT track_id, MIN(track_name), MIN(album_id), MIN(uri), :unresolved FROM {stage} d "
            f"WHERE {new_track} "
            f"GROUP BY track_id"
        ),
        {"unresolved": False},
    )
    conn.execute(
        text(
            f"INSERT INTO track_artists (track_id, position, artist_id) "
            f"SELECT track_id, 0, MIN(artist_id) FROM {stage} d "
            f"WHERE artist_id IS NOT NULL AND {uncredited} "
            f"GROUP BY track_id"
        )
    )


def _instant(conn: Connection, column: str) -> str:
    """SQL for the stored instant of Unix milliseconds in `column`."""
    if conn.dialect.name == "postgresql":
        return f"to_timestamp({column} / 1000.0)"
    # %f is seconds with milliseconds: the stored text form exactly. Newer exports count whole
    # seconds: datetime() and ".000" say the same, faster.
    return (
        f"CASE WHEN {column} % 1000 = 0 THEN datetime({column} / 1000, 'unixepoch') || '.000' "
        f"ELSE strftime('%Y-%m-%d %H:%M:%f', {column} / 1000.0, 'unixepoch') END"
    )


def insert_music_plays(conn: Connection, user_id: str, schema: str | None = None, clash: bool = True) -> int:
    """Insert the staged new plays (skipping any stored meanwhile); returns plays inserted.

    `schema`: where the stages are (`IMAGE` for a worker's image; else the temporary ones).
    `clash`: whether a stored play may have a staged play's key. Without, the insert saves the
    lookup that skips one (a bulk load's files, far from any stored play: the import holds the
    write lock, and a play already stored would fail the statement, not go in twice)."""
    prefix = f"{schema}." if schema else ""
    s, p = f"{prefix}{MUSIC_STAGE}", f"{prefix}{MUSIC_PROFILE_STAGE}"
    fields = ", ".join(f"p.{c}" for c in PLAY_FIELDS)
    result = conn.execute(
        text(
            f"INSERT INTO plays (user_id, played_at, track_id, ms_played, ms_played_source, source, "
            f"offline_at, reported_at, {_PLAY_FIELDS}) "
            f"SELECT {_USER}, s.played_at, s.track_id, s.ms_played, 'export', 'export', "
            f"{_instant(conn, 's.offline_ms')}, {_instant(conn, 's.reported_ms')}, {fields} "
            # CROSS JOIN keeps SQLite's loop over the stage outermost: plays go in in file order
            # (the ids and the index appends of before); PostgreSQL plans it as any inner join.
            f"FROM {s} s CROSS JOIN {p} p WHERE p.profile = s.profile "
            # The unique key skips a play stored meanwhile.
            + ("ON CONFLICT (user_id, played_at, track_id) DO NOTHING" if clash else "")
        ),
        {"user_id": user_id},
    )
    return int(result.rowcount or 0)


def load_episode_dimensions(conn: Connection) -> None:
    """Add the staged episodes that are not stored yet."""
    s = EPISODE_STAGE
    conn.execute(
        text(
            f"INSERT INTO episodes (id, kind, name, show_name, uri, show_uri) "
            f"SELECT episode_id, MIN(kind), MIN(name), MIN(show_name), MIN(uri), MIN(show_uri) FROM {s} "
            f"WHERE NOT EXISTS (SELECT 1 FROM episodes e WHERE e.id = {s}.episode_id) "
            f"GROUP BY episode_id"
        )
    )


def insert_episode_plays(conn: Connection, user_id: str) -> int:
    """Insert the staged new episode plays; returns plays inserted."""
    s = EPISODE_STAGE
    result = conn.execute(
        text(
            f"INSERT INTO episode_plays (user_id, played_at, episode_id, ms_played, ms_played_source, "
            f"source, {_PLAY_FIELDS}) "
            f"SELECT {_USER}, played_at, episode_id, ms_played, 'export', 'export', {_PLAY_FIELDS} "
            f"FROM {s} WHERE true ON CONFLICT (user_id, played_at, episode_id) DO NOTHING"
        ),
        {"user_id": user_id},
    )
    return int(result.rowcount or 0)
