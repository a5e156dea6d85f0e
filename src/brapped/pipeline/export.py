"""`brapped export`: the star schema and a flat `plays_wide` as CSV, JSON or Parquet files.

Rows are streamed in batches (keyset pagination), so an export of years of plays never holds them all
in memory. `plays_wide` carries every credited artist: the main one in its own columns and the
featured ones as a list (a JSON array in CSV cells), never a comma-joined string.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import BigInteger, Boolean, Connection, Integer, Table, and_, select, tuple_
from sqlalchemy.sql import Select

from brapped.clock import Clock
from brapped.errors import BrappedError
from brapped.serialise import instant_text
from brapped.store import Store, tables
from brapped.store.runs import record_run
from brapped.store.types import UTCDateTime

Format = Literal["csv", "json", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "json", "parquet")

# The star schema: facts, dimensions and bridges (operations tables stay in the database).
STAR_TABLES: tuple[Table, ...] = (
    tables.accounts,
    tables.artists,
    tables.artist_genres,
    tables.musicbrainz_artists,
    tables.artist_tags,
    tables.albums,
    tables.album_artists,
    tables.tracks,
    tables.track_artists,
    tables.plays,
    tables.episodes,
    tables.episode_plays,
)

PLAYS_WIDE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("play_id", "int"),
    ("user_id", "str"),
    ("played_at", "instant"),
    ("played_at_local", "str"),
    ("local_date", "str"),
    ("local_hour", "int"),
    ("timezone", "str"),
    ("track_id", "str"),
    ("track_name", "str"),
    ("duration_ms", "int"),
    ("album_id", "str"),
    ("album_name", "str"),
    ("main_artist_id", "str"),
    ("main_artist_name", "str"),
    ("featured_artist_ids", "list"),
    ("featured_artist_names", "list"),
    ("ms_played", "int"),
    ("ms_played_source", "str"),
    ("source", "str"),
    ("context_type", "str"),
    ("context_uri", "str"),
    ("platform", "str"),
    ("conn_country", "str"),
    ("reason_start", "str"),
    ("reason_end", "str"),
    ("shuffle", "bool"),
    ("skipped", "bool"),
    ("offline", "bool"),
    ("incognito", "bool"),
)

Progress = Callable[[str, int], None]  # (file name, rows written so far)


class ExportError(BrappedError):
    """The export cannot be written (unknown format, Parquet support missing, folder unusable)."""


@dataclass(frozen=True)
class ExportResult:
    """Files written and their row counts."""

    directory: Path
    format: Format
    files: dict[str, int] = field(default_factory=dict)  # file name -> rows
    run_id: int | None = None


def _kind(column: Any) -> str:
    if isinstance(column.type, UTCDateTime):
        return "instant"
    if isinstance(column.type, Boolean):
        return "bool"
    if isinstance(column.type, (Integer, BigInteger)):
        return "int"
    return "str"


def _keyset(
    conn: Connection, query: Select[Any], key: Sequence[Any], batch_size: int, names: Sequence[str]
) -> Iterator[list[Any]]:
    last: Any = None
    while True:
        page = query
        if last is not None:
            page = page.where(tuple_(*key) > tuple_(*last)) if len(key) > 1 else page.where(key[0] > last[0])
        rows = conn.execute(page.order_by(*key).limit(batch_size)).all()
        if not rows:
            return
        yield list(rows)
        if len(rows) < batch_size:
            return
        last = tuple(rows[-1]._mapping[name] for name in names)


def _table_rows(conn: Connection, table: Table, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    key = list(table.primary_key.columns)
    for rows in _keyset(conn, select(*table.columns), key, batch_size, [c.name for c in key]):
        yield [dict(r._mapping) for r in rows]


def _plays_wide_rows(
    conn: Connection, zone: ZoneInfo, zone_name: str, batch_size: int
) -> Iterator[list[dict[str, Any]]]:
    p, t, al, ta, ar = tables.plays, tables.tracks, tables.albums, tables.track_artists, tables.artists
    main = ta.alias("main_credit")
    main_artist = ar.alias("main_artist")
    query = select(
        p.c.id.label("play_id"),
        p.c.user_id,
        p.c.played_at,
        p.c.track_id,
        t.c.name.label("track_name"),
        t.c.duration_ms,
        t.c.album_id,
        al.c.name.label("album_name"),
        main.c.artist_id.label("main_artist_id"),
        main_artist.c.name.label("main_artist_name"),
        *(
            p.c[name]
            for name in (
                "ms_played",
                "ms_played_source",
                "source",
                "context_type",
                "context_uri",
                "platform",
                "conn_country",
                "reason_start",
                "reason_end",
                "shuffle",
                "skipped",
                "offline",
                "incognito",
            )
        ),
    ).select_from(
        p.join(t, t.c.id == p.c.track_id)
        .outerjoin(al, al.c.id == t.c.album_id)
        .outerjoin(main, and_(main.c.track_id == p.c.track_id, main.c.position == 0))
        .outerjoin(main_artist, main_artist.c.id == main.c.artist_id)
    )
    for rows in _keyset(conn, query, [p.c.id], batch_size, ["play_id"]):
        # Featured artists of this batch's tracks in one query, in Spotify's order.
        track_ids = sorted({r.track_id for r in rows})
        featured: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for credit in conn.execute(
            select(ta.c.track_id, ta.c.artist_id, ar.c.name)
            .join(ar, ar.c.id == ta.c.artist_id)
            .where(ta.c.track_id.in_(track_ids), ta.c.position > 0)
            .order_by(ta.c.track_id, ta.c.position)
        ):
            featured[credit.track_id].append((credit.artist_id, credit.name))
        out = []
        for row in rows:
            data = dict(row._mapping)
            local = row.played_at.astimezone(zone)
            credits = featured.get(row.track_id, [])
            data.update(
                played_at_local=local.isoformat(timespec="milliseconds"),
                local_date=local.date().isoformat(),
                local_hour=local.hour,
                timezone=zone_name,
                featured_artist_ids=[c[0] for c in credits],
                featured_artist_names=[c[1] for c in credits],
            )
            out.append({name: data[name] for name, _ in PLAYS_WIDE_COLUMNS})
        yield out


class _CsvWriter:
    def __init__(self, path: Path, columns: Sequence[tuple[str, str]]) -> None:
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.columns = columns
        self.writer = csv.writer(self.handle)
        self.writer.writerow([name for name, _ in columns])

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.writer.writerow([self._cell(row[name], kind) for name, kind in self.columns])

    @staticmethod
    def _cell(value: Any, kind: str) -> Any:
        if value is None:
            return ""
        if kind == "instant":
            return instant_text(value)
        if kind == "bool":
            return "true" if value else "false"
        if kind == "list":
            return orjson.dumps(value).decode()
        return value

    def close(self) -> None:
        self.handle.close()


class _JsonWriter:
    """A JSON array written row by row (valid JSON without holding every row)."""

    def __init__(self, path: Path, columns: Sequence[tuple[str, str]]) -> None:
        self.handle: IO[bytes] = path.open("wb")
        self.columns = columns
        self.first = True
        self.handle.write(b"[")

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            data = {
                name: (instant_text(row[name]) if kind == "instant" and row[name] is not None else row[name])
                for name, kind in self.columns
            }
            self.handle.write((b"\n" if self.first else b",\n") + orjson.dumps(data))
            self.first = False

    def close(self) -> None:
        self.handle.write(b"\n]\n")
        self.handle.close()


class _ParquetWriter:
    def __init__(self, path: Path, columns: Sequence[tuple[str, str]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {
            "int": pa.int64(),
            "str": pa.string(),
            "bool": pa.bool_(),
            "instant": pa.timestamp("ms", tz="UTC"),
            "list": pa.list_(pa.string()),
        }
        self.pa = pa
        self.columns = columns
        self.schema = pa.schema([(name, types[kind]) for name, kind in columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)

    def write(self, rows: list[dict[str, Any]]) -> None:
        arrays = {name: [row[name] for row in rows] for name, _ in self.columns}
        self.writer.write_table(self.pa.Table.from_pydict(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


# An export is the whole listening history: readable by its owner alone, as the database is.
EXPORT_FILE_MODE = 0o600


def _writer(fmt: Format, path: Path, columns: Sequence[tuple[str, str]]) -> Any:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, EXPORT_FILE_MODE))
    os.chmod(path, EXPORT_FILE_MODE)  # a file there before keeps its own mode through O_CREAT
    if fmt == "csv":
        return _CsvWriter(path, columns)
    if fmt == "json":
        return _JsonWriter(path, columns)
    return _ParquetWriter(path, columns)


def _check_parquet() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise ExportError("Parquet export needs pyarrow: pip install 'brapped[parquet]'") from exc


def export(
    store: Store,
    directory: Path,
    fmt: Format,
    clock: Clock,
    timezone: str,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ExportResult:
    """Write one file per star-schema table plus `plays_wide` into `directory`; record an export run."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _check_parquet()
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} exists and is not a folder")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {directory}: {exc.strerror}") from exc
    zone = ZoneInfo(timezone)
    started = clock.now()
    files: dict[str, int] = {}
    with store.connect() as conn:  # one read transaction: every file sees the same database state
        jobs: list[tuple[str, Sequence[tuple[str, str]], Iterator[list[dict[str, Any]]]]] = [
            (
                table.name,
                [(str(c.name), _kind(c)) for c in table.columns],
                _table_rows(conn, table, batch_size),
            )
            for table in STAR_TABLES
        ]
        jobs.append(("plays_wide", PLAYS_WIDE_COLUMNS, _plays_wide_rows(conn, zone, timezone, batch_size)))
        for name, columns, batches in jobs:
            file_name = f"{name}.{fmt}"
            writer = _writer(fmt, directory / file_name, columns)
            count = 0
            try:
                for rows in batches:
                    writer.write(rows)
                    count += len(rows)
                    if progress:
                        progress(file_name, count)
            finally:
                writer.close()
            files[file_name] = count
    # IMMEDIATE: start_run reads the running runs before it writes (see store.runs).
    with store.begin(immediate=True) as conn:
        run_id = record_run(
            conn, "export", started, clock.now(), "ok", {"format": fmt, "directory": str(directory), **files}
        )
    return ExportResult(directory, fmt, files, run_id)
