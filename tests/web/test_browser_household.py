"""The household's dashboard in a real headless Chromium: the listener picker and ?user= following
links, /compare, and /party's cards downloading as PNG."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest

from brapped.store import open_store
from brapped.store.tables import accounts
from brapped.web import create_app
from tests.web.conftest import NOW, SEEDED, FixedClock, make_settings
from tests.web.live_server import serving
from tests.web.test_browser import ARTIFACTS, Watched, _png, browser
from tests.web.test_health_browser import OVERFLOWS
from tests.web.test_household import FRIEND, _seed_household

pytestmark = pytest.mark.browser
__all__ = ["browser"]

LONG_NAME = "Maria Fernanda dos Santos Oliveira"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser-household")
    url = f"sqlite:///{folder / 'brapped.db'}"
    _seed_household(url)
    store = open_store(url)
    # A name as long as real ones get (or a 25-character Spotify id, for an import-only listener):
    # the compare tables head their columns with it.
    with store.begin() as conn:
        conn.execute(accounts.update().where(accounts.c.id == FRIEND).values(display_name=LONG_NAME))
    home = folder / "home"
    home.mkdir()
    app = create_app(store, make_settings(home), FixedClock(NOW))
    with serving(app) as url:
        yield url
    store.close()


@pytest.fixture
def watched(browser: Any, base_url: str) -> Iterator[Watched]:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 390, "height": 844}, accept_downloads=True
    )
    cover = _png(64, 64, (124, 92, 255))
    context.route(
        "https://*.scdn.co/**", lambda route: route.fulfill(status=200, content_type="image/png", body=cover)
    )
    page = context.new_page()
    yield Watched(page)
    context.close()


def test_the_listener_follows_links_and_the_picker_switches(watched: Watched) -> None:
    page = watched.page
    page.goto(f"/?period=all&user={FRIEND}", wait_until="load")
    assert page.input_value(".user-picker select") == FRIEND
    href = page.get_attribute(f"a.name[href^='/artist/{SEEDED.main_artist}']", "href")
    assert href == f"/artist/{SEEDED.main_artist}?user={FRIEND}"
    page.click("a[href^='/wrapped']")
    page.wait_for_url(f"**/wrapped?user={FRIEND}")
    page.select_option(".user-picker select", "listener")
    page.wait_for_url("**user=listener**")
    assert page.input_value(".user-picker select") == "listener"
    assert watched.problems == []


def test_compare_page(watched: Watched) -> None:
    page = watched.page
    response = page.goto(f"/compare?a=listener&b={FRIEND}", wait_until="load")
    assert response is not None and response.status == 200
    score = page.get_attribute(".compare-big", "data-score")
    assert score is not None and 0 < int(score) <= 100
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-phone.png"), full_page=True)
    assert "Main Artist" in page.inner_text(".compare-table")
    assert watched.problems == []


def test_party_card_downloads_as_png(watched: Watched) -> None:
    page = watched.page
    page.goto(f"/party?year={NOW.year}", wait_until="load")
    cards = page.locator(".story-card")
    assert cards.count() == 8
    with page.expect_download() as info:
        page.locator(".story-card[data-card-key=early_bird] [data-download]").click()
    download = info.value
    assert download.suggested_filename == f"brapped-party-{NOW.year}-early_bird.png"
    target = ARTIFACTS / download.suggested_filename
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    download.save_as(str(target))
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1080, 1350)
    page.screenshot(path=str(ARTIFACTS / "party-phone.png"), full_page=True)
    assert watched.problems == []


@pytest.mark.parametrize("width", [1400, 390])
def test_compare_page_fits_with_long_names(browser: Any, base_url: str, width: int) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        response = page.goto(f"/compare?a=listener&b={FRIEND}", wait_until="load")
        assert response is not None and response.status == 200
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"compare-{width}.png"), full_page=True)
        assert LONG_NAME in page.inner_text(".compare-table thead")
        # A column headed by a long name used to push its card, and the page, past a phone's width.
        assert page.evaluate(OVERFLOWS) == []
        # The friend plays no artist Lis does not: the note saying so spans its card, not the list's
        # 2rem rank column (where it stood a word a line).
        note = page.locator(".list-card", has_text=f"Only {LONG_NAME}").locator(".empty")
        assert note.inner_text() == "None: Lis plays all of them too."
        lines = note.evaluate(
            "n => { const r = document.createRange(); r.selectNodeContents(n); "
            "return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }"
        )
        assert lines == 1
        assert problems == []
    finally:
        context.close()
