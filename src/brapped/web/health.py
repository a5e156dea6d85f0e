"""Data health for the dashboard: syncs, gaps, enrichment, token expiry, import and run history.

These are facts about the collection itself (what ran, what is missing), read from the store's
bookkeeping tables; listening numbers come from `brapped.insights` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from brapped.insights import describe
from brapped.pipeline.health import token_status
from brapped.pipeline.sync import backlog, resolve_progress, resume_after
from brapped.store.runs import last_run
from brapped.store.tables import gaps, imported_files, plays, runs

RUNS_SHOWN = 25
GAPS_SHOWN = 50


def _run(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    counts: Any = None
    if row.get("counts"):
        try:
            counts = json.loads(row["counts"])
        except ValueError:
            counts = None
    return {
        "id": row["id"],
        "kind": row["kind"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "outcome": row["outcome"],
        "counts": counts,
        "message": row["message"],
    }


def health(
    conn: Connection, token_file: Path, now: datetime, *, env_refresh_token: bool = False
) -> dict[str, Any]:
    """Everything the Data health page shows, as plain data."""
    last = _run(last_run(conn, "sync"))
    last_ok = _run(last_run(conn, "sync", "ok"))
    gap_rows = conn.execute(
        select(gaps.c.user_id, gaps.c.gap_from, gaps.c.gap_to, gaps.c.detected_at, gaps.c.filled_at)
        .order_by(gaps.c.gap_from.desc())
        .limit(GAPS_SHOWN)
    ).mappings()
    gap_list = [
        {
            "user_id": g["user_id"],
            "from": g["gap_from"],
            "to": g["gap_to"],
            "detected_at": g["detected_at"],
            "filled_at": g["filled_at"],
        }
        for g in gap_rows
    ]
    open_gaps = int(
        conn.execute(select(func.count()).select_from(gaps).where(gaps.c.filled_at.is_(None))).scalar_one()
    )
    run_rows = conn.execute(
        select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(RUNS_SHOWN)
    )
    import_rows = conn.execute(
        select(
            imported_files.c.name,
            imported_files.c.format,
            imported_files.c.records,
            imported_files.c.first_played_at,
            imported_files.c.last_played_at,
            imported_files.c.imported_at,
        ).order_by(imported_files.c.imported_at.desc())
    ).mappings()
    waiting = resume_after(conn)
    resolved, total = resolve_progress(conn)
    newest_play = conn.execute(select(func.max(plays.c.played_at))).scalar_one()
    age_hours = None
    if last_ok is not None and last_ok["finished_at"] is not None:
        age_hours = round((now - last_ok["finished_at"]).total_seconds() / 3600, 1)
    return {
        "now": now,
        "last_sync": last,
        "last_successful_sync": last_ok,
        "last_sync_age_hours": age_hours,
        "newest_play": newest_play,
        "open_gaps": open_gaps,
        "gaps": gap_list,
        "resume_after": waiting if waiting is not None and waiting > now else None,
        "enrichment": {**backlog(conn), "tracks_resolved": resolved, "tracks_total": total},
        "summaries": describe(conn),
        "token": token_status(token_file, now, env_refresh_token),
        "imports": [dict(r) for r in import_rows],
        "runs": [_run(dict(r)) for r in run_rows.mappings()],
    }
