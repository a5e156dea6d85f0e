"""Talking to Spotify: the Web API client, OAuth and the token store.

`connect()` builds a ready client from settings; `authorise()` runs the interactive flow. Both take
an optional httpx transport so tests and `brapped demo` run against the in-process emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from brapped.clock import Clock
from brapped.config import Settings
from brapped.spotify.account_tokens import (
    AccountTokens,
    authorised_accounts,
    file_for_new_consent,
    primary_account,
    settle,
)
from brapped.spotify.auth import (
    EXTRA_SCOPES,
    PLAYLIST_SCOPE,
    SCOPES,
    AppCredentials,
    AuthResult,
    TokenManager,
    TokenSet,
    TokenStore,
    authorize,
)
from brapped.spotify.client import SpotifyClient
from brapped.spotify.errors import AuthExpired, AuthFlowError, AuthRequired, RateLimited, SpotifyError
from brapped.spotify.retry import RetryPolicy

__all__ = [
    "EXTRA_SCOPES",
    "PLAYLIST_SCOPE",
    "SCOPES",
    "AccountTokens",
    "AppCredentials",
    "AuthExpired",
    "AuthFlowError",
    "AuthRequired",
    "AuthResult",
    "RateLimited",
    "RetryPolicy",
    "SpotifyClient",
    "SpotifyError",
    "TokenManager",
    "TokenSet",
    "TokenStore",
    "app_credentials",
    "authorise",
    "authorised_accounts",
    "connect",
    "connect_all",
    "retry_policy",
]

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def app_credentials(settings: Settings) -> AppCredentials | None:
    """The Spotify app from settings (None when no client id is configured)."""
    if not settings.client_id:
        return None
    return AppCredentials(
        client_id=str(settings.client_id),
        client_secret=str(settings.client_secret) if settings.client_secret else None,
        accounts_url=str(settings.accounts_url),
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    """The retry policy for Web API and token requests alike (`retry_after_cap` from settings)."""
    return RetryPolicy(retry_after_cap=int(settings.retry_after_cap))


def connect(
    settings: Settings,
    clock: Clock,
    *,
    transport: httpx.BaseTransport | None = None,
    account: AccountTokens | None = None,
) -> SpotifyClient:
    """A Web API client for one authorised account (default: the first, token.json, seeded from
    SPOTIFY_REFRESH_TOKEN), requests through `transport` when given. Close `client.http` after use."""
    account = account or primary_account(settings)
    retry = retry_policy(settings)
    tokens = TokenManager(
        account.store(),
        app_credentials(settings),
        clock,
        transport=transport,
        env_refresh_token=account.env_refresh_token,
        retry=retry,
    )
    http = httpx.Client(transport=transport, timeout=TIMEOUT, trust_env=transport is None)
    return SpotifyClient(http, tokens, clock, api_url=str(settings.api_url), retry=retry)


def connect_all(
    settings: Settings, clock: Clock, *, transport: httpx.BaseTransport | None = None
) -> list[SpotifyClient]:
    """One client per authorised account (see `authorised_accounts`); close each `client.http`."""
    return [
        connect(settings, clock, transport=transport, account=account)
        for account in authorised_accounts(settings)
    ]


def authorise(
    settings: Settings,
    clock: Clock,
    open_url: Callable[[str], object],
    *,
    port: int | None = None,
    timeout: float = 300.0,
    transport: httpx.BaseTransport | None = None,
    extra_scopes: Sequence[str] = (),
) -> AuthResult:
    """Run the interactive authorisation (PKCE unless a client secret is configured), save the
    tokens, and record whose they are (one GET /me). `open_url` gets the consent URL.

    `extra_scopes`: grants beyond `SCOPES` (from `EXTRA_SCOPES`); those the first account's saved
    tokens already hold are asked for again, so authorising anew never takes a grant away (which
    account consents is only known afterwards).

    With no account yet the tokens go to token.json; with one, the consent authorises another account
    (tokens/<user id>.json), or renews the tokens of the account that consented when it is known."""
    app = app_credentials(settings)
    if app is None:
        raise AuthRequired(
            "no Spotify client id: create an app at developer.spotify.com, then set SPOTIFY_CLIENT_ID"
        )
    extras = {scope for group in EXTRA_SCOPES.values() for scope in group}
    try:
        saved = TokenStore(settings.token_file).load()
    except AuthRequired:  # a damaged file: this authorisation replaces it
        saved = None
    kept = [scope for scope in (saved.scope.split() if saved else []) if scope in extras]
    scopes = tuple(dict.fromkeys([*SCOPES, *extra_scopes, *kept]))
    path = file_for_new_consent(settings)
    store = TokenStore(path)
    result = authorize(
        app,
        store,
        clock,
        open_url,
        port=int(settings.redirect_port) if port is None else port,
        timeout=timeout,
        transport=transport,
        retry=retry_policy(settings),
        scopes=scopes,
    )
    client = connect(settings, clock, transport=transport, account=AccountTokens(path))
    try:
        try:
            me = client.me()
            assert isinstance(client.tokens, TokenManager)
            client.tokens.remember_user(str(me["id"]), me.get("display_name"))
            tokens = client.tokens.tokens
        finally:
            client.http.close()
        saved_to = settle(settings, path, str(me["id"]))
    except BaseException:
        if path != settings.token_file:
            path.unlink(missing_ok=True)  # a consent nobody can name is of no use
        raise
    return AuthResult(tokens=tokens, redirect_uri=result.redirect_uri, pkce=result.pkce, token_file=saved_to)
