"""Fixtures for everything that talks to the emulated Spotify: emulator, settings, client, store.

Import the fixtures you need into a test module (`from tests.spotify.harness import emu, ...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from brapped.config import Settings, load_settings
from brapped.emulator import DEFAULT_CLIENT_ID, EmulatedClock, Emulator, TruePlay
from brapped.spotify import SpotifyClient, connect
from brapped.store import Store
from brapped.store.tables import plays

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def make_settings(home: Path, refresh_token: str | None, **extra: str) -> Settings:
    env = {"SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID, "BRAPPED_TIMEZONE": "UTC", **extra}
    if refresh_token:
        env["SPOTIFY_REFRESH_TOKEN"] = refresh_token
    return load_settings(env=env, home=home)


@pytest.fixture
def emu() -> Emulator:
    """A development-mode emulator (batch lookups refused, like every new personal app)."""
    return Emulator(seed=11, clock=EmulatedClock(START))


@pytest.fixture
def settings(tmp_path: Path, emu: Emulator) -> Settings:
    """Headless settings: client id plus a PKCE refresh token issued by the emulator."""
    return make_settings(tmp_path / "home", emu.issue_refresh_token())


@pytest.fixture
def spotify(settings: Settings, emu: Emulator) -> Iterator[SpotifyClient]:
    """A Web API client wired to the emulator in-process; backoff waits advance emulated time."""
    client = connect(settings, emu.clock, transport=emu.transport())
    yield client
    client.http.close()


def api_visible(play: TruePlay) -> bool:
    """Plays Spotify's recently-played shows (independent of the code under test)."""
    return play.kind == "track" and not play.incognito and play.ms_played >= 30_000


def truth(emu: Emulator, start: datetime, end: datetime) -> set[tuple[datetime, str]]:
    """(played_at, track id) of the visible plays that ended in [start, end]."""
    return {
        (p.played_at, p.id)
        for p in emu.ground_truth(start, end + timedelta(milliseconds=1))
        if api_visible(p)
    }


def stored(store: Store) -> list[tuple[datetime, str]]:
    with store.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(select(plays.c.played_at, plays.c.track_id)).all()]


def advance_to_new_plays(emu: Emulator, at_least: int = 3, at_most: int = 49) -> int:
    """Advance emulated time hour by hour until between `at_least` and `at_most` new visible plays
    ended since now; returns how many (the listener's script is fixed, so this is deterministic)."""
    start = emu.clock.now()
    for hours in range(1, 24 * 7):
        count = len(truth(emu, start + timedelta(milliseconds=1), start + timedelta(hours=hours)))
        if at_least <= count <= at_most:
            emu.clock.set(start + timedelta(hours=hours))
            return count
        if count > at_most:
            start = start + timedelta(hours=hours)  # too many at once: try a later stretch
            emu.clock.set(start)
    raise AssertionError("the listener never listened")
