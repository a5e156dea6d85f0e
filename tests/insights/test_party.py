"""party: three years of a real export imported as three listeners; every award and the group label
are worked out here from the JSON alone (zoneinfo for local hours), never from the database."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brapped.clock import SystemClock
from brapped.insights import AWARD_IDS, CompareError, Period, party
from brapped.insights.party import group_label
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from tests.conftest import SAMPLES

TZ = "Asia/Kolkata"
YEARS = {"cy": 2022, "ana": 2023, "ben": 2024}
FILE = "Efrrowini__spotify-music-analysis__Streaming_History_Audio_{}.json"
GAP_MS = 30 * 60_000


def _records(year: int) -> list[dict[str, Any]]:
    rows = json.loads((SAMPLES / FILE.format(year)).read_text())
    return [r for r in rows if r["spotify_track_uri"]]


def _ended(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))


@pytest.fixture
def party_store(store: Store, tmp_path: Path) -> Store:
    for user, year in YEARS.items():
        folder = tmp_path / user
        folder.mkdir()
        shutil.copy(SAMPLES / FILE.format(year), folder / f"Streaming_History_Audio_{year}.json")
        assert import_paths(store, [folder], SystemClock(), user_id=user).ok
    return store


def _longest_session_minutes(records: list[dict[str, Any]]) -> float:
    """Plays less than 30 min apart (previous end to this start) form a session: first start to last end."""
    ordered = sorted(records, key=lambda r: r["ts"])
    best, start, last_end = 0, None, None
    for r in ordered:
        end = int(_ended(r).timestamp() * 1000)
        begin = end - r["ms_played"]
        if last_end is None or begin - last_end >= GAP_MS:
            start = begin
        assert start is not None
        best = max(best, end - start)
        last_end = end
    return round(best / 60_000, 2)


def _expected(records: list[dict[str, Any]]) -> dict[str, float | int]:
    tz = ZoneInfo(TZ)
    plays = len(records)
    hours = Counter(_ended(r).astimezone(tz).hour for r in records)
    artists = Counter(
        r["master_metadata_album_artist_name"]
        for r in records
        if r["master_metadata_album_artist_name"].lower() != "various artists"
    )
    tracks = Counter(r["spotify_track_uri"] for r in records)
    return {
        "explorer": len(artists),
        "picky_listener": round(sum(1 for r in records if r["ms_played"] < 30_000) / plays, 4),
        "loyalist": round(max(artists.values()) / plays, 4),
        "early_bird": round(sum(hours[h] for h in range(5, 9)) / plays, 4),
        "night_owl": round(sum(hours[h] for h in (22, 23, 0, 1, 2, 3)) / plays, 4),
        "marathoner": _longest_session_minutes(records),
        "obsessed": max(tracks.values()),
        "_plays": plays,
    }


def _score(a: Counter[str], b: Counter[str]) -> int:
    total_a, total_b = sum(a.values()), sum(b.values())
    return round(100 * sum(min(a[k] / total_a, b[k] / total_b) for k in a if k in b))


def test_party_awards_equal_an_independent_count(party_store: Store) -> None:
    records = {user: _records(year) for user, year in YEARS.items()}
    expected = {user: _expected(rs) for user, rs in records.items()}
    with party_store.connect() as conn:
        data = party(conn, Period.parse("2022..2024", TZ))
    assert [m["user_id"] for m in data["members"]] == sorted(YEARS)
    assert [a["award"] for a in data["awards"]] == list(AWARD_IDS)
    assert len(AWARD_IDS) == 7
    for award in data["awards"]:
        name = award["award"]
        values = {u: e[name] for u, e in expected.items()}
        best = max(values.values())
        if name == "marathoner":
            assert award["value"] == pytest.approx(best, abs=0.02)
            close = [u for u, v in values.items() if abs(v - best) <= 0.02]
            assert award["winner"] in close
            continue
        ties = sorted((u for u, v in values.items() if v == best), key=lambda u: (-expected[u]["_plays"], u))
        assert (award["winner"], award["value"]) == (ties[0], best), name
    artists = {
        u: Counter(
            r["master_metadata_album_artist_name"]
            for r in rs
            if r["master_metadata_album_artist_name"].lower() != "various artists"
        )
        for u, rs in records.items()
    }
    pairs = {(a, b): _score(artists[a], artists[b]) for a, b in combinations(sorted(YEARS), 2)}
    assert {(p["a"], p["b"]): p["score"] for p in data["group"]["pairs"]} == pairs
    mean = round(sum(pairs.values()) / len(pairs), 1)
    assert data["group"]["mean_score"] == mean
    label = "copy and paste" if mean >= 60 else "kindred spirits" if mean >= 30 else "eclectic mix"
    assert data["group"]["label"] == label


def test_members_can_be_chosen_and_are_checked(party_store: Store) -> None:
    with party_store.connect() as conn:
        two = party(conn, Period.parse("2023..2024", TZ), user_ids=["ana", "ben"])
        assert [m["user_id"] for m in two["members"]] == ["ana", "ben"]
        assert len(two["group"]["pairs"]) == 1
        with pytest.raises(CompareError, match="nobody"):
            party(conn, Period.parse("2024", TZ), user_ids=["ana", "nobody"])
        # Only those who listened in the period take part.
        alone = party(conn, Period.parse("2024", TZ))
    assert [m["user_id"] for m in alone["members"]] == ["ben"]
    assert alone["group"] == {"label": "solo", "mean_score": None, "pairs": []}


def test_a_party_nobody_listened_in_has_no_label(party_store: Store) -> None:
    with party_store.connect() as conn:  # the exports hold 2022 to 2024
        empty = party(conn, Period.parse("2019", TZ))
    assert empty["members"] == []
    assert empty["group"] == {"label": None, "mean_score": None, "pairs": []}


def test_group_labels() -> None:
    assert (
        group_label([{"score": 0, "shared_artists": 0}, {"score": 0, "shared_artists": 0}])[0] == "chaos crew"
    )
    assert group_label([{"score": 90, "shared_artists": 9}])[0] == "copy and paste"
    assert group_label([{"score": 40, "shared_artists": 3}])[0] == "kindred spirits"
    assert group_label([{"score": 5, "shared_artists": 1}])[0] == "eclectic mix"
