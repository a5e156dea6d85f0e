"""On real extended streaming history (tests/conftest.py SAMPLES): reports equal a plain-Python count.

The files are imported with brapped's importer; the expected numbers are computed here from the JSON
alone, with zoneinfo for local days, and never from the database.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brapped.clock import SystemClock
from brapped.insights import Period, Scope, day_report, top, wrapped
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from tests.conftest import SAMPLES

FILES = [f"Efrrowini__spotify-music-analysis__Streaming_History_Audio_{y}.json" for y in (2022, 2023, 2024)]
TZ = "Asia/Kolkata"  # the listener streams from India (conn_country IN)


def _records() -> list[dict[str, Any]]:
    return [r for name in FILES for r in json.loads((SAMPLES / name).read_text()) if r["spotify_track_uri"]]


def _ended(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))


def _ranked(groups: dict[str, list[dict[str, Any]]], name: Any) -> list[tuple[str, int, int]]:
    """(key, plays, ms) by streams (plays of 30 s or more), then plays, then ms: Wrapped's rule."""
    rows = [(key, len(rs), sum(r["ms_played"] for r in rs)) for key, rs in groups.items()]
    streams = {key: sum(1 for r in rs if r["ms_played"] >= 30_000) for key, rs in groups.items()}
    rows.sort(key=lambda row: (-streams[row[0]], -row[1], -row[2], name(row[0]), row[0]))
    return rows


@pytest.fixture
def sample_store(store: Store, tmp_path: Path) -> Store:
    if not all((SAMPLES / name).exists() for name in FILES):
        pytest.skip(f"real samples not found in {SAMPLES}")
    folder = tmp_path / "export"
    folder.mkdir()
    for name in FILES:
        shutil.copy(SAMPLES / name, folder / name.split("__")[-1])
    result = import_paths(store, [folder], SystemClock(), user_id="listener")
    assert result.ok
    return store


def test_wrapped_2024_equals_an_independent_count(sample_store: Store) -> None:
    tz = ZoneInfo(TZ)
    records = [r for r in _records() if _ended(r).astimezone(tz).year == 2024]
    with sample_store.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ), limit=10)
    assert report["plays"] == len(records)
    assert report["ms_played"] == sum(r["ms_played"] for r in records)
    assert report["streams"] == sum(1 for r in records if r["ms_played"] >= 30_000)
    assert report["distinct_tracks"] == len({r["spotify_track_uri"] for r in records})
    assert report["time_sources"]["estimated_share"] == 0.0

    by_track: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in records:
        track_id = r["spotify_track_uri"].split(":")[2]
        by_track[track_id].append(r)
        names[track_id] = r["master_metadata_track_name"]
    expected_tracks = _ranked(by_track, names.__getitem__)[:10]
    assert [(t["id"], t["plays"], t["ms_played"]) for t in report["top_tracks"]] == expected_tracks

    # The export names only the album artist: that is each play's one (main) artist, so its
    # weighted credit is its streams.
    by_artist: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_artist[r["master_metadata_album_artist_name"]].append(r)
    expected_artists = _ranked(by_artist, lambda n: n)[:10]
    assert [(a["name"], a["plays"], a["ms_played"]) for a in report["top_artists"]] == expected_artists
    assert all(a["featured_plays"] == 0 for a in report["top_artists"])

    per_day = Counter[date]()
    ms_per_day = Counter[date]()
    for r in records:
        day = _ended(r).astimezone(tz).date()
        per_day[day] += 1
        ms_per_day[day] += r["ms_played"]
    busiest = min(ms_per_day, key=lambda d: (-ms_per_day[d], d))
    assert report["busiest_day"] == {
        "date": busiest.isoformat(),
        "minutes": round(ms_per_day[busiest] / 60_000, 2),
        "plays": per_day[busiest],
    }
    skipped = [r for r in records if r["skipped"] is not None]
    assert report["skip_rate"]["plays_with_skip_flag"] == len(skipped)
    assert report["skip_rate"]["skipped"] == sum(1 for r in skipped if r["skipped"])


def test_busiest_day_report_hours_equal_an_independent_count(sample_store: Store) -> None:
    tz = ZoneInfo(TZ)
    records = _records()
    per_day = Counter(_ended(r).astimezone(tz).date() for r in records)
    day = min(per_day, key=lambda d: (-per_day[d], d))
    todays = [r for r in records if _ended(r).astimezone(tz).date() == day]
    hours = [0] * 24
    for r in todays:
        hours[_ended(r).astimezone(tz).hour] += r["ms_played"]
    with sample_store.connect() as conn:
        report = day_report(conn, day, TZ)
    assert report["plays"] == len(todays)
    assert report["hours"] == [round(ms / 60_000, 2) for ms in hours]
    assert report["distinct_tracks"] == len({r["spotify_track_uri"] for r in todays})

    _all_time_top_artists_by_minutes(sample_store)
    _utc_instants_are_kept(sample_store)


def _all_time_top_artists_by_minutes(sample_store: Store) -> None:
    records = _records()
    by_artist: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_artist[r["master_metadata_album_artist_name"]].append(r)
    rows = [(name, len(rs), sum(r["ms_played"] for r in rs)) for name, rs in by_artist.items()]
    rows.sort(key=lambda row: (-row[2], -row[1], row[0]))
    with sample_store.connect() as conn:
        found = top(conn, "artists", Scope(), by="minutes", limit=20)
    assert [(a["name"], a["plays"], a["ms_played"]) for a in found] == rows[:20]
    assert sum(r["ms_played"] for r in records) == sum(rs for _, _, rs in rows)


def _utc_instants_are_kept(sample_store: Store) -> None:
    first = min(_ended(r) for r in _records())
    with sample_store.connect() as conn:
        report = wrapped(conn, Period(first.date(), first.date(), "UTC"), limit=1)
    assert report["plays"] == sum(1 for r in _records() if _ended(r).astimezone(UTC).date() == first.date())
