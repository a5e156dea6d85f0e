"""Opening a database: URL handling, engine settings per dialect, connection errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from brapped.config import mask_url
from brapped.errors import BrappedError


class StoreError(BrappedError):
    """The database cannot be used: bad URL, unreachable server, unsupported dialect."""


SUPPORTED = ("sqlite", "postgresql")


def parse_url(url: str) -> URL:
    """Parse and normalise a database URL; `postgresql://` means psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {mask_url(url)!r}") from exc
    except ValueError as exc:  # SQLAlchemy reads the port with int()
        raise StoreError(f"malformed database URL {mask_url(url)!r}: {_address_problem(url)}") from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise StoreError(
            f"unsupported database {backend!r} in {mask_url(url)!r}: use sqlite:/// or postgresql://"
        )
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg", ""):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        raise StoreError(f"unsupported PostgreSQL driver in {mask_url(url)!r}: use postgresql://")
    if parsed.host and "@" in parsed.host:
        # The password ends at the first @ for libpq as for SQLAlchemy: the rest became the host.
        raise StoreError(
            f"malformed database URL {mask_url(url)!r}: an @ in the user name or password must be written %40"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StoreError(
            f"malformed database URL {mask_url(url)!r}: port {parsed.port} is not between 1 and 65535"
        )
    return parsed


def _address_problem(url: str) -> str:
    """What makes the host and port of `url` unreadable, in words."""
    address = url.partition("://")[2].split("/", 1)[0].rpartition("@")[2]
    if "[" in address and "]" not in address:
        return "an IPv6 address opened with [ must be closed with ]"
    return "the port must be a number"


# How long a SQLite writer waits for another's lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# The page size of a new SQLite database (an existing one keeps its own): a quarter of the page reads
# and writes of the 4 KiB default in a bulk import; not 32 KiB, as a sync's small write logs whole
# pages into the WAL (docs/decisions.md).
SQLITE_PAGE_SIZE = 16_384


# SQLite's own files hold the whole listening history: its owner alone may read them.
SQLITE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _private_database_file(path: Path) -> None:
    """Create the SQLite file `path` with mode 0600 before SQLite opens it, or take group and
    others' access off an existing one and its side files. SQLite gives the -wal, -shm and
    -journal files it creates later the database file's mode."""
    if os.name != "posix":
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # no folder, no permission: SQLite says so in its own words when it opens the file
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
        except OSError:
            continue  # absent, or another user's file (a chmod only its owner may do)


# Reports read through a memory map of the file (docs/decisions.md, "Connection settings"); an
# import's process does not: the map's pages of a whole database read once (the summaries' rebuild)
# counted in its resident size, 180 MB of 300 at its peak for 500,000 plays.
SQLITE_MMAP_BYTES = 268_435_456


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, mmap_bytes: int = SQLITE_MMAP_BYTES) -> None:
    cursor = dbapi_connection.cursor()
    # Only a new database takes it (before its first table): see SQLITE_PAGE_SIZE.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    # WAL lets the dashboard read while a sync writes. Switched without waiting: the switch is
    # refused while a bulk load holds the database in a rollback journal (`leave_wal`), which puts
    # WAL back at its end; this connection follows the database into WAL then (the mode is
    # recorded in the file), and meanwhile waits for the load's end (busy_timeout) at its first
    # use of the database.
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        if not sqlite_locked(exc):
            raise  # a read-only file, a full disk...: as before, the connection fails
    # busy_timeout makes a second writer wait for the lock instead of failing at once.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
    cursor.close()


@contextmanager
def small_cache(conn: Connection, kib: int = 2048) -> Iterator[None]:
    """SQLite: the connection's page cache held to `kib` while a query reads many pages once (a
    pass over every play, beside another connection's work): its usual 64 MiB would fill with
    pages never read again and stay in the process's memory. Put back after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    usual = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql(f"PRAGMA cache_size=-{int(kib)}")
    try:
        yield
    except BaseException:
        # Not to hide the failure (a broken connection fails this too): the size is only speed.
        with suppress(SQLAlchemyError):
            conn.exec_driver_sql(f"PRAGMA cache_size={usual}")
        raise
    conn.exec_driver_sql(f"PRAGMA cache_size={usual}")


def sqlite_locked(exc: BaseException) -> bool:
    """Whether SQLite refused for a lock another connection holds (SQLITE_BUSY, SQLITE_LOCKED):
    `exc` is sqlite3's error (a SQLAlchemy error's `orig`)."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def leave_wal(dbapi_connection: Any) -> bool:
    """Switch a SQLite connection out of WAL into a rollback journal, for a bulk load into a
    database nobody else has open; whether it is in a rollback journal now (call outside a
    transaction; `return_to_wal` after it when True).

    WAL writes every new page twice; a rollback journal keeps only the pages a load changes, and a
    crash still leaves the database as it was. Asked without waiting: another open connection keeps
    WAL. docs/merge.md ("Atomicity and concurrency") tells the rest.
    """
    timeout = dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0]
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode == "wal":
            mode = dbapi_connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if not sqlite_locked(exc):
            raise
        return False  # another connection has the database open
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    # "memory": an in-memory database. Any other mode than WAL is a rollback journal, also one
    # left by a load that could not switch back: the load runs as in one it switched to.
    if mode in ("wal", "memory", "off"):
        return False
    # A rollback journal with synchronous=NORMAL may lose a committed transaction or (on some
    # file systems) the database's consistency in a power cut; FULL syncs at each step, and a
    # bulk load commits once.
    dbapi_connection.execute("PRAGMA synchronous = FULL")
    return True


def return_to_wal(dbapi_connection: Any) -> bool:
    """Back to WAL after `leave_wal`, outside the transaction; whether it worked. It waits for the
    busy timeout if a reader is on the database; if it still fails, the next brapped connection
    switches the database back (`_sqlite_pragmas`)."""
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")
    try:
        return bool(dbapi_connection.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal")
    except sqlite3.OperationalError as exc:
        if not sqlite_locked(exc):
            raise
        return False


def _postgresql_settings(dbapi_connection: Any, _record: Any) -> None:
    # The default 4 MB per sort or hash spills a year's report to disk (docs/decisions.md); a
    # personal database has few concurrent queries to share memory with.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET work_mem = '64MB'")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily (after reads); with autocommit
    # off in the driver we issue BEGIN ourselves so a transaction is one real transaction.
    if conn.info.get("exclusive"):
        conn.exec_driver_sql("BEGIN EXCLUSIVE")  # a bulk load in a rollback journal (`leave_wal`)
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")


def shares_database(engine: Engine) -> bool:
    """Whether a second connection of `engine` reaches the same database: always, except an
    in-memory SQLite database (`:memory:`, no name, a `mode=memory` URI), each connection's own."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return True
    database = str(url.database or "")
    return database not in ("", ":memory:") and str(url.query.get("mode", "")) != "memory"


def make_engine(url: str, *, memory_map: bool = True) -> Engine:
    """An Engine for a brapped database URL, configured for that dialect. `memory_map`: SQLite
    connections read through a memory map of the file (see SQLITE_MMAP_BYTES)."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            on_disk = bool(database) and database != ":memory:" and not str(database).startswith("file:")
            if on_disk:
                parent = Path(str(database)).expanduser().parent
                if not parent.exists():
                    raise StoreError(f"folder {parent} for the SQLite database does not exist")
            engine = create_engine(parsed, connect_args={"timeout": 30})
            if on_disk:
                path = Path(str(database))

                @event.listens_for(engine, "do_connect")
                def _before_connect(*_args: Any) -> None:
                    _private_database_file(path)

            @event.listens_for(engine, "connect")
            def _connect(dbapi_connection: Any, record: Any) -> None:
                dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
                _sqlite_pragmas(dbapi_connection, record, SQLITE_MMAP_BYTES if memory_map else 0)

            event.listen(engine, "begin", _sqlite_begin)
            return engine
        engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        event.listen(engine, "connect", _postgresql_settings)
        return engine
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"cannot open {mask_url(url)}: {exc}") from exc
