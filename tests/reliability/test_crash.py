"""Crash safety: brapped killed with SIGKILL mid-import (a SQLite bulk load too, in its rollback
journal), mid-sync, mid-migrate (the copy to another database) and mid schema upgrade, then run
again.

Each kill point is chosen by watching the victim make progress (files recorded in the database,
requests reaching the emulator, rows arriving in the target) and then waiting a further random
delay, so kills land inside transactions, between them, and during HTTP. After every kill the
database must be consistent (each file all or nothing, no play twice); after the final, uninterrupted
run it must equal the ground truth. 17 kill points per database, 34 per run of the suite.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.generate import generate_database, generate_exports
from sqlalchemy import text

from tests.reliability.conftest import (
    Probe,
    Served,
    api_truth,
    clean_env,
    export_truth,
    kill_when,
    run,
    start,
    stored_plays,
)


def _imported_files(probe: Probe) -> list[str]:
    with probe.engine.connect() as conn:
        return [str(n) for n in conn.execute(text("SELECT name FROM imported_files")).scalars()]


def test_import_killed_at_five_points_then_rerun(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    generate_exports(folder, plays=6000, seed=9, max_bytes=250_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 15
    music, spoken = export_truth(files)
    env = clean_env(tmp_path / "home")
    args = ["--db", db_url, "import", str(folder), "--user", "u"]
    probe = Probe(db_url)
    rng = random.Random(5)
    kills = 0
    try:
        for target in (1, 4, 8, 12, 16):
            done = probe.count("imported_files") if kills else 0
            proc = start(args, env)
            # Wait for the next file(s) to commit, then a little more: the kill lands in the next one.
            killed = kill_when(
                proc,
                lambda t=target: probe.count("imported_files") >= t,
                delay=rng.uniform(0, 0.08),
                probe=probe,
            )
            kills += killed
            # All or nothing per file: the plays stored are exactly those of the files recorded.
            recorded = {Path(n).name for n in _imported_files(probe)}
            assert len(recorded) >= done
            expected_music, expected_spoken = export_truth([f for f in files if f.name in recorded])
            rows = stored_plays(probe)
            assert len(rows) == len(set(rows)) and set(rows) == expected_music
            episodes = stored_plays(probe, "episode_plays", "episode_id")
            assert len(episodes) == len(set(episodes)) and set(episodes) == expected_spoken
        assert kills >= 4, f"only {kills} of 5 runs were killed mid-import"

        run(args, env)
        rows = stored_plays(probe)
        assert len(rows) == len(music) and set(rows) == music
        assert set(stored_plays(probe, "episode_plays", "episode_id")) == spoken
        assert probe.count("imported_files") == len(files)
    finally:
        probe.close()


# `python -m brapped` with every import a bulk load, however small, and a page cache so small that
# the load writes into the database file long before its commit: the command's `import_paths`
# given that policy.
_BULK_BRAPPED = (
    "import functools, runpy, sys\n"
    "import brapped.cli.imports as c\n"
    "from brapped.pipeline.import_plan import BulkPolicy\n"
    "c.import_paths = functools.partial(c.import_paths, policy=BulkPolicy(min_plays=1, cache_kib=64))\n"
    "sys.argv = ['brapped', *sys.argv[1:]]\n"
    "runpy.run_module('brapped', run_name='__main__')\n"
)


def test_bulk_import_killed_in_its_rollback_journal_then_rerun(tmp_path: Path) -> None:
    """A SQLite bulk load writes into the database file under a rollback journal, not WAL: killed
    mid-load, the journal left behind rolls the file back to its state before the load."""
    folder = tmp_path / "export"
    generate_exports(folder, plays=8000, seed=12, max_bytes=250_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 15
    db = tmp_path / "brapped.db"
    journal = Path(f"{db}-journal")
    url = f"sqlite:///{db}"
    env = clean_env(tmp_path / "home")
    # One file first, the usual way: what every rolled-back load must leave.
    run(["--db", url, "import", str(files[0]), "--user", "u"], env)
    first, _ = export_truth(files[:1])
    args = ["-c", _BULK_BRAPPED, "--db", url, "import", str(folder), "--user", "u"]
    rng = random.Random(3)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        size = db.stat().st_size

        def writing(size: int = size) -> bool:
            # The load has written into the database file: only its journal can undo that now.
            return journal.exists() and db.stat().st_size > size

        # Not through a Probe: a connection kept open would keep the load in WAL.
        if not kill_when(proc, writing, delay=rng.uniform(0, 0.05)) or not journal.exists():
            continue  # the load ended before
        kills += 1
        database = sqlite3.connect(db)
        try:
            # The first read rolls the journal back.
            assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert database.execute("SELECT count(*) FROM imported_files").fetchone()[0] == 1
            stored = database.execute("SELECT played_at, track_id FROM plays").fetchall()
        finally:
            database.close()
        assert _keys(stored) == first and len(stored) == len(first)
    assert kills >= 2, f"only {kills} of 3 bulk loads were killed after writing into the database file"

    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    music, _ = export_truth(files)
    database = sqlite3.connect(db)
    try:
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = database.execute("SELECT played_at, track_id FROM plays").fetchall()
        assert database.execute("SELECT count(*) FROM imported_files").fetchone()[0] == len(files)
    finally:
        database.close()
    assert _keys(stored) == music and len(stored) == len(music)
    assert not journal.exists()


def _keys(rows: list[tuple[str, str]]) -> set[tuple[datetime, str]]:
    return {(datetime.fromisoformat(at).replace(tzinfo=UTC, microsecond=0), track) for at, track in rows}


def test_sync_killed_at_four_points_then_rerun(db_url: str, tmp_path: Path, served: Served) -> None:
    emu = served.emu
    env = clean_env(tmp_path / "home", **served.env())
    args = ["--db", db_url, "sync"]
    probe = Probe(db_url)
    rng = random.Random(7)
    try:
        run(args, env)  # the first sync takes the last 50 plays
        first = min(at for at, _ in stored_plays(probe))
        kills = 0
        for _ in range(4):
            emu.clock.advance(timedelta(minutes=40))
            before = emu.counters.v1_total
            proc = start(args, env)
            # Killed once it talks to Spotify: during the fetch, the write, or the enrichment after it.
            kills += kill_when(
                proc, lambda b=before: emu.counters.v1_total > b, delay=rng.uniform(0, 0.25), probe=probe
            )
            rows = stored_plays(probe)
            assert len(rows) == len(set(rows))
            assert set(rows) <= api_truth(emu, first, emu.clock.now())
        assert kills >= 3, f"only {kills} of 4 syncs were killed mid-run"

        run(args, env)
        rows = stored_plays(probe)
        assert len(rows) == len(set(rows))
        assert set(rows) == api_truth(emu, first, emu.clock.now())
        orphans = probe.scalar(
            "SELECT count(*) FROM plays WHERE track_id NOT IN (SELECT track_id FROM track_artists)"
        )
        assert orphans == 0
    finally:
        probe.close()


def test_migrate_killed_at_four_points_then_rerun(db_url: str, tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    generate_database(source_url, plays=8_000, seed=4, end=datetime(2025, 6, 1, tzinfo=UTC))
    env = clean_env(tmp_path / "home")
    args = ["migrate", "--from", source_url, "--to", db_url, "--no-progress", "--batch-size", "400"]
    source, target = Probe(source_url), Probe(db_url)
    rng = random.Random(3)
    try:
        total = source.count("plays")
        kills = 0
        for share in (0.0, 0.25, 0.5, 0.75):
            proc = start(args, env)
            # The first kill lands while the dimensions are copied, the others among the plays.
            ready = (
                (lambda: target.count("tracks") > 0)
                if share == 0
                else (lambda s=share: target.count("plays") >= s * total)
            )
            kills += kill_when(proc, ready, delay=rng.uniform(0, 0.05), probe=target)
            rows = stored_plays(target)
            assert len(rows) == len(set(rows))
            dangling = target.scalar(
                "SELECT count(*) FROM plays WHERE track_id NOT IN (SELECT id FROM tracks)"
            )
            assert dangling in (0, None)
        assert kills >= 3, f"only {kills} of 4 migrations were killed mid-copy"

        done = run(args, env)
        assert "verif" in (done.stdout + done.stderr).lower()
        for table in (
            "artists",
            "albums",
            "tracks",
            "track_artists",
            "album_artists",
            "plays",
            "episode_plays",
        ):
            assert target.count(table) == source.count(table), table
        assert sorted(stored_plays(target)) == sorted(stored_plays(source))
    finally:
        source.close()
        target.close()


def _schema_holders(probe: Probe, dialect: str) -> bool:
    """True while another connection holds the database's write lock (SQLite) or any lock (PG):
    the upgrade's one transaction has begun."""
    if dialect == "sqlite":
        try:
            with probe.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.exec_driver_sql("ROLLBACK")
            return False
        except Exception:
            return True
    return bool(
        probe.scalar(
            "SELECT count(*) FROM pg_locks WHERE pid <> pg_backend_pid() AND locktype = 'relation' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    )


def test_schema_upgrade_killed_at_four_points_then_rerun(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    from brapped.store import open_store
    from brapped.store.schema import alembic_config, current_revision, head_revision

    generate_database(db_url, plays=120_000, seed=6, end=datetime(2025, 6, 1, tzinfo=UTC))
    store = open_store(db_url, migrate=False)
    dialect = store.dialect

    def revision() -> str | None:
        with store.engine.connect() as conn:
            return current_revision(conn)

    def back_to_first() -> None:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")

    def upgrade_seconds() -> float:
        back_to_first()
        started = time.perf_counter()
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        return time.perf_counter() - started

    probe = Probe(db_url)
    counts = {t: probe.count(t) for t in ("plays", "tracks", "artists", "track_artists", "episode_plays")}
    env = clean_env(tmp_path / "home")
    rng = random.Random(11)
    # Kills spread over the first half of an upgrade as long as one takes on this machine (a fixed
    # range missed the whole upgrade half of the time once SQLite ran it in ~0.15 s).
    span = upgrade_seconds()
    try:
        rolled_back = 0
        for _ in range(4):
            if revision() != "0001":
                back_to_first()
            proc = start(["--db", db_url, "db", "upgrade"], env)
            kill_when(proc, lambda: _schema_holders(probe, dialect), delay=rng.uniform(0, span / 2))
            # One transaction: either nothing happened or everything did, and no row was touched.
            after = revision()
            assert after in ("0001", head_revision())
            rolled_back += after == "0001"
            assert {t: probe.count(t) for t in counts} == counts
        assert rolled_back >= 2, f"only {rolled_back} of 4 kills landed inside the upgrade"

        run(["--db", db_url, "db", "upgrade"], env)
        assert revision() == head_revision()
        assert {t: probe.count(t) for t in counts} == counts
        assert probe.count("v_plays") == counts["plays"]  # the views are back
    finally:
        probe.close()
        store.close()
