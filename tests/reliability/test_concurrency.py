"""Concurrency: two syncs and an import started at the same moment, in separate processes, on one
database. Whoever wins each lock, the result is the truth: every play once."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from brapped.emulator import EmulatedClock, Emulator, write_export
from brapped.pipeline.sync import sync
from brapped.spotify import connect
from brapped.store import Store, open_store
from brapped.store.state import set_state
from tests.reliability.conftest import (
    START,
    Probe,
    Served,
    api_truth,
    clean_env,
    export_truth,
    run,
    second,
    start,
    stored_plays,
)
from tests.spotify.harness import make_settings


def _extended_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("Streaming_History_*.json"))  # video files hold music plays too


def _together(commands: list[list[str]], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    procs = [start(args, env) for args in commands]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def test_two_syncs_and_an_import_at_once(db_url: str, tmp_path: Path, served: Served) -> None:
    """(Found: on PostgreSQL an import racing a sync failed on pk_tracks until imports took the
    writers' advisory lock.)"""
    emu = served.emu
    env = clean_env(tmp_path / "home", **served.env())
    sync_args = ["--db", db_url, "sync"]
    probe = Probe(db_url)
    try:
        run(sync_args, env)  # authorised and with a first window of plays
        synced_first = set(stored_plays(probe))
        first = min(at for at, _ in synced_first)
        # Two rounds: the second also meets an export overlapping what sync already stored.
        exports = []
        for round_, (since, until) in enumerate(
            [(START - timedelta(days=20), START), (START - timedelta(days=3), START + timedelta(hours=1))]
        ):
            emu.clock.advance(timedelta(minutes=50))
            folder = write_export(
                emu, tmp_path / f"export{round_}", since, until, formats=("extended",), zip=False
            )
            exports.append(folder)
            results = _together(
                [
                    sync_args,
                    sync_args,
                    ["--db", db_url, "import", str(folder), "--user", emu.listener.user_id],
                ],
                env,
            )
            for result in results:
                assert result.returncode == 0, f"{' '.join(result.args)}:\n{result.stderr}"

        music: set[tuple] = set()
        for folder in exports:
            music |= export_truth(_extended_files(folder))[0]
        expected = music | api_truth(emu, first, emu.clock.now())
        rows = stored_plays(probe)
        assert len(rows) == len(set(rows)), "a play was stored twice"
        assert set(rows) == expected
        # Plays both sources saw were merged into one row marked as such.
        with probe.engine.connect() as conn:
            both = {
                (
                    second(
                        at if isinstance(at, datetime) else datetime.fromisoformat(at).replace(tzinfo=UTC)
                    ),
                    t,
                )
                for at, t in conn.execute(text("SELECT played_at, track_id FROM plays WHERE source = 'both'"))
            }
        # Which later plays sync saw depends on who won (an import moves the cursor past plays it
        # brought); those of the first sync, made before any import, are surely in both.
        overlap = music & api_truth(emu, first, emu.clock.now())
        assert synced_first & music and synced_first & music <= both <= overlap
    finally:
        probe.close()


def test_enrichment_survives_a_writer_committing_meanwhile(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: another process's write commits between enrich's last read and its write
    (on SQLite a deferred transaction that read first then failed at once: 'database is locked')."""
    from brapped.pipeline import enrich as pipeline_enrich

    emu = Emulator(seed=3, clock=EmulatedClock(START))
    client = connect(
        make_settings(tmp_path / "home", emu.issue_refresh_token()), emu.clock, transport=emu.transport()
    )
    other = open_store(store.engine.url.render_as_string(hide_password=False), migrate=False)
    real = pipeline_enrich.resolve_progress

    def meanwhile(conn: Connection) -> tuple[int, int]:
        progress = real(conn)
        with other.begin(immediate=True) as write:  # e.g. an import's file transaction
            set_state(write, "elsewhere", "1", datetime.now(UTC))
        return progress

    try:
        sync(store, client, enrich_budget=0)
        monkeypatch.setattr(pipeline_enrich, "resolve_progress", meanwhile)
        result = pipeline_enrich.enrich(store, client, max_calls=3)
        assert result.api_calls == 3
    finally:
        client.http.close()
        other.close()
