"""What a bulk load checks and decides beside the plays themselves: the foreign keys SQLite does not
enforce during it (`bulk_session.check_foreign_keys`), enforcement back on afterwards, the files' stated
sizes (`Source.size`), and the worker started on those sizes then stopped when the first file shows
the import is not a bulk load."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from brapped.clock import SystemClock
from brapped.imports import ParsedFile, Source, iter_inputs, parse_file, worker
from brapped.pipeline import bulk_load, import_load, import_plan, readahead
from brapped.pipeline.import_plan import BulkPolicy
from brapped.pipeline.importing import import_paths
from brapped.store import Store, bulk_session, open_store
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
from tests.pipeline.import_contents import ALWAYS_BULK, FILE_BY_FILE, contents, outcome

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")
    yield opened
    opened.close()


@pytest.fixture
def export(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "export"
    generate_exports(folder, plays=2500, seed=5, max_bytes=200_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 5
    return files


def _history(files: list[Path]) -> tuple[int, int, set[str]]:
    """(track plays, episode plays, distinct track URIs) of export files, with json only."""
    music = spoken = 0
    uris: set[str] = set()
    for path in files:
        for record in json.loads(path.read_bytes()):
            if record["spotify_track_uri"]:
                music += 1
                uris.add(record["spotify_track_uri"])
            elif record["spotify_episode_uri"]:
                spoken += 1
    return music, spoken, uris


def _raw(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def _enforced(raw: Any) -> int:
    return int(raw.execute("PRAGMA foreign_keys").fetchone()[0])


# -- check_foreign_keys -------------------------------------------------------------------------


def _album(conn: Connection, album_id: str = "al1") -> None:
    conn.execute(insert(albums).values(id=album_id, name="Album"))


def _artist(conn: Connection, artist_id: str = "ar1") -> None:
    conn.execute(insert(artists).values(id=artist_id, name="Artist"))


def _track(conn: Connection, track_id: str = "tr1", album_id: str | None = None) -> None:
    conn.execute(insert(tracks).values(id=track_id, name="Track", album_id=album_id, is_resolved=False))


def _play(conn: Connection, track_id: str = "tr1") -> None:
    conn.execute(insert(plays).values(user_id="u", played_at=WHEN, track_id=track_id, source="export"))


def _episode(conn: Connection, episode_id: str = "ep1") -> None:
    conn.execute(insert(episodes).values(id=episode_id, kind="podcast", name="Episode"))


def _episode_play(conn: Connection, episode_id: str = "ep1") -> None:
    conn.execute(
        insert(episode_plays).values(user_id="u", played_at=WHEN, episode_id=episode_id, source="export")
    )


def _consistent(conn: Connection) -> None:
    """One of everything, every reference pointing at a stored row."""
    _album(conn)
    _artist(conn)
    _track(conn, album_id="al1")
    conn.execute(insert(album_artists).values(album_id="al1", position=0, artist_id="ar1"))
    conn.execute(insert(track_artists).values(track_id="tr1", position=0, artist_id="ar1"))
    _play(conn)
    _episode(conn)
    _episode_play(conn)


# (table named, rows it needs, the row whose reference is missing); ids apart from `_consistent`'s
VIOLATIONS: dict[str, tuple[str, Callable[[Connection], None], Callable[[Connection], None]]] = {
    "play without its track": ("plays", lambda conn: None, lambda conn: _play(conn, "no-such-track")),
    "track without its album": (
        "tracks",
        lambda conn: None,
        lambda conn: _track(conn, "tr2", album_id="no-such-album"),
    ),
    "credit without its artist": (
        "track_artists",
        lambda conn: _track(conn, "tr3"),
        lambda conn: conn.execute(
            insert(track_artists).values(track_id="tr3", position=0, artist_id="no-such-artist")
        ),
    ),
    "album credit without its album": (
        "album_artists",
        lambda conn: _artist(conn, "ar3"),
        lambda conn: conn.execute(
            insert(album_artists).values(album_id="no-such-album", position=0, artist_id="ar3")
        ),
    ),
    "episode play without its episode": (
        "episode_plays",
        lambda conn: None,
        lambda conn: _episode_play(conn, "no-such-episode"),
    ),
}


@pytest.fixture
def unenforced(sqlite_store: Store) -> Iterator[Connection]:
    """A connection of the store in a transaction begun with SQLite's foreign keys off (as a bulk
    load begins it); rolled back, and enforcement back on, at the end."""
    with sqlite_store.connect() as conn:
        raw = _raw(conn)
        raw.execute("PRAGMA foreign_keys = OFF")  # outside a transaction: SQLite ignores it inside
        try:
            transaction = conn.begin()
            assert _enforced(raw) == 0
            yield conn
            transaction.rollback()
        finally:
            raw.execute("PRAGMA foreign_keys = ON")


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_enforced_foreign_keys_refuse_each_violation(sqlite_store: Store, case: str) -> None:
    """The rows below are what SQLite itself refuses when it enforces the keys (the store's default)."""
    _, needs, violation = VIOLATIONS[case]
    with sqlite_store.connect() as conn:
        assert _enforced(_raw(conn)) == 1
        with conn.begin() as transaction:
            needs(conn)
            with pytest.raises(IntegrityError, match="FOREIGN KEY"):
                violation(conn)
            transaction.rollback()


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_check_foreign_keys_names_the_table_of_a_violation(unenforced: Connection, case: str) -> None:
    table, needs, violation = VIOLATIONS[case]
    _consistent(unenforced)
    bulk_session.check_foreign_keys(unenforced)  # nothing wrong yet
    needs(unenforced)
    violation(unenforced)  # not refused: enforcement is off
    with pytest.raises(IntegrityError, match=rf"\b{table}\b") as raised:
        bulk_session.check_foreign_keys(unenforced)
    others = {name for name, _, _ in VIOLATIONS.values()} - {table}
    assert not any(f" {name} " in f" {raised.value.orig} " for name in others)


def test_check_foreign_keys_passes_a_consistent_database(unenforced: Connection) -> None:
    bulk_session.check_foreign_keys(unenforced)  # empty
    _consistent(unenforced)
    _track(unenforced, "tr2")  # no album: a NULL reference is no violation
    _play(unenforced, "tr2")
    bulk_session.check_foreign_keys(unenforced)


def test_check_foreign_keys_passes_an_imported_history(sqlite_store: Store, export: list[Path]) -> None:
    result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u")
    assert result.ok
    with sqlite_store.begin() as conn:
        bulk_session.check_foreign_keys(conn)


# -- a bulk load leaves the keys enforced -------------------------------------------------------


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every import is a bulk load; the DBAPI connection of each `check_foreign_keys` call, with
    whether SQLite enforced the keys there at that moment (with `ALWAYS_BULK`)."""
    calls: list[Any] = []
    original = bulk_session.check_foreign_keys

    def spy(conn: Connection) -> None:
        raw = _raw(conn)
        calls.append((raw, _enforced(raw)))
        original(conn)

    monkeypatch.setattr(bulk_session, "check_foreign_keys", spy)
    return calls


def test_bulk_load_leaves_foreign_keys_enforced(
    sqlite_store: Store, tmp_path: Path, export: list[Path], checked: list[Any]
) -> None:
    result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    # A bulk load, checked once at its end, with enforcement off while it ran.
    assert [enforced for _, enforced in checked] == [0]
    raw = checked[0][0]
    assert _enforced(raw) == 1  # the very connection, back in the pool
    with sqlite_store.connect() as a, sqlite_store.connect() as b, sqlite_store.connect() as c:
        assert [_enforced(_raw(conn)) for conn in (a, b, c)] == [1, 1, 1]
        assert any(_raw(conn) is raw for conn in (a, b, c))
    # Enforced, not only reported so: the store refuses a play of an unknown track now.
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), sqlite_store.begin() as conn:
        _play(conn, "no-such-track")
    music, spoken, uris = _history(export)
    database = sqlite3.connect(tmp_path / "brapped.db")
    try:
        assert database.execute("PRAGMA foreign_key_check").fetchall() == []
        assert database.execute("SELECT count(*) FROM plays").fetchone()[0] == music
        assert database.execute("SELECT count(*) FROM episode_plays").fetchone()[0] == spoken
        assert {uri for (uri,) in database.execute("SELECT uri FROM tracks")} == uris
    finally:
        database.close()


def test_bulk_load_refused_at_its_check_keeps_nothing_and_enforces_again(
    sqlite_store: Store, tmp_path: Path, export: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[Any] = []

    def refuse(conn: Connection) -> None:
        connections.append(_raw(conn))
        raise IntegrityError(
            "foreign key check", None, Exception("FOREIGN KEY constraint failed: plays row x")
        )

    monkeypatch.setattr(bulk_session, "check_foreign_keys", refuse)
    result = import_paths(sqlite_store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert len(connections) == 1
    assert not result.imported and len(result.failed) == len(export)
    assert all("FOREIGN KEY constraint failed" in (f.message or "") for f in result.failed)
    assert _enforced(connections[0]) == 1
    with sqlite_store.connect() as conn:
        assert conn.execute(select(plays.c.id)).first() is None
        assert conn.execute(select(imported_files.c.id)).first() is None


# -- Source.size ---------------------------------------------------------------------------------


def test_source_size_is_the_file_size_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    (folder / "inner").mkdir(parents=True)
    written = {
        folder / "a.json": b"[]",
        folder / "empty.json": b"",
        folder / "inner" / "b.json": b"[" + b" " * 12_345 + b"]",
    }
    for path, data in written.items():
        path.write_bytes(data)
    sources = [item for item in iter_inputs([folder]) if isinstance(item, Source)]
    assert {s.name: s.size for s in sources} == {str(p): len(d) for p, d in written.items()}
    (single,) = iter_inputs([folder / "inner" / "b.json"])
    assert isinstance(single, Source) and single.size == 12_347


def test_source_size_is_the_stated_size_of_a_zip_entry(tmp_path: Path) -> None:
    members = {
        "Spotify Extended Streaming History/Streaming_History_Audio_2024.json": b"[" + b"  " * 50_000 + b"]",
        "Spotify Extended Streaming History/notes.txt": b"hello",
        "empty.json": b"",
    }
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for member, data in members.items():
            zipped.writestr(member, data)
    with zipfile.ZipFile(archive) as zipped:
        compressed = {info.filename: info.compress_size for info in zipped.infolist()}
    sources = [item for item in iter_inputs([archive]) if isinstance(item, Source)]
    assert {s.name: s.size for s in sources} == {f"{archive}!{m}": len(d) for m, d in members.items()}
    # The size inflated, not the bytes the zip holds (a deflated run of spaces is tiny).
    big = next(m for m in members if m.endswith("2024.json"))
    assert compressed[big] < len(members[big]) // 10
    assert {s.name: s.read() for s in sources} == {f"{archive}!{m}": d for m, d in members.items()}


# -- the worker started on the stated sizes, stopped by the first file ---------------------------


def test_worker_started_by_size_is_stopped_unused_when_the_first_file_says_no_bulk(
    store: Store, tmp_path: Path, export: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = export[0].parent
    earlier = export[::2]  # imported before: the second import finds some files known, some new
    assert import_paths(store, earlier, SystemClock(), user_id="u", policy=FILE_BY_FILE).ok

    # Sizes say bulk (a byte a play), the first file says not: its records times the files fall
    # short of the minimum by one play.
    sources = [i for i in import_plan.ordered(iter_inputs([folder])) if isinstance(i, Source)]
    first = parse_file(sources[0].name, sources[0].read(), datetime.now(UTC))
    assert isinstance(first, ParsedFile)
    estimate = first.records * len(sources)
    policy = BulkPolicy(min_plays=estimate + 1, bytes_per_play=1)
    assert import_plan.likely_bulk(store, sources, policy)
    assert not import_plan.worth_bulk(store, estimate, policy)

    events: dict[str, list[Any]] = {"started": [], "submitted": [], "closed": [], "unexpected": []}
    readers_init, submit, close = (
        worker.Readers.__init__,
        worker.Readers.submit,
        worker.Readers.close,
    )

    def spy_init(self: Any, workers: int) -> None:
        events["started"].append(workers)
        readers_init(self, workers)

    def spy_submit(self: Any, source: Source, *args: Any) -> Any:
        events["submitted"].append(Path(source.name).name)
        return submit(self, source, *args)

    def spy_close(self: Any, now: bool = False) -> None:
        events["closed"].append(now)
        close(self, now)

    def unexpected(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            events["unexpected"].append(name)
            raise AssertionError(f"{name} called")

        return refuse

    monkeypatch.setattr(worker.Readers, "__init__", spy_init)
    monkeypatch.setattr(worker.Readers, "submit", spy_submit)
    monkeypatch.setattr(worker.Readers, "close", spy_close)
    # What the worker prepared is never used, and there is no bulk load.
    for module, name in (
        (readahead, "prepared_outcome"),
        (import_load, "load_staged"),
        (bulk_load, "bulk_load"),
    ):
        monkeypatch.setattr(module, name, unexpected(name))

    result = import_paths(store, [folder], SystemClock(), user_id="u", policy=policy)

    assert events["unexpected"] == []
    assert events["started"] == [policy.workers]
    assert events["submitted"] and Path(sources[0].name).name not in events["submitted"]
    assert events["closed"][0] is True  # stopped without waiting for the file in hand
    assert result.ok and len(result.imported) == len(export)
    music, spoken, _ = _history(export)
    known_music, known_spoken, _ = _history(earlier)
    totals = result.totals()
    assert (totals["new"], totals["known"]) == (
        music + spoken - known_music - known_spoken,
        known_music + known_spoken,
    )

    # The same as the same two imports file by file, without any worker.
    monkeypatch.undo()
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        assert import_paths(reference, earlier, SystemClock(), user_id="u", policy=FILE_BY_FILE).ok
        expected = import_paths(reference, [folder], SystemClock(), user_id="u", policy=FILE_BY_FILE)
        assert outcome(result) == outcome(expected)
        assert contents(store) == contents(reference)
    finally:
        reference.close()
