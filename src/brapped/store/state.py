"""Small facts brapped must remember between runs (resume-after time, batch lookups allowed, ...)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from brapped.store.tables import state

GLOBAL = "global"


def get_state(conn: Connection, key: str, scope: str = GLOBAL) -> str | None:
    return conn.execute(
        select(state.c.value).where(state.c.scope == scope, state.c.key == key)
    ).scalar_one_or_none()


def set_state(conn: Connection, key: str, value: str | None, now: datetime, scope: str = GLOBAL) -> None:
    """Upsert (portable: update, then insert when nothing was updated)."""
    if value is None:
        conn.execute(delete(state).where(state.c.scope == scope, state.c.key == key))
        return
    updated = conn.execute(
        update(state).where(state.c.scope == scope, state.c.key == key).values(value=value, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(insert(state).values(scope=scope, key=key, value=value, updated_at=now))
