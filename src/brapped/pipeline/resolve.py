"""Resolving tracks an export named: real ids looked up through GET /tracks, name-only tracks found by
search, a confident match taking over the stand-in's plays."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from brapped import identity
from brapped.pipeline.catalogue import load_entities
from brapped.pipeline.lookups import CallBudget, EnrichProgress, EnrichResult, lookups
from brapped.spotify.client import SpotifyClient
from brapped.spotify.errors import RateLimited
from brapped.spotify.fetch import fetch_track_search
from brapped.spotify.transform import Entities
from brapped.store import Store
from brapped.store import load as store_load
from brapped.store.locking import lock
from brapped.store.tables import artists, plays, track_artists, tracks


def resolve_progress(conn: Connection) -> tuple[int, int]:
    """(tracks resolved, tracks in total)."""
    total = int(conn.execute(select(func.count()).select_from(tracks)).scalar_one())
    done = int(conn.execute(select(func.count()).where(tracks.c.is_resolved.is_(True))).scalar_one())
    return done, total


def tracks_to_resolve(conn: Connection) -> list[tuple[str, str, str | None]]:
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


def resolve_tracks(
    store: Store,
    client: SpotifyClient,
    to_resolve: list[tuple[str, str, str | None]],
    budget: CallBudget,
    result: EnrichResult,
    report: EnrichProgress,
) -> None:
    """Look up `to_resolve` (from `tracks_to_resolve`) within the budget, committing every chunk."""
    real = [tid for tid, _, _ in to_resolve if not identity.is_synthetic(tid)]
    done = 0
    named = [(tid, name, artist) for tid, name, artist in to_resolve if identity.is_synthetic(tid)]
    for got in lookups(store, client, "tracks", real, budget, result):
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
            load_entities(conn, entities)
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
    load_entities(conn, entities)
    moved, dropped = store_load.move_plays(conn, tid, str(match["id"]))
    old_album = conn.execute(select(tracks.c.album_id).where(tracks.c.id == tid)).scalar_one_or_none()
    old_artists = store_load.replace_positions(conn, track_artists, "track_id", {tid: []})
    conn.execute(tracks.delete().where(tracks.c.id == tid))
    store_load.delete_orphans(conn, [old_album] if old_album else [], old_artists)
    result.tracks_merged += 1
    result.plays_moved += moved
    result.plays_dropped += dropped


__all__ = ["resolve_progress", "resolve_tracks", "tracks_to_resolve"]
