"""The simulated listener and catalogue: deterministic, realistic, fast."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from brapped.emulator import EmulatedClock, Emulator, write_export
from brapped.emulator.catalogue import HTML_TRACK_NAME, VARIOUS_ARTISTS, is_base62_id
from tests.emulator.conftest import START, web_client

MONTH = (datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))


def test_same_seed_gives_byte_identical_data(tmp_path: Path) -> None:
    a = Emulator(seed=7, clock=EmulatedClock(START))
    b = Emulator(seed=7, clock=EmulatedClock(START))
    assert a.ground_truth(*MONTH) == b.ground_truth(*MONTH)
    bodies = []
    for emu in (a, b):
        with web_client(emu) as api:
            bodies.append(api.get("/me/player/recently-played", params={"limit": 50}).content)
    assert bodies[0] == bodies[1]
    za = write_export(a, tmp_path / "a", *MONTH)
    zb = write_export(b, tmp_path / "b", *MONTH)
    assert za.read_bytes() == zb.read_bytes()
    other = Emulator(seed=8, clock=EmulatedClock(START))
    assert other.ground_truth(*MONTH) != a.ground_truth(*MONTH)


def test_catalogue_is_the_same_for_a_seed_when_built_again() -> None:
    from brapped.emulator.catalogue import Catalogue

    first, second = Catalogue(7), Catalogue(7)
    assert first.tracks == second.tracks and first.artists == second.artists
    assert [(a.id, a.track_ids) for a in first.albums.values()] == [
        (a.id, a.track_ids) for a in second.albums.values()
    ]
    assert Catalogue(8).tracks != first.tracks


def test_a_day_does_not_depend_on_what_was_asked_before() -> None:
    day = (datetime(2025, 6, 10, tzinfo=UTC), datetime(2025, 6, 11, tzinfo=UTC))
    first = Emulator(seed=3)
    alone = first.ground_truth(*day)
    second = Emulator(seed=3)
    second.ground_truth(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 3, 1, tzinfo=UTC))
    second.ground_truth(datetime(2025, 6, 11, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
    assert second.ground_truth(*day) == alone


def test_plays_are_realistic() -> None:
    emu = Emulator(seed=42)
    plays = emu.ground_truth(*MONTH)
    per_day = len(plays) / 30
    assert 50 <= per_day <= 150
    kinds = Counter(p.kind for p in plays)
    assert kinds["track"] > 0.9 * len(plays)
    assert kinds["episode"] > 0
    for play in plays:
        # played_at is when the play ended: start + true ms played, at millisecond precision.
        assert play.played_at == play.started_at + timedelta(milliseconds=play.ms_played)
        assert play.played_at.microsecond % 1000 == 0
        assert play.played_at.tzinfo is not None
        assert 0 <= play.ms_played <= play.duration_ms
    ends = [p.played_at for p in plays]
    assert ends == sorted(ends)
    starts_after_previous_end = all(b.started_at >= a.played_at for a, b in itertools.pairwise(plays))
    assert starts_after_previous_end
    assert sum(p.skipped for p in plays) > 0.05 * len(plays)
    assert {p.reason_end for p in plays} >= {"trackdone", "fwdbtn"}
    assert {p.context.type for p in plays if p.context} == {"playlist", "album", "artist"}
    assert any(p.context is None for p in plays)
    assert any(p.shuffle for p in plays) and not all(p.shuffle for p in plays)
    repeats = Counter(p.id for p in plays if p.kind == "track")
    assert repeats.most_common(1)[0][1] >= 5  # favourites come back
    # Night gaps: the listener sleeps (no play starts 03:00-06:00 listener local time).
    offset = timedelta(hours=emu.listener.utc_offset_hours)
    assert not [p for p in plays if 3 <= (p.started_at + offset).hour < 6]


def test_catalogue_has_the_awkward_cases() -> None:
    cat = Emulator(seed=42).catalogue
    assert 3000 <= len(cat.tracks) <= 20000
    assert all(is_base62_id(i) for i in list(cat.tracks)[:500])
    names = Counter(a.name for a in cat.artists.values())
    assert any(n > 1 for n in names.values()), "some artists share a name"
    various = [a for a in cat.albums.values() if a.album_type == "compilation"]
    assert various and all(cat.artists[a.artist_ids[0]].name == VARIOUS_ARTISTS for a in various)
    assert any(t.name == HTML_TRACK_NAME for t in cat.tracks.values())
    assert any(not t.name.isascii() for t in cat.tracks.values())
    assert any(not a.name.isascii() for a in cat.artists.values())
    assert any(len(t.artist_ids) > 1 and "feat." in t.name for t in cat.tracks.values())
    assert {a.album_type for a in cat.albums.values()} == {"album", "single", "compilation"}
    years = {a.year for a in cat.albums.values()}
    assert min(years) < 1975 and max(years) >= 2024
    assert {a.release_date_precision for a in cat.albums.values()} >= {"year", "day"}


def test_thirty_days_of_hourly_syncs_in_seconds() -> None:
    """The demo's pattern: poll hourly with the `after` cursor; nothing eligible is missed."""
    clock = EmulatedClock(START)
    emu = Emulator(seed=42, clock=clock)
    seen: dict[str, str] = {}
    after: int | None = None
    begun = time.perf_counter()
    with httpx.Client(transport=emu.transport(), base_url="https://api.spotify.com/v1") as api:
        for _hour in range(720):
            headers = {"Authorization": f"Bearer {emu.issue_access_token()}"}
            params: dict[str, int] = {"limit": 50}
            if after is not None:
                params["after"] = after
            body = api.get("/me/player/recently-played", params=params, headers=headers).json()
            for item in body["items"]:
                seen[item["played_at"]] = item["track"]["id"]
            if body["cursors"]:
                after = int(body["cursors"]["after"])
            clock.advance(3600)
    elapsed = time.perf_counter() - begun
    assert elapsed < 20, f"720 syncs took {elapsed:.1f} s"
    last_poll = clock.now() - timedelta(hours=1)
    truth = [
        p
        for p in emu.ground_truth(START - timedelta(days=3), last_poll + timedelta(milliseconds=1))
        if p.kind == "track" and not p.incognito and p.ms_played >= 30_000
    ]
    first_seen = min(seen)
    expected = {
        f"{p.played_at:%Y-%m-%dT%H:%M:%S}.{p.played_at.microsecond // 1000:03d}Z": p.id
        for p in truth
        if f"{p.played_at:%Y-%m-%dT%H:%M:%S}.{p.played_at.microsecond // 1000:03d}Z" >= first_seen
    }
    assert {k: v for k, v in seen.items() if k >= first_seen} == expected
    assert emu.counters["GET /v1/me/player/recently-played"] == 720


def test_history_starts_when_the_account_was_made() -> None:
    emu = Emulator(seed=42)
    since = emu.listener.member_since
    before = datetime(since.year, since.month, since.day, tzinfo=UTC) - timedelta(days=3)
    assert emu.ground_truth(before - timedelta(days=30), before) == []
    assert since > date(2015, 12, 31)
