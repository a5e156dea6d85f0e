"""A bulk import reads its files in a worker process (brapped.imports.worker): the same outcome as
reading them in the loader, whatever goes wrong in or with the worker."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bench.generate import generate_exports
from sqlalchemy import insert, select

from brapped.clock import SystemClock
from brapped.imports import ImportFileError, ParsedFile, Source, iter_inputs, parse_file, staging, worker
from brapped.pipeline import import_load, import_plan, importing, readahead
from brapped.pipeline.import_report import ImportResult
from brapped.pipeline.importing import import_paths
from brapped.store import Store, bulk_session, open_store, staged_plays
from brapped.store.tables import (
    plays,
    tracks,
)
from tests.pipeline.import_contents import ALWAYS_BULK, FILE_BY_FILE, contents, outcome


@pytest.fixture
def export(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "export"
    generate_exports(folder, plays=2500, seed=7, max_bytes=200_000)
    files = sorted(folder.glob("*.json"))
    assert len(files) >= 5
    return files


def _import_order(files: list[Path]) -> list[Path]:
    """`files` in the order an import of their folder takes them (time order, see `ordered`)."""
    by_name = {str(path): path for path in files}
    return [by_name[source.name] for source in import_plan.ordered(iter_inputs([files[0].parent]))]


@pytest.fixture
def worked(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Of a bulk load (`ALWAYS_BULK`), counts the files loaded from a staging image (SQLite), the
    files a worker parsed for the loader (PostgreSQL), the files given to the worker, and the
    files the loader prepared itself rather than wait for the worker (SQLite)."""
    counts = {"staged": 0, "parsed": 0, "submitted": 0, "here": 0}
    load_staged, prepared = import_load.load_staged, readahead.prepared_outcome
    submit = worker.Readers.submit
    prepare_here = readahead.prepare_here

    def counting_here(*args: Any) -> Any:
        counts["here"] += 1
        return prepare_here(*args)

    def counting_staged(*args: Any, **kwargs: Any) -> Any:
        counts["staged"] += 1
        return load_staged(*args, **kwargs)

    def counting_prepared(future: Any, *args: Any) -> Any:
        outcome = prepared(future, *args)
        # Parsed by the worker: its own outcome, not a file read here after the worker failed.
        counts["parsed"] += (
            isinstance(outcome, ParsedFile | staging.CopyFile)
            and future.exception() is None
            and outcome is future.result()
        )
        return outcome

    def counting_submit(self: Any, *args: Any) -> Any:
        counts["submitted"] += 1
        return submit(self, *args)

    monkeypatch.setattr(import_load, "load_staged", counting_staged)
    monkeypatch.setattr(readahead, "prepared_outcome", counting_prepared)
    monkeypatch.setattr(worker.Readers, "submit", counting_submit)
    monkeypatch.setattr(readahead, "prepare_here", counting_here)
    return counts


def _reference(tmp_path: Path, paths: list[Path], setup: Any = None) -> tuple[Store, ImportResult]:
    """The same import file by file, in this process, into a fresh SQLite database."""
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    if setup is not None:
        setup(reference)
    return reference, import_paths(reference, paths, SystemClock(), user_id="u", policy=FILE_BY_FILE)


def _assert_as_file_by_file(
    store: Store,
    result: ImportResult,
    tmp_path: Path,
    paths: list[Path],
    setup: Any = None,
) -> None:
    """`store` and `result` are what the same import file by file gives (`_reference`)."""
    reference, expected = _reference(tmp_path, paths, setup=setup)
    try:
        assert contents(store) == contents(reference)
        assert outcome(result) == outcome(expected)
    finally:
        reference.close()


def test_files_read_by_a_worker_load_as_files_read_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int]
) -> None:
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    # The first file is read here (it tells whether the import is a bulk load), the others by a
    # worker or, on SQLite, by the loader when it would wait for the worker.
    assert worked["submitted"] + worked["here"] == len(export) - 1
    if store.dialect == "sqlite":
        assert worked["staged"] == len(export) - 1
    else:
        assert worked["parsed"] == len(export) - 1
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_a_bad_file_read_by_a_worker_fails_alone_naming_the_file(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int]
) -> None:
    records = json.loads(export[3].read_bytes())
    records[5]["ms_played"] = "long"
    export[3].write_text(json.dumps(records))
    with pytest.raises(ImportFileError) as expected:
        parse_file(str(export[3]), export[3].read_bytes(), datetime.now(UTC))

    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert worked["submitted"] + worked["here"] == len(export) - 1
    assert [(Path(f.name).name, f.message) for f in result.failed] == [(export[3].name, str(expected.value))]
    assert str(export[3]) in str(expected.value) and "record 5" in str(expected.value)
    assert len(result.imported) == len(export) - 1

    # Nothing of the bad file, everything of the others.
    kept = tmp_path / "kept"
    kept.mkdir()
    for path in export:
        if path != export[3]:
            (kept / path.name).write_bytes(path.read_bytes())
    reference, _ = _reference(tmp_path, [kept])
    assert contents(store) == contents(reference)
    reference.close()


def test_a_worker_that_dies_leaves_its_files_to_the_loader(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    submit = worker.WorkerProcess.submit

    def killing(self: Any, *args: Any) -> Any:
        future = submit(self, *args)
        self.kill()  # mid-file, or before it read the job
        return future

    monkeypatch.setattr(worker.WorkerProcess, "submit", killing)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    # Every file read here in the end: those given to the worker from scratch, those the loader
    # took rather than wait, staged.
    assert worked["staged"] == worked["here"] and worked["parsed"] == 0
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_a_source_that_cannot_go_to_a_worker_is_read_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def closures(paths: Any) -> Iterator[Source]:
        for path in export:
            yield Source(str(path), lambda path=path: path.read_bytes())  # a closure does not pickle

    monkeypatch.setattr(importing, "iter_inputs", closures)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    assert worked["submitted"] + worked["here"] == len(export) - 1
    assert worked["staged"] == worked["here"] and worked["parsed"] == 0
    monkeypatch.undo()
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_a_staged_file_merges_with_synced_plays_as_a_file_read_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int]
) -> None:
    # Synced plays inside the fourth file's period: some at a play's very end (same play), some a
    # little off (the merge tolerance), one of another track on an export play's key.
    records = json.loads(export[3].read_bytes())
    tracked = [r for r in records if r.get("spotify_track_uri")]
    chosen = tracked[10:40:3]

    def synced(target: Store) -> None:
        with target.begin() as conn:
            for i, r in enumerate(chosen):
                track = r["spotify_track_uri"].rsplit(":", 1)[1]
                if i == 0:
                    track = "1" * 22
                if conn.execute(select(tracks.c.id).where(tracks.c.id == track)).first() is None:
                    conn.execute(insert(tracks).values(id=track, name=f"Synced {i}", is_resolved=True))
                ended = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) + timedelta(
                    seconds=(i % 3) * 20
                )
                conn.execute(
                    insert(plays).values(
                        user_id="u",
                        played_at=ended,
                        track_id=track,
                        source="api",
                        ms_played=100_000,
                        ms_played_source="estimate",
                    )
                )

    synced(store)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok
    assert result.totals()["merged"] > 0
    if store.dialect == "sqlite":
        assert worked["staged"] == len(export) - 1
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent], setup=synced)


def test_an_import_whose_worker_cannot_start_reads_its_files_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker.sys, "executable", str(tmp_path / "no-such-python"))
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    assert worked == {"staged": 0, "parsed": 0, "submitted": 0, "here": 0}
    monkeypatch.undo()
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


@pytest.mark.parametrize("enabled", [True, False])
def test_an_import_leaves_the_cycle_collector_as_it_found_it(
    store: Store, export: list[Path], worked: dict[str, int], enabled: bool
) -> None:
    import gc

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        seen: list[bool] = []
        result = import_paths(
            store,
            [export[0].parent],
            SystemClock(),
            user_id="u",
            progress=lambda *_: seen.append(gc.isenabled()),
            policy=ALWAYS_BULK,
        )
        assert result.ok and seen and not any(seen)  # paused while it ran
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_staging_image_the_database_refuses_fails_its_file_alone(
    tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: PostgreSQL workers hand back parsed rows, not an image.
    store = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")

    load_image = staged_plays.load_image
    images = {"seen": 0}

    def refusing(conn: Any, image: bytes) -> None:
        images["seen"] += 1
        if images["seen"] == 3:  # the fourth file: the first is read here
            raw = conn.connection.dbapi_connection
            with staged_plays.raw_errors(conn, "deserialize"):
                raw.execute("SELECT * FROM no_such_table")  # a real sqlite3.OperationalError
        load_image(conn, image)

    monkeypatch.setattr(staged_plays, "load_image", refusing)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    fourth = _import_order(export)[3]
    assert [Path(f.name).name for f in result.failed] == [fourth.name]
    message = result.failed[0].message or ""
    assert message.startswith(f"{fourth}: database: ") and "no_such_table" in message
    assert len(result.imported) == len(export) - 1

    kept = tmp_path / "kept"
    kept.mkdir()
    for path in export:
        if path != fourth:
            (kept / path.name).write_bytes(path.read_bytes())
    monkeypatch.undo()
    reference, _ = _reference(tmp_path, [kept])
    assert contents(store) == contents(reference)
    reference.close()
    store.close()


def test_a_zip_s_entries_are_read_by_the_worker_as_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int]
) -> None:
    import zipfile

    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in export:
            z.write(path, f"Spotify Extended Streaming History/{path.name}")
    result = import_paths(store, [archive], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    assert worked["submitted"] + worked["here"] == len(export) - 1
    assert worked["staged" if store.dialect == "sqlite" else "parsed"] == len(export) - 1
    _assert_as_file_by_file(store, result, tmp_path, [archive])


def test_the_loader_prepares_files_itself_rather_than_wait_for_a_slow_worker(
    tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: a PostgreSQL loader waits on its server, not on the worker.
    store = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")
    submit = worker.Readers.submit

    def slow(self: Any, *args: Any) -> Any:
        # The worker's outcome, a good while after the loader would have liked it.
        done: Future[Any] = Future()
        real = submit(self, *args)
        threading.Timer(0.5, lambda: done.set_result(real.result())).start()
        return done

    monkeypatch.setattr(worker.Readers, "submit", slow)
    # The indexes are built once, after the last file.
    built_at: list[int] = []
    build, load_staged = bulk_session.BulkSession.build_indexes, import_load.load_staged
    loaded: list[str] = []

    def building(self: Any) -> None:
        built_at.append(len(loaded))
        build(self)

    def loading(store: Any, staged: Any, *args: Any, **kwargs: Any) -> Any:
        loaded.append(staged.parsed.name)
        return load_staged(store, staged, *args, **kwargs)

    monkeypatch.setattr(bulk_session.BulkSession, "build_indexes", building)
    monkeypatch.setattr(import_load, "load_staged", loading)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    assert built_at == [len(export) - 1]  # the first file is read by the loader, not staged
    assert worked["here"] >= 1 and worked["submitted"] >= 1
    assert worked["submitted"] + worked["here"] == len(export) - 1
    assert len(loaded) == len(export) - 1
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])
    store.close()


def test_a_bad_file_of_a_slow_worker_is_named_while_the_loader_prepares_another(
    tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: the loader prepares the third file itself while the worker is late with the
    # second, a bad one; the report names the second.
    store = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")
    second = _import_order(export)[1]
    records = json.loads(second.read_bytes())
    records[5]["ms_played"] = "long"
    second.write_text(json.dumps(records))
    with pytest.raises(ImportFileError) as expected:
        parse_file(str(second), second.read_bytes(), datetime.now(UTC))
    submit = worker.Readers.submit

    def slow(self: Any, *args: Any) -> Any:
        late: Future[Any] = Future()
        real = submit(self, *args)

        def answer() -> None:
            error = real.exception()
            if error is None:
                late.set_result(real.result())
            else:
                late.set_exception(error)

        threading.Timer(0.5, answer).start()
        return late

    monkeypatch.setattr(worker.Readers, "submit", slow)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert worked["here"] >= 1
    assert [(f.name, f.message) for f in result.failed] == [(str(second), str(expected.value))]
    assert len(result.imported) == len(export) - 1
    store.close()


def test_files_too_big_to_parse_in_the_loader_are_all_the_workers(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int]
) -> None:
    # Files over `parse_here_bytes`: the worker parses every one, the first (which decides) too.
    policy = import_plan.BulkPolicy(min_plays=1, parse_here_bytes=1)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=policy)
    assert result.ok and len(result.imported) == len(export)
    assert worked["submitted"] == len(export) and worked["here"] == 0
    if store.dialect == "sqlite":
        assert worked["staged"] == len(export)
    else:
        assert worked["parsed"] == len(export)
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_a_first_file_the_worker_prepared_for_no_bulk_load_is_read_again_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int]
) -> None:
    # The sizes promise a bulk load (a play a byte), the first file's plays do not.
    policy = import_plan.BulkPolicy(min_plays=100_000, bytes_per_play=1, parse_here_bytes=1)
    assert sum(path.stat().st_size for path in export) >= policy.min_plays
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=policy)
    assert result.ok and len(result.imported) == len(export)
    # The worker had the first file (and the next); what it prepared went unused.
    assert worked["submitted"] >= 1 and worked["staged"] == 0
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


@pytest.mark.parametrize("held_bytes", [1, import_plan.DEFAULT_POLICY.held_bytes])
def test_what_waits_for_the_loader_is_bounded_by_bytes(
    store: Store,
    tmp_path: Path,
    export: list[Path],
    worked: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    held_bytes: int,
) -> None:
    # Files given to the worker and not yet taken by the loader, at each file given: past the
    # first, no more than `held_bytes` of stated sizes (the files here are ~200 KB each).
    waiting: list[int] = []
    submit = worker.Readers.submit

    def watching(self: Any, *args: Any) -> Any:
        waiting.append(worked["submitted"] - worked["taken"])
        return submit(self, *args)

    prepared = readahead.prepared_outcome

    def taking(*args: Any) -> Any:
        worked["taken"] += 1
        return prepared(*args)

    worked["taken"] = 0
    monkeypatch.setattr(worker.Readers, "submit", watching)
    monkeypatch.setattr(readahead, "prepared_outcome", taking)
    policy = import_plan.BulkPolicy(min_plays=1, held_bytes=held_bytes, parse_here_bytes=0)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=policy)
    assert result.ok and len(result.imported) == len(export)
    assert worked["here"] == 0
    if held_bytes == 1:  # a bound below any file's size: one file at a time
        assert max(waiting) == 0
    elif store.dialect == "sqlite":  # under the default, the worker has two in hand (by count)
        assert max(waiting) >= 1
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_the_worker_ends_once_its_last_file_is_taken(
    store: Store, tmp_path: Path, export: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before the load's end (its indexes built), which its memory would otherwise add to.
    started: list[worker.WorkerProcess] = []
    alive_at_end: list[bool] = []
    init, build = worker.WorkerProcess.__init__, bulk_session.BulkSession.build_indexes

    def starting(self: worker.WorkerProcess) -> None:
        init(self)
        started.append(self)

    def building(self: Any) -> None:
        alive_at_end.extend(process._process.poll() is None for process in started)
        build(self)

    monkeypatch.setattr(worker.WorkerProcess, "__init__", starting)
    monkeypatch.setattr(bulk_session.BulkSession, "build_indexes", building)
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    assert started and alive_at_end == [False] * len(started)
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_a_worker_whose_interpreter_prints_still_prepares_the_files(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `sitecustomize` that greets at start-up and keeps printing while the worker works: what
    # a worker prints must not be taken for its outcomes.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys, threading, time\n"
        "print('Welcome to the lab cluster')\n"
        "def chatter():\n"
        "    for _ in range(20_000):\n"
        "        print('I1\\n.', flush=True)\n"  # text that pickle would read as an outcome
        "        time.sleep(0.001)\n"
        "threading.Thread(target=chatter, daemon=True).start()\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    # Files the worker prepared: parsed (PostgreSQL), or staged beyond those the loader staged
    # itself (SQLite).
    assert worked["submitted"] > 0 and worked["parsed"] + worked["staged"] - worked["here"] > 0
    monkeypatch.undo()
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])


def test_output_of_a_worker_that_is_no_outcome_fails_its_files_instead_of_hanging(
    export: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever reading an outcome raises (here what garbage made pickle raise once, seen in a
    # profiler's run), the files waiting for the worker fail, and the worker is ended.
    def undecodable(stream: Any) -> Any:
        raise UnicodeDecodeError("utf-8", b"\x80", 0, 1, "invalid start byte")

    shim = SimpleNamespace(**{name: getattr(pickle, name) for name in pickle.__all__})
    shim.load = undecodable
    monkeypatch.setattr(worker, "pickle", shim)
    process = worker.WorkerProcess()
    try:
        source = Source(str(export[0]), export[0].read_bytes)
        future = process.submit(source, datetime.now(UTC), False, "sqlite", "u")
        assert isinstance(future.exception(timeout=60), worker.WorkerGone)
        assert process._process.wait(timeout=60) != 0  # ended by the loader, not done with its job
    finally:
        process.close(now=True)


def test_a_worker_that_never_says_it_is_ready_is_ended_and_its_files_read_here(
    store: Store, tmp_path: Path, export: list[Path], worked: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Start-up output past what the loader skips (1 MiB) before the worker's marker.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.stdout.write('x' * (2 << 20))\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    started: list[worker.WorkerProcess] = []
    init = worker.WorkerProcess.__init__

    def starting(self: worker.WorkerProcess) -> None:
        init(self)
        started.append(self)

    monkeypatch.setattr(worker.WorkerProcess, "__init__", starting)
    began = time.monotonic()
    result = import_paths(store, [export[0].parent], SystemClock(), user_id="u", policy=ALWAYS_BULK)
    assert result.ok and len(result.imported) == len(export)
    assert worked["submitted"] > 0 and worked["parsed"] == 0 and worked["staged"] == worked["here"]
    # Ended by the loader once it gave up on it: a worker left running (blocked on output nobody
    # reads) is only killed after `close` waited 30 s for it.
    assert started and all(process._process.returncode not in (None, 0) for process in started)
    assert time.monotonic() - began < 25
    monkeypatch.undo()
    _assert_as_file_by_file(store, result, tmp_path, [export[0].parent])
