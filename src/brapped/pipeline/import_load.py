"""Loading one file: its plays decided against the stored ones, the new ones inserted, the merged and
replaced ones changed, the file recorded; all in the file's own transaction (or savepoint of a
bulk load), so a file is all or nothing."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, select
from sqlalchemy.exc import SQLAlchemyError

from brapped.clock import Clock
from brapped.imports import MusicRow, ParsedFile, parse_stored
from brapped.imports.merge import COVERED, KNOWN, MERGED, NEW, REPLACED, Decision
from brapped.imports.staging import COPY_COLUMNS, CopyFile, StagedFile, drop_image_rows
from brapped.pipeline import import_decide, import_rows
from brapped.pipeline.bulk_load import BulkLoad
from brapped.pipeline.import_report import FileReport, first_line
from brapped.pipeline.import_rows import Dimension, NotedDimensions
from brapped.store import Store, bulk_session, staged_plays, stored_plays
from brapped.store.known_files import NotedFile, remember_files
from brapped.store.tables import imported_files, plays

log = logging.getLogger(__name__)

SKIP_COVERED = "covered by extended history"


def load_staged(
    store: Store,
    staged: StagedFile,
    user: str,
    clock: Clock,
    keep_personal: bool,
    run_id: int,
    bulk: BulkLoad,
    size: int | None = None,
) -> FileReport:
    """Load a file a worker staged (SQLite; see brapped.imports.staging), in its savepoint."""
    return load_file(store, staged.parsed, user, clock, keep_personal, run_id, bulk, staged=staged, size=size)


def load_file(
    store: Store,
    parsed: ParsedFile,
    user: str,
    clock: Clock,
    keep_personal: bool,
    run_id: int,
    bulk: BulkLoad | None = None,
    staged: StagedFile | None = None,
    copied: CopyFile | None = None,
    size: int | None = None,
) -> FileReport:
    """Load one file in its own transaction (or savepoint of a bulk load). `staged`: its music
    plays as a worker staged them (SQLite); `parsed` is then the staged file's, without music rows.
    `copied`: its music plays as a worker made them COPY text (PostgreSQL). `size`: the file's
    stated size, to note its content as held by `user`'s plays (`store.known_files`)."""
    report = FileReport(parsed.name, "imported", parsed.format, parsed.records, skipped=dict(parsed.skipped))
    first, last = (staged.first, staged.last) if staged is not None else (parsed.first, parsed.last)
    report.first_played_at = parse_stored(first) if first else None
    report.last_played_at = parse_stored(last) if last else None
    try:
        with ExitStack() as stack:
            if bulk is None:
                conn = stack.enter_context(bulk_session.load_transaction(store))
            else:
                # The file's own savepoint inside the bulk load's transaction: all or nothing still.
                conn = bulk.conn
                stack.enter_context(conn.begin_nested())
            if staged is not None:
                near, clash = import_decide.decide_staged(conn, staged, user)
                dimensions = _load_music_staged(
                    conn, staged, near, clash, user, report, keep_personal, bulk.dimensions if bulk else None
                )
                _load_episodes(conn, parsed, user, report, keep_personal)
            elif copied is not None:
                assert bulk is not None
                dimensions = _load_copied(conn, copied, user, report, keep_personal, bulk.dimensions)
            else:
                dimensions = _load_rows(
                    conn, parsed, user, report, keep_personal, bulk.dimensions if bulk else None
                )
            record_file(conn, parsed, report, clock.now(), run_id)
            noted = None if size is None else noted_file(parsed.sha256, size, report, run_id)
            if noted is not None and bulk is None:
                remember_files(conn, user, [noted])
            since = report.first_played_at
            if (
                since is not None
                and (report.new or report.replaced)
                and (bulk is None or bulk.api_after(since))
            ):
                _reestimate(conn, user, since)
            if bulk is None:  # a bulk load's files reuse them: dropped at its end
                staged_plays.drop_stages(conn)
        if bulk is not None:
            bulk.remember(dimensions)
            # Only once the file's savepoint is released: a file rolled back leaves no note.
            # Written at the end, in the bulk load's transaction.
            if noted is not None:
                bulk.known.append(noted)
    except SQLAlchemyError as exc:
        reason = first_line(exc)
        log.warning("import of %s rolled back: %s", parsed.name, reason)
        return FileReport(
            parsed.name,
            "failed",
            parsed.format,
            parsed.records,
            message=f"{parsed.name}: database: {reason}",
        )
    return report


def _load_rows(
    conn: Connection,
    parsed: ParsedFile,
    user: str,
    report: FileReport,
    keep_personal: bool,
    stored_dimensions: NotedDimensions | None = None,
) -> list[Dimension]:
    """Load one file's rows; returns the dimension fields it staged (see `import_rows.stage_music`)."""
    skipped: Counter[str] = Counter(report.skipped)
    staged_dimensions: list[Dimension] = []
    if parsed.music:
        decisions, clash = import_decide.decide_music(conn, user, parsed.music)
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
                    changes.append(import_rows.replace_change(decision, row, keep_personal))
                elif decision.play_id is not None and (decision.outcome == MERGED or decision.refresh):
                    changes.append(import_rows.merge_change(decision, row, keep_personal))
        # A bulk load holds the lock from its start to its end, so only a stored play with a new
        # play's very key (which `clash` tells) could collide with one: without it, the new plays
        # can skip staging and its ON CONFLICT.
        copy = stored_dimensions is not None and not clash and staged_plays.copies_new_plays(conn)
        if copy:
            staged_dimensions = import_rows.stage_music_dimensions(conn, staged, stored_dimensions)
        else:
            staged_dimensions = import_rows.stage_music(conn, staged, stored_dimensions)
        staged_plays.load_music_dimensions(conn)
        report.replaced_items |= stored_plays.update_music(conn, changes)
        if copy:
            # `fresh` keeps the file's order: as long as the file, it is the file's music rows.
            inserted = import_rows.copy_new_plays(conn, user, fresh)
        else:
            inserted = staged_plays.insert_music_plays(conn, user)
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
    stored_dimensions: NotedDimensions,
) -> list[Dimension]:
    """Load a file whose plays a worker turned into COPY text (PostgreSQL): that text as it is when
    every play near a stored one is new, else the file row by row (`_load_rows`). Returns the
    dimension fields it staged."""
    parsed = copied.parsed
    columns = parsed.music_columns
    assert columns is not None
    near, clash = import_decide.decide_columns(conn, columns, user)
    if clash or any(decision.outcome != NEW for _, decision in near):
        # Plays the rules join to stored ones (or one whose key a stored play holds).
        parsed.music, parsed.music_columns = columns.rows(), None
        return _load_rows(conn, parsed, user, report, keep_personal, stored_dimensions)
    report.new += len(columns)
    staged = import_rows.stage_dimensions(conn, list(columns.dimensions.values()), stored_dimensions)
    staged_plays.load_music_dimensions(conn)
    _settle(report, len(columns), staged_plays.copy_plays(conn, COPY_COLUMNS, copied.text))
    _load_episodes(conn, parsed, user, report, keep_personal)
    return staged


def _load_music_staged(
    conn: Connection,
    staged: StagedFile,
    near: Sequence[tuple[int, MusicRow, Decision]],
    clash: bool,
    user: str,
    report: FileReport,
    keep_personal: bool,
    stored_dimensions: NotedDimensions | None,
) -> list[Dimension]:
    """Load the music plays a worker staged: `near` decided as `_load_rows` decides rows, the rest
    new. Returns the dimension fields it staged (see `import_rows.stage_music`)."""
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
            changes.append(import_rows.replace_change(decision, row, keep_personal))
        else:
            left_out.append(rowid)
            if decision.play_id is not None and (decision.outcome == MERGED or decision.refresh):
                changes.append(import_rows.merge_change(decision, row, keep_personal))
    report.skipped = dict(sorted(skipped.items()))
    fresh = staged.music - len(left_out) - len(replaced)
    dimensions = list(staged.dimensions.values())
    if left_out:
        with staged_plays.raw_errors(conn, "DELETE FROM import_image"):
            kept = drop_image_rows(conn.connection.dbapi_connection, staged_plays.IMAGE, left_out)
        # The track fields of the plays left only, as a file read here stages them.
        dimensions = [staged.dimensions[number] for number in sorted(kept)]
    staged_dimensions = import_rows.stage_dimensions(conn, dimensions, stored_dimensions)
    staged_plays.load_music_dimensions(conn)
    report.replaced_items |= stored_plays.update_music(conn, changes)
    # A replaced play stays in the image for its track's rows; the stored play it replaces has
    # just been moved onto its key, which the insert must skip (`clash`).
    inserted = staged_plays.insert_music_plays(conn, user, staged_plays.IMAGE, clash=clash or bool(replaced))
    _settle(report, fresh, inserted)
    return staged_dimensions


def _load_episodes(
    conn: Connection, parsed: ParsedFile, user: str, report: FileReport, keep_personal: bool
) -> None:
    skipped: Counter[str] = Counter(report.skipped)
    if parsed.episodes:
        episode_decisions = import_decide.decide_episodes(conn, user, parsed.episodes)
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
                    episode_changes.append(import_rows.replace_episode_change(decision, erow, keep_personal))
        new = len(staged_episodes) - len(episode_changes)
        staged_plays.stage_episodes(conn, staged_episodes)
        staged_plays.load_episode_dimensions(conn)
        report.replaced_episodes |= stored_plays.update_episodes(conn, episode_changes)
        _settle(report, new, staged_plays.insert_episode_plays(conn, user))
    report.skipped = dict(sorted(skipped.items()))


def _settle(report: FileReport, decided_new: int, inserted: int) -> None:
    # The insert skips a play stored since the decision (a concurrent import): that play is known.
    if inserted < decided_new:
        report.known += decided_new - inserted
        report.new -= decided_new - inserted


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


def record_file(conn: Connection, parsed: ParsedFile, report: FileReport, now: datetime, run_id: int) -> None:
    """Note the file as imported (`imported_files`), unless a file of the same content is already."""
    conn.execute(
        _RECORD_FILE,
        {
            "sha256": parsed.sha256,
            "name": parsed.name[-1000:],
            "format": parsed.format,
            "records": parsed.records,
            "first_played_at": report.first_played_at,
            "last_played_at": report.last_played_at,
            "imported_at": now,
            "run_id": run_id,
        },
    )


# One statement, built once, not a look-up and then an insert: a bulk load of many small files
# does this once a file.
_RECORDED = (
    "sha256",
    "name",
    "format",
    "records",
    "first_played_at",
    "last_played_at",
    "imported_at",
    "run_id",
)
_RECORD_FILE = insert(imported_files).from_select(
    _RECORDED,
    select(*(bindparam(name, type_=imported_files.c[name].type) for name in _RECORDED)).where(
        ~exists().where(imported_files.c.sha256 == bindparam("sha256"))
    ),
)


def noted_file(sha256: str, size: int, report: FileReport, run_id: int) -> NotedFile:
    """What `store.known_files` keeps of a loaded file: noted in the transaction that loaded it, so
    the note exists only if its plays do."""
    held = report.new + report.known + report.merged + report.replaced
    return NotedFile(sha256, size, held, dict(report.skipped), run_id)


def _reestimate(conn: Connection, user: str, since: datetime) -> None:
    """Export plays are new neighbours of API plays whose length was estimated from the gap."""
    has_api = conn.execute(
        select(exists().where(plays.c.user_id == user, plays.c.source == "api", plays.c.played_at >= since))
    ).scalar()
    if not has_api:
        return
    from brapped.store.estimates import update_estimates

    update_estimates(conn, user, since)
