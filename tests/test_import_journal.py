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

from brapped import pipeline_import
from brapped.clock import SystemClock
from brapped.pipeline_import import import_paths
from brapped.store import Store, engine, open_store
from brapped.store import bulk as bulk_module
from brapped.store.tables import plays
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
    """Every import is a bulk load; what its connection says at the end of the load (in its
    transaction, where `check_foreign_keys` runs), and how long `leave_wal` took to answer."""
    monkeypatch.setattr(pipeline_import, "BULK_MIN_PLAYS", 1)
    found: list[dict[str, Any]] = []
    check, leave = bulk_module.check_foreign_keys, pipeline_import.leave_wal

    def spy_check(conn: Connection) -> None:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        found.append(
            {
                "journal": raw.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": raw.execute("PRAGMA synchronous").fetchone()[0],
            }
        )
        check(conn)

    def spy_leave(raw: Any) -> bool:
        started = time.monotonic()
        left = leave(raw)
        found.append({"left": left, "seconds": time.monotonic() - started})
        return left

    monkeypatch.setattr(bulk_module, "check_foreign_keys", spy_check)
    monkeypatch.setattr(pipeline_import, "leave_wal", spy_leave)
    return found


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
    result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u")
    assert result.ok and len(result.imported) == len(export)
    left, during = seen
    assert left["left"] is True
    # In the load's transaction: a rollback journal, synced fully (FULL is 2).
    assert during == {"journal": "delete", "synchronous": 2}
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
        result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u")
        assert result.ok and len(result.imported) == len(export)
        left, during = seen
        # Refused at once, not after the 30 s busy timeout.
        assert left["left"] is False and left["seconds"] < 5
        assert during["journal"] == "wal" and during["synchronous"] == 1
        music, _ = export_truth(export)
        assert other.execute("SELECT count(*) FROM plays").fetchone()[0] == before + len(music)
    finally:
        other.close()
    assert _journal(db_path) == "wal"


def test_a_connection_opened_during_a_rollback_journal_load_reads_or_waits_then_follows_into_wal(
    db_path: Path,
) -> None:
    open_store(f"sqlite:///{db_path}").close()
    url = f"sqlite:///{db_path}"
    # What a bulk load does to the database: out of WAL, then a write transaction.
    writer = sqlite3.connect(db_path, isolation_level=None)
    assert engine.leave_wal(writer) is True
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO tracks (id, name, is_resolved) VALUES ('t1', 'one', 0)")
    early = engine.make_engine(url)
    late = engine.make_engine(url)
    read: list[Any] = []

    def names(conn: Any) -> list[str]:
        return list(conn.execute(text("SELECT name FROM tracks")).scalars().all())

    def connect_late() -> None:
        with late.connect() as conn:
            read.append(names(conn))

    try:
        # Before the load writes to the database file: connected at once (not after the busy
        # timeout its WAL switch would wait), reading what was committed before the load.
        started = time.monotonic()
        with early.connect() as conn:
            assert names(conn) == []
        assert time.monotonic() - started < 5
        writer.execute("COMMIT")
        # Once the load writes to the database file (its page cache spilled, or its commit), it
        # holds the file exclusively: a new connection waits for its end.
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE tracks SET name = 'uno' WHERE id = 't1'")
        thread = threading.Thread(target=connect_late)
        thread.start()
        time.sleep(0.3)
        assert read == [] and thread.is_alive()
        writer.execute("COMMIT")
        assert engine.return_to_wal(writer) is True
        thread.join(30)
        assert read == [["uno"]]
        with early.connect() as conn, late.connect() as other:
            assert names(conn) == ["uno"]
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert other.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        writer.close()
        early.dispose()
        late.dispose()


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
