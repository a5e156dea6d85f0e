"""The memory of a bulk import of big files (`brapped.pipeline.readahead`): bounded by the holding
policy's bytes, not by the files' sizes. Measured from outside, as a user's `brapped import` runs
(with its worker process), on export files of ~30 MB, the size that once took the import past
380 MB (the loader parsing one of them while the worker parsed two more)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bench.generate import generate_exports
from bench.process_tree import run_measured
from sqlalchemy import func, select

from brapped.store import open_store
from brapped.store.tables import plays
from tests.reliability.conftest import clean_env

BIG_FILE = 30 * 1024 * 1024
LIMIT_MB = 300  # the target; it allows 500


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")
def test_a_bulk_import_of_big_files_stays_under_its_memory_bound(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    summary = generate_exports(folder, plays=160_000, seed=5, max_bytes=BIG_FILE, podcasts=False)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 4 and all(path.stat().st_size > BIG_FILE * 0.9 for path in files[:-1])
    url = f"sqlite:///{tmp_path / 'brapped.db'}"
    argv = [sys.executable, "-m", "brapped", "--db", url, "import", str(folder), "--user", "u"]
    measure = run_measured([*argv, "--format", "json"], env=clean_env(tmp_path / "home"))
    report = json.loads(measure.stdout)
    assert report["ok"] and report["totals"]["new"] == summary.records
    store = open_store(url, migrate=False)
    try:
        with store.connect() as conn:
            assert conn.execute(select(func.count()).select_from(plays)).scalar() == summary.records
    finally:
        store.close()
    assert measure.processes >= 2  # the worker did its share
    assert measure.at_once_mb < LIMIT_MB, f"{measure.at_once_mb:.0f} MB at once"
