"""Sync after import (`merge_into_exported`) finds an offline play's twin up to a pause later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from brapped.store import Store
from brapped.store.load import merge_into_exported
from brapped.store.tables import plays, tracks

END = datetime(2025, 5, 1, 13, 0, tzinfo=UTC)  # the offline play's real end (start + ms_played)
REPORTED = END + timedelta(hours=5)
PAUSE_MS = 180_000


def _stored(store: Store, reported: datetime | None) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(tracks).values(id="t", name="Song", is_resolved=False))
        conn.execute(
            insert(plays).values(
                user_id="u",
                played_at=END,
                track_id="t",
                ms_played=200_000,
                ms_played_source="export",
                source="export",
                offline=reported is not None,
                reported_at=reported,
            )
        )


@pytest.mark.parametrize(
    ("reported", "later", "merges"),
    [
        (REPORTED, timedelta(seconds=90), True),  # paused for 90 s
        (REPORTED, timedelta(seconds=179), True),
        (REPORTED, timedelta(seconds=186), False),  # past the pause allowed
        (END + timedelta(seconds=30), timedelta(seconds=60), False),  # after it was reported
        (None, timedelta(seconds=90), False),  # an online play: 5 s either side only
        (None, timedelta(seconds=3), True),
    ],
)
def test_an_offline_play_takes_its_synced_twin(
    store: Store, reported: datetime | None, later: timedelta, merges: bool
) -> None:
    _stored(store, reported)
    api = {"played_at": END + later, "track_id": "t", "context_type": None, "context_uri": None}
    with store.engine.begin() as conn:
        merged = merge_into_exported(conn, "u", [api], 5_000, pause_ms=PAUSE_MS)
        found = conn.execute(select(plays.c.played_at, plays.c.source, plays.c.reported_at)).one()
    assert merged == int(merges)
    if merges:
        assert tuple(found) == (END + later, "both", reported)
    else:
        assert tuple(found) == (END, "export", reported)
