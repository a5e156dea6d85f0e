"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright's Python API).

One browser for the whole module, one uvicorn server on a seeded SQLite database. Screenshots are
kept under test-artifacts/ (gitignored) for people to look at.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from brapped.store import open_store
from brapped.web import create_app
from tests.conftest import IN_CI, REPO
from tests.web.conftest import NOW, SEEDED, XSS, FixedClock, make_settings, seed
from tests.web.live_server import serving

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TODAY = NOW.date()
ODD_DAY = TODAY - timedelta(days=1)  # the seed plays the script-named track on odd days back
PAGES = {
    "overview": "/",
    "overview-all": "/?period=all",
    "day": f"/day/{ODD_DAY}",
    "wrapped": "/wrapped",
    "search": "/search?q=script",
    "artist": f"/artist/{SEEDED.main_artist}",
    "artist-xss": f"/artist/{SEEDED.xss_artist}",
    "track": f"/track/{SEEDED.xss_track}",
    "album": "/album/alb_xss",
    "health": "/health",
}
# Pages that list the track named like a script, and so must show that name as text.
SHOWS_XSS_TRACK = {"overview", "overview-all", "day", "wrapped", "search", "artist-xss", "track"}


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-colour PNG: what the fake CDN serves as a cover."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + ": CI=true, browser tests must run")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    store = open_store(f"sqlite:///{folder / 'brapped.db'}")
    seed(store)
    home = folder / "home"
    home.mkdir()
    # An authorisation given 170 days before NOW: it lasts six months, until 2026-03-26 18:30.
    token = {"client_id": "c", "refresh_token": "r-secret", "issued_at": "2025-09-26T18:30:00+00:00"}
    (home / "token.json").write_text(json.dumps(token))
    app = create_app(store, make_settings(home), FixedClock(NOW))
    with serving(app) as url:
        yield url
    store.close()


class Watched:
    """A page with its console errors, uncaught exceptions and dialogs recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on(
            "console",
            lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))


@pytest.fixture(scope="module")
def context(browser: Any, base_url: str) -> Iterator[Any]:
    """One browser context for the module, so the 1 MB chart library comes from cache after one page."""
    made = browser.new_context(
        base_url=base_url, viewport={"width": 1360, "height": 900}, accept_downloads=True
    )
    cover = _png(64, 64, (124, 92, 255))
    # The CDN, as if online: every cover is a small purple square.
    made.route(
        "https://*.scdn.co/**", lambda route: route.fulfill(status=200, content_type="image/png", body=cover)
    )
    yield made
    made.close()


@pytest.fixture
def watched(context: Any) -> Iterator[Watched]:
    page = context.new_page()
    yield Watched(page)
    page.close()


def _rendered_charts(page: Any) -> list[int]:
    """SVG shapes drawn in each chart container of the page."""
    counts: list[int] = page.eval_on_selector_all(
        "[data-chart]", "nodes => nodes.map(n => n.querySelectorAll('svg path, svg rect').length)"
    )
    return counts


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_cleanly_with_charts(watched: Watched, name: str) -> None:
    page = watched.page
    response = page.goto(PAGES[name], wait_until="load")
    assert response is not None and response.status == 200
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')].every(n => n.dataset.rendered)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert watched.problems == []
    assert watched.dialogs == []
    charts = _rendered_charts(page)
    if name != "album" and name != "search" and name != "health":
        assert charts, "the page has no chart"
    assert all(count > 5 for count in charts), charts
    body = page.inner_text("body")
    if name in SHOWS_XSS_TRACK:
        assert XSS in body
    assert page.evaluate("() => window.__xss === undefined")


def test_genres_and_origins_from_musicbrainz(watched: Watched) -> None:
    page = watched.page
    page.goto("/?period=all", wait_until="load")
    page.wait_for_function("() => document.querySelector('[data-chart=countries]')?.dataset.rendered")
    assert page.inner_text("body").upper().count("WHERE YOUR ARTISTS COME FROM") == 1
    assert _rendered_charts(page) and all(n > 5 for n in _rendered_charts(page))
    page.goto(f"/artist/{SEEDED.main_artist}", wait_until="load")
    body = page.inner_text("body")
    assert "indie pop · dream pop" in body and "Group from United Kingdom · active 2001" in body
    link = page.get_attribute("a[href^='https://musicbrainz.org/artist/']", "href")
    assert link == "https://musicbrainz.org/artist/db92a151-1ac2-438b-bc43-b82e149ddd50"
    page.goto("/health", wait_until="load")
    assert "1 / 3 artists mapped, 1 with genres" in page.inner_text("body")
    assert watched.problems == []


def test_period_picker(watched: Watched) -> None:
    page = watched.page
    page.goto("/", wait_until="load")
    page.click("a[data-period='7d']")
    page.wait_for_url("**/?period=7d")
    assert page.inner_text("[data-period-label]").startswith("7 days")
    assert page.get_attribute("a[data-period='7d']", "class") == "chip active"
    days = page.evaluate("() => brapped.pageData().days.length")
    assert days == 7
    page.fill("input[name=from]", str(TODAY - timedelta(days=2)))
    page.fill("input[name=to]", str(TODAY))
    page.click(".picker-custom button[type=submit]")
    page.wait_for_url("**period=custom**")
    assert page.inner_text("[data-period-label]").startswith(f"{TODAY - timedelta(days=2)} – {TODAY}")
    assert page.evaluate("() => brapped.pageData().days.length") == 3
    assert watched.problems == []


def test_search_as_you_type(watched: Watched) -> None:
    page = watched.page
    page.goto("/search", wait_until="load")
    page.type("[data-search-input]", "duet", delay=30)
    # On a busy machine the debounce may fire mid-word ("du" matches too): wait for the last one.
    page.wait_for_url("**/search?q=duet")
    page.wait_for_selector("[data-search-results][data-state=results] [data-group=tracks] a.name")
    assert page.inner_text("[data-group=tracks] a.name") == "Duet Song"
    page.fill("[data-search-input]", "")
    page.type("[data-search-input]", "<script", delay=20)
    page.wait_for_url("**/search?q=%3Cscript")
    page.wait_for_function(
        "() => (document.querySelector('[data-group=tracks]') || {}).innerText?.includes('alert(1)')"
    )
    assert XSS in page.inner_text("[data-group=tracks]")
    page.fill("[data-search-input]", "zzqx")
    page.wait_for_selector("[data-search-results][data-state=none]")
    assert watched.dialogs == [] and watched.problems == []


def test_wrapped_card_downloads_as_png(watched: Watched) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    cards = page.locator(".story-card")
    assert cards.count() >= 4
    with page.expect_download() as info:
        cards.nth(1).locator("[data-download]").click()
    download = info.value
    assert download.suggested_filename == "brapped-wrapped-2026-artists.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / download.suggested_filename
    download.save_as(str(target))
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1080, 1350)
    assert len(data) > 20_000  # a drawn card, not an empty canvas
    assert watched.problems == []


def test_offline_covers_become_placeholders(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    context.route("https://*.scdn.co/**", lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    page.goto("/", wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('img.pic').length === 0")
    placeholders = page.eval_on_selector_all(".pic-empty", "nodes => nodes.map(n => n.dataset.initial)")
    assert "M" in placeholders  # Main Artist's photo and First Album's cover, now initials
    assert "F" in placeholders
    context.close()


def test_token_countdown(watched: Watched) -> None:
    page = watched.page
    page.goto("/health", wait_until="load")
    page.wait_for_function("() => document.querySelector('.countdown').textContent.length > 0")
    # 11 days from the server's now (not the browser's): 2026-03-15 18:30 to 2026-03-26 18:30,
    # less the moments between rendering the page and running its script.
    expected = ("Token expires in 11 d 0 h 0 min.", "Token expires in 10 d 23 h 59 min.")
    assert page.inner_text(".countdown") in expected
    assert "r-secret" not in page.content()


RACE = f"/wrapped?from={TODAY - timedelta(days=20)}&to={TODAY}"  # three weeks: three weekly frames


def test_artist_race_animates_offline(watched: Watched, base_url: str) -> None:
    page = watched.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(RACE, wait_until="load")
    page.wait_for_selector("[data-chart=race][data-rendered]")
    frames = page.evaluate("() => brapped.pageData().race.frames.map(f => f.label)")
    assert len(frames) == 3
    # It plays by itself from the first week to the last, each step a redrawn bar chart.
    page.wait_for_function(
        "() => document.querySelector('[data-chart=race]').dataset.frame === '2'", timeout=15_000
    )
    assert page.inner_text("[data-race-label]") == frames[-1]
    assert page.get_attribute("[data-race-play]", "aria-pressed") == "false"  # stopped at the end
    bars = page.eval_on_selector("[data-chart=race]", "n => n.querySelectorAll('svg path').length")
    assert bars > 5
    names = page.eval_on_selector("[data-chart=race]", "n => n.textContent")
    assert "Main Artist" in names
    # The slider steps by hand; the text list stays in the page.
    page.eval_on_selector("[data-race-frame]", "n => { n.value = '0'; n.dispatchEvent(new Event('input')); }")
    assert page.inner_text("[data-race-label]") == frames[0]
    assert page.locator("[data-race-text] li").count() >= 2
    # Nothing but this server (and the routed cover CDN) was asked for anything.
    assert [u for u in asked if not u.startswith(base_url) and ".scdn.co/" not in u] == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wrapped-race.png"), full_page=True)
    assert watched.problems == []


def test_artist_race_with_reduced_motion_is_still(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, reduced_motion="reduce")
    context.route("https://*.scdn.co/**", lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(RACE, wait_until="load")
    page.wait_for_selector("[data-chart=race][data-rendered]")
    last = page.evaluate("() => brapped.pageData().race.frames.at(-1).label")
    # The final standings at once, and no autoplay.
    assert page.get_attribute("[data-chart=race]", "data-frame") == "2"
    page.wait_for_timeout(1_800)
    assert page.get_attribute("[data-chart=race]", "data-frame") == "2"
    assert page.inner_text("[data-race-label]") == last
    assert page.get_attribute("[data-race-play]", "aria-pressed") == "false"
    # The keyboard moves it: focus the slider, step back a week.
    page.focus("[data-race-frame]")
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("[data-chart=race]", "data-frame") == "1"
    assert problems == []
    context.close()


def test_wrapped_shows_the_2025_cards(watched: Watched) -> None:
    page = watched.page
    page.goto(RACE, wait_until="load")
    keys = page.eval_on_selector_all(".story-card", "nodes => nodes.map(n => n.dataset.cardKey)")
    assert "obsession" in keys
    obsession = page.inner_text("[data-card-key=obsession]")
    # The seed plays the hit twice a day: 14 times in any week of the three.
    assert "×14" in obsession and "The Hit" in obsession
    assert f"{TODAY - timedelta(days=20)} – {TODAY - timedelta(days=14)}" in obsession
    assert watched.problems == []


# WCAG's contrast ratio of two "rgb(r, g, b)" or "#rrggbb" colours.
CONTRAST = """() => {
  const MIN = 4.5;  // WCAG AA for normal text: a card's notes and foot are small
  const rgb = c => c.startsWith('#') ? [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16))
                                     : c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = c => rgb(c).map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const low = [];
  const seen = new Set();
  // A faded element's text is its colour mixed into the background: opacity (its own and its
  // ancestors' up to the card) and the colour's alpha both count.
  const shown = (el, card, stop) => {
    let alpha = 1;
    for (let n = el; n && n !== card.parentElement; n = n.parentElement) {
      alpha *= Number(getComputedStyle(n).opacity);
    }
    const parts = getComputedStyle(el).color.match(/\\d+(\\.\\d+)?/g).map(Number);
    alpha *= parts.length > 3 ? parts[3] : 1;
    const mixed = rgb(stop).map((b, i) => Math.round(parts[i] * alpha + b * (1 - alpha)));
    return `rgb(${mixed.join(', ')})`;
  };
  for (const card of document.querySelectorAll('.story-card')) {
    const style = getComputedStyle(card);
    const theme = [...card.classList].find(c => c.startsWith('theme-'));
    seen.add(theme);
    const texts = [...card.querySelectorAll('*')].filter(el =>
      [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()) && !el.closest('button'));
    for (const stop of style.backgroundImage.match(/rgba?\\([^)]*\\)/g)) {
      const r = ratio(style.color, stop);
      if (r < MIN) low.push(`${theme} page ${style.color} on ${stop}: ${r.toFixed(2)}`);
      for (const el of texts) {
        const rr = ratio(shown(el, card, stop), stop);
        const what = `${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 20)}"`;
        if (rr < MIN) low.push(`${theme} ${what} on ${stop}: ${rr.toFixed(2)}`);
      }
    }
  }
  // The PNG a card downloads as is drawn from app.js's palette: [start, end, text].
  THEMES.forEach(([start, end, text], i) => [start, end].forEach(stop => {
    const r = ratio(text, stop);
    if (r < MIN) low.push(`theme-${i} PNG ${text} on ${stop}: ${r.toFixed(2)}`);
  }));
  return {seen: [...seen].sort(), low};
}"""


def test_story_cards_text_reads_on_every_theme(watched: Watched) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    # Text on a card sits anywhere from the gradient's first colour to its last: white on light cyan
    # (theme-4) was 1.8:1. Every theme keeps at least 4.5:1 (WCAG AA for normal text: the notes
    # and foot are small) against both ends, faded text included, on the page and in the PNG.
    found = page.evaluate(CONTRAST)
    assert found["seen"] == [f"theme-{n}" for n in range(6)]
    assert found["low"] == []
    assert watched.problems == []
