"""brapped.pipeline.enrich.enrich: artist/album details and `--resolve` against the emulator."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from brapped import identity
from brapped.emulator import EmulatedClock, Emulator, Fault, write_export
from brapped.pipeline.enrich import enrich
from brapped.pipeline.importing import import_paths
from brapped.pipeline.rate_limits import NotYet
from brapped.pipeline.sync import sync
from brapped.spotify import SpotifyClient, connect
from brapped.store import Store
from brapped.store.state import get_state
from brapped.store.tables import album_artists, albums, artist_genres, artists, plays, track_artists, tracks
from tests.spotify import harness
from tests.spotify.harness import START, make_settings

emu = harness.emu
settings = harness.settings
spotify = harness.spotify


def _ids(store: Store, column: object, *where: object) -> set[str]:
    with store.connect() as conn:
        return set(conn.execute(select(column).where(*where)).scalars())  # type: ignore[call-overload]


def test_development_mode_uses_single_lookups_after_one_refused_batch(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    artist_ids = _ids(store, artists.c.id)
    album_ids = _ids(store, albums.c.id)
    emu.counters.reset()
    result = enrich(store, spotify)
    assert (result.artists_enriched, result.albums_enriched) == (len(artist_ids), len(album_ids))
    assert result.batch_allowed is False and result.stopped is None
    assert dict(emu.counters) == {
        "GET /v1/artists": 1,  # the probe, refused (403) and remembered
        "GET /v1/artists/{id}": len(artist_ids),
        "GET /v1/albums/{id}": len(album_ids),
    }
    with store.connect() as conn:
        assert get_state(conn, "batch_allowed") == "false"
        rows = conn.execute(select(artists)).mappings().all()
    for row in rows:
        truth = emu.catalogue.artists[row["id"]]
        assert row["enriched_at"] == emu.clock.now() and row["name"] == truth.name
        assert row["genres"] is None  # development mode: Spotify withholds genres
        expected_image = (
            f"https://i.scdn.co/image/ab6761610000e5eb{truth.image_key}" if truth.image_key else None
        )
        assert row["image_url"] == expected_image  # the largest of the images
    # Nothing left: a second pass asks nothing.
    emu.counters.reset()
    again = enrich(store, spotify)
    assert again.api_calls == 0 and dict(emu.counters) == {}
    assert again.backlog == {"artists": 0, "albums": 0, "tracks_unresolved": 0, "tracks_unresolvable": 0}


def test_extended_mode_batches_and_keeps_genres(store: Store, tmp_path: Path) -> None:
    emu = Emulator(seed=11, mode="extended", clock=EmulatedClock(START))
    client = connect(make_settings(tmp_path, emu.issue_refresh_token()), emu.clock, transport=emu.transport())
    sync(store, client)
    artist_ids = sorted(_ids(store, artists.c.id))
    album_ids = _ids(store, albums.c.id)
    emu.counters.reset()
    result = enrich(store, client)
    assert result.batch_allowed is True
    assert emu.counters["GET /v1/artists"] == math.ceil(len(artist_ids) / 50)
    assert emu.counters["GET /v1/albums"] == math.ceil(len(album_ids) / 20)
    assert emu.counters["GET /v1/artists/{id}"] == 0
    with store.connect() as conn:
        genres = dict(conn.execute(select(artists.c.id, artists.c.genres)).all())
        bridge = Counter(conn.execute(select(artist_genres.c.artist_id)).scalars())
        labels = dict(conn.execute(select(albums.c.id, albums.c.label)).all())
    for artist_id in artist_ids:
        expected = sorted(set(emu.catalogue.artists[artist_id].genres))
        assert json.loads(genres[artist_id]) == expected
        assert bridge[artist_id] == len(expected)
    assert all(labels[a] == emu.catalogue.albums[a].label for a in album_ids)


def _plays_per_artist(store: Store) -> Counter[str]:
    with store.connect() as conn:
        credits = conn.execute(select(track_artists.c.track_id, track_artists.c.artist_id)).all()
        played = Counter(conn.execute(select(plays.c.track_id)).scalars())
    counts: Counter[str] = Counter()
    for track_id, artist_id in credits:
        counts[artist_id] += played[track_id]
    return counts


def test_max_calls_most_played_first_and_resumable(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    counts = _plays_per_artist(store)
    order = sorted(_ids(store, artists.c.id), key=lambda a: (-counts[a], a))
    emu.counters.reset()
    first = enrich(store, spotify, max_calls=5, albums=False)
    assert first.api_calls == 5 and first.stopped == "budget"
    # One call went to the refused batch probe; four single lookups, the four most played.
    assert _ids(store, artists.c.id, artists.c.enriched_at.is_not(None)) == set(order[:4])
    assert first.backlog["artists"] == len(order) - 4
    second = enrich(store, spotify, albums=False)
    assert second.artists_enriched == len(order) - 4 and second.stopped is None
    assert emu.counters["GET /v1/artists/{id}"] == len(order)  # nobody asked for twice
    assert emu.counters["GET /v1/artists"] == 1  # the refusal was remembered across runs


def test_rate_limit_mid_enrich_keeps_what_was_done(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    counts = _plays_per_artist(store)
    order = sorted(_ids(store, artists.c.id), key=lambda a: (-counts[a], a))
    emu.faults.add(Fault(kind="429", path=f"/v1/artists/{order[3]}", retry_after=74214))
    result = enrich(store, spotify, albums=False)
    assert result.stopped == "rate_limited" and result.rate_limited is not None
    assert result.rate_limited.retry_after == 74214
    assert _ids(store, artists.c.id, artists.c.enriched_at.is_not(None)) == set(order[:3])
    # Until the resume time nothing asks Spotify again, neither enrich nor sync.
    emu.counters.reset()
    with pytest.raises(NotYet):
        enrich(store, spotify)
    with pytest.raises(NotYet):
        sync(store, spotify)
    assert dict(emu.counters) == {}
    emu.clock.advance(74215)
    again = enrich(store, spotify, albums=False)
    assert again.stopped is None and again.artists_enriched == len(order) - 3


# -- resolve -------------------------------------------------------------------------------------


def _import(store: Store, emu: Emulator, tmp_path: Path, formats: tuple[str, ...], days: int = 4) -> None:
    start = emu.clock.now() - timedelta(days=days)
    folder = write_export(emu, tmp_path / "export", start, emu.clock.now(), formats=formats, zip=False)
    result = import_paths(store, [folder], emu.clock, user_id=emu.listener.user_id)
    assert result.ok


def test_resolve_by_id_replaces_name_based_albums_and_artists(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path
) -> None:
    emu.clock.advance(timedelta(days=5))
    _import(store, emu, tmp_path, ("extended",))
    unresolved = _ids(store, tracks.c.id, tracks.c.is_resolved.is_(False))
    assert unresolved and not any(identity.is_synthetic(t) for t in unresolved)
    with store.connect() as conn:
        plays_before = Counter(conn.execute(select(plays.c.track_id)).scalars())
    emu.counters.reset()
    result = enrich(store, spotify, resolve=True, artists_=False, albums=False)
    assert result.tracks_resolved == len(unresolved) and result.stopped is None
    assert emu.counters["GET /v1/tracks/{id}"] == len(unresolved)
    assert (result.resolved_total, result.tracks_total) == (len(unresolved), len(unresolved))
    with store.connect() as conn:
        for track_id in unresolved:
            truth = emu.catalogue.tracks[track_id]
            row = conn.execute(select(tracks).where(tracks.c.id == track_id)).mappings().one()
            assert (row["duration_ms"], row["album_id"], row["is_resolved"]) == (
                truth.duration_ms,
                truth.album_id,
                True,
            )
            credited = conn.execute(
                select(track_artists.c.artist_id)
                .where(track_artists.c.track_id == track_id)
                .order_by(track_artists.c.position)
            ).scalars()
            assert list(credited) == list(truth.artist_ids)
        # No name-based stand-in is left behind, and no play moved or vanished.
        assert not conn.execute(select(func.count()).where(albums.c.id.startswith("name:"))).scalar()
        assert not conn.execute(select(func.count()).where(artists.c.id.startswith("name:"))).scalar()
        assert not conn.execute(
            select(func.count()).where(album_artists.c.artist_id.startswith("name:"))
        ).scalar()
        assert Counter(conn.execute(select(plays.c.track_id)).scalars()) == plays_before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # search is the emulator's slow part
def test_resolve_name_only_tracks_by_search(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path
) -> None:
    emu.clock.advance(timedelta(days=5))
    _import(store, emu, tmp_path, ("account",), days=1)
    with store.connect() as conn:
        before = conn.execute(
            select(plays.c.played_at, tracks.c.name).join(tracks, tracks.c.id == plays.c.track_id)
        ).all()
    synthetic = _ids(store, tracks.c.id, tracks.c.id.startswith("name:"))
    assert synthetic
    result = enrich(store, spotify, resolve=True, artists_=False, albums=False)
    assert result.tracks_merged + result.tracks_unmatched == len(synthetic)
    assert result.tracks_merged > 0.9 * len(synthetic)
    still_synthetic = _ids(store, tracks.c.id, tracks.c.id.startswith("name:"))
    assert len(still_synthetic) == result.tracks_unmatched
    assert result.plays_moved + result.plays_dropped == len(before) - _count_plays_on(store, still_synthetic)
    with store.connect() as conn:
        after = conn.execute(
            select(plays.c.played_at, tracks.c.name, tracks.c.id).join(
                tracks, tracks.c.id == plays.c.track_id
            )
        ).all()
    assert len(after) == len(before) - result.plays_dropped
    # Every play kept its time and its title; moved ones now point at the real catalogue track.
    assert Counter((p, identity.normalise(n)) for p, n, _ in after) == Counter(
        (p, identity.normalise(n)) for p, n in before
    )
    for _, name, track_id in after:
        if not identity.is_synthetic(track_id):
            assert identity.normalise(emu.catalogue.tracks[track_id].name) == identity.normalise(name)
    # Unmatched ones are not asked for again.
    emu.counters.reset()
    again = enrich(store, spotify, resolve=True, artists_=False, albums=False)
    assert emu.counters["GET /v1/search"] == 0 and again.tracks_merged == 0


def _count_plays_on(store: Store, track_ids: set[str]) -> int:
    if not track_ids:
        return 0
    with store.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(plays.c.track_id.in_(sorted(track_ids)))).scalar_one()
        )


def test_a_name_only_duplicate_of_a_synced_play_is_dropped(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    newest = emu.recently_played_window()[0]
    track = emu.catalogue.tracks[newest.id]
    main = emu.catalogue.artists[track.artist_ids[0]]
    fake_track, fake_artist = identity.track_id(main.name, track.name), identity.artist_id(main.name)
    user = emu.listener.user_id
    with store.begin() as conn:
        conn.execute(insert(artists).values(id=fake_artist, name=main.name))
        conn.execute(insert(tracks).values(id=fake_track, name=track.name, is_resolved=False))
        conn.execute(insert(track_artists).values(track_id=fake_track, position=0, artist_id=fake_artist))
        for at in (newest.played_at, newest.played_at - timedelta(days=30)):
            conn.execute(
                insert(plays).values(
                    user_id=user, played_at=at, track_id=fake_track, source="export", ms_played=1000
                )
            )
    result = enrich(store, spotify, resolve=True, artists_=False, albums=False)
    assert (result.tracks_merged, result.plays_moved, result.plays_dropped) == (1, 1, 1)
    with store.connect() as conn:
        on_real = conn.execute(select(plays.c.played_at).where(plays.c.track_id == newest.id)).scalars().all()
    assert on_real.count(newest.played_at) == 1  # the duplicate is gone
    assert newest.played_at - timedelta(days=30) in on_real  # the other play moved
    assert not _ids(store, tracks.c.id, tracks.c.id == fake_track)
    assert not _ids(store, artists.c.id, artists.c.id == fake_artist)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sync_after_import_merges_instead_of_duplicating(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path
) -> None:
    _import(store, emu, tmp_path, ("extended",), days=1)
    with store.connect() as conn:
        exported = int(conn.execute(select(func.count()).select_from(plays)).scalar_one())
    result = sync(store, spotify)
    exported_from = emu.clock.now() - timedelta(days=1)
    window = {(p.played_at, p.id) for p in emu.recently_played_window() if p.played_at >= exported_from}
    with store.connect() as conn:
        rows = conn.execute(select(plays.c.played_at, plays.c.track_id, plays.c.source)).all()
    both = {(r[0], r[1]) for r in rows if r[2] == "both"}
    assert result.merged_plays == len(both) > 0
    assert len(rows) == exported + result.new_plays
    # Each play Spotify shows is stored once: to the millisecond when sync fetched it, else as the
    # export's second (the cursor starts after the newest exported play).
    stored_keys = {(r[0], r[1]) for r in rows} | {(r[0].replace(microsecond=0), r[1]) for r in rows}
    assert {(at.replace(microsecond=0), tid) for at, tid in window} <= stored_keys
    assert len({(r[0].replace(microsecond=0), r[1]) for r in rows}) == len(rows)


def test_sync_after_account_data_import_merges_by_name(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path
) -> None:
    _import(store, emu, tmp_path, ("account",), days=1)
    with store.connect() as conn:
        before = int(conn.execute(select(func.count()).select_from(plays)).scalar_one())
        synthetic_before = conn.execute(select(func.count()).where(tracks.c.id.startswith("name:"))).scalar()
    result = sync(store, spotify)
    with store.connect() as conn:
        after = int(conn.execute(select(func.count()).select_from(plays)).scalar_one())
        both = conn.execute(select(plays.c.played_at, plays.c.track_id).where(plays.c.source == "both")).all()
        synthetic_after = conn.execute(select(func.count()).where(tracks.c.id.startswith("name:"))).scalar()
    # The export covers everything up to now: every play the API shows past the cursor is one the
    # account data already had (minute precision), so nothing is added, some are merged.
    window = {(p.played_at, p.id) for p in emu.recently_played_window()}
    assert result.merged_plays == len(both) > 0 and result.new_plays == 0
    assert after == before
    assert {(at, tid) for at, tid in both} <= window  # merged plays now carry the API's instant and id
    assert synthetic_after <= synthetic_before


def test_progress_is_reported_per_committed_chunk(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    artist_count = len(_ids(store, artists.c.id))
    seen: list[tuple[str, int, int]] = []
    enrich(store, spotify, max_calls=6, albums=False, progress=lambda *step: seen.append(step))
    # One refused batch probe, then chunks of single lookups as far as the budget goes.
    assert seen == [("artists", 5, artist_count)]


class _OddAlbumArtist(httpx.BaseTransport):
    """The emulator, with an artist of a 300-character id added to every album it answers."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.startswith("/v1/albums/") or response.status_code != 200:
            return response
        body = json.loads(response.read())
        body["artists"].append({"id": "z" * 300, "name": "Z", "type": "artist"})
        return httpx.Response(200, json=body)


def test_an_album_credit_with_an_unusable_artist_id_is_left_out(
    store: Store, emu: Emulator, settings: Any, spotify: SpotifyClient
) -> None:
    # PostgreSQL refuses an id past its column: the whole enrich failed, and again at every run.
    sync(store, spotify)
    album_ids = _ids(store, albums.c.id)
    client = connect(settings, emu.clock, transport=_OddAlbumArtist(emu.transport()))
    try:
        result = enrich(store, client)
    finally:
        client.http.close()
    assert result.albums_enriched == len(album_ids) and result.stopped is None
    with store.connect() as conn:
        assert conn.execute(select(func.max(func.length(artists.c.id)))).scalar_one() <= 64
