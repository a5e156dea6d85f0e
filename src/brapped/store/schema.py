"""Schema migrations with Alembic, driven from code (no alembic.ini to find).

Alembic itself is imported only when a migration runs: every command opens the store, and
importing Alembic took longer than most reports. Knowing whether one is due needs no Alembic:
revision ids are the four-digit prefixes of the revision files, in a straight line
(tests/store/test_migrate.py holds every file to that).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"
VERSION_TABLE = "alembic_version"
# A new SQLite database at the head revision, as the statements that make it (`sqlite_snapshot`):
# run instead of every revision (and of importing Alembic), when it is of the head revision.
SQLITE_SNAPSHOT = MIGRATIONS / "sqlite_head.json"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision: the highest four-digit prefix of the revision files."""
    return max(path.name[:4] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def current_revision(connection: Connection) -> str | None:
    """The database's revision, None for a database brapped never migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    value = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return str(value) if value is not None else None


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision`; returns (before, after). Does nothing when already there.

    A new SQLite database gets the head's schema from `SQLITE_SNAPSHOT` when it is the head's
    (tests/store/test_schema_snapshot.py holds it to what the revisions make)."""
    with engine.begin() as connection:
        before = current_revision(connection)
        if before != head_revision() or revision != "head":
            statements = _snapshot(connection) if before is None and revision == "head" else None
            if statements is not None:
                for statement in statements:
                    connection.exec_driver_sql(statement)
            else:
                from alembic import command

                command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    return before, after


def _snapshot(connection: Connection) -> list[str] | None:
    """The statements of `SQLITE_SNAPSHOT` for an empty SQLite database, if it is of the head."""
    if connection.dialect.name != "sqlite" or inspect(connection).get_table_names():
        return None
    try:
        found = json.loads(SQLITE_SNAPSHOT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("revision") != head_revision():
        return None
    statements = found.get("statements")
    if not isinstance(statements, list) or not statements:
        return None  # not a snapshot brapped made: the revisions run
    return [str(statement) for statement in statements]


def sqlite_snapshot(path: Path) -> dict[str, object]:
    """What `SQLITE_SNAPSHOT` holds, made anew: the revisions run on a new SQLite database at
    `path`, then its schema and rows as statements (sqlite3's dump, without its transaction)."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            from alembic import command

            command.upgrade(alembic_config(connection), "head")
    finally:
        engine.dispose()
    with sqlite3.connect(path) as db:
        # Without the dump's transaction (the caller's holds the statements) or pragmas (newer
        # Pythons add one).
        statements = [
            s
            for s in db.iterdump()
            if s not in ("BEGIN TRANSACTION;", "COMMIT;") and not s.startswith("PRAGMA")
        ]
    db.close()
    return {"revision": head_revision(), "statements": statements}
