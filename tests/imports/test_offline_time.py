"""Offline plays at their real time: `offline_timestamp + ms_played`, on the real samples and beyond.

Expected values are worked out here by a plain loop over the records, not by the code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from brapped.imports import ParsedFile, parse_file
from brapped.imports.rows import MusicRow
from tests.conftest import SAMPLES

AUDIO = sorted(SAMPLES.glob("*Streaming_History_Audio_*.json"))
NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY_MS = 86_400_000


def _ms(ts: str) -> int:
    return int(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) * 1000


def _text(ms: int) -> str:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d}"


def _expected(record: dict[str, Any]) -> tuple[str, int | None]:
    """(played_at, reported ms) of a track record by the rule, written out plainly."""
    ts = _ms(record["ts"])
    start = record.get("offline_timestamp")
    if record.get("offline") is True and start:
        start_ms = start if start > 10**11 else start * 1000  # endsong: ms; newer files: seconds
        end = start_ms + record["ms_played"]
        if end < ts + 1000 and ts - end <= 30 * DAY_MS and end != ts:
            return _text(end), ts
    return _text(ts), None


def _music(parsed: ParsedFile | Any) -> list[MusicRow]:
    assert isinstance(parsed, ParsedFile)
    return parsed.music_columns.rows() if parsed.music_columns is not None else parsed.music


def _readings(name: str, data: bytes) -> list[list[MusicRow]]:
    """The careful reading, the fast one and the fast one by columns."""
    return [
        _music(parse_file(name, data, NOW, fast=False)),
        _music(parse_file(name, data, NOW)),
        _music(parse_file(name, data, NOW, columns=True)),
    ]


@pytest.mark.parametrize("path", AUDIO, ids=lambda p: p.name[-9:-5])
def test_real_samples_put_offline_plays_at_their_real_time(path: Path) -> None:
    records = [r for r in json.loads(path.read_bytes()) if r.get("spotify_track_uri")]
    expected = [_expected(r) for r in records]
    for rows in _readings(path.name, path.read_bytes()):
        assert len(rows) == len(records)
        for row, record, (played_at, reported) in zip(rows, records, expected, strict=True):
            assert row.track_id == record["spotify_track_uri"].split(":")[2]
            # Plays of one track ending in one second are spread a millisecond apart (docs/merge.md).
            assert played_at <= row.played_at <= played_at[:-3] + "999"
            assert row.reported_ms == reported


def test_the_2024_sample_s_offline_plays_land_within_2_s_of_start_plus_ms_played() -> None:
    path = next(p for p in AUDIO if "2024" in p.name)
    records = [r for r in json.loads(path.read_bytes()) if r.get("spotify_track_uri")]
    offline = [(i, r) for i, r in enumerate(records) if r["offline"] is True]
    assert offline, "the sample's offline plays"
    for rows in _readings(path.name, path.read_bytes()):
        for index, record in offline:
            end = record["offline_timestamp"] * 1000 + record["ms_played"]
            played = datetime.fromisoformat(rows[index].played_at).replace(tzinfo=UTC)
            assert abs(played.timestamp() * 1000 - end) < 2000
            # Reported when it ended, to the millisecond (one play does): nothing to keep apart.
            assert rows[index].reported_ms == (None if end == _ms(record["ts"]) else _ms(record["ts"]))
    # Online plays keep ts although their offline_timestamp is their start too.
    online = [i for i, r in enumerate(records) if r["offline"] is False]
    rows = _readings(path.name, path.read_bytes())[0]
    assert all(rows[i].played_at[:19] == _text(_ms(records[i]["ts"]))[:19] for i in online)
    assert all(rows[i].reported_ms is None for i in online)


def _record(ts: str, ms: int, offline: bool | None, start: int | None, track: int = 1) -> dict[str, Any]:
    return {
        "ts": ts,
        "platform": "android",
        "ms_played": ms,
        "conn_country": "DE",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Artist",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": f"spotify:track:{track:022d}",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": offline,
        "offline_timestamp": start,
        "incognito_mode": False,
    }


TS = "2025-05-01T18:00:00Z"
TS_S = _ms(TS) // 1000
CASES = [
    ("moved, seconds", True, TS_S - 5 * 3600, 200_000, True),
    ("online keeps ts", False, TS_S - 5 * 3600, 200_000, False),
    ("unknown start", True, None, 200_000, False),
    ("zero", True, 0, 200_000, False),
    ("ends after ts", True, TS_S - 100, 200_000, False),
    ("ends within the rounding", True, TS_S - 200, 200_500, True),
    ("31 days before", True, TS_S - 31 * 86_400, 200_000, False),
    ("29 days before", True, TS_S - 29 * 86_400, 200_000, True),
]


@pytest.mark.parametrize(
    ("offline", "start", "ms", "moves"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plausible_offline_timestamps(offline: bool, start: int | None, ms: int, moves: bool) -> None:
    # Each case thrice: its own track, so the three readings see a file of many plays.
    records = [_record(TS, ms, offline, start, track=t) for t in range(1, 4)]
    data = json.dumps(records).encode()
    for rows in _readings("Streaming_History_Audio_2025.json", data):
        for row in rows:
            if moves:
                assert start is not None
                assert row.played_at == _text(start * 1000 + ms)
                assert row.reported_ms == _ms(TS)
            else:
                assert row.played_at == _text(_ms(TS))
                assert row.reported_ms is None


def test_endsong_counts_the_start_in_milliseconds() -> None:
    start_ms = _ms(TS) - 5 * 3_600_000 + 123
    records = [dict(_record(TS, 200_000, True, start_ms, track=t), username="listener") for t in (1, 2)]
    data = json.dumps(records).encode()
    for rows in _readings("endsong_0.json", data):
        assert [r.played_at for r in rows] == [_text(start_ms + 200_000)] * 2


def test_an_offline_session_reported_at_once_spreads_over_its_afternoon() -> None:
    # Six offline plays of one afternoon, all reported at the same ts, as the issue describes them.
    start = TS_S - 6 * 3600
    records = [_record(TS, 180_000, True, start + k * 181, track=k + 1) for k in range(6)]
    readings = _readings("Streaming_History_Audio_2025.json", json.dumps(records).encode())
    for rows in readings:
        assert [r.played_at for r in rows] == [_text((start + k * 181) * 1000 + 180_000) for k in range(6)]
    assert readings[0] == readings[1] == readings[2]
