"""Names in any script, in Debian's headless Chromium: a right-to-left name keeps to its place.

Hebrew and Arabic names next to numbers, punctuation or other names reorder the text around them
unless each name is isolated: "עומר אדם · 80 streams" shows the count before the name, and two
Arabic or Hebrew artists in a credit line swap places. Expected places are those a Latin name's
text has: in an English page, what comes after a name in the text is to its right (or below it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from brapped.store import Store, open_store
from brapped.store.tables import album_artists, albums, artists, plays, track_artists, tracks
from brapped.web import create_app
from tests.web.conftest import NOW, FixedClock, make_settings, seed
from tests.web.live_server import serving
from tests.web.test_bidi import INITIALS
from tests.web.test_browser import ARTIFACTS, Watched, _png, browser

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the module's Chromium, shared from test_browser

TODAY = NOW.date()
RACE = f"/wrapped?from={TODAY - timedelta(days=20)}&to={TODAY}"
HE = "עומר אדם"
AR = "عمرو دياب"
BANG = "שלום!!!"  # right-to-left, ending in neutral characters
SONG = "אהבה 2"  # right-to-left, ending in a number
FEAT = "Track (feat. فيروز)"
LONG = ("Supercalifragilisticexpialidocious" * 4)[:120]  # one word, no space to break at
# A stray pop-directional-isolate, then a right-to-left override: without care it escapes any
# isolation and turns the rest of the line around.
EVIL = "\u2069\u202eevil"
# Plays of each track over the 20 days up to NOW, all 200 s long (so every play is a stream).
PLAYS = {"trk_he": 80, "trk_ar": 60, "trk_evil": 50, "trk_bang": 40, "trk_long": 20}
HE_STREAMS = PLAYS["trk_he"]  # Omer Adam's only track
AR_STREAMS = PLAYS["trk_he"] + PLAYS["trk_ar"]  # featured on Omer Adam's, main on his own
PER_DAY = PLAYS["trk_he"] // 20  # the most plays of one track in a day


def _add_names(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(
            artists.insert(),
            [
                {"id": "art_he", "name": HE, "image_url": None},
                {"id": "art_ar", "name": AR, "image_url": None},
                {"id": "art_bang", "name": BANG, "image_url": None},
                {"id": "art_long", "name": LONG, "image_url": None},
            ],
        )
        conn.execute(albums.insert(), [{"id": "alb_he", "name": "שמש", "release_date": "2019-05-01"}])
        conn.execute(
            album_artists.insert(),
            [
                {"album_id": "alb_he", "position": 0, "artist_id": "art_long"},
                {"album_id": "alb_he", "position": 1, "artist_id": "art_he"},
            ],
        )
        names = {"trk_he": SONG, "trk_ar": FEAT, "trk_evil": EVIL, "trk_bang": "Ahoy", "trk_long": LONG}
        conn.execute(
            tracks.insert(),
            [
                {"id": i, "name": n, "album_id": "alb_he", "duration_ms": 200_000, "is_resolved": True}
                for i, n in names.items()
            ],
        )
        credits = [
            ("trk_he", "art_he"),
            ("trk_he", "art_ar"),
            ("trk_ar", "art_ar"),
            ("trk_evil", "art_long"),
            ("trk_bang", "art_bang"),
            ("trk_long", "art_long"),
        ]
        positions: dict[str, int] = {}
        rows = []
        for track, artist in credits:
            rows.append({"track_id": track, "position": positions.get(track, 0), "artist_id": artist})
            positions[track] = positions.get(track, 0) + 1
        conn.execute(track_artists.insert(), rows)
        conn.execute(
            plays.insert(),
            [
                {
                    "user_id": "listener",
                    "played_at": NOW.replace(hour=6, minute=0)
                    - timedelta(days=n % 20, minutes=k * 9 + n // 20),
                    "track_id": track,
                    "ms_played": 200_000,
                    "ms_played_source": "export",
                    "source": "export",
                }
                for k, (track, total) in enumerate(PLAYS.items())
                for n in range(total)
            ],
        )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("bidi")
    store = open_store(f"sqlite:///{folder / 'brapped.db'}")
    seed(store)
    _add_names(store)
    home = folder / "home"
    home.mkdir()
    with serving(create_app(store, make_settings(home), FixedClock(NOW))) as url:
        yield url
    store.close()


def _context(browser: Any, base_url: str, width: int) -> Any:
    phone = {"is_mobile": True, "has_touch": True} if width < 500 else {}
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": 900}, reduced_motion="reduce", **phone
    )
    cover = _png(8, 8, (124, 92, 255))  # the CDN, as if online, as in test_browser
    context.route(
        "https://*.scdn.co/**", lambda route: route.fulfill(status=200, content_type="image/png", body=cover)
    )
    return context


@pytest.fixture
def watched(browser: Any, base_url: str) -> Iterator[Watched]:
    context = _context(browser, base_url, 1400)
    yield Watched(context.new_page())
    context.close()


# The boxes of `texts`, found in this order in the first element matching `selector` that holds all
# of them, and the pairs whose later text is not after the earlier one: after means on the same
# line and to its right, or on a line below.
ORDER = """([selector, texts]) => {
  const holds = el => texts.every(t => el.textContent.includes(t));
  const root = [...document.querySelectorAll(selector)].find(holds);
  if (!root) return {missing: true};
  const nodes = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) nodes.push(walker.currentNode);
  let at = [0, 0];  // the next text is looked for from here on: node, offset
  const boxes = texts.map(t => {
    for (let n = at[0]; n < nodes.length; n++) {
      const i = nodes[n].textContent.indexOf(t, n === at[0] ? at[1] : 0);
      if (i < 0) continue;
      at = [n, i + t.length];
      const range = document.createRange();
      range.setStart(nodes[n], i);
      range.setEnd(nodes[n], i + t.length);
      const rects = [...range.getClientRects()].filter(r => r.width > 0);
      return {text: t, left: Math.min(...rects.map(r => r.left)), right: Math.max(...rects.map(r => r.right)),
              top: Math.min(...rects.map(r => r.top)), bottom: Math.max(...rects.map(r => r.bottom))};
    }
    return {text: t, left: NaN};
  });
  const wrong = [];
  boxes.slice(1).forEach((b, i) => {
    const a = boxes[i];
    const below = b.top >= a.bottom - 1;
    const sameLine = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
    if (!(below || (sameLine && b.left >= a.right - 0.5))) wrong.push(`${a.text} | ${b.text}`);
  });
  return {missing: boxes.some(b => Number.isNaN(b.left)), wrong};
}"""

CASES = {
    # Story cards: each line's count after its name, the credits in their order.
    "top-artists-card": ("/wrapped", "[data-card-key=artists] li", [HE, f"{HE_STREAMS} streams"]),
    "top-artists-card-ar": ("/wrapped", "[data-card-key=artists] li", [AR, f"{AR_STREAMS} streams"]),
    "top-tracks-card": ("/wrapped", "[data-card-key=tracks] li", [SONG, f"{HE_STREAMS} streams"]),
    "top-tracks-card-credits": ("/wrapped", "[data-card-key=tracks] .foot", [HE, AR]),
    "on-repeat": ("/wrapped", "[data-card-key=streak] li", [SONG, f"×{PER_DAY}"]),
    "obsession-credits": ("/wrapped", "[data-card-key=obsession] li", [HE, AR]),
    "override-in-a-name": ("/wrapped", "[data-card-key=tracks] li", ["evil", f"{PLAYS['trk_evil']} streams"]),
    "quiz-credits": ("/wrapped", ".quiz-choice", [SONG, HE, AR]),
    # "עומר אדם · 80 credit · 80 streams": the credit, all his plays as main artist, and streams.
    "race-standings": (RACE, ".race-text li", [HE, f"{HE_STREAMS}", f"{HE_STREAMS} streams"]),
    # Credit lines under a name, and the track page's credits, album and year.
    "overview-credits": ("/?period=all", ".ranked li", [SONG, HE, AR]),
    "search-credits": (f"/search?q={SONG[:4]}", ".ranked li", [SONG, HE, AR]),
    "track-hero": ("/track/trk_he", ".hero .lede", [HE, AR, "שמש", "2019"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_text_after_a_right_to_left_name_stays_after_it(watched: Watched, case: str) -> None:
    path, selector, texts = CASES[case]
    page = watched.page
    page.goto(path, wait_until="load")
    # The race's standings start folded once the chart shows them; the test reads them unfolded.
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    found = page.evaluate(ORDER, [selector, texts])
    assert found == {"missing": False, "wrong": []}, case
    assert watched.problems == []


# In a top list's row: the count's distance from the row's right side, and from the name's right.
COUNT_PLACE = """(name) => {
  const link = [...document.querySelectorAll('.ranked a.name')].find(a => a.textContent === name);
  const row = link.closest('li').getBoundingClientRect();
  const count = link.closest('li').querySelector('.how b').getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(link);
  const text = range.getBoundingClientRect();
  return {fromRight: Math.round(row.right - count.right), afterName: count.left >= text.right};
}"""


def test_a_top_list_count_stays_where_a_latin_names_is(watched: Watched) -> None:
    page = watched.page
    page.goto("/?period=all", wait_until="load")
    latin = page.evaluate(COUNT_PLACE, "Main Artist")
    assert latin["afterName"] and latin["fromRight"] >= 0
    for name in (HE, AR, BANG):
        assert page.evaluate(COUNT_PLACE, name) == latin, name
    assert watched.problems == []


def test_the_scripts_take_the_same_initial_as_the_pages(watched: Watched) -> None:
    """Search-as-you-type and a cover that failed to load show a placeholder letter from app.js:
    the same as the server's (tests/web/test_bidi.py's table, written by hand)."""
    page = watched.page
    page.goto("/", wait_until="load")
    names = [name for name, _ in INITIALS]
    assert page.evaluate("names => names.map(n => brapped.initial(n))", names) == [e for _, e in INITIALS]
    assert watched.problems == []


def test_the_quiz_answer_keeps_its_sentence_in_order(watched: Watched) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    page.click("[data-quiz-reveal]")
    page.wait_for_selector("[data-quiz][data-state=revealed]")
    # “אהבה 2” by עומר אדם, عمرو دياب was your #1, with 80 streams.
    texts = [SONG, "by", HE, AR, "was your #1", f"{HE_STREAMS} streams"]
    assert page.evaluate(ORDER, ["[data-quiz-result]", texts]) == {"missing": False, "wrong": []}
    assert watched.problems == []


def test_search_as_you_type_keeps_credits_in_order(watched: Watched) -> None:
    page = watched.page
    page.goto("/search", wait_until="load")
    page.fill("[data-search-input]", SONG[:4])
    page.wait_for_url("**/search?q=*")
    page.wait_for_selector("[data-search-results][data-state=results] [data-group=tracks] a.name")
    found = page.evaluate(ORDER, ["[data-group=tracks] li", [SONG, HE, AR, f"{HE_STREAMS} plays"]])
    assert found == {"missing": False, "wrong": []}
    assert watched.problems == []


# Where the "!!!" of a right-to-left name ending in them is drawn, against its letters: a Hebrew
# text's end is its left, and so its final punctuation's place.
BANG_SIDE = """([selector, letters, marks]) => {
  const el = [...document.querySelectorAll(selector)].find(e => e.textContent.includes(letters));
  if (!el) return 'missing';
  const box = text => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    while (walker.nextNode() && !walker.currentNode.textContent.includes(text));
    const node = walker.currentNode, range = document.createRange(), i = node.textContent.indexOf(text);
    range.setStart(node, i); range.setEnd(node, i + text.length);
    return range.getBoundingClientRect();
  };
  const a = box(letters), b = box(marks);
  return b.right <= a.left + 0.5 ? 'left' : 'right';
}"""


@pytest.mark.parametrize("path", ["/?period=all", "/wrapped"])
def test_a_right_to_left_name_ends_on_its_left(watched: Watched, path: str) -> None:
    page = watched.page
    page.goto(path, wait_until="load")
    assert page.evaluate(BANG_SIDE, [".ranked a.name", "שלום", "!!!"]) == "left"
    assert watched.problems == []


# The same in the race's SVG: each character's drawn box (SVG's own per-character geometry).
SVG_BANG_SIDE = """() => {
  const text = [...document.querySelectorAll('[data-chart=race] svg text')]
    .find(t => t.textContent.includes('שלום'));
  if (!text) return 'missing';
  const s = text.textContent;
  const letter = text.getExtentOfChar(s.indexOf('ש')), mark = text.getExtentOfChar(s.indexOf('!'));
  return mark.x + mark.width <= letter.x + 0.5 ? 'left' : 'right';
}"""


def test_the_race_draws_a_right_to_left_name_in_its_order(watched: Watched) -> None:
    page = watched.page
    page.goto(RACE, wait_until="load")
    page.wait_for_selector("[data-chart=race][data-rendered]")
    assert page.evaluate(SVG_BANG_SIDE) == "left"
    assert watched.problems == []


# The PNG of a card: every text drawCard draws, each laid out in a left-to-right line of its own in
# the font it is drawn in, where its parts can be found and measured: what a canvas's text does
# with a name (the bidirectional algorithm, an isolate) is what the page's text does.
PNG_TEXTS = """(key) => {
  const node = document.querySelector(`[data-card-key=${key}]`);
  const drawn = [];
  const fill = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, x, y) {
    drawn.push([String(text), this.font]);
    return fill.apply(this, arguments);
  };
  try { brapped.drawCard(JSON.parse(node.getAttribute('data-card'))); }
  finally { CanvasRenderingContext2D.prototype.fillText = fill; }
  const box = document.createElement('div');
  box.id = 'png-texts';
  box.dir = 'ltr';
  drawn.forEach(([text, font]) => {
    const line = document.createElement('div');
    line.style.cssText = `font: ${font}; white-space: pre; width: max-content`;
    line.textContent = text;
    box.appendChild(line);
  });
  document.body.appendChild(box);
  return drawn.length;
}"""


@pytest.mark.parametrize(
    ("key", "texts"),
    [("tracks", [HE, AR]), ("streak", [SONG, f"×{PER_DAY}"]), ("obsession", [HE, AR])],
)
def test_the_png_card_keeps_names_in_order(watched: Watched, key: str, texts: list[str]) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    assert page.evaluate(PNG_TEXTS, key) > 3
    assert page.evaluate(ORDER, ["#png-texts > div", texts]) == {"missing": False, "wrong": []}
    assert watched.problems == []


def test_the_png_card_ends_a_right_to_left_name_on_its_left(watched: Watched) -> None:
    page = watched.page
    page.goto("/wrapped", wait_until="load")
    assert page.evaluate(PNG_TEXTS, "artists") > 3
    assert page.evaluate(BANG_SIDE, ["#png-texts > div", "שלום", "!!!"]) == "left"
    assert watched.problems == []


# A page wider than the screen, and the story cards whose text runs past their (clipped) side.
OVERFLOW = """(width) => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > width || window.innerWidth > width) out.push(`page ${root.scrollWidth} > ${width}`);
  for (const el of document.querySelectorAll('.story-card, .quiz, .card')) {
    if (el.scrollWidth > el.clientWidth + 1) {
      out.push(`${el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return out;
}"""
OVERFLOW_PAGES = [
    "/?period=all",
    "/wrapped",
    RACE,
    f"/day/{TODAY}",
    "/search?q=Supercali",
    "/artist/art_long",
    "/track/trk_long",
    "/album/alb_he",
]


@pytest.mark.parametrize("width", [390, 1400])
def test_a_long_word_never_widens_a_page(browser: Any, base_url: str, width: int) -> None:
    context = _context(browser, base_url, width)
    page = context.new_page()
    watched = Watched(page)
    found = {}
    for path in OVERFLOW_PAGES:
        page.goto(path, wait_until="load")
        if page.locator("body.story-open").count():
            # A touch screen opens Wrapped's story over the page (a wide page hides its button).
            page.eval_on_selector("[data-story-close]", "b => b.click()")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        found[path] = page.evaluate(OVERFLOW, width)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto("/wrapped", wait_until="load")
    page.screenshot(path=str(ARTIFACTS / f"bidi-wrapped-{width}.png"), full_page=True)
    context.close()
    assert found == {path: [] for path in OVERFLOW_PAGES}
    assert watched.problems == []
