"""Bad and hostile input through the real command line, one file per `brapped import`, in a sandbox.

The corpus: the import tests' 35 broken files (tests/imports/test_bad_input.py) plus hostile cases of
our own (terminal escapes and newlines in file names, NaN, gzip in disguise, a real-size zip bomb, a
sparse 100 MB file, a zip symlink entry, a FIFO). For each one: exit code 1, one clear error line
that names the file, the database unchanged (every row of every table compared, over a database
that already holds plays), and nothing created or changed anywhere in the sandbox. Files built to
exhaust memory (millions of tiny values, huge texts, lying zip sizes) run through `brapped import`
one by one too, with the peak memory of its processes measured.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import sys
import time
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


# -- memory: whatever a file holds, the import's memory stays bounded ----------------------------

MB = 1024 * 1024
ENTRY = "Streaming_History_Audio_2020_{}.json"
PLAY = b'{"ts":"2020-01-01T00:00:00Z","ms_played":0}'
# Every key each version of Spotify's files writes, with the shortest values: a record the fast
# reading decodes (and refuses only once it has them all).
FULL_PLAY = json.dumps(
    dict.fromkeys(
        [
            "platform", "conn_country", "reason_start", "reason_end", "master_metadata_track_name",
            "master_metadata_album_artist_name", "master_metadata_album_album_name",
            "spotify_track_uri", "spotify_episode_uri", "episode_name", "episode_show_name", "shuffle",
            "skipped", "offline", "incognito_mode", "offline_timestamp",
        ]
    )
    | {"ts": "2020-01-01T00:00:00Z", "ms_played": 0},
    separators=(",", ":"),
).encode()  # fmt: skip


def _list(unit: bytes, size: int, head: bytes = b"") -> bytes:
    """A JSON list of about `size` bytes: `head`, then `unit` again and again."""
    return b"[" + head + unit + (b"," + unit) * ((size - 3 - len(head) - len(unit)) // (len(unit) + 1)) + b"]"


def _entries(*contents: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method, compresslevel=1) as archive:
        for number, content in enumerate(contents):
            archive.writestr(ENTRY.format(number), content)
    return buffer.getvalue()


def _liar(method: int) -> bytes:
    """200 MB inside an entry whose central directory says 1 KB."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", method) as archive,
        archive.open(ENTRY.format(0), "w", force_zip64=True) as member,
    ):
        for _ in range(200):
            member.write(b" " * MB)
    data = bytearray(buffer.getvalue())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (1024).to_bytes(4, "little")
    return bytes(data)


def _count(listed: bytes) -> int:
    """The records of a list `_list` made (their units hold no comma of their own, or all alike)."""
    return listed.count(b"{")


def _objects(size: int) -> bytes:
    return _list(b"{}", size)


def _plays(size: int) -> bytes:
    return _list(PLAY, size)


def _full_plays(size: int) -> bytes:
    return _list(FULL_PLAY, size)


def _zeros_after_a_play(size: int) -> bytes:
    return _list(b"0", size, head=PLAY + b",")


def _long_name(size: int) -> bytes:
    return b'[{"ts":"2020-01-01T00:00:00Z","ms_played":0,"platform":"\xf0\x9f\x8e\xb5' + b"a" * size + b'"}]'


def _deep(size: int) -> bytes:
    return b"[" * (size // 2) + b"]" * (size // 2)


BIG = 63 * MB  # the issue's: past the 32 MB a file may take
MOST = 31 * MB  # within it
TOO_BIG = "larger than 32 MB; Spotify's own export files are far smaller, so this is not one of them"
NOT_A_PLAY = "record 0: not a play in any Spotify export format"
TOO_MANY = "more than the 50,000 one file may hold; Spotify's own files hold about 16,000 records each"
TOO_MANY_VALUES = (
    "more than 1,600,000 values, more than one file may hold (50,000 records); Spotify's own files "
    "hold about 16,000 records each"
)
LONG = "bytes long, more than the 262,144 a record may take (Spotify's are under 2 KB)"
DEEP = "not valid JSON (truncated or damaged?): nested too deeply"

# zip name -> (its bytes, what the error says about its first entry after the entry's name)
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "issue.zip": (lambda: _entries(_objects(BIG)), TOO_BIG),
    "issue_six.zip": (lambda: _entries(*[_objects(BIG)] * 6), TOO_BIG),
    "objects.zip": (lambda: _entries(_objects(MOST)), NOT_A_PLAY),
    "plays.zip": (lambda: _entries(_plays(MOST)), f"{_count(_plays(MOST)):,} records, {TOO_MANY}"),
    "full_plays.zip": (
        lambda: _entries(_full_plays(MOST)),
        f"{_count(_full_plays(MOST)):,} records, {TOO_MANY}",
    ),
    "zeros.zip": (lambda: _entries(_zeros_after_a_play(MOST)), TOO_MANY_VALUES),
    "long_name.zip": (lambda: _entries(_long_name(MOST)), f"record 0: {len(_long_name(MOST)) - 2:,} {LONG}"),
    "deep.zip": (lambda: _entries(_deep(MOST)), DEEP),
    "deflate_liar.zip": (
        lambda: _liar(zipfile.ZIP_DEFLATED),
        f"damaged zip entry: Bad CRC-32 for file {ENTRY.format(0)!r}",
    ),
    "bzip2_liar.zip": (
        lambda: _liar(zipfile.ZIP_BZIP2),
        "compressed with method 12, which brapped does not open (Spotify's zips use deflate): unzip it "
        "and import the folder",
    ),
    "all_kinds.zip": (
        lambda: _entries(
            *(make(MOST) for make in (_objects, _plays, _full_plays, _zeros_after_a_play, _long_name, _deep))
        ),
        NOT_A_PLAY,
    ),
}


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            found.setdefault(int(stat_line.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    return found


def _peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def _run_measured(args: list[str], env: dict[str, str]) -> tuple[int, str, int]:
    """Run `python -m brapped ARGS`: (exit code, stderr, peak MB of its process tree).

    The tree's peak is at most the sum of each process's own peak, its high-water mark, which the
    kernel keeps: sampled every few ms while the process lives. (Not `ru_maxrss`: Linux keeps
    across `exec` the high-water mark of the forked copy of this test process.)"""
    process = subprocess.Popen(
        [sys.executable, "-m", "brapped", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    peaks: dict[int, int] = {}
    while True:
        children, todo = _children(), [process.pid]
        while todo:
            pid = todo.pop()
            peaks[pid] = max(peaks.get(pid, 0), _peak_kib(pid))
            todo.extend(children.get(pid, []))
        # Reaped only after its last sample, so its high-water mark is read at its very end.
        ended, status = os.waitpid(process.pid, os.WNOHANG)
        if ended:
            break
        time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None and process.stdout is not None
    stderr = process.stderr.read().decode()
    process.stdout.close()
    process.stderr.close()
    return process.returncode, stderr, sum(peaks.values()) // 1024


def _counts(url: str) -> dict[str, int]:
    store = open_store(url, migrate=False)
    try:
        with store.connect() as conn:
            return {
                t.name: len(conn.execute(select(t)).all()) for t in tables.TABLES_IN_ORDER if t.name != "runs"
            }
    finally:
        store.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_no_file_takes_the_import_past_a_bounded_memory(tmp_path: Path) -> None:
    """Every hostile file fails alone, named, leaves the database as it was, and the import's
    processes (the importer and its worker) never hold more than 300 MB at once, well under the
    500 MB the issue allows: a 63 MB entry of `[{},{},…]` once took 2 GB, six of them 3.7 GB."""
    url = f"sqlite:///{tmp_path / 'brapped.db'}"
    env = clean_env(tmp_path / "home")
    good = tmp_path / "Streaming_History_Audio_2024.json"
    good.write_bytes(
        json.dumps([dict(GOOD_RECORD, ts=f"2024-01-01T10:{m:02d}:00Z") for m in range(20)]).encode()
    )
    code, stderr, _ = _run_measured(["--db", url, "import", str(good), "--user", "u"], env)
    assert code == 0, stderr
    before = _counts(url)
    assert before["plays"] == 20

    problems = []
    for name, (content, expected) in HOSTILE.items():
        path = tmp_path / name
        path.write_bytes(content())
        code, stderr, peak = _run_measured(["--db", url, "import", str(path), "--user", "u"], env)
        path.unlink()
        if peak >= 300:
            problems.append(f"{name}: {peak} MB")
        errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
        first = f"Error: {path}!{ENTRY.format(0)}: {expected}"
        if code != 1 or not errors or errors[0] != first:
            problems.append(f"{name}: exit {code}, {errors[:1]} instead of {first!r}")
        if _counts(url) != before:
            problems.append(f"{name}: the database changed")
            before = _counts(url)
    assert problems == []
