"""How healthy the collection is: last sync, gaps, rate-limit wait, token expiry, enrichment backlog.

One source for `brapped status` and the dashboard's Data health page, which extends the document
built here (`status_document`). Facts about the collection itself, never listening numbers (those
come from `brapped.insights`) and never a secret.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from brapped.insights import describe
from brapped.pipeline.artist_facts import REFRESH_AGE
from brapped.pipeline.enrich import backlog
from brapped.pipeline.rate_limits import resume_after
from brapped.pipeline.resolve import resolve_progress
from brapped.spotify import AuthRequired, TokenStore
from brapped.store import Store
from brapped.store.artist_facts import artists_to_map, coverage
from brapped.store.runs import interrupt_stale_runs, last_run, latest_runs
from brapped.store.tables import gaps, plays

log = logging.getLogger(__name__)

# Spotify refresh tokens die six months after consent; warn this long before.
TOKEN_WARNING_DAYS = 14


def token_status(token_file: Path, now: datetime, env_refresh_token: bool) -> dict[str, Any]:
    """When the Spotify authorisation expires; never the token itself.

    `warning` is set when the authorisation is unusable, expired or in its last 14 days.
    """
    status: dict[str, Any] = {
        "present": False,
        "source": None,
        "user_id": None,
        "issued_at": None,
        "issued_at_known": None,
        "expires_at": None,
        "expires_in_days": None,
        "warning": None,
    }
    try:
        saved = TokenStore(token_file).load()
    except AuthRequired as exc:
        status["warning"] = str(exc)
        return status
    if saved is None:
        if env_refresh_token:
            status.update(present=True, source="environment")
        return status
    expires = saved.refresh_expires_at
    days = (expires - now).total_seconds() / 86400
    status.update(
        present=True,
        source="auth" if saved.issued_at_known else "environment",
        user_id=saved.user_id,
        issued_at=saved.issued_at,
        issued_at_known=saved.issued_at_known,
        expires_at=expires,
        expires_in_days=int(days) if days >= 0 else int(days) - 1,
    )
    if days < 0:
        status["warning"] = "the Spotify authorisation has expired: run `brapped auth`"
    elif days < TOKEN_WARNING_DAYS:
        status["warning"] = f"the Spotify authorisation expires in {int(days)} days: run `brapped auth`"
    return status


def settle_runs(store: Store, now: datetime) -> list[int]:
    """Mark runs whose process is gone `interrupted` before a health report reads them (see
    brapped.store.runs); their ids. A database busy with another writer (a SQLite bulk load holds it
    to its end) leaves them for the next reader: the report reads them as they are."""
    try:
        with store.begin() as conn:
            return interrupt_stale_runs(conn, now)
    except SQLAlchemyError as exc:
        log.warning("could not mark interrupted runs: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return []


def _latest(conn: Connection) -> dict[str, dict[str, Any]]:
    """The newest run of each kind, as reports show it (no owner details beyond host and pid)."""
    keys = ("id", "started_at", "finished_at", "heartbeat_at", "outcome", "message", "host", "pid")
    return {kind: {k: row[k] for k in keys} for kind, row in latest_runs(conn).items()}


def status_document(
    conn: Connection, token_file: Path, now: datetime, *, env_refresh_token: bool = False
) -> dict[str, Any]:
    """What every health report shows: a rate-limit wait, the token, the enrichment backlog and the
    report summaries, at `now`.

    `brapped status` adds syncs, accounts and gaps (`collection_status`); the dashboard's Data health
    page adds its own (`brapped.web.health`).
    """
    waiting = resume_after(conn)
    resolved, total = resolve_progress(conn)
    return {
        "now": now,
        "resume_after": waiting if waiting is not None and waiting > now else None,
        "token": token_status(token_file, now, env_refresh_token),
        "enrichment": {**backlog(conn), "tracks_resolved": resolved, "tracks_total": total},
        "summaries": describe(conn),
        "musicbrainz": musicbrainz_status(conn, now),
    }


def musicbrainz_status(conn: Connection, now: datetime) -> dict[str, Any]:
    """MusicBrainz coverage (artists mapped, with genres, unmapped and why), the artists due for a
    lookup (never asked, or asked more than 180 days ago) and the last pass."""
    latest = last_run(conn, "musicbrainz")
    return {
        **coverage(conn),
        "due": len(artists_to_map(conn, now - REFRESH_AGE)),
        "last_run": {"at": latest["started_at"], "outcome": latest["outcome"], "message": latest["message"]}
        if latest
        else None,
    }


def collection_status(
    conn: Connection, token_file: Path, now: datetime, *, env_refresh_token: bool = False
) -> dict[str, Any]:
    """The health report as data, datetimes as aware datetimes (what `status --format json` prints).

    Call `settle_runs` first, so that a killed run reads `interrupted`, not `running`."""
    shared = status_document(conn, token_file, now, env_refresh_token=env_refresh_token)
    ok = last_run(conn, "sync", "ok")
    latest = last_run(conn, "sync")
    per_account = conn.execute(
        select(plays.c.user_id, func.count(), func.max(plays.c.played_at))
        .group_by(plays.c.user_id)
        .order_by(plays.c.user_id)
    ).all()
    all_gaps = conn.execute(
        select(gaps.c.user_id, gaps.c.gap_from, gaps.c.gap_to, gaps.c.filled_at).order_by(gaps.c.gap_from)
    ).all()
    last_sync = None
    if ok is not None:
        at = ok["finished_at"] or ok["started_at"]
        last_sync = {"at": at, "age_seconds": int((now - at).total_seconds()), "run_id": ok["id"]}
    return {
        "now": now,
        "last_sync": last_sync,
        "last_run": {"at": latest["started_at"], "outcome": latest["outcome"], "message": latest["message"]}
        if latest
        else None,
        "accounts": [
            {"user_id": user, "plays": int(count), "newest_play": newest}
            for user, count, newest in per_account
        ],
        "gaps": [
            {"user_id": user, "from": a, "to": b, "filled": filled is not None}
            for user, a, b, filled in all_gaps
        ],
        "runs": _latest(conn),
        **shared,
    }
