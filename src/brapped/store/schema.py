"""Schema migrations with Alembic, driven from code (no alembic.ini to find).

Alembic itself is imported only when a migration runs: every command opens the store, and
importing Alembic took longer than most reports. Knowing whether one is due needs no Alembic:
revision ids are the four-digit prefixes of the revision files, in a straight line
(tests/store/test_migrate.py holds every file to that).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"
VERSION_TABLE = "alembic_version"


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
    """Bring the schema to `revision`; returns (before, after). Does nothing when already there."""
    with engine.begin() as connection:
        before = current_revision(connection)
        if before != head_revision() or revision != "head":
            from alembic import command

            command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    return before, after
