"""An import's files read ahead of the loader, as one iterator: each item in order with its outcome.

A bulk load reads the files after the first in a worker process (`brapped.imports.worker`), and on
SQLite the loader prepares one itself rather than wait for it. Files too big for that (`BulkPolicy`'s
`parse_here_bytes`) are the worker's alone, the first too; and what waits for the loader is bounded
by its files' sizes (`held_bytes`), so memory is bounded whatever the files' sizes.
Otherwise, SQLite: one file at a time, since parsing and binding rows both need the GIL and a
reading thread doubles memory.
PostgreSQL does the loading in its own process while this one only waits on the socket, so there
the next file is read in a thread meanwhile: at most two files in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from brapped.imports import (
    Broken,
    ImportFileError,
    ParsedFile,
    Skipped,
    Source,
    looks_like_history_name,
    parse_file,
)
from brapped.imports.staging import CopyFile, StagedFile
from brapped.imports.worker import Prepared, Readers, prepare
from brapped.pipeline.import_plan import BulkPolicy
from brapped.pipeline.import_report import FileReport

log = logging.getLogger(__name__)

Item = Source | Skipped | Broken
Outcome = ParsedFile | StagedFile | CopyFile | FileReport
"""A file ready to load (parsed, or prepared by `prepare`), or the report of why it is not."""


def read_file(source: Source, now: datetime, keep_personal: bool) -> ParsedFile | FileReport:
    """A file's rows, or the report of why it is skipped or failed."""
    try:
        parsed = parse_file(source.name, source.read(), now, keep_personal=keep_personal)
    except ImportFileError as exc:
        return FileReport(source.name, "failed", message=str(exc))
    if isinstance(parsed, Skipped):
        return FileReport(parsed.name, "skipped", message=parsed.reason)
    return parsed


def prepare_here(
    source: Source, now: datetime, keep_personal: bool, dialect: str, user: str
) -> Future[Prepared]:
    """`prepare` in this process, as a finished future (a worker's outcome is one)."""
    future: Future[Prepared] = Future()
    try:
        future.set_result(prepare(source, now, keep_personal, dialect, user))
    except Exception as exc:  # as a worker's: `prepared_outcome` reports it
        future.set_exception(exc)
    return future


def prepared_outcome(future: Future[Prepared], source: Source, now: datetime, keep_personal: bool) -> Outcome:
    """A worker's outcome for `source`, as `read_file` gives it: a bad file is a failed report."""
    try:
        outcome = future.result()
    except ImportFileError as exc:
        return FileReport(source.name, "failed", message=str(exc))
    except Exception as exc:
        # The worker could not do it (it died, or the file's reader would not go to it): reading
        # the file here does the same work, and fails or reports exactly as without workers.
        log.warning("worker could not read %s (%s): reading it here", source.name, exc)
        return read_file(source, now, keep_personal)
    if isinstance(outcome, Skipped):
        return FileReport(outcome.name, "skipped", message=outcome.reason)
    return outcome


class ReadAhead:
    """The import's items in order, each with its outcome (a skipped or broken item: its report);
    a context manager that ends the worker and the reading thread.

    `worth_bulk(estimate)` tells, from the first file's plays times the files, whether the import
    is a bulk load (`bulk` after the first file): the worker then prepares the files after it.
    The first file is the first named like listening history, so a folder and the zip of it decide
    alike (files before it, such as the zip's read-me, are read here first); the worker prepares
    it when it is too big to parse here (then read again here if the import is no bulk load).
    `likely_bulk`: the files' sizes promise one, so the worker starts before the first file is
    read, and is stopped unused if that file shows otherwise. `starting(source)` is called before
    each file is read or waited for.
    """

    def __init__(
        self,
        items: Sequence[Item],
        now: datetime,
        keep_personal: bool,
        dialect: str,
        user: str,
        policy: BulkPolicy,
        *,
        worth_bulk: Callable[[int], bool],
        likely_bulk: bool = False,
        starting: Callable[[Source], None] | None = None,
    ) -> None:
        self._items = items
        self._now, self._keep_personal, self._dialect, self._user = now, keep_personal, dialect, user
        self._policy = policy
        self._worth_bulk = worth_bulk
        self._likely_bulk = likely_bulk
        self._starting = starting
        self._sources = sum(isinstance(item, Source) for item in items)
        self.bulk = False
        self._reader = ThreadPoolExecutor(1, "brapped-import-read") if dialect == "postgresql" else None
        self._ahead: dict[int, Future[ParsedFile | FileReport]] = {}  # read by the thread
        self._workers: Readers | None = None
        self._ending: Readers | None = None  # told to end, not yet waited for
        self._prepared: dict[int, Future[Prepared]] = {}  # by the worker, or here while waiting

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._workers is not None:
                self._workers.close()
            self.settle()
        finally:
            if self._reader is not None:
                self._reader.shutdown(wait=True, cancel_futures=True)

    def settle(self) -> None:
        """Wait for the worker told to end after its last file (whose exit the loader's last file
        overlaps) to be gone: before the load's end, which its memory would otherwise add to."""
        if self._ending is not None:
            self._ending.close()
            self._ending = None

    def __iter__(self) -> Iterator[tuple[Item, Outcome]]:
        items = self._items
        first = _deciding(items)
        if self._likely_bulk:
            # The worker starts on the files after the first while this process reads the first
            # one, which decides.
            self._workers = self._start_workers()
            if self._workers is not None:
                # A file too big to parse here while the worker parses the next goes to the
                # worker too: what a parse takes stays in the process that made it.
                self._top_up(first - 1 if self._worker_decides(first) else first)
        for position, item in enumerate(items):
            if isinstance(item, Skipped):
                yield item, FileReport(item.name, "skipped", message=item.reason)
                continue
            if isinstance(item, Broken):
                yield item, FileReport(item.name, "failed", message=item.message)
                continue
            if self._starting is not None:
                self._starting(item)
            outcome = self._outcome(position, item)
            if position < first:
                # Before the file that decides (a read-me the zip lists first): read here, alone.
                yield item, outcome
                del outcome
                continue
            records = _records(outcome)
            if position == first and records is not None and self._worth_bulk(records * self._sources):
                self.bulk = True
                if self._sources > 1 and self._workers is None:
                    self._workers = self._start_workers()
            elif not self.bulk and self._workers is not None:
                # Started for a bulk load that this is not: what it prepared is not used.
                self._workers.close(now=True)
                self._workers = None
                self._prepared.clear()
                if isinstance(outcome, StagedFile | CopyFile):  # prepared for a bulk load: read here
                    outcome = read_file(item, self._now, self._keep_personal)
            if self._workers is not None:  # kept busy after a failed file too
                self._top_up(position)
                if not self._prepared:
                    # Its last file taken: it ends now, not after the load's end (the indexes
                    # built), which the worker's memory would otherwise add to. Its exit is waited
                    # for then (`settle`): the loader goes on meanwhile.
                    self._workers.close(wait=False)
                    self._ending, self._workers = self._workers, None
            elif self._reader is not None and not isinstance(outcome, FileReport):
                following = self._next_source(position, ())
                if following is not None:
                    at, following_source = following
                    self._ahead[at] = self._reader.submit(
                        read_file, following_source, self._now, self._keep_personal
                    )
            yield item, outcome
            del outcome  # the file's rows: free them before reading the next file

    def _outcome(self, position: int, source: Source) -> Outcome:
        early = self._ahead.pop(position, None)
        worked = self._prepared.pop(position, None)
        if worked is not None:
            if self._workers is not None and self._dialect == "sqlite":
                # Rather than wait for the worker, prepare a file of those after it here.
                while not worked.done() and len(self._prepared) < self._policy.held:
                    spare = self._next_source(position, self._prepared)
                    if spare is None:
                        break
                    at, later = spare
                    size = _stated(later, self._policy)
                    if size > self._policy.parse_here_bytes or (
                        self._held_bytes() + size > self._policy.held_bytes
                    ):
                        break
                    self._prepared[at] = prepare_here(
                        later, self._now, self._keep_personal, self._dialect, self._user
                    )
                    self._top_up(position)
            return prepared_outcome(worked, source, self._now, self._keep_personal)
        if early is not None:
            return early.result()
        return read_file(source, self._now, self._keep_personal)

    def _next_source(self, position: int, taken: Container[int]) -> tuple[int, Source] | None:
        """The first file after `position` whose position is not in `taken`, with its position."""
        items = self._items
        for i in range(position + 1, len(items)):
            item = items[i]
            if i not in taken and isinstance(item, Source):
                return i, item
        return None

    def _start_workers(self) -> Readers | None:
        """Worker processes for a bulk load, or None when none can start (files are read here then)."""
        try:
            return Readers(self._policy.workers)
        except (OSError, ValueError) as exc:  # no interpreter to run (an embedded Python), no processes
            log.warning("import worker could not start (%s): reading files here", exc)
            return None

    def _worker_decides(self, first: int) -> bool:
        """Whether the file at `first` (which decides) is too big to parse here while the worker
        parses the next one (the policy's `parse_here_bytes`)."""
        item = self._items[first] if first < len(self._items) else None
        if not isinstance(item, Source) or self._next_source(first, ()) is None:
            return False
        return _stated(item, self._policy) > self._policy.parse_here_bytes

    def _held_bytes(self) -> int:
        """The stated sizes of the files prepared or being prepared, not yet loaded."""
        items, policy = self._items, self._policy
        return sum(_stated(items[i], policy) for i in self._prepared)

    def _top_up(self, position: int) -> None:
        """Give the worker the next files after `position` no one prepares yet, up to the policy's
        files ahead in its hands, and `held` files and `held_bytes` (past the first) prepared or
        being prepared in all: memory stays bounded whatever the files' sizes."""
        workers = self._workers
        assert workers is not None
        prepared, items, policy = self._prepared, self._items, self._policy
        ahead, held = policy.prepared_ahead(self._dialect), policy.held
        busy = sum(not future.done() for future in prepared.values())
        held_bytes = self._held_bytes()
        for i in range(position + 1, len(items)):
            if busy >= ahead or len(prepared) >= held:
                return
            item = items[i]
            if i not in prepared and isinstance(item, Source):
                size = _stated(item, policy)
                if prepared and held_bytes + size > policy.held_bytes:
                    return
                prepared[i] = workers.submit(item, self._now, self._keep_personal, self._dialect, self._user)
                busy += 1
                held_bytes += size


def _records(outcome: Outcome) -> int | None:
    """The records of a file read (here, or prepared by the worker); None for a report."""
    if isinstance(outcome, StagedFile | CopyFile):
        return outcome.parsed.records
    return outcome.records if isinstance(outcome, ParsedFile) else None


def _stated(item: Item, policy: BulkPolicy) -> int:
    """A file's stated size, as the holding bound counts it (an unknown size: the whole bound)."""
    return item.size if isinstance(item, Source) and item.size > 0 else policy.held_bytes


def _deciding(items: Sequence[Item]) -> int:
    """The position of the file whose plays decide whether the import is a bulk load: the first
    named like listening history, else the first file (Spotify's zip lists a read-me PDF first)."""
    sources = [(i, item) for i, item in enumerate(items) if isinstance(item, Source)]
    named = (i for i, source in sources if looks_like_history_name(source.name))
    return next(named, sources[0][0] if sources else 0)
