"""A file's rows as the store takes them: staging columns, distinct dimension fields, COPY text, and
the columns a merged or replaced play takes (`brapped.store.staged_plays`, `stored_plays`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import compress
from operator import itemgetter, not_
from typing import Any

from sqlalchemy import Connection

from brapped.imports import (
    DIMENSION_FIELDS,
    EpisodeRow,
    MusicColumns,
    MusicRow,
    dimension_fields,
    dimension_key,
    parse_stored,
)
from brapped.imports.merge import Decision
from brapped.imports.staging import COPY_COLUMNS, copy_text
from brapped.store import staged_plays

# The store stages these in the rows' own order: a row goes in as it is.
assert staged_plays.DIMENSION_COLUMNS == DIMENSION_FIELDS
assert EpisodeRow._fields == staged_plays.EPISODE_COLUMNS

# Dimension fields as a bulk load remembers what it staged: as a worker sends them
# (`dimension_key`), one text each; a file read here has them as a tuple (`DIMENSION_FIELDS`) and
# converts its few thousand distinct ones (both forms took twice the memory, ~40 MB of a history
# of 200,000 tracks).
Dimension = str

_music_columns = [
    itemgetter(MusicRow._fields.index(c))
    for c in ("played_at", "track_id", "ms_played", "offline_ms", "reported_ms")
]
_music_profile_fields = itemgetter(*(MusicRow._fields.index(c) for c in staged_plays.PLAY_FIELDS))
_music_dimension_fields = itemgetter(*(MusicRow._fields.index(c) for c in DIMENSION_FIELDS))


class NotedDimensions:
    """Dimension fields noted by their hashes, at most about `limit` (past it, files stage all
    theirs, as outside a bulk load): a number each, not a text of a few hundred bytes. Where
    Python's hashes are narrower than 64 bits, the texts themselves.

    Two fields with the same hash (about one chance in 10^9 among 200,000) would let a file skip
    staging fields that are not stored. When their track is not stored either, the bulk load's
    foreign key check refuses the whole load, which keeps nothing; when it is, what is left out is
    an artist or album row that nothing refers to (a stored track keeps its album and credits).
    """

    def __init__(self, limit: int) -> None:
        self._noted: set[object] = set()
        self._limit = limit
        self._key: Callable[[str], object] = hash if sys.hash_info.width >= 64 else str

    def __len__(self) -> int:
        return len(self._noted)

    def note(self, keys: Iterable[Dimension]) -> None:
        if len(self._noted) < self._limit:
            self._noted.update(map(self._key, keys))

    def fresh(self, keys: Iterable[Dimension]) -> list[bool]:
        """For each key, whether it is not noted; a pass at C speed (a file has thousands)."""
        return list(map(not_, map(self._noted.__contains__, map(self._key, keys))))


def stage_music(
    conn: Connection, rows: Sequence[MusicRow], stored: NotedDimensions | None = None
) -> list[Dimension]:
    """Put the music rows to load (new plays, and plays replacing account data) into staging.

    `stored`: dimension fields known to be loaded in this transaction already, left out. Returns
    those staged.
    """
    # Numbered in first-seen order, with C-level passes only (no Python loop per play).
    profiles = list(map(_music_profile_fields, rows))
    numbers = dict.fromkeys(profiles, 0)
    for number, profile in enumerate(numbers):
        numbers[profile] = number
    # A pass per column, not a transposition with zip(*rows).
    played_at, track_id, ms_played, offline_ms, reported_ms = (list(map(get, rows)) for get in _music_columns)
    numbered = list(map(numbers.__getitem__, profiles))
    del profiles
    staged_plays.stage_music(
        conn,
        ((number, *profile) for profile, number in numbers.items()),
        played_at,
        track_id,
        ms_played,
        offline_ms,
        numbered,
        reported_ms,
    )
    del played_at, track_id, ms_played, offline_ms, reported_ms, numbered
    return stage_music_dimensions(conn, rows, stored)


def stage_music_dimensions(
    conn: Connection, rows: Sequence[MusicRow], stored: NotedDimensions | None = None
) -> list[Dimension]:
    """Put the track, album and artist fields of `rows` into staging (see `stage_music`)."""
    # Distinct combinations only: the dimension SQL takes MIN per id, the same over these as over
    # every play; first-seen order keeps the load deterministic.
    distinct = list(dict.fromkeys(map(_music_dimension_fields, rows)))
    keys = list(map(dimension_key, distinct))
    if stored:
        # Their artists, albums, tracks and credits exist: each statement would skip them.
        fresh = stored.fresh(keys)
        distinct, keys = list(compress(distinct, fresh)), list(compress(keys, fresh))
    staged_plays.stage_music_dimensions(conn, distinct)
    return keys


def stage_dimensions(
    conn: Connection, keys: Sequence[str], stored: NotedDimensions | None = None
) -> list[Dimension]:
    """Put distinct dimension fields (each as `dimension_key` gives them) into staging, but those
    in `stored` (see `stage_music`); returns those staged."""
    if stored:
        keys = list(compress(keys, stored.fresh(keys)))
    staged_plays.stage_music_dimensions(conn, list(map(dimension_fields, keys)))
    return list(keys)


def copy_new_plays(conn: Connection, user_id: str, rows: Sequence[MusicRow]) -> int:
    """COPY new plays straight into `plays` (PostgreSQL, see `staged_plays.copy_plays`): only rows
    no stored play can collide with (their own keys are distinct, see `brapped.imports`); returns
    plays copied."""
    if not rows:
        return 0
    return staged_plays.copy_plays(conn, COPY_COLUMNS, copy_text(MusicColumns.of(rows), user_id))


def _export_fields(row: MusicRow | EpisodeRow, keep_personal: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ms_played": row.ms_played,
        "ms_played_source": "export",
        "platform": row.platform,
        "conn_country": row.conn_country,
        "reason_start": row.reason_start,
        "reason_end": row.reason_end,
        "shuffle": row.shuffle,
        "skipped": row.skipped,
        "offline": row.offline,
        "incognito": row.incognito,
    }
    if isinstance(row, MusicRow):
        offline_ms = row.offline_ms
        fields["offline_at"] = None if offline_ms is None else datetime.fromtimestamp(offline_ms / 1000, UTC)
        reported_ms = row.reported_ms
        fields["reported_at"] = None if reported_ms is None else _EPOCH + timedelta(milliseconds=reported_ms)
    if keep_personal:
        fields["ip_addr"] = row.ip_addr
        fields["user_agent"] = row.user_agent
    return fields


def merge_change(decision: Decision, row: MusicRow, keep_personal: bool) -> dict[str, Any]:
    """The columns a stored play merged with `row` takes."""
    if row.origin == "account":
        # Account data knows only how long: the API play keeps its id, time and context.
        return {
            "pid": decision.play_id,
            "source": "both",
            "ms_played": row.ms_played,
            "ms_played_source": "export",
        }
    return {"pid": decision.play_id, "source": "both", **_export_fields(row, keep_personal)}


def replace_change(decision: Decision, row: MusicRow, keep_personal: bool) -> dict[str, Any]:
    """The columns a stored account-data play replaced by `row` takes."""
    return {
        "pid": decision.play_id,
        "track_id": row.track_id,
        "played_at": parse_stored(row.played_at),
        "source": "export",
        **_export_fields(row, keep_personal),
    }


def replace_episode_change(decision: Decision, row: EpisodeRow, keep_personal: bool) -> dict[str, Any]:
    """The columns a stored account-data episode play replaced by `row` takes."""
    return {
        "pid": decision.play_id,
        "episode_id": row.episode_id,
        "played_at": parse_stored(row.played_at),
        "source": "export",
        **_export_fields(row, keep_personal),
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
