"""A long rate limit outlives the process: the resume time kept in `state`, `NotYet` for a pass asked
for before it, and the run record of a sync or enrichment that failed or was stopped by one."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection

from brapped.errors import BrappedError
from brapped.logs import mask_secrets
from brapped.serialise import instant_text
from brapped.spotify.errors import RateLimited
from brapped.spotify.transform import parse_instant
from brapped.store import Store
from brapped.store.runs import record_run
from brapped.store.state import get_state, set_state

log = logging.getLogger(__name__)

RESUME_AFTER = "resume_after"  # state key: ISO instant before which Spotify asked us not to call


def resume_after(conn: Connection) -> datetime | None:
    """When a long rate limit ends, if one is in force or was recorded."""
    value = get_state(conn, RESUME_AFTER)
    return parse_instant(value) if value else None


def remember_resume_after(conn: Connection, resume_at: datetime | None, now: datetime) -> None:
    """Store when Spotify lets brapped call again (None: no limit in force)."""
    set_state(conn, RESUME_AFTER, instant_text(resume_at), now)


class NotYet(RateLimited):
    """A sync asked for before the stored resume time: no request was made."""

    def __init__(self, resume_at: datetime, now: datetime) -> None:
        super().__init__(max(1, int((resume_at - now).total_seconds() + 0.999)), resume_at)
        BrappedError.__init__(
            self,
            f"Spotify asked brapped to wait: next sync possible after {instant_text(resume_at)} "
            f"(in {_human_seconds(self.retry_after)})",
        )


def _human_seconds(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def record_failure(
    store: Store,
    kind: str,
    started: datetime,
    now: datetime,
    exc: BaseException,
    user_id: str | None,
    calls: int,
) -> None:
    """Record a run that raised `exc` (and the resume time when it was a long rate limit)."""
    try:
        with store.begin(immediate=True) as conn:
            outcome = "rate_limited" if isinstance(exc, RateLimited) else "failed"
            if isinstance(exc, RateLimited):
                remember_resume_after(conn, exc.resume_at, now)
            message = str(exc) if isinstance(exc, BrappedError) else f"{type(exc).__name__}: {exc}"
            record_run(
                conn, kind, started, now, outcome, {"api_calls": calls}, mask_secrets(message)[:1000], user_id
            )
    except Exception:  # the original error matters more than a failed bookkeeping write
        log.exception("could not record the failed %s run", kind)


__all__ = ["NotYet", "record_failure", "remember_resume_after", "resume_after"]
