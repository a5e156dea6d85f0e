"""The bad input corpus: each hostile or broken file fails alone, named, and leaves nothing behind."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from brapped.cli import cli
from brapped.clock import SystemClock
from brapped.imports import ImportFileError, parse_file, sources
from brapped.pipeline.importing import import_paths
from brapped.store import Store, open_store, tables

GOOD_RECORD: dict[str, Any] = {
    "ts": "2023-02-25T11:20:37Z",
    "platform": "android",
    "ms_played": 61839,
    "conn_country": "IN",
    "ip_addr": "192.0.2.222",
    "master_metadata_track_name": "Forever",
    "master_metadata_album_artist_name": "Labrinth",
    "master_metadata_album_album_name": "Euphoria",
    "spotify_track_uri": "spotify:track:6potEImiklXkwD9qFzpu15",
    "episode_name": None,
    "episode_show_name": None,
    "spotify_episode_uri": None,
    "audiobook_title": None,
    "audiobook_uri": None,
    "audiobook_chapter_uri": None,
    "audiobook_chapter_title": None,
    "reason_start": "trackdone",
    "reason_end": "endplay",
    "shuffle": False,
    "skipped": False,
    "offline": False,
    "offline_timestamp": 1677323975,
    "incognito_mode": False,
}
GOOD_ACCOUNT = {
    "endTime": "2023-10-02 23:43",
    "artistName": "Cults",
    "trackName": "Go Outside",
    "msPlayed": 51223,
}


def _ext(**changes: Any) -> bytes:
    """Two good records and a third with `changes` (the bad one is record 2)."""
    second = dict(GOOD_RECORD, ts="2023-02-25T11:25:00Z")
    return json.dumps([GOOD_RECORD, second, dict(GOOD_RECORD, **changes)], ensure_ascii=False).encode()


def _acct(**changes: Any) -> bytes:
    return json.dumps([GOOD_ACCOUNT, dict(GOOD_ACCOUNT, **changes)]).encode()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _deep() -> bytes:
    return b"[" * 5000 + b"]" * 5000


# file name -> (content, a fragment the error must contain)
CORPUS: dict[str, tuple[Callable[[], bytes], str]] = {
    "Streaming_History_Audio_truncated.json": (lambda: _ext()[:-40], "not valid JSON"),
    "Streaming_History_Audio_text.json": (lambda: b"hello, this is not json", "not valid JSON"),
    "Streaming_History_Audio_empty.json": (lambda: b"", "empty file"),
    "Streaming_History_Audio_object.json": (lambda: b'{"ts": 1}', "expected a JSON list"),
    "Streaming_History_Audio_numbers.json": (lambda: b"[1, 2, 3]", "record 0: not a play"),
    "Streaming_History_Audio_deep.json": (_deep, "not valid JSON"),
    "Streaming_History_Audio_ts_number.json": (
        lambda: _ext(ts=1677323975),
        "record 2: ts must be a timestamp",
    ),
    "Streaming_History_Audio_ts_null.json": (
        lambda: _ext(ts=None),
        "record 2: ts must be a timestamp text, not null",
    ),
    "Streaming_History_Audio_ts_bad_date.json": (lambda: _ext(ts="2023-02-30T11:20:37Z"), "not a valid time"),
    "Streaming_History_Audio_ts_garbage.json": (lambda: _ext(ts="yesterday"), "not a valid time"),
    "Streaming_History_Audio_future.json": (lambda: _ext(ts="2099-01-01T00:00:00Z"), "in the future"),
    "Streaming_History_Audio_1999.json": (lambda: _ext(ts="1999-12-31T23:59:59Z"), "before Spotify existed"),
    "Streaming_History_Audio_ms_text.json": (lambda: _ext(ms_played="61839"), "record 2: ms_played must be"),
    "Streaming_History_Audio_ms_negative.json": (lambda: _ext(ms_played=-5), "out of range"),
    "Streaming_History_Audio_ms_huge.json": (lambda: _ext(ms_played=10**20), "out of range"),
    "Streaming_History_Audio_ms_float_huge.json": (lambda: _ext(ms_played=1e300), "out of range"),
    "Streaming_History_Audio_ms_bool.json": (lambda: _ext(ms_played=True), "ms_played must be"),
    "Streaming_History_Audio_control.json": (
        lambda: _ext(master_metadata_track_name="Bad\x00Name\x1b[31m"),
        "control characters",
    ),
    "Streaming_History_Audio_name_number.json": (
        lambda: _ext(master_metadata_track_name=12),
        "master_metadata_track_name must be text",
    ),
    "Streaming_History_Audio_name_huge.json": (
        lambda: _ext(master_metadata_album_artist_name="x" * 100_000),
        "characters long",
    ),
    "Streaming_History_Audio_shuffle_text.json": (lambda: _ext(shuffle="yes"), "shuffle must be true, false"),
    "Streaming_History_Audio_uri_url.json": (
        lambda: _ext(spotify_track_uri="https://evil.example/x"),
        "is not a track URI",
    ),
    "Streaming_History_Audio_uri_sql.json": (
        lambda: _ext(spotify_track_uri="spotify:track:'; DROP TABLE plays;--"),
        "is not a track URI",
    ),
    "Streaming_History_Audio_mixed.json": (
        lambda: json.dumps([GOOD_RECORD, "not a record"]).encode(),
        "record 1: expected an object",
    ),
    "Streaming_History_Audio_latin1.json": (
        lambda: _ext(master_metadata_track_name="Café").replace("Café".encode(), "Café".encode("latin-1")),
        "not UTF-8",
    ),
    "Streaming_History_Audio_utf16.json": (lambda: _ext().decode().encode("utf-16"), "UTF-16"),
    "Streaming_History_Audio_utf32.json": (lambda: _ext().decode().encode("utf-32"), "UTF-32 text"),
    "Streaming_History_Audio_utf32be.json": (
        lambda: b"\x00\x00\xfe\xff" + _ext().decode().encode("utf-32-be"),
        "UTF-32 text",
    ),
    "StreamingHistory_music_0_endtime.json": (lambda: _acct(endTime="2023/10/02 23:43"), "record 1: endTime"),
    "StreamingHistory_music_0_future.json": (lambda: _acct(endTime="2100-01-01 00:00"), "in the future"),
    "StreamingHistory_music_0_ms_null.json": (lambda: _acct(msPlayed=None), "msPlayed must be"),
    "StreamingHistory_music_0_artist_list.json": (
        lambda: _acct(artistName=["a", "b"]),
        "artistName must be text",
    ),
    "StreamingHistory_podcast_0_old.json": (
        lambda: json.dumps(
            [{"endTime": "2005-01-01 10:00", "podcastName": "P", "episodeName": "E", "msPlayed": 1}]
        ).encode(),
        "before Spotify existed",
    ),
    "endsong_0_username.json": (
        lambda: json.dumps([dict(GOOD_RECORD, username=["x"])]).encode(),
        "username must be text",
    ),
    "traversal.zip": (
        lambda: _zip({"../../escaped/Streaming_History_Audio_2023.json": _ext(ts="2023-03-01T00:00:00Z")}),
        "unsafe entry name",
    ),
    "absolute.zip": (
        lambda: _zip({"/tmp/Streaming_History_Audio_2023.json": _ext(ts="2023-03-01T00:00:00Z")}),
        "unsafe entry name",
    ),
    "damaged.zip": (lambda: _zip({"Streaming_History_Audio_2023.json": _ext()})[:-30], "not a readable zip"),
}


def _write_corpus(folder: Path) -> dict[str, str]:
    folder.mkdir()
    expected = {}
    for name, (content, fragment) in CORPUS.items():
        (folder / name).write_bytes(content())
        expected[name] = fragment
    return expected


def _counts(store: Store) -> dict[str, int]:
    with store.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (tables.plays, tables.tracks, tables.artists, tables.albums, tables.episode_plays)
        }


def test_every_bad_file_fails_alone_with_its_name_and_good_files_still_load(
    store: Store, tmp_path: Path
) -> None:
    assert len(CORPUS) >= 30
    bad = tmp_path / "bad"
    expected = _write_corpus(bad)
    good = tmp_path / "Streaming_History_Audio_good.json"
    good.write_bytes(json.dumps([dict(GOOD_RECORD, ts="2024-01-01T10:00:00Z")]).encode())
    before_tree = sorted(str(p) for p in tmp_path.parent.rglob("*") if "escaped" in str(p))

    result = import_paths(store, [bad, good], SystemClock(), user_id="u")

    assert not result.ok
    assert [Path(f.name).name for f in result.imported] == [good.name]
    failed = {f.name.removeprefix(f"{bad}/"): f.message or "" for f in result.failed}
    for name, fragment in expected.items():
        key = next((k for k in failed if k == name or k.startswith(name + "!")), None)
        assert key is not None, f"{name} was not reported as failed"
        assert fragment in failed[key], (name, failed[key])
        assert name in failed[key]  # the message names the file
    # Only the good file's single play, its track, artist and album are stored.
    assert _counts(store) == {"plays": 1, "tracks": 1, "artists": 1, "albums": 1, "episode_plays": 0}
    # Nothing was extracted anywhere, least of all where the traversal entries point.
    assert sorted(str(p) for p in tmp_path.parent.rglob("*") if "escaped" in str(p)) == before_tree
    assert not Path("/tmp/Streaming_History_Audio_2023.json").exists()


def test_a_bad_last_record_stores_nothing_of_its_file(store: Store, tmp_path: Path) -> None:
    records = [dict(GOOD_RECORD, ts=f"2023-03-01T10:{m:02d}:00Z") for m in range(50)]
    records.append(dict(GOOD_RECORD, ms_played="oops"))
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_bytes(json.dumps(records).encode())
    result = import_paths(store, [path], SystemClock(), user_id="u")
    assert [f.message for f in result.failed] == [
        f"{path}: record 50: ms_played must be a whole number of milliseconds, not text"
    ]
    assert _counts(store)["plays"] == 0


def test_a_database_failure_mid_file_rolls_the_file_back(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from brapped.store import staged_plays

    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_bytes(_ext(ts="2023-03-01T00:00:00Z"))

    def boom(conn: Any, user_id: str) -> int:
        raise __import__("sqlalchemy").exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(staged_plays, "insert_music_plays", boom)
    result = import_paths(store, [path], SystemClock(), user_id="u")
    assert [f.message for f in result.failed] == [f"{path}: database: disk I/O error"]
    # The dimension rows written before the failure went with it.
    assert _counts(store) == {"plays": 0, "tracks": 0, "artists": 0, "albums": 0, "episode_plays": 0}
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.imported_files)).scalar() == 0


def test_zip_bomb_member_is_stopped_while_inflating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 1024 * 1024)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Streaming_History_Audio_2023.json", b"[" + b" " * (5 * 1024 * 1024) + b"]")
    assert bomb.stat().st_size < 20_000  # a real bomb: tiny outside, huge inside
    items = list(sources.iter_inputs([bomb]))
    assert len(items) == 1 and isinstance(items[0], sources.Source)
    with pytest.raises(
        sources.ImportFileError, match=r"bomb\.zip!Streaming_History_Audio_2023\.json: larger"
    ):
        items[0].read()


def test_zip_bomb_with_lying_sizes_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 1024 * 1024)
    bomb = tmp_path / "liar.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Streaming_History_Audio_2023.json", b"[" + b" " * (5 * 1024 * 1024) + b"]")
    # Patch the declared size in the central directory to claim 100 bytes.
    data = bytearray(bomb.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    bomb.write_bytes(bytes(data))
    (item,) = list(sources.iter_inputs([bomb]))
    assert isinstance(item, sources.Source)
    with pytest.raises(sources.ImportFileError, match=r"liar\.zip!"):
        item.read()


def test_a_zip_without_history_is_an_error(store: Store, tmp_path: Path) -> None:
    archive = tmp_path / "my_spotify_data.zip"
    archive.write_bytes(
        _zip({"Spotify Account Data/Userdata.json": b'{"username": "x"}', "ReadMeFirst.pdf": b"%PDF-1.4"})
    )
    result = import_paths(store, [archive], SystemClock(), user_id="u")
    assert not result.ok
    assert result.failed == []  # no file failed: none held history
    assert result.errors == [f"{archive}: no Spotify listening history found"]
    assert sorted(f.message or "" for f in result.files if f.status == "skipped") == [
        "not a JSON file",
        "not listening history",
    ]


def test_nested_zip_is_listed_not_opened(store: Store, tmp_path: Path) -> None:
    inner = _zip({"Streaming_History_Audio_2023.json": _ext(ts="2023-03-01T00:00:00Z")})
    outer = tmp_path / "outer.zip"
    outer.write_bytes(
        _zip({"inner.zip": inner, "Streaming_History_Audio_2024.json": _ext(ts="2024-03-01T00:00:00Z")})
    )
    result = import_paths(store, [outer], SystemClock(), user_id="u")
    assert result.ok
    assert [
        (f.name.rsplit("!", 1)[-1], f.status, f.message) for f in result.files if f.status == "skipped"
    ] == [("inner.zip", "skipped", "zip inside a zip (not opened)")]
    assert _counts(store)["plays"] == 3


def test_html_in_names_is_data_not_an_error(store: Store, tmp_path: Path) -> None:
    name = '<script>alert("x")</script> & <b>Bold</b>'
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_bytes(json.dumps([dict(GOOD_RECORD, master_metadata_track_name=name)]).encode())
    assert import_paths(store, [path], SystemClock(), user_id="u").ok
    with store.connect() as conn:
        assert conn.execute(select(tables.tracks.c.name)).scalar() == name  # stored verbatim; views escape


def test_cli_exits_1_names_the_bad_file_and_still_imports_the_good_one(
    runner: CliRunner, tmp_home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "Streaming_History_Audio_2023.json"
    bad.write_bytes(_ext()[:-10])
    good = tmp_path / "Streaming_History_Audio_2024.json"
    good.write_bytes(_ext(ts="2024-03-01T00:00:00Z"))
    result = runner.invoke(cli, ["import", str(bad), str(good), "--user", "u", "--format", "json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["totals"]["new"] == 3 and summary["totals"]["files_failed"] == 1
    assert f"Error: {bad}: not valid JSON" in result.stderr
    store = open_store(f"sqlite:///{tmp_home / 'brapped.db'}")
    try:
        assert _counts(store)["plays"] == 3
    finally:
        store.close()
    assert sorted(os.listdir(tmp_path)) == sorted(["home", bad.name, good.name])


@pytest.mark.parametrize("literal", [b"1e20", b"100000000000000000000"])
@pytest.mark.parametrize("fast", [True, False])
def test_an_offline_timestamp_out_of_range_says_so(literal: bytes, fast: bool) -> None:
    """A number no time can be (a float, or a whole number past 64 bits, which orjson reads as one)."""
    data = _ext(offline_timestamp=123456).replace(b"123456", literal)
    name = "Streaming_History_Audio_2023.json"
    with pytest.raises(ImportFileError) as raised:
        parse_file(name, data, SystemClock().now(), fast=fast)
    assert str(raised.value) == (
        f"{name}: record 2: offline_timestamp 1e+20 is out of range (no time in seconds or milliseconds)"
    )


def test_a_zip_entry_compressed_other_than_with_deflate_is_not_opened(tmp_path: Path) -> None:
    """Python inflates bzip2 and LZMA a whole read at a time, whatever size the entry states."""
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as written:
        written.writestr("Streaming_History_Audio_2023.json", _ext(), zipfile.ZIP_BZIP2)
        written.writestr(
            "Streaming_History_Audio_2024.json", _ext(ts="2024-03-01T00:00:00Z"), zipfile.ZIP_DEFLATED
        )
    items = list(sources.iter_inputs([archive]))
    assert [type(item).__name__ for item in items] == ["Broken", "Source"]
    assert items[0] == sources.Broken(
        f"{archive}!Streaming_History_Audio_2023.json",
        f"{archive}!Streaming_History_Audio_2023.json: compressed with method 12, which brapped does "
        "not open (Spotify's zips use deflate): unzip it and import the folder",
    )


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_cli_a_file_without_history_is_counted_once(runner: CliRunner, tmp_path: Path, fmt: str) -> None:
    """One JSON file that is not history: one file, skipped, and the import fails with one error
    (a made-up failed file named after the paths counted it twice)."""
    other = tmp_path / "x.json"
    other.write_text('{"a": 1}', encoding="utf-8")
    result = runner.invoke(cli, ["import", str(other), "--user", "u", "--format", fmt])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {other}: no Spotify listening history found"]
    if fmt == "json":
        summary = json.loads(result.stdout)
        assert [f["status"] for f in summary["files"]] == ["skipped"]
        assert summary["totals"]["files_failed"] == 0 and summary["totals"]["files_skipped"] == 1
        assert summary["error"] == f"{other}: no Spotify listening history found" and not summary["ok"]
    else:
        assert "failed: 0   not history: 1" in result.stdout
