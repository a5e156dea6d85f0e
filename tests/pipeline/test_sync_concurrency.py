"""Two syncs at once (two processes' worth of clients on one token file) never duplicate a play."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from brapped.config import Settings
from brapped.emulator import Emulator
from brapped.pipeline.sync import SyncResult, sync
from brapped.spotify import connect
from brapped.store import Store, open_store
from brapped.store.tables import gaps, runs
from tests.spotify import harness
from tests.spotify.harness import stored

emu = harness.emu
settings = harness.settings


def test_concurrent_syncs_store_each_play_once(db_url: str, emu: Emulator, settings: Settings) -> None:
    setup = open_store(db_url)
    first = connect(settings, emu.clock, transport=emu.transport())
    sync(setup, first)  # seeds the token file and the cursor
    emu.clock.advance(timedelta(hours=6))  # new plays, and every access token expired
    results: list[SyncResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        store: Store = open_store(db_url, migrate=False)
        client = connect(settings, emu.clock, transport=emu.transport())  # its own token manager
        try:
            barrier.wait()
            results.append(sync(store, client))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            client.http.close()
            store.close()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    rows = stored(setup)
    assert len(rows) == len(set(rows))
    window = {(p.played_at, p.id) for p in emu.recently_played_window()}
    assert window <= set(rows)
    # Between them the four syncs added every new play exactly once (the first sync stored 50).
    assert sum(r.new_plays for r in results) == len(rows) - 50
    with setup.connect() as conn:
        assert conn.execute(select(func.count()).where(runs.c.outcome == "ok")).scalar() == 5
        recorded = conn.execute(select(func.count()).select_from(gaps)).scalar()
    assert recorded == len({gap for r in results for gap in r.gaps})
    setup.close()
