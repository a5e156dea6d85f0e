"""The `runs` table: a record of every sync, import, enrich, migrate and scheduler run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from brapped.store.tables import runs


def start_run(conn: Connection, kind: str, now: datetime, user_id: str | None = None) -> int:
    """Insert a run with outcome 'running' and return its id."""
    result = conn.execute(
        insert(runs).values(kind=kind, user_id=user_id, started_at=now, heartbeat_at=now, outcome="running")
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def finish_run(
    conn: Connection,
    run_id: int,
    now: datetime,
    outcome: str,
    counts: Mapping[str, Any] | None = None,
    message: str | None = None,
) -> None:
    """Record how a run ended. `outcome`: ok | partial | rate_limited | failed."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=now,
            heartbeat_at=now,
            outcome=outcome,
            counts=json.dumps(dict(counts), sort_keys=True, default=str) if counts is not None else None,
            message=message,
        )
    )


def record_run(
    conn: Connection,
    kind: str,
    started: datetime,
    finished: datetime,
    outcome: str,
    counts: Mapping[str, Any] | None = None,
    message: str | None = None,
    user_id: str | None = None,
) -> int:
    """Insert a finished run in one go (e.g. a failure recorded after the work rolled back)."""
    run_id = start_run(conn, kind, started, user_id)
    finish_run(conn, run_id, finished, outcome, counts, message)
    return run_id


def heartbeat(conn: Connection, run_id: int, now: datetime) -> None:
    conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=now))


def last_run(conn: Connection, kind: str, outcome: str | None = None) -> Mapping[str, Any] | None:
    """The newest run of `kind` (optionally with that outcome), as a mapping, or None."""
    query = select(runs).where(runs.c.kind == kind)
    if outcome is not None:
        query = query.where(runs.c.outcome == outcome)
    row = conn.execute(query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None
