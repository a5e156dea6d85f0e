"""The bulk load of a big import: one transaction, a savepoint per file, plays' secondary indexes
(and on PostgreSQL its foreign key) dropped and rebuilt at the end. The same plays as file by file,
each file still all or nothing, and a failure at the end keeps nothing, indexes included."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import Index, insert, inspect, select
from sqlalchemy.exc import OperationalError

from brapped.clock import SystemClock
from brapped.insights.rollups import mark_stale, try_refresh
from brapped.insights.rollups import state as summary_state_of
from brapped.pipeline import bulk_load, import_decide, import_load, import_rows
from brapped.pipeline.import_plan import BulkPolicy
from brapped.pipeline.importing import import_paths
from brapped.store import Store, open_store, staged_plays
from brapped.store.calibration import in_use
from brapped.store.tables import (
    album_artists,
    albums,
    artists,
    episode_plays,
    episodes,
    hour_totals,
    imported_files,
    plays,
    track_artists,
    track_totals,
    tracks,
)
from tests.pipeline.import_contents import ALWAYS_BULK, FILE_BY_FILE, contents, outcome

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
    # A bulk load drops these tables' secondary indexes and builds them again at its end.
    indexed = ("plays", "tracks", "track_artists")
    indexes = sorted(f"{table}.{i['name']}" for table in indexed for i in found.get_indexes(table))
    # On PostgreSQL a bulk load drops the foreign keys of these tables and adds them back.
    keyed = ("plays", "tracks", "track_artists", "album_artists")
    keys = sorted(str(k["name"]) for table in keyed for k in found.get_foreign_keys(table))
    return indexes, keys


@pytest.fixture
def bulk(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records each time an import took the bulk way (every import does with `ALWAYS_BULK`)."""
    taken: list[bool] = []
    original = bulk_load.bulk_load

    def recording(store: Store, user: str, policy: BulkPolicy) -> Any:
        taken.append(True)
        return original(store, user, policy)

    monkeypatch.setattr(bulk_load, "bulk_load", recording)
    return taken


@pytest.mark.parametrize("kept", [50_000, 5])  # dimension fields remembered across files
def test_bulk_load_stores_what_file_by_file_does(
    store: Store, tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    policy = BulkPolicy(min_plays=1, dimensions_kept=kept)
    files = _export(tmp_path)
    schema = _schema(store)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=policy)
    assert bulk == [True]
    assert result.ok and len(result.imported) == len(files)
    assert _schema(store) == schema  # indexes and keys rebuilt, names unchanged

    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    expected = import_paths(reference, [files[0].parent], SystemClock(), user_id="u", policy=FILE_BY_FILE)
    assert expected.totals() == result.totals()
    ours, theirs = _plays(store), _plays(reference)
    assert len(ours) == expected.totals()["new"] - _count(reference, episode_plays)
    assert ours == theirs
    assert _dimensions(store) == _dimensions(reference)
    reference.close()

    # A re-import (as much stored as read, everything known) goes file by file.
    again = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=policy)
    assert again.totals()["new"] == 0 and again.totals()["known"] == result.totals()["new"]
    assert bulk == [True]


def _count(store: Store, table: Any) -> int:
    with store.connect() as conn:
        return len(conn.execute(select(table.c.id)).all())


# The first file's failure also takes the staging tables it made with it (PostgreSQL keeps them
# from file to file in a bulk load): the next file makes them again.
@pytest.mark.parametrize("failing", [0, 2])
def test_bulk_load_a_file_failing_in_the_database_rolls_back_alone(
    store: Store, tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    files = _export(tmp_path)
    victim = files[failing].name
    original = import_load.record_file

    def failing(conn: Any, parsed: Any, *args: Any) -> None:
        original(conn, parsed, *args)
        if parsed.name.endswith(victim):
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(import_load, "record_file", failing)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
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
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert bulk == [True]
    assert not result.ok and not result.imported
    assert len(result.failed) == len(files)
    assert all("database or disk is full" in (f.message or "") for f in result.failed)
    assert result.totals()["new"] == 0
    monkeypatch.undo()
    assert _schema(store) == schema
    assert _count(store, plays) == _count(store, episode_plays) == _count(store, imported_files) == 0
    assert _count(store, tracks) == 0


@pytest.fixture
def paths_taken(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many files' new music plays went in by COPY and how many through staging."""
    taken = {"copy": 0, "staged": 0}
    # Every COPY of plays goes through copy_plays (from rows, or a worker's text).
    copy, insert_staged = staged_plays.copy_plays, staged_plays.insert_music_plays

    def copying(*args: Any) -> int:
        taken["copy"] += 1
        return copy(*args)

    def staging(*args: Any, **kwargs: Any) -> int:
        taken["staged"] += 1
        return insert_staged(*args, **kwargs)

    monkeypatch.setattr(staged_plays, "copy_plays", copying)
    monkeypatch.setattr(staged_plays, "insert_music_plays", staging)
    return taken


def test_bulk_load_of_overlapping_files_stores_what_file_by_file_does(
    store: Store, tmp_path: Path, bulk: list[bool], paths_taken: dict[str, int]
) -> None:
    files = _export(tmp_path)
    first, second = (json.loads(path.read_bytes()) for path in (files[1], files[3]))
    # Spotify's files can overlap: one that repeats the end of a file and the start of another,
    # with a few plays of its own a second after plays stored already (new, next to stored ones).
    shifted = [dict(r, ts=_later(r["ts"], seconds=1)) for r in first[-40:-30]]
    overlap = first[len(first) // 2 :] + shifted + second[: len(second) // 2]
    # Read after the file it repeats the end of and before the one it repeats the start of.
    assert files[1].name.endswith("_1.json") and files[3].name.endswith("_2.json")
    overlap_file = files[0].parent / files[1].name.replace(".json", "b.json")
    overlap_file.write_text(json.dumps(overlap))

    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    taken = dict(paths_taken)
    assert bulk == [True]
    assert result.ok and len(result.imported) == len(files) + 1
    repeated = len(first) - len(first) // 2 + len(second) // 2
    assert result.totals()["known"] == repeated

    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    expected = import_paths(reference, [files[0].parent], SystemClock(), user_id="u", policy=FILE_BY_FILE)
    assert expected.totals() == result.totals()
    assert [(f.name, f.new, f.known) for f in expected.files] == [
        (f.name, f.new, f.known) for f in result.files
    ]
    assert _plays(store) == _plays(reference)
    assert _dimensions(store) == _dimensions(reference)
    reference.close()
    if store.dialect == "postgresql":
        # Every file's new plays by COPY, the overlapping one's next to stored plays included.
        assert [Path(f.name).name for f in result.files if f.known] == [overlap_file.name, files[3].name]
        assert taken == {"copy": len(files) + 1, "staged": 0}
    else:
        # From the worker's staging image, but the first file's (read here, before the bulk load).
        assert taken == {"copy": 0, "staged": len(files) + 1}

    again = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=FILE_BY_FILE)
    assert again.totals()["new"] == 0 and again.totals()["known"] == result.totals()["new"] + repeated


def _later(ts: str, seconds: int) -> str:
    moved = datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return moved.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("in_bulk", [True, False])
def test_a_new_play_on_the_key_of_a_stored_play_is_skipped_in_a_bulk_load_too(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    paths_taken: dict[str, int],
    in_bulk: bool,
) -> None:
    policy = ALWAYS_BULK if in_bulk else BulkPolicy()
    track = "0000000000000000000001"
    with store.begin() as conn:
        conn.execute(insert(tracks).values(id=track, name="Song", is_resolved=True))
        # A synced play ending at 10:00:00.000 exactly.
        conn.execute(
            insert(plays).values(
                user_id="u",
                played_at=datetime(2025, 5, 1, 10, 0, tzinfo=UTC),
                track_id=track,
                source="api",
                ms_played=200_000,
                ms_played_source="estimate",
            )
        )
    record = {
        "ts": "2025-05-01T10:00:00Z",
        "platform": "ios",
        "ms_played": 5_000,
        "conn_country": "DE",
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Band",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": f"spotify:track:{track}",
        "reason_start": "clickrow",
        "reason_end": "fwdbtn",
        "shuffle": False,
        "skipped": True,
        "offline": False,
        "offline_timestamp": 1746093595,
        "incognito_mode": False,
    }
    # A 5 s skip ending on the synced play's very instant, and a long play 2 s later: the long one
    # is the synced play (a skip ranks after it), so the skip is decided new on a stored key, which
    # only the unique key can skip. Later plays of other tracks keep the file big enough to matter.
    records = [
        record,
        dict(record, ts="2025-05-01T10:00:02Z", ms_played=180_000, skipped=False, reason_end="trackdone"),
    ] + [
        dict(
            record,
            ts=f"2025-05-01T{11 + i // 60}:{i % 60:02d}:00Z",
            spotify_track_uri=f"spotify:track:{i:022d}",
        )
        for i in range(2, 40)
    ]
    path = tmp_path / "Streaming_History_Audio_2025.json"
    path.write_text(json.dumps(records))
    result = import_paths(store, [path], SystemClock(), user_id="u", policy=policy)
    assert result.ok
    assert (result.totals()["new"], result.totals()["merged"], result.totals()["known"]) == (38, 1, 1)
    with store.connect() as conn:
        ours = conn.execute(
            select(plays.c.played_at, plays.c.source, plays.c.ms_played).where(plays.c.track_id == track)
        ).all()
    assert [(row.source, row.ms_played) for row in ours] == [("both", 180_000)]
    assert _count(store, plays) == 39
    # The file stayed on the staged way (its ON CONFLICT) although it was a bulk load.
    assert paths_taken == {"copy": 0, "staged": 1}


def test_bulk_copy_keeps_text_that_copy_must_escape(
    store: Store, tmp_path: Path, bulk: list[bool], paths_taken: dict[str, int]
) -> None:
    # Files cannot hold control characters (the reader refuses them), but a backslash is COPY's
    # escape and \N its null; the user id (--user) may hold anything.
    odd = "back\\slash, \\N, \\t, \\\\ end\\"
    records = [
        {
            "ts": f"2025-05-01T10:{m:02d}:00Z",
            "platform": odd,
            "ms_played": 60_000 + m,
            "conn_country": "DE",
            "ip_addr": "192.0.2.1",
            "user_agent_decrypted": odd,
            "master_metadata_track_name": odd,
            "master_metadata_album_artist_name": odd,
            "master_metadata_album_album_name": odd,
            "spotify_track_uri": f"spotify:track:{m:022d}",
            "reason_start": "clickrow",
            "reason_end": "trackdone",
            "shuffle": None,
            "skipped": m % 2 == 0,
            "offline": True,
            # Seconds, none, or out of range (stored as unknown).
            "offline_timestamp": [1746093000 + m, None, 0][m % 3],
            "incognito_mode": False,
        }
        for m in range(30)
    ]
    path = tmp_path / "Streaming_History_Audio_2025.json"
    path.write_text(json.dumps(records))
    result = import_paths(
        store, [path], SystemClock(), user_id="tab\tuser", keep_personal=True, policy=ALWAYS_BULK
    )
    assert [f.message for f in result.files] == [None]
    assert bulk == [True] and result.ok and result.totals()["new"] == 30
    assert paths_taken["copy"] == (1 if store.dialect == "postgresql" else 0)
    with store.connect() as conn:
        rows = conn.execute(
            select(
                plays.c.user_id, plays.c.platform, plays.c.user_agent, plays.c.offline_at, plays.c.skipped
            ).order_by(plays.c.track_id)  # offline plays move to their real end: not in file order
        ).all()
        names = set(conn.execute(select(tracks.c.name)).scalars())
    assert names == {odd}
    assert [tuple(row) for row in rows] == [
        (
            "tab\tuser",
            odd,
            odd,
            [datetime.fromtimestamp(1746093000 + m, UTC), None, None][m % 3],
            m % 2 == 0,
        )
        for m in range(30)
    ]


def test_copy_instants_match_datetime() -> None:
    from brapped.imports.staging import copy_instants as _copy_instants

    values = [0, 1, 999, 1000, 86_399_999, 86_400_000, 1_746_093_000_123, 4_102_444_799_999, -1, None]
    expected = [
        "\\N" if v is None else datetime.fromtimestamp(v / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        for v in values
    ]
    assert _copy_instants(values) == expected
    assert _copy_instants([5, 6]) == ["1970-01-01 00:00:00.005", "1970-01-01 00:00:00.006"]


def test_bulk_load_recomputes_the_estimates_of_api_plays_after_a_file(
    store: Store, tmp_path: Path, bulk: list[bool]
) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(tracks).values(id="apitrack", name="Other", duration_ms=400_000, is_resolved=True)
        )
        conn.execute(
            insert(plays).values(
                user_id="u",
                played_at=datetime(2025, 5, 1, 10, 3, tzinfo=UTC),
                track_id="apitrack",
                source="api",
                ms_played=400_000,
                ms_played_source="estimate",
            )
        )
    record = {
        "ts": "2025-05-01T10:00:00Z",
        "ms_played": 100_000,
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Band",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": "spotify:track:0000000000000000000001",
    }
    # A later file whose plays all end after the API play: nothing to re-estimate there.
    late = dict(record, ts="2025-05-02T10:00:00Z", spotify_track_uri="spotify:track:0000000000000000000002")
    folder = tmp_path / "export"  # not tmp_path, which holds the database and its journal files
    folder.mkdir()
    paths = [folder / "Streaming_History_Audio_2025_0.json", folder / "Streaming_History_Audio_2025_1.json"]
    paths[0].write_text(json.dumps([record]))
    paths[1].write_text(json.dumps([late]))
    result = import_paths(store, [folder], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert bulk == [True] and result.ok and result.totals()["new"] == 2
    with store.connect() as conn:
        estimate = conn.execute(select(plays.c.ms_played).where(plays.c.track_id == "apitrack")).scalar()
        follows = in_use(conn, "u").follows
    # The export play ended at 10:00:00, three minutes before: the API play lasted at most that,
    # times the listener's calibrated share of gaps shorter than the track (docs/accuracy.md).
    assert 0 < follows < 1
    assert estimate == round(180_000 * follows)


def test_bulk_load_a_file_whose_copy_fails_rolls_back_alone(
    store: Store, tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _export(tmp_path)[:3]
    # The same file twice, once told (wrongly) that nothing is stored in its period: its COPY
    # (PostgreSQL) or its staged insert without ON CONFLICT (SQLite) meets the unique key.
    again = tmp_path / "again" / files[0].name.replace("_0.", "_0b.")
    again.parent.mkdir()
    again.write_bytes(files[0].read_bytes())
    decide = import_decide.decide_music

    def blind(conn: Any, user: str, rows: Any) -> Any:
        decisions, clash = decide(conn, user, rows)
        return (None, False) if decisions is not None and len(rows) > 100 else (decisions, clash)

    monkeypatch.setattr(import_decide, "decide_music", blind)
    # In the middle: the files after it still load, in the same transaction.
    result = import_paths(
        store, [files[0], again, *files[1:]], SystemClock(), user_id="u", policy=ALWAYS_BULK
    )
    assert bulk == [True]
    assert [f.name for f in result.imported] == [str(f) for f in files]
    assert [f.name for f in result.failed] == [str(again)]
    message = result.failed[0].message or ""
    assert ("duplicate key" if store.dialect == "postgresql" else "UNIQUE constraint failed") in message
    # The failed file left nothing: every stored play is one the others report as new.
    assert _count(store, plays) == sum(f.new for f in result.imported) - _count(store, episode_plays)


def _summary_triggers(store: Store) -> list[tuple[str, str]]:
    """(table, trigger) of the triggers guarding the report summaries, and whether enabled."""
    with store.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT c.relname, t.tgname || ':' || t.tgenabled::text FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'summaries%%' ORDER BY 1, 2"
            ).all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'summaries%' "
                "ORDER BY 1, 2"
            ).all()
    return [(str(table), str(name)) for table, name in rows]


def test_bulk_load_marks_the_summaries_stale_and_puts_their_triggers_back(
    store: Store, tmp_path: Path, bulk: list[bool]
) -> None:
    from brapped.insights import rollups

    files = _export(tmp_path)
    triggers = _summary_triggers(store)
    assert len(triggers) >= 8
    import_paths(store, [files[-1]], SystemClock(), user_id="u", policy=ALWAYS_BULK)  # the newest plays first
    rollups.refresh_store(store, "Europe/Berlin", 30_000, datetime.now(UTC))
    with store.connect() as conn:
        built = rollups.state(conn)
        assert built is not None and not built.stale

    result = import_paths(store, files[:-1], SystemClock(), user_id="u", policy=ALWAYS_BULK)  # older, in bulk
    assert bulk == [True, True] and result.ok
    assert _summary_triggers(store) == triggers  # back, and enabled again
    with store.connect() as conn:
        found = rollups.state(conn)
        assert found is not None and found.stale  # the old plays it added are in no sum
    # And they work again: a rebuild, then one more old play, stale again.
    rollups.refresh_store(store, "Europe/Berlin", 30_000, datetime.now(UTC))
    with store.begin() as conn:
        first = conn.execute(select(plays).order_by(plays.c.played_at).limit(1)).one()._mapping
        row = {k: v for k, v in first.items() if k != "id"}
        conn.execute(insert(plays).values({**row, "played_at": row["played_at"] - timedelta(days=1)}))
    with store.connect() as conn:
        again = rollups.state(conn)
        assert again is not None and again.stale


def test_sqlite_bulk_load_keeps_only_the_end_time_index_of_plays_current(
    tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")
    files = _export(tmp_path)
    during: list[set[str]] = []
    load_staged = import_load.load_staged

    def loading(store: Store, staged: Any, *args: Any, **kwargs: Any) -> Any:
        conn = args[-1].conn  # the bulk load's own connection, inside its transaction
        during.append(set(conn.exec_driver_sql("SELECT name FROM pragma_index_list('plays')").scalars()))
        return load_staged(store, staged, *args, **kwargs)

    monkeypatch.setattr(import_load, "load_staged", loading)
    before = _schema(store)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert bulk == [True] and result.ok and during
    # The unique key's own index, the end-time index (files come in time order) and the estimated
    # plays' (an import adds none to it): no other.
    kept = {"ix_plays_played_at", "ix_plays_estimated", "sqlite_autoindex_plays_1"}
    assert all(names == kept for names in during)
    assert _schema(store) == before
    with store.connect() as conn:
        checked = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
        by_index = conn.exec_driver_sql("SELECT count(*) FROM plays INDEXED BY ix_plays_played_at").scalar()
        total = conn.exec_driver_sql("SELECT count(*) FROM plays NOT INDEXED").scalar()
    assert checked == "ok" and by_index == total > 0
    store.close()


def test_a_zip_loads_in_bulk_as_the_folder_of_its_files_does(
    store: Store, tmp_path: Path, bulk: list[bool]
) -> None:
    """Spotify's zip lists its read-me PDF before the history: the first history file decides."""
    generate_exports(tmp_path / "zipped", plays=2500, seed=4, max_bytes=200_000, as_zip=True)
    archive = tmp_path / "zipped" / "my_spotify_data.zip"
    folder = tmp_path / "folder"
    with zipfile.ZipFile(archive) as opened:  # our own zip: its names are safe to extract
        opened.extractall(folder)
    assert next(p.suffix for p in sorted(folder.rglob("*.*"))) == ".pdf"

    from_zip = import_paths(store, [archive], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    from_folder = import_paths(reference, [folder], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert bulk == [True, True]
    assert from_zip.ok and from_folder.ok and len(from_zip.imported) >= 5
    assert from_zip.totals() == from_folder.totals()
    assert _plays(store) == _plays(reference)
    assert _dimensions(store) == _dimensions(reference)
    reference.close()


def test_a_postgresql_bulk_load_leaves_statistics_of_its_plays(
    pg_url: str, tmp_path: Path, bulk: list[bool]
) -> None:
    # The import's next queries over every play are planned with them (see `bulk_session`).
    store = open_store(pg_url)
    files = _export(tmp_path)
    policy = BulkPolicy(min_plays=1)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=policy)
    assert bulk == [True] and result.ok
    with store.connect() as conn:
        analyzed = conn.exec_driver_sql(
            "SELECT attname FROM pg_stats WHERE tablename = 'plays' AND schemaname = current_schema()"
        ).scalars()
        assert {"user_id", "played_at", "track_id", "ms_played"} <= set(analyzed)
    store.close()


def test_postgresql_records_a_content_once_under_its_first_name(pg_url: str, tmp_path: Path) -> None:
    # `import_load.record_file` inserts the file's row only where no row has its hash, in one
    # statement: its typed values must reach PostgreSQL as the columns' types.
    store = open_store(pg_url)
    files = _export(tmp_path)
    copy = files[0].with_name("Streaming_History_Audio_2099_99.json")  # ordered after the others
    copy.write_bytes(files[0].read_bytes())
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u")
    assert result.ok and len(result.imported) == len(files) + 1
    with store.connect() as conn:
        rows = conn.execute(
            select(
                imported_files.c.name,
                imported_files.c.records,
                imported_files.c.first_played_at,
                imported_files.c.last_played_at,
                imported_files.c.run_id,
            )
        ).all()
    store.close()
    by_name = {Path(row.name).name: row for row in rows}
    assert sorted(by_name) == sorted(path.name for path in files)
    first = by_name[files[0].name]
    records = json.loads(files[0].read_text())
    assert first.records == len(records) and first.run_id == result.run_id
    ends = sorted(datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for r in records)
    # Offline plays move to their real end, which may come before the file's first stamp.
    assert first.first_played_at <= ends[0] and first.last_played_at == ends[-1]


@pytest.mark.parametrize("width", [64, 32])  # Python's hashes; narrower ones: the texts kept
def test_dimension_fields_are_noted_by_hash_up_to_their_limit(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_rows.sys, "hash_info", SimpleNamespace(width=width))
    noted = import_rows.NotedDimensions(3)
    assert noted._key is (hash if width == 64 else str)
    monkeypatch.undo()
    first = [f"t{n}\x1fname {n}\x1fa\x1fArtist\x1fb\x1fAlbum\x1fspotify:track:t{n}" for n in range(4)]
    noted.note(first[:2])
    assert noted.fresh(first) == [False, False, True, True] and len(noted) == 2
    noted.note(first[2:])  # under the limit when noted: all of them, past it after
    assert len(noted) == 4 and noted.fresh(first) == [False] * 4
    noted.note(["t9\x1fmore"])  # past the limit: not noted, so its file stages it again
    assert noted.fresh(["t9\x1fmore", first[0]]) == [True, False] and len(noted) == 4


def test_a_sqlite_bulk_load_reuses_its_staging_tables_and_drops_them_at_its_end(
    tmp_path: Path, bulk: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropping and making them again for each file changed the schema twice a file, and each
    # change made every statement prepared on the connection be prepared anew.
    store = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")
    files = _export(tmp_path)
    versions: list[int] = []
    raws: list[Any] = []
    load_staged = import_load.load_staged

    def loading(store: Store, staged: Any, *args: Any, **kwargs: Any) -> Any:
        conn = args[-1].conn  # the bulk load's own connection, inside its transaction
        raws.append(conn.connection.dbapi_connection)
        report = load_staged(store, staged, *args, **kwargs)
        versions.append(conn.exec_driver_sql("PRAGMA temp.schema_version").scalar())
        return report

    monkeypatch.setattr(import_load, "load_staged", loading)
    result = import_paths(store, [files[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert bulk == [True] and result.ok and len(versions) >= 3
    assert len(set(versions[1:])) == 1  # made by the first file, reused by every other
    left = raws[-1].execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'").fetchall()
    assert left == []
    store.close()


def test_a_bulk_load_after_account_data_replaces_its_plays_as_file_by_file(
    store: Store, tmp_path: Path, bulk: list[bool], paths_taken: dict[str, int]
) -> None:
    """Spotify sends account data first: the whole extended history imported later (a bulk load)
    moves the account plays it repeats to their tracks, in files the worker staged too."""
    files = _export(tmp_path)
    by_name = {path.name: path for path in files}
    staged, first = by_name["Streaming_History_Audio_2025_2.json"], files[0]
    # An account-data play of a file the worker stages (not the first), and one of the first.
    account = []
    for path in (staged, first):
        record = next(r for r in json.loads(path.read_bytes())[30:] if r["spotify_track_uri"])
        ended = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        account.append(
            {
                "endTime": ended.strftime("%Y-%m-%d %H:%M"),
                "artistName": record["master_metadata_album_artist_name"],
                "trackName": record["master_metadata_track_name"],
                "msPlayed": record["ms_played"],
            }
        )
    account_file = tmp_path / "account" / "StreamingHistory_music_0.json"
    account_file.parent.mkdir()
    account_file.write_text(json.dumps(account))

    def import_both(target: Store, policy: BulkPolicy) -> Any:
        first = import_paths(target, [account_file], SystemClock(), user_id="u", policy=FILE_BY_FILE)
        assert first.ok and first.totals()["new"] == 2
        return import_paths(target, [files[0].parent], SystemClock(), user_id="u", policy=policy)

    result = import_both(store, ALWAYS_BULK)
    assert bulk == [True]
    assert result.ok, [f.message for f in result.failed]
    assert result.totals()["replaced"] == 2
    replacing = {Path(f.name).name: f.replaced for f in result.files if f.replaced}
    assert replacing == {first.name: 1, staged.name: 1}
    if store.dialect == "sqlite":
        # The account file's plays, then each file's: all but the first from the worker's image.
        assert paths_taken["staged"] == 1 + len(files)

    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    expected = import_both(reference, FILE_BY_FILE)
    assert outcome(expected) == outcome(result)
    assert contents(store) == contents(reference)
    reference.close()


def _account_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Account data's rows of these extended-history records (the minute of their end)."""
    return [
        {
            "endTime": datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M"),
            "artistName": r["master_metadata_album_artist_name"],
            "trackName": r["master_metadata_track_name"],
            "msPlayed": r["ms_played"],
        }
        for r in records
    ]


@pytest.mark.parametrize("how", ["bulk", "replaced"])
def test_an_import_that_adds_nothing_new_leaves_the_summaries_fresh(
    store: Store, tmp_path: Path, bulk: list[bool], how: str
) -> None:
    """A bulk load marks the summaries stale whatever it adds, and plays replacing account data
    change them: either way the import rebuilds them, as a rebuild from scratch gives them."""
    clock = SystemClock()

    def summaries() -> None:
        assert try_refresh(store, "UTC", 30_000, clock.now()) is not None

    files = _export(tmp_path)
    records = json.loads(files[0].read_bytes())
    again = tmp_path / "again"
    again.mkdir()
    if how == "bulk":
        first = import_paths(store, [files[0]], clock, user_id="u", policy=FILE_BY_FILE, summaries=summaries)
        # The same plays in three files of other bytes: read (not known by their content), three
        # times what is stored (a bulk load), and all known.
        for number in range(3):
            text = json.dumps(records, indent=number)
            (again / f"Streaming_History_Audio_2025_{number}.json").write_text(text)
        expected = {"new": 0, "known": 3 * first.totals()["new"], "replaced": 0}
    else:
        # Three plays summed (more than a week before the last), and the export's last one.
        music = [r for r in records if r["spotify_track_uri"]]
        last = max((r for path in files for r in json.loads(path.read_bytes())), key=itemgetter("ts"))
        assert last["ts"] > "2025-12-26" > music[12]["ts"]
        account = tmp_path / "StreamingHistory_music_0.json"
        account.write_text(json.dumps(_account_rows([*music[10:13], last])))
        import_paths(store, [account], clock, user_id="u", policy=FILE_BY_FILE, summaries=summaries)
        (again / "Streaming_History_Audio_2025_0.json").write_text(json.dumps(music[10:13]))
        expected = {"new": 0, "known": 0, "replaced": 3}
    before = _totals(store)
    with store.connect() as conn:
        state = summary_state_of(conn)
        assert state is not None and not state.stale
    result = import_paths(store, [again], clock, user_id="u", policy=ALWAYS_BULK, summaries=summaries)
    assert result.ok and {k: result.totals()[k] for k in expected} == expected
    assert bulk == ([True] if how == "bulk" else [])
    with store.connect() as conn:
        state = summary_state_of(conn)
        assert state is not None and not state.stale
    kept = _totals(store)
    assert (kept == before) == (how == "bulk")  # replaced plays moved to their tracks' sums
    with store.begin() as conn:
        mark_stale(conn)
    assert try_refresh(store, "UTC", 30_000, clock.now()) is not None
    assert _totals(store) == kept


def _totals(store: Store) -> list[list[tuple[Any, ...]]]:
    with store.connect() as conn:
        return [
            [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in (track_totals, hour_totals)
        ]
