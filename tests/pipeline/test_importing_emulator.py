"""Import against the emulator's ground truth: export + sync merge, account vs extended, re-imports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from brapped.emulator import EmulatedClock, Emulator, TruePlay, write_export
from brapped.pipeline.importing import import_paths
from brapped.pipeline.sync import sync
from brapped.spotify import SpotifyClient, connect
from brapped.store import Store
from brapped.store.tables import episode_plays, plays, tracks
from tests.spotify.harness import api_visible, make_settings

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=11, clock=EmulatedClock(START))


@pytest.fixture
def spotify(tmp_path: Path, emu: Emulator) -> Iterator[SpotifyClient]:
    settings = make_settings(tmp_path / "home", emu.issue_refresh_token())
    client = connect(settings, emu.clock, transport=emu.transport())
    yield client
    client.http.close()


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


def _export_second(play: TruePlay) -> datetime:
    """The second an export play ends at: its ts, but an offline play's start (to the second, as
    the file gives it) plus its ms_played (docs/merge.md, "Offline plays")."""
    if play.offline and play.reported_at is not None:
        return _second(play.started_at.replace(microsecond=0) + timedelta(milliseconds=play.ms_played))
    return _second(play.played_at)


def _rows(store: Store, since: datetime) -> list[tuple[datetime, str, int | None, str]]:
    with store.connect() as conn:
        return [
            (r.played_at, r.track_id, r.ms_played, r.source)
            for r in conn.execute(
                select(plays.c.played_at, plays.c.track_id, plays.c.ms_played, plays.c.source).where(
                    plays.c.played_at >= since
                )
            )
        ]


def _sync_every(store: Store, emu: Emulator, spotify: SpotifyClient, days: int, hours: int) -> None:
    for _ in range(days * 24 // hours):
        result = sync(store, spotify)
        assert result.gaps == []
        emu.clock.advance(hours * 3600)
    assert sync(store, spotify).gaps == []


def test_export_plus_sync_of_30_days_gives_exactly_the_true_plays(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path
) -> None:
    # Every 3 hours stays under recently-played's 50-play window for this listener (no gaps).
    _sync_every(store, emu, spotify, days=30, hours=3)
    end = emu.clock.now()
    export = write_export(emu, tmp_path / "export", START, end, formats=("extended",))
    result = import_paths(store, [export], emu.clock, user_id=None)
    assert result.ok, [f.message for f in result.failed]

    truth = emu.ground_truth(START, end)
    music = [p for p in truth if p.kind == "track"]
    seen = [p for p in music if api_visible(p)]
    unseen = [p for p in music if not api_visible(p)]
    # Offline sessions among them: their export ts is hours after the API's end (docs/merge.md).
    assert [p for p in seen if p.offline and p.reported_at is not None]
    rows = _rows(store, START)
    assert len(rows) == len(music)
    # Plays sync saw keep the API's millisecond end and get the export's true ms_played.
    assert {(at, tid, ms) for at, tid, ms, src in rows if src == "both"} == {
        (p.played_at, p.id, p.ms_played) for p in seen
    }
    # The rest (skips under 30 s, private sessions) exist only in the export: end to the second.
    assert Counter((_second(at), tid, ms) for at, tid, ms, src in rows if src == "export") == Counter(
        (_export_second(p), p.id, p.ms_played) for p in unseen
    )
    assert not [r for r in rows if r[3] == "api"]
    totals = result.totals()
    spoken_truth = [p for p in truth if p.kind != "track"]
    assert (totals["merged"], totals["new"]) == (len(seen), len(unseen) + len(spoken_truth))
    with store.connect() as conn:
        spoken = conn.execute(
            select(func.count(), func.sum(episode_plays.c.ms_played)).where(
                episode_plays.c.played_at >= START
            )
        ).one()
    assert tuple(spoken) == (len(spoken_truth), sum(p.ms_played for p in spoken_truth))

    again = import_paths(store, [export], emu.clock)
    assert (again.totals()["new"], again.totals()["merged"]) == (0, 0)
    assert again.totals()["known"] == len(truth)
    assert len(_rows(store, START)) == len(music)


def _music_truth(emu: Emulator, start: datetime, end: datetime) -> list[TruePlay]:
    return [p for p in emu.ground_truth(start, end) if p.kind == "track"]


def test_account_data_with_extended_counts_each_play_once(
    store: Store, emu: Emulator, tmp_path: Path
) -> None:
    end = START + timedelta(days=10)
    emu.clock.set(end)
    export = write_export(emu, tmp_path / "both", START, end, formats=("extended", "account"), zip=False)
    result = import_paths(store, [export], emu.clock, user_id="u")
    assert result.ok, [f.message for f in result.failed]
    truth = emu.ground_truth(START, end)
    music = [p for p in truth if p.kind == "track"]
    rows = _rows(store, START)
    assert len(rows) == len(music)
    with store.connect() as conn:
        synthetic = conn.execute(
            select(func.count()).select_from(tracks).where(tracks.c.id.like("name:%"))
        ).scalar()
        spoken = conn.execute(select(func.count()).select_from(episode_plays)).scalar()
    assert synthetic == 0  # every account-data play was covered by its extended twin
    assert spoken == len(truth) - len(music)
    # Account data leaves out private sessions; everything else it holds is covered.
    skipped = result.totals()["skipped"]
    assert skipped == {"covered by extended history": len([p for p in truth if not p.incognito])}


def test_account_data_first_then_extended_replaces_name_only_plays(
    store: Store, emu: Emulator, tmp_path: Path
) -> None:
    end = START + timedelta(days=10)
    emu.clock.set(end)
    account = write_export(emu, tmp_path / "acct", START, end, formats=("account",), zip=False)
    extended = write_export(emu, tmp_path / "ext", START, end, formats=("extended",), zip=False)
    first = import_paths(store, [account], emu.clock, user_id="u")
    truth = emu.ground_truth(START, end)
    music = [p for p in truth if p.kind == "track"]
    public = [p for p in truth if not p.incognito]  # account data has no private sessions
    assert first.ok and first.totals()["new"] == len(public)
    second = import_paths(store, [extended], emu.clock, user_id="u")
    assert second.ok
    assert second.totals()["replaced"] == len(public)
    assert second.totals()["new"] == len(truth) - len(public)
    with store.connect() as conn:
        spoken = conn.execute(select(func.count()).select_from(episode_plays)).scalar()
        names = conn.execute(
            select(func.count()).select_from(plays).where(plays.c.track_id.like("name:%"))
        ).scalar()
    assert (spoken, names) == (len(truth) - len(music), 0)
    rows = _rows(store, START)
    assert len(rows) == len(music)
    assert Counter((_second(at), tid, ms) for at, tid, ms, _src in rows) == Counter(
        (_export_second(p), p.id, p.ms_played) for p in music
    )


def test_account_data_merges_with_synced_plays(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path
) -> None:
    _sync_every(store, emu, spotify, days=5, hours=3)
    end = emu.clock.now()
    account = write_export(emu, tmp_path / "acct", START, end, formats=("account",), zip=False)
    result = import_paths(store, [account], emu.clock)
    assert result.ok
    music = [p for p in _music_truth(emu, START, end) if not p.incognito]
    seen = [p for p in music if api_visible(p)]
    rows = _rows(store, START)
    both = {(at, tid, ms) for at, tid, ms, src in rows if src == "both"}
    assert both == {(p.played_at, p.id, p.ms_played) for p in seen}
    assert len(rows) == len(music)
