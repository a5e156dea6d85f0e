"""The `runs` table's owners and heartbeats: a run whose process is gone, or (for another host)
whose heartbeat is older than its bound, becomes `interrupted` when someone reads runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from brapped.clock import human_duration
from brapped.store import Store
from brapped.store.runs import (
    DEFAULT_STALE_AFTER,
    STALE_AFTER,
    Owner,
    finish_run,
    heartbeat,
    interrupt_stale_runs,
    latest_runs,
    process_alive,
    start_run,
)
from brapped.store.tables import runs

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HERE = Owner.this_process()


def _row(store: Store, run_id: int) -> dict[str, object]:
    with store.connect() as conn:
        return dict(conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one())


def _dead_pid() -> int:
    """The id of a process that has ended and been reaped."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_a_run_records_its_owner_and_bound(store: Store) -> None:
    with store.begin() as conn:
        imported = start_run(conn, "import", NOW)
        scheduled = start_run(conn, "run", NOW, stale_after=timedelta(minutes=7))
        other = start_run(conn, "export", NOW)
    row = _row(store, imported)
    assert (row["host"], row["pid"], row["outcome"]) == (HERE.host, HERE.pid, "running")
    assert row["stale_after_s"] == STALE_AFTER["import"].total_seconds() == 1800
    assert _row(store, scheduled)["stale_after_s"] == 420
    assert _row(store, other)["stale_after_s"] == DEFAULT_STALE_AFTER.total_seconds()


def test_a_run_whose_process_is_gone_on_this_host_is_interrupted(store: Store) -> None:
    dead = _dead_pid()
    assert not process_alive(dead)
    with store.begin() as conn:
        ours = start_run(conn, "import", NOW)
        gone = start_run(conn, "import", NOW, owner=Owner(HERE.host, dead))
        heartbeat(conn, gone, NOW + timedelta(seconds=40))
    # A minute later: far inside the heartbeat bound, but the process is gone.
    with store.begin() as conn:
        assert interrupt_stale_runs(conn, NOW + timedelta(minutes=1)) == [gone]
    row = _row(store, gone)
    assert row["outcome"] == "interrupted"
    assert row["finished_at"] == NOW + timedelta(seconds=40)  # its last sign of life
    assert row["message"] == f"its process ({dead} on {HERE.host}) ended without finishing the run"
    assert _row(store, ours)["outcome"] == "running"  # this very process: alive


def test_a_live_process_on_this_host_keeps_its_run_however_silent(store: Store) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with store.begin() as conn:
            run_id = start_run(conn, "import", NOW, owner=Owner(HERE.host, sleeper.pid))
        with store.begin() as conn:
            assert interrupt_stale_runs(conn, NOW + timedelta(days=3)) == []
        assert _row(store, run_id)["outcome"] == "running"
        sleeper.kill()
        sleeper.wait()
        with store.begin() as conn:
            assert interrupt_stale_runs(conn, NOW + timedelta(days=3)) == [run_id]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_run_of_another_host_is_judged_by_its_heartbeat(store: Store) -> None:
    elsewhere = Owner("another-machine", HERE.pid)
    with store.begin() as conn:
        run_id = start_run(conn, "import", NOW, owner=elsewhere, stale_after=timedelta(minutes=10))
        heartbeat(conn, run_id, NOW + timedelta(minutes=5))
    with store.begin() as conn:
        # 10 minutes after its last beat: exactly its bound, still going.
        assert interrupt_stale_runs(conn, NOW + timedelta(minutes=15)) == []
    assert _row(store, run_id)["outcome"] == "running"
    with store.begin() as conn:
        assert interrupt_stale_runs(conn, NOW + timedelta(minutes=27, seconds=30)) == [run_id]
    row = _row(store, run_id)
    assert row["outcome"] == "interrupted"
    assert row["message"] == (
        f"no heartbeat of process {HERE.pid} on another-machine for 22 min 30 s (a run is given 10 min)"
    )


def test_rows_from_before_owners_get_the_default_bound(store: Store) -> None:
    with store.begin() as conn:
        old = conn.execute(
            runs.insert().values(kind="import", started_at=NOW, heartbeat_at=NOW, outcome="running")
        ).inserted_primary_key[0]  # type: ignore[index]
    with store.begin() as conn:
        assert interrupt_stale_runs(conn, NOW + DEFAULT_STALE_AFTER) == []
        assert interrupt_stale_runs(conn, NOW + DEFAULT_STALE_AFTER + timedelta(seconds=1)) == [old]
    assert _row(store, old)["message"] == "no heartbeat for 1 h (a run is given 1 h)"


def test_the_next_run_start_interrupts_stale_runs_and_finished_runs_stay(store: Store) -> None:
    with store.begin() as conn:
        finished = start_run(conn, "sync", NOW, owner=Owner(HERE.host, _dead_pid()))
        finish_run(conn, finished, NOW, "ok", {"new_plays": 3})
        stale = start_run(conn, "import", NOW, owner=Owner(HERE.host, _dead_pid()))
    with store.begin() as conn:
        start_run(conn, "import", NOW + timedelta(seconds=5))
    assert _row(store, stale)["outcome"] == "interrupted"
    assert _row(store, finished)["outcome"] == "ok"
    with store.connect() as conn:
        newest = latest_runs(conn)
    assert sorted(newest) == ["import", "sync"]
    assert newest["import"]["outcome"] == "running" and "counts" not in newest["import"]


def test_human_duration() -> None:
    cases = {0: "0 s", 59: "59 s", 60: "1 min", 200: "3 min 20 s", 3600: "1 h", 7500: "2 h 5 min"}
    cases |= {86400: "1 day", 3 * 86400 + 4 * 3600 + 59: "3 days 4 h", -90: "1 min 30 s"}
    for seconds, text in cases.items():
        assert human_duration(seconds) == text
