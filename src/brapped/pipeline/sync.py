"""sync(): recently played plays from Spotify into the database, in one transaction with its run record.

HTTP happens before the database transaction opens (a slow Spotify never holds the write lock);
the transaction then takes the sync lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock),
re-reads the cursor, and writes everything or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from brapped import identity
from brapped.errors import BrappedError
from brapped.imports import FUTURE_SLACK
from brapped.imports.merge import OFFLINE_PAUSE_MS
from brapped.imports.merge import TOLERANCE_MS as MERGE_TOLERANCE_MS
from brapped.pipeline.catalogue import load_entities
from brapped.pipeline.enrich import enrich
from brapped.pipeline.lookups import EnrichResult
from brapped.pipeline.rate_limits import NotYet, record_failure, remember_resume_after, resume_after
from brapped.serialise import instant_text
from brapped.spotify.client import RECENTLY_PLAYED_LIMIT, SpotifyClient
from brapped.spotify.errors import RateLimited, SpotifyError
from brapped.spotify.fetch import fetch_recently_played
from brapped.spotify.transform import Entities, PlayBatch, epoch_ms, recently_played, usable_id
from brapped.store import Store
from brapped.store import load as store_load
from brapped.store.estimates import ensure_calibrated, update_estimates
from brapped.store.locking import lock
from brapped.store.runs import finish_run, record_run, start_run
from brapped.store.tables import plays

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    """What one sync did."""

    user_id: str
    run_id: int
    new_plays: int = 0
    seen_plays: int = 0
    merged_plays: int = 0  # already imported from an export: now one play, source 'both'
    new_tracks: int = 0
    new_albums: int = 0
    new_artists: int = 0
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    api_calls: int = 0
    token_requests: int = 0
    pages: int = 0
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    rate_limited: RateLimited | None = None
    enrichment: EnrichResult | None = None
    enrichment_error: str | None = None

    @property
    def outcome(self) -> str:
        return "rate_limited" if self.rate_limited else "ok"

    def counts(self) -> dict[str, Any]:
        return {
            "new_plays": self.new_plays,
            "seen_plays": self.seen_plays,
            "merged_plays": self.merged_plays,
            "new_tracks": self.new_tracks,
            "new_albums": self.new_albums,
            "new_artists": self.new_artists,
            "gaps": len(self.gaps),
            "api_calls": self.api_calls,
            "token_requests": self.token_requests,
            "pages": self.pages,
            "skipped": self.skipped,
        }


def _cursor(conn: Connection, user_id: str) -> datetime | None:
    value: datetime | None = conn.execute(
        select(func.max(plays.c.played_at)).where(plays.c.user_id == user_id)
    ).scalar_one_or_none()
    return value


def sync(
    store: Store,
    client: SpotifyClient,
    *,
    enrich_budget: int = 0,
    user_id: str | None = None,
) -> SyncResult:
    """Fetch plays newer than the newest stored one and store them (idempotent, gap-aware).

    A long 429 stops the fetch: what arrived is committed, the resume time is stored, and the
    result carries `rate_limited` (the CLI exits 75). With `enrich_budget` > 0, missing artist
    details are looked up afterwards with at most that many calls.
    """
    clock = client.clock
    started = clock.now()
    calls_before, tokens_before = client.calls, _token_requests(client)
    with store.connect() as conn:
        waiting_until = resume_after(conn)
    if waiting_until is not None and started < waiting_until:
        with store.begin(immediate=True) as conn:
            record_run(
                conn,
                "sync",
                started,
                started,
                "rate_limited",
                {"api_calls": 0},
                f"waiting until {instant_text(waiting_until)}",
            )
        raise NotYet(waiting_until, started)

    try:
        uid = user_id or _whoami(client)
        with store.connect() as conn:
            cursor = _cursor(conn, uid)
        pages: list[dict[str, Any]] = []
        limited: RateLimited | None = None
        try:
            for page in fetch_recently_played(client, epoch_ms(cursor) if cursor else None):
                pages.append(page)
        except RateLimited as exc:
            limited = exc
        items = [item for page in pages for item in (page.get("items") or []) if isinstance(item, dict)]
        # As an import refuses them: a clock a day fast is allowed for, a play beyond it is not one.
        batch = recently_played(items, uid, latest=started + FUTURE_SLACK)
        result = _store_sync(store, client, uid, started, pages, batch, limited, calls_before, tokens_before)
    except Exception as exc:  # recorded whatever it was (a database error too), then re-raised
        record_failure(store, "sync", started, clock.now(), exc, user_id, client.calls - calls_before)
        raise

    if enrich_budget > 0 and limited is None:
        try:
            result.enrichment = enrich(store, client, max_calls=enrich_budget, albums=False)
        except BrappedError as exc:
            # The plays are safely stored; enrichment will catch up next time.
            result.enrichment_error = str(exc)
        result.api_calls = client.calls - calls_before
        result.token_requests = _token_requests(client) - tokens_before
    return result


def _names(entities: Entities) -> dict[str, tuple[str, frozenset[str]]]:
    """Track id -> (normalised title, normalised names of its artists), for name-based matching."""
    return {
        track_id: (
            identity.normalise(str(row["name"])),
            frozenset(
                identity.normalise(str(entities.artists[p["artist_id"]]["name"]))
                for p in entities.track_artists.get(track_id, [])
                if p["artist_id"] in entities.artists
            ),
        )
        for track_id, row in entities.tracks.items()
    }


def _token_requests(client: SpotifyClient) -> int:
    return int(getattr(client.tokens, "refreshes", 0))


def _whoami(client: SpotifyClient) -> str:
    cached = getattr(client.tokens, "tokens", None)
    user_id = getattr(cached, "user_id", None)
    if user_id:
        return str(user_id)
    me = client.me()
    if not usable_id(me.get("id")):
        raise SpotifyError(200, "GET /me answered without a usable user id")
    remember = getattr(client.tokens, "remember_user", None)
    if callable(remember):
        remember(str(me["id"]), me.get("display_name"))
    return str(me["id"])


def _store_sync(
    store: Store,
    client: SpotifyClient,
    uid: str,
    started: datetime,
    pages: list[dict[str, Any]],
    batch: PlayBatch,
    limited: RateLimited | None,
    calls_before: int,
    tokens_before: int,
) -> SyncResult:
    clock = client.clock
    with store.begin(immediate=True) as conn:
        lock(conn)
        run_id = start_run(conn, "sync", started, uid)
        result = SyncResult(user_id=uid, run_id=run_id, pages=len(pages), skipped=batch.skipped)
        cursor = _cursor(conn, uid)  # again, under the lock: another sync may have just written
        result.cursor_before = cursor
        now = clock.now()
        store_load.ensure_account(conn, uid, now)
        display_name = getattr(getattr(client.tokens, "tokens", None), "display_name", None)
        if display_name:
            store_load.set_display_name(conn, uid, str(display_name))
        first_page = (pages[0].get("items") or []) if pages else []
        first_items = [
            p["played_at"] for p in recently_played(first_page, uid, latest=started + FUTURE_SLACK).plays
        ]
        if (
            cursor is not None
            and len(first_page) >= RECENTLY_PLAYED_LIMIT
            and first_items
            and min(first_items) > cursor
        ):
            # A full page, all of it newer than what we had: Spotify keeps only the last 50 plays,
            # so anything played between the cursor and this page's oldest play may be lost.
            gap = (cursor, min(first_items))
            store_load.insert_gap(conn, uid, gap[0], gap[1], now, run_id)
            result.gaps.append(gap)
            log.info("possible gap in history from %s to %s", instant_text(gap[0]), instant_text(gap[1]))
        loaded = load_entities(conn, batch.entities)
        result.new_tracks, result.new_albums, result.new_artists = (
            loaded.new_tracks,
            loaded.new_albums,
            loaded.new_artists,
        )
        result.merged_plays = store_load.merge_into_exported(
            conn, uid, batch.plays, MERGE_TOLERANCE_MS, _names(batch.entities), pause_ms=OFFLINE_PAUSE_MS
        )
        added = store_load.insert_plays(conn, batch.plays)
        result.new_plays = len(added)
        result.seen_plays = len(batch.plays) - len(added) - result.merged_plays
        if added:
            ensure_calibrated(conn, uid, now)  # once per account: learned, or the default
            update_estimates(conn, uid, min(added))
        result.cursor_after = max([t for t in (cursor, *added) if t is not None], default=None)
        if limited is not None:
            remember_resume_after(conn, limited.resume_at, now)
            result.rate_limited = limited
        else:
            remember_resume_after(conn, None, now)
        result.api_calls = client.calls - calls_before
        result.token_requests = _token_requests(client) - tokens_before
        finish_run(
            conn, run_id, clock.now(), result.outcome, result.counts(), str(limited) if limited else None
        )
    return result


__all__ = ["SyncResult", "sync"]
