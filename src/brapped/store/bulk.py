"""Bulk loading of imported plays: a staging table filled fast, then set-based SQL into the schema.

SQLite: `executemany` into a temporary table inside the caller's transaction. PostgreSQL: `COPY`
into a temporary table (psycopg 3). From there plain `INSERT ... SELECT` statements, the same on
both databases, add the missing artists, albums, tracks, episodes and the new plays. Everything runs
in the caller's transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from brapped import identity
from brapped.imports import EpisodeRow, MusicColumns, MusicRow, dimension_fields, dimension_key
from brapped.imports.merge import Stored
from brapped.imports.worker import COPY_UNSAFE as _COPY_UNSAFE
from brapped.imports.worker import PLAY_FIELDS, copy_text, insert_rows
from brapped.store.tables import (
    artists,
    episode_plays,
    episodes,
    plays,
    summary_state,
    track_artists,
    tracks,
)

MUSIC_STAGE = "import_music_stage"
MUSIC_PROFILE_STAGE = "import_music_profile_stage"
MUSIC_DIMENSION_STAGE = "import_music_dimension_stage"
EPISODE_STAGE = "import_episode_stage"
# Binding a value costs more than anything else per play (about 0.25 µs each, on both drivers), so
# a play is staged as its own four values and a number: the number of its profile, the play's
# few-valued fields (platform, country, reasons, flags: a few hundred distinct combinations in a
# file of 15,000 plays) staged once each. Likewise a file repeats each track's names and ids in
# every play of it: the distinct dimension fields are staged apart. Each list names the MusicRow
# fields, in order, that its stage holds.
_MUSIC_TYPES = (
    ("played_at", "TIMESTAMP"),
    ("track_id", "TEXT"),
    ("ms_played", "INTEGER"),
    ("offline_ms", "BIGINT"),
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
_music_columns = [itemgetter(MusicRow._fields.index(c)) for c, _ in _MUSIC_TYPES]
_music_profile_fields = itemgetter(*(MusicRow._fields.index(c) for c, _ in _MUSIC_PROFILE_TYPES))
_music_dimension_fields = itemgetter(*(MusicRow._fields.index(c) for c, _ in _MUSIC_DIMENSION_TYPES))
_EPISODE_TYPES = (
    ("played_at", "TIMESTAMP"),
    ("episode_id", "TEXT"),
    ("kind", "TEXT"),
    ("name", "TEXT"),
    ("show_name", "TEXT"),
    ("uri", "TEXT"),
    ("show_uri", "TEXT"),
    ("ms_played", "INTEGER"),
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
    ("origin", "TEXT"),
)
assert [c for c, _ in _EPISODE_TYPES] == list(EpisodeRow._fields)


def _create_stage(conn: Connection, name: str, columns: Sequence[tuple[str, str]]) -> None:
    postgres = conn.dialect.name == "postgresql"
    # SQLite keeps instants as text in the stored form; PostgreSQL reads that text as UTC below.
    cols = ", ".join(
        f"{c} {'TIMESTAMPTZ' if postgres else 'TEXT'}" if t == "TIMESTAMP" else f"{c} {t}" for c, t in columns
    )
    if postgres:
        # A bulk load stages file after file in one transaction: a stage an earlier file made is
        # emptied, not dropped and made again (which wrote its catalog rows anew each time: 5 to
        # 9 ms a table on a busy machine, late in a long transaction). One round trip; the stage
        # goes at commit.
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({cols}) ON COMMIT DROP; TRUNCATE {name}"
        )
        return
    # A bulk load stages file after file in one transaction: the previous file's table may be there.
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_temp(conn)}.{name}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({cols})")


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
    names = [c for c, _ in columns]
    if conn.dialect.name == "postgresql":
        # The stored text has no zone: make the session's zone UTC for this transaction.
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
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
    conn: Connection, rows: Sequence[MusicRow], stored: Container[Dimension] | None = None
) -> list[Dimension]:
    """Put the music rows to load (new plays, and plays replacing account data) into staging.

    `stored`: dimension fields (`Dimension`) known to be loaded in this transaction already, left
    out. Returns those staged.
    """
    # Numbered in first-seen order, with C-level passes only (no Python loop per play).
    profiles = list(map(_music_profile_fields, rows))
    numbers = dict.fromkeys(profiles, 0)
    for number, profile in enumerate(numbers):
        numbers[profile] = number
    _create_stage(conn, MUSIC_PROFILE_STAGE, _MUSIC_PROFILE_STAGE_TYPES)
    _fill_stage(
        conn,
        MUSIC_PROFILE_STAGE,
        _MUSIC_PROFILE_STAGE_TYPES,
        ((number, *profile) for profile, number in numbers.items()),
    )
    _create_stage(conn, MUSIC_STAGE, _MUSIC_STAGE_TYPES)
    # A pass per column: measured 8 times faster than transposing with zip(*rows).
    played_at, track_id, ms_played, offline_ms = (list(map(get, rows)) for get in _music_columns)
    profile = list(map(numbers.__getitem__, profiles))
    del profiles
    if rows and conn.dialect.name == "postgresql" and not _COPY_UNSAFE.search("".join(track_id)):
        # COPY's text form built by joins (C speed) instead of a write_row call per play: these
        # columns hold numbers, the stored time form and ids, none of which COPY would escape.
        # offline_ms comes last so that an absent one is exactly "\tNone\n" in the joined text.
        lines = zip(
            played_at, track_id, map(str, ms_played), map(str, profile), map(str, offline_ms), strict=True
        )
        payload = "\n".join(map("\t".join, lines)) + "\n"
        _copy_text(
            conn,
            MUSIC_STAGE,
            "played_at, track_id, ms_played, profile, offline_ms",
            payload.replace("\tNone\n", "\t\\N\n"),
        )
    elif rows:
        _fill_stage(
            conn,
            MUSIC_STAGE,
            _MUSIC_STAGE_TYPES,
            zip(played_at, track_id, ms_played, offline_ms, profile, strict=True),
        )
    del played_at, track_id, ms_played, offline_ms, profile
    return stage_music_dimensions(conn, rows, stored)


# Dimension fields as a file read here has them (a tuple, `DIMENSION_FIELDS`) or as a worker sends
# them (`dimension_key`): a bulk load remembers what it staged in both forms, so that the next file
# looks its own up without converting every one of its few thousand.
Dimension = str | tuple[Any, ...]


def stage_music_dimensions(
    conn: Connection, rows: Sequence[MusicRow], stored: Container[Dimension] | None = None
) -> list[Dimension]:
    """Put the track, album and artist fields of `rows` into staging (see `stage_music`)."""
    # Distinct combinations only: the dimension SQL takes MIN per id, the same over these as over
    # every play; first-seen order keeps the load deterministic.
    distinct = list(dict.fromkeys(map(_music_dimension_fields, rows)))
    if stored:
        # Their artists, albums, tracks and credits exist: each statement below would skip them.
        distinct = [fields for fields in distinct if fields not in stored]
    _create_stage(conn, MUSIC_DIMENSION_STAGE, _MUSIC_DIMENSION_TYPES)
    _fill_stage(conn, MUSIC_DIMENSION_STAGE, _MUSIC_DIMENSION_TYPES, distinct)
    return [*distinct, *map(dimension_key, distinct)]


def stage_dimensions(
    conn: Connection, keys: Sequence[str], stored: Container[Dimension] | None = None
) -> list[Dimension]:
    """Put distinct dimension fields (each as `brapped.imports.formats.dimension_key` gives them)
    into staging, but those in `stored` (see `stage_music`); returns those staged, in both forms."""
    if stored:
        keys = [key for key in keys if key not in stored]
    fields = list(map(dimension_fields, keys))
    _create_stage(conn, MUSIC_DIMENSION_STAGE, _MUSIC_DIMENSION_TYPES)
    _fill_stage(conn, MUSIC_DIMENSION_STAGE, _MUSIC_DIMENSION_TYPES, fields)
    return [*keys, *fields]


# The schema a worker's staging image (`brapped.imports.worker.sqlite_image`) is attached as: a
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
    """Whether `copy_new_music_plays` can load plays here (PostgreSQL's COPY)."""
    return conn.dialect.name == "postgresql"


def copy_new_music_plays(conn: Connection, user_id: str, rows: Sequence[MusicRow]) -> int:
    """COPY new plays straight into `plays` (PostgreSQL); returns plays copied.

    For a bulk load only, and only rows no stored play can collide with: COPY knows no
    `ON CONFLICT`, so a play already stored under the same key would fail the whole file. The
    caller knows none can be there when nothing of the user's is stored in the rows' period (the
    rows' own keys are distinct, see `brapped.imports.formats`). Against staging and `INSERT ...
    SELECT ... ON CONFLICT` this saves the stage's write and read, the join with the profiles and
    the speculative insertion per play (measured 6.4 s -> 3.3 s, client and server, on 500,000
    plays).
    """
    if not rows:
        return 0
    return copy_music_text(conn, music_copy_text(rows, user_id))


def copy_music_text(conn: Connection, payload: str) -> int:
    """COPY plays in the text form `music_copy_text` (or a worker's `copy_text`) gives straight
    into `plays` (PostgreSQL, under the conditions of `copy_new_music_plays`); returns plays copied."""
    columns = f"played_at, track_id, ms_played, offline_at, {_PLAY_FIELDS}, user_id, ms_played_source, source"
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    raw: Any = conn.connection.dbapi_connection
    statement = f"COPY plays ({columns}) FROM STDIN"
    with raw_errors(conn, statement), raw.cursor() as cursor:
        with cursor.copy(statement) as copy:
            copy.write(payload)
        return int(cursor.rowcount)


def music_copy_text(rows: Sequence[MusicRow], user_id: str) -> str:
    """The COPY text `copy_new_music_plays` sends for `rows`: a worker's (`copy_text`) of their columns."""
    return copy_text(MusicColumns.of(rows), user_id)


def stage_episodes(conn: Connection, rows: Sequence[EpisodeRow]) -> None:
    """Put the episode rows to load into staging."""
    _create_stage(conn, EPISODE_STAGE, _EPISODE_TYPES)
    _fill_stage(conn, EPISODE_STAGE, _EPISODE_TYPES, rows)


def suspend_summary_triggers(conn: Connection) -> list[str]:
    """Stop the triggers that guard the report summaries (revision 0007) for a bulk load; returns
    the statements that put them back (`resume_triggers`), in the same transaction.

    A bulk load adds plays of any age, so it marks the summaries stale once here instead of a
    trigger checking every inserted play and credit (on SQLite a lookup per row, about 1 µs; on
    PostgreSQL a transition table of every row).
    """
    conn.execute(update(summary_state).values(stale=True))
    if conn.dialect.name == "postgresql":
        names = conn.exec_driver_sql(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE 'summaries%%' AND NOT t.tgisinternal AND c.relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()) ORDER BY 1, 2"
        ).all()
        for table, name in names:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"')
        return [f'ALTER TABLE "{table}" ENABLE TRIGGER "{name}"' for table, name in names]
    # SQLite cannot disable a trigger: drop it and create it again from its own definition.
    saved = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'summaries%' ORDER BY name"
    ).all()
    for name, _sql in saved:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    return [sql for _name, sql in saved]


def check_foreign_keys(conn: Connection) -> None:
    """SQLite: refuse, as `IntegrityError`, what the foreign keys would have refused had they been
    enforced (a bulk load turns enforcement off: its own checks are one lookup per play, a third
    of its inserting time; every row it adds refers to rows it adds before it, and this proves so).

    Every table with a foreign key goes through `PRAGMA foreign_key_check`, but `plays`: for it,
    each distinct track, read off the (track_id, ...) index in order, is looked up once.
    """
    found = conn.exec_driver_sql(
        "SELECT 'plays', p.track_id FROM (SELECT DISTINCT track_id FROM plays) p "
        "WHERE NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = p.track_id) LIMIT 1"
    ).first()
    names = [
        table.name for table in plays.metadata.sorted_tables if table.foreign_keys and table is not plays
    ]
    for name in names:
        if found is not None:
            break
        found = conn.exec_driver_sql(f'PRAGMA foreign_key_check("{name}")').first()
    if found is not None:
        raise IntegrityError(
            "foreign key check", None, Exception(f"FOREIGN KEY constraint failed: {found[0]} row {found[1]}")
        )


def resume_triggers(conn: Connection, statements: Sequence[str]) -> None:
    """Put back what `suspend_summary_triggers` took away."""
    for statement in statements:
        conn.exec_driver_sql(statement)


def drop_stages(conn: Connection) -> None:
    """Remove the staging tables (SQLite; PostgreSQL drops them at commit and empties a reused one)."""
    if conn.dialect.name == "postgresql":
        return
    for name in (MUSIC_STAGE, MUSIC_PROFILE_STAGE, MUSIC_DIMENSION_STAGE, EPISODE_STAGE):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_temp(conn)}.{name}")


# Typed, because PostgreSQL must infer one type for a parameter used in two places.
_USER = "CAST(:user_id AS VARCHAR(64))"
_PLAY_FIELDS = ", ".join(PLAY_FIELDS)


def load_music_dimensions(conn: Connection, stage: str = MUSIC_DIMENSION_STAGE) -> None:
    """Add the artists, albums and tracks the staged music names that are not stored yet.

    `stage`: the table holding the dimension fields (`IMAGE`'s, for a worker's image)."""
    conn.execute(
        text(
            f"INSERT INTO artists (id, name) SELECT artist_id, MIN(artist_name) FROM {stage} d "
            f"WHERE artist_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM artists a WHERE a.id = d.artist_id) GROUP BY artist_id"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO albums (id, name) SELECT album_id, MIN(album_name) FROM {stage} d "
            f"WHERE album_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM albums a WHERE a.id = d.album_id) GROUP BY album_id"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO album_artists (album_id, position, artist_id) "
            f"SELECT album_id, 0, MIN(artist_id) FROM {stage} d "
            f"WHERE album_id IS NOT NULL AND artist_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM album_artists a WHERE a.album_id = d.album_id) "
            f"GROUP BY album_id"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO tracks (id, name, album_id, uri, is_resolved) "
            f"SELECT track_id, MIN(track_name), MIN(album_id), MIN(uri), :unresolved FROM {stage} d "
            f"WHERE NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = d.track_id) "
            f"GROUP BY track_id"
        ),
        {"unresolved": False},
    )
    conn.execute(
        text(
            f"INSERT INTO track_artists (track_id, position, artist_id) "
            f"SELECT track_id, 0, MIN(artist_id) FROM {stage} d "
            f"WHERE artist_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM track_artists a WHERE a.track_id = d.track_id) "
            f"GROUP BY track_id"
        )
    )


def _offline_at(conn: Connection, column: str = "offline_ms") -> str:
    if conn.dialect.name == "postgresql":
        return f"to_timestamp({column} / 1000.0)"
    # %f is seconds with milliseconds: the stored text form exactly. Newer exports count whole
    # seconds: datetime() and ".000" say the same three times faster (0.1 s of 500,000 plays).
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
    fields = ", ".join(f"p.{c}" for c in _PLAY_FIELDS.split(", "))
    result = conn.execute(
        text(
            f"INSERT INTO plays (user_id, played_at, track_id, ms_played, ms_played_source, source, "
            f"offline_at, {_PLAY_FIELDS}) "
            f"SELECT {_USER}, s.played_at, s.track_id, s.ms_played, 'export', 'export', "
            f"{_offline_at(conn, 's.offline_ms')}, {fields} "
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


def stored_music(conn: Connection, user_id: str, start: datetime, end: datetime) -> list[Stored]:
    """The user's music plays ending in [start, end], as the merge rules need them."""
    rows = conn.execute(
        select(
            plays.c.id,
            plays.c.played_at,
            plays.c.track_id,
            plays.c.source,
            plays.c.ms_played,
            plays.c.ms_played_source,
            tracks.c.name,
        )
        .join(tracks, tracks.c.id == plays.c.track_id)
        .where(plays.c.user_id == user_id, plays.c.played_at.between(start, end))
    ).all()
    api_tracks = sorted({r.track_id for r in rows if r.source == "api"})
    names: dict[str, set[str]] = defaultdict(set)
    for chunk_start in range(0, len(api_tracks), 500):
        chunk = api_tracks[chunk_start : chunk_start + 500]
        for track_id, artist_name in conn.execute(
            select(track_artists.c.track_id, artists.c.name)
            .join(artists, artists.c.id == track_artists.c.artist_id)
            .where(track_artists.c.track_id.in_(chunk))
        ):
            names[track_id].add(identity.normalise(artist_name))
    normalised: dict[str, str] = {}
    artist_sets: dict[str, frozenset[str]] = {}

    def norm(name: str) -> str:
        found = normalised.get(name)
        if found is None:
            found = normalised[name] = identity.normalise(name)
        return found

    def credits(track_id: str) -> frozenset[str]:
        found = artist_sets.get(track_id)
        if found is None:
            found = artist_sets[track_id] = frozenset(names.get(track_id, ()))
        return found

    return [
        Stored(
            play_id=int(r.id),
            end_ms=_epoch_ms(r.played_at),
            item_id=r.track_id,
            source=r.source,
            ms_played=r.ms_played,
            ms_source=r.ms_played_source,
            synthetic=r.track_id.startswith(identity.PREFIX),
            name=norm(r.name),
            artists=credits(r.track_id),
        )
        for r in rows
    ]


def stored_export_keys(
    conn: Connection, user_id: str, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """The user's export or merged music plays ending in [start, end]: (stored end text, track) → id.

    The end is the stored text form (`YYYY-MM-DD HH:MM:SS.fff`, UTC) imported rows carry, so a
    re-imported play is found by one dictionary lookup, without building a `Stored` for it.
    """
    if conn.dialect.name == "postgresql":
        ended = "to_char(played_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
    else:
        ended = "played_at"
    statement = text(
        f"SELECT {ended}, track_id, id FROM plays WHERE user_id = :user_id "
        f"AND played_at BETWEEN :start AND :end AND source IN ('export', 'both')"
    ).bindparams(
        bindparam("start", type_=plays.c.played_at.type), bindparam("end", type_=plays.c.played_at.type)
    )
    result = conn.execute(statement, {"user_id": user_id, "start": start, "end": end})
    return {(ended_at, track_id): int(play_id) for ended_at, track_id, play_id in result}


def stored_episodes(conn: Connection, user_id: str, start: datetime, end: datetime) -> list[Stored]:
    """The user's episode plays ending in [start, end], as the merge rules need them."""
    rows = conn.execute(
        select(
            episode_plays.c.id,
            episode_plays.c.played_at,
            episode_plays.c.episode_id,
            episode_plays.c.source,
            episode_plays.c.ms_played,
            episode_plays.c.ms_played_source,
            episodes.c.name,
            episodes.c.show_name,
        )
        .join(episodes, episodes.c.id == episode_plays.c.episode_id)
        .where(episode_plays.c.user_id == user_id, episode_plays.c.played_at.between(start, end))
    ).all()
    return [
        Stored(
            play_id=int(r.id),
            end_ms=_epoch_ms(r.played_at),
            item_id=r.episode_id,
            source=r.source,
            ms_played=r.ms_played,
            ms_source=r.ms_played_source,
            synthetic=identity.is_synthetic(r.episode_id),
            name=identity.normalise(r.name),
            artists=frozenset({identity.normalise(r.show_name)} if r.show_name else ()),
        )
        for r in rows
    ]


def _epoch_ms(when: datetime) -> int:
    # Stored instants are whole milliseconds already.
    return round(when.timestamp() * 1000)


def update_music(conn: Connection, changes: Sequence[Mapping[str, Any]]) -> None:
    """Apply merges and replacements: each change names `pid` and the columns to set."""
    _update(conn, plays, changes)


def update_episodes(conn: Connection, changes: Sequence[Mapping[str, Any]]) -> None:
    _update(conn, episode_plays, changes)


def _update(conn: Connection, table: Any, changes: Sequence[Mapping[str, Any]]) -> None:
    # executemany needs one statement shape: group the changes by the columns they set.
    by_shape: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for change in changes:
        by_shape[tuple(sorted(k for k in change if k != "pid"))].append(change)
    for shape, group in by_shape.items():
        statement = (
            update(table)
            .where(and_(table.c.id == bindparam("pid")))
            .values({column: bindparam(f"v_{column}", type_=table.c[column].type) for column in shape})
        )
        conn.execute(
            statement,
            [{"pid": c["pid"], **{f"v_{k}": v for k, v in c.items() if k != "pid"}} for c in group],
        )
