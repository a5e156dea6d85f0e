"""The dashboard as an installable app: manifest, icons, service worker, and who may fetch them."""

from __future__ import annotations

import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from brapped import __version__
from brapped.store import Store
from brapped.web import create_app
from brapped.web.security import COOKIE, cookie_value
from tests.web.conftest import NOW, SEEDED, FixedClock, make_settings

pytestmark = pytest.mark.anyio
TOKEN = "correct-horse-battery-staple-42"
OTHER_TOKEN = "another-long-token-for-a-friend"
PAGES = ["/", "/day", "/wrapped", "/search?q=hit", f"/artist/{SEEDED.main_artist}", "/health"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _token_app(store: Store, home: Path, token: str) -> FastAPI:
    return create_app(store, make_settings(home, dashboard_token=token), FixedClock(NOW))


@pytest.fixture
async def token_client(web_store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_token_app(web_store, tmp_path / "home", TOKEN))
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard.example") as c:
        yield c


async def test_manifest_is_valid(client: httpx.AsyncClient) -> None:
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] == "brapped" and manifest["short_name"] == "brapped"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    for colour in ("theme_color", "background_color"):
        assert re.fullmatch(r"#[0-9a-f]{6}", manifest[colour])
    seen = set()
    for icon in manifest["icons"]:
        fetched = await client.get(icon["src"])
        assert fetched.status_code == 200, icon["src"]
        assert fetched.headers["content-type"] == icon["type"] == "image/png"
        width, height = _png_size(fetched.content)
        assert icon["sizes"] == f"{width}x{height}"
        seen.add((width, icon["purpose"]))
    # What Chrome asks for before it offers to install, and what Android's launchers crop.
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= seen


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_links_the_manifest_and_icons(client: httpx.AsyncClient, path: str) -> None:
    page = (await client.get(path)).text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="theme-color"' in page
    touch_icon = re.search(r'<link rel="apple-touch-icon" href="([^"]+)"', page)
    assert touch_icon is not None
    icon = await client.get(touch_icon.group(1))
    assert icon.status_code == 200 and _png_size(icon.content) == (180, 180)


async def test_service_worker_is_served_from_the_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert response.headers["cache-control"] == "no-cache"
    script = response.text
    assert "__VERSION__" not in script and "__SHELL__" not in script
    shell = re.search(r"var SHELL_URLS = (\[.*?\]);", script)
    assert shell is not None
    urls = re.findall(r'"([^"]+)"', shell.group(1))
    # Every asset the page loads is in the shell, and every shell URL answers (or install would fail).
    page = (await client.get("/")).text
    loaded = re.findall(r'(?:src|href)="(/static/[^"]+|/manifest\.webmanifest)"', page)
    assert set(u.replace("&amp;", "&") for u in loaded) <= set(urls)
    assert f"/static/app.js?v={__version__}" in urls
    for url in urls:
        assert (await client.get(url)).status_code == 200, url


async def test_app_files_need_no_token_but_pages_do(token_client: httpx.AsyncClient) -> None:
    assert (await token_client.get("/manifest.webmanifest")).status_code == 200
    assert (await token_client.get("/sw.js")).status_code == 200
    assert (await token_client.get("/static/icons/icon-192.png")).status_code == 200
    for path in ("/", "/wrapped", "/static/app.js", "/api/today"):
        assert (await token_client.get(path)).status_code == 401, path
    # The icons folder is not a way around the token to the rest of /static.
    for path in ("/static/icons/../app.js", "/static/icons/%2e%2e/app.js", "/static/icons/..%2fapp.js"):
        response = await token_client.get(path)
        assert response.status_code in (401, 404), path
        assert "brapped" not in response.text or response.status_code == 401


async def test_pages_name_their_session_without_the_token(web_store: Store, tmp_path: Path) -> None:
    """The service worker keys its page cache by X-Brapped-Session: one per token, not the token."""
    seen = {}
    for token in (TOKEN, OTHER_TOKEN):
        transport = httpx.ASGITransport(app=_token_app(web_store, tmp_path / token, token))
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard.example") as c:
            c.cookies.set(COOKIE, cookie_value(token))
            keys = {(await c.get(path)).headers["x-brapped-session"] for path in PAGES}
            assert len(keys) == 1  # the same on every page
            key = keys.pop()
            assert token not in key and key not in cookie_value(token)
            assert re.fullmatch(r"[0-9a-f]{24}", key)
            c.cookies.set(COOKIE, "stale")
            refused = await c.get("/")
            assert "x-brapped-session" not in refused.headers
            seen[token] = key
    assert seen[TOKEN] != seen[OTHER_TOKEN]


async def test_without_a_token_the_session_is_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).headers["x-brapped-session"] == "open"


async def test_a_browser_without_the_token_gets_a_form(token_client: httpx.AsyncClient) -> None:
    """An app opened from a home screen has no address bar: it types the token into a form."""
    refused = await token_client.get("/wrapped?year=2025", headers={"Accept": "text/html,*/*"})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("text/html")
    form = re.search(r"<form method=\"get\">(.*?)</form>", refused.text, re.S)
    assert form is not None and 'name="token"' in form.group(1) and 'type="password"' in form.group(1)
    assert "2025" not in refused.text  # nothing from the request is echoed
    assert '<link rel="manifest" href="/manifest.webmanifest">' in refused.text
    # What the form sends: the token in the query, swapped for the cookie.
    sent = await token_client.get(f"/wrapped?token={TOKEN}")
    assert sent.status_code == 303 and sent.headers["location"] == "/wrapped"
    assert (await token_client.get("/wrapped")).status_code == 200
