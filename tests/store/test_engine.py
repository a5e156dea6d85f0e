"""A SQLite database and the files SQLite keeps beside it are readable by their owner only."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.pool import NullPool

from brapped.store import open_store, tables
from brapped.store.engine import leave_wal, make_engine, return_to_wal, shares_database, small_cache


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sidecar(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def test_a_new_database_and_its_wal_files_are_private(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "brapped.db"
    store = open_store(f"sqlite:///{db}")
    try:
        with store.begin() as conn:  # a write in WAL mode: SQLite creates -wal and -shm now
            conn.execute(
                insert(tables.runs).values(
                    kind="sync", started_at=datetime(2026, 1, 1, tzinfo=UTC), outcome="ok"
                )
            )
            assert sidecar(db, "-wal").exists() and sidecar(db, "-shm").exists()
            assert {mode(db), mode(sidecar(db, "-wal")), mode(sidecar(db, "-shm"))} == {0o600}
    finally:
        store.close()
    assert mode(db) == 0o600


def test_the_rollback_journal_of_a_bulk_load_is_private(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "brapped.db"
    open_store(f"sqlite:///{db}").close()
    engine = make_engine(f"sqlite:///{db}")
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert leave_wal(dbapi)  # what a bulk import does with a database nobody else has open
        dbapi.execute("BEGIN EXCLUSIVE")
        dbapi.execute("INSERT INTO runs (kind, started_at, outcome) VALUES ('import', 0, 'ok')")
        assert mode(sidecar(db, "-journal")) == 0o600
        dbapi.execute("ROLLBACK")
        assert return_to_wal(dbapi)
    finally:
        raw.close()
        engine.dispose()


def test_an_existing_loose_database_is_tightened_on_open(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "old.db"
    other = sqlite3.connect(db, isolation_level=None)  # as an older brapped left it: 0644
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x)")
    other.execute("INSERT INTO t VALUES (1)")
    loose = [db, sidecar(db, "-wal"), sidecar(db, "-shm")]
    assert {mode(path) for path in loose} == {0o644}
    try:
        open_store(f"sqlite:///{db}", migrate=False).close()
        assert {mode(path) for path in loose} == {0o600}
    finally:
        other.close()


def test_an_import_store_reads_without_a_memory_map(tmp_path: Path) -> None:
    """Reports map the file; a store opened without (the import's) keeps whole-table reads out of
    its resident size."""
    url = f"sqlite:///{tmp_path / 'mapped.db'}"
    for memory_map, expected in ((True, 268_435_456), (False, 0)):
        store = open_store(url, memory_map=memory_map)
        try:
            with store.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == expected
        finally:
            store.close()


def test_only_in_memory_sqlite_databases_are_not_shared_between_connections(tmp_path: Path) -> None:
    folder = tmp_path / "memory"  # a folder's name is not a mode
    folder.mkdir()
    cases = {
        f"sqlite:///{folder / 'brapped.db'}": True,
        "postgresql+psycopg://postgres@127.0.0.1:5432/brapped": True,
        "sqlite://": False,
        "sqlite:///:memory:": False,
        "sqlite:///file:reports?mode=memory&cache=shared&uri=true": False,
    }
    found = {}
    for url, _ in cases.items():
        engine = create_engine(url, poolclass=NullPool)  # nothing connects
        found[url] = shares_database(engine)
        engine.dispose()
    assert found == cases


def test_a_small_cache_holds_sqlite_pages_for_a_pass_and_is_put_back(tmp_path: Path) -> None:
    # The import's calibration reads its plays once beside the summaries' rebuild: through the
    # usual 64 MiB page cache they stayed in the process's memory.
    store = open_store(f"sqlite:///{tmp_path / 'cache.db'}")
    try:
        with store.connect() as conn:
            usual = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
            with small_cache(conn, kib=1024):
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -1024
                assert conn.execute(select(func.count()).select_from(tables.plays)).scalar_one() == 0
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == usual == -65536
            with pytest.raises(RuntimeError, match="the pass failed"), small_cache(conn):
                raise RuntimeError("the pass failed")
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == usual
    finally:
        store.close()


def test_a_small_cache_changes_nothing_on_postgresql(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        with store.connect() as conn, small_cache(conn):
            assert conn.execute(select(func.count()).select_from(tables.plays)).scalar_one() == 0
    finally:
        store.close()
