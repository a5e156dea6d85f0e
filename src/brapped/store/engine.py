"""Opening a database: URL handling, engine settings per dialect, connection errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

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
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise StoreError(
            f"unsupported database {backend!r} in {mask_url(url)!r}: use sqlite:/// or postgresql://"
        )
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg", ""):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        raise StoreError(f"unsupported PostgreSQL driver in {mask_url(url)!r}: use postgresql://")
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe to print."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not parseable: still never echo what may be a password after "user:".
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return url


def sqlite_url_for(path: Path) -> str:
    return f"sqlite:///{path}"


# How long a SQLite writer waits for another's lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while a sync writes; busy_timeout makes a second writer wait
    # for the lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.close()


def _postgresql_settings(dbapi_connection: Any, _record: Any) -> None:
    # The default 4 MB per sort or hash spills a year's report to disk (measured: a third of the
    # top-artist-of-each-month query); a personal database has few concurrent queries to share
    # memory with.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET work_mem = '64MB'")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily (after reads); with autocommit
    # off in the driver we issue BEGIN ourselves so a transaction is one real transaction.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")


def make_engine(url: str) -> Engine:
    """An Engine for a brapped database URL, configured for that dialect."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                parent = Path(database).expanduser().parent
                if not parent.exists():
                    raise StoreError(f"folder {parent} for the SQLite database does not exist")
            engine = create_engine(parsed, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _connect(dbapi_connection: Any, record: Any) -> None:
                dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
                _sqlite_pragmas(dbapi_connection, record)

            event.listen(engine, "begin", _sqlite_begin)
            return engine
        engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        event.listen(engine, "connect", _postgresql_settings)
        return engine
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"cannot open {mask_url(parsed)}: {exc}") from exc
