"""Bad and hostile input through the real command line, one file per `brapped import`, in a sandbox.

The corpus: the import tests' 35 broken files (tests/imports/test_bad_input.py) plus hostile cases of
our own (terminal escapes and newlines in file names, NaN, gzip in disguise, a real-size zip bomb, a
sparse 100 MB file, a zip symlink entry, a FIFO). For each one: exit code 1, one clear error line
that names the file, the database unchanged (every row of every table compared, over a database
that already holds plays), and nothing created or changed anywhere in the sandbox.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brapped.cli import cli
from brapped.store import open_store, tables
from tests.imports.test_bad_input import CORPUS, GOOD_RECORD, _ext
from tests.reliability.conftest import clean_env


def _zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _bomb() -> bytes:
    # 100 MB of zeros inside, about 100 kB outside: past the importer's real 64 MB cap.
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("Streaming_History_Audio_2023.json", "w", force_zip64=True) as member,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(100):
            member.write(chunk)
    return buffer.getvalue()


def _deep_objects() -> bytes:
    return b'{"a":' * 100_000 + b"1" + b"}" * 100_000


# file name -> content (a name may hold what a terminal would interpret)
OURS: dict[str, Callable[[], bytes]] = {
    "Streaming_History_Audio_\x1b[2J\x1b[31mred.json": lambda: b"not json",
    "Streaming_History_Audio_a\nError: everything is fine.json": lambda: b"[1]",
    "Streaming_History_Audio_nan.json": lambda: b'[{"ts": NaN}]',
    "Streaming_History_Audio_infinity.json": lambda: (
        json.dumps([dict(GOOD_RECORD)]).encode().replace(b"61839", b"Infinity")
    ),
    "Streaming_History_Audio_gzip.json": lambda: gzip.compress(_ext()),
    "Streaming_History_Audio_true.json": lambda: b"true",
    "Streaming_History_Audio_string.json": lambda: b'"Streaming_History"',
    "Streaming_History_Audio_nulls.json": lambda: b"[" + b",".join([b"null"] * 200_000) + b"]",
    "Streaming_History_Audio_deep_objects.json": _deep_objects,
    "bomb.zip": _bomb,
    "zip_symlink.zip": lambda: _zip({}, symlink="Streaming_History_Audio_2023.json"),
    "empty.zip": lambda: _zip({}),
}


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time, except the database's files."""
    found = {}
    for path in root.rglob("*"):
        if path.name.startswith("brapped.db"):
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


def _dump(url: str) -> dict[str, list[str]]:
    store = open_store(url, migrate=False)
    try:
        with store.connect() as conn:
            return {
                t.name: sorted(repr(tuple(r)) for r in conn.execute(select(t)))
                for t in tables.TABLES_IN_ORDER
                if t.name != "runs"  # the failed import is recorded: that is bookkeeping, not data
            }
    finally:
        store.close()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    box = tmp_path / "sandbox"
    (box / "home").mkdir(parents=True)
    (box / "cwd").mkdir()
    monkeypatch.chdir(box / "cwd")
    for key in list(os.environ):
        if key.startswith(("BRAPPED_", "SPOTIFY_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BRAPPED_HOME", str(box / "home"))
    return box


def _corpus(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for name, (content, _fragment) in CORPUS.items():
        (folder / name).write_bytes(content())
        paths.append(folder / name)
    for name, make in OURS.items():
        (folder / name).write_bytes(make())
        paths.append(folder / name)
    sparse = folder / "Streaming_History_Audio_sparse.json"
    with sparse.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # 100 MB of nothing, no disk used
    paths.append(sparse)
    hollow = folder / "Streaming_History_Audio_2022.json"
    hollow.mkdir()  # a folder with a history file's name, holding nothing
    paths.append(hollow)
    return paths


def test_every_hostile_file_fails_alone_clearly_and_changes_nothing(db_url: str, sandbox: Path) -> None:
    runner = CliRunner()
    good = sandbox / "good" / "Streaming_History_Audio_2024.json"
    good.parent.mkdir()
    good.write_bytes(
        json.dumps([dict(GOOD_RECORD, ts=f"2024-01-01T10:{m:02d}:00Z") for m in range(20)]).encode()
    )
    seeded = runner.invoke(cli, ["--db", db_url, "import", str(good), "--user", "u"])
    assert seeded.exit_code == 0, seeded.stderr

    paths = _corpus(sandbox / "corpus")
    assert len(paths) >= 45
    before_db, before_tree = _dump(db_url), _tree(sandbox)
    problems = []
    for path in paths:
        result = runner.invoke(cli, ["--db", db_url, "import", str(path), "--user", "u"])
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        shown = path.name.replace("\n", "\\n").replace("\x1b", "\\x1b")
        if result.exit_code != 1 or (result.exception and not isinstance(result.exception, SystemExit)):
            problems.append(f"{shown!r}: exit {result.exit_code} {result.exception!r}")
        elif not errors:
            problems.append(f"{shown!r}: no error line in {result.stderr!r}")
        elif not any(path.name.split("\n")[0].split("\x1b")[0] in e for e in errors):
            problems.append(f"{shown!r}: the error does not name the file: {errors}")
        if _dump(db_url) != before_db:
            problems.append(f"{shown!r}: the database changed")
            before_db = _dump(db_url)
        if _tree(sandbox) != before_tree:
            problems.append(f"{shown!r}: files changed in the sandbox")
            before_tree = _tree(sandbox)
    assert problems == []


def test_file_names_cannot_drive_the_terminal(sandbox: Path) -> None:
    """Names with terminal escapes or newlines are shown escaped: they neither drive the terminal nor
    forge an output line."""
    folder = sandbox / "names"
    folder.mkdir()
    hostile = {
        "Streaming_History_Audio_\x1b[2J\x1b[31mred.json": b"not json",
        "Streaming_History_Audio_a\nError: everything is fine.json": b"[1]",
    }
    for name, data in hostile.items():
        (folder / name).write_bytes(data)
    (folder / "names.zip").write_bytes(_zip({"Streaming_History_Audio_\x1b]0;pwned\x07.json": b"{}"}))
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{sandbox / 'brapped.db'}", "import", str(folder)])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert not [line for line in result.stderr.splitlines() if line.startswith("Error: everything is fine")]


def test_a_named_pipe_in_the_folder_does_not_hang_the_import(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    os.mkfifo(folder / "Streaming_History_Audio_2023.json")
    (folder / "Streaming_History_Audio_2024.json").write_bytes(_ext(ts="2024-03-01T00:00:00Z"))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "brapped",
                "--db",
                f"sqlite:///{tmp_path / 'b.db'}",
                "import",
                str(folder),
            ],
            env=clean_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=8,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the import hung on a named pipe")
    assert done.returncode == 1
    assert "Streaming_History_Audio_2023.json" in done.stderr
