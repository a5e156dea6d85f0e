"""An unchanged file imported again for the same account is recognised by its content and not read:
reported as reading it would report it, and the database left exactly as reading it leaves it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import select

from brapped.clock import SystemClock
from brapped.config import load_settings
from brapped.pipeline import readahead
from brapped.pipeline.accounts import remove_account
from brapped.pipeline.import_known import UNCHANGED
from brapped.pipeline.import_report import FileReport
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from brapped.store.tables import known_files, plays
from tests.pipeline.import_contents import ALWAYS_BULK, FILE_BY_FILE
from tests.pipeline.test_importing import RECORD

PLAY_COLUMNS = [c for c in plays.c if c.name != "id"]


def _record(minute: int, **changes: Any) -> dict[str, Any]:
    record = RECORD | {
        "ts": f"2025-05-01T10:{minute:02d}:00Z",
        "platform": "ios",
        "ms_played": 100_000 + minute,
        "master_metadata_track_name": f"Song {minute}",
        "spotify_track_uri": f"spotify:track:{minute:022d}",
    }
    return record | changes


def _file(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "Streaming_History_Audio_2025.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _plays(store: Store) -> list[tuple[Any, ...]]:
    with store.connect() as conn:
        rows = conn.execute(select(*PLAY_COLUMNS).order_by(plays.c.user_id, plays.c.played_at)).all()
    return [tuple(row) for row in rows]


def _counts(report: FileReport) -> tuple[Any, ...]:
    return (report.status, report.format, report.records, report.new, report.known, report.skipped)


def _not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr(readahead, "read_file", refuse)
    monkeypatch.setattr(readahead, "prepare", refuse)


def test_an_unchanged_file_is_reported_as_reading_it_reports_without_reading_it(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three plays and a record without track or episode (skipped, and so reported again).
    records = [_record(1), _record(2), _record(3), _record(4, spotify_track_uri=None)]
    path = _file(tmp_path, records)
    first = import_paths(store, [path], SystemClock(), user_id="u")
    assert first.totals()["new"] == 3
    stored = _plays(store)
    # Reading it again (--keep-personal always reads) tells what a re-import reports.
    read = import_paths(store, [path], SystemClock(), user_id="u", keep_personal=True)
    assert read.files[0].message is None and (read.files[0].new, read.files[0].known) == (0, 3)
    # The personal field was added by that reading: compare with the database after it.
    stored = _plays(store)

    _not_read(monkeypatch)
    again = import_paths(store, [path], SystemClock(), user_id="u")
    assert again.ok and again.files[0].message == UNCHANGED
    assert _counts(again.files[0]) == _counts(read.files[0])
    assert again.totals() == read.totals()
    assert _plays(store) == stored


@pytest.mark.parametrize("policy", [ALWAYS_BULK, FILE_BY_FILE], ids=["bulk", "file-by-file"])
def test_an_export_imported_again_is_not_read_and_a_new_file_is(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: Any
) -> None:
    folder = tmp_path / "export"
    generate_exports(folder, plays=1500, seed=3, max_bytes=100_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 3
    first = import_paths(store, [folder], SystemClock(), user_id="u", policy=policy)
    total = first.totals()["new"]
    stored = _plays(store)
    with store.connect() as conn:
        assert len(conn.execute(select(known_files.c.sha256)).all()) == len(files)

    with monkeypatch.context() as patched:
        _not_read(patched)
        again = import_paths(store, [folder], SystemClock(), user_id="u", policy=policy)
    assert again.ok and [f.message for f in again.files] == [UNCHANGED] * len(files)
    assert (again.totals()["new"], again.totals()["known"]) == (0, total)
    assert _plays(store) == stored

    # A file changed by one record is read again; the others are not.
    changed = files[1]  # not the last: its report still comes in its place
    records = json.loads(changed.read_text(encoding="utf-8"))
    changed.write_text(json.dumps(records[:-1]), encoding="utf-8")
    third = import_paths(store, [folder], SystemClock(), user_id="u", policy=policy)
    assert [f.name for f in third.files] == [f.name for f in first.files]  # in the files' order
    read = [f for f in third.files if f.message != UNCHANGED]
    assert [Path(f.name).name for f in read] == [changed.name]
    assert (read[0].new, read[0].known) == (0, len(records) - 1)
    assert _plays(store) == stored


def test_another_account_and_removed_plays_read_the_file_again(store: Store, tmp_path: Path) -> None:
    path = _file(tmp_path, [_record(1), _record(2)])
    import_paths(store, [path], SystemClock(), user_id="u")
    other = import_paths(store, [path], SystemClock(), user_id="v")
    assert (other.files[0].message, other.files[0].new) == (None, 2)

    settings = load_settings({"timezone": "UTC"}, env={}, home=tmp_path / "home")
    remove_account(store, settings, "u", delete_plays=True)
    with store.connect() as conn:
        assert conn.execute(select(known_files.c.user_id)).scalars().all() == ["v"]
    back = import_paths(store, [path], SystemClock(), user_id="u")
    assert (back.files[0].message, back.files[0].new) == (None, 2)
    assert len(_plays(store)) == 4


def test_a_failed_file_is_not_noted(store: Store, tmp_path: Path) -> None:
    path = _file(tmp_path, [_record(1), _record(2, ts="not a time")])
    result = import_paths(store, [path], SystemClock(), user_id="u")
    assert not result.ok
    with store.connect() as conn:
        assert conn.execute(select(known_files.c.sha256)).first() is None


@pytest.mark.parametrize("policy", [ALWAYS_BULK, FILE_BY_FILE], ids=["bulk", "file-by-file"])
def test_a_file_rolled_back_leaves_no_note_and_is_read_next_time(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: Any
) -> None:
    """A file whose load fails at its very end (after its plays and its note were written) is rolled
    back with its note: only the files that stayed are noted, and the next import reads it."""
    from sqlalchemy.exc import OperationalError

    from brapped.pipeline import import_load
    from brapped.store import staged_plays

    folder = tmp_path / "export"
    generate_exports(folder, plays=1500, seed=3, max_bytes=100_000)
    files = sorted(folder.glob("*.json"))
    # The last step of a file's own transaction: its stages dropped; in a bulk load, whose files
    # reuse their stages, its record as imported (the note is kept once the savepoint is released).
    module, step = (import_load, "record_file") if policy is ALWAYS_BULK else (staged_plays, "drop_stages")
    original = getattr(module, step)
    calls: list[int] = []

    def failing_second(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError(step, {}, Exception("disk I/O error"))
        original(*args)

    with monkeypatch.context() as patched:
        patched.setattr(module, step, failing_second)
        first = import_paths(store, [folder], SystemClock(), user_id="u", policy=policy)
    failed = [f.name for f in first.files if f.status == "failed"]
    assert len(failed) == 1
    with store.connect() as conn:
        assert len(conn.execute(select(known_files.c.sha256)).all()) == len(files) - 1

    again = import_paths(store, [folder], SystemClock(), user_id="u", policy=policy)
    read = [f for f in again.files if f.message != UNCHANGED]
    assert [f.name for f in read] == failed and read[0].new > 0
