"""Spotify Accounts: `GET /authorize` (auto-approved) and `POST /api/token`, with Spotify's rules.

- Redirect URIs: https anywhere; http only to a loopback IP literal (127.0.0.1, [::1]); `localhost`
  is refused, as Spotify does since 2025. A registered loopback URI without a port matches any port.
- Authorization codes live 10 minutes and are single-use; S256 is the only PKCE method.
- Access tokens live 3600 s of emulated time.
- PKCE refresh tokens are single-use: each refresh returns a new one and revokes the old.
- Refresh tokens of a client that authenticates with its secret are NOT rotated: the response has no
  `refresh_token` and the old one stays valid (Spotify documents that it *may* return a new one).
- Every refresh token expires six months (calendar) after the user authorised the app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from brapped.emulator.reply import Reply

ACCESS_TOKEN_TTL = timedelta(seconds=3600)
CODE_TTL = timedelta(minutes=10)
REFRESH_TOKEN_MONTHS = 6

DEFAULT_CLIENT_ID = "5f0e6a7b0c1d2e3f405162738495a6b7"
DEFAULT_CLIENT_SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8888/callback",
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
)

_SCOPES_TEXT = """
    app-remote-control playlist-modify-private playlist-modify-public playlist-read-collaborative
    playlist-read-private streaming ugc-image-upload user-follow-modify user-follow-read
    user-library-modify user-library-read user-modify-playback-state user-read-currently-playing
    user-read-email user-read-playback-position user-read-playback-state user-read-private
    user-read-recently-played user-top-read user-personalized
"""
SCOPES = frozenset(_SCOPES_TEXT.split())


class RedirectURIError(ValueError):
    """A redirect URI Spotify's dashboard would not accept."""


@dataclass
class Client:
    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...]


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scope: frozenset[str]
    challenge: str | None
    expires_at: datetime
    used: bool = False
    listener: int = 0


@dataclass
class Grant:
    """A refresh token and what it grants."""

    client_id: str
    scope: frozenset[str]
    pkce: bool
    authorized_at: datetime
    revoked: bool = False
    listener: int = 0  # which of the emulator's listeners consented (several share one app)


@dataclass
class AccessToken:
    client_id: str
    scope: frozenset[str]
    expires_at: datetime
    user: bool
    listener: int = 0


def check_redirect_uri(uri: str) -> None:
    """Raise RedirectURIError for a URI Spotify refuses to register (http off loopback, localhost)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedirectURIError(f"invalid redirect URI {uri!r}")
    if parts.hostname == "localhost":
        raise RedirectURIError("localhost is not allowed as a redirect URI; use 127.0.0.1 or [::1]")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise RedirectURIError("http redirect URIs must use a loopback address (127.0.0.1 or [::1])")


def _redirect_matches(registered: str, given: str) -> bool:
    if registered == given:
        return True
    reg, giv = urlsplit(registered), urlsplit(given)
    # RFC 8252 7.3: a loopback redirect may use any port when none was registered.
    return (
        reg.scheme == "http"
        and reg.port is None
        and (reg.scheme, reg.hostname, reg.path, reg.query) == (giv.scheme, giv.hostname, giv.path, giv.query)
    )


def _add_months(when: datetime, months: int) -> datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _error(code: str, description: str) -> Reply:
    return Reply(400, {"error": code, "error_description": description})


class Accounts:
    """Clients, codes and tokens; all times come from the emulator's clock via `now`."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, AccessToken] = {}
        # The listener who approves the next /authorize (a household shares one app).
        self.approving_listener = 0
        self._lock = threading.RLock()

    # -- set-up and shortcuts for tests --------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str | None, redirect_uris: list[str]) -> Client:
        for uri in redirect_uris:
            check_redirect_uri(uri)
        client = Client(client_id, client_secret, tuple(redirect_uris))
        self.clients[client_id] = client
        return client

    def issue_refresh_token(
        self, client_id: str, scope: frozenset[str], pkce: bool, now: datetime, listener: int = 0
    ) -> str:
        if client_id not in self.clients:
            raise KeyError(f"unknown client {client_id!r}")
        token = "AQ" + secrets.token_urlsafe(96)
        with self._lock:
            self.grants[token] = Grant(client_id, scope, pkce, now, listener=listener)
        return token

    def issue_access_token(
        self, client_id: str, scope: frozenset[str], now: datetime, user: bool = True, listener: int = 0
    ) -> str:
        token = "BQ" + secrets.token_urlsafe(84)
        with self._lock:
            self.tokens[token] = AccessToken(client_id, scope, now + ACCESS_TOKEN_TTL, user, listener)
        return token

    def revoke(self, listener: int) -> int:
        """Revoke every grant of `listener` (the user removed the app on their account page)."""
        with self._lock:
            grants = [g for g in self.grants.values() if g.listener == listener and not g.revoked]
            for grant in grants:
                grant.revoked = True
        return len(grants)

    # -- GET /authorize -----------------------------------------------------------------------

    def authorize(self, params: dict[str, str], now: datetime) -> Reply:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return _html(400, "INVALID_CLIENT: Invalid client")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            return _html(400, "INVALID_CLIENT: Invalid redirect URI")
        try:
            check_redirect_uri(redirect_uri)
        except RedirectURIError:
            return _html(400, "INVALID_CLIENT: Insecure redirect URI")
        if not any(_redirect_matches(r, redirect_uri) for r in client.redirect_uris):
            return _html(400, "INVALID_CLIENT: Invalid redirect URI")
        state = params.get("state")
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type"}, state)
        scope = frozenset(params.get("scope", "").replace("+", " ").split())
        if not scope <= SCOPES:
            return _redirect(redirect_uri, {"error": "invalid_scope"}, state)
        challenge = params.get("code_challenge")
        if challenge is not None and params.get("code_challenge_method") != "S256":
            return _redirect(redirect_uri, {"error": "invalid_request"}, state)
        if challenge is None and client.client_secret is None:
            return _redirect(redirect_uri, {"error": "invalid_request"}, state)
        code = "AQ" + secrets.token_urlsafe(120)
        with self._lock:
            self.codes[code] = AuthCode(
                client.client_id,
                redirect_uri,
                scope,
                challenge,
                now + CODE_TTL,
                listener=self.approving_listener,
            )
        return _redirect(redirect_uri, {"code": code}, state)

    # -- POST /api/token ----------------------------------------------------------------------

    def token(self, body: bytes, authorization: str | None, now: datetime) -> Reply:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant_type = form.get("grant_type")
        if not grant_type:
            return _error("unsupported_grant_type", "grant_type parameter is missing")
        if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
            return _error(
                "unsupported_grant_type",
                "grant_type must be client_credentials, authorization_code or refresh_token",
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return _error("invalid_client", "Invalid client")
        client = self.clients.get(client_id or "")
        if client is None:
            return _error("invalid_client", "Invalid client")
        if secret is not None and (
            client.client_secret is None or not hmac.compare_digest(secret, client.client_secret)
        ):
            return _error("invalid_client", "Invalid client secret")
        with self._lock:
            if grant_type == "client_credentials":
                if secret is None:
                    return _error("invalid_client", "Invalid client")
                token = self.issue_access_token(client.client_id, frozenset(), now, user=False)
                return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})
            if grant_type == "authorization_code":
                return self._exchange_code(form, client, secret is not None, now)
            return self._refresh(form, client, secret is not None, now)

    def _exchange_code(
        self, form: dict[str, str], client: Client, authenticated: bool, now: datetime
    ) -> Reply:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used or code.client_id != client.client_id:
            return _error("invalid_grant", "Invalid authorization code")
        if now >= code.expires_at:
            return _error("invalid_grant", "Authorization code expired")
        if form.get("redirect_uri") != code.redirect_uri:
            return _error("invalid_grant", "Invalid redirect URI")
        if code.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _error("invalid_request", "code_verifier required")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if not hmac.compare_digest(digest, code.challenge):
                return _error("invalid_grant", "code_verifier was incorrect")
        elif not authenticated:
            return _error("invalid_client", "Invalid client")
        code.used = True
        pkce = code.challenge is not None
        refresh = self.issue_refresh_token(client.client_id, code.scope, pkce, now, code.listener)
        return self._token_reply(client.client_id, code.scope, now, refresh, code.listener)

    def _refresh(self, form: dict[str, str], client: Client, authenticated: bool, now: datetime) -> Reply:
        token = form.get("refresh_token")
        if not token:
            return _error("invalid_request", "refresh_token must be supplied")
        grant = self.grants.get(token)
        if grant is None or grant.client_id != client.client_id:
            return _error("invalid_grant", "Invalid refresh token")
        if grant.revoked:
            return _error("invalid_grant", "Refresh token revoked")
        if now >= _add_months(grant.authorized_at, REFRESH_TOKEN_MONTHS):
            return _error("invalid_grant", "Refresh token expired")
        if not grant.pkce and not authenticated:
            return _error("invalid_client", "Invalid client")
        new_refresh: str | None = None
        if grant.pkce:
            grant.revoked = True
            new_refresh = "AQ" + secrets.token_urlsafe(96)
            # The rotated token inherits the authorisation time: six months run from consent.
            self.grants[new_refresh] = Grant(
                grant.client_id, grant.scope, True, grant.authorized_at, listener=grant.listener
            )
        return self._token_reply(client.client_id, grant.scope, now, new_refresh, grant.listener)

    def _token_reply(
        self, client_id: str, scope: frozenset[str], now: datetime, refresh: str | None, listener: int = 0
    ) -> Reply:
        body: dict[str, Any] = {
            "access_token": self.issue_access_token(client_id, scope, now, listener=listener),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        body["scope"] = " ".join(sorted(scope))
        return Reply(200, body)

    # -- Web API side -------------------------------------------------------------------------

    def check_bearer(self, authorization: str | None, now: datetime) -> AccessToken | str:
        """The token's grant, or the message of Spotify's 401 for it."""
        if not authorization or not authorization.startswith("Bearer "):
            return "No token provided"
        token = self.tokens.get(authorization[7:].strip())
        if token is None:
            return "Invalid access token"
        if now >= token.expires_at:
            return "The access token expired"
        return token


def _html(status: int, message: str) -> Reply:
    page = f"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>{message}</h1></body></html>"
    return Reply(status, text=page, headers={"content-type": "text/html; charset=utf-8"})


def _redirect(uri: str, params: dict[str, str], state: str | None) -> Reply:
    if state is not None:
        params = {**params, "state": state}
    sep = "&" if urlsplit(uri).query else "?"
    return Reply(302, headers={"location": f"{uri}{sep}{urlencode(params)}"})
