"""The dashboard on a phone (390x844, touch, mobile) and on a desktop, in Debian's headless Chromium.

Every page fits the screen, the app installs (manifest and icons load, the service worker registers)
and opens offline with a note, and the Wrapped story moves by tap, swipe and keys and shares PNGs.
"""

from __future__ import annotations

import base64
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.test_browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    PAGES,
    Watched,
    _png,
    base_url,
    browser,
)

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    ),
}
DESKTOP = {"viewport": {"width": 1360, "height": 900}}
SCREENS = {"phone": PHONE, "desktop": DESKTOP}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pretends this browser can share files (Chromium on Linux has no share target) and keeps what it got.
FAKE_SHARE = """
window.__shared = [];
Object.defineProperty(navigator, "canShare", { configurable: true, value: function (data) {
  return !!(data && data.files && data.files.length);
}});
Object.defineProperty(navigator, "share", { configurable: true, value: function (data) {
  var file = data.files[0];
  return file.arrayBuffer().then(function (buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    window.__shared.push({ name: file.name, type: file.type, size: file.size, data: btoa(text) });
  });
}});
"""


@pytest.fixture(scope="module", params=list(SCREENS))
def screen(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_context(browser: Any, base_url: str) -> Iterator[Any]:  # noqa: F811
    """New contexts on `screen`, closed after the test (a fresh one has no service worker yet)."""
    made: list[Any] = []

    def make(screen: str, **extra: Any) -> Any:
        context = browser.new_context(base_url=base_url, accept_downloads=True, **SCREENS[screen], **extra)
        cover = _png(64, 64, (124, 92, 255))
        context.route(
            "https://*.scdn.co/**",
            lambda route: route.fulfill(status=200, content_type="image/png", body=cover),
        )
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page_on(make_context: Any, screen: str) -> Iterator[Watched]:
    # Reduced motion: the story does not advance on its own, so a test's steps are its own.
    page = make_context(screen, reduced_motion="reduce").new_page()
    yield Watched(page)
    page.close()


def _open(page: Any, path: str) -> None:
    response = page.goto(path, wait_until="load")
    assert response is not None and response.status == 200
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')].every(n => n.dataset.rendered)"
    )


@pytest.mark.parametrize("name", list(PAGES))
def test_no_page_is_wider_than_the_screen(page_on: Watched, screen: str, name: str) -> None:
    page = page_on.page
    _open(page, PAGES[name])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{screen}-{name}.png"), full_page=True)
    # The screen's width, not innerWidth: a phone (is_mobile) widens its layout viewport to a page
    # wider than the screen, so innerWidth grew with what it should catch.
    width = page.viewport_size["width"]
    # Whatever sticks out past the right edge, outside a scroller of its own (a wide chart's).
    sticking_out = page.evaluate(
        """(width) => [...document.querySelectorAll('body *')].filter(n => {
             const box = n.getBoundingClientRect();
             if (box.width === 0 || box.right <= width + 1) return false;
             for (let p = n.parentElement; p; p = p.parentElement) {
               const style = getComputedStyle(p);
               if (p !== document.body && (style.overflowX === 'auto' || style.overflowX === 'scroll'
                   || style.overflowX === 'hidden' || style.overflowX === 'clip')) return false;
             }
             return true;
           }).map(n => n.tagName + '.' + n.className + ' ' + Math.round(n.getBoundingClientRect().right))""",
        width,
    )
    assert sticking_out == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert page_on.problems == []


@pytest.mark.parametrize("name", list(PAGES))
def test_tap_targets_are_big_enough_on_a_phone(make_context: Any, name: str) -> None:
    page = make_context("phone", reduced_motion="reduce").new_page()
    _open(page, PAGES[name])
    if name == "wrapped":
        page.click("[data-story-close]")  # the story opens by itself on a touch screen
    small = page.evaluate(
        """() => [...document.querySelectorAll(
             'button, input:not([type=hidden]), select, .chip, .nav a, .brand, .day-nav a, summary'
           )].filter(n => n.offsetParent !== null)
             .map(n => [n.outerHTML.slice(0, 80), n.getBoundingClientRect()])
             .filter(([, box]) => box.height < 44 || box.width < 44)
             .map(([html, box]) => html + ' ' + Math.round(box.width) + 'x' + Math.round(box.height))"""
    )
    assert small == []
    # Charts keep their axis labels apart: none overlaps the next on a narrow screen.
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll('[data-chart] svg')].flatMap(svg => {
             const labels = [...svg.querySelectorAll('text')]
               .map(t => [t.textContent, t.getBoundingClientRect()])
               .filter(([, box]) => box.width > 0);
             const hits = [];
             labels.forEach(([one, a], i) => labels.slice(i + 1).forEach(([two, b]) => {
               const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
               const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
               if (x > 2 && y > 2) hits.push(one + ' over ' + two);
             }));
             return hits;
           })"""
    )
    assert overlaps == []


def test_manifest_and_icons_load_in_the_browser(page_on: Watched) -> None:
    page = page_on.page
    _open(page, "/")
    found = page.evaluate(
        """async () => {
             const link = document.querySelector('link[rel=manifest]');
             const response = await fetch(link.href);
             const manifest = await response.json();
             const icons = await Promise.all(manifest.icons.map(icon => new Promise(done => {
               const img = new Image();
               const size = () => img.naturalWidth + 'x' + img.naturalHeight;
               img.onload = () => done([icon.sizes, size(), icon.purpose]);
               img.onerror = () => done([icon.sizes, 'failed', icon.purpose]);
               img.src = new URL(icon.src, link.href).href;
             })));
             return { type: response.headers.get('content-type'), manifest, icons };
           }"""
    )
    assert found["type"].startswith("application/manifest+json")
    manifest = found["manifest"]
    for field in ("name", "short_name", "start_url", "display", "icons", "theme_color", "background_color"):
        assert manifest[field], field
    assert manifest["display"] == "standalone"
    assert all(sizes == loaded for sizes, loaded, _ in found["icons"]), found["icons"]
    assert {(sizes, purpose) for sizes, _, purpose in found["icons"]} >= {
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    }


def test_offline_reload_shows_the_saved_overview(make_context: Any, screen: str) -> None:
    context = make_context(screen)
    page = context.new_page()
    _open(page, "/")
    page.wait_for_function("async () => (await navigator.serviceWorker.ready).active.state === 'activated'")
    # The first visit installed the worker; this one goes through it and is kept.
    page.reload(wait_until="load")
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    minutes = page.inner_text(".stat-value")
    assert page.locator("[data-offline-note]").count() == 0
    context.set_offline(True)
    page.reload(wait_until="load")
    note = page.locator("[data-offline-note]")
    assert note.inner_text().startswith("Offline, showing this page as of ")
    assert page.inner_text(".stat-value") == minutes
    page.wait_for_function("() => document.querySelector('[data-chart=days]').dataset.rendered")
    # A page never opened on this device says so instead of failing.
    missing = page.goto("/album/alb_one", wait_until="load")
    assert missing is not None and missing.status == 503
    assert "was not saved on this device" in page.inner_text("body")
    # It lists what was saved instead, and those open.
    saved = page.eval_on_selector_all("[data-offline-saved] a", "nodes => nodes.map(a => a.pathname)")
    assert saved == ["/"]
    page.click("[data-offline-saved] a")
    page.wait_for_selector("[data-offline-note]")
    context.set_offline(False)
    page.close()


def _story_index(page: Any) -> int:
    index: int = page.evaluate(
        "() => Number(document.querySelector('[data-story-index]').dataset.storyIndex)"
    )
    return index


def _free_y(page: Any, *xs: int) -> int:
    """A height at which the current card has no control under any of `xs`: a card's own buttons
    (the quiz's choices) take a press for themselves, as they should."""
    found = page.evaluate(
        """(xs) => {
             for (let y = 120; y < window.innerHeight - 60; y += 10) {
               const free = x => {
                 const n = document.elementFromPoint(x, y);
                 return n && !n.closest(
                   'a, button, input, select, label, summary, [role=button], [role=radio], .story-chrome');
               };
               if (xs.every(free)) return y;
             }
             return null;
           }""",
        list(xs),
    )
    assert found is not None
    return int(found)


def _swipe(page: Any, screen: str, from_x: int, to_x: int, y: int | None = None) -> None:
    """A finger (phone, through the DevTools protocol) or a mouse (desktop) dragged across."""
    y = _free_y(page, from_x, to_x) if y is None else y
    if screen == "desktop":
        page.mouse.move(from_x, y)
        page.mouse.down()
        page.mouse.move(to_x, y, steps=6)
        page.mouse.up()
        return
    cdp = page.context.new_cdp_session(page)
    steps = 6
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": from_x, "y": y}]})
    for step in range(1, steps + 1):
        x = from_x + (to_x - from_x) * step / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def _tap(page: Any, screen: str, x: int, y: int | None = None) -> None:
    y = _free_y(page, x) if y is None else y
    if screen == "phone":
        page.touchscreen.tap(x, y)
    else:
        page.mouse.click(x, y)


def test_story_moves_by_tap_swipe_and_keys(page_on: Watched, screen: str) -> None:
    page = page_on.page
    _open(page, "/wrapped")
    # Every card shows something: the quiz's stylesheet <link> sits in the story but is no card.
    slides = page.locator(".story > :not(.story-chrome):not(link):not(script)").count()
    assert slides >= 4
    assert page.locator(".story > link").count() == 1 and page.locator(".story > .quiz").count() == 1
    if screen == "phone":
        assert page.locator("body.story-open").count() == 1  # a touch screen opens the story
    else:
        assert page.locator("body.story-open").count() == 0  # a desktop keeps the scrolling page
        page.click("[data-story-open]")
    width = page.evaluate("() => window.innerWidth")
    assert _story_index(page) == 0
    bars = page.locator(".story-progress > span")
    assert bars.count() == slides
    current = page.locator(".story-current")
    assert current.count() == 1
    box = current.bounding_box()
    assert box is not None
    if screen == "phone":
        assert (box["width"], box["height"]) == (390, 844)  # full screen
    _tap(page, screen, int(width * 0.8))
    assert _story_index(page) == 1
    assert page.get_attribute(".story-progress > span:nth-child(1)", "data-state") == "done"
    assert page.get_attribute(".story-progress > span:nth-child(2)", "data-state") == "current"
    _tap(page, screen, int(width * 0.8))
    assert _story_index(page) == 2
    _tap(page, screen, int(width * 0.1))
    assert _story_index(page) == 1
    _swipe(page, screen, int(width * 0.7), int(width * 0.2))
    assert _story_index(page) == 2
    _swipe(page, screen, int(width * 0.2), int(width * 0.7))
    assert _story_index(page) == 1
    page.keyboard.press("ArrowRight")
    assert _story_index(page) == 2
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # no card before the first
    assert _story_index(page) == 0
    # The card on screen is the one the index names, and only it.
    keys = page.eval_on_selector_all(".story-current", "nodes => nodes.map(n => n.dataset.cardKey)")
    first = page.eval_on_selector(".story > :first-child", "n => n.dataset.cardKey")
    assert keys == [first]
    page.keyboard.press("Escape")
    assert page.locator("body.story-open").count() == 0
    assert page.locator(".story-current").count() == 0
    assert page_on.problems == []


def test_story_pauses_while_held(make_context: Any, screen: str) -> None:
    page = make_context(screen).new_page()  # motion allowed: cards advance on their own
    _open(page, "/wrapped")
    if screen == "desktop":
        page.click("[data-story-open]")
    fill = ".story-progress > span[data-state=current] > i"
    assert page.eval_on_selector(fill, "n => getComputedStyle(n).animationPlayState") == "running"
    width = page.evaluate("() => window.innerWidth")
    if screen == "phone":
        cdp = page.context.new_cdp_session(page)
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": width // 2, "y": 400}]}
        )
    else:
        page.mouse.move(width // 2, 400)
        page.mouse.down()
    assert page.eval_on_selector(fill, "n => getComputedStyle(n).animationPlayState") == "paused"
    page.wait_for_timeout(600)  # a hold, not a tap: letting go does not move on
    if screen == "phone":
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    else:
        page.mouse.up()
    assert page.eval_on_selector(fill, "n => getComputedStyle(n).animationPlayState") == "running"
    assert _story_index(page) == 0
    page.close()


def _shared_png(page: Any) -> tuple[str, bytes]:
    page.wait_for_function("() => window.__shared.length === 1")
    shared = page.evaluate("() => window.__shared[0]")
    assert shared["type"] == "image/png"
    data = base64.b64decode(shared["data"])
    assert len(data) == shared["size"]
    return shared["name"], data


def test_share_sends_the_card_as_a_png(make_context: Any, screen: str) -> None:
    context = make_context(screen, reduced_motion="reduce")
    context.add_init_script(FAKE_SHARE)
    page = context.new_page()
    _open(page, "/wrapped")
    if screen == "desktop":
        # The scrolling page's card button shares too, where the browser can share files.
        button = page.locator(".story-card").nth(1).locator("[data-download]")
        assert button.inner_text() == "Share"
        button.click()
    else:
        _tap(page, screen, 350)
        assert _story_index(page) == 1
        page.click("[data-story-share]")
    name, data = _shared_png(page)
    assert name == "brapped-wrapped-2026-artists.png"
    assert data[:8] == PNG_SIGNATURE
    assert struct.unpack(">II", data[16:24]) == (1080, 1350)
    assert len(data) > 20_000  # a drawn card, not an empty canvas
    page.close()


def test_share_downloads_where_files_cannot_be_shared(make_context: Any, screen: str) -> None:
    context = make_context(screen, reduced_motion="reduce")
    context.add_init_script("Object.defineProperty(navigator, 'canShare', { value: undefined });")
    page = context.new_page()
    _open(page, "/wrapped")
    if screen == "desktop":
        page.click("[data-story-open]")
    with page.expect_download() as info:
        page.click("[data-story-share]")
    assert info.value.suggested_filename == "brapped-wrapped-2026-minutes.png"
    data = Path(info.value.path()).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 20_000
    page.close()


class Switchable:
    """An ASGI app passing every request to `current`: one origin whose dashboard token can change."""

    def __init__(self, current: Any) -> None:
        self.current = current

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.current(scope, receive, send)


TOKEN_A = "first-token-of-the-dashboard-1"
TOKEN_B = "second-token-of-the-dashboard-2"


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[tuple[str, Switchable, dict[str, Any]]]:
    import uvicorn

    from brapped.store import open_store
    from brapped.web import create_app
    from tests.web.conftest import NOW, FixedClock, make_settings, seed

    store = open_store(f"sqlite:///{tmp_path / 'brapped.db'}")
    seed(store)
    apps = {
        token: create_app(store, make_settings(tmp_path / token, dashboard_token=token), FixedClock(NOW))
        for token in (TOKEN_A, TOKEN_B)
    }
    switch = Switchable(apps[TOKEN_A])
    server = uvicorn.Server(uvicorn.Config(switch, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the dashboard server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", switch, apps
    server.should_exit = True
    thread.join(10)
    store.close()


def _page_caches(page: Any) -> list[str]:
    names: list[str] = page.evaluate(
        "async () => (await caches.keys()).filter(n => n.startsWith('brapped-pages-')).sort()"
    )
    return names


def test_pages_saved_with_one_token_never_open_with_another(
    browser: Any,  # noqa: F811
    token_server: tuple[str, Switchable, dict[str, Any]],
) -> None:
    url, switch, apps = token_server
    context = browser.new_context(base_url=url, reduced_motion="reduce", **PHONE)
    page = context.new_page()
    # The app files load without the token: a browser asks for the manifest without cookies.
    manifest = page.goto("/manifest.webmanifest")
    assert manifest is not None and manifest.status == 200
    page.goto(f"/?token={TOKEN_A}", wait_until="load")
    assert page.url == f"{url}/"  # the token left the address bar
    page.wait_for_function("async () => (await navigator.serviceWorker.ready).active.state === 'activated'")
    page.reload(wait_until="load")
    first = _page_caches(page)
    assert len(first) == 1
    assert page.evaluate(f"async () => !!(await (await caches.open('{first[0]}')).match('{url}/'))")

    # The dashboard's token changes: the old cookie is refused, and the worker forgets every page.
    switch.current = apps[TOKEN_B]
    refused = page.goto("/", wait_until="load")
    assert refused is not None and refused.status == 401
    assert _page_caches(page) == []
    context.set_offline(True)
    offline = page.goto("/", wait_until="load")
    assert offline is not None and offline.status == 503  # nothing of the first token's is shown
    assert "was not saved on this device" in page.inner_text("body")

    # With the new token, pages are kept under a new name, and only those open offline.
    # An installed app has no address bar: the refusal is a form to type the token in.
    context.set_offline(False)
    page.goto("/", wait_until="load")
    page.fill("input[name=token]", TOKEN_B)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-chart=days]")
    assert page.url == f"{url}/"
    second = _page_caches(page)
    assert len(second) == 1 and second != first
    context.set_offline(True)
    page.reload(wait_until="load")
    assert page.locator("[data-offline-note]").count() == 1
    context.close()


def test_cards_added_to_the_story_join_it(page_on: Watched, screen: str) -> None:
    """Whatever the .story section holds is a card of the story: one another feature adds (a quiz
    with its own button, no data-card) is shown in turn, keeps its button and shares."""
    page = page_on.page
    page.context.add_init_script(FAKE_SHARE)
    _open(page, "/wrapped")
    before = page.locator(".story > :not(.story-chrome):not(link):not(script)").count()
    page.evaluate(
        """() => {
             const quiz = document.createElement('section');
             quiz.className = 'card';
             quiz.dataset.cardKey = 'quiz';
             const title = document.createElement('h2');
             title.textContent = 'Quiz';
             const question = document.createElement('p');
             question.textContent = 'Which artist did you play most?';
             const answer = document.createElement('button');
             answer.type = 'button';
             answer.textContent = 'Main Artist';
             answer.addEventListener('click', () => { answer.dataset.picked = 'yes'; });
             quiz.append(title, question, answer);
             document.querySelector('.story').append(quiz);
           }"""
    )
    if screen == "phone":
        page.click("[data-story-close]")
    page.click("[data-story-open]")
    assert page.locator(".story-progress > span").count() == before + 1
    for _ in range(before):
        page.keyboard.press("ArrowRight")
    assert _story_index(page) == before
    assert page.eval_on_selector(".story-current", "n => n.dataset.cardKey") == "quiz"
    assert page.locator(".story-current").is_visible()
    page.click(".story-current button")  # the card's own control works, and does not move the story
    assert page.get_attribute(".story-current button", "data-picked") == "yes"
    assert _story_index(page) == before
    page.click("[data-story-share]")
    name, data = _shared_png(page)
    assert name == "brapped-wrapped-quiz.png"
    assert data[:8] == PNG_SIGNATURE and struct.unpack(">II", data[16:24]) == (1080, 1350)
    assert page_on.problems == []


def test_story_card_feet_keep_the_note_and_the_button_apart(page_on: Watched, screen: str) -> None:
    page = page_on.page
    _open(page, "/wrapped")
    if screen == "phone":
        page.click("[data-story-close]")  # the scrolling page, where each card has its own button
    # The listening-age card's long note squeezed "Download PNG" until its word stuck out of the pill
    # and ran into the note. Each button keeps its label on one line, inside it, right of the note.
    squeezed = page.evaluate(
        """() => [...document.querySelectorAll('.story-card .foot')].flatMap(foot => {
             const button = foot.querySelector('.download'), note = foot.querySelector('span');
             const label = document.createRange();
             label.selectNodeContents(button);
             const card = foot.closest('.story-card').dataset.cardKey;
             const out = [];
             if (button.scrollWidth > button.clientWidth) out.push(card + ': label wider than its button');
             if (label.getClientRects().length > 1) out.push(card + ': label on two lines');
             const n = note.getBoundingClientRect(), b = button.getBoundingClientRect();
             const beside = n.right <= b.left - 4, above = n.bottom <= b.top;
             if (!beside && !above) out.push(card + ': note runs into the button');
             return out;
           })"""
    )
    assert page.locator(".story-card[data-card-key=age]").count() == 1
    assert squeezed == []
    assert page_on.problems == []
