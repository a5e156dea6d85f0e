"""A small, known listening history and the dashboard app on it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from brapped.config import Settings, load_settings
from brapped.store import Store, open_store
from brapped.store.runs import record_run
from brapped.store.tables import (
    album_artists,
    albums,
    artist_genres,
    artists,
    gaps,
    musicbrainz_artists,
    plays,
    track_artists,
    tracks,
)
from brapped.web import create_app
from tests.conftest import _fresh_pg

NOW = datetime(2026, 3, 15, 18, 30, tzinfo=UTC)
XSS = "<script>alert(1)</script>"
XSS_ARTIST = '"><img src=x onerror=alert(2)>'


class FixedClock:
    """A clock stopped at `now`."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Seeded:
    """Ids in the seeded history, for tests to ask about."""

    xss_track: str = "trk_xss"
    hit_track: str = "trk_hit"
    feat_track: str = "trk_feat"
    main_artist: str = "art_main"
    guest_artist: str = "art_guest"
    xss_artist: str = "art_xss"
    album: str = "alb_one"


SEEDED = Seeded()


def seed(store: Store) -> Seeded:
    """Three tracks (one named like a script, one with a featured artist) played over three weeks."""
    with store.begin() as conn:
        conn.execute(
            artists.insert(),
            [
                {
                    "id": "art_main",
                    "name": "Main Artist",
                    "image_url": "https://i.scdn.co/image/main",
                    "enriched_at": NOW,
                },
                {"id": "art_guest", "name": "Guest Artist", "image_url": None, "enriched_at": None},
                {"id": "art_xss", "name": XSS_ARTIST, "image_url": None, "enriched_at": None},
            ],
        )
        conn.execute(artist_genres.insert(), [{"artist_id": "art_main", "genre": "indie pop"}])
        conn.execute(
            artist_genres.insert(),
            [
                {
                    "artist_id": "art_main",
                    "genre": "dream pop",
                    "source": "musicbrainz",
                    "votes": 3,
                    "fetched_at": NOW,
                }
            ],
        )
        # MusicBrainz facts: the overview's countries chart and the artist page's origin line.
        conn.execute(
            musicbrainz_artists.insert(),
            [
                {
                    "artist_id": "art_main",
                    "status": "mapped",
                    "mbid": "db92a151-1ac2-438b-bc43-b82e149ddd50",
                    "mapped_by": "url",
                    "name": "Main Artist",
                    "type": "Group",
                    "country": "GB",
                    "area": "United Kingdom",
                    "begin_year": 2001,
                    "fetched_at": NOW,
                },
            ],
        )
        conn.execute(
            musicbrainz_artists.insert(),
            [{"artist_id": "art_guest", "status": "ambiguous", "fetched_at": NOW}],
        )
        conn.execute(
            albums.insert(),
            [
                {
                    "id": "alb_one",
                    "name": "First Album",
                    "release_date": "2019-05-01",
                    "image_url": "https://i.scdn.co/image/album",
                },
                {"id": "alb_xss", "name": XSS, "release_date": "2021", "image_url": None},
            ],
        )
        conn.execute(
            album_artists.insert(),
            [
                {"album_id": "alb_one", "position": 0, "artist_id": "art_main"},
                {"album_id": "alb_xss", "position": 0, "artist_id": "art_xss"},
            ],
        )
        conn.execute(
            tracks.insert(),
            [
                {
                    "id": "trk_hit",
                    "name": "The Hit",
                    "album_id": "alb_one",
                    "duration_ms": 200_000,
                    "is_resolved": True,
                },
                {
                    "id": "trk_feat",
                    "name": "Duet Song",
                    "album_id": "alb_one",
                    "duration_ms": 180_000,
                    "is_resolved": True,
                },
                {
                    "id": "trk_xss",
                    "name": XSS,
                    "album_id": "alb_xss",
                    "duration_ms": 120_000,
                    "is_resolved": False,
                },
            ],
        )
        conn.execute(
            track_artists.insert(),
            [
                {"track_id": "trk_hit", "position": 0, "artist_id": "art_main"},
                {"track_id": "trk_feat", "position": 0, "artist_id": "art_main"},
                {"track_id": "trk_feat", "position": 1, "artist_id": "art_guest"},
                {"track_id": "trk_xss", "position": 0, "artist_id": "art_xss"},
            ],
        )
        rows: list[dict[str, Any]] = []
        # 21 days up to today: every day the hit twice, the duet once; the script track on odd days.
        for days_ago in range(21):
            base = NOW.replace(hour=9, minute=0) - timedelta(days=days_ago)
            rows.append(_play(base, "trk_hit", 200_000))
            rows.append(_play(base + timedelta(minutes=4), "trk_hit", 150_000))
            rows.append(_play(base + timedelta(hours=9), "trk_feat", 180_000))
            if days_ago % 2:
                rows.append(_play(base + timedelta(hours=12), "trk_xss", 20_000))
        conn.execute(plays.insert(), rows)
        run_id = record_run(
            conn,
            "sync",
            NOW - timedelta(hours=2),
            NOW - timedelta(hours=2) + timedelta(seconds=3),
            "ok",
            {"new_plays": 12},
            None,
            "listener",
        )
        record_run(
            conn,
            "sync",
            NOW - timedelta(hours=1),
            NOW - timedelta(hours=1),
            "failed",
            None,
            f"HTTP 503 {XSS}",
            "listener",
        )
        conn.execute(
            gaps.insert(),
            [
                {
                    "user_id": "listener",
                    "gap_from": NOW - timedelta(days=30),
                    "gap_to": NOW - timedelta(days=29),
                    "detected_at": NOW - timedelta(days=29),
                    "run_id": run_id,
                }
            ],
        )
    return SEEDED


def _play(when: datetime, track: str, ms: int) -> dict[str, Any]:
    return {
        "user_id": "listener",
        "played_at": when,
        "track_id": track,
        "ms_played": ms,
        "ms_played_source": "export",
        "source": "export",
    }


def make_settings(home: Path, **values: Any) -> Settings:
    return load_settings({"timezone": "UTC", **values}, env={}, home=home)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def web_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A seeded database shared by a module's read-only tests, on SQLite and on PostgreSQL.

    The dashboard never writes plays, so one seeded copy per module is enough and keeps the suite fast.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'brapped.db'}"
        opened = open_store(url)
        seed(opened)
        opened.close()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    fresh = _fresh_pg(template)
    url = next(fresh)
    opened = open_store(url)
    seed(opened)
    opened.close()
    yield url
    next(fresh, None)


@pytest.fixture(scope="module")
def web_store(web_db_url: str) -> Iterator[Store]:
    opened = open_store(web_db_url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def app(web_store: Store, settings: Settings) -> FastAPI:
    return create_app(web_store, settings, FixedClock(NOW))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
