"""`brapped import`: Spotify's data export files → merged plays, one transaction per file.

Plan (`import_plan`: file order, whose plays, bulk or not) → read (`readahead`: brapped.imports
parses; in a worker process for a bulk load, brapped.imports.worker) → decide (`import_decide`:
the merge rules of brapped.imports.merge against the stored plays) → load (`import_load`, through
the store's staging tables, brapped.store.staged_plays; a big import in one `bulk_load`). Each
file is all-or-nothing; a bad file is reported and the others still load. See docs/merge.md.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from brapped.clock import Clock
from brapped.imports import Source, iter_inputs
from brapped.imports.staging import CopyFile, StagedFile
from brapped.pipeline import bulk_load, import_known, import_load, import_plan
from brapped.pipeline.import_plan import DEFAULT_POLICY, BulkPolicy
from brapped.pipeline.import_report import FileReport, ImportResult, Progress, first_line
from brapped.pipeline.readahead import ReadAhead
from brapped.store import Store
from brapped.store.calibration import Calibration, learn_stored
from brapped.store.engine import shares_database, small_cache
from brapped.store.estimates import has_estimates, recalibrate_estimates
from brapped.store.locking import lock
from brapped.store.runs import finish_run, heartbeat, start_run
from brapped.store.stored_plays import drop_unplayed_by_name
from brapped.store.tables import gaps

log = logging.getLogger(__name__)

# An import beats (runs.heartbeat_at) between files, at most this often: readers on other hosts
# call a run silent for longer than its bound interrupted (brapped.store.runs).
BEAT_EVERY = timedelta(seconds=5)


def import_paths(
    store: Store,
    paths: Sequence[Path | str],
    clock: Clock,
    *,
    user_id: str | None = None,
    keep_personal: bool = False,
    progress: Progress | None = None,
    policy: BulkPolicy = DEFAULT_POLICY,
    summaries: Callable[[], object] | None = None,
) -> ImportResult:
    """Import Spotify export files, folders or zips into `store`; never raises for a bad file.

    A file that cannot be imported is reported in the result (and rolls back alone); `result.ok`
    is False then. Raises `BrappedError` only when no user can be chosen. `policy`: when the
    import is a bulk load, and how one runs. `summaries`: rebuilds the report summaries (the
    CLI's `insights.try_refresh`), called once the plays are in (it rebuilds what an import left
    stale or out of date, and checks the rest), alongside the recalibration that follows new plays.
    """
    with _no_cycle_collection():
        return _import_paths(store, paths, clock, user_id, keep_personal, progress, policy, summaries)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused (as `parse_file` does for a file): an import holds a file's rows,
    hundreds of thousands of objects without cycles, which it would scan again and again. What
    cycles the import leaves are collected when it is back on."""
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
    policy: BulkPolicy,
    summaries: Callable[[], object] | None,
) -> ImportResult:
    items = import_plan.ordered(iter_inputs(paths))
    user, user_source, warnings = import_plan.choose_user(store, items, user_id)
    started = clock.now()
    # Immediate: `start_run` reads the runs table before it writes, and on SQLite a transaction
    # that read before another writer committed cannot take the write lock ("database is locked").
    with store.begin(immediate=True) as conn:
        run_id = start_run(conn, "import", started, user)

    reports: list[FileReport] = []
    sources = [i for i in items if isinstance(i, Source)]
    # Files whose every play `user` holds already: reported without being read.
    unchanged = {} if keep_personal else import_known.unchanged_files(store, user, items)
    if unchanged:
        items = [item for position, item in enumerate(items) if position not in unchanged]
    done = len(unchanged)

    def starting(source: Source) -> None:
        if progress is not None:
            progress(done, len(sources), source.name)

    bulk: bulk_load.BulkLoad | None = None
    last_beat = started

    def beat() -> None:
        nonlocal last_beat
        now = clock.now()
        # A SQLite bulk load holds the database's write lock to its end: no other write gets in
        # (and a SQLite database is read on its own host, where the process table tells).
        if now - last_beat < BEAT_EVERY or (bulk is not None and store.dialect == "sqlite"):
            return
        with store.begin() as conn:
            heartbeat(conn, run_id, now)
        last_beat = now

    try:
        with ExitStack() as stack:
            files = stack.enter_context(
                ReadAhead(
                    items,
                    clock.now(),
                    keep_personal,
                    store.dialect,
                    user,
                    policy,
                    worth_bulk=partial(import_plan.worth_bulk, store, policy=policy),
                    likely_bulk=import_plan.likely_bulk(
                        store, [i for i in items if isinstance(i, Source)], policy
                    ),
                    starting=starting,
                )
            )
            for item, prepared in files:
                if not isinstance(item, Source):  # not history, or unreadable: reported, not counted
                    assert isinstance(prepared, FileReport)
                    reports.append(prepared)
                    continue
                if files.bulk and bulk is None:
                    bulk = stack.enter_context(bulk_load.bulk_load(store, user, policy))
                if isinstance(prepared, FileReport):
                    reports.append(prepared)
                else:
                    if isinstance(prepared, StagedFile):
                        assert bulk is not None  # workers only read for a bulk load
                        report = import_load.load_staged(
                            store, prepared, user, clock, keep_personal, run_id, bulk, size=item.size
                        )
                    elif isinstance(prepared, CopyFile):
                        assert bulk is not None
                        report = import_load.load_file(
                            store,
                            prepared.parsed,
                            user,
                            clock,
                            keep_personal,
                            run_id,
                            bulk,
                            copied=prepared,
                            size=item.size,
                        )
                    else:
                        report = import_load.load_file(
                            store, prepared, user, clock, keep_personal, run_id, bulk, size=item.size
                        )
                    reports.append(report)
                    if bulk is not None and report.status == "imported":
                        bulk.loaded.append(report)
                del prepared  # the file's rows: free them before reading the next file
                done += 1
                beat()
                if progress is not None:
                    progress(done, len(sources), item.name)
            files.settle()  # the worker gone before the bulk load's end builds its indexes
    except SQLAlchemyError as exc:
        # A file's own failure is caught in `load_file`: what gets here is the bulk load's start
        # or end (indexes, commit), and then nothing of it was kept.
        if bulk is None:
            raise
        reason = first_line(exc)
        log.warning("import rolled back: %s", reason)
        for report in bulk.loaded:
            report.status = "failed"
            report.message = f"{report.name}: database: {reason}"
            report.new = report.known = report.merged = report.replaced = 0

    if unchanged:
        reports = _in_order(unchanged, reports)
    result = ImportResult(user, user_source, run_id, reports, warnings)
    if not result.imported and not result.failed:
        # Not a file's report: each file is listed already (skipped), and counted once.
        result.error = f"{', '.join(str(p) for p in paths)}: no Spotify listening history found"
    result.gaps_filled = _fill_gaps(store, user, result.imported, clock.now())
    _drop_replaced_names(store, result.imported)
    outcome = "ok" if result.ok else ("partial" if result.imported else "failed")
    message = "; ".join(result.errors)[:2000] or None
    with store.begin() as conn:
        finish_run(conn, run_id, clock.now(), outcome, result.totals(), message)
    # The tail after the run is recorded: the plays are in, and an interrupted rebuild or
    # recalibration must not leave the run running nor the gaps open.
    if any(f.new or f.merged or f.replaced for f in result.imported):
        # New measured plays: learn again how much of a track this listener plays after a pause.
        _recalibrate(store, user, clock, summaries)
    elif summaries is not None:
        # Known plays whose export fields were refreshed, a bulk load of known plays: the sums may
        # be stale without a play added. A rebuild of fresh ones is a check and nothing more.
        summaries()
    return result


def _recalibrate(store: Store, user: str, clock: Clock, summaries: Callable[[], object] | None) -> None:
    """Learn the calibration again and re-estimate with it; then `summaries`, if given.

    Learning reads the measured plays (a SQL query, then Python), the summaries' rebuild is SQL
    only: on a database that other connections can read meanwhile, the learning runs in a thread
    of its own while the summaries are built, on two cores. Its result is kept after; should it
    re-estimate plays, the summaries are brought up to date again (a rebuild if it changed a
    summed play). An account with estimated plays (it syncs) learns first and rebuilds once: a
    changed calibration would re-estimate them and throw the first rebuild away."""
    learned: Calibration | None = None
    if summaries is not None and shares_database(store.engine) and not _has_estimates(store, user):
        with ThreadPoolExecutor(1, "brapped-import-learn") as pool:
            learning = pool.submit(_learn, store, user)
            summaries()
            try:
                learned = learning.result()
            except SQLAlchemyError as exc:  # learnt again below, in the transaction that keeps it
                log.debug("calibration not learnt alongside the summaries: %s", first_line(exc))
    try:
        # IMMEDIATE: it reads (the estimates, maybe the measured plays), then writes; a sync's commit
        # in between would otherwise fail it on SQLite instead of making it wait.
        with store.begin(immediate=True) as conn:
            reestimated = recalibrate_estimates(conn, user, clock.now(), learned)
    except SQLAlchemyError as exc:  # the plays are in; the next import that adds some learns again
        log.warning("estimates not recalibrated: %s", first_line(exc))
        reestimated = 0
    if summaries is not None and (learned is None or reestimated):
        summaries()


def _has_estimates(store: Store, user: str) -> bool:
    with store.connect() as conn:
        return has_estimates(conn, user)


def _learn(store: Store, user: str) -> Calibration:
    with store.connect() as conn, small_cache(conn):
        return learn_stored(conn, user)


def _in_order(unchanged: dict[int, FileReport], read: list[FileReport]) -> list[FileReport]:
    """The reports in the files' order, as without unchanged files: `unchanged` by position among
    all items, `read` one for each of the other items in turn."""
    ordered: list[FileReport] = []
    pending, rest = dict(unchanged), read[::-1]
    position = 0
    while pending or rest:  # `read` is short when a bulk load's end failed: the rest still comes
        if position in pending:
            ordered.append(pending.pop(position))
        elif rest:
            ordered.append(rest.pop())
        position += 1
    return ordered


def _drop_replaced_names(store: Store, imported: Sequence[FileReport]) -> None:
    """The tracks and episodes by name whose plays the import replaced, gone if nothing plays them
    (before the summaries' rebuild: a deleted credit marks them stale)."""
    tracks_by_name = set().union(*(f.replaced_items for f in imported))
    episodes_by_name = set().union(*(f.replaced_episodes for f in imported))
    if not tracks_by_name and not episodes_by_name:
        return
    try:
        # Under the writers' lock: another import may be about to store a play of one of them.
        with store.begin(immediate=True) as conn:
            lock(conn)
            gone = drop_unplayed_by_name(conn, tracks_by_name, episodes_by_name)
    except SQLAlchemyError as exc:  # the plays are in; only the catalogue keeps the names
        log.warning("tracks known by name only not removed: %s", first_line(exc))
        return
    log.debug("%d tracks and episodes known by name only removed: their plays were replaced", gone)


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
