"""A file's JSON decoded within bounds: what is refused before it is built, and the exact words.

Both readings are asked each time (the fast one declines what it does not take, the careful one
refuses), and must say the same. The memory these bounds keep is measured on the real command in
tests/reliability/test_hostile_input.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from brapped.imports import ImportFileError, ParsedFile, Skipped, parse_file
from tests.imports.test_bad_input import GOOD_RECORD

NOW = datetime(2026, 11, 23, tzinfo=UTC)
NAME = "Streaming_History_Audio_2023.json"
PLAY = json.dumps(GOOD_RECORD, separators=(",", ":")).encode()


def _outcomes(name: str, data: bytes) -> list[Any]:
    """What the fast and the careful reading make of a file: the same thing, or the same error."""
    found = []
    for fast in (True, False):
        try:
            found.append(parse_file(name, data, NOW, fast=fast))
        except ImportFileError as exc:
            found.append(f"error: {exc}")
    assert found[0] == found[1]
    return found


def _error(name: str, data: bytes) -> str:
    outcome = _outcomes(name, data)[0]
    assert isinstance(outcome, str), outcome
    return outcome.removeprefix("error: ")


def test_a_file_of_more_records_than_one_may_hold_is_refused() -> None:
    records = [dict(GOOD_RECORD, ts=f"2023-{1 + i // 40_000:02d}-01T00:00:00Z") for i in range(50_001)]
    data = json.dumps(records, separators=(",", ":")).encode()
    assert _error(NAME, data) == (
        f"{NAME}: 50,001 records, more than the 50,000 one file may hold; Spotify's own files hold "
        "about 16,000 records each"
    )


def test_fifty_thousand_records_are_read() -> None:
    records = [
        dict(GOOD_RECORD, ts=f"2023-02-25T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(50_000)
    ]
    data = json.dumps(records, separators=(",", ":")).encode()
    parsed = _outcomes(NAME, data)[0]
    assert isinstance(parsed, ParsedFile) and parsed.records == 50_000


def test_a_play_followed_by_a_million_values_is_refused_before_they_are_listed() -> None:
    data = b"[" + PLAY + b",0" * 1_700_000 + b"]"
    assert _error(NAME, data) == (
        f"{NAME}: more than 1,600,000 values, more than one file may hold (50,000 records); Spotify's "
        "own files hold about 16,000 records each"
    )


def test_a_record_far_bigger_than_any_of_spotifys_is_refused_undecoded() -> None:
    huge = json.dumps(dict(GOOD_RECORD, master_metadata_track_name="🎵" + "a" * 300_000)).encode()
    data = b"[" + PLAY + b"," + huge + b"]"
    assert _error(NAME, data) == (
        f"{NAME}: record 1: {len(huge):,} bytes long, more than the 262,144 a record may take "
        "(Spotify's are under 2 KB)"
    )


def test_a_long_name_within_the_record_limit_is_still_named_by_its_field() -> None:
    data = json.dumps([GOOD_RECORD, dict(GOOD_RECORD, platform="x" * 100_000)]).encode()
    assert _error(NAME, data) == f"{NAME}: record 1: platform is 100000 characters long (at most 2000)"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"ts": 1}', "dict"),
        (b' "[not a list]" ', "str"),
        (b"true", "bool"),
        (b"null", "NoneType"),
        (b"12", "int"),
        (b"-1.5e3", "float"),
    ],
)
def test_a_history_file_that_is_not_a_list_says_what_it_is(data: bytes, kind: str) -> None:
    assert _error(NAME, data) == f"{NAME}: expected a JSON list of plays, found a JSON {kind}"


def test_json_nested_too_deeply_is_refused() -> None:
    assert _error(NAME, b"[" * 100_000 + b"]" * 100_000) == (
        f"{NAME}: not valid JSON (truncated or damaged?): nested too deeply"
    )


def test_a_list_of_anything_but_plays_is_told_by_its_first_record() -> None:
    data = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    assert _error(NAME, data) == f"{NAME}: record 0: not a play in any Spotify export format"
    assert _outcomes("YourLibrary.json", data)[0] == Skipped("YourLibrary.json", "not listening history")


def test_other_json_is_skipped_unbuilt_but_must_be_text() -> None:
    big = b'{"tracks": [' + b",".join([b'{"artist": "a", "album": "b"}'] * 200_000) + b"]}"
    assert _outcomes("YourLibrary.json", big)[0] == Skipped("YourLibrary.json", "not listening history")
    first_too_big = b'[{"x": "' + b"a" * 300_000 + b'"}]'
    assert _outcomes("Marquee.json", first_too_big)[0] == Skipped("Marquee.json", "not listening history")
    latin1 = '{"name": "Café"}'.encode("latin-1")
    assert _error("Userdata.json", latin1) == "Userdata.json: not UTF-8 text (byte 0xe9 at offset 13)"


def test_a_record_that_is_not_utf8_names_the_byte_in_the_file() -> None:
    good = json.dumps(dict(GOOD_RECORD, master_metadata_track_name="Café"), ensure_ascii=False)
    bad = good.encode().replace("é".encode(), b"\xe9")
    data = b"[" + PLAY + b"," + bad + b"]"
    offset = data.index(b"\xe9")
    assert _error(NAME, data) == f"{NAME}: not UTF-8 text (byte 0xe9 at offset {offset})"


def test_a_record_that_orjson_refuses_is_named() -> None:
    data = b"[" + PLAY + b"," + PLAY.replace(b"61839", b"1e400") + b"]"
    message = _error(NAME, data)
    assert message.startswith(f"{NAME}: record 1: not valid JSON: number is infinity")
