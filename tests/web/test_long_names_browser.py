"""Long names at 390 px (a phone) and 1400 px in Debian's headless Chromium: top lists wrap them
instead of cutting them to a few letters, and the artist race's labels never overlap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from brapped.store import Store, open_store
from brapped.store.tables import artists, plays, track_artists, tracks
from brapped.web import create_app
from tests.web.conftest import NOW, FixedClock, make_settings, seed
from tests.web.live_server import serving
from tests.web.test_browser import ARTIFACTS, Watched, _png, browser

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the module's Chromium, shared from test_browser

TODAY = NOW.date()
# Real names are this long (classical ensembles, featured credits), and some have no space to break at.
LONG_NAMES = [
    "Orchestre Philharmonique de Radio France et Chœur de Radio France",
    "Symphonieorchesterdesbayerischenrundfunks",
    "The Artist Formerly Known As The Band With The Very Long Name",
    "Godspeed You! Black Emperor",
    "Florence + the Machine",
    "Sigur Rós",
    "King Gizzard & the Lizard Wizard",
    "Everything Everything",
    "Nils Frahm",
    "Janelle Monáe",
    "Kruder & Dorfmeister",
]
RACE = f"/wrapped?from={TODAY - timedelta(days=20)}&to={TODAY}"  # three weekly frames
SCREENS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "wide": {"viewport": {"width": 1400, "height": 900}},
}


def _add_long_names(store: Store) -> None:
    """Eleven more artists, one track each, played more than the seed's so they lead the lists."""
    with store.begin() as conn:
        conn.execute(
            artists.insert(),
            [{"id": f"art_long{i}", "name": name, "image_url": None} for i, name in enumerate(LONG_NAMES)],
        )
        conn.execute(
            tracks.insert(),
            [
                {
                    "id": f"trk_long{i}",
                    "name": f"A Song Whose Title Goes On And On, Part {i} (Live at the Royal Albert Hall)",
                    "album_id": "alb_one",
                    "duration_ms": 200_000,
                    "is_resolved": True,
                }
                for i in range(len(LONG_NAMES))
            ],
        )
        conn.execute(
            track_artists.insert(),
            [
                {"track_id": f"trk_long{i}", "position": 0, "artist_id": f"art_long{i}"}
                for i in range(len(LONG_NAMES))
            ],
        )
        # Artist i: 60 - 3i plays spread over the three weeks, so every weekly frame changes.
        conn.execute(
            plays.insert(),
            [
                {
                    "user_id": "listener",
                    "played_at": NOW.replace(hour=6, minute=0)
                    - timedelta(days=n % 21, minutes=i * 7 + n // 21),
                    "track_id": f"trk_long{i}",
                    "ms_played": 200_000,
                    "ms_played_source": "export",
                    "source": "export",
                }
                for i in range(len(LONG_NAMES))
                for n in range(60 - 3 * i)
            ],
        )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("long-names")
    store = open_store(f"sqlite:///{folder / 'brapped.db'}")
    seed(store)
    _add_long_names(store)
    home = folder / "home"
    home.mkdir()
    with serving(create_app(store, make_settings(home), FixedClock(NOW))) as url:
        yield url
    store.close()


@pytest.fixture(params=list(SCREENS))
def watched(request: pytest.FixtureRequest, browser: Any, base_url: str) -> Iterator[Watched]:
    context = browser.new_context(base_url=base_url, reduced_motion="reduce", **SCREENS[request.param])
    cover = _png(8, 8, (124, 92, 255))  # the CDN, as if online, as in test_browser
    context.route(
        "https://*.scdn.co/**", lambda route: route.fulfill(status=200, content_type="image/png", body=cover)
    )
    page = context.new_page()
    yield Watched(page)
    context.close()


# Every name link of the top lists: its box, and whether its text is cut (ellipsis or hidden overflow).
NAMES = """() => [...document.querySelectorAll('.ranked a.name')].map(a => {
  const box = a.getBoundingClientRect(), row = a.closest('li').getBoundingClientRect();
  return {text: a.textContent, width: box.width, cut: a.scrollWidth > a.clientWidth + 1,
          inside: box.left >= row.left - 0.5 && box.right <= row.right + 0.5};
})"""


def _open(page: Any, path: str) -> None:
    page.goto(path, wait_until="load")
    if page.locator("body.story-open").count():
        page.click("[data-story-close]")  # a touch screen opens Wrapped's story over the page


@pytest.mark.parametrize("path", ["/?period=30d", RACE])
def test_top_lists_show_whole_names(watched: Watched, path: str) -> None:
    page = watched.page
    _open(page, path)
    width = page.viewport_size["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    names = page.evaluate(NAMES)
    shown = {n["text"] for n in names}
    assert {LONG_NAMES[0], LONG_NAMES[1], LONG_NAMES[2]} <= shown
    # No name is cut: a long one wraps onto more lines, inside its row and the screen.
    assert [n["text"] for n in names if n["cut"] or not n["inside"]] == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"long-names-{width}-{'wrapped' if path == RACE else 'overview'}-list.png"
    page.locator(".list-card").nth(1).screenshot(path=str(shot))
    assert watched.problems == []


# The race's SVG text: every label's box, and which pairs of them overlap.
RACE_TEXT = """() => {
  const node = document.querySelector('[data-chart=race]'), frame = node.getBoundingClientRect();
  const boxes = [...node.querySelectorAll('svg text')].map(t => {
    const b = t.getBoundingClientRect();
    return {text: t.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom,
            opacity: Number(getComputedStyle(t).opacity || 1) * Number(t.getAttribute('fill-opacity') ?? 1)};
  }).filter(b => b.text.trim() && b.right > b.left && b.opacity > 0);
  const overlaps = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (x > 0.5 && y > 0.5) overlaps.push(`${a.text} / ${b.text}`);
  }));
  const outside = boxes.filter(b => b.left < frame.left - 0.5 || b.right > frame.right + 0.5)
    .map(b => b.text);
  return {texts: boxes.map(b => b.text), overlaps, outside};
}"""


def test_artist_race_labels_do_not_overlap(watched: Watched) -> None:
    page = watched.page
    _open(page, RACE)
    page.wait_for_selector("[data-chart=race][data-rendered]")
    frames = page.evaluate("() => brapped.pageData().race.frames.length")
    for index in range(frames):
        page.eval_on_selector(
            "[data-race-frame]", f"n => {{ n.value = '{index}'; n.dispatchEvent(new Event('input')); }}"
        )
        page.wait_for_function(
            f"() => document.querySelector('[data-chart=race]').dataset.frame === '{index}'"
        )
        page.wait_for_timeout(100)  # ECharts draws the new option on its next animation frame
        found = page.evaluate(RACE_TEXT)
        assert found["overlaps"] == [], (index, found["overlaps"])
        assert found["outside"] == [], (index, found["outside"])
    # A name too long for its row is cut only after a couple of lines' worth: 140 px of one line
    # ("Orchestre Philharm…", "Symphonieorchester…") told neither ensemble apart. Each line is an
    # SVG text of its own: the lines joined, without spaces, start with the name's first 24 letters.
    shown = "".join(found["texts"]).replace(" ", "")
    final = page.evaluate("() => brapped.pageData().race.frames.at(-1).ranking.map(a => a.name)")
    assert [name for name in final if name.replace(" ", "")[:24] not in shown] == []
    width = page.viewport_size["width"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".race-card").screenshot(path=str(ARTIFACTS / f"long-names-race-{width}.png"))
    assert watched.problems == []


# Counts the race chart's layouts (`setOption`) from now on.
COUNT_LAYOUTS = """() => {
  const chart = echarts.getInstanceByDom(document.querySelector('[data-chart=race]'));
  const set = chart.setOption.bind(chart);
  window.raceLayouts = 0;
  chart.setOption = (...args) => { window.raceLayouts += 1; return set(...args); };
}"""


def test_the_race_is_laid_out_again_only_for_a_new_width(watched: Watched) -> None:
    # A phone's URL bar hiding on scroll fires resize without a new width: a playing race must
    # not snap to its frame for it. A turned phone (a new width) lays the names' column out again.
    page = watched.page
    _open(page, RACE)
    page.wait_for_selector("[data-chart=race][data-rendered]")
    page.evaluate(COUNT_LAYOUTS)
    for _ in range(3):
        page.evaluate("() => window.dispatchEvent(new Event('resize'))")
    page.wait_for_timeout(400)
    assert page.evaluate("() => window.raceLayouts") == 0
    size = page.viewport_size
    before = page.evaluate("() => document.querySelector('[data-chart=race]').clientWidth")
    page.set_viewport_size({"width": 340 if size["width"] < 600 else 900, "height": size["height"]})
    assert page.evaluate("() => document.querySelector('[data-chart=race]').clientWidth") != before
    page.wait_for_function("() => window.raceLayouts === 1")
    page.wait_for_timeout(400)
    assert page.evaluate("() => window.raceLayouts") == 1  # once, after the resizing settled
    assert watched.problems == []
