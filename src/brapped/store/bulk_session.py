"""The transactions an import writes in: one per file, or one bulk session for a big import whose
secondary indexes, foreign keys and summary triggers are set aside until its end.

DDL is transactional on both databases: a failure or a crash anywhere in a bulk session leaves the
indexes, keys, triggers and every play as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Index, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import AddConstraint, DropConstraint

from brapped.store import Store, engine, staged_plays
from brapped.store.locking import lock
from brapped.store.tables import album_artists, plays, summary_state, track_artists, tracks

log = logging.getLogger(__name__)

# WAL pages (4 KiB each by default) a file's commit may leave before copying them back: 256 MiB.
_CHECKPOINT_PAGES = 65_536
# The index of `plays` a SQLite bulk session keeps current (see `bulk_session`).
_KEPT_CURRENT = "ix_plays_played_at"
_ESTIMATED = "ix_plays_estimated"
# The tables a bulk load inserts into by the thousand whose foreign keys PostgreSQL then checks.
_BULK_KEYED = (plays, tracks, track_artists, album_artists)
# The columns of `plays` whose statistics a PostgreSQL bulk load gathers at its end.
_ANALYZED = ("user_id", "played_at", "track_id", "ms_played", "ms_played_source", "source")


@contextmanager
def load_transaction(
    store: Store,
    cache_kib: int = 65_536,
    temp_store: str = "MEMORY",
    foreign_keys: bool = True,
    rollback_journal: bool = False,
) -> Iterator[Connection]:
    """One write transaction (SQLite: the write lock taken at BEGIN) for one file.

    `foreign_keys=False`: SQLite enforces none in it (see `check_foreign_keys`).
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
            left_wal = rollback_journal and engine.leave_wal(raw)
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
                    staged_plays.detach_image(conn)
                    raw.execute(f"PRAGMA cache_size = {int(cache_before)}")
                    raw.execute(f"PRAGMA wal_autocheckpoint = {int(checkpoint_after)}")
                    raw.execute(f"PRAGMA mmap_size = {int(mapped)}")
                    raw.execute(f"PRAGMA foreign_keys = {int(enforced)}")
                finally:
                    # Whatever failed above: the pooled connection must not stay in a rollback
                    # journal synced fully.
                    if left_wal and not engine.return_to_wal(raw):
                        log.warning("the database stays in a rollback journal until brapped next opens it")


@dataclass
class BulkSession:
    """The one transaction of a bulk load and the indexes it dropped."""

    conn: Connection
    indexes: list[Index] = field(default_factory=list)

    def build_indexes(self) -> None:
        """Build the dropped indexes again, once every file is loaded.

        Not earlier, while the worker prepares the last files: those would then load with the
        indexes kept current, each play a few more random page writes (and their copies in the
        file's savepoint journal)."""
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


@contextmanager
def bulk_session(store: Store, cache_kib: int) -> Iterator[BulkSession]:
    """One transaction for a whole import, the secondary indexes of `plays` rebuilt at its end.

    Readers meanwhile see the database as before the import (SQLite's WAL; or wait for it in a
    rollback journal, see `engine.leave_wal`) or wait for it (PostgreSQL's DROP INDEX locks `plays`
    until commit); sync waits for the writer lock as it does for any file. `cache_kib`: SQLite's
    page cache for it, past which it writes pages into the database file before its commit.
    """
    # But the estimated plays' index: an import adds no estimated play, so it costs nothing kept
    # current, where building it again reads every play.
    indexes = sorted((i for i in plays.indexes if i.name != _ESTIMATED), key=lambda index: str(index.name))
    # Nor those of the tracks and credits it adds by the thousand (the load looks them up by
    # their keys only): each insert's three to five index updates, in random order of their ids.
    indexes += sorted([*tracks.indexes, *track_artists.indexes], key=lambda index: str(index.name))
    if store.dialect == "sqlite":
        # But the one by end time: files come in time order, so each file's plays go at its end,
        # a few pages appended, as the unique key's do; built after the last file, it would keep
        # the loader busy while the worker has nothing left to do.
        indexes = [index for index in indexes if index.name != _KEPT_CURRENT]
    # PostgreSQL checks a foreign key with a trigger per inserted row; added back at the end, each
    # key is checked once for every row, in one join. SQLite's checks are cheap lookups and its
    # foreign keys cannot be dropped.
    keys = sorted(
        (key for table in _BULK_KEYED for key in table.foreign_key_constraints), key=lambda key: str(key.name)
    )
    keys = keys if store.dialect == "postgresql" else []
    # The indexes built at the end sort every play: in temporary files, not in memory, which would
    # grow with the history.
    with load_transaction(
        store, cache_kib=cache_kib, temp_store="FILE", foreign_keys=False, rollback_journal=True
    ) as conn:
        for key in keys:
            conn.execute(DropConstraint(key))
        for index in indexes:
            index.drop(conn)
        triggers = suspend_summary_triggers(conn)
        session = BulkSession(conn, indexes)
        yield session
        resume_triggers(conn, triggers)
        session.build_indexes()
        if store.dialect == "postgresql":
            # Statistics of the plays the load added, which autovacuum gathers only later: the
            # import's next queries over them (the calibration's, the report summaries') planned
            # without took several times as long. The columns they filter and sort by only (a
            # third of the time of all); autovacuum still gathers the rest.
            conn.exec_driver_sql(f"ANALYZE plays ({', '.join(_ANALYZED)})")
        for key in keys:
            conn.execute(AddConstraint(key))
        if store.dialect == "sqlite":
            check_foreign_keys(conn)


def suspend_summary_triggers(conn: Connection) -> list[str]:
    """Stop the triggers that guard the report summaries (revision 0007) for a bulk load; returns
    the statements that put them back (`resume_triggers`), in the same transaction.

    A bulk load adds plays of any age, so it marks the summaries stale once here instead of a
    trigger checking every inserted play and credit (on SQLite a lookup per row; on PostgreSQL a
    transition table of every row).
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


def resume_triggers(conn: Connection, statements: Sequence[str]) -> None:
    """Put back what `suspend_summary_triggers` took away."""
    for statement in statements:
        conn.exec_driver_sql(statement)


def check_foreign_keys(conn: Connection) -> None:
    """SQLite: refuse, as `IntegrityError`, what the foreign keys would have refused had they been
    enforced (a bulk load turns enforcement off: its own checks are one lookup per play; every row
    it adds refers to rows it adds before it, and this proves so).

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
