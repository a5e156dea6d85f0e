"""An export's offline plays and the same plays synced, in both orders, against the emulator's truth.

The emulator reports an offline session's plays in the export when the device is back online (the
same `ts` for all, hours later) and in recently-played at their real end (docs/merge.md, "Offline
plays"). Every play must be stored once, at its real end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from brapped.emulator import EmulatedClock, Emulator, TruePlay, write_export
from brapped.pipeline.importing import import_paths
from brapped.pipeline.sync import sync
from brapped.spotify import SpotifyClient, connect
from brapped.store import Store
from brapped.store.tables import plays
from tests.spotify.harness import api_visible, make_settings

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _last_offline_session(emu: Emulator) -> list[TruePlay]:
    """The plays of the last offline session of the month after START (independent of brapped)."""
    music = [p for p in emu.ground_truth(START, START + timedelta(days=30)) if p.kind == "track"]
    reported = max(p.reported_at for p in music if p.offline and p.reported_at is not None)
    return [p for p in music if p.reported_at == reported]


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=11, clock=EmulatedClock(START))


@pytest.fixture
def spotify(tmp_path: Path, emu: Emulator) -> Iterator[SpotifyClient]:
    settings = make_settings(tmp_path / "home", emu.issue_refresh_token())
    client = connect(settings, emu.clock, transport=emu.transport())
    yield client
    client.http.close()


def _stored(store: Store, since: datetime) -> list[tuple[datetime, str, str, datetime | None]]:
    with store.connect() as conn:
        return [
            (r.played_at, r.track_id, r.source, r.reported_at)
            for r in conn.execute(
                select(plays.c.played_at, plays.c.track_id, plays.c.source, plays.c.reported_at).where(
                    plays.c.played_at >= since
                )
            )
        ]


@pytest.mark.parametrize("sync_first", [True, False], ids=["sync_then_import", "import_then_sync"])
def test_synced_offline_plays_merge_with_the_export_s(
    store: Store, emu: Emulator, spotify: SpotifyClient, tmp_path: Path, sync_first: bool
) -> None:
    session = _last_offline_session(emu)
    visible = [p for p in session if api_visible(p)]
    assert len(visible) >= 3, "an offline session recently-played shows"
    assert all(
        p.reported_at is not None and p.reported_at - p.played_at >= timedelta(minutes=1) for p in session
    )
    # Everything of the day before the session to the moment it was reported: recently-played's
    # 50 plays then reach back before the session's first play.
    now = max(p.reported_at for p in session if p.reported_at is not None) + timedelta(seconds=1)
    since = session[0].started_at - timedelta(hours=1)
    recent = emu.listener.recent(now, 50)
    assert min(p.played_at for p in recent) < session[0].played_at, "the session is in recently-played"
    export = write_export(emu, tmp_path / "export", since, now, formats=("extended",), zip=False)

    def import_it() -> None:
        result = import_paths(store, [export], emu.clock, user_id=emu.listener.user_id)
        assert result.ok, [f.message for f in result.failed]

    if sync_first:
        emu.clock.set(now)
        sync(store, spotify)
        import_it()
    else:
        # Synced before the session; the export, then the sync that gets the session's plays.
        emu.clock.set(session[0].started_at)
        sync(store, spotify)
        emu.clock.set(now)
        import_it()
        assert sync(store, spotify).merged_plays >= 1

    rows = _stored(store, since)
    music = [p for p in emu.ground_truth(since, now) if p.kind == "track"]
    assert len(rows) == len(music)  # each play once
    by_key = {(at, track): (source, reported) for at, track, source, reported in rows}
    for play in session:
        assert play.reported_at is not None
        reported = play.reported_at.replace(microsecond=0)
        end = play.started_at.replace(microsecond=0) + timedelta(milliseconds=play.ms_played)
        merged = by_key.get((play.played_at, play.id)) == ("both", reported)
        if sync_first and api_visible(play):
            # Merged at the API's millisecond end, the export's reported time kept beside it.
            assert merged
        elif api_visible(play):
            # Sync after the import fetches only the plays after the newest stored one (here the
            # session's last, which it merges): the others stay the export's, at their real end.
            assert merged or by_key[(end, play.id)] == ("export", reported)
        else:
            assert by_key[(end, play.id)] == ("export", reported)

    again = import_paths(store, [export], emu.clock, user_id=emu.listener.user_id)
    assert again.ok and again.totals()["new"] == 0
    assert len(_stored(store, since)) == len(music)
