"""The fast reading of extended history (msgspec, column checks) gives exactly what the careful one does.

Every file goes through `parse_file` twice, once as is and once with the fast way switched off, and
the two outcomes (the rows, the counters, or the error message) must be equal. The files: the real
samples, generated exports, and a few hundred mutations of a real file that hit every check.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports

from brapped.imports import ImportFileError, ParsedFile, parse_file
from brapped.imports.extended_fast import parse_extended_fast
from tests.conftest import SAMPLES
from tests.imports.test_bad_input import GOOD_RECORD

NOW = datetime(2026, 11, 23, tzinfo=UTC)
RECORD = GOOD_RECORD  # the extended-history record the bad-input tests start from
EPISODE = dict(
    RECORD,
    ts="2023-02-25T12:00:00Z",
    master_metadata_track_name=None,
    master_metadata_album_artist_name=None,
    master_metadata_album_album_name=None,
    spotify_track_uri=None,
    episode_name="Episode",
    episode_show_name="Show",
    spotify_episode_uri="spotify:episode:5VJ9Q0mIzSBxGq1qxxxxxx",
)


def _both(name: str, data: bytes, *, keep_personal: bool = False) -> tuple[Any, Any, bool]:
    """(fast outcome, careful outcome, whether the fast way took the file)."""

    def outcome(fast: bool) -> Any:
        try:
            return parse_file(name, data, NOW, keep_personal=keep_personal, fast=fast)
        except ImportFileError as exc:
            return f"error: {exc}"

    try:
        took = parse_extended_fast(name, data, NOW) is not None
    except ImportFileError:
        took = True
    return outcome(True), outcome(False), took


def test_samples_read_the_same_both_ways() -> None:
    files = sorted(SAMPLES.glob("*.json"))
    taken = 0
    for path in files:
        fast, careful, took = _both(path.name, path.read_bytes())
        assert fast == careful, path.name
        taken += took
    assert taken >= 4  # the extended-history samples


def test_generated_exports_take_the_fast_way(tmp_path: Path) -> None:
    generate_exports(tmp_path, plays=3000, seed=3, max_bytes=600_000)
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) >= 3
    for path in files:
        fast, careful, took = _both(path.name, path.read_bytes())
        assert took, path.name
        assert fast == careful, path.name
        assert isinstance(fast, ParsedFile) and fast.music


VALUES: list[Any] = [
    None,
    "",
    "x" * 9,
    "x" * 33,
    "x" * 2001,
    5,
    5.0,
    1.5,
    True,
    [],
    {},
    "spotify:track:" + "a" * 22,
    "spotify:track:" + "é" * 22,
    "spotify:track:" + "a" * 21,
    "spotify:local:a:b:c:1",
    "spotify:episode:abc",
    "2023-02-30T10:00:00Z",
    "2023-02-25T11:20:37Z",
    "2023-02-25T11:20:37.5Z",
    "2007-01-01T00:00:00Z",
    "2030-01-01T00:00:00Z",
    "2023-02-25T11:20:37+00:00",
    "2023-02-25T24:00:00Z",
    "٢٠٢٣-02-25T11:20:37Z",
    -1,
    2**31,
    2**40,
    2**64,
    10**20,
    1677323975,
    1677323975000,
    "me",
    "a\u2028b",
    "tab\there",
    "back\\slash",
]
KEYS = [*RECORD, "username", "ip_addr_decrypted", "user_agent_decrypted", "extra"]


@pytest.mark.parametrize("seed", range(4))
def test_mutated_files_read_the_same_both_ways(seed: int) -> None:
    rng = random.Random(seed)
    base = [dict(RECORD, ts=f"2023-02-25T11:{m:02d}:37Z") for m in range(30)] + [EPISODE]
    taken = 0
    for _ in range(150):
        document = copy.deepcopy(base)
        for _ in range(rng.randint(0, 4)):
            record = rng.choice(document)
            key = rng.choice(KEYS)
            if rng.random() < 0.15:
                record.pop(key, None)
            else:
                record[key] = rng.choice(VALUES)
        if rng.random() < 0.3:  # a play twice: spread 1 ms apart
            document.append(dict(rng.choice(document)))
        if rng.random() < 0.2:
            for record in document:
                record["username"] = rng.choice(["me", "you", None, "x" * 65])
        name = rng.choice(["Streaming_History_Audio_2023.json", "endsong_0.json", "history.json"])
        data = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode()
        keep = rng.random() < 0.1
        fast, careful, took = _both(name, data, keep_personal=keep)
        assert fast == careful, (name, data[:300])
        taken += took
    assert taken >= 30  # the fast way is exercised, not only declined


@pytest.mark.parametrize(
    "data",
    [
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1, "ms_played": 2}]',  # duplicate key: last wins
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1, "offline_timestamp": 99999999999999999999}]',
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1, "platform": "\\ud800"}]',  # lone surrogate
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1.0}]',
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1, "platform": "a\\u0001"}]',
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1}] trailing',
        b'[{"ts": "2023-02-25T11:20:37Z", "ms_played": 1, "platform": "\xff"}]',
        b"[]",
        b"[1, 2]",
    ],
)
def test_json_corners_read_the_same_both_ways(data: bytes) -> None:
    record = json.dumps({k: v for k, v in RECORD.items() if k not in ("ts", "ms_played")})[1:-1].encode()
    document = data.replace(b'"ms_played": 1', b'"ms_played": 1, ' + record, 1)
    fast, careful, _ = _both("Streaming_History_Audio_2023.json", document)
    assert fast == careful
