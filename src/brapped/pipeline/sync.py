"""sync() and enrich(): extract → transform → load, each write in one transaction with its run record.

HTTP happens before the database transaction opens (a slow Spotify never holds the write lock);
the transaction then takes the sync lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock),
re-reads the cursor, and writes everything or nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from brapped import identity
from brapped.errors import BrappedError
from brapped.imports.merge import TOLERANCE_MS as MERGE_TOLERANCE_MS
from brapped.logs import mask_secrets
from brapped.spotify.client import BATCH_LIMITS, RECENTLY_PLAYED_LIMIT, SpotifyClient
from brapped.spotify.errors import RateLimited, SpotifyError
from brapped.spotify.fetch import (
    fetch_in_batches,
    fetch_one_by_one,
    fetch_recently_played,
    fetch_track_search,
)
from brapped.spotify.transform import (
    Entities,
    PlayBatch,
    album_row,
    artist_genre_rows,
    artist_row,
    epoch_ms,
    parse_instant,
    recently_played,
)
from brapped.store import Store
from brapped.store import load as store_load
from brapped.store.estimates import update_estimates
from brapped.store.locking import lock
from brapped.store.runs import finish_run, record_run, start_run
from brapped.store.state import get_state, set_state
from brapped.store.tables import album_artists, albums, artists, plays, track_artists, tracks

log = logging.getLogger(__name__)

EnrichProgress = Callable[[str, int, int], None]
"""Called with (stage: 'tracks' | 'artists' | 'albums', items done, items in that stage)."""

RESUME_AFTER = "resume_after"  # state key: ISO instant before which Spotify asked us not to call
BATCH_ALLOWED = "batch_allowed"  # state key: 'true' | 'false' once detected


def resume_after(conn: Connection) -> datetime | None:
    """When a long rate limit ends, if one is in force or was recorded."""
    value = get_state(conn, RESUME_AFTER)
    return parse_instant(value) if value else None


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class NotYet(RateLimited):
    """A sync asked for before the stored resume time: no request was made."""

    def __init__(self, resume_at: datetime, now: datetime) -> None:
        super().__init__(max(1, int((resume_at - now).total_seconds() + 0.999)), resume_at)
        BrappedError.__init__(
            self,
            f"Spotify asked brapped to wait: next sync possible after {_iso(resume_at)} "
            f"(in {_human_seconds(self.retry_after)})",
        )


def _human_seconds(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _cursor(conn: Connection, user_id: str) -> datetime | None:
    value: datetime | None = conn.execute(
        select(func.max(plays.c.played_at)).where(plays.c.user_id == user_id)
    ).scalar_one_or_none()
    return value


def _existing(conn: Connection, column: Any, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars().all())
    return found


@dataclass
class _Loaded:
    new_tracks: int
    new_albums: int
    new_artists: int


def _load_entities(conn: Connection, entities: Entities) -> _Loaded:
    """Write full-track catalogue rows; replace synthetic albums/artists the tracks had before."""
    track_ids = list(entities.tracks)
    known_tracks = _existing(conn, tracks.c.id, track_ids)
    known_albums = _existing(conn, albums.c.id, list(entities.albums))
    known_artists = _existing(conn, artists.c.id, list(entities.artists))
    old_albums: set[str] = set()
    if known_tracks:
        for start in range(0, len(track_ids), 500):
            chunk = track_ids[start : start + 500]
            old_albums.update(
                a
                for a in conn.execute(select(tracks.c.album_id).where(tracks.c.id.in_(chunk))).scalars().all()
                if a
            )
    store_load.upsert_artists(conn, entities.artists.values())
    store_load.upsert_albums(conn, entities.albums.values())
    old_artists = store_load.replace_positions(conn, album_artists, "album_id", entities.album_artists)
    store_load.upsert_tracks(conn, entities.tracks.values())
    old_artists |= store_load.replace_positions(conn, track_artists, "track_id", entities.track_artists)
    # Tracks that came from an export pointed at name-based stand-ins; drop the ones now unused.
    store_load.delete_orphans(conn, old_albums - set(entities.albums), old_artists - set(entities.artists))
    return _Loaded(
        new_tracks=len(set(track_ids) - known_tracks),
        new_albums=len(set(entities.albums) - known_albums),
        new_artists=len(set(entities.artists) - known_artists),
    )


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
                f"waiting until {_iso(waiting_until)}",
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
        batch = recently_played(items, uid)
        result = _store_sync(store, client, uid, started, pages, batch, limited, calls_before, tokens_before)
    except Exception as exc:  # recorded whatever it was (a database error too), then re-raised
        _record_failure(store, "sync", started, clock.now(), exc, user_id, client.calls - calls_before)
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
    if not me.get("id"):
        raise SpotifyError(200, "GET /me answered without a user id")
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
        first_items = [p["played_at"] for p in recently_played(first_page, uid).plays]
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
            log.info("possible gap in history from %s to %s", _iso(gap[0]), _iso(gap[1]))
        loaded = _load_entities(conn, batch.entities)
        result.new_tracks, result.new_albums, result.new_artists = (
            loaded.new_tracks,
            loaded.new_albums,
            loaded.new_artists,
        )
        result.merged_plays = store_load.merge_into_exported(
            conn, uid, batch.plays, MERGE_TOLERANCE_MS, _names(batch.entities)
        )
        added = store_load.insert_plays(conn, batch.plays)
        result.new_plays = len(added)
        result.seen_plays = len(batch.plays) - len(added) - result.merged_plays
        if added:
            update_estimates(conn, uid, min(added))
        result.cursor_after = max([t for t in (cursor, *added) if t is not None], default=None)
        if limited is not None:
            set_state(conn, RESUME_AFTER, _iso(limited.resume_at), now)
            result.rate_limited = limited
        else:
            set_state(conn, RESUME_AFTER, None, now)
        result.api_calls = client.calls - calls_before
        result.token_requests = _token_requests(client) - tokens_before
        finish_run(
            conn, run_id, clock.now(), result.outcome, result.counts(), str(limited) if limited else None
        )
    return result


def _record_failure(
    store: Store,
    kind: str,
    started: datetime,
    now: datetime,
    exc: BaseException,
    user_id: str | None,
    calls: int,
) -> None:
    try:
        with store.begin(immediate=True) as conn:
            outcome = "rate_limited" if isinstance(exc, RateLimited) else "failed"
            if isinstance(exc, RateLimited):
                set_state(conn, RESUME_AFTER, _iso(exc.resume_at), now)
            message = str(exc) if isinstance(exc, BrappedError) else f"{type(exc).__name__}: {exc}"
            record_run(
                conn, kind, started, now, outcome, {"api_calls": calls}, mask_secrets(message)[:1000], user_id
            )
    except Exception:  # the original error matters more than a failed bookkeeping write
        log.exception("could not record the failed %s run", kind)


# -- enrichment --------------------------------------------------------------------------------


@dataclass
class EnrichResult:
    """What one enrichment pass did, and what is left."""

    run_id: int | None = None
    api_calls: int = 0
    artists_enriched: int = 0
    albums_enriched: int = 0
    tracks_resolved: int = 0
    tracks_merged: int = 0  # name-only tracks found by search and merged into the real track
    tracks_unmatched: int = 0
    plays_moved: int = 0
    plays_dropped: int = 0  # name-only duplicates of a play already stored under the real id
    batch_allowed: bool | None = None
    stopped: str | None = None  # None (all done) | 'budget' | 'rate_limited'
    rate_limited: RateLimited | None = None
    backlog: dict[str, int] = field(default_factory=dict)
    resolved_total: int = 0
    tracks_total: int = 0

    def counts(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_calls,
            "artists_enriched": self.artists_enriched,
            "albums_enriched": self.albums_enriched,
            "tracks_resolved": self.tracks_resolved,
            "tracks_merged": self.tracks_merged,
            "tracks_unmatched": self.tracks_unmatched,
            "plays_moved": self.plays_moved,
            "plays_dropped": self.plays_dropped,
            "stopped": self.stopped,
        }


class _Budget:
    def __init__(self, client: SpotifyClient, max_calls: int | None) -> None:
        self.client = client
        self.start = client.calls
        self.max_calls = max_calls

    @property
    def used(self) -> int:
        return self.client.calls - self.start

    def left(self) -> int | None:
        return None if self.max_calls is None else max(0, self.max_calls - self.used)

    def exhausted(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


def backlog(conn: Connection) -> dict[str, int]:
    """What enrichment still has to do: artists and albums without details, unresolved tracks."""
    real_artist = ~artists.c.id.startswith(identity.PREFIX)
    real_album = ~albums.c.id.startswith(identity.PREFIX)
    return {
        "artists": int(
            conn.execute(
                select(func.count()).where(artists.c.enriched_at.is_(None), real_artist)
            ).scalar_one()
        ),
        "albums": int(
            conn.execute(select(func.count()).where(albums.c.enriched_at.is_(None), real_album)).scalar_one()
        ),
        "tracks_unresolved": int(
            conn.execute(select(func.count()).where(tracks.c.is_resolved.is_(False))).scalar_one()
        ),
        "tracks_unresolvable": int(
            conn.execute(
                select(func.count()).where(
                    tracks.c.is_resolved.is_(False), tracks.c.resolve_attempted_at.is_not(None)
                )
            ).scalar_one()
        ),
    }


def resolve_progress(conn: Connection) -> tuple[int, int]:
    """(tracks resolved, tracks in total)."""
    total = int(conn.execute(select(func.count()).select_from(tracks)).scalar_one())
    done = int(conn.execute(select(func.count()).where(tracks.c.is_resolved.is_(True))).scalar_one())
    return done, total


def _unenriched_most_played_first(
    conn: Connection, table: Table, key: ColumnElement[Any], track_key: ColumnElement[Any]
) -> list[str]:
    """Ids of `table` rows not enriched yet (real Spotify ids only), most-played first.

    `key` names the row in a table that reaches plays through its `track_key` column
    (track_artists.artist_id via track_artists.track_id; tracks.album_id via tracks.id).
    """
    per_row = (
        select(key.label("id"), func.count(plays.c.id).label("n"))
        .join(plays, plays.c.track_id == track_key)
        .group_by(key)
        .subquery()
    )
    query = (
        select(table.c.id)
        .outerjoin(per_row, per_row.c.id == table.c.id)
        .where(table.c.enriched_at.is_(None), ~table.c.id.startswith(identity.PREFIX))
        .order_by(func.coalesce(per_row.c.n, 0).desc(), table.c.id)
    )
    return list(conn.execute(query).scalars().all())


def _artists_to_enrich(conn: Connection) -> list[str]:
    return _unenriched_most_played_first(conn, artists, track_artists.c.artist_id, track_artists.c.track_id)


def _albums_to_enrich(conn: Connection) -> list[str]:
    return _unenriched_most_played_first(conn, albums, tracks.c.album_id, tracks.c.id)


def _tracks_to_resolve(conn: Connection) -> list[tuple[str, str, str | None]]:
    """(id, name, main artist name) of unresolved, not yet attempted tracks, most-played first."""
    plays_per_track = (
        select(plays.c.track_id, func.count(plays.c.id).label("n")).group_by(plays.c.track_id).subquery()
    )
    main = track_artists.alias("main")
    query = (
        select(tracks.c.id, tracks.c.name, artists.c.name)
        .outerjoin(plays_per_track, plays_per_track.c.track_id == tracks.c.id)
        .outerjoin(main, and_(main.c.track_id == tracks.c.id, main.c.position == 0))
        .outerjoin(artists, artists.c.id == main.c.artist_id)
        .where(tracks.c.is_resolved.is_(False), tracks.c.resolve_attempted_at.is_(None))
        .order_by(func.coalesce(plays_per_track.c.n, 0).desc(), tracks.c.id)
    )
    return [(str(r[0]), str(r[1]), r[2]) for r in conn.execute(query).all()]


def _lookups(
    store: Store,
    client: SpotifyClient,
    kind: str,
    ids: Sequence[str],
    budget: _Budget,
    result: EnrichResult,
) -> Iterator[list[tuple[str, dict[str, Any] | None]]]:
    """Chunks of (id, object) within the budget, batch lookups when the app may use them.

    Batch permission is detected once (a 403 on the batch endpoint) and remembered in `state`.
    A long 429 ends the generator with `result.stopped = 'rate_limited'`.
    """
    with store.connect() as conn:
        remembered = get_state(conn, BATCH_ALLOWED)
    allowed: bool | None = None if remembered is None else remembered == "true"
    size = BATCH_LIMITS[kind]
    position = 0
    while position < len(ids):
        left = budget.left()
        if left is not None and left <= 0:
            result.stopped = "budget"
            return
        got: list[tuple[str, dict[str, Any] | None]] = []
        try:
            if allowed is not False:
                chunk = list(ids[position : position + size])
                try:
                    got = list(fetch_in_batches(client, kind, chunk))
                    if allowed is None:
                        allowed = True
                        _remember_batch(store, client, True)
                except SpotifyError as exc:
                    if exc.status != 403 or isinstance(exc, RateLimited):
                        raise
                    allowed = False
                    _remember_batch(store, client, False)
                    continue
            else:
                count = size if left is None else min(size, left)
                chunk = list(ids[position : position + count])
                for pair in fetch_one_by_one(client, kind, chunk):
                    got.append(pair)
        except RateLimited as exc:
            result.stopped = "rate_limited"
            result.rate_limited = exc
            if got:
                yield got
            return
        finally:
            result.batch_allowed = allowed
        position += len(got)
        yield got


def _remember_batch(store: Store, client: SpotifyClient, allowed: bool) -> None:
    with store.begin(immediate=True) as conn:
        set_state(conn, BATCH_ALLOWED, "true" if allowed else "false", client.clock.now())


def enrich(
    store: Store,
    client: SpotifyClient,
    *,
    max_calls: int | None = None,
    artists_: bool = True,
    albums: bool = True,
    resolve: bool = False,
    progress: EnrichProgress | None = None,
) -> EnrichResult:
    """Fill in what is missing, most-played first, committing after every chunk (resumable).

    `resolve` also looks up unresolved tracks: real ids through GET /tracks, name-only tracks
    through search (a confident match moves their plays to the real track). `progress` is called
    with (stage, items done, items in the stage) after every committed chunk.
    """
    report: EnrichProgress = progress or (lambda stage, done, total: None)
    clock = client.clock
    started = clock.now()
    result = EnrichResult()
    budget = _Budget(client, max_calls)
    with store.connect() as conn:
        waiting_until = resume_after(conn)
    if waiting_until is not None and started < waiting_until:
        raise NotYet(waiting_until, started)
    try:
        if resolve:
            with store.connect() as conn:
                to_resolve = _tracks_to_resolve(conn)
            if to_resolve:
                _resolve(store, client, to_resolve, budget, result, report)
        # Asked after resolving: the artists and albums it brought in are enriched in the same run.
        with store.connect() as conn:
            artist_ids = _artists_to_enrich(conn) if artists_ and result.stopped is None else []
            album_ids = _albums_to_enrich(conn) if albums and result.stopped is None else []
        if artist_ids and result.stopped is None:
            done = 0
            for got in _lookups(store, client, "artists", artist_ids, budget, result):
                _store_artists(store, client, got, result)
                done += len(got)
                report("artists", done, len(artist_ids))
        if album_ids and result.stopped is None:
            done = 0
            for got in _lookups(store, client, "albums", album_ids, budget, result):
                _store_albums(store, client, got, result)
                done += len(got)
                report("albums", done, len(album_ids))
    except Exception as exc:  # recorded whatever it was, then re-raised
        result.api_calls = budget.used
        _record_failure(store, "enrich", started, clock.now(), exc, None, budget.used)
        raise
    result.api_calls = budget.used
    with store.connect() as conn:
        result.backlog = backlog(conn)
        result.resolved_total, result.tracks_total = resolve_progress(conn)
    # Reads above, writes in their own IMMEDIATE transaction: on SQLite a transaction that read and
    # then writes fails at once if another writer committed in between.
    with store.begin(immediate=True) as conn:
        now = clock.now()
        if result.rate_limited is not None:
            set_state(conn, RESUME_AFTER, _iso(result.rate_limited.resume_at), now)
        outcome = {"rate_limited": "rate_limited", "budget": "partial"}.get(result.stopped or "", "ok")
        if result.api_calls or result.stopped:
            # A pass with nothing to do (the usual case after a sync) leaves no run record.
            result.run_id = record_run(
                conn, "enrich", started, now, outcome, result.counts(), str(result.rate_limited or "") or None
            )
    return result


def _store_artists(
    store: Store, client: SpotifyClient, got: list[tuple[str, dict[str, Any] | None]], result: EnrichResult
) -> None:
    now = client.clock.now()
    with store.begin(immediate=True) as conn:
        lock(conn)
        found = [obj for _, obj in got if obj]
        store_load.upsert_artists(conn, [artist_row(obj, full=True, now=now) for obj in found], full=True)
        store_load.replace_artist_genres(
            conn, [str(obj["id"]) for obj in found], [row for obj in found for row in artist_genre_rows(obj)]
        )
        missing = [spotify_id for spotify_id, obj in got if obj is None]
        if missing:
            # Spotify does not know them (any more): mark them done rather than ask forever.
            conn.execute(update(artists).where(artists.c.id.in_(missing)).values(enriched_at=now))
        result.artists_enriched += len(found)


def _store_albums(
    store: Store, client: SpotifyClient, got: list[tuple[str, dict[str, Any] | None]], result: EnrichResult
) -> None:
    now = client.clock.now()
    with store.begin(immediate=True) as conn:
        lock(conn)
        found = [obj for _, obj in got if obj]
        entities = Entities()
        for obj in found:
            for artist in obj.get("artists") or []:
                if isinstance(artist, dict) and artist.get("id"):
                    entities.artists.setdefault(str(artist["id"]), artist_row(artist))
        store_load.upsert_artists(conn, entities.artists.values())
        store_load.upsert_albums(conn, [album_row(obj, full=True, now=now) for obj in found])
        missing = [spotify_id for spotify_id, obj in got if obj is None]
        if missing:
            conn.execute(update(albums).where(albums.c.id.in_(missing)).values(enriched_at=now))
        result.albums_enriched += len(found)


def _confident_match(
    candidates: list[dict[str, Any]], track_name: str, artist_name: str | None
) -> dict[str, Any] | None:
    """The first candidate whose title and one of whose artists equal the names (normalised)."""
    want_title = identity.normalise(track_name)
    want_artist = identity.normalise(artist_name) if artist_name else None
    for candidate in candidates:
        if not candidate.get("id") or identity.normalise(str(candidate.get("name") or "")) != want_title:
            continue
        names = {
            identity.normalise(str(a.get("name") or ""))
            for a in candidate.get("artists") or []
            if isinstance(a, dict)
        }
        if want_artist is None or want_artist in names:
            return candidate
    return None


def _resolve(
    store: Store,
    client: SpotifyClient,
    to_resolve: list[tuple[str, str, str | None]],
    budget: _Budget,
    result: EnrichResult,
    report: EnrichProgress,
) -> None:
    real = [tid for tid, _, _ in to_resolve if not identity.is_synthetic(tid)]
    done = 0
    named = [(tid, name, artist) for tid, name, artist in to_resolve if identity.is_synthetic(tid)]
    for got in _lookups(store, client, "tracks", real, budget, result):
        now = client.clock.now()
        with store.begin(immediate=True) as conn:
            lock(conn)
            entities = Entities()
            for _, obj in got:
                if obj is not None and obj.get("id"):
                    entities.add_track(obj)
            # A relinked track answers with another id: keep the row the plays point at.
            for asked, obj in got:
                if obj is not None and obj.get("id") and str(obj["id"]) != asked:
                    row = dict(entities.tracks.pop(str(obj["id"])))
                    positions = entities.track_artists.pop(str(obj["id"]))
                    row["id"] = asked
                    entities.tracks[asked] = row
                    entities.track_artists[asked] = [{**p, "track_id": asked} for p in positions]
            _load_entities(conn, entities)
            missing = [tid for tid, obj in got if obj is None]
            if missing:
                conn.execute(update(tracks).where(tracks.c.id.in_(missing)).values(resolve_attempted_at=now))
                result.tracks_unmatched += len(missing)
            result.tracks_resolved += len(entities.tracks)
        done += len(got)
        report("tracks", done, len(to_resolve))
    if result.stopped is not None:
        return
    for tid, name, artist in named:
        if budget.exhausted():
            result.stopped = "budget"
            return
        try:
            candidates = fetch_track_search(client, name, artist or "") if artist else []
        except RateLimited as exc:
            result.stopped, result.rate_limited = "rate_limited", exc
            return
        match = _confident_match(candidates, name, artist)
        now = client.clock.now()
        with store.begin(immediate=True) as conn:
            lock(conn)
            if match is None:
                conn.execute(update(tracks).where(tracks.c.id == tid).values(resolve_attempted_at=now))
                result.tracks_unmatched += 1
            else:
                _merge_found(conn, tid, match, result)
        done += 1
        report("tracks", done, len(to_resolve))


def _merge_found(conn: Connection, tid: str, match: dict[str, Any], result: EnrichResult) -> None:
    """Move a name-only track's plays to the real track search found, then drop the stand-in."""
    entities = Entities()
    entities.add_track(match)
    _load_entities(conn, entities)
    moved, dropped = store_load.move_plays(conn, tid, str(match["id"]))
    old_album = conn.execute(select(tracks.c.album_id).where(tracks.c.id == tid)).scalar_one_or_none()
    old_artists = store_load.replace_positions(conn, track_artists, "track_id", {tid: []})
    conn.execute(tracks.delete().where(tracks.c.id == tid))
    store_load.delete_orphans(conn, [old_album] if old_album else [], old_artists)
    result.tracks_merged += 1
    result.plays_moved += moved
    result.plays_dropped += dropped


__all__ = [
    "EnrichResult",
    "NotYet",
    "SyncResult",
    "backlog",
    "enrich",
    "lock",
    "resolve_progress",
    "resume_after",
    "sync",
]
