"""The bulk load of a big import: one transaction, a savepoint per file, plays' secondary indexes
(and on PostgreSQL its foreign key) dropped and rebuilt at the end. The same plays as file by file,
each file still all or nothing, and a failure at the end keeps nothing, indexes included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import Index, inspect, select
from sqlalchemy.exc import OperationalError

from brapped import pipeline_import
from brapped.clock import SystemClock
from brapped.pipeline_import import import_paths
from brapped.store import Store, open_store
from brapped.store.tables import (
    album_artists,
    albums,
    artists,
    episode_plays,
    episodes,
    imported_files,
    plays,
    track_artists,
    tracks,
)

PLAY_COLUMNS = [c for c in plays.c if c.name != "id"]


def _export(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "export"
    generate_exports(folder, plays=2500, seed=4, max_bytes=200_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 5
    return files


def _plays(store: Store) -> list[tuple[Any, ...]]:
    with store.connect() as conn:
        rows = conn.execute(select(*PLAY_COLUMNS).order_by(plays.c.played_at, plays.c.track_id)).all()
    return [tuple(row) for row in rows]


def _dimensions(store: Store) -> list[list[tuple[Any, ...]]]:
    found = []
    with store.connect() as conn:
        for table in (artists, albums, album_artists, tracks, track_artists, episodes):
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            found.append([tuple(row) for row in rows])
    return found


def _schema(store: Store) -> tuple[list[str], list[str]]:
    found = inspect(store.engine)
    indexes = sorted(str(i["name"]) for i in found.get_indexes("plays"))
    keys = sorted(str(k["name"]) for k in found.get_foreign_keys("plays"))
    return indexes, keys


@pytest.fixture
def bulk(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every import takes the bulk way; the list records each time it did."""
    monkeypatch.setattr(pipeline_import, "BULK_MIN_PLAYS", 1)
    taken: list[bool] = []
    original = pipeline_import._bulk_load

    def recording(store: Store) -> Any:
        taken.append(True)
        return original(store)

    monkeypatch.setattr(pipeline_import, "_bulk_load", recording)
    return taken


@pytest.mark.parametrize("kept", [50_000, 5])  # dimension fields remembered across files
def test_bulk_load_stores_what_file_by_file_does(
    store: Store, tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    monkeypatch.setattr(pipeline_import, "_DIMENSIONS_KEPT", kept)
    files = _export(tmp_path)
    schema = _schema(store)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u")
    assert bulk == [True]
    assert result.ok and len(result.imported) == len(files)
    assert _schema(store) == schema  # indexes and keys rebuilt, names unchanged

    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    pipeline_import.BULK_MIN_PLAYS = 10**12  # restored by monkeypatch
    expected = import_paths(reference, [files[0].parent], SystemClock(), user_id="u")
    assert expected.totals() == result.totals()
    ours, theirs = _plays(store), _plays(reference)
    assert len(ours) == expected.totals()["new"] - _count(reference, episode_plays)
    assert ours == theirs
    assert _dimensions(store) == _dimensions(reference)
    reference.close()

    # A re-import (as much stored as read, everything known) goes file by file.
    again = import_paths(store, [files[0].parent], SystemClock(), user_id="u")
    assert again.totals()["new"] == 0 and again.totals()["known"] == result.totals()["new"]
    assert bulk == [True]


def _count(store: Store, table: Any) -> int:
    with store.connect() as conn:
        return len(conn.execute(select(table.c.id)).all())


def test_bulk_load_a_file_failing_in_the_database_rolls_back_alone(
    store: Store, tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _export(tmp_path)
    victim = files[2].name
    original = pipeline_import._record_file

    def failing(conn: Any, parsed: Any, *args: Any) -> None:
        original(conn, parsed, *args)
        if parsed.name.endswith(victim):
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(pipeline_import, "_record_file", failing)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u")
    assert bulk == [True]
    assert [Path(f.name).name for f in result.failed] == [victim]
    assert result.failed[0].message is not None and "disk I/O error" in result.failed[0].message
    with store.connect() as conn:
        recorded = {Path(n).name for n in conn.execute(select(imported_files.c.name)).scalars()}
        stored = conn.execute(select(plays.c.played_at)).all()
    assert recorded == {f.name for f in files} - {victim}
    assert len(stored) == sum(f.new for f in result.imported) - _count(store, episode_plays)


def test_bulk_load_failing_at_the_end_keeps_nothing(
    store: Store, tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _export(tmp_path)
    schema = _schema(store)

    def failing(self: Index, bind: Any, checkfirst: bool = False) -> None:
        raise OperationalError("CREATE INDEX", {}, Exception("database or disk is full"))

    monkeypatch.setattr(Index, "create", failing)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u")
    assert bulk == [True]
    assert not result.ok and not result.imported
    assert len(result.failed) == len(files)
    assert all("database or disk is full" in (f.message or "") for f in result.failed)
    assert result.totals()["new"] == 0
    monkeypatch.undo()
    assert _schema(store) == schema
    assert _count(store, plays) == _count(store, episode_plays) == _count(store, imported_files) == 0
    assert _count(store, tracks) == 0
