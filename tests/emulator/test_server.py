"""The emulator over real HTTP: spotipy works unchanged; faults reach the socket; the CLI serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyPKCE

from brapped.emulator import DEFAULT_CLIENT_ID, Emulator, Fault, serve_in_thread
from tests.conftest import REPO
from tests.emulator.conftest import validate

REDIRECT = "http://127.0.0.1:8888/callback"


@pytest.fixture
def served(emu: Emulator) -> Iterator[str]:
    with serve_in_thread(emu) as base_url:
        yield base_url


def test_serve_in_thread_binds_loopback(served: str) -> None:
    assert served.startswith("http://127.0.0.1:")
    assert httpx.get(f"{served}/_admin/clock").json() == {"now": "2026-01-15T12:00:00Z"}


def test_spotipy_works_unchanged(emu: Emulator, served: str) -> None:
    auth = SpotifyPKCE(
        client_id=DEFAULT_CLIENT_ID,
        redirect_uri=REDIRECT,
        scope="user-read-recently-played user-read-private",
        cache_handler=MemoryCacheHandler(),
        open_browser=False,
    )
    auth.OAUTH_AUTHORIZE_URL = f"{served}/authorize"
    auth.OAUTH_TOKEN_URL = f"{served}/api/token"
    # The browser step: the emulator auto-approves and redirects with the code.
    redirect = httpx.get(auth.get_authorize_url(state="s1"))
    assert redirect.status_code == 302
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    auth.get_access_token(code)
    sp = spotipy.Spotify(auth_manager=auth, requests_timeout=10, retries=0)
    sp.prefix = f"{served}/v1/"
    recent = sp.current_user_recently_played(limit=20)
    validate("development", "CursorPagingPlayHistoryObject", recent)
    assert len(recent["items"]) == 20
    older = sp.next(recent)
    assert older is not None and older["items"][0]["played_at"] < recent["items"][-1]["played_at"]
    assert sp.me()["id"] == emu.listener.user_id
    track = recent["items"][0]["track"]
    assert sp.track(track["id"])["name"] == track["name"]
    assert sp.artist(track["artists"][0]["id"])["id"] == track["artists"][0]["id"]
    assert sp.album(track["album"]["id"])["id"] == track["album"]["id"]
    assert sp.search(q=track["name"], type="track")["tracks"]["total"] >= 1
    # An hour and a bit later spotipy refreshes by itself; the PKCE refresh token rotates.
    # (spotipy reads the wall clock, so its cached expiry is moved back by the same hour.)
    cached = auth.cache_handler.get_cached_token()
    before = cached["refresh_token"]
    emu.clock.advance(3700)
    auth.cache_handler.save_token_to_cache({**cached, "expires_at": cached["expires_at"] - 3700})
    assert sp.current_user_recently_played(limit=1)["items"]
    assert auth.cache_handler.get_cached_token()["refresh_token"] != before
    assert emu.counters["POST /api/token"] == 2


def test_drop_and_slow_over_real_http(emu: Emulator, served: str) -> None:
    token = emu.issue_access_token()
    headers = {"Authorization": f"Bearer {token}"}
    emu.faults.add(Fault(kind="drop", path="/v1/me"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(f"{served}/v1/me", headers=headers)
    emu.faults.add(Fault(kind="slow", path="/v1/me", delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{served}/v1/me", headers=headers, timeout=0.2)
    assert httpx.get(f"{served}/v1/me", headers=headers).status_code == 200


def test_cli_serves_on_loopback_and_prints_the_urls() -> None:
    src = str(REPO / "src")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "brapped", "emulator", "--port", "0", "--seed", "5", "--frozen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        assert lines[0].startswith("Spotify emulator (seed 5, development mode) at http://127.0.0.1:")
        base = lines[0].rsplit(" at ", 1)[1].strip()
        assert f"Web API base:  {base}/v1" in lines[2]
        assert DEFAULT_CLIENT_ID in lines[4]
        now = httpx.get(f"{base}/_admin/clock", timeout=5).json()["now"]
        assert now == httpx.get(f"{base}/_admin/clock", timeout=5).json()["now"]  # --frozen
        refresh = httpx.post(f"{base}/_admin/refresh-token", json={}, timeout=5).json()["refresh_token"]
        token = httpx.post(
            f"{base}/api/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": DEFAULT_CLIENT_ID},
            timeout=5,
        ).json()["access_token"]
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None
    assert "Stopped." in proc.stdout.read()


def test_cli_help_documents_every_option() -> None:
    from click.testing import CliRunner

    from brapped.cli.emulator import emulator_command

    result = CliRunner().invoke(emulator_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--seed", "--mode", "--start", "--frozen"):
        assert option in result.output
    assert "127.0.0.1" in result.output
