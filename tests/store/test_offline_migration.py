"""Revision 0011 on a database holding offline plays the old way (at the export's `ts`).

The old way is made by importing a real sample and migrating down below 0011 (which puts every
moved play back at its `ts`: checked against the sample); the way up must give exactly what an
import gives today, keep `ts` in `reported_at`, leave summaries and kept reports unusable, and a
re-import of the same file must add nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text, update

from brapped.clock import SystemClock
from brapped.insights.rollups import refresh_store
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from brapped.store.schema import alembic_config, current_revision, head_revision
from brapped.store.tables import plays, report_state, summary_state
from tests.conftest import SAMPLES
from tests.pipeline.import_contents import ALWAYS_BULK, FILE_BY_FILE

SAMPLE = next(SAMPLES.glob("*Streaming_History_Audio_2024.json"))
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _before_0011() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_revision("0011")
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


def _at(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _offline_records() -> list[dict[str, Any]]:
    records = json.loads(SAMPLE.read_bytes())
    return [r for r in records if r.get("spotify_track_uri") and r["offline"] is True]


def _stored(store: Store) -> dict[int, tuple[datetime, datetime | None]]:
    with store.connect() as conn:
        return {
            r.id: (r.played_at, r.reported_at)
            for r in conn.execute(select(plays.c.id, plays.c.played_at, plays.c.reported_at))
        }


def _migrate(store: Store, revision: str, down: bool = False) -> None:
    with store.engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


@pytest.mark.parametrize("policy", [FILE_BY_FILE, ALWAYS_BULK], ids=["file_by_file", "bulk"])
def test_0011_moves_offline_plays_stored_the_old_way(store: Store, policy: Any) -> None:
    offline = _offline_records()
    assert len(offline) >= 4
    result = import_paths(store, [SAMPLE], SystemClock(), user_id="u", policy=policy)
    assert result.ok, [f.message for f in result.failed]
    today = _stored(store)
    refresh_store(store, "UTC", 30_000, NOW)  # summaries and a generation to invalidate

    # Down: the plays as an import before 0011 stored them, offline ones at their ts.
    _migrate(store, _before_0011(), down=True)
    with store.connect() as conn:
        old = {(_as_utc(r[0]), r[1]) for r in conn.execute(text("SELECT played_at, track_id FROM plays"))}
        columns = list(conn.execute(text("SELECT * FROM plays")).keys())
        assert "reported_at" not in columns
    for record in offline:
        assert (_at(record["ts"]), record["spotify_track_uri"].split(":")[2]) in old
    with store.engine.begin() as conn:
        conn.execute(update(summary_state).values(stale=False))
        generation = conn.execute(select(report_state.c.generation)).scalar_one()

    # Up: moved again, exactly as an import puts them today.
    _migrate(store, "head")
    with store.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert _stored(store) == today
    moved = {at: reported for at, reported in today.values() if reported is not None}
    ends = {
        datetime.fromtimestamp(r["offline_timestamp"], UTC) + timedelta(milliseconds=r["ms_played"]): _at(
            r["ts"]
        )
        for r in offline
    }
    # One of them ends at its ts to the millisecond: it stays, and has no reported time of its own.
    assert moved == {end: ts for end, ts in ends.items() if end != ts} and len(moved) >= 3
    with store.connect() as conn:
        assert conn.execute(select(summary_state.c.stale)).scalar_one() is True
        assert conn.execute(select(report_state.c.generation)).scalar_one() > generation

    # The same file again: nothing new, nothing changed.
    again = import_paths(store, [SAMPLE], SystemClock(), user_id="u", policy=policy)
    assert again.ok and again.totals()["new"] == 0
    assert _stored(store) == today


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def test_0011_leaves_other_plays_and_derived_state_alone(store: Store) -> None:
    # Online plays, merged plays and implausible offline timestamps stay; nothing to invalidate.
    _migrate(store, _before_0011(), down=True)
    ts = datetime(2025, 5, 1, 18, 0, tzinfo=UTC)
    rows = [
        ("a", "export", False, ts - timedelta(hours=5)),  # online: keeps ts
        ("b", "both", True, ts - timedelta(hours=5)),  # merged: the API's time is the real one
        ("c", "export", True, ts - timedelta(days=31)),  # too far back
        ("d", "export", True, ts),  # would end after ts
        ("e", "export", True, None),  # unknown start
    ]
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO tracks (id, name, is_resolved) VALUES ('t', 't', :f)"), {"f": False})
        conn.execute(
            text(
                "INSERT INTO summary_state (id, cutoff, timezone, stream_threshold_ms, stale, built_at) "
                "VALUES (1, :cutoff, 'UTC', 30000, :f, :cutoff)"
            ),
            {"cutoff": ts + timedelta(days=365), "f": False},
        )
        for user, source, offline, start in rows:
            conn.execute(
                plays.insert().values(
                    user_id=user,
                    played_at=ts,
                    track_id="t",
                    ms_played=200_000,
                    source=source,
                    offline=offline,
                    offline_at=start,
                )
            )
        conn.execute(update(summary_state).values(stale=False))  # as if built on these plays
        generation = conn.execute(select(report_state.c.generation)).scalar_one()
    _migrate(store, "head")
    with store.connect() as conn:
        found = conn.execute(select(plays.c.user_id, plays.c.played_at, plays.c.reported_at)).all()
        assert sorted(found) == [(user, ts, None) for user, *_ in rows]
        assert conn.execute(select(summary_state.c.stale)).scalar_one() is False
        assert conn.execute(select(report_state.c.generation)).scalar_one() == generation
