"""party and Wrapped agree: every member's award values and card equal what that member's own
`wrapped()` report says, with the definitions of docs/reports.md ("party") applied to the Wrapped
JSON here. The party reads all members at once (brapped.insights.party_sums); Wrapped is computed
per member, independently. Households: generated listeners whose plays interleave in time, and
real exports imported as three listeners; summaries absent, present, and the party kept."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from brapped.clock import SystemClock
from brapped.insights import AWARD_IDS, Period, party, wrapped
from brapped.insights.rollups import refresh_store
from brapped.pipeline.importing import import_paths
from brapped.store import Store, open_store
from tests.conftest import SAMPLES

TZ = "Europe/Berlin"
END = datetime(2025, 3, 10, 12, tzinfo=UTC)
USERS = ("u1", "u2", "u3")


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4)


def _from_wrapped(w: dict[str, Any]) -> dict[str, Any]:
    """A member's award values and card from their Wrapped, as docs/reports.md defines them."""
    plays = w["plays"]
    clock = w["listening_clock"]["plays"]

    def hours(which: range | tuple[int, ...]) -> int:
        return sum(clock[day][hour] for day in range(7) for hour in which)

    values = {
        "explorer": w["distinct_artists"],
        "picky_listener": _share(plays - w["streams"], plays),
        "loyalist": _share(w["top_artists"][0]["plays"], plays),
        "early_bird": _share(hours(range(5, 9)), plays),
        "night_owl": _share(hours((22, 23, 0, 1, 2, 3)), plays),
        "marathoner": w["longest_session"]["minutes"],
        "obsessed": w["top_tracks"][0]["plays"],
    }
    card = {
        "plays": plays,
        "minutes_listened": w["minutes_listened"],
        "top_artist": {k: w["top_artists"][0][k] for k in ("id", "name")},
        "top_track": {k: w["top_tracks"][0][k] for k in ("id", "name")},
    }
    return {"values": values, "card": card}


def _check(conn: Connection, period: Period, users: tuple[str, ...]) -> None:
    expected = {u: _from_wrapped(wrapped(conn, period, user_id=u, limit=5)) for u in users}
    together = party(conn, period, user_ids=list(users))
    assert [m["user_id"] for m in together["members"]] == list(users)
    for member in together["members"]:
        card = {k: member[k] for k in ("plays", "minutes_listened", "top_artist", "top_track")}
        assert card == expected[member["user_id"]]["card"]
    assert [a["award"] for a in together["awards"]] == list(AWARD_IDS)
    for award in together["awards"]:
        name = award["award"]
        ranked = sorted(
            ((e["values"][name], u) for u, e in expected.items() if e["values"][name] > 0),
            key=lambda vu: (-vu[0], -expected[vu[1]]["card"]["plays"], vu[1]),
        )
        value, winner = ranked[0] if ranked else (None, None)
        assert (award["winner"], award["value"]) == (winner, value), name
    for user in users:  # every member's own value, winner or not
        alone = party(conn, period, user_ids=[user])
        values = expected[user]["values"]
        got = {a["award"]: a["value"] for a in alone["awards"]}
        assert got == {k: v if v > 0 else None for k, v in values.items()}, user


@pytest.fixture
def household(db_url: str) -> Store:
    from bench.generate import generate_database

    for number, user in enumerate(USERS, 1):
        generate_database(
            db_url,
            plays=2_500,
            seed=number,
            catalogue_seed=1,
            tracks=200,
            artists=40,
            user_id=user,
            display_name=f"Listener {number}",
            end=END,
            podcasts=False,
        )
    return open_store(db_url)


PERIODS = ("2025", "2025-02-25..2025-03-04", "2025-03-02")


def test_awards_equal_each_members_wrapped_on_a_generated_household(household: Store) -> None:
    try:
        with household.connect() as conn:
            for text in PERIODS:  # no summaries: every number from the plays
                _check(conn, Period.parse(text, TZ), USERS)
        # The plays per hour then come from the summaries, plus the plays after their cutoff;
        # the second party of a closed period is the kept one.
        refresh_store(household, TZ, 30_000, datetime(2026, 1, 1, tzinfo=UTC))
        with household.connect() as conn:
            for text in PERIODS:
                _check(conn, Period.parse(text, TZ), USERS)
                _check(conn, Period.parse(text, TZ), USERS)
            # Another zone than the summaries': from the plays again.
            _check(conn, Period.parse("2025-02-25..2025-03-04", "America/Los_Angeles"), USERS)
    finally:
        household.close()


FILE = "Efrrowini__spotify-music-analysis__Streaming_History_Audio_{}.json"
YEARS = {"cy": 2022, "ana": 2023, "ben": 2024}


def test_awards_equal_each_members_wrapped_on_real_exports(store: Store, tmp_path: Path) -> None:
    for user, year in YEARS.items():
        folder = tmp_path / user
        folder.mkdir()
        shutil.copy(SAMPLES / FILE.format(year), folder / f"Streaming_History_Audio_{year}.json")
        assert import_paths(store, [folder], SystemClock(), user_id=user).ok
    users = tuple(sorted(YEARS))
    refresh_store(store, "Asia/Kolkata", 30_000, datetime(2026, 1, 1, tzinfo=UTC))
    with store.connect() as conn:
        _check(conn, Period.parse("2022..2024", "Asia/Kolkata"), users)
        _check(conn, Period.parse("2023-06..2024-09", "Asia/Kolkata"), ("ana", "ben"))


def _record(ts: datetime, name: str, track: str, ms: int) -> dict[str, Any]:
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "android",
        "ms_played": ms,
        "conn_country": "DE",
        "master_metadata_track_name": name,
        "master_metadata_album_artist_name": name,
        "master_metadata_album_album_name": f"{name} album",
        "spotify_track_uri": f"spotify:track:{track}",
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 0,
        "incognito_mode": False,
    }


def test_ties_and_a_clock_change_agree_with_each_members_wrapped(store: Store, tmp_path: Path) -> None:
    """Artists and tracks tied on every count (names whose code-point order differs from a
    locale's: ordered by code point on both databases), every short play tied on 0 streams, and
    plays across Berlin's clock change of 2025-03-30 (02:00 -> 03:00 local), near the early-bird
    and night-owl hours."""

    names = {
        "a": "0000000000000000000001",
        "B": "0000000000000000000002",
        "É": "0000000000000000000003",
        "f": "0000000000000000000004",
    }
    start = datetime(2025, 3, 29, 20, tzinfo=UTC)  # 21:00 in Berlin, the evening before the change
    histories: dict[str, list[dict[str, Any]]] = {"even": [], "short": []}
    for n in range(12):  # every 45 minutes: across the night of the change
        when = start + timedelta(minutes=45 * n)
        for name in ("a", "B", "É"):  # the same plays and milliseconds for each name
            track = names[name]
            histories["even"].append(
                _record(when + timedelta(seconds=len(track) + ord(name[0])), name, track, 120_000)
            )
        histories["short"].append(_record(when, "É", names["É"], 10_000))
        histories["short"].append(_record(when + timedelta(minutes=1), "f", names["f"], 10_000))
    for user, records in histories.items():
        folder = tmp_path / user
        folder.mkdir()
        (folder / "Streaming_History_Audio_2025.json").write_text(json.dumps(records))
        assert import_paths(store, [folder], SystemClock(), user_id=user).ok
    users = ("even", "short")
    with store.connect() as conn:
        for text in ("2025-03-29..2025-03-31", "2025-03-30"):
            _check(conn, Period.parse(text, TZ), users)
            party_of = party(conn, Period.parse(text, TZ), user_ids=list(users))
            tops = {
                m["user_id"]: (m["top_artist"]["name"], m["top_track"]["name"]) for m in party_of["members"]
            }
            # Ties broken by name in code-point order ("B" < "a" < "f" < "É"), where a
            # locale's collation would put "a" first and "É" before "f".
            assert tops["even"] == ("B", "B")
            assert tops["short"] == ("f", "f")
