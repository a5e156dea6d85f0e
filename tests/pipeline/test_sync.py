"""brapped.pipeline.sync.sync against the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from brapped.emulator import Emulator
from brapped.pipeline.sync import sync
from brapped.spotify import SpotifyClient
from brapped.store import Store, calibration
from brapped.store.runs import last_run
from brapped.store.tables import accounts, album_artists, artists, gaps, plays, runs, track_artists, tracks
from tests.spotify import harness
from tests.spotify.harness import advance_to_new_plays, stored, truth

# Fixtures shared by the Spotify tests.
emu = harness.emu
settings = harness.settings
spotify = harness.spotify

RP = "GET /v1/me/player/recently-played"


def test_fourteen_days_of_hourly_syncs_equal_ground_truth(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    for _ in range(14 * 24):
        result = sync(store, spotify)
        assert result.gaps == []
        emu.clock.advance(3600)
    result = sync(store, spotify)
    rows = stored(store)
    assert len(rows) == len(set(rows)), "a play was stored twice"
    # Everything visible from the first sync's window to the last sync.
    first = min(rows)[0]
    expected = truth(emu, first, emu.clock.now())
    assert set(rows) == expected
    assert len(expected) > 14 * 20  # the listener really listened
    with store.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(runs).where(runs.c.outcome == "ok")).scalar() == 337
        )
        assert conn.execute(select(func.count()).select_from(gaps)).scalar() == 0


def test_a_second_sync_adds_nothing_and_makes_one_call(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    first = sync(store, spotify)
    assert first.new_plays == 50  # a fresh database takes the whole window
    emu.counters.reset()
    again = sync(store, spotify)
    assert (again.new_plays, again.seen_plays, again.api_calls) == (0, 0, 1)
    assert dict(emu.counters) == {RP: 1}  # no /me, no token request: both remembered


def test_api_call_counts_with_new_plays(store: Store, emu: Emulator, spotify: SpotifyClient) -> None:
    first = sync(store, spotify, enrich_budget=1000)
    assert first.enrichment is not None and first.enrichment.batch_allowed is False
    expected_new = advance_to_new_plays(emu)
    emu.counters.reset()
    with store.connect() as conn:
        known_artists = set(conn.execute(select(artists.c.id)).scalars())
    result = sync(store, spotify, enrich_budget=1000)
    assert 0 < result.new_plays == expected_new < 50
    with store.connect() as conn:
        new_artists = set(conn.execute(select(artists.c.id)).scalars()) - known_artists
    # One recently-played page, one token refresh (the old access token expired), and one single
    # lookup per unknown artist: the batch endpoint's refusal was remembered from the first sync.
    assert dict(emu.counters) == {
        RP: 1,
        "POST /api/token": 1,
        "GET /v1/artists/{id}": len(new_artists),
    }
    assert result.api_calls == 1 + len(new_artists)


def test_rows_come_from_the_payload(store: Store, emu: Emulator, spotify: SpotifyClient) -> None:
    sync(store, spotify)
    window = emu.recently_played_window()
    newest = window[0]
    track = emu.catalogue.tracks[newest.id]
    with store.connect() as conn:
        row = conn.execute(select(tracks).where(tracks.c.id == newest.id)).mappings().one()
        credited = (
            conn.execute(
                select(track_artists.c.artist_id)
                .where(track_artists.c.track_id == newest.id)
                .order_by(track_artists.c.position)
            )
            .scalars()
            .all()
        )
        album_credit = (
            conn.execute(
                select(album_artists.c.artist_id)
                .where(album_artists.c.album_id == track.album_id)
                .order_by(album_artists.c.position)
            )
            .scalars()
            .all()
        )
        play = conn.execute(select(plays).where(plays.c.played_at == newest.played_at)).mappings().one()
        account = conn.execute(select(accounts.c.id, accounts.c.display_name)).all()
    assert row["duration_ms"] == track.duration_ms and row["album_id"] == track.album_id
    assert row["is_resolved"] is True
    assert list(credited) == list(track.artist_ids)  # every artist, Spotify's order
    assert list(album_credit) == list(emu.catalogue.albums[track.album_id].artist_ids)
    assert play["source"] == "api" and play["track_id"] == newest.id
    expected_context = (newest.context.type, newest.context.uri) if newest.context else (None, None)
    assert (play["context_type"], play["context_uri"]) == expected_context
    assert [tuple(a) for a in account] == [(emu.listener.user_id, emu.listener.display_name)]


def test_a_long_silence_records_the_exact_gap(store: Store, emu: Emulator, spotify: SpotifyClient) -> None:
    sync(store, spotify)
    before = emu.recently_played_window()[0].played_at  # newest play we had
    emu.clock.advance(timedelta(days=3))
    window = emu.recently_played_window()
    result = sync(store, spotify)
    assert result.gaps == [(before, window[-1].played_at)]
    with store.connect() as conn:
        row = conn.execute(select(gaps.c.gap_from, gaps.c.gap_to, gaps.c.run_id)).one()
    assert (row.gap_from, row.gap_to, row.run_id) == (before, window[-1].played_at, result.run_id)
    # Lost plays really are lost; the ones in the window are all there.
    assert set(stored(store)) >= {(p.played_at, p.id) for p in window}


def test_run_record_counts(store: Store, emu: Emulator, spotify: SpotifyClient) -> None:
    result = sync(store, spotify)
    with store.connect() as conn:
        run = last_run(conn, "sync")
    assert run is not None and run["outcome"] == "ok" and run["user_id"] == emu.listener.user_id
    counts = json.loads(run["counts"])
    assert counts["new_plays"] == 50 == result.new_plays
    assert counts["api_calls"] == result.api_calls == 3  # /me + a full page + the empty next page


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_estimates_filled_for_new_plays(store: Store, spotify: SpotifyClient) -> None:
    sync(store, spotify)
    with store.connect() as conn:
        sources = set(conn.execute(select(plays.c.ms_played_source)).scalars())
        missing = conn.execute(select(func.count()).where(plays.c.ms_played.is_(None))).scalar()
    assert sources == {"estimate"} and missing == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_first_sync_without_an_export_uses_the_default_calibration(
    store: Store, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    with store.connect() as conn:
        assert calibration.stored(conn, harness_user(conn)) == calibration.DEFAULT
        capped = conn.execute(
            select(plays.c.ms_played, tracks.c.duration_ms)
            .join(tracks, tracks.c.id == plays.c.track_id)
            .order_by(plays.c.played_at)
            .limit(1)
        ).one()
    # The first play has nothing before it: the default share of its track, at least 30 s.
    assert capped.ms_played == max(30_000, round(capped.duration_ms * calibration.DEFAULT.silence))


def harness_user(conn) -> str:  # type: ignore[no-untyped-def]
    return str(conn.execute(select(accounts.c.id)).scalar_one())


def test_syncing_tracks_played_before_leaves_the_report_summaries_fresh(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    """Sync writes the credits of every track it sees; unchanged ones must not look like a change
    to the summed tracks (the summaries would go stale and kept reports out of date each hour)."""
    from brapped.insights import report_cache
    from brapped.insights.rollups import refresh_store, state
    from brapped.store.tables import track_totals

    for _ in range(9 * 24):
        sync(store, spotify)
        emu.clock.advance(3600)
    built = refresh_store(store, "Europe/Berlin", 30_000, emu.clock.now())
    assert built.action == "built" and built.cutoff is not None
    with store.connect() as conn:
        generation = report_cache.generation(conn)
        summed = set(conn.execute(select(track_totals.c.track_id)).scalars())
    for _ in range(24):
        sync(store, spotify)
        emu.clock.advance(3600)
    with store.connect() as conn:
        found = state(conn)
        assert found is not None and not found.stale
        assert report_cache.generation(conn) == generation
        since = set(conn.execute(select(plays.c.track_id).where(plays.c.played_at >= built.cutoff)).scalars())
    assert since & summed, "the test needs syncs that bring back tracks already summed"
