"""A file's music plays made ready for a bulk load, without any database of brapped's.

For SQLite a `StagedFile`: the file's facts, its episode rows, and its music plays in the form the
loader takes in one piece (an SQLite database image holding the staging tables, which
`brapped.store.staged_plays` attaches). For PostgreSQL a `CopyFile`: the plays as columns and their
COPY text for `plays`. The import worker (`brapped.imports.worker`) makes these, or the loader
itself when it would otherwise wait; the loader decides what the plays mean against the database.

The worker imports this module: it stays light (no SQLAlchemy, no store).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import repeat
from operator import floordiv, itemgetter, mod
from typing import Any

from brapped.imports import PROFILE_FIELDS, MusicColumns, MusicRow, ParsedFile, dimension_fields, music_row
from brapped.serialise.bulk_rows import COPY_UNSAFE, copy_value, insert_rows

# The staging tables of an image, as `brapped.store.staged_plays` reads them from the attached
# image (the names and columns of its temporary stages, which the loader drops before it attaches).
MUSIC_STAGE = "import_music_stage"
MUSIC_PROFILE_STAGE = "import_music_profile_stage"
# A play's context and flags as `plays` stores them: the profile's columns the store copies.
PLAY_FIELDS = PROFILE_FIELDS[: PROFILE_FIELDS.index("origin")]
# The columns of `plays` that `copy_text` fills, in its order.
COPY_COLUMNS = (
    "played_at",
    "track_id",
    "ms_played",
    "offline_at",
    "reported_at",
    *PLAY_FIELDS,
    "user_id",
    "ms_played_source",
    "source",
)
# Lossless: a play's row of the image (its rowid is its position in the file, from 1) with its
# profile and its dimension fields (`StagedFile.dimensions`) is its `MusicRow` (`image_rows`), so
# the loader can put a few plays through the merge rules without the file being read again.
_IMAGE_TABLES = (
    f"CREATE TABLE {MUSIC_STAGE} (played_at TEXT, track_id TEXT, ms_played INTEGER, offline_ms INTEGER, "
    "reported_ms INTEGER, profile INTEGER, dimension INTEGER)",
    # Numbers as rowids: the loader's join finds a play's profile by one lookup.
    f"CREATE TABLE {MUSIC_PROFILE_STAGE} (profile INTEGER PRIMARY KEY, platform TEXT, conn_country TEXT, "
    "reason_start TEXT, reason_end TEXT, shuffle BOOLEAN, skipped BOOLEAN, offline BOOLEAN, "
    "incognito BOOLEAN, ip_addr TEXT, user_agent TEXT, origin TEXT)",
)
_ROWS = (
    "SELECT s.rowid, s.played_at, s.track_id, s.ms_played, s.offline_ms, s.reported_ms, s.dimension, "
    f"{', '.join(f'p.{c}' for c in PROFILE_FIELDS)} "
    f"FROM {{schema}}.{MUSIC_STAGE} s JOIN {{schema}}.{MUSIC_PROFILE_STAGE} p ON p.profile = s.profile "
)
_FLAGS = slice(PROFILE_FIELDS.index("shuffle"), PROFILE_FIELDS.index("incognito") + 1)
_played_at = itemgetter(0)  # of an EpisodeRow


@dataclass
class StagedFile:
    """A parsed file whose music plays are staged already, for SQLite (see the module's docstring)."""

    parsed: ParsedFile  # everything but the music plays (`music` is empty; `episodes` kept)
    music: int  # music plays staged
    first: str | None  # earliest and latest play end of the whole file (stored text form)
    last: str | None
    music_first: str | None  # earliest and latest music play end: the period the merge looks at
    music_last: str | None
    image: bytes = b""  # a database holding the staging tables of the music plays (`sqlite_image`)
    # The distinct dimension fields of the music plays (`DIMENSION_FIELDS`) by their numbers in
    # the image (`MusicColumns.dimensions`): the loader stages those it has not loaded yet.
    dimensions: dict[int, str] = field(default_factory=dict)  # as `dimension_key` gives them


def stage(parsed: ParsedFile) -> StagedFile:
    """`parsed` with its music plays turned into a staging image."""
    columns = parsed.music_columns if parsed.music_columns is not None else MusicColumns.of(parsed.music)
    music_first = min(columns.played_at) if len(columns) else None
    music_last = max(columns.played_at) if len(columns) else None
    # `ParsedFile.first` and `last`, without going through the music plays again.
    ends = [end for end in (music_first, music_last) if end is not None]
    if parsed.episodes:
        ends += [min(map(_played_at, parsed.episodes)), max(map(_played_at, parsed.episodes))]
    first, last = (min(ends), max(ends)) if ends else (None, None)
    staged = StagedFile(parsed, len(columns), first, last, music_first, music_last)
    if len(columns):
        staged.image = sqlite_image(columns)
        staged.dimensions = columns.dimensions
    parsed.music, parsed.music_columns = [], None
    return staged


def sqlite_image(columns: MusicColumns) -> bytes:
    """An in-memory SQLite database of the staging tables for the plays of `columns`, serialized:
    five values a play and the numbers of its profile (its few-valued fields, stored once) and of
    its dimension fields."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute("BEGIN")
        for statement in _IMAGE_TABLES:
            db.execute(statement)
        insert_rows(
            db,
            MUSIC_PROFILE_STAGE,
            len(PROFILE_FIELDS) + 1,
            ((number, *profile) for number, profile in columns.profiles.items()),
        )
        insert_rows(
            db,
            MUSIC_STAGE,
            7,
            zip(
                columns.played_at,
                columns.track_id,
                columns.ms_played,
                columns.offline_ms,
                columns.reported_ms,
                columns.profile,
                columns.dimension,
                strict=True,
            ),
        )
        db.execute("COMMIT")
        return db.serialize()
    finally:
        db.close()


def image_rows(
    db: Any, schema: str, spans: Sequence[tuple[str, str]], dimensions: Mapping[int, str]
) -> list[tuple[int, MusicRow]]:
    """The plays of an image (`sqlite_image`, under `schema` of the sqlite3 connection `db`, with
    its file's `dimensions`) that end within any of `spans` (stored text, both ends included),
    with their rowids, in file order."""
    found: dict[int, MusicRow] = {}
    statement = _ROWS.format(schema=schema) + "WHERE s.played_at BETWEEN ? AND ?"
    for low, high in spans:
        for rowid, played_at, track_id, ms_played, offline_ms, reported_ms, dimension, *profile in db.execute(
            statement, (low, high)
        ):
            profile[_FLAGS] = [None if v is None else bool(v) for v in profile[_FLAGS]]
            found[rowid] = music_row(
                played_at,
                track_id,
                ms_played,
                offline_ms,
                tuple(profile),
                dimension_fields(dimensions[dimension]),
                reported_ms,
            )
    return sorted(found.items())


def drop_image_rows(db: Any, schema: str, rowids: Sequence[int]) -> list[int]:
    """Take plays out of an image; returns the numbers of the dimension fields the plays left have."""
    db.executemany(f"DELETE FROM {schema}.{MUSIC_STAGE} WHERE rowid = ?", [(r,) for r in rowids])
    return [number for (number,) in db.execute(f"SELECT DISTINCT dimension FROM {schema}.{MUSIC_STAGE}")]


_EPOCH_DAY = date(1970, 1, 1)
_CLOCK_MINUTES = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60)]
_CLOCK_SECONDS = [f"{s:02d}" for s in range(60)]
_CLOCK_MILLIS = [f".{ms:03d}" for ms in range(1000)]


def copy_instants(values: Sequence[int | None]) -> list[str]:
    """Unix milliseconds as COPY text in UTC (`YYYY-MM-DD HH:MM:SS.fff`), absent ones as null.

    Passes over the column at C speed and a table lookup per part, not a `datetime` each: this is
    every play's offline instant.
    """
    absent = values.count(None)
    if absent == len(values):
        return ["\\N"] * absent  # no play of the column has one (the reported times of most files)
    ms = [0 if v is None else v for v in values] if absent else values
    seconds = list(map(floordiv, ms, repeat(1000)))
    minutes = list(map(floordiv, seconds, repeat(60)))
    days = list(map(floordiv, minutes, repeat(24 * 60)))
    dates = {day: f"{_EPOCH_DAY + timedelta(days=day)} " for day in set(days)}
    texts = list(
        map(
            "".join,
            zip(
                map(dates.__getitem__, days),
                map(_CLOCK_MINUTES.__getitem__, map(mod, minutes, repeat(24 * 60))),
                map(_CLOCK_SECONDS.__getitem__, map(mod, seconds, repeat(60))),
                map(_CLOCK_MILLIS.__getitem__, map(mod, ms, repeat(1000))),
                strict=True,
            ),
        )
    )
    if absent:
        texts = ["\\N" if v is None else t for v, t in zip(values, texts, strict=True)]
    return texts


@dataclass
class CopyFile:
    """A parsed file whose music plays come as columns and as the COPY text of them all, for a
    PostgreSQL bulk load."""

    parsed: ParsedFile  # its music plays in `music_columns`
    text: str  # `copy_text(parsed.music_columns, user_id)`


def copy_text(columns: MusicColumns, user_id: str) -> str:
    """The COPY text of the plays of `columns` for `plays`: the columns `COPY_COLUMNS` names."""
    # Each distinct profile becomes its COPY text once, with the columns every play shares.
    shared = "\t" + "\t".join(map(copy_value, (user_id, "export", "export")))
    width = len(PLAY_FIELDS)
    texts = {
        number: "\t".join(map(copy_value, profile[:width])) + shared
        for number, profile in columns.profiles.items()
    }
    track_id = columns.track_id
    if COPY_UNSAFE.search("".join(track_id)):
        track_id = list(map(copy_value, track_id))
    lines = zip(
        columns.played_at,
        track_id,
        map(str, columns.ms_played),
        copy_instants(columns.offline_ms),
        copy_instants(columns.reported_ms),
        map(texts.__getitem__, columns.profile),
        strict=True,
    )
    return "\n".join(map("\t".join, lines)) + "\n"
