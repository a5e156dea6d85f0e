"""What makes the dashboard an app on a phone: the web app manifest and the service worker.

Both are public (brapped.web.security.PUBLIC_PATHS): browsers fetch the manifest without cookies,
and neither holds any listening data. The worker keeps the pages someone saw in a cache named after
`session_key`, so pages seen with one token are never shown to another (docs/decisions.md, "Phone").
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import Response

from brapped import __version__
from brapped.web.icons import SIZES

WORKER = Path(__file__).resolve().parent / "templates" / "sw.js"
MANIFEST_PATH = "/manifest.webmanifest"
WORKER_PATH = "/sw.js"
ICON_FOLDER = "/static/icons/"
THEME = "#0b0d12"

router = APIRouter(include_in_schema=False)


def shell_urls(version: str = __version__) -> list[str]:
    """What the pages load (base.html, and the quiz on Wrapped): cached when the worker installs."""
    return [
        f"/static/app.css?v={version}",
        f"/static/app.js?v={version}",
        f"/static/charts.js?v={version}",
        f"/static/story.js?v={version}",
        f"/static/race.js?v={version}",
        # A household's (base.html loads the script only with two listeners or more).
        f"/static/household.css?v={version}",
        f"/static/household.js?v={version}",
        # The Top Song Quiz's, which only the Wrapped page loads.
        f"/static/quiz.css?v={version}",
        f"/static/quiz.js?v={version}",
        "/static/vendor/echarts/echarts.min.js",
        "/static/favicon.svg",
        MANIFEST_PATH,
        *(ICON_FOLDER + name for name in SIZES),
    ]


def manifest() -> dict[str, object]:
    """The web app manifest (https://www.w3.org/TR/appmanifest/)."""
    icons = []
    for name, (side, maskable) in SIZES.items():
        if name.startswith("apple"):
            continue  # iOS reads its <link rel="apple-touch-icon">, not the manifest
        icons.append(
            {
                "src": ICON_FOLDER + name,
                "sizes": f"{side}x{side}",
                "type": "image/png",
                "purpose": "maskable" if maskable else "any",
            }
        )
    return {
        "id": "/",
        "name": "brapped",
        "short_name": "brapped",
        "description": "Your Spotify listening history, on a dashboard you host.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": THEME,
        "theme_color": THEME,
        "icons": icons,
    }


@cache
def worker_script(version: str = __version__) -> str:
    """sw.js with this version's shell: a new version is a new script, which browsers install."""
    source = WORKER.read_text(encoding="utf-8")
    shell = json.dumps(shell_urls(version))
    return source.replace("__VERSION__", json.dumps(version)).replace("__SHELL__", shell)


@router.get(MANIFEST_PATH)
def manifest_file() -> Response:
    return Response(
        json.dumps(manifest(), indent=1),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get(WORKER_PATH)
def worker_file() -> Response:
    # no-cache: the browser checks for a new worker on every visit instead of trusting a day-old copy.
    return Response(
        worker_script(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
