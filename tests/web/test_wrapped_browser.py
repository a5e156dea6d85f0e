"""Wrapped in a real headless Chromium: the Top Song Quiz answered by keyboard on the dashboard, and
the static share page opened from disk with the network off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from brapped.store import Store, open_store
from brapped.store.tables import plays, track_artists, tracks
from brapped.web import create_app
from brapped.web.cards import story_cards
from tests.web.conftest import NOW, XSS, FixedClock, make_settings, seed
from tests.web.live_server import serving
from tests.web.share_site import write_site
from tests.web.test_browser import ARTIFACTS, Watched, _png, browser

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the module's Chromium, shared from test_browser

# The seeded history has three tracks; a fourth, streamed 15 times, gives the quiz four choices.
FOURTH = "trk_fourth"


def _add_fourth_track(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(
            tracks.insert(),
            [
                {
                    "id": FOURTH,
                    "name": "Fourth Song",
                    "album_id": "alb_one",
                    "duration_ms": 190_000,
                    "is_resolved": True,
                }
            ],
        )
        conn.execute(track_artists.insert(), [{"track_id": FOURTH, "position": 0, "artist_id": "art_guest"}])
        conn.execute(
            plays.insert(),
            [
                {
                    "user_id": "listener",
                    "played_at": NOW.replace(hour=15) - timedelta(days=d),
                    "track_id": FOURTH,
                    "ms_played": 190_000,
                    "ms_played_source": "export",
                    "source": "export",
                }
                for d in range(15)
            ],
        )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("quiz")
    store = open_store(f"sqlite:///{folder / 'brapped.db'}")
    seed(store)
    _add_fourth_track(store)
    home = folder / "home"
    home.mkdir()
    app = create_app(store, make_settings(home), FixedClock(NOW))
    with serving(app) as url:
        yield url
    store.close()


@pytest.fixture
def watched(browser: Any, base_url: str) -> Iterator[Watched]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    # Covers come from Spotify's CDN: a small square stands in for each, as in test_browser.
    cover = _png(8, 8, (124, 92, 255))
    context.route(
        "https://*.scdn.co/**", lambda route: route.fulfill(status=200, content_type="image/png", body=cover)
    )
    page = context.new_page()
    yield Watched(page)
    context.close()


def _choice_names(page: Any) -> list[str]:
    names: list[str] = page.eval_on_selector_all(
        "[data-choice] .quiz-name", "ns => ns.map(n => n.textContent)"
    )
    return names


def test_quiz_answered_with_the_keyboard(watched: Watched) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    page.wait_for_selector("[data-quiz][data-ready=true]")
    # In the story, the quiz asks after the top artists and before the top tracks card tells.
    order = page.eval_on_selector_all(
        ".story > article, .story > [data-quiz]", "ns => ns.map(n => n.dataset.cardKey || 'quiz')"
    )
    assert order.index("quiz") == order.index("tracks") - 1 and order.index("artists") < order.index("quiz")
    names = _choice_names(page)
    # The real #1 (42 streams) and the next three of the top list (21, 15 and 0 streams).
    assert sorted(names) == sorted(["The Hit", "Duet Song", "Fourth Song", XSS])
    target = names.index("The Hit")
    # Into the group with Tab from the question's neighbour: the first choice is its only tab stop.
    page.focus("#quiz-title")
    page.evaluate("() => document.querySelector('.quiz-question').setAttribute('tabindex', '-1')")
    page.focus(".quiz-question")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.choice") == "0"
    for _ in range(target):
        page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.choice") == str(target)
    checked = page.eval_on_selector_all("[data-choice]", "ns => ns.map(n => n.getAttribute('aria-checked'))")
    assert checked == ["true" if i == target else "false" for i in range(4)]
    # Focus is visible: a keyboard-focused choice has an outline.
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline
    result = page.locator("[data-quiz-result]")
    assert result.get_attribute("aria-live") == "polite" and result.inner_text() == ""
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-quiz][data-state=right]")
    assert result.inner_text().startswith("Yes! “The Hit” by Main Artist was your #1, with 42 streams.")
    assert page.locator(".quiz-choice.is-answer .quiz-name").inner_text() == "The Hit"
    assert page.locator("[data-quiz-reveal]").is_disabled()
    ranks = page.eval_on_selector_all("[data-choice-rank]", "ns => ns.map(n => n.textContent)")
    assert ranks[target] == "#1 · 42 streams"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("[data-quiz]").screenshot(path=str(ARTIFACTS / "quiz.png"))
    assert watched.problems == [] and watched.dialogs == []


def test_quiz_wrong_guess_and_reveal(watched: Watched) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    page.wait_for_selector("[data-quiz][data-ready=true]")
    names = _choice_names(page)
    wrong = names.index("Duet Song")
    page.locator("[data-choice]").nth(wrong).focus()
    page.keyboard.press(" ")
    page.wait_for_selector("[data-quiz][data-state=wrong]")
    text = page.inner_text("[data-quiz-result]")
    assert text == "Not quite: “The Hit” by Main Artist was your #1, with 42 streams. “Duet Song” was #2."
    # Answered once: more keys change nothing.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.inner_text("[data-quiz-result]") == text
    # A fresh page: Reveal without a guess just tells.
    page.reload(wait_until="load")
    page.wait_for_selector("[data-quiz][data-ready=true]")
    page.locator("[data-quiz-reveal]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-quiz][data-state=revealed]")
    assert page.inner_text("[data-quiz-result]") == "“The Hit” by Main Artist was your #1, with 42 streams."
    assert watched.problems == []


def test_share_page_from_disk_offline(browser: Any, tmp_path: Path) -> None:
    site = write_site(tmp_path)
    context = browser.new_context(
        offline=True, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    watched = Watched(page)
    page.goto((site / "index.html").as_uri(), wait_until="load")
    page.wait_for_selector("[data-quiz][data-ready=true]")
    # Nothing but files from the folder was asked for.
    assert requested and all(url.startswith(site.as_uri() + "/") for url in requested), requested
    assert {url.removeprefix(site.as_uri() + "/") for url in requested} >= {
        "index.html",
        "assets/app.css",
        "assets/app.js",
        "assets/quiz.css",
        "assets/quiz.js",
    }
    # The cards render: as many as the report has, each drawn with its theme's gradient.
    with open_store(f"sqlite:///{tmp_path / 'brapped.db'}").connect() as conn:
        from brapped.insights import Period, kept_wrapped

        expected = story_cards(kept_wrapped(conn, Period.year(2026, "UTC")))
    cards = page.locator(".story-card")
    assert cards.count() == len(expected) >= 4
    keys = page.eval_on_selector_all(".story-card", "ns => ns.map(n => n.dataset.cardKey)")
    assert keys == [c["key"] for c in expected]
    looks = page.eval_on_selector_all(
        ".story-card",
        "ns => ns.map(n => [getComputedStyle(n).backgroundImage, n.getBoundingClientRect().height])",
    )
    assert all(image.startswith("linear-gradient") and height > 300 for image, height in looks), looks
    headlines = page.eval_on_selector_all(".story-card .headline", "ns => ns.map(n => n.textContent)")
    assert headlines == [c["headline"] for c in expected]
    assert XSS in page.inner_text("body") and page.evaluate("() => window.__xss === undefined")
    # The quiz works from disk too, and a card still downloads as PNG (drawn, no network).
    page.locator("[data-choice]").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-quiz-result]').textContent.includes('your #1')"
    )
    with page.expect_download() as info:
        cards.first.locator("[data-download]").click()
    assert info.value.suggested_filename == "brapped-wrapped-2026-minutes.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "share-page.png"), full_page=True)
    assert watched.problems == [] and watched.dialogs == []
    context.close()
