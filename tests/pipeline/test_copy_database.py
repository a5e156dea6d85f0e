"""`brapped migrate`: SQLite -> PostgreSQL -> SQLite, re-runs, interruption, verification failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from brapped.cli import cli
from brapped.clock import SystemClock
from brapped.pipeline.copy_database import TransferError, copy_database
from brapped.store import Store, open_store, tables
from brapped.store.schema import head_revision
from tests.pipeline.conftest import fill


def snapshot(url: str) -> dict[str, set[tuple[object, ...]]]:
    """Every row of every table (migrate records aside), read independently of the copy code."""
    store = open_store(url, migrate=False)
    out: dict[str, set[tuple[object, ...]]] = {}
    with store.connect() as conn:
        for table in tables.TABLES_IN_ORDER:
            rows = conn.execute(select(table)).all()
            if table.name == "runs":
                rows = [r for r in rows if r.kind != "migrate"]
            out[table.name] = {tuple(r) for r in rows}
    store.close()
    return out


def migrate_runs(url: str) -> list[dict[str, object]]:
    store = open_store(url, migrate=False)
    with store.connect() as conn:
        rows = conn.execute(select(tables.runs).where(tables.runs.c.kind == "migrate")).mappings().all()
    store.close()
    return [dict(r) for r in rows]


@pytest.fixture
def source(sqlite_url: str) -> str:
    store = open_store(sqlite_url)
    fill(store, plays=400)
    store.close()
    return sqlite_url


def test_round_trip_sqlite_postgresql_sqlite_keeps_every_row(
    source: str, empty_pg_url: str, tmp_path: Path, runner: CliRunner
) -> None:
    back = f"sqlite:///{tmp_path / 'back.db'}"
    first = runner.invoke(cli, ["--db", source, "migrate", "--to", empty_pg_url, "--format", "json"])
    assert first.exit_code == 0, first.output + first.stderr
    report = json.loads(first.stdout)
    assert report["ok"] is True
    assert report["tables"]["plays"] == {**report["tables"]["plays"], "source_rows": 400, "target_rows": 400}
    second = runner.invoke(cli, ["migrate", "--from", empty_pg_url, "--to", back, "--no-progress"])
    assert second.exit_code == 0, second.output + second.stderr
    assert "verified" in second.stdout
    original = snapshot(source)
    assert snapshot(empty_pg_url) == original
    assert snapshot(back) == original
    assert sum(len(rows) for rows in original.values()) > 500
    # Each target stores its own verification; the run counts say what was compared.
    [run] = migrate_runs(empty_pg_url)
    assert run["outcome"] == "ok" and json.loads(str(run["counts"]))["tables"]["plays"]["copied"] == 400


def test_rerun_copies_nothing_and_postgresql_ids_continue(source: str, pg_url: str) -> None:
    src, tgt = open_store(source), open_store(pg_url)
    first = copy_database(src, tgt, SystemClock())
    again = copy_database(src, tgt, SystemClock())
    assert first.ok and again.ok
    assert first.copied == sum(len(rows) for rows in snapshot(source).values())
    assert again.copied == 0
    # Ids were copied verbatim: the PostgreSQL sequence must have moved past them.
    with tgt.begin() as conn:
        new_id = conn.execute(
            insert(tables.plays).values(
                user_id="listener",
                played_at=datetime(2030, 1, 1, tzinfo=UTC),
                track_id=f"tr{0:020d}",
                source="api",
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        assert new_id == conn.execute(select(func.max(tables.plays.c.id))).scalar_one()
        assert new_id > 400
    assert [r["outcome"] for r in migrate_runs(pg_url)] == ["ok", "ok"]
    src.close()
    tgt.close()


def test_killed_midway_then_rerun_gives_identical_rows(
    sqlite_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    store = open_store(sqlite_url)
    fill(store, plays=1500)
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAPPED_")}
    env["BRAPPED_HOME"] = str(tmp_path / "home")
    command = [sys.executable, "-m", "brapped", "--db", sqlite_url, "migrate", "--to", empty_db_url]
    proc = subprocess.Popen([*command, "--batch-size", "5", "--no-progress"], env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    partial = 0
    while time.monotonic() < deadline and partial < 100:
        time.sleep(0.05)
        try:
            target = open_store(empty_db_url, migrate=False)
            with target.connect() as conn:
                partial = conn.execute(select(func.count()).select_from(tables.plays)).scalar_one()
            target.close()
        except Exception:  # the schema may not exist yet
            partial = 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 100 <= partial < 1500, "the copy was not caught midway"
    assert migrate_runs(empty_db_url) == []  # it never got to record a run
    done = subprocess.run(
        [*command, "--no-progress", "--format", "json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert 0 < result["tables"]["plays"]["copied"] < 1500  # the rows copied before the kill were kept
    assert snapshot(empty_db_url) == snapshot(sqlite_url)


def test_verification_failure_is_reported_stored_and_exits_2(
    source: str, sqlite_url: str, tmp_path: Path, runner: CliRunner
) -> None:
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    target = open_store(target_url)
    with target.begin() as conn:
        conn.execute(insert(tables.artists).values(id="intruder", name="Not in the source"))
    target.close()
    result = runner.invoke(cli, ["--db", source, "migrate", "--to", target_url, "--no-progress"])
    assert result.exit_code == 2
    assert "verification failed for: artists" in result.stderr
    assert "MISMATCH" in result.stdout
    [run] = migrate_runs(target_url)
    assert run["outcome"] == "failed" and run["message"] == "verification failed: artists"
    counts = json.loads(str(run["counts"]))["tables"]["artists"]
    assert counts["target_rows"] == counts["source_rows"] + 1


def test_same_database_and_old_source_are_refused(source: str, tmp_path: Path, store: Store) -> None:
    src = open_store(source)
    with pytest.raises(TransferError, match="same database"):
        copy_database(src, open_store(source), SystemClock())
    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    from brapped.store.schema import upgrade

    old = open_store(old_url, migrate=False)
    upgrade(old.engine, "0001")
    with pytest.raises(TransferError, match=f"revision 0001, this brapped needs {head_revision()}"):
        copy_database(old, store, SystemClock())
    with pytest.raises(TransferError, match="batch size"):
        copy_database(src, store, SystemClock(), batch_size=0)


def test_unreachable_target_is_one_line_error(source: str, runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["--db", source, "migrate", "--to", "postgresql://nobody@127.0.0.1:1/none", "--no-progress"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot use database postgresql")
    assert "Traceback" not in result.stderr


def test_a_running_scheduler_on_the_source_is_warned_about(
    source: str, tmp_path: Path, runner: CliRunner
) -> None:
    from datetime import timedelta

    from brapped.pipeline.schedule import acquire_lock

    src = open_store(source)
    with src.begin() as conn:
        acquire_lock(conn, "laptop:42:abcd", datetime.now(UTC), timedelta(minutes=5))
    src.close()
    result = runner.invoke(
        cli, ["--db", source, "migrate", "--to", f"sqlite:///{tmp_path / 't.db'}", "--no-progress"]
    )
    assert result.exit_code == 0
    assert "Warning: a scheduler (laptop:42:abcd) holds a lock on the source" in result.stderr


def test_the_table_counts_rows_as_every_figure_does(tmp_path: Path, runner: CliRunner) -> None:
    # "1234 rows copied" under a table that writes 1,234.
    source, target = (f"sqlite:///{tmp_path / name}" for name in ("big.db", "copy.db"))
    store = open_store(source)
    fill(store, plays=1_000)
    store.close()
    result = runner.invoke(cli, ["--db", source, "migrate", "--to", target, "--no-progress"])
    assert result.exit_code == 0, result.stderr
    total = sum(len(rows) for rows in snapshot(source).values())
    assert total >= 1000
    [run] = migrate_runs(target)
    assert result.stdout.splitlines()[-1] == f"{total:,} rows copied, verified (run {run['id']})."
