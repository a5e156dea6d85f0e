"""compare: on a small hand-made household and on real exports imported as different listeners; every
expected number is counted here in plain Python, never read back from the code under test."""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from brapped.clock import SystemClock
from brapped.insights import CompareError, Period, compare, compatibility
from brapped.pipeline.importing import import_paths
from brapped.store import Store, tables
from tests.conftest import SAMPLES

VA = "0LyfQWJT6nXafLPZqxe9Of"
CREDITS = {"t1": ["a1"], "t2": ["a1", "a2"], "t3": ["a3"], "t4": [VA, "a2"], "t5": ["a4"]}
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
# (user, track, minutes after START)
PLAYS = [
    ("ana", "t1", 0),
    ("ana", "t1", 10),
    ("ana", "t1", 20),
    ("ana", "t2", 30),
    ("ana", "t3", 40),
    ("ana", "t3", 50),
    ("ben", "t2", 5),  # ben found a2 (featured on t2) before ana did
    ("ben", "t1", 60),
    ("ben", "t2", 70),
    ("ben", "t4", 80),
    ("ben", "t5", 90),
    ("cy", "t5", 3),
]


@pytest.fixture
def household(store: Store) -> Store:
    with store.begin() as conn:
        conn.execute(
            insert(tables.artists),
            [
                {"id": a, "name": n}
                for a, n in [("a1", "Alpha"), ("a2", "Beta"), ("a3", "Gamma"), ("a4", "Delta")]
            ]
            + [{"id": VA, "name": "Various Artists"}],
        )
        conn.execute(insert(tables.tracks), [{"id": t, "name": t.upper()} for t in CREDITS])
        conn.execute(
            insert(tables.track_artists),
            [
                {"track_id": t, "position": i, "artist_id": a}
                for t, ids in CREDITS.items()
                for i, a in enumerate(ids)
            ],
        )
        conn.execute(
            insert(tables.accounts),
            [
                {"id": "ana", "display_name": "Ana"},
                {"id": "ben", "display_name": "Ben"},
                {"id": "cy", "display_name": None},
            ],
        )
        conn.execute(
            insert(tables.plays),
            [
                {
                    "user_id": u,
                    "track_id": t,
                    "played_at": START + timedelta(minutes=m),
                    "ms_played": 180_000,
                    "source": "api",
                }
                for u, t, m in PLAYS
            ],
        )
    return store


def _artist_counts(user: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for u, t, _ in PLAYS:
        if u == user:
            counts.update(a for a in CREDITS[t] if a != VA)
    return counts


def _expected_score(a: Counter[str], b: Counter[str]) -> int:
    total_a, total_b = sum(a.values()), sum(b.values())
    overlap = 0.0
    for artist in a:
        if artist in b:
            overlap += min(a[artist] / total_a, b[artist] / total_b)
    return round(100 * overlap)


def test_hand_made_household(household: Store) -> None:
    ana, ben = _artist_counts("ana"), _artist_counts("ben")
    # ana: a1 4, a2 1, a3 2 (7); ben: a1 3, a2 3, a4 1 (7): min shares a1 3/7, a2 1/7 -> 57
    assert _expected_score(ana, ben) == 57
    with household.connect() as conn:
        ab = compare(conn, "ana", "ben")
        ba = compare(conn, "ben", "ana")
    assert ab["score"] == ba["score"] == 57
    assert ab["shared_artists"] == ba["shared_artists"] == len(set(ana) & set(ben)) == 2
    assert ab["shared_tracks"] == 2  # t1, t2
    assert [a["id"] for a in ab["top_shared_artists"]] == ["a1", "a2"]
    first = {a["id"]: a["discovered_first_by"] for a in ab["top_shared_artists"]}
    # a1: ana at 08:00 (t1) before ben at 08:05 (t2 credits a1 too); a2: ben at 08:05, ana at 08:30.
    assert first == {"a1": "ana", "a2": "ben"}
    assert ab["discovered_first"] == {"ana": 1, "ben": 1}
    assert [(a["id"], a["plays"]) for a in ab["only_a"]] == [("a3", 2)]
    assert [(a["id"], a["plays"]) for a in ab["only_b"]] == [("a4", 1)]
    assert [(t["id"], t["plays_a"], t["plays_b"]) for t in ab["top_shared_tracks"]] == [
        ("t1", 3, 1),
        ("t2", 1, 2),
    ]
    assert (ab["a"]["display_name"], ab["a"]["plays"], ab["b"]["plays"]) == ("Ana", 6, 5)


def test_no_shared_artist_scores_zero_and_self_is_refused(household: Store) -> None:
    with household.connect() as conn:
        assert compare(conn, "ana", "cy")["score"] == 0
        assert compare(conn, "cy", "ana")["shared_artists"] == 0
        with pytest.raises(CompareError):
            compare(conn, "ana", "ana")
        with pytest.raises(CompareError, match="nobody"):
            compare(conn, "ana", "nobody")


def test_a_period_limits_both(household: Store) -> None:
    period = Period.parse("2025-01-06", "UTC")
    later = Period.parse("2025-01-07", "UTC")
    with household.connect() as conn:
        assert compare(conn, "ana", "ben", period)["score"] == 57
        empty = compare(conn, "ana", "ben", later)
    assert (empty["score"], empty["shared_artists"], empty["a"]["plays"]) == (0, 0, 0)


def test_compatibility_is_symmetric_and_bounded() -> None:
    import random

    rng = random.Random(5)
    for _ in range(200):
        a = {f"x{i}": rng.randint(1, 9) for i in rng.sample(range(12), rng.randint(1, 8))}
        b = {f"x{i}": rng.randint(1, 9) for i in rng.sample(range(12), rng.randint(1, 8))}
        assert compatibility(a, b) == compatibility(b, a)
        assert 0 <= compatibility(a, b) <= 100
        assert compatibility(a, a) == 100


# -- real exports, one year each, imported as two listeners --------------------------------------------

YEARS = {"ana": 2023, "ben": 2024}
FILE = "Efrrowini__spotify-music-analysis__Streaming_History_Audio_{}.json"


def _records(year: int) -> list[dict[str, Any]]:
    rows = json.loads((SAMPLES / FILE.format(year)).read_text())
    return [r for r in rows if r["spotify_track_uri"]]


@pytest.fixture
def sample_household(store: Store, tmp_path: Path) -> Store:
    for user, year in YEARS.items():
        folder = tmp_path / user
        folder.mkdir()
        shutil.copy(SAMPLES / FILE.format(year), folder / f"Streaming_History_Audio_{year}.json")
        assert import_paths(store, [folder], SystemClock(), user_id=user).ok
    return store


def test_real_exports_as_two_listeners(sample_household: Store) -> None:
    per_user: dict[str, Counter[str]] = {}
    tracks: dict[str, set[str]] = {}
    first: dict[str, dict[str, str]] = defaultdict(dict)
    for user, year in YEARS.items():
        records = _records(year)
        # The export names one artist per play (the album artist); Various Artists never counts.
        names = [r["master_metadata_album_artist_name"] for r in records]
        per_user[user] = Counter(n for n in names if n.lower() != "various artists")
        tracks[user] = {r["spotify_track_uri"] for r in records}
        for r in sorted(records, key=lambda r: r["ts"]):
            first[user].setdefault(r["master_metadata_album_artist_name"], r["ts"])
    expected = _expected_score(per_user["ana"], per_user["ben"])
    shared = set(per_user["ana"]) & set(per_user["ben"])
    with sample_household.connect() as conn:
        ab = compare(conn, "ana", "ben", limit=5)
        ba = compare(conn, "ben", "ana", limit=5)
    assert ab["score"] == ba["score"] == expected
    assert 0 < expected < 100
    assert ab["shared_artists"] == ba["shared_artists"] == len(shared)
    assert ab["shared_tracks"] == len(tracks["ana"] & tracks["ben"])
    assert ab["a"]["plays"] == len(_records(2023)) and ab["b"]["plays"] == len(_records(2024))
    # 2023 came before 2024: ana found every shared artist first.
    assert ab["discovered_first"] == {"ana": len(shared), "ben": 0}
    for item in ab["top_shared_artists"]:
        assert (item["plays_a"], item["plays_b"]) == (
            per_user["ana"][item["name"]],
            per_user["ben"][item["name"]],
        )
        assert item["discovered_first_by"] == "ana"
    only_a = sorted(((-c, n) for n, c in per_user["ana"].items() if n not in per_user["ben"]))
    assert [a["plays"] for a in ab["only_a"]] == [-c for c, _ in only_a[:5]]
