"""Peeking at an input's first bytes reads those bytes, not the file (a username check on a
history of 32 files read every file twice)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from brapped.imports import ImportFileError, Source, iter_inputs
from brapped.imports.sources import MAX_FILE_BYTES

HEAD = b'[\n  {\n    "ts": "2014-01-01T10:00:00Z",\n    "username": "old-account",\n'


def _only_source(path: Path) -> Source:
    items = list(iter_inputs([path]))
    assert len(items) == 1 and isinstance(items[0], Source), items
    return items[0]


def test_a_file_too_big_to_read_still_shows_its_head(tmp_path: Path) -> None:
    path = tmp_path / "endsong_0.json"
    with path.open("wb") as handle:
        handle.write(HEAD)
        handle.truncate(MAX_FILE_BYTES + 10)  # sparse: the whole file is never written
    source = _only_source(path)
    assert source.first_bytes(len(HEAD)) == HEAD
    assert source.first_bytes(10) == HEAD[:10]
    with pytest.raises(ImportFileError, match="larger than 32 MB"):
        source.read()


def test_a_zip_entry_shows_its_head_without_inflating_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "my_spotify_data.zip"
    rest = b" " * (MAX_FILE_BYTES + 10)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Spotify Extended Streaming History/endsong_0.json", HEAD + rest)
    source = _only_source(path)
    assert source.first_bytes(len(HEAD)) == HEAD
    with pytest.raises(ImportFileError, match="larger than 32 MB"):
        source.read()


def test_a_source_without_a_head_peeks_through_read() -> None:
    source = Source("x.json", lambda: HEAD)
    assert source.first_bytes(5) == HEAD[:5]
