"""The static share page of a Wrapped report: `index.html` and its assets in one folder.

Written for any static host (GitHub Pages, a USB stick): every script, style and icon is a file in
the folder, referenced by a relative path, so the page loads from disk with no network and no
server. No cover images (they live on Spotify's CDN); the cards are text, as the PNGs are.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from brapped import __version__
from brapped.web.cards import story_cards
from brapped.web.quiz import top_song_quiz
from brapped.web.rendering import environment

STATIC = Path(__file__).resolve().parent / "static"
# What the page uses of the dashboard's static files: styles, the PNG download, the quiz, the icon.
ASSETS = ("app.css", "app.js", "quiz.css", "quiz.js", "favicon.svg")


def share_title(data: dict[str, Any]) -> str:
    cards = story_cards(data)
    span = cards[0]["foot"].removeprefix("brapped · ") if cards else ""
    return f"Wrapped {span}".strip()


def render_share_page(data: dict[str, Any]) -> str:
    """The page's HTML for a Wrapped report (`brapped.insights.wrapped`'s document)."""
    template = environment().get_template("share.html")
    return template.render(
        data=data,
        cards=story_cards(data),
        quiz=top_song_quiz(data),
        title=share_title(data),
        version=__version__,
    )


def write_share_page(data: dict[str, Any], folder: Path) -> Path:
    """Write `folder/index.html` and `folder/assets/*` (created or replaced); returns index.html."""
    assets = folder / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ASSETS:
        shutil.copyfile(STATIC / name, assets / name)
    # GitHub Pages' branch builds run Jekyll, which hides some files; this turns it off.
    (folder / ".nojekyll").write_bytes(b"")
    index = folder / "index.html"
    index.write_text(render_share_page(data), encoding="utf-8")
    return index
