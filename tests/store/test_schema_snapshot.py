"""A new SQLite database is made from the head's snapshot (`schema.SQLITE_SNAPSHOT`) instead of
every revision: the snapshot must be what the revisions make, statement for statement."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from brapped.store import open_store, schema

REGENERATE = (
    'python -c "import json, pathlib, tempfile; from brapped.store import schema; '
    "d = tempfile.mkdtemp(); s = schema.sqlite_snapshot(pathlib.Path(d) / 's.db'); "
    "schema.SQLITE_SNAPSHOT.write_text(json.dumps(s, indent=1) + '\\n', encoding='utf-8')\""
)


def _dump(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def _migrated(path: Path) -> list[str]:
    """A new database brought to the head by the revisions themselves (Alembic)."""
    schema.sqlite_snapshot(path)
    return _dump(path)


def test_the_snapshot_is_what_the_revisions_make(tmp_path: Path) -> None:
    kept = json.loads(schema.SQLITE_SNAPSHOT.read_text(encoding="utf-8"))
    made = schema.sqlite_snapshot(tmp_path / "made.db")
    assert kept == made, f"the snapshot is out of date; make it again: {REGENERATE}"
    assert kept["revision"] == schema.head_revision()


def test_a_new_database_from_the_snapshot_is_one_the_revisions_made(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    store.close()
    assert _dump(tmp_path / "new.db") == _migrated(tmp_path / "migrated.db")
    assert store.info().revision == schema.head_revision()


@pytest.mark.parametrize(
    "snapshot",
    [
        {"revision": "0001", "statements": ["CREATE TABLE wrong (x)"]},
        {"revision": "head"},  # no statements: replaced below by the head's id
        {"revision": "head", "statements": "CREATE TABLE wrong (x)"},
        ["CREATE TABLE wrong (x)"],
    ],
)
def test_a_snapshot_of_another_revision_or_not_brapped_s_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: object
) -> None:
    if isinstance(snapshot, dict) and snapshot["revision"] == "head":
        snapshot = {**snapshot, "revision": schema.head_revision()}
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(snapshot), "utf-8")
    monkeypatch.setattr(schema, "SQLITE_SNAPSHOT", stale)
    open_store(f"sqlite:///{tmp_path / 'new.db'}").close()
    assert _dump(tmp_path / "new.db") == _migrated(tmp_path / "migrated.db")


def test_a_new_database_is_made_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = (
        f"import sys; from brapped.store import open_store; open_store({url!r}).close(); "
        "print('alembic' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
