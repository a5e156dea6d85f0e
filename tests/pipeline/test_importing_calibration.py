"""An import learns the listener's calibration again and re-estimates their API plays with it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from brapped.clock import SystemClock
from brapped.insights.rollups import mark_stale, try_refresh
from brapped.insights.rollups import state as summary_state_of
from brapped.pipeline import importing
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from brapped.store.calibration import DEFAULT, STATE_KEY, stored
from brapped.store.estimates import ensure_calibrated
from brapped.store.runs import last_run
from brapped.store.tables import gaps, hour_totals, plays, state, track_totals, tracks

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
API_START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DURATION = 200_000  # the exported track's: its plays that ended with trackdone
API_DURATION = 400_000
SESSIONS = 40


def _record(at: datetime, ms: int, done: bool) -> dict[str, Any]:
    return {
        "ts": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ms_played": ms,
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Band",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": "spotify:track:0000000000000000000001",
        "reason_start": "trackdone",
        "reason_end": "trackdone" if done else "endplay",
    }


def export_records() -> list[dict[str, Any]]:
    """Sessions three hours apart: 80 % of the track after a silence, 50 % after a 10-minute pause,
    then the whole track straight after."""
    records = []
    for i in range(SESSIONS):
        start = T0 + timedelta(hours=3 * i)
        paused = start + timedelta(milliseconds=DURATION, minutes=10)
        records.append(_record(start, 160_000, False))
        records.append(_record(paused, 100_000, False))
        records.append(_record(paused + timedelta(milliseconds=DURATION), DURATION, True))
    return records


def test_import_recalibrates_and_re_estimates_api_plays(store: Store, tmp_path: Path) -> None:
    clock = SystemClock()
    with store.begin() as conn:
        conn.execute(
            insert(tracks).values(id="api", name="Other", duration_ms=API_DURATION, is_resolved=True)
        )
        for day in range(3):  # a play a day: each after a long silence
            conn.execute(
                insert(plays).values(
                    user_id="u", played_at=API_START + timedelta(days=day), track_id="api", source="api"
                )
            )
        ensure_calibrated(conn, "u", clock.now())  # synced before any export: the default
        assert stored(conn, "u") == DEFAULT
    export = tmp_path / "Streaming_History_Audio_2025.json"
    export.write_text(json.dumps(export_records()), encoding="utf-8")

    result = import_paths(store, [export], clock, user_id="u")
    assert result.ok and result.totals()["new"] == 3 * SESSIONS

    # By hand: 0.8 of the track after a silence (the first play has nothing before it), 0.5 after
    # a pause, in every session: the shares do not vary, so the listener's own are certain
    # (credibility 1, calibration.credibility) and the default gets no weight.
    silence, pause = 0.8, 0.5
    with store.connect() as conn:
        learned = stored(conn, "u")
        estimates = conn.execute(
            select(plays.c.ms_played, plays.c.ms_played_source).where(plays.c.source == "api")
        ).all()
        kept_at = conn.execute(select(state.c.updated_at).where(state.c.key == STATE_KEY)).scalar_one()
    assert learned is not None
    assert (learned.source, learned.pause, learned.silence) == ("export", pause, silence)
    assert [tuple(r) for r in estimates] == [(round(API_DURATION * silence), "estimate")] * 3

    # The same file again: nothing new, the calibration is not rewritten.
    again = import_paths(store, [export], clock, user_id="u")
    assert again.totals()["new"] == 0
    with store.connect() as conn:
        assert stored(conn, "u") == learned
        assert (
            conn.execute(select(state.c.updated_at).where(state.c.key == STATE_KEY)).scalar_one() == kept_at
        )


def test_a_failed_recalibration_keeps_the_import(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*_: object) -> int:
        raise OperationalError("UPDATE plays", {}, Exception("database is locked"))

    monkeypatch.setattr(importing, "recalibrate_estimates", fail)
    export = tmp_path / "Streaming_History_Audio_2025.json"
    export.write_text(json.dumps(export_records()), encoding="utf-8")
    result = import_paths(store, [export], SystemClock(), user_id="u")
    assert result.ok and result.totals()["new"] == 3 * SESSIONS
    with store.connect() as conn:
        assert stored(conn, "u") is None
        assert (last_run(conn, "import") or {}).get("outcome") == "ok"
    assert "estimates not recalibrated" in caplog.text


def _summaries(store: Store) -> list[list[tuple[Any, ...]]]:
    with store.connect() as conn:
        return [
            [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in (track_totals, hour_totals)
        ]


@pytest.mark.parametrize("synced", [False, True])
def test_summaries_built_once_and_as_a_rebuild_from_scratch_would(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synced: bool
) -> None:
    """An account with only measured plays: the calibration is learnt in a thread while the CLI's
    summaries rebuild runs. An account that syncs (API plays before the summaries' cutoff, which
    the new calibration re-estimates): learnt first, so the summaries are built once, after. Either
    way they end as a rebuild from scratch of the final plays gives them."""
    clock = SystemClock()
    early = T0 - timedelta(days=20)  # summed: the cutoff is a week before the export's last play
    if synced:
        with store.begin() as conn:
            conn.execute(
                insert(tracks).values(id="api", name="Other", duration_ms=API_DURATION, is_resolved=True)
            )
            for day in range(3):
                conn.execute(
                    insert(plays).values(
                        user_id="u", played_at=early + timedelta(days=day), track_id="api", source="api"
                    )
                )
            ensure_calibrated(conn, "u", clock.now())
    export = tmp_path / "Streaming_History_Audio_2025.json"
    export.write_text(json.dumps(export_records()), encoding="utf-8")
    threads: list[str] = []
    learn = importing._learn

    def learning(store: Store, user: str) -> Any:
        threads.append(threading.current_thread().name)
        return learn(store, user)

    monkeypatch.setattr(importing, "_learn", learning)
    built: list[str] = []

    def summaries() -> None:
        done = try_refresh(store, "UTC", 30_000, clock.now())
        assert done is not None
        built.append(done.action)

    result = import_paths(store, [export], clock, user_id="u", summaries=summaries)
    assert result.ok and result.totals()["new"] == 3 * SESSIONS
    assert built == ["built"]
    if synced:
        assert threads == []  # learnt in the recalibration's own transaction
    else:
        assert threads and threads[0] != threading.current_thread().name
    with store.connect() as conn:
        api_ms = conn.execute(select(plays.c.ms_played).where(plays.c.source == "api")).scalars().all()
        found = summary_state_of(conn)
        assert found is not None and not found.stale
        assert stored(conn, "u") is not None
    kept = _summaries(store)
    if synced:
        assert api_ms == [round(API_DURATION * 0.8)] * 3
        api_total = [r for r in kept[0] if r[1] == "api"]
        assert [(r[2], r[4]) for r in api_total] == [(3, 3 * round(API_DURATION * 0.8))]  # re-estimated
    else:
        assert api_ms == []
    with store.begin() as conn:
        mark_stale(conn)
    assert try_refresh(store, "UTC", 30_000, clock.now()) is not None
    assert _summaries(store) == kept


def test_an_interrupted_summaries_rebuild_leaves_the_run_finished_and_the_gaps_filled(
    store: Store, tmp_path: Path
) -> None:
    """Ctrl-C while the summaries are rebuilt (the import's tail): the plays are in, so the run
    reads as finished and the gaps the export covers as filled, as when the CLI rebuilt after."""
    clock = SystemClock()
    with store.begin() as conn:
        conn.execute(
            insert(gaps).values(
                user_id="u", gap_from=T0 + timedelta(hours=1), gap_to=T0 + timedelta(hours=5), detected_at=T0
            )
        )
    export = tmp_path / "Streaming_History_Audio_2025.json"
    export.write_text(json.dumps(export_records()), encoding="utf-8")

    def summaries() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_paths(store, [export], clock, user_id="u", summaries=summaries)
    with store.connect() as conn:
        assert len(conn.execute(select(plays.c.id)).all()) == 3 * SESSIONS
        assert (last_run(conn, "import") or {}).get("outcome") == "ok"
        assert conn.execute(select(gaps.c.filled_at)).scalar() is not None


def test_an_import_of_known_plays_rebuilds_stale_summaries(store: Store, tmp_path: Path) -> None:
    """Summaries left stale (here marked so; a refreshed known play's fields do it on SQLite):
    the next import rebuilds them even when it adds nothing."""
    clock = SystemClock()

    def summaries() -> None:
        assert try_refresh(store, "UTC", 30_000, clock.now()) is not None

    export = tmp_path / "Streaming_History_Audio_2025.json"
    export.write_text(json.dumps(export_records()), encoding="utf-8")
    assert import_paths(store, [export], clock, user_id="u", summaries=summaries).ok
    kept = _summaries(store)
    with store.begin() as conn:
        mark_stale(conn)
    again = import_paths(store, [export], clock, user_id="u", keep_personal=True, summaries=summaries)
    assert again.ok and again.totals()["new"] == 0 and again.totals()["known"] == 3 * SESSIONS
    with store.connect() as conn:
        found = summary_state_of(conn)
        assert found is not None and not found.stale
    assert _summaries(store) == kept
