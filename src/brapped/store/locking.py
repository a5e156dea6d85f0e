"""The one write lock every brapped writer (sync, enrich, import) takes inside its transaction."""

from __future__ import annotations

from sqlalchemy import Connection, text

_LOCK_KEY = 0x62726170  # "brap": the PostgreSQL advisory lock all brapped writers share


def lock(conn: Connection, key: int = _LOCK_KEY) -> None:
    """Serialise writers: on PostgreSQL an advisory lock held until the transaction ends.
    (On SQLite the caller opened the transaction with BEGIN IMMEDIATE, which is the lock.)
    `key`: another lock for work that must not wait for the writers (the MusicBrainz pace)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
