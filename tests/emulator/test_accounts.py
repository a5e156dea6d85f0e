"""Spotify Accounts: /authorize and /api/token, with Spotify's rules and its exact error bodies."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from brapped.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from brapped.emulator.accounts import RedirectURIError
from tests.emulator.conftest import accounts_client, web_client

REDIRECT = "http://127.0.0.1:8888/callback"
SCOPE = "user-read-recently-played user-read-private"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(client: httpx.Client, **overrides: str) -> httpx.Response:
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "state": "xyz-state",
        "scope": SCOPE,
    }
    params.update(overrides)
    return client.get("/authorize", params={k: v for k, v in params.items() if v != ""})


def _code(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["xyz-state"]
    return query["code"][0]


def _basic(client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_pkce_flow_end_to_end(emu: Emulator) -> None:
    verifier, challenge = _pkce()
    with accounts_client(emu) as client:
        redirect = _authorize(client, code_challenge=challenge, code_challenge_method="S256")
        assert redirect.headers["location"].startswith(REDIRECT + "?code=")
        token = client.post(
            "/api/token",
            data={
                "grant_type": "authorization_code",
                "code": _code(redirect),
                "redirect_uri": REDIRECT,
                "client_id": DEFAULT_CLIENT_ID,
                "code_verifier": verifier,
            },
        )
    body = token.json()
    assert token.status_code == 200
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token", "scope"]
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert sorted(body["scope"].split()) == sorted(SCOPE.split())
    with web_client(emu, body["access_token"]) as api:
        assert api.get("/me/player/recently-played").status_code == 200


def test_wrong_verifier_and_code_reuse(emu: Emulator) -> None:
    verifier, challenge = _pkce()
    with accounts_client(emu) as client:
        code = _code(_authorize(client, code_challenge=challenge, code_challenge_method="S256"))
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": DEFAULT_CLIENT_ID,
        }
        missing = client.post("/api/token", data=form)
        assert missing.json() == {"error": "invalid_request", "error_description": "code_verifier required"}
        wrong = client.post("/api/token", data={**form, "code_verifier": verifier + "x"})
        assert (wrong.status_code, wrong.json()) == (
            400,
            {"error": "invalid_grant", "error_description": "code_verifier was incorrect"},
        )
        assert client.post("/api/token", data={**form, "code_verifier": verifier}).status_code == 200
        reused = client.post("/api/token", data={**form, "code_verifier": verifier})
        assert reused.json() == {"error": "invalid_grant", "error_description": "Invalid authorization code"}


def test_authorize_refuses_what_spotify_refuses(emu: Emulator) -> None:
    with accounts_client(emu) as client:
        unknown = _authorize(client, client_id="nobody")
        assert unknown.status_code == 400 and "INVALID_CLIENT: Invalid client" in unknown.text
        for insecure in ("http://localhost:8888/callback", "http://example.com/callback"):
            response = _authorize(client, redirect_uri=insecure)
            assert response.status_code == 400
            assert "INVALID_CLIENT: Insecure redirect URI" in response.text
        missing = _authorize(client, redirect_uri="")
        assert "INVALID_CLIENT: Invalid redirect URI" in missing.text
        unregistered = _authorize(client, redirect_uri="http://127.0.0.1:8888/elsewhere")
        assert "INVALID_CLIENT: Invalid redirect URI" in unregistered.text
        bad_type = _authorize(client, response_type="token")
        assert parse_qs(urlsplit(bad_type.headers["location"]).query)["error"] == [
            "unsupported_response_type"
        ]
        bad_scope = _authorize(client, scope="user-read-everything")
        assert parse_qs(urlsplit(bad_scope.headers["location"]).query)["error"] == ["invalid_scope"]
        # A loopback URI registered without a port accepts any port (RFC 8252), as the default client has.
        assert _authorize(client, redirect_uri="http://127.0.0.1:54321/callback").status_code == 302


@pytest.mark.parametrize(
    "uri", ["http://localhost:8888/callback", "http://192.168.1.5/cb", "ftp://127.0.0.1/x"]
)
def test_register_client_refuses_insecure_redirects(emu: Emulator, uri: str) -> None:
    with pytest.raises(RedirectURIError):
        emu.register_client("app", None, [uri])


def test_confidential_code_flow_and_refresh_without_rotation(emu: Emulator) -> None:
    emu.register_client("conf-app", "s3cret", ["https://example.org/cb"])
    with accounts_client(emu) as client:
        code = _code(_authorize(client, client_id="conf-app", redirect_uri="https://example.org/cb"))
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://example.org/cb"}
        no_auth = client.post("/api/token", data={**form, "client_id": "conf-app"})
        assert no_auth.json() == {"error": "invalid_client", "error_description": "Invalid client"}
        bad_secret = client.post("/api/token", data=form, headers=_basic("conf-app", "wrong"))
        assert bad_secret.json() == {"error": "invalid_client", "error_description": "Invalid client secret"}
        good = client.post("/api/token", data=form, headers=_basic("conf-app", "s3cret")).json()
        refresh = {"grant_type": "refresh_token", "refresh_token": good["refresh_token"]}
        first = client.post("/api/token", data=refresh, headers=_basic("conf-app", "s3cret")).json()
        assert "refresh_token" not in first
        second = client.post("/api/token", data=refresh, headers=_basic("conf-app", "s3cret"))
        assert second.status_code == 200 and second.json()["access_token"] != first["access_token"]


def test_pkce_refresh_tokens_are_single_use(emu: Emulator) -> None:
    old = emu.issue_refresh_token(pkce=True)
    with accounts_client(emu) as client:
        form = {"grant_type": "refresh_token", "refresh_token": old, "client_id": DEFAULT_CLIENT_ID}
        fresh = client.post("/api/token", data=form).json()
        assert fresh["refresh_token"] != old
        reused = client.post("/api/token", data=form)
        assert (reused.status_code, reused.json()) == (
            400,
            {"error": "invalid_grant", "error_description": "Refresh token revoked"},
        )
        chained = client.post("/api/token", data={**form, "refresh_token": fresh["refresh_token"]})
        assert chained.status_code == 200


def test_refresh_tokens_expire_six_months_after_consent(emu: Emulator) -> None:
    token = emu.issue_refresh_token(pkce=True)
    with accounts_client(emu) as client:
        emu.clock.advance(timedelta(days=170))
        rotated = client.post(
            "/api/token",
            data={"grant_type": "refresh_token", "refresh_token": token, "client_id": DEFAULT_CLIENT_ID},
        ).json()["refresh_token"]
        emu.clock.advance(timedelta(days=15))  # 185 days after consent: past six calendar months
        late = client.post(
            "/api/token",
            data={"grant_type": "refresh_token", "refresh_token": rotated, "client_id": DEFAULT_CLIENT_ID},
        )
    assert late.json() == {"error": "invalid_grant", "error_description": "Refresh token expired"}


def test_access_tokens_live_3600_emulated_seconds(emu: Emulator) -> None:
    with web_client(emu) as api:
        emu.clock.advance(3599)
        assert api.get("/me").status_code == 200
        emu.clock.advance(1)
        expired = api.get("/me")
    assert expired.status_code == 401
    assert expired.json() == {"error": {"status": 401, "message": "The access token expired"}}
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_missing_and_unknown_tokens(emu: Emulator) -> None:
    with httpx.Client(transport=emu.transport(), base_url="https://api.spotify.com/v1") as api:
        assert api.get("/me").json() == {"error": {"status": 401, "message": "No token provided"}}
        bogus = api.get("/me", headers={"Authorization": "Bearer bogus"})
        assert bogus.json() == {"error": {"status": 401, "message": "Invalid access token"}}


def test_client_credentials(emu: Emulator) -> None:
    with accounts_client(emu) as client:
        response = client.post("/api/token", data={"grant_type": "client_credentials"}, headers=_basic())
        body = response.json()
        assert list(body) == ["access_token", "token_type", "expires_in"]
        no_secret = client.post(
            "/api/token", data={"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID}
        )
        assert no_secret.json() == {"error": "invalid_client", "error_description": "Invalid client"}
    track = next(iter(emu.catalogue.tracks))
    with web_client(emu, body["access_token"]) as api:
        assert api.get(f"/tracks/{track}").status_code == 200
        me = api.get("/me")
        assert (me.status_code, me.json()["error"]["message"]) == (401, "Valid user authentication required")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({}, {"error": "unsupported_grant_type", "error_description": "grant_type parameter is missing"}),
        (
            {"grant_type": "password"},
            {
                "error": "unsupported_grant_type",
                "error_description": (
                    "grant_type must be client_credentials, authorization_code or refresh_token"
                ),
            },
        ),
        (
            {"grant_type": "refresh_token", "client_id": "who"},
            {"error": "invalid_client", "error_description": "Invalid client"},
        ),
        (
            {"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID, "refresh_token": "AQnope"},
            {"error": "invalid_grant", "error_description": "Invalid refresh token"},
        ),
        (
            {"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID},
            {"error": "invalid_request", "error_description": "refresh_token must be supplied"},
        ),
    ],
)
def test_token_endpoint_errors(emu: Emulator, form: dict[str, str], expected: dict[str, str]) -> None:
    with accounts_client(emu) as client:
        response = client.post("/api/token", data=form)
    assert (response.status_code, response.json()) == (400, expected)


def _refresh(emu: Emulator, token: str) -> httpx.Response:
    with accounts_client(emu) as client:
        return client.post(
            "/api/token",
            data={"grant_type": "refresh_token", "refresh_token": token, "client_id": DEFAULT_CLIENT_ID},
        )


def test_several_listeners_share_one_app(emu: Emulator) -> None:
    """A household: each refresh token belongs to one listener, rotation keeps it, /me and
    recently-played answer for that listener, and revoking one leaves the other authorised."""
    friend = emu.add_listener(7)
    assert friend == 1 and emu.listeners[friend].user_id != emu.listener.user_id
    emu.clock.advance(timedelta(hours=30))  # both have listened by now
    latest: dict[int, str] = {}
    seen: dict[int, list[str]] = {}
    for n in (0, friend):
        answer = _refresh(emu, emu.issue_refresh_token(listener=n)).json()
        latest[n] = answer["refresh_token"]  # rotated: still the same listener's
        with web_client(emu, answer["access_token"]) as api:
            assert api.get("/me").json()["id"] == emu.listeners[n].user_id
            items = api.get("/me/player/recently-played?limit=50").json()["items"]
        seen[n] = [i["played_at"] for i in items]
        window = emu.webapi.recent_window(emu.clock.now(), n)
        assert seen[n] and len(seen[n]) == min(50, len(window))
    assert seen[0] != seen[friend]
    assert emu.accounts.revoke(friend) >= 1
    refused = _refresh(emu, latest[friend])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert _refresh(emu, latest[0]).status_code == 200
