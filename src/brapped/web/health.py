"""Data health for the dashboard: `brapped status`'s document (brapped.pipeline.health), extended
with what only the page shows: sync runs in full, recent gaps, the newest play, imports and runs.

These are facts about the collection itself (what ran, what is missing), read from the store's
bookkeeping tables; listening numbers come from `brapped.insights` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from brapped.pipeline.health import settle_runs, status_document
from brapped.store.runs import last_run
from brapped.store.tables import gaps, imported_files, plays, runs
from brapped.web.dashboard import Dashboard

RUNS_SHOWN = 25
GAPS_SHOWN = 50

# How each counter of a run reads in a sentence, (one, many), in the order shown: import, sync,
# enrich, scheduler, migrate. A counter not listed reads as its name.
COUNT_WORDS: dict[str, tuple[str, str]] = {
    "new": ("play added", "plays added"),
    "known": ("play already stored", "plays already stored"),
    "merged": ("play merged with a stored one", "plays merged with stored ones"),
    "replaced": ("play replaced", "plays replaced"),
    "files_read": ("file read", "files read"),
    "files_failed": ("file failed", "files failed"),
    "files_skipped": ("file skipped", "files skipped"),
    "records": ("record", "records"),
    "gaps_filled": ("gap filled", "gaps filled"),
    "new_plays": ("new play", "new plays"),
    "seen_plays": ("play already stored", "plays already stored"),
    "merged_plays": ("play merged with an import", "plays merged with an import"),
    "new_tracks": ("new track", "new tracks"),
    "new_albums": ("new album", "new albums"),
    "new_artists": ("new artist", "new artists"),
    "gaps": ("possible gap", "possible gaps"),
    "artists_enriched": ("artist enriched", "artists enriched"),
    "albums_enriched": ("album enriched", "albums enriched"),
    "tracks_resolved": ("track resolved", "tracks resolved"),
    "tracks_merged": ("track merged", "tracks merged"),
    "tracks_unmatched": ("track not found", "tracks not found"),
    "plays_moved": ("play moved", "plays moved"),
    "plays_dropped": ("play dropped", "plays dropped"),
    "syncs": ("sync", "syncs"),
    "sync_failures": ("failed sync", "failed syncs"),
    "enrichments": ("enrichment", "enrichments"),
    "enrich_failures": ("failed enrichment", "failed enrichments"),
    "reports": ("report written", "reports written"),
    "report_failures": ("failed report", "failed reports"),
    "copied": ("row copied", "rows copied"),
    "tables": ("table checked", "tables checked"),
    "warnings": ("warning", "warnings"),
    "skipped": ("record skipped", "records skipped"),
    "pages": ("page read", "pages read"),
    "api_calls": ("API call", "API calls"),
    "token_requests": ("token request", "token requests"),
}
# An import or sync that added nothing says so; other zeros say nothing.
SHOWN_WHEN_ZERO = {"new", "new_plays"}
# `ok` repeats the outcome; `source` and `target` are database addresses.
NOT_SHOWN = {"ok", "source", "target"}
# The folders of an absolute path, spaces and all ("…/Spotify Extended Streaming History/"), but not
# of a URL (no ':' or '/' before its first '/').
_FOLDERS = re.compile(r"(?<![\w.:/~-])/(?:[^/\n:;,'\"()<>]+/)+")


def file_name(name: str) -> str:
    """A file's own name: no folders, and for a zip's entry (`archive.zip!folder/entry`) the entry's."""
    return name.replace("\\", "/").rsplit("!", 1)[-1].rsplit("/", 1)[-1]


def without_folders(text: str) -> str:
    """`text` with every absolute path cut to its file name (messages name the files they are about)."""
    return _FOLDERS.sub("", text)


def _words(key: str, n: int) -> str:
    one, many = COUNT_WORDS.get(key, (key.replace("_", " "), key.replace("_", " ")))
    return f"{n:,} {one if n == 1 else many}"


def _phrase(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, bool) or key in NOT_SHOWN:
        return None
    if isinstance(value, int | float):
        if not value and key not in SHOWN_WHEN_ZERO:
            return None
        if "." in key:  # an exported file and its rows
            return f"{int(value):,} {'row' if int(value) == 1 else 'rows'} in {key}"
        return _words(key, int(value))
    if isinstance(value, list):
        return _words(key, len(value)) if value else None
    if isinstance(value, dict):
        if not value:
            return None
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            # Counts by reason: the total, then each reason.
            why = "; ".join(f"{reason}: {n:,}" for reason, n in sorted(value.items()))
            return f"{_words(key, sum(value.values()))} ({why})"
        return _words(key, len(value))
    text = without_folders(str(value))
    if key in ("stopped", "stopped_by"):
        return f"stopped: {text}"
    if key == "directory":
        return f"into {file_name(text)}"
    if key == "format":
        return f"as {text}"
    return f"{key.replace('_', ' ')}: {text}"


def describe_counts(counts: Any) -> str:
    """A run's counters as a sentence: "12,000 plays added, 3 files skipped"."""
    if not isinstance(counts, Mapping):
        return ""
    order = {key: i for i, key in enumerate((*COUNT_WORDS, "format", "directory", "stopped", "stopped_by"))}
    keys = sorted(counts, key=lambda k: (order.get(k, len(order)), k))
    return ", ".join(p for p in (_phrase(k, counts[k]) for k in keys) if p)


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
        "heartbeat_at": row.get("heartbeat_at"),
        "outcome": row["outcome"],
        "counts": counts,
        "summary": describe_counts(counts),
        "message": row["message"],
        "note": without_folders(row["message"]) if row["message"] else "",
        "host": row.get("host"),
        "pid": row.get("pid"),
    }


def health(
    conn: Connection, token_file: Path, now: datetime, *, env_refresh_token: bool = False
) -> dict[str, Any]:
    """Everything the Data health page shows, as plain data."""
    shared = status_document(conn, token_file, now, env_refresh_token=env_refresh_token)
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
    newest_play = conn.execute(select(func.max(plays.c.played_at))).scalar_one()
    age_hours = None
    if last_ok is not None and last_ok["finished_at"] is not None:
        age_hours = round((now - last_ok["finished_at"]).total_seconds() / 3600, 1)
    # The page's JSON has always listed the token after the summaries.
    token = shared.pop("token")
    return {
        "now": now,
        "last_sync": last,
        "last_successful_sync": last_ok,
        "last_sync_age_hours": age_hours,
        "newest_play": newest_play,
        "open_gaps": open_gaps,
        "gaps": gap_list,
        **shared,
        "token": token,
        "imports": [{**r, "file": file_name(r["name"])} for r in import_rows],
        "runs": [_run(dict(r)) for r in run_rows.mappings()],
    }


def dashboard_health(board: Dashboard) -> dict[str, Any]:
    """`health` of the dashboard's store, at its clock's now."""
    settings = board.settings
    now = board.clock.now()
    settle_runs(board.store, now)  # a killed import reads interrupted, not running
    with board.store.connect() as conn:
        return health(conn, settings.token_file, now, env_refresh_token=bool(settings.refresh_token))
