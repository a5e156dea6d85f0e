"""The journal of a SQLite bulk load: a rollback journal instead of WAL when nobody else has the
database open (`engine.leave_wal`), WAL again afterwards; WAL kept when another connection is
open; a connection opened meanwhile waits instead of failing; and the page size of new databases.
A crash in the rollback journal is in tests/reliability/test_crash.py."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError

from brapped.clock import SystemClock
from brapped.pipeline.importing import import_paths
from brapped.store import Store, bulk_session, engine, open_store, staged_plays
from brapped.store.tables import plays
from tests.pipeline.import_contents import ALWAYS_BULK
from tests.reliability.conftest import export_truth


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "brapped.db"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{db_path}")
    yield opened
    opened.close()


@pytest.fixture
def export(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "export"
    generate_exports(folder, plays=2000, seed=8, max_bytes=200_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 4
    return files


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What a bulk load's connection says at the end of the load (in its transaction, where
    `check_foreign_keys` runs), and how long `leave_wal` took to answer."""
    found: list[dict[str, Any]] = []
    check, leave = bulk_session.check_foreign_keys, engine.leave_wal

    def spy_check(conn: Connection) -> None:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        found.append(
            {
                "journal": raw.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": raw.execute("PRAGMA synchronous").fetchone()[0],
                "readable": _readable_elsewhere(raw.execute("PRAGMA database_list").fetchone()[2]),
            }
        )
        check(conn)

    def spy_leave(raw: Any) -> bool:
        before = raw.execute("PRAGMA journal_mode").fetchone()[0]
        started = time.monotonic()
        left = leave(raw)
        found.append({"left": left, "seconds": time.monotonic() - started, "before": before})
        return left

    monkeypatch.setattr(bulk_session, "check_foreign_keys", spy_check)
    monkeypatch.setattr(engine, "leave_wal", spy_leave)
    return found


def _readable_elsewhere(path: str) -> bool:
    """Whether another connection can read the database now, without waiting."""
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("SELECT count(*) FROM plays").fetchone()
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


def _journal(path: Path) -> str:
    database = sqlite3.connect(path)
    try:
        return str(database.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        database.close()


def _stored(store: Store) -> int:
    with store.connect() as conn:
        return len(conn.execute(select(plays.c.id)).all())


def test_bulk_load_runs_in_a_rollback_journal_and_returns_to_wal(
    sqlite_store: Store, db_path: Path, export: list[Path], seen: list[dict[str, Any]]
) -> None:
    result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    left, during = seen
    assert left["left"] is True
    # In the load's transaction: a rollback journal, synced fully (FULL is 2), the database held
    # exclusively (a reader coming in would hold off the load's writes into the file).
    assert during == {"journal": "delete", "synchronous": 2, "readable": False}
    assert _journal(db_path) == "wal"
    assert not Path(f"{db_path}-journal").exists()
    music, _ = export_truth(export)
    assert _stored(sqlite_store) == len(music)
    # The pooled connection is back as every connection is made: WAL, synchronous NORMAL (1).
    with sqlite_store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1


def test_bulk_load_keeps_wal_while_another_connection_has_the_database_open(
    sqlite_store: Store, db_path: Path, export: list[Path], seen: list[dict[str, Any]]
) -> None:
    # A dashboard, say: a connection that has read the database and stays open.
    other = sqlite3.connect(db_path)
    try:
        before = other.execute("SELECT count(*) FROM plays").fetchone()[0]
        result = import_paths(
            sqlite_store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK
        )
        assert result.ok and len(result.imported) == len(export)
        left, during = seen
        # Refused at once, not after the 30 s busy timeout.
        assert left["left"] is False and left["seconds"] < 5
        assert during == {"journal": "wal", "synchronous": 1, "readable": True}
        music, _ = export_truth(export)
        assert other.execute("SELECT count(*) FROM plays").fetchone()[0] == before + len(music)
    finally:
        other.close()
    assert _journal(db_path) == "wal"


def test_a_connection_opened_during_a_rollback_journal_load_waits_then_follows_into_wal(
    db_path: Path,
) -> None:
    open_store(f"sqlite:///{db_path}").close()
    url = f"sqlite:///{db_path}"
    # What a bulk load does to the database: out of WAL, then an exclusive write transaction.
    writer = sqlite3.connect(db_path, isolation_level=None)
    assert engine.leave_wal(writer) is True
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO tracks (id, name, is_resolved) VALUES ('t1', 'one', 0)")
    late = engine.make_engine(url)
    read: list[Any] = []

    def connect_and_read() -> None:
        with late.connect() as conn:
            read.append(conn.execute(text("SELECT name FROM tracks")).scalars().all())
            read.append(conn.exec_driver_sql("PRAGMA journal_mode").scalar())

    try:
        thread = threading.Thread(target=connect_and_read)
        thread.start()
        time.sleep(0.3)
        assert read == [] and thread.is_alive()  # waiting for the load, not failed
        writer.execute("COMMIT")
        assert engine.return_to_wal(writer) is True
        thread.join(30)
        assert read == [["one"], "wal"]
    finally:
        writer.close()
        late.dispose()


def test_a_bulk_load_into_a_database_left_in_a_rollback_journal_syncs_fully_and_ends_in_wal(
    sqlite_store: Store, db_path: Path, export: list[Path], seen: list[dict[str, Any]]
) -> None:
    # As a load that could not switch back leaves it (`return_to_wal` refused), the store's own
    # connection included (the next one it opens would make the database WAL at once).
    sqlite_store.engine.dispose()
    database = sqlite3.connect(db_path)
    assert database.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    database.close()
    raw = sqlite_store.engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA journal_mode = DELETE")
        assert raw.driver_connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        raw.close()  # back to the pool, in a rollback journal
    result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok
    left, during = seen
    assert left["before"] == "delete" and left["left"] is True
    assert during == {"journal": "delete", "synchronous": 2, "readable": False}
    assert _journal(db_path) == "wal"


def test_a_failure_while_putting_the_connection_back_still_returns_to_wal(
    sqlite_store: Store,
    db_path: Path,
    export: list[Path],
    seen: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(conn: Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(staged_plays, "detach_image", failing)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert seen[0]["left"] is True
    assert _journal(db_path) == "wal"
    with sqlite_store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1


def test_connecting_fails_as_before_when_wal_is_refused_for_another_reason_than_a_lock(
    db_path: Path,
) -> None:
    database = sqlite3.connect(db_path)
    database.execute("CREATE TABLE t (x)")
    database.close()  # a rollback journal: a read-only connection cannot make it WAL
    read_only = engine.make_engine(f"sqlite:///file:{db_path}?mode=ro&uri=true")
    try:
        with pytest.raises(OperationalError, match="readonly"), read_only.connect():
            pass
    finally:
        read_only.dispose()


def test_a_new_database_takes_the_page_size_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    open_store(f"sqlite:///{new}").close()
    old = tmp_path / "old.db"
    database = sqlite3.connect(old)
    database.execute("PRAGMA page_size = 4096")
    database.execute("CREATE TABLE before_brapped (x)")
    database.close()
    open_store(f"sqlite:///{old}").close()
    sizes = {}
    for path in (new, old):
        database = sqlite3.connect(path)
        sizes[path.name] = database.execute("PRAGMA page_size").fetchone()[0]
        database.close()
    assert sizes == {"new.db": engine.SQLITE_PAGE_SIZE, "old.db": 4096}
    assert engine.SQLITE_PAGE_SIZE != 4096
