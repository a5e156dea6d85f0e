"""The dashboard for a household: ?user= on every page, the user picker, /compare and /party, in-process
(httpx.ASGITransport) on SQLite and PostgreSQL. Expected numbers come from the raw rows, in Python."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from brapped.store import Store, open_store
from brapped.store.tables import accounts, plays, track_artists
from brapped.web import create_app
from tests.conftest import _fresh_pg
from tests.web.conftest import NOW, SEEDED, FixedClock, make_settings, seed
from tests.web.test_app import HTML_PAGES

pytestmark = pytest.mark.anyio

FRIEND = "friend"
FRIEND_PLAYS = [("trk_hit", 1), ("trk_hit", 2), ("trk_hit", 3), ("trk_xss", 1)]  # (track, days ago)


def _seed_household(url: str) -> None:
    opened = open_store(url)
    seed(opened)
    with opened.begin() as conn:
        conn.execute(
            accounts.insert(),
            [
                {"id": "listener", "display_name": "Lis", "first_seen_at": NOW},
                {"id": FRIEND, "display_name": "Fri", "first_seen_at": NOW},
            ],
        )
        conn.execute(
            plays.insert(),
            [
                {
                    "user_id": FRIEND,
                    "played_at": NOW.replace(hour=7) - timedelta(days=ago),
                    "track_id": track,
                    "ms_played": 100_000,
                    "source": "api",
                }
                for track, ago in FRIEND_PLAYS
            ],
        )
    opened.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def household_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('household') / 'brapped.db'}"
        _seed_household(url)
        yield url
        return
    fresh = _fresh_pg(request.getfixturevalue("pg_template"))
    url = next(fresh)
    _seed_household(url)
    yield url
    next(fresh, None)


@pytest.fixture(scope="module")
def household_store(household_url: str) -> Iterator[Store]:
    opened = open_store(household_url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def household_app(household_store: Store, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    home: Path = tmp_path_factory.mktemp("home")
    return create_app(household_store, make_settings(home), FixedClock(NOW))


@pytest.fixture
async def client(household_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=household_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _with_user(path: str, user: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}user={user}"


@pytest.mark.parametrize("user", ["listener", FRIEND])
@pytest.mark.parametrize(
    "path", [p for p in HTML_PAGES if not p.startswith(("/track/trk_xss", "/album/alb"))]
)
async def test_every_page_takes_a_user(client: httpx.AsyncClient, path: str, user: str) -> None:
    response = await client.get(_with_user(path, user))
    # The friend never played the duet's guest artist nor every album: those pages say "not found".
    assert response.status_code in (200, 404), (path, response.text[:300])
    if response.status_code == 200:
        assert 'class="user-picker"' in response.text
        assert re.search(rf'<option value="{user}" selected>', response.text)
        # Our own scripts only; the household's one carries ?user= along the page's links.
        quiz = ["/static/quiz.js?v=0.1.0"] if path.startswith("/wrapped") else []
        assert re.findall(r"<script[^>]*src=\"([^\"]+)\"", response.text) == [
            "/static/app.js?v=0.1.0",
            "/static/story.js?v=0.1.0",
            "/static/vendor/echarts/echarts.min.js",
            "/static/race.js?v=0.1.0",
            "/static/charts.js?v=0.1.0",
            "/static/household.js?v=0.1.0",
            *quiz,
        ]


async def test_the_user_changes_the_numbers(client: httpx.AsyncClient, household_store: Store) -> None:
    with household_store.connect() as conn:
        counts = Counter(r[0] for r in conn.execute(select(plays.c.user_id)))
    for user in ("listener", FRIEND):
        data = (await client.get(f"/api/overview?period=all&user={user}")).json()
        assert data["plays"] == counts[user]
    everyone = (await client.get("/api/overview?period=all")).json()
    assert everyone["plays"] == sum(counts.values())
    friend_day = (await client.get(f"/api/day/{(NOW - timedelta(days=1)).date()}?user={FRIEND}")).json()
    assert friend_day["plays"] == sum(1 for _, ago in FRIEND_PLAYS if ago == 1)
    page = await client.get(f"/?period=all&user={FRIEND}")
    assert "user=friend" in page.text  # the period presets keep the listener
    redirect = await client.get(f"/day?day={NOW.date()}&user={FRIEND}", follow_redirects=False)
    assert redirect.headers["location"].endswith("?user=friend")


def _expected_score(store: Store) -> int:
    with store.connect() as conn:
        credits: dict[str, list[str]] = {}
        for track, artist in conn.execute(select(track_artists.c.track_id, track_artists.c.artist_id)):
            credits.setdefault(track, []).append(artist)
        per_user: dict[str, Counter[str]] = {}
        for user, track in conn.execute(select(plays.c.user_id, plays.c.track_id)):
            per_user.setdefault(user, Counter()).update(credits[track])
    a, b = per_user["listener"], per_user[FRIEND]
    ta, tb = sum(a.values()), sum(b.values())
    return round(100 * sum(min(a[k] / ta, b[k] / tb) for k in a if k in b))


async def test_compare_page(client: httpx.AsyncClient, household_store: Store) -> None:
    expected = _expected_score(household_store)
    for a, b in (("listener", FRIEND), (FRIEND, "listener")):
        page = await client.get(f"/compare?a={a}&b={b}")
        assert page.status_code == 200
        assert f'data-score="{expected}"' in page.text
    assert f'href="/artist/{SEEDED.main_artist}"' in page.text
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    chosen = await client.get("/compare")  # no choice: the first two listeners
    assert chosen.status_code == 200 and f'data-score="{expected}"' in chosen.text
    period = await client.get(f"/compare?a=listener&b={FRIEND}&period=7d")
    assert period.status_code == 200
    unknown = await client.get("/compare?a=listener&b=nobody")
    assert unknown.status_code == 400 and "nobody" in unknown.text


async def test_party_page_has_a_card_per_award(client: httpx.AsyncClient) -> None:
    page = await client.get(f"/party?year={NOW.year}")
    assert page.status_code == 200
    keys = re.findall(r'data-card-key="([a-z_]+)"', page.text)
    expected = ["explorer", "picky_listener", "loyalist", "early_bird", "night_owl", "marathoner", "obsessed"]
    assert keys == ["group", *expected]
    assert page.text.count("data-download") == len(keys)
    cards = [
        json.loads(c.replace("&#34;", '"').replace("&amp;", "&"))
        for c in re.findall(r'data-card="([^"]+)"', page.text)
    ]
    assert all(c["file"].endswith(".png") for c in cards)
    # Each member's plays ran at 07:00 (friend) or 09:00 and later (listener): the friend is the early bird.
    early = next(c for c in cards if c["key"] == "early_bird")
    assert early["headline"] == "Fri" and early["big"] == "100%"
    for asset in ("/static/household.js", "/static/household.css"):
        assert (await client.get(asset)).status_code == 200
    empty = await client.get("/party?year=1999")
    assert empty.status_code == 200 and "Nobody listened" in empty.text
    lede = re.search(r'<p class="lede">(.*?)</p>', empty.text, re.S)
    assert lede is not None and lede[1] == "1999-01-01 to 1999-12-31 · nobody listened"


async def test_warming_covers_each_listener(household_store: Store, tmp_path: Path) -> None:
    app = create_app(household_store, make_settings(tmp_path / "home"), FixedClock(NOW))
    board = app.state.dashboard
    board.warm()
    before = board.cache.stats()["misses"]
    # Each listener's overview (30 days), today and this year's Wrapped are ready before anyone asks.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for user in ("listener", FRIEND):
            for path in ("/", "/day", "/wrapped"):
                assert (await client.get(f"{path}?user={user}")).status_code == 200
    assert board.cache.stats()["misses"] == before
