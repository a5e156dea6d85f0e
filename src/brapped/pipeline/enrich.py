"""enrich(): artist and album details, most-played first, and on request resolving the tracks an
export named; every chunk committed in its own transaction, so a pass resumes where one stopped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from brapped import identity
from brapped.pipeline.lookups import CallBudget, EnrichProgress, EnrichResult, lookups
from brapped.pipeline.rate_limits import NotYet, record_failure, remember_resume_after, resume_after
from brapped.pipeline.resolve import resolve_progress, resolve_tracks, tracks_to_resolve
from brapped.spotify.client import SpotifyClient
from brapped.spotify.transform import Entities, album_row, artist_genre_rows, artist_row, usable_id
from brapped.store import Store
from brapped.store import load as store_load
from brapped.store.locking import lock
from brapped.store.runs import record_run
from brapped.store.tables import albums, artists, plays, track_artists, tracks


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
    budget = CallBudget(client, max_calls)
    with store.connect() as conn:
        waiting_until = resume_after(conn)
    if waiting_until is not None and started < waiting_until:
        raise NotYet(waiting_until, started)
    try:
        if resolve:
            with store.connect() as conn:
                to_resolve = tracks_to_resolve(conn)
            if to_resolve:
                resolve_tracks(store, client, to_resolve, budget, result, report)
        # Asked after resolving: the artists and albums it brought in are enriched in the same run.
        with store.connect() as conn:
            artist_ids = _artists_to_enrich(conn) if artists_ and result.stopped is None else []
            album_ids = _albums_to_enrich(conn) if albums and result.stopped is None else []
        if artist_ids and result.stopped is None:
            result.artists_enriched += _details(store, client, "artists", artist_ids, budget, result, report)
        if album_ids and result.stopped is None:
            result.albums_enriched += _details(store, client, "albums", album_ids, budget, result, report)
    except Exception as exc:  # recorded whatever it was, then re-raised
        result.api_calls = budget.used
        record_failure(store, "enrich", started, clock.now(), exc, None, budget.used)
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
            remember_resume_after(conn, result.rate_limited.resume_at, now)
        outcome = {"rate_limited": "rate_limited", "budget": "partial"}.get(result.stopped or "", "ok")
        if result.api_calls or result.stopped:
            # A pass with nothing to do (the usual case after a sync) leaves no run record.
            result.run_id = record_run(
                conn, "enrich", started, now, outcome, result.counts(), str(result.rate_limited or "") or None
            )
    return result


Found = list[dict[str, Any]]


def _details(
    store: Store,
    client: SpotifyClient,
    kind: str,
    ids: list[str],
    budget: CallBudget,
    result: EnrichResult,
    report: EnrichProgress,
) -> int:
    """Look up and store the artists or albums `ids` chunk by chunk; returns how many Spotify knew."""
    stored = done = 0
    for got in lookups(store, client, kind, ids, budget, result):
        stored += _store_details(store, client, kind, got)
        done += len(got)
        report(kind, done, len(ids))
    return stored


def _store_details(
    store: Store, client: SpotifyClient, kind: str, got: list[tuple[str, dict[str, Any] | None]]
) -> int:
    """Write one chunk of looked-up artists or albums (`kind`); returns how many Spotify knew."""
    table, write = _DETAILS[kind]
    now = client.clock.now()
    with store.begin(immediate=True) as conn:
        lock(conn)
        found = [obj for _, obj in got if obj]
        write(conn, found, now)
        missing = [spotify_id for spotify_id, obj in got if obj is None]
        if missing:
            # Spotify does not know them (any more): mark them done rather than ask forever.
            conn.execute(update(table).where(table.c.id.in_(missing)).values(enriched_at=now))
    return len(found)


def _write_artists(conn: Connection, found: Found, now: datetime) -> None:
    store_load.upsert_artists(conn, [artist_row(obj, full=True, now=now) for obj in found], full=True)
    store_load.replace_artist_genres(
        conn, [str(obj["id"]) for obj in found], [row for obj in found for row in artist_genre_rows(obj)]
    )


def _write_albums(conn: Connection, found: Found, now: datetime) -> None:
    entities = Entities()
    for obj in found:
        for artist in obj.get("artists") or []:
            if isinstance(artist, dict) and usable_id(artist.get("id")):
                entities.artists.setdefault(str(artist["id"]), artist_row(artist))
    store_load.upsert_artists(conn, entities.artists.values())
    store_load.upsert_albums(conn, [album_row(obj, full=True, now=now) for obj in found])


_DETAILS: dict[str, tuple[Table, Callable[[Connection, Found, datetime], None]]] = {
    "artists": (artists, _write_artists),
    "albums": (albums, _write_albums),
}


__all__ = ["backlog", "enrich"]
