"""Data health for the dashboard: syncs, gaps, enrichment, token expiry, import and run history.

These are facts about the collection itself (what ran, what is missing), read from the store's
bookkeeping tables; listening numbers come from `brapped.insights` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from brapped.store.runs import last_run
from brapped.store.tables import albums, artists, gaps, imported_files, plays, runs, state, tracks

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


def _progress(conn: Connection, done: Any, total_from: Any) -> dict[str, int]:
    total = int(conn.execute(select(func.count()).select_from(total_from)).scalar_one())
    finished = int(conn.execute(select(func.count()).select_from(total_from).where(done)).scalar_one())
    return {"done": finished, "total": total}


def token_status(token_file: Path, now: datetime) -> dict[str, Any]:
    """Expiry facts of the stored Spotify token; never the token itself."""
    if not token_file.exists():
        return {"present": False}
    try:
        data = json.loads(token_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"present": True, "readable": False}
    if not isinstance(data, dict):
        return {"present": True, "readable": False}
    found: dict[str, Any] = {"present": True, "readable": True}
    for key in ("expires_at", "refresh_expires_at", "refresh_token_expires_at", "obtained_at", "created_at"):
        value = data.get(key)
        when: datetime | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                when = None
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        if when is not None:
            found[key] = when
    expiry = found.get("refresh_expires_at") or found.get("refresh_token_expires_at")
    if expiry is not None:
        found["expires_in_days"] = round((expiry - now).total_seconds() / 86400, 1)
    return found


def health(conn: Connection, token_file: Path, now: datetime) -> dict[str, Any]:
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
    resume = conn.execute(
        select(state.c.scope, state.c.value).where(state.c.key == "resume_after")
    ).mappings()
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
        "resume_after": [dict(r) for r in resume],
        "enrichment": {
            "artists": _progress(conn, artists.c.enriched_at.is_not(None), artists),
            "albums": _progress(conn, albums.c.enriched_at.is_not(None), albums),
            "tracks": _progress(conn, tracks.c.is_resolved.is_(True), tracks),
        },
        "token": token_status(token_file, now),
        "imports": [dict(r) for r in import_rows],
        "runs": [_run(dict(r)) for r in run_rows.mappings()],
    }
