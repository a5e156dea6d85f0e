"""`brapped import`: Spotify's data export files → merged plays, one transaction per file.

Read (brapped.imports: files, zips, formats; no database; in a worker process for a big import,
brapped.imports.worker) → decide (brapped.imports.merge: new, already known, merged with a synced
play, replacing an account-data play, covered) → load (brapped.store.bulk: staging table,
set-based SQL). Each file is all-or-nothing; a bad file is reported and the others still load.
See docs/merge.md for the rules.
"""

from __future__ import annotations

import gc
import logging
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, exists, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import AddConstraint, DropConstraint, Index

from brapped import identity
from brapped.clock import Clock
from brapped.errors import BrappedError
from brapped.imports import (
    Broken,
    EpisodeRow,
    ImportFileError,
    MusicColumns,
    MusicRow,
    ParsedFile,
    Skipped,
    Source,
    iter_inputs,
    parse_file,
    parse_stored,
)
from brapped.imports.merge import COVERED, KNOWN, MERGED, NEW, REPLACED, Decision, Incoming, Stored, decide
from brapped.imports.worker import (
    CopyFile,
    Prepared,
    Readers,
    StagedFile,
    drop_image_rows,
    image_rows,
    prepare,
)
from brapped.store import Store
from brapped.store import bulk as bulk_module
from brapped.store.engine import leave_wal, return_to_wal
from brapped.store.locking import lock
from brapped.store.runs import finish_run, start_run
from brapped.store.tables import accounts, album_artists, gaps, imported_files, plays, track_artists, tracks

log = logging.getLogger(__name__)

DEFAULT_USER = "me"
# Plays stored this close to a file's first/last play can still be the same play (account data's
# minute precision, the merge tolerance).
_MARGIN = timedelta(minutes=3)
_MARGIN_MS = 3 * 60_000
# WAL pages (4 KiB each by default) a file's commit may leave before copying them back: 256 MiB.
_CHECKPOINT_PAGES = 65_536
# The index of `plays` a SQLite bulk load keeps current (see `_bulk_load`).
_KEPT_CURRENT = "ix_plays_played_at"
# The page cache of a bulk load. Of the secondary indexes of `plays` it keeps only the end-time one
# current, and that and the rest grow at their ends (files come in time order): a quarter of the
# usual cache was measured as fast, and the import's memory stays under 300 MB with its worker
# process (brapped.imports.worker) counted in.
# Past it, the load writes pages into the database file before its commit (under its journal).
_BULK_CACHE_KIB = 8_192
_USERNAME = re.compile(rb'"username"\s*:\s*"([^"\\]{1,64})"')
# A load this big (plays estimated from the first file) and at least twice what is stored already
# (so never a re-import, which adds nothing) goes in as one transaction with a savepoint per file,
# the secondary indexes of `plays` dropped first and built again at the end: on SQLite, keeping
# them current play by play (random inserts into the (track_id, played_at) index above all) was
# measured at 3.3 s of a 500,000-play load's 8.5 s of database time, building them at the end 1 s.
BULK_MIN_PLAYS = 100_000
# The tables a bulk load inserts into by the thousand whose foreign keys PostgreSQL then checks.
_BULK_KEYED = (plays, tracks, track_artists, album_artists)
# Bytes of a file per play, to guess from sizes whether an import is a bulk load before a file is
# read (extended history: about 750; account data: about 130, so a guess on the high side).
_BYTES_PER_PLAY = 800
_DIMENSIONS_KEPT = 100_000  # see _BulkLoad.dimensions: memory stays bounded whatever the history
# A bulk load reads and stages its files in a worker process (brapped.imports.worker) while this
# one loads: parsing and staging were two thirds of a 500,000-play SQLite import. One worker: a
# second one's ~100 MB would take the import past its 300 MB memory target. Files prepared ahead:
# enough to keep the worker busy while a file loads; each one waiting is a few MB (a staging
# image). On PostgreSQL a file waiting is its parsed rows: one ahead, as many files in memory as
# with the reader thread of a load that is not bulk.
_WORKERS = 1
_PREPARED_AHEAD = {"sqlite": 2, "postgresql": 1}
# SQLite: when the loader would wait for the worker, it prepares one of the next files itself
# (loading a file was measured at about half the time preparing one takes, so the loader waited a
# third of the import): files prepared and waiting, in all, a few MB each.
_HELD = 3

_played_at = itemgetter(0)  # of a MusicRow or an EpisodeRow

Progress = Callable[[int, int, str], None]
"""Called with (files done, files in total, the file just started or finished)."""


class UserChoiceError(BrappedError):
    """Whose plays these are is ambiguous (several accounts or usernames and no --user)."""


@dataclass
class FileReport:
    """What happened to one input file."""

    name: str
    status: str  # imported | failed | skipped
    format: str | None = None
    records: int = 0
    new: int = 0
    known: int = 0
    merged: int = 0
    replaced: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    first_played_at: datetime | None = None
    last_played_at: datetime | None = None


@dataclass
class ImportResult:
    """The outcome of `import_paths`: one report per input file and the totals."""

    user_id: str
    user_source: str  # flag | account | username | default
    run_id: int | None
    files: list[FileReport]
    warnings: list[str] = field(default_factory=list)
    gaps_filled: int = 0

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def imported(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "imported"]

    @property
    def ok(self) -> bool:
        """True when every history file loaded (and there was at least one)."""
        return not self.failed and bool(self.imported)

    def totals(self) -> dict[str, Any]:
        skipped: Counter[str] = Counter()
        for f in self.imported:
            skipped.update(f.skipped)
        return {
            "files_read": len(self.imported),
            "files_failed": len(self.failed),
            "files_skipped": len([f for f in self.files if f.status == "skipped"]),
            "records": sum(f.records for f in self.imported),
            "new": sum(f.new for f in self.imported),
            "known": sum(f.known for f in self.imported),
            "merged": sum(f.merged for f in self.imported),
            "replaced": sum(f.replaced for f in self.imported),
            "skipped": dict(sorted(skipped.items())),
            "gaps_filled": self.gaps_filled,
        }


def import_paths(
    store: Store,
    paths: Sequence[Path | str],
    clock: Clock,
    *,
    user_id: str | None = None,
    keep_personal: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import Spotify export files, folders or zips into `store`; never raises for a bad file.

    A file that cannot be imported is reported in the result (and rolls back alone); `result.ok`
    is False then. Raises `BrappedError` only when no user can be chosen.
    """
    with _no_cycle_collection():
        return _import_paths(store, paths, clock, user_id, keep_personal, progress)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused (as `parse_file` does for a file): an import holds a file's rows,
    hundreds of thousands of objects without cycles, which it would scan again and again (measured
    on a PostgreSQL bulk load of 500,000 plays, whose rows come unpickled from the worker: 7.0 s of
    this process's CPU time with it, 5.2 s without). What cycles the import leaves are collected
    when it is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import_paths(
    store: Store,
    paths: Sequence[Path | str],
    clock: Clock,
    user_id: str | None,
    keep_personal: bool,
    progress: Progress | None,
) -> ImportResult:
    items = _ordered(iter_inputs(paths))
    user, user_source, warnings = _choose_user(store, items, user_id)
    started = clock.now()
    with store.begin() as conn:
        run_id = start_run(conn, "import", started, user)

    reports: list[FileReport] = []
    sources = [i for i in items if isinstance(i, Source)]
    now = clock.now()
    done = 0
    # A bulk load reads the files after the first in a worker process (see _WORKERS). Otherwise,
    # SQLite: one file at a time; reading the next one in a thread while this one loads was measured
    # slower on 2 busy cores (parsing and binding rows both need the GIL) and doubles memory.
    # PostgreSQL does the loading in its own process while this one only waits on the socket, so
    # there the next file is read meanwhile: at most two files in memory.
    reader = ThreadPoolExecutor(1, "brapped-import-read") if store.dialect == "postgresql" else None
    ahead: dict[int, Future[ParsedFile | FileReport]] = {}
    workers: Readers | None = None
    prepared_ahead: dict[int, Future[Prepared]] = {}
    bulk: _BulkLoad | None = None
    try:
        with ExitStack() as stack:
            if _likely_bulk(store, sources):
                # The worker starts on the files after the first while this process reads the
                # first one, which decides (see below); stopped if the import is not a bulk load.
                workers = _start_workers(stack)
                first = next((i for i, item in enumerate(items) if isinstance(item, Source)), 0)
                if workers is not None:
                    _top_up(workers, prepared_ahead, items, first, now, keep_personal, store.dialect, user)
            for position, item in enumerate(items):
                if isinstance(item, Skipped):
                    reports.append(FileReport(item.name, "skipped", message=item.reason))
                    continue
                if isinstance(item, Broken):
                    reports.append(FileReport(item.name, "failed", message=item.message))
                    continue
                if progress is not None:
                    progress(done, len(sources), item.name)
                early = ahead.pop(position, None)
                worked = prepared_ahead.pop(position, None)
                prepared: ParsedFile | StagedFile | CopyFile | FileReport
                if worked is not None:
                    if workers is not None and store.dialect == "sqlite":
                        # Rather than wait for the worker, prepare a file of those after it here.
                        while not worked.done() and len(prepared_ahead) < _HELD:
                            following = [
                                i for i in range(position + 1, len(items)) if i not in prepared_ahead
                            ]
                            spare = next((i for i in following if isinstance(items[i], Source)), None)
                            if spare is None:
                                break
                            prepared_ahead[spare] = _prepare_here(
                                items[spare], now, keep_personal, store.dialect, user
                            )
                            _top_up(
                                workers,
                                prepared_ahead,
                                items,
                                position,
                                now,
                                keep_personal,
                                store.dialect,
                                user,
                            )
                    prepared = _prepared(worked, item, now, keep_personal)
                elif early is not None:
                    prepared = early.result()
                else:
                    prepared = _read(item, now, keep_personal)
                if (
                    bulk is None
                    and done == 0
                    and isinstance(prepared, ParsedFile)
                    and _worth_bulk(store, prepared.records * len(sources))
                ):
                    bulk = stack.enter_context(_bulk_load(store, user))
                    if len(sources) > 1 and workers is None:
                        workers = _start_workers(stack)
                elif bulk is None and workers is not None:
                    # Started for a bulk load that this is not: what it prepared is not used.
                    workers.close(now=True)
                    workers = None
                    prepared_ahead.clear()
                following = [i for i in range(position + 1, len(items)) if isinstance(items[i], Source)]
                if workers is not None:  # kept busy after a failed file too
                    _top_up(workers, prepared_ahead, items, position, now, keep_personal, store.dialect, user)
                elif reader is not None and following and not isinstance(prepared, FileReport):
                    ahead[following[0]] = reader.submit(_read, items[following[0]], now, keep_personal)
                if isinstance(prepared, FileReport):
                    reports.append(prepared)
                else:
                    if isinstance(prepared, StagedFile):
                        assert bulk is not None  # workers only read for a bulk load
                        report = _load_staged(store, prepared, user, clock, keep_personal, run_id, bulk)
                    elif isinstance(prepared, CopyFile):
                        assert bulk is not None
                        report = _load_file(
                            store, prepared.parsed, user, clock, keep_personal, run_id, bulk, copied=prepared
                        )
                    else:
                        report = _load_file(store, prepared, user, clock, keep_personal, run_id, bulk)
                    reports.append(report)
                    if bulk is not None and report.status == "imported":
                        bulk.loaded.append(report)
                del prepared  # the file's rows: free them before reading the next file
                done += 1
                if progress is not None:
                    progress(done, len(sources), item.name)
    except SQLAlchemyError as exc:
        # A file's own failure is caught in _load_file: what gets here is the bulk load's start
        # or end (indexes, commit), and then nothing of it was kept.
        if bulk is None:
            raise
        reason = _first_line(exc)
        log.warning("import rolled back: %s", reason)
        for report in bulk.loaded:
            report.status = "failed"
            report.message = f"{report.name}: database: {reason}"
            report.new = report.known = report.merged = report.replaced = 0
    finally:
        if reader is not None:
            reader.shutdown(wait=True, cancel_futures=True)

    result = ImportResult(user, user_source, run_id, reports, warnings)
    if not result.imported and not result.failed:
        names = ", ".join(str(p) for p in paths)
        result.files.append(
            FileReport(names, "failed", message=f"{names}: no Spotify listening history found")
        )
    result.gaps_filled = _fill_gaps(store, user, result.imported, clock.now())
    outcome = "ok" if result.ok else ("partial" if result.imported else "failed")
    message = "; ".join(f.message or "" for f in result.failed)[:2000] or None
    with store.begin() as conn:
        finish_run(conn, run_id, clock.now(), outcome, result.totals(), message)
    return result


# An export file's kind, first year and number: `streaming_history_audio`, 2017 and 2 of
# `Streaming_History_Audio_2017-2018_2.json`; `endsong`, none and 3 of `endsong_3.json`;
# `streaminghistory`, none and 1 of `StreamingHistory1.json`; and what follows the number (a copy
# named `..._1b.json` or `..._1 (1).json` comes after 1).
_NUMBERED_FILE = re.compile(
    r"(?P<kind>.*?[a-z])(?:_(?P<year>\d{4})(?:-\d{4})?)?"
    r"(?:_?(?P<number>\d+)(?P<after>[a-z]*(?: \(\d+\))?))?\.json"
)


def _ordered(items: Iterable[Any]) -> list[Any]:
    # Extended history before account data, so account-data rows meet the extended plays already
    # stored and are skipped as covered instead of being inserted and then replaced. Within each,
    # the files of one kind in the order of their numbers, which is time order: a bulk load then
    # adds each file's plays at the end of the unique key's index rather than in its middle
    # (measured: a sixth of the insert). By name, `..._2017-2018_2.json` came before `..._2017_0`,
    # and `_10` before `_2`.
    listed = list(items)

    def rank(item: Any) -> tuple[int, str, int, int, str]:
        base = item.name.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
        found = _NUMBERED_FILE.fullmatch(base)
        account = 1 if base.startswith("streaminghistory") else 0
        if found is None:
            return (account, base, 0, -1, "")
        year, number = int(found["year"] or 0), int(found["number"] or -1)
        return (account, found["kind"], year, number, found["after"] or "")

    return sorted(listed, key=rank)  # stable: the walk's order among equals


def _choose_user(store: Store, items: Sequence[Any], explicit: str | None) -> tuple[str, str, list[str]]:
    if explicit:
        return explicit, "flag", []
    with store.connect() as conn:
        ids = list(conn.execute(select(accounts.c.id).order_by(accounts.c.id)).scalars())
    if len(ids) == 1:
        return ids[0], "account", []
    if len(ids) > 1:
        raise UserChoiceError(
            f"the database holds {len(ids)} accounts ({', '.join(ids)}): choose one with --user"
        )
    names: set[str] = set()
    for item in items:
        if isinstance(item, Source):
            try:
                found = _USERNAME.search(item.read()[:4096])
            except ImportFileError:
                continue
            if found:
                names.add(found.group(1).decode("utf-8", "replace"))
    if len(names) == 1:
        return names.pop(), "username", []
    if len(names) > 1:
        raise UserChoiceError(f"the files belong to several users ({', '.join(sorted(names))}): use --user")
    warning = (
        f"no --user given, no synced account and no username in the files: plays are stored for "
        f"user {DEFAULT_USER!r}"
    )
    return DEFAULT_USER, "default", [warning]


def _read(source: Source, now: datetime, keep_personal: bool) -> ParsedFile | FileReport:
    """A file's rows, or the report of why it is skipped or failed."""
    try:
        parsed = parse_file(source.name, source.read(), now, keep_personal=keep_personal)
    except ImportFileError as exc:
        return FileReport(source.name, "failed", message=str(exc))
    return _report_skipped(parsed)


def _start_workers(stack: ExitStack) -> Readers | None:
    """Worker processes for a bulk load, or None when none can start (files are read here then)."""
    try:
        return stack.enter_context(Readers(_WORKERS))
    except (OSError, ValueError) as exc:  # no interpreter to run (an embedded Python), no processes
        log.warning("import worker could not start (%s): reading files here", exc)
        return None


def _top_up(
    workers: Readers,
    prepared_ahead: dict[int, Future[Prepared]],
    items: Sequence[Any],
    position: int,
    now: datetime,
    keep_personal: bool,
    dialect: str,
    user: str,
) -> None:
    """Give the worker the next files after `position` no one prepares yet, up to
    `_PREPARED_AHEAD` in its hands and `_HELD` prepared or being prepared in all."""
    busy = sum(not future.done() for future in prepared_ahead.values())
    for i in range(position + 1, len(items)):
        if busy >= _PREPARED_AHEAD[dialect] or len(prepared_ahead) >= _HELD:
            return
        if i not in prepared_ahead and isinstance(items[i], Source):
            prepared_ahead[i] = workers.submit(items[i], now, keep_personal, dialect, user)
            busy += 1


def _prepare_here(
    source: Source, now: datetime, keep_personal: bool, dialect: str, user: str
) -> Future[Prepared]:
    """`prepare` in this process, as a finished future (a worker's outcome is one)."""
    future: Future[Prepared] = Future()
    try:
        future.set_result(prepare(source, now, keep_personal, dialect, user))
    except Exception as exc:  # as a worker's: `_prepared` reports it
        future.set_exception(exc)
    return future


def _prepared(
    future: Future[Prepared], source: Source, now: datetime, keep_personal: bool
) -> StagedFile | CopyFile | ParsedFile | FileReport:
    """A worker's outcome for `source`, as `_read` gives it: a bad file is a failed report."""
    try:
        outcome = future.result()
    except ImportFileError as exc:
        return FileReport(source.name, "failed", message=str(exc))
    except Exception as exc:
        # The worker could not do it (it died, or the file's reader would not go to it): reading
        # the file here does the same work, and fails or reports exactly as without workers.
        log.warning("worker could not read %s (%s): reading it here", source.name, exc)
        return _read(source, now, keep_personal)
    if isinstance(outcome, Skipped):
        return FileReport(outcome.name, "skipped", message=outcome.reason)
    return outcome


def _load_staged(
    store: Store,
    staged: StagedFile,
    user: str,
    clock: Clock,
    keep_personal: bool,
    run_id: int,
    bulk: _BulkLoad,
) -> FileReport:
    """Load a file a worker staged (SQLite; see brapped.imports.worker), in its savepoint."""
    return _load_file(store, staged.parsed, user, clock, keep_personal, run_id, bulk, staged=staged)


def _decide_staged(
    conn: Connection, staged: StagedFile, user: str
) -> tuple[list[tuple[int, MusicRow, Decision]], bool]:
    """Attach a staged file's image and decide its plays near stored ones (a neighbouring file's
    edge, synced plays): read back from the image, decided by the merge rules as `_decide_music`
    decides them among all the file's plays (a far play never takes a stored one). Every other
    play is new. Returns (rowid in the image, row, decision) of the near ones, and whether one
    decided new has a stored play's key (see `_decide_music`)."""
    if not staged.music or staged.music_first is None or staged.music_last is None:
        return [], False
    start = parse_stored(staged.music_first) - _MARGIN
    end = parse_stored(staged.music_last) + _MARGIN
    bulk_module.drop_stages(conn)  # the image's stages have the temporary ones' names
    bulk_module.load_image(conn, staged.image)
    stored = bulk_module.stored_music(conn, user, start, end)
    if not stored:
        return [], False
    with bulk_module.raw_errors(conn, "SELECT ... FROM import_image"):
        found = image_rows(
            conn.connection.dbapi_connection, bulk_module.IMAGE, _spans(stored), staged.dimensions
        )
    if not found:
        return [], False
    decisions, clash = _decide_music(conn, user, [row for _, row in found])
    if decisions is None:
        return [], False
    return [(rowid, row, d) for (rowid, row), d in zip(found, decisions, strict=True)], clash


def _spans(stored: Sequence[Stored]) -> list[tuple[str, str]]:
    """The periods (stored text) within the merge tolerance of the stored plays."""
    return [(_stored_text(low), _stored_text(high)) for low, high in _bands(stored)]


def _bands(stored: Sequence[Stored]) -> list[list[int]]:
    # Near each stored play, not between the first and the last: a file whose both ends touch
    # stored files is near only there.
    bands: list[list[int]] = []
    for end_ms in sorted(s.end_ms for s in stored):
        if bands and end_ms - _MARGIN_MS <= bands[-1][1]:
            bands[-1][1] = end_ms + _MARGIN_MS
        else:
            bands.append([end_ms - _MARGIN_MS, end_ms + _MARGIN_MS])
    return bands


def _report_skipped(parsed: ParsedFile | Skipped) -> ParsedFile | FileReport:
    if isinstance(parsed, Skipped):
        return FileReport(parsed.name, "skipped", message=parsed.reason)
    return parsed


def _load_file(
    store: Store,
    parsed: ParsedFile,
    user: str,
    clock: Clock,
    keep_personal: bool,
    run_id: int,
    bulk: _BulkLoad | None = None,
    staged: StagedFile | None = None,
    copied: CopyFile | None = None,
) -> FileReport:
    """Load one file in its own transaction (or savepoint of a bulk load). `staged`: its music
    plays as a worker staged them (SQLite); `parsed` is then the staged file's, without music rows."""
    report = FileReport(parsed.name, "imported", parsed.format, parsed.records, skipped=dict(parsed.skipped))
    first, last = (staged.first, staged.last) if staged is not None else (parsed.first, parsed.last)
    report.first_played_at = parse_stored(first) if first else None
    report.last_played_at = parse_stored(last) if last else None
    try:
        with ExitStack() as stack:
            if bulk is None:
                conn = stack.enter_context(_file_transaction(store))
            else:
                # The file's own savepoint inside the bulk load's transaction: all or nothing still.
                conn = bulk.conn
                stack.enter_context(conn.begin_nested())
            if staged is not None:
                near, clash = _decide_staged(conn, staged, user)
                dimensions = _load_music_staged(
                    conn, staged, near, clash, user, report, keep_personal, bulk.dimensions if bulk else None
                )
                _load_episodes(conn, parsed, user, report, keep_personal)
            elif copied is not None:
                assert bulk is not None
                dimensions = _load_copied(conn, copied, user, report, keep_personal, bulk.dimensions)
            else:
                dimensions = _load(
                    conn, parsed, user, report, keep_personal, bulk.dimensions if bulk else None
                )
            _record_file(conn, parsed, report, clock.now(), run_id)
            since = report.first_played_at
            if (
                since is not None
                and (report.new or report.replaced)
                and (bulk is None or bulk.api_after(since))
            ):
                _reestimate(conn, user, since)
            bulk_module.drop_stages(conn)
        if bulk is not None and len(bulk.dimensions) < _DIMENSIONS_KEPT:
            bulk.dimensions.update(dimensions)
    except SQLAlchemyError as exc:
        first_line = _first_line(exc)
        log.warning("import of %s rolled back: %s", parsed.name, first_line)
        return FileReport(
            parsed.name,
            "failed",
            parsed.format,
            parsed.records,
            message=f"{parsed.name}: database: {first_line}",
        )
    return report


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


@dataclass
class _BulkLoad:
    """The one transaction of a bulk load and the files it holds so far."""

    conn: Connection
    loaded: list[FileReport] = field(default_factory=list)
    # Track, album and artist fields the files loaded so far staged (each in both forms, see
    # `bulk.Dimension`): stored in this very transaction, so the next files need not stage them
    # again. At most about _DIMENSIONS_KEPT (a few hundred bytes each): past that, files stage all
    # theirs, as outside a bulk load.
    dimensions: set[bulk_module.Dimension] = field(default_factory=set)
    last_api: datetime | None = None  # the user's last API play when the load began
    indexes: list[Index] = field(default_factory=list)  # dropped for the load

    def api_after(self, since: datetime) -> bool:
        """Whether the user may have API plays ending at `since` or later (see `_reestimate`)."""
        return self.last_api is not None and self.last_api >= since

    def build_indexes(self) -> None:
        """Build the dropped indexes again, once every file is loaded.

        Not earlier, while the worker prepares the last files: those then loaded with the indexes
        kept current, each play a few more random page writes (and their copies in the file's
        savepoint journal), and the import took longer (measured: 3.48 s against 3.42 s, and 0.2 s
        more CPU time)."""
        conn = self.conn
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # The sorts of the index builds may take another core.
            threads = conn.exec_driver_sql("PRAGMA threads").scalar()
            conn.exec_driver_sql("PRAGMA threads = 2")
        for index in self.indexes:
            index.create(conn)
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA threads = {int(threads or 0)}")


def _likely_bulk(store: Store, sources: Sequence[Source]) -> bool:
    """Whether the import looks like a bulk load by its files' stated sizes, before any is read."""
    stated = sum(source.size for source in sources)
    return len(sources) > 1 and stated > 0 and _worth_bulk(store, stated // _BYTES_PER_PLAY)


def _worth_bulk(store: Store, estimate: int) -> bool:
    if estimate < BULK_MIN_PLAYS:
        return False
    with store.connect() as conn:
        # The largest id bounds the plays stored, in one index lookup (a count reads them all).
        stored = conn.execute(select(func.max(plays.c.id))).scalar()
    return estimate >= 2 * int(stored or 0)


@contextmanager
def _bulk_load(store: Store, user: str) -> Iterator[_BulkLoad]:
    """One transaction for the whole import, the secondary indexes of `plays` rebuilt at its end.

    DDL is transactional on both databases: a failure or a crash anywhere leaves the indexes and
    every play as they were. Readers meanwhile see the database as before the import (SQLite's WAL;
    or wait for it in a rollback journal, see `engine.leave_wal`) or wait for it (PostgreSQL's DROP
    INDEX locks `plays` until commit); sync waits for the writer lock as it does for any file.
    """
    indexes = sorted(plays.indexes, key=lambda index: str(index.name))
    if store.dialect == "sqlite":
        # Nor those of the tracks and credits it adds by the thousand (the load looks them up by
        # their keys only): each insert's three to five index updates, a fifth of its time.
        indexes += sorted([*tracks.indexes, *track_artists.indexes], key=lambda index: str(index.name))
        # But the one by end time: files come in time order (`_ordered`), so each file's plays go
        # at its end, a few pages appended, as the unique key's do. Kept current, it is not built
        # after the last file while the worker has nothing left to do (measured: 3.23 s against
        # 3.45 s for 500,000 plays, the same CPU time).
        indexes = [index for index in indexes if index.name != _KEPT_CURRENT]
    # PostgreSQL checks a foreign key with a trigger per inserted row (measured: 40% of the insert;
    # for the tracks and credits a file adds, 10 to 20 µs a row); added back at the end, each key
    # is checked once for every row, in one join. SQLite's checks are cheap lookups and its foreign
    # keys cannot be dropped.
    keys = sorted(
        (key for table in _BULK_KEYED for key in table.foreign_key_constraints), key=lambda key: str(key.name)
    )
    keys = keys if store.dialect == "postgresql" else []
    # The indexes built at the end sort every play: in temporary files, not in memory, which would
    # grow with the history (65 MB for 500,000 plays; a little faster on files, 0.74 s vs 0.88 s).
    with _file_transaction(
        store, cache_kib=_BULK_CACHE_KIB, temp_store="FILE", foreign_keys=False, rollback_journal=True
    ) as conn:
        for key in keys:
            conn.execute(DropConstraint(key))
        for index in indexes:
            index.drop(conn)
        triggers = bulk_module.suspend_summary_triggers(conn)
        # Without its indexes, finding the user's API plays after each file's start reads `plays`
        # through: their last end, asked once here, rules most files out (an import never adds an
        # API play and holds the lock that sync takes, so there are no later ones).
        last_api = conn.execute(
            select(func.max(plays.c.played_at)).where(plays.c.user_id == user, plays.c.source == "api")
        ).scalar()
        load = _BulkLoad(conn, last_api=last_api, indexes=indexes)
        yield load
        bulk_module.resume_triggers(conn, triggers)
        load.build_indexes()
        for key in keys:
            conn.execute(AddConstraint(key))
        if store.dialect == "sqlite":
            bulk_module.check_foreign_keys(conn)


@contextmanager
def _file_transaction(
    store: Store,
    cache_kib: int = 65_536,
    temp_store: str = "MEMORY",
    foreign_keys: bool = True,
    rollback_journal: bool = False,
) -> Iterator[Connection]:
    """One write transaction (SQLite: the write lock taken at BEGIN) for one file.

    `foreign_keys=False`: SQLite enforces none in it (see `bulk.check_foreign_keys`).
    `rollback_journal`: SQLite leaves WAL for it if nobody else has the database open
    (`engine.leave_wal`)."""
    left_wal = False
    with store.connect() as conn:
        if conn.dialect.name == "sqlite":
            # Outside the transaction (SQLite refuses inside): staging in memory, a bigger page
            # cache for the index updates of a big file.
            raw: Any = conn.connection.dbapi_connection
            raw.execute(f"PRAGMA temp_store = {temp_store}")
            cache_before = raw.execute("PRAGMA cache_size").fetchone()[0]
            raw.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
            # Each file's commit would copy the write-ahead log back into the database once it
            # passes 1,000 pages, rewriting the same index pages file after file (a third of the
            # import's time). Here the log may grow to 64 Ki pages first; the setting goes back at
            # the end of the file, and the next commit checkpoints.
            checkpoint_after = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            raw.execute(f"PRAGMA wal_autocheckpoint = {max(int(checkpoint_after), _CHECKPOINT_PAGES)}")
            # The memory map helps reports re-read pages; an import writes, and the pages it maps
            # while it checks keys and builds indexes stay in its resident memory, which is to stay
            # under 300 MB whatever the history's size.
            mapped = raw.execute("PRAGMA mmap_size").fetchone()[0]
            raw.execute("PRAGMA mmap_size = 0")
            enforced = raw.execute("PRAGMA foreign_keys").fetchone()[0]
            raw.execute(f"PRAGMA foreign_keys = {int(bool(enforced) and foreign_keys)}")
            left_wal = rollback_journal and leave_wal(raw)
            log.debug("bulk load journal: %s", "rollback" if left_wal else "WAL")
        conn.info["immediate"] = True
        conn.info["exclusive"] = left_wal
        try:
            with conn.begin():
                # PostgreSQL: the advisory lock every brapped writer takes, so a sync running now
                # waits instead of inserting the same tracks or plays under this file's feet.
                lock(conn)
                yield conn
        finally:
            conn.info.pop("immediate", None)
            conn.info.pop("exclusive", None)
            if conn.dialect.name == "sqlite":
                try:
                    bulk_module.detach_image(conn)
                    raw.execute(f"PRAGMA cache_size = {int(cache_before)}")
                    raw.execute(f"PRAGMA wal_autocheckpoint = {int(checkpoint_after)}")
                    raw.execute(f"PRAGMA mmap_size = {int(mapped)}")
                    raw.execute(f"PRAGMA foreign_keys = {int(enforced)}")
                finally:
                    # Whatever failed above: the pooled connection must not stay in a rollback
                    # journal synced fully.
                    if left_wal and not return_to_wal(raw):
                        log.warning("the database stays in a rollback journal until brapped next opens it")


def _load(
    conn: Connection,
    parsed: ParsedFile,
    user: str,
    report: FileReport,
    keep_personal: bool,
    stored_dimensions: set[bulk_module.Dimension] | None = None,
) -> list[bulk_module.Dimension]:
    """Load one file's rows; returns the dimension fields it staged (see `bulk.stage_music`)."""
    skipped: Counter[str] = Counter(report.skipped)
    staged_dimensions: list[bulk_module.Dimension] = []
    if parsed.music:
        decisions, clash = _decide_music(conn, user, parsed.music)
        changes: list[dict[str, Any]] = []
        if decisions is None:  # nothing stored in the period: every play is new
            staged = fresh = parsed.music
            report.new += len(staged)
        else:
            staged, fresh = [], []
            for row, decision in zip(parsed.music, decisions, strict=True):
                _count(report, skipped, decision)
                if decision.outcome == NEW:
                    staged.append(row)
                    fresh.append(row)
                elif decision.outcome == REPLACED:
                    # Staged for its track, album and artist rows; the insert finds it already moved.
                    staged.append(row)
                    changes.append(_replace_change(decision, row, keep_personal))
                elif decision.play_id is not None and (decision.outcome == MERGED or decision.refresh):
                    changes.append(_merge_change(decision, row, keep_personal))
        # A bulk load holds the lock from its start to its end, so only a stored play with a new
        # play's very key (which `clash` tells) could collide with one: without it, the new plays
        # can skip staging and its ON CONFLICT.
        copy = stored_dimensions is not None and not clash and bulk_module.copies_new_plays(conn)
        if copy:
            staged_dimensions = bulk_module.stage_music_dimensions(conn, staged, stored_dimensions)
        else:
            staged_dimensions = bulk_module.stage_music(conn, staged, stored_dimensions)
        bulk_module.load_music_dimensions(conn)
        bulk_module.update_music(conn, changes)
        if copy:
            # `fresh` keeps the file's order: as long as the file, it is the file's music rows.
            inserted = bulk_module.copy_new_music_plays(conn, user, fresh)
        else:
            inserted = bulk_module.insert_music_plays(conn, user)
        _settle(report, len(fresh), inserted)
    report.skipped = dict(sorted(skipped.items()))
    _load_episodes(conn, parsed, user, report, keep_personal)
    return staged_dimensions


def _load_copied(
    conn: Connection,
    copied: CopyFile,
    user: str,
    report: FileReport,
    keep_personal: bool,
    stored_dimensions: set[bulk_module.Dimension],
) -> list[bulk_module.Dimension]:
    """Load a file whose plays a worker turned into COPY text (PostgreSQL): that text as it is when
    every play near a stored one is new, else the file row by row (`_load`). Returns the dimension
    fields it staged."""
    parsed = copied.parsed
    columns = parsed.music_columns
    assert columns is not None
    near, clash = _decide_columns(conn, columns, user)
    if clash or any(decision.outcome != NEW for _, decision in near):
        # Plays the rules join to stored ones (or one whose key a stored play holds).
        parsed.music, parsed.music_columns = columns.rows(), None
        return _load(conn, parsed, user, report, keep_personal, stored_dimensions)
    report.new += len(columns)
    staged = bulk_module.stage_dimensions(conn, list(columns.dimensions.values()), stored_dimensions)
    bulk_module.load_music_dimensions(conn)
    _settle(report, len(columns), bulk_module.copy_music_text(conn, copied.text))
    _load_episodes(conn, parsed, user, report, keep_personal)
    return staged


def _decide_columns(
    conn: Connection, columns: MusicColumns, user: str
) -> tuple[list[tuple[int, Decision]], bool]:
    """The plays of `columns` near stored ones (see `_decide_staged`) with their decisions by the
    merge rules, and whether one decided new has a stored play's key. The others are new."""
    if not len(columns):
        return [], False
    played_at = columns.played_at
    stored = bulk_module.stored_music(
        conn, user, parse_stored(min(played_at)) - _MARGIN, parse_stored(max(played_at)) + _MARGIN
    )
    if not stored:
        return [], False
    spans = _spans(stored)
    lows, highs = [low for low, _ in spans], [high for _, high in spans]
    near = []
    for index, ended in enumerate(played_at):
        band = bisect_right(lows, ended) - 1
        if band >= 0 and ended <= highs[band]:
            near.append(index)
    if not near:
        return [], False
    decisions, clash = _decide_music(conn, user, [columns.row(index) for index in near])
    if decisions is None:
        return [], False
    return list(zip(near, decisions, strict=True)), clash


def _load_music_staged(
    conn: Connection,
    staged: StagedFile,
    near: Sequence[tuple[int, MusicRow, Decision]],
    clash: bool,
    user: str,
    report: FileReport,
    keep_personal: bool,
    stored_dimensions: set[bulk_module.Dimension] | None,
) -> list[bulk_module.Dimension]:
    """Load the music plays a worker staged: `near` decided as `_load` decides rows, the rest new.
    Returns the dimension fields it staged (see `bulk.stage_music`)."""
    if not staged.music:
        return []
    skipped: Counter[str] = Counter(report.skipped)
    report.new += staged.music - len(near)
    changes: list[dict[str, Any]] = []
    left_out: list[int] = []  # known, merged, covered: neither inserted nor staged
    replaced: list[int] = []  # staged (for their track rows) but moved, not inserted
    for rowid, row, decision in near:
        _count(report, skipped, decision)
        if decision.outcome == NEW:
            continue
        if decision.outcome == REPLACED:
            replaced.append(rowid)
            changes.append(_replace_change(decision, row, keep_personal))
        else:
            left_out.append(rowid)
            if decision.play_id is not None and (decision.outcome == MERGED or decision.refresh):
                changes.append(_merge_change(decision, row, keep_personal))
    report.skipped = dict(sorted(skipped.items()))
    fresh = staged.music - len(left_out) - len(replaced)
    dimensions = list(staged.dimensions.values())
    if left_out:
        with bulk_module.raw_errors(conn, "DELETE FROM import_image"):
            kept = drop_image_rows(conn.connection.dbapi_connection, bulk_module.IMAGE, left_out)
        # The track fields of the plays left only, as a file read here stages them.
        dimensions = [staged.dimensions[number] for number in sorted(kept)]
    staged_dimensions = bulk_module.stage_dimensions(conn, dimensions, stored_dimensions)
    bulk_module.load_music_dimensions(conn)
    bulk_module.update_music(conn, changes)
    inserted = bulk_module.insert_music_plays(conn, user, bulk_module.IMAGE, clash=clash)
    _settle(report, fresh, inserted)
    return staged_dimensions


def _load_episodes(
    conn: Connection, parsed: ParsedFile, user: str, report: FileReport, keep_personal: bool
) -> None:
    skipped: Counter[str] = Counter(report.skipped)
    if parsed.episodes:
        episode_decisions = _decide_episodes(conn, user, parsed.episodes)
        episode_changes: list[dict[str, Any]] = []
        if episode_decisions is None:
            staged_episodes = parsed.episodes
            report.new += len(staged_episodes)
        else:
            staged_episodes = []
            for erow, decision in zip(parsed.episodes, episode_decisions, strict=True):
                _count(report, skipped, decision)
                if decision.outcome in (NEW, REPLACED):
                    staged_episodes.append(erow)
                if decision.outcome == REPLACED:
                    episode_changes.append(_replace_episode_change(decision, erow, keep_personal))
        new = len(staged_episodes) - len(episode_changes)
        bulk_module.stage_episodes(conn, staged_episodes)
        bulk_module.load_episode_dimensions(conn)
        bulk_module.update_episodes(conn, episode_changes)
        _settle(report, new, bulk_module.insert_episode_plays(conn, user))
    report.skipped = dict(sorted(skipped.items()))


def _settle(report: FileReport, decided_new: int, inserted: int) -> None:
    # The insert skips a play stored since the decision (a concurrent import): that play is known.
    if inserted < decided_new:
        report.known += decided_new - inserted
        report.new -= decided_new - inserted


SKIP_COVERED = "covered by extended history"


def _count(report: FileReport, skipped: Counter[str], decision: Decision) -> None:
    if decision.outcome == NEW:
        report.new += 1
    elif decision.outcome == KNOWN:
        report.known += 1
    elif decision.outcome == MERGED:
        report.merged += 1
    elif decision.outcome == REPLACED:
        report.replaced += 1
    elif decision.outcome == COVERED:
        skipped[SKIP_COVERED] += 1


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
    if keep_personal:
        fields["ip_addr"] = row.ip_addr
        fields["user_agent"] = row.user_agent
    return fields


def _merge_change(decision: Decision, row: MusicRow, keep_personal: bool) -> dict[str, Any]:
    if row.origin == "account":
        # Account data knows only how long: the API play keeps its id, time and context.
        return {
            "pid": decision.play_id,
            "source": "both",
            "ms_played": row.ms_played,
            "ms_played_source": "export",
        }
    return {"pid": decision.play_id, "source": "both", **_export_fields(row, keep_personal)}


def _replace_change(decision: Decision, row: MusicRow, keep_personal: bool) -> dict[str, Any]:
    return {
        "pid": decision.play_id,
        "track_id": row.track_id,
        "played_at": parse_stored(row.played_at),
        "source": "export",
        **_export_fields(row, keep_personal),
    }


def _replace_episode_change(decision: Decision, row: EpisodeRow, keep_personal: bool) -> dict[str, Any]:
    return {
        "pid": decision.play_id,
        "episode_id": row.episode_id,
        "played_at": parse_stored(row.played_at),
        "source": "export",
        **_export_fields(row, keep_personal),
    }


def _window(rows: Sequence[MusicRow] | Sequence[EpisodeRow]) -> tuple[datetime, datetime]:
    first = min(map(_played_at, rows))
    last = max(map(_played_at, rows))
    return parse_stored(first) - _MARGIN, parse_stored(last) + _MARGIN


def _end_ms(text: str) -> int:
    return round(parse_stored(text).timestamp() * 1000)


def _decide_music(
    conn: Connection, user: str, rows: Sequence[MusicRow]
) -> tuple[list[Decision] | None, bool]:
    """A decision per row, or None when nothing is stored in the rows' period (all are new); and
    whether a row decided new has the key of a stored play (which only ON CONFLICT then skips)."""
    start, end = _window(rows)
    # The merge rules' first step (the same export play again: same end, same track) as one
    # dictionary lookup per row against the stored keys; only the rows left over, usually none on a
    # re-import and all on a first import, go through the neighbour rules. Each row's key is
    # distinct (formats.py spreads equal ends) and so is each stored play's (the unique key), so the
    # exact matches cannot compete, and leaving the matched plays out of the rest's candidates is
    # what `decide` does with them (used plays are never matched twice).
    exact = bulk_module.stored_export_keys(conn, user, start, end)
    decisions: list[Decision] = [Decision(NEW)] * len(rows)
    rest = list(range(len(rows)))
    used: set[int] = set()
    if exact:
        get = exact.get
        rest = []
        for i, r in enumerate(rows):
            play_id = get((r.played_at, r.track_id))
            if play_id is None or play_id in used:
                rest.append(i)
            else:
                used.add(play_id)
                decisions[i] = Decision(KNOWN, play_id)
        if not rest:
            return decisions, False
    if used:  # else every row is left, and so is the window
        start, end = _window([rows[i] for i in rest])
    stored = [s for s in bulk_module.stored_music(conn, user, start, end) if s.play_id not in used]
    if not stored:  # the common first import: nothing to compare with
        return (decisions if used else None), False
    names: dict[str, str] = {}

    def norm(name: str | None) -> str | None:
        if name is None:
            return None
        found = names.get(name)
        if found is None:
            found = names[name] = identity.normalise(name)
        return found

    # Only rows near a stored play can match one (consecutive files share a few minutes at their
    # boundary): the others are new without building anything for them. Near each stored play, not
    # between the first and the last: a file whose both ends touch stored files is near only there.
    # (A far row never takes a stored play, so leaving it out changes no other row's decision.)
    bands = _bands(stored)
    lows = [_stored_text(low) for low, _ in bands]
    highs = [_stored_text(high) for _, high in bands]

    def is_near(played_at: str) -> bool:
        band = bisect_right(lows, played_at) - 1
        return band >= 0 and played_at <= highs[band]

    near = [i for i in rest if is_near(rows[i].played_at)]
    incoming = [
        Incoming(
            _end_ms(r.played_at),
            r.track_id,
            r.origin,
            r.ms_played,
            norm(r.track_name) or "",
            norm(r.artist_name),
        )
        for r in (rows[i] for i in near)
    ]
    for i, decision in zip(near, decide(incoming, stored), strict=True):
        decisions[i] = decision
    # A row far from every stored play cannot share a key with one: only the near ones can clash.
    keys = {(s.end_ms, s.item_id) for s in stored}
    clash = any(
        decisions[i].outcome == NEW and (play.end_ms, play.item_id) in keys
        for i, play in zip(near, incoming, strict=True)
    )
    return decisions, clash


def _stored_text(end_ms: int) -> str:
    when = datetime.fromtimestamp(end_ms / 1000, UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S") + f".{when.microsecond // 1000:03d}"


def _decide_episodes(conn: Connection, user: str, rows: Sequence[EpisodeRow]) -> list[Decision] | None:
    start, end = _window(rows)
    stored = [s for s in bulk_module.stored_episodes(conn, user, start, end) if s.source != "api"]
    if not stored:
        return None
    incoming = [
        Incoming(
            _end_ms(r.played_at),
            r.episode_id,
            r.origin,
            r.ms_played,
            identity.normalise(r.name),
            identity.normalise(r.show_name) if r.show_name else None,
        )
        for r in rows
    ]
    # API plays never hold episodes; only export-vs-export rules apply.
    return decide(incoming, stored)


def _record_file(
    conn: Connection, parsed: ParsedFile, report: FileReport, now: datetime, run_id: int
) -> None:
    known = conn.execute(select(imported_files.c.id).where(imported_files.c.sha256 == parsed.sha256)).first()
    if known is not None:
        return
    conn.execute(
        insert(imported_files).values(
            sha256=parsed.sha256,
            name=parsed.name[-1000:],
            format=parsed.format,
            records=parsed.records,
            first_played_at=report.first_played_at,
            last_played_at=report.last_played_at,
            imported_at=now,
            run_id=run_id,
        )
    )


def _reestimate(conn: Connection, user: str, since: datetime) -> None:
    """Export plays are new neighbours of API plays whose length was estimated from the gap."""
    has_api = conn.execute(
        select(exists().where(plays.c.user_id == user, plays.c.source == "api", plays.c.played_at >= since))
    ).scalar()
    if not has_api:
        return
    from brapped.store.estimates import update_estimates

    update_estimates(conn, user, since)


def _fill_gaps(store: Store, user: str, imported: Sequence[FileReport], now: datetime) -> int:
    """Mark recorded sync gaps that the imported files' periods cover as filled."""
    spans = sorted(
        (f.first_played_at, f.last_played_at)
        for f in imported
        if f.first_played_at is not None and f.last_played_at is not None
    )
    if not spans:
        return 0
    # Files of one export are consecutive slices of a history: join periods that touch (a day's
    # slack for the quiet night between two files).
    merged: list[list[datetime]] = []
    for first, last in spans:
        assert first is not None and last is not None
        if merged and first <= merged[-1][1] + timedelta(days=1):
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    filled = 0
    with store.begin() as conn:
        for first, last in merged:
            result = conn.execute(
                update(gaps)
                .where(
                    gaps.c.user_id == user,
                    gaps.c.filled_at.is_(None),
                    gaps.c.gap_from >= first,
                    gaps.c.gap_to <= last,
                )
                .values(filled_at=now)
            )
            filled += int(result.rowcount or 0)
    return filled
