"""The Top Song Quiz's choices and the static share page's files (no browser: see test_wrapped_browser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.web.quiz import top_song_quiz
from tests.web.conftest import XSS
from tests.web.share_site import write_site


def _report(n: int) -> dict[str, Any]:
    return {
        "period": {"start": "2025-01-01", "end": "2025-12-31", "timezone": "UTC"},
        "top_tracks": [
            {
                "rank": i + 1,
                "id": f"t{i}",
                "name": f"Song {i + 1}",
                "artists": [{"name": "A"}, {"name": "B"}],
                "plays": 100 - i,
                "streams": 90 - i,
            }
            for i in range(n)
        ],
    }


def test_quiz_offers_the_top_four_and_knows_the_answer() -> None:
    quiz = top_song_quiz(_report(10))
    assert quiz is not None
    names = [c["name"] for c in quiz["choices"]]
    assert sorted(names) == ["Song 1", "Song 2", "Song 3", "Song 4"]
    assert quiz["choices"][quiz["answer"]] == {
        "name": "Song 1",
        "artists": ["A", "B"],
        "rank": 1,
        "streams": 90,
    }
    # The same order every time for a period (the page can be cached), another for another period.
    assert top_song_quiz(_report(10)) == quiz
    orders = set()
    for year in range(2000, 2030):
        report = _report(10)
        report["period"] = {"start": f"{year}-01-01", "end": f"{year}-12-31"}
        got = top_song_quiz(report)
        assert got is not None
        orders.add(tuple(c["name"] for c in got["choices"]))
    assert len(orders) > 5
    assert {answer for answer in range(4)} <= {
        q["answer"]
        for year in range(2000, 2030)
        if (q := top_song_quiz({**_report(4), "period": {"start": f"{year}-01-01", "end": "x"}}))
    }


def test_quiz_needs_two_songs() -> None:
    assert top_song_quiz(_report(1)) is None
    short = top_song_quiz(_report(2))
    assert short is not None and len(short["choices"]) == 2


class _Links(HTMLParser):
    """Every src and href in a page, and the inline scripts (there must be none)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            if found.get(name) is not None:
                self.links.append(str(found[name]))
        if tag == "script" and found.get("type") != "application/json":
            self._in_script = "src" not in found

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_site(tmp_path_factory.mktemp("share"))


def test_every_link_is_a_relative_file_in_the_folder(site: Path) -> None:
    html = (site / "index.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(html)
    assert parser.links, "the page links nothing"
    assert parser.inline_scripts == 0
    for link in parser.links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc and not link.startswith("/"), link
        assert not parts.query and not parts.fragment, link
        target = (site / parts.path).resolve()
        assert target.is_file() and site.resolve() in target.parents, link
    used = {urlsplit(link).path for link in parser.links}
    assert {"assets/app.css", "assets/app.js", "assets/quiz.css", "assets/quiz.js"} <= used
    # Styles pull in nothing either (no url(), no @import) and scripts load nothing at start.
    for css in site.glob("assets/*.css"):
        text = css.read_text(encoding="utf-8")
        assert "url(" not in text and "@import" not in text, css.name
    for js in site.glob("assets/*.js"):
        assert not re.search(r"https?://", js.read_text(encoding="utf-8")), js.name


def test_page_shows_the_cards_and_escapes_names(site: Path) -> None:
    html = (site / "index.html").read_text(encoding="utf-8")
    assert html.count('class="story-card') >= 4
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "data-quiz=" in html and "Top Song Quiz" in html
    assert "<h1>Wrapped 2026</h1>" in html
    # The browser is told to load nothing but the folder's files, and no inline style or script.
    [policy] = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert "default-src 'none'" in policy and "script-src 'self';" in policy and "unsafe" not in policy
    assert " style=" not in html


def test_an_unwritable_folder_is_one_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'brapped.db'}"
    result = CliRunner().invoke(
        cli,
        ["report", "wrapped", "--year", "2026", "--html", str(blocker / "site")],
        env={"BRAPPED_DATABASE_URL": url, "BRAPPED_HOME": str(tmp_path / "home"), "BRAPPED_TIMEZONE": "UTC"},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write the share page: Not a directory")
