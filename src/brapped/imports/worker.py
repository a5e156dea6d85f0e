"""Reading and staging import files in a worker process while this one loads the previous file.

Parsing a file and turning its plays into staging rows is Python work bound to one core; loading
them is mostly SQLite's or PostgreSQL's. With the two in separate processes a bulk import keeps two
cores busy. For SQLite a worker hands back a `StagedFile`: the file's facts, its episode rows, and
its music plays in the form the loader takes in one piece (an SQLite database image holding the
staging tables); for PostgreSQL a `CopyFile`: the plays as columns and their COPY text (or the
parsed file, when its plays came as rows). The worker never opens the user's database; the loader
decides what the plays mean against it (`brapped.pipeline.importing`), and prepares a file itself
(`prepare`, in its own process) when it would otherwise wait for the worker.

This module is what a worker imports: it stays light (no SQLAlchemy) so a worker starts quickly.
"""

from __future__ import annotations

import gc
import os
import pickle
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import chain, repeat
from operator import floordiv, itemgetter, mod
from pathlib import Path
from typing import Any, BinaryIO

from brapped.imports import (
    PROFILE_FIELDS,
    MusicColumns,
    MusicRow,
    ParsedFile,
    Skipped,
    Source,
    dimension_fields,
    music_row,
    parse_file,
)

# The staging tables of an image, as `brapped.store.bulk` reads them from the attached image
# (the names and columns of its temporary stages, which the loader drops before it attaches).
MUSIC_STAGE = "import_music_stage"
MUSIC_PROFILE_STAGE = "import_music_profile_stage"
# A play's context and flags as `plays` stores them (brapped.store.bulk copies these columns).
PLAY_FIELDS = PROFILE_FIELDS[: PROFILE_FIELDS.index("origin")]
# Lossless: a play's row of the image (its rowid is its position in the file, from 1) with its
# profile and its dimension fields (`StagedFile.dimensions`) is its `MusicRow` (`image_rows`), so
# the loader can put a few plays through the merge rules without the file being read again.
_IMAGE_TABLES = (
    f"CREATE TABLE {MUSIC_STAGE} (played_at TEXT, track_id TEXT, ms_played INTEGER, offline_ms INTEGER, "
    "profile INTEGER, dimension INTEGER)",
    # Numbers as rowids: the loader's join finds a play's profile by one lookup.
    f"CREATE TABLE {MUSIC_PROFILE_STAGE} (profile INTEGER PRIMARY KEY, platform TEXT, conn_country TEXT, "
    "reason_start TEXT, reason_end TEXT, shuffle BOOLEAN, skipped BOOLEAN, offline BOOLEAN, "
    "incognito BOOLEAN, ip_addr TEXT, user_agent TEXT, origin TEXT)",
)
_ROWS = (
    "SELECT s.rowid, s.played_at, s.track_id, s.ms_played, s.offline_ms, s.dimension, "
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


def prepare(source: Source, now: datetime, keep_personal: bool, dialect: str, user_id: str) -> Prepared:
    """Read and parse one file, and make its plays ready for the loader of `dialect` (in a worker,
    or in the loader when it has nothing else to do); raises `ImportFileError` as `parse_file` does.

    SQLite takes a staging image (`stage`). PostgreSQL takes the plays as columns and their COPY
    text (`CopyFile`) when the file's music came as columns, else the parsed rows: the loader
    spent a third of a bulk load unpickling rows and building the text while the server waited.
    """
    parsed = parse_file(source.name, source.read(), now, keep_personal=keep_personal, columns=True)
    if isinstance(parsed, Skipped):
        return parsed
    if dialect == "sqlite":
        return stage(parsed)
    columns = parsed.music_columns
    if columns is None:
        return parsed
    return CopyFile(parsed, copy_text(columns, user_id))


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


# Rows a statement of `insert_rows` takes at once: measured 0.7 µs a row of six values against
# 1.3 to 2.5 µs with `executemany` of one row each; more rows a statement were slower again.
_ROWS_A_STATEMENT = 32


def insert_rows(db: Any, table: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
    """Insert `rows` (each `width` values, in the table's column order) into `table` of the sqlite3
    connection `db`: a statement of many rows (`INSERT ... VALUES (...), (...)`) at a time, so that
    SQLite steps once for each many."""
    flat = list(chain.from_iterable(rows))
    if len(flat) % width:
        raise ValueError(f"rows of {width} values expected for {table}")
    step = _ROWS_A_STATEMENT * width
    whole = len(flat) - len(flat) % step
    values = f"({', '.join('?' * width)})"
    if whole:
        statement = f"INSERT INTO {table} VALUES {', '.join([values] * _ROWS_A_STATEMENT)}"
        db.executemany(statement, (flat[i : i + step] for i in range(0, whole, step)))
    if whole < len(flat):
        rest = flat[whole:]
        db.execute(f"INSERT INTO {table} VALUES {', '.join([values] * (len(rest) // width))}", rest)


def sqlite_image(columns: MusicColumns) -> bytes:
    """An in-memory SQLite database of the staging tables for the plays of `columns`, serialized:
    four values a play and the numbers of its profile (its few-valued fields, stored once) and of
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
            6,
            zip(
                columns.played_at,
                columns.track_id,
                columns.ms_played,
                columns.offline_ms,
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
        for rowid, played_at, track_id, ms_played, offline_ms, dimension, *profile in db.execute(
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
            )
    return sorted(found.items())


def drop_image_rows(db: Any, schema: str, rowids: Sequence[int]) -> list[int]:
    """Take plays out of an image; returns the numbers of the dimension fields the plays left have."""
    db.executemany(f"DELETE FROM {schema}.{MUSIC_STAGE} WHERE rowid = ?", [(r,) for r in rowids])
    return [number for (number,) in db.execute(f"SELECT DISTINCT dimension FROM {schema}.{MUSIC_STAGE}")]


# COPY's text form (PostgreSQL): a value needs escaping only for these.
COPY_UNSAFE = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: Any) -> str:
    """A value in COPY's text form."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


_EPOCH_DAY = date(1970, 1, 1)
_CLOCK_MINUTES = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60)]
_CLOCK_SECONDS = [f"{s:02d}" for s in range(60)]
_CLOCK_MILLIS = [f".{ms:03d}" for ms in range(1000)]


def copy_instants(values: Sequence[int | None]) -> list[str]:
    """Unix milliseconds as COPY text in UTC (`YYYY-MM-DD HH:MM:SS.fff`), absent ones as null.

    Passes over the column at C speed and a table lookup per part: 0.5 µs a value, against 1.2 µs
    for a `datetime` each (this is every play's offline instant).
    """
    absent = None in values
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
    PostgreSQL bulk load (see `prepare`)."""

    parsed: ParsedFile  # its music plays in `music_columns`
    text: str  # `copy_text(parsed.music_columns, user_id)`


def copy_text(columns: MusicColumns, user_id: str) -> str:
    """The COPY text of the plays of `columns` for `plays` (the columns
    `brapped.store.bulk.copy_music_text` names), as `bulk.music_copy_text` makes it of rows."""
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
        map(texts.__getitem__, columns.profile),
        strict=True,
    )
    return "\n".join(map("\t".join, lines)) + "\n"


Prepared = StagedFile | CopyFile | ParsedFile | Skipped


class WorkerGone(Exception):
    """The worker process ended before answering (killed, crashed, or never started)."""


class Readers:
    """Worker processes preparing files (`prepare`) ahead of the loader, in turn; a context manager."""

    def __init__(self, workers: int) -> None:
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(_Worker())
        except BaseException:
            self.close()
            raise
        self._turn = 0

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def submit(
        self, source: Source, now: datetime, keep_personal: bool, dialect: str, user_id: str
    ) -> Future[Prepared]:
        """The outcome of `prepare(...)` in a worker, later; its error if the worker raised one."""
        worker = self._workers[self._turn % len(self._workers)]
        self._turn += 1
        return worker.submit(source, now, keep_personal, dialect, user_id)

    def close(self, now: bool = False) -> None:
        """End the workers (`now`: without waiting for the file in hand)."""
        for worker in self._workers:
            worker.close(now)


class _Worker:
    """One worker process preparing files (`prepare`) in the order they are submitted.

    The worker is `python -m brapped.imports.worker`, a fresh interpreter that reads pickled jobs
    on its stdin and writes pickled outcomes on its stdout. Not `multiprocessing`: its spawn mode
    runs the caller's main module again in the child (a script without a `__main__` guard would
    import again, recursively), and fork would copy this process's database connections and
    threads into the child. When this process dies the worker reads the end of its input and exits.
    """

    def __init__(self) -> None:
        # The worker finds brapped where this process found it, installed or not.
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "brapped.imports.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # The library prints nothing: what goes wrong in a worker shows as its file read here
            # instead (and logged by the loader).
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._futures: dict[int, Future[Prepared]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._collector = threading.Thread(target=self._collect, name="brapped-import-worker", daemon=True)
        self._collector.start()

    def submit(
        self, source: Source, now: datetime, keep_personal: bool, dialect: str, user_id: str
    ) -> Future[Prepared]:
        """The outcome of `prepare(...)` in the worker, later; its error if the worker raised one."""
        future: Future[Prepared] = Future()
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._futures[key] = future
        try:
            job = pickle.dumps((key, source, now, keep_personal, dialect, user_id), pickle.HIGHEST_PROTOCOL)
            stdin = self._process.stdin
            assert stdin is not None
            stdin.write(job)
            stdin.flush()
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            # A source that cannot travel (its reader is a closure) or a worker that is gone.
            with self._lock:
                self._futures.pop(key, None)
            future.set_exception(exc)
        return future

    def _collect(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        while True:
            try:
                key, failed, value = pickle.load(stdout)
            except (EOFError, OSError, pickle.UnpicklingError, AttributeError, ImportError):
                break
            with self._lock:
                future = self._futures.pop(key)
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)
        with self._lock:
            left, self._futures = list(self._futures.values()), {}
        for future in left:
            future.set_exception(WorkerGone("the import worker process ended"))

    def close(self, now: bool = False) -> None:
        """End the worker: it finishes the file in hand, sees the end of its input and exits
        (`now`: killed instead)."""
        if self._process.stdin is not None:
            with suppress(OSError):
                self._process.stdin.close()
        if now:
            self._process.kill()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._collector.join()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _serve(jobs: BinaryIO, outcomes: BinaryIO) -> None:
    """The worker's loop: a job in, its outcome out, until the input ends."""
    # Rows, tuples and strings by the hundred thousand and no reference cycles: the cycle
    # collector would only rescan them (measured 7 to 30% of a file's time). A worker lives for
    # one import; reference counting frees each file's objects.
    gc.disable()
    while True:
        try:
            key, source, now, keep_personal, dialect, user_id = pickle.load(jobs)
        except EOFError:
            return
        answer: tuple[int, bool, object]
        try:
            answer = (key, False, prepare(source, now, keep_personal, dialect, user_id))
        except Exception as exc:  # the caller sees it as `prepare`'s own error
            answer = (key, True, exc)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            data = pickle.dumps((key, True, WorkerGone(f"the outcome could not be sent back: {exc}")))
        outcomes.write(data)
        outcomes.flush()


if __name__ == "__main__":
    # Through the module's importable name: what it pickles must name `brapped.imports.worker`
    # classes, not this `__main__`'s copies.
    from brapped.imports import worker

    with suppress(BrokenPipeError, KeyboardInterrupt):
        worker._serve(sys.stdin.buffer, sys.stdout.buffer)
