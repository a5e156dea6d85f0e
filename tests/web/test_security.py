"""Who may open the dashboard: loopback by default, the token everywhere else, no secrets shown."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from brapped.cli import cli
from brapped.store import Store
from brapped.web import UnsafeBind, app_for_host, check_bind, create_app, is_loopback
from brapped.web.security import COOKIE, cookie_value
from tests.web.conftest import NOW, FixedClock, make_settings

pytestmark = pytest.mark.anyio
TOKEN = "correct-horse-battery-staple-42"


@pytest.fixture
def token_app(web_store: Store, tmp_path: Path) -> FastAPI:
    return create_app(web_store, make_settings(tmp_path / "home", dashboard_token=TOKEN), FixedClock(NOW))


@pytest.fixture
async def token_client(token_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=token_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard.example") as c:
        yield c


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind_refuses_the_network_without_a_token() -> None:
    with pytest.raises(UnsafeBind, match=r"refusing to listen on 0\.0\.0\.0"):
        check_bind("0.0.0.0", None)
    with pytest.raises(UnsafeBind):
        check_bind("192.168.1.20", "")
    check_bind("0.0.0.0", TOKEN)
    check_bind("127.0.0.1", None)


async def test_without_the_token_nothing_is_shown(token_client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/overview", "/health", "/openapi.json", "/static/app.js"):
        response = await token_client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    api = await token_client.get("/api/today")
    assert api.json() == {"detail": "a dashboard token is required"}


@pytest.mark.parametrize("given", ["wrong", TOKEN + "x", TOKEN[:-1], ""])
async def test_a_wrong_token_is_refused(token_client: httpx.AsyncClient, given: str) -> None:
    headers = {"Authorization": f"Bearer {given}"}
    assert (await token_client.get("/api/today", headers=headers)).status_code == 401
    assert (await token_client.get(f"/?token={given}")).status_code == 401
    token_client.cookies.set(COOKIE, given)
    assert (await token_client.get("/")).status_code == 401


async def test_bearer_header(token_client: httpx.AsyncClient) -> None:
    response = await token_client.get("/api/today", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.json()["date"] == NOW.date().isoformat()


async def test_query_token_becomes_a_cookie(token_client: httpx.AsyncClient) -> None:
    response = await token_client.get(f"/?period=7d&token={TOKEN}")
    assert response.status_code == 303
    assert response.headers["location"] == "/?period=7d"  # the token leaves the address bar
    set_cookie = response.headers["set-cookie"]
    assert f"{COOKIE}={cookie_value(TOKEN)}" in set_cookie
    assert TOKEN not in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    followed = await token_client.get("/?period=7d")  # the client kept the cookie
    assert followed.status_code == 200
    assert "7 days" in followed.text


async def test_trusted_hosts_stop_dns_rebinding(web_store: Store, tmp_path: Path) -> None:
    app = create_app(web_store, make_settings(tmp_path / "h"), FixedClock(NOW), trusted_hosts=["127.0.0.1"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.get("/api/today")).status_code == 200
        rebound = await client.get("/api/today", headers={"Host": "attacker.example"})
        assert rebound.status_code == 400


async def test_no_secret_is_ever_rendered(web_store: Store, tmp_path: Path) -> None:
    """A stored Spotify token and configured secrets never appear on a page or in the API."""
    home = tmp_path / "home"
    home.mkdir()
    secrets = {
        "refresh_token": "REFRESH-SECRET-abcdef123456",
        "access_token": "ACCESS-SECRET-abcdef123456",
    }
    issued = datetime(2025, 9, 26, 18, 30, tzinfo=UTC)  # authorisation lasts until 2026-03-26 18:30
    (home / "token.json").write_text(
        json.dumps(
            {
                "client_id": "client-id-1",
                "issued_at": issued.isoformat(),
                "expires_at": (NOW + timedelta(minutes=30)).isoformat(),
                "user_id": "listener",
                **secrets,
            }
        )
    )
    settings = make_settings(
        home,
        client_secret="CLIENT-SECRET-abcdef123456",
        webhook_url="https://hooks.example/SECRET-HOOK",
        smtp_url="smtp://user:SMTP-SECRET@mail.example:587",
    )
    app = create_app(web_store, settings, FixedClock(NOW))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        health = (await client.get("/api/health")).json()
        assert health["token"]["present"] is True
        assert health["token"]["expires_at"] == "2026-03-26T18:30:00Z"
        assert health["token"]["expires_in_days"] == 11
        assert health["token"]["warning"].startswith("the Spotify authorisation expires in")
        bodies = [json.dumps(health)]
        for path in ("/health", "/", "/day", "/wrapped", "/search?q=a", "/api/today", "/openapi.json"):
            bodies.append((await client.get(path)).text)
    for body in bodies:
        for secret in [*secrets.values(), "CLIENT-SECRET", "SECRET-HOOK", "SMTP-SECRET"]:
            assert secret not in body


def test_serve_refuses_a_network_address_without_a_token(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "BRAPPED_DASHBOARD_TOKEN" in result.stderr


def test_serve_starts_uvicorn_with_the_app(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_home: Path
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []

    def record(server: Any, sockets: Any = None) -> None:
        calls.append({"app": server.config.app, "bound": sockets[0].getsockname()[:2]})

    monkeypatch.setattr(uvicorn.Server, "run", record)
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = runner.invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert calls[0]["bound"] == ("127.0.0.1", port)
    assert isinstance(calls[0]["app"], FastAPI)
    assert f"http://127.0.0.1:{port}/" in result.stderr

    monkeypatch.setenv("BRAPPED_DASHBOARD_TOKEN", TOKEN)
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert calls[1]["bound"][0] == "0.0.0.0"
    assert TOKEN not in result.output + result.stderr


async def test_app_for_host_applies_the_rules(web_store: Store, tmp_path: Path) -> None:
    """What `serve` and `run --serve` build: refusal, then the Host check on loopback."""
    plain = make_settings(tmp_path / "a")
    with pytest.raises(UnsafeBind):
        app_for_host(web_store, plain, FixedClock(NOW), "0.0.0.0")
    local = app_for_host(web_store, plain, FixedClock(NOW), "127.0.0.1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=local), base_url="http://localhost:8765"
    ) as c:
        assert (await c.get("/api/today")).status_code == 200
        assert (await c.get("/api/today", headers={"Host": "rebound.example:8765"})).status_code == 400
    tokened = make_settings(tmp_path / "b", dashboard_token=TOKEN)
    open_app = app_for_host(web_store, tokened, FixedClock(NOW), "0.0.0.0")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=open_app), base_url="http://nas.lan") as c:
        assert (await c.get("/api/today")).status_code == 401
        assert (await c.get("/api/today", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


# -- the token-to-cookie redirect stays on this site; every answer carries the security headers ----


async def _asgi_get(app: FastAPI, raw_path: bytes, query: bytes) -> tuple[int, httpx.Headers]:
    """One GET straight through ASGI, with the request target exactly as a client could send it
    (httpx would resolve `//evil.example/` to another host before the app ever saw it)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8"),  # as uvicorn decodes it
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"dashboard.example")],
        "client": ("127.0.0.1", 50000),
        "server": ("dashboard.example", 80),
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    headers = httpx.Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]])
    return start["status"], headers


@pytest.mark.parametrize(
    ("raw_path", "location"),
    [
        (b"//evil.example/", "/"),
        (b"//evil.example/x", "/"),
        (b"/\\evil.example", "/"),
        (b"/%5Cevil.example", "/"),
        (b"/%2F%2Fevil.example", "/"),
        (b"/%2F/evil.example", "/"),
        (b"https://evil.example", "/"),
        (b"https://evil.example/", "/"),
        (b"/day", "/day"),
        (b"/day/", "/day/"),
    ],
)
async def test_the_token_redirect_never_leaves_the_site(
    token_app: FastAPI, raw_path: bytes, location: str
) -> None:
    status, headers = await _asgi_get(token_app, raw_path, f"token={TOKEN}&period=7d".encode())
    assert status == 303
    assert headers["location"] == f"{location}?period=7d"
    assert cookie_value(TOKEN) in headers["set-cookie"]


SECURITY_HEADER_NAMES = [
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-opener-policy",
]


def _assert_security_headers(headers: httpx.Headers) -> None:
    from brapped.web.security import SECURITY_HEADERS

    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert sorted(n.lower() for n in SECURITY_HEADERS) == sorted(SECURITY_HEADER_NAMES)


@pytest.mark.parametrize("path", ["/", "/api/today", "/static/app.js", "/no-such-page"])
async def test_refusals_carry_the_security_headers(token_client: httpx.AsyncClient, path: str) -> None:
    refused = await token_client.get(path)
    assert refused.status_code == 401
    _assert_security_headers(refused.headers)
    json_refusal = await token_client.get(path, headers={"Accept": "application/json"})
    assert json_refusal.status_code == 401
    _assert_security_headers(json_refusal.headers)


async def test_the_token_redirect_carries_the_security_headers(token_client: httpx.AsyncClient) -> None:
    response = await token_client.get(f"/?token={TOKEN}")
    assert response.status_code == 303
    _assert_security_headers(response.headers)


async def test_the_host_check_carries_the_security_headers(web_store: Store, tmp_path: Path) -> None:
    app = app_for_host(web_store, make_settings(tmp_path / "h"), FixedClock(NOW), "127.0.0.1")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        rebound = await client.get("/", headers={"Host": "attacker.example"})
        assert rebound.status_code == 400
        _assert_security_headers(rebound.headers)
        missing = await client.get("/no-such-page")
        assert missing.status_code == 404
        _assert_security_headers(missing.headers)


async def test_a_crash_carries_the_security_headers(web_store: Store, tmp_path: Path) -> None:
    app = create_app(web_store, make_settings(tmp_path / "h"), FixedClock(NOW))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        crashed = await client.get("/boom")
    assert crashed.status_code == 500
    assert "a bug" not in crashed.text
    _assert_security_headers(crashed.headers)
