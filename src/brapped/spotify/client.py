"""The Spotify Web API client: typed GETs, paging limits, and the one 401 refresh.

Retries, backoff and rate limits follow the injected `RetryPolicy` (`brapped.spotify.retry`), shared
with the token requests. A 401 refreshes the access token once and retries; a second 401 is an auth
error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from brapped.clock import Clock
from brapped.spotify.errors import AuthRequired, SpotifyError
from brapped.spotify.retry import DEFAULT_RETRY, RetryPolicy, raise_for_retry

# GET /me/player/recently-played returns at most the last 50 plays: a longer gap between syncs loses
# whatever came before them (the scheduler warns about intervals that risk it).
RECENTLY_PLAYED_LIMIT = 50
BATCH_LIMITS = {"tracks": 50, "artists": 50, "albums": 20}


class AccessTokens(Protocol):
    """Where the client gets bearer tokens (`brapped.spotify.auth.TokenManager`)."""

    def access_token(self) -> str: ...

    def refresh(self, stale_access_token: str | None = None) -> str: ...


class SpotifyClient:
    """Typed GETs against the Web API. `http` is injected: tests hand it the emulator's transport."""

    def __init__(
        self,
        http: httpx.Client,
        tokens: AccessTokens,
        clock: Clock,
        *,
        api_url: str = "https://api.spotify.com/v1",
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.clock = clock
        self.api_url = api_url.rstrip("/")
        self.retry = retry
        self.calls = 0  # Web API requests sent, retries included

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # A full URL comes from an answer (`next`): the bearer token goes with it, so it goes to
            # the configured Web API, never to a host, port or plain-HTTP address the answer names.
            # A Web API path named elsewhere (a proxy in front of Spotify leaves Spotify's `next`
            # as it was) is asked of the configured API; anything else is not followed.
            link, api = httpx.URL(path), httpx.URL(self.api_url)
            if _same_origin(link, api):
                return path
            if link.path.startswith(api.path.rstrip("/") + "/"):
                return str(api.copy_with(raw_path=link.raw_path))
            raise SpotifyError(200, f"an answer links outside the Web API ({self.api_url}): not followed")
        return f"{self.api_url}/{path.lstrip('/')}"

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a Web API path (or a full `next` URL) and return its JSON object."""
        return self.request("GET", path, params)

    def post(
        self, path: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST a JSON body to a Web API path and return the JSON object answered.

        Retried like a GET. A 429 is answered before Spotify acts, so waiting it out is safe; after a
        5xx or a lost answer the write may have happened, and the retry can repeat it (a playlist
        made twice, items added twice): rare, visible and fixable in the app, unlike a half-made
        playlist left behind by giving up.
        """
        return self.request("POST", path, params, body)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Web API call, with the retry policy and the one 401 refresh."""
        url = self.url(path)
        where = httpx.URL(url).path
        refreshed = False

        def send(token: str) -> httpx.Response:
            self.calls += 1
            headers = {"Authorization": f"Bearer {token}"}
            if body is None:
                return self.http.request(method, url, params=params, headers=headers)
            return self.http.request(method, url, params=params, headers=headers, json=dict(body))

        def attempt() -> httpx.Response:
            nonlocal refreshed
            token = self.tokens.access_token()
            response = send(token)
            if response.status_code == 401 and not refreshed:
                refreshed = True
                response = send(self.tokens.refresh(token))
            if response.status_code == 401:
                raise AuthRequired(
                    f"Spotify rejects a freshly refreshed access token ({_error_message(response)}): "
                    "run `brapped auth` again"
                )
            return raise_for_retry(response)

        try:
            response = self.retry.run(attempt, self.clock, where)
        except httpx.HTTPStatusError as exc:  # 5xx to the end
            raise SpotifyError(exc.response.status_code, _error_message(exc.response)) from exc
        except httpx.TransportError as exc:
            raise SpotifyError(
                0, f"no answer from {where} after {self.retry.attempts} attempts ({type(exc).__name__})"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            return _json_object(response)
        message = _error_message(response)
        if status == 403 and "scope" in message.lower():
            raise AuthRequired(
                f"Spotify refused: {message}; run `brapped auth` again to grant the needed access"
            )
        raise SpotifyError(status, message)

    # -- endpoints ---------------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """GET /me: the account the token belongs to."""
        return self.get("me")

    def recently_played(
        self, after_ms: int | None = None, limit: int = RECENTLY_PLAYED_LIMIT
    ) -> dict[str, Any]:
        """GET /me/player/recently-played, plays that ended after `after_ms` (epoch ms)."""
        params: dict[str, Any] = {"limit": limit}
        if after_ms is not None:
            params["after"] = after_ms
        return self.get("me/player/recently-played", params)

    def one(self, kind: str, spotify_id: str) -> dict[str, Any]:
        """GET /{kind}/{id} for kind tracks | artists | albums."""
        return self.get(f"{kind}/{spotify_id}")

    def several(self, kind: str, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """GET /{kind}?ids=... (a batch lookup; Spotify refuses it to development-mode apps)."""
        if len(ids) > BATCH_LIMITS[kind]:
            raise ValueError(f"at most {BATCH_LIMITS[kind]} {kind} per request")
        body = self.get(kind, {"ids": ",".join(ids)})
        items = body.get(kind)
        if not isinstance(items, list):
            raise SpotifyError(200, f"GET /{kind} answered without a {kind} list")
        return [item if isinstance(item, dict) else None for item in items]

    def search_tracks(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        """GET /search?type=track: candidate tracks for a query."""
        body = self.get("search", {"q": query, "type": "track", "limit": limit})
        items = (body.get("tracks") or {}).get("items") or []
        return [item for item in items if isinstance(item, dict)]


def _same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SpotifyError(response.status_code, "the answer is not JSON") from exc
    if not isinstance(body, dict):
        raise SpotifyError(response.status_code, "the answer is not a JSON object")
    return body


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return str(body.get("error_description") or error)
    return response.reason_phrase or "error"


def chunks(items: Iterable[str], size: int) -> Iterable[list[str]]:
    """Consecutive lists of at most `size` items."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
