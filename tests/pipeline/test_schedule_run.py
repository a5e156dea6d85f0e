"""`brapped run` against the emulator: a simulated day in-process, signals and the lock in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatedClock,
    Emulator,
    Fault,
    serve_in_thread,
)
from brapped.store import open_store, tables
from tests.pipeline.conftest import Webhook

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[tuple[Emulator, str]]:
    emu = Emulator(seed=11, clock=EmulatedClock(START))
    with serve_in_thread(emu) as url:
        yield emu, url


def spotify_env(emu: Emulator, url: str) -> dict[str, str]:
    return {
        "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "SPOTIFY_REFRESH_TOKEN": emu.issue_refresh_token(pkce=False),
        "BRAPPED_SPOTIFY_API_URL": f"{url}/v1",
        "BRAPPED_SPOTIFY_ACCOUNTS_URL": url,
    }


def test_a_simulated_day_of_brapped_run(
    emulator: tuple[Emulator, str],
    db_url: str,
    tmp_home: Path,
    runner: CliRunner,
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu, url = emulator
    for key, value in spotify_env(emu, url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BRAPPED_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("BRAPPED_TIMEZONE", "Europe/Berlin")
    result = runner.invoke(
        cli,
        ["--db", db_url, "run", "--for", "24h", "--log-format", "json", "--lock-ttl", "1h"],
        obj=AppContext(clock=emu.clock),
    )
    assert result.exit_code == 0, result.stderr
    assert emu.clock.now() == START + timedelta(days=1)
    events = [json.loads(line) for line in result.stderr.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "scheduler.started" and names[-1] == "scheduler.stopped"
    assert names.count("sync.done") == 48 and names.count("report.done") == 1
    assert "sync.failed" not in names and "report.delivery_failed" not in names

    store = open_store(db_url, migrate=False)
    with store.connect() as conn:
        syncs = conn.execute(
            select(tables.runs.c.started_at, tables.runs.c.outcome)
            .where(tables.runs.c.kind == "sync")
            .order_by(tables.runs.c.id)
        ).all()
        stored = set(conn.execute(select(tables.plays.c.played_at, tables.plays.c.track_id)).all())
        run = conn.execute(select(tables.runs).where(tables.runs.c.kind == "run")).mappings().one()
        locks = conn.execute(select(func.count()).select_from(tables.locks)).scalar_one()
    store.close()
    sync_times = [START + timedelta(minutes=30 * i) for i in range(48)]
    assert [s.started_at for s in syncs] == sync_times
    assert {s.outcome for s in syncs} == {"ok"}
    # Exactly the plays recently-played could show at the moments brapped asked: none lost, none extra.
    visible = {(p.played_at, p.id) for t in sync_times for p in emu.recently_played_window(t)}
    assert stored == visible and len(stored) > 60
    assert (run["outcome"], run["finished_at"]) == ("ok", START + timedelta(days=1))
    assert json.loads(run["counts"])["reports"] == ["2026-03-01"]
    assert locks == 0

    # One report, for 1 March, written at 08:00 Berlin time and delivered to the webhook.
    reports = tmp_home / "reports"
    assert sorted(p.name for p in reports.iterdir()) == ["2026-03-01.json", "2026-03-01.md"]
    report = json.loads((reports / "2026-03-01.json").read_text())
    assert report["date"] == "2026-03-01" and report["timezone"] == "Europe/Berlin"
    berlin_day = {
        (at, t)
        for at, t in visible
        if datetime(2026, 2, 28, 23, tzinfo=UTC) <= at < START - timedelta(hours=1)
    }
    assert report["plays"] == len(berlin_day)
    assert [m["content"] for m in webhook.received] == [(reports / "2026-03-01.md").read_text()]
    [done] = [e for e in events if e["event"] == "report.done"]
    assert done["day"] == "2026-03-01" and done["webhook_status"] == 204


def _env(tmp_path: Path, db_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAPPED_", "SPOTIFY_"))}
    env.update(
        {
            "BRAPPED_HOME": str(tmp_path / "home"),
            "BRAPPED_TIMEZONE": "UTC",
            "BRAPPED_DATABASE_URL": db_url,
            "BRAPPED_MUSICBRAINZ": "false",  # the real one is never asked from a test
        }
    )
    env.update(extra)
    return env


def _wait_for(stream: IO[str], event: str, seen: list[dict[str, Any]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if seen[-1]["event"] == event:
            return
    raise AssertionError(f"no {event} event; saw {[e['event'] for e in seen]}")


def test_sigterm_mid_sync_leaves_a_consistent_database_and_one_scheduler_per_db(
    emulator: tuple[Emulator, str], db_url: str, tmp_path: Path
) -> None:
    emu, url = emulator
    open_store(db_url).close()
    env = _env(tmp_path, db_url, spotify_env(emu, url))
    command = [sys.executable, "-m", "brapped", "run", "--interval", "1s", "--log-format", "json"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        seen: list[dict[str, Any]] = []
        assert first.stderr is not None
        _wait_for(first.stderr, "sync.done", seen)
        # A second scheduler on the same database refuses to start, naming the holder.
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 3
        assert "another `brapped run`" in second.stderr and str(first.pid) in second.stderr
        # Every recently-played request now takes 1.5 s: the signal lands while a sync is in flight.
        emu.clock.advance(timedelta(minutes=20))
        emu.faults.add(Fault("slow", path="/v1/me/player/recently-played", count=None, delay=1.5))
        time.sleep(1.0)
        first.send_signal(signal.SIGTERM)
        _, rest = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, rest
    events = seen + [json.loads(line) for line in rest.splitlines()]
    names = [e["event"] for e in events]
    assert "scheduler.stopping" in names and names[-1] == "scheduler.stopped"
    # The sync in flight finished and committed after the signal; nothing started afterwards.
    after = names[names.index("scheduler.stopping") :]
    assert after.count("sync.done") <= 1 and "enrich.done" not in after
    store = open_store(db_url, migrate=False)
    with store.connect() as conn:
        runs = conn.execute(select(tables.runs.c.kind, tables.runs.c.outcome)).all()
        locks = conn.execute(select(func.count()).select_from(tables.locks)).scalar_one()
        plays = conn.execute(select(func.count()).select_from(tables.plays)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(tables.plays.c.played_at, tables.plays.c.track_id).distinct().subquery()
            )
        ).scalar_one()
    store.close()
    assert ("run", "ok") in runs and all(outcome != "running" for _, outcome in runs)
    assert sum(1 for kind, outcome in runs if kind == "sync" and outcome == "ok") == names.count("sync.done")
    assert locks == 0 and plays == distinct > 0
    # With the lock released, the next scheduler starts at once.
    emu.faults.clear()
    again = subprocess.run([*command, "--once"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
