"""The Spotify Web API client: the one place for requests, retries, backoff and rate limits.

- 5xx answers and dropped connections: bounded retries, exponential backoff with jitter.
- 429: waits `Retry-After` when it is at most `retry_after_cap` seconds; longer waits raise
  `RateLimited(retry_after)` at once so the caller can stop cleanly instead of hanging for hours.
- 401: the access token is refreshed once and the request retried; a second 401 is an auth error.
Every wait goes through the injected clock, so tests and the demo run at full speed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import httpx

from brapped.clock import Clock
from brapped.spotify.errors import AuthRequired, RateLimited, SpotifyError

log = logging.getLogger(__name__)

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
        retry_after_cap: int = 60,
        max_retries: int = 4,
        backoff: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.clock = clock
        self.api_url = api_url.rstrip("/")
        self.retry_after_cap = retry_after_cap
        self.max_retries = max_retries
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.calls = 0  # Web API requests sent, retries included
        self.waited = 0.0  # seconds spent in backoff and short rate-limit waits

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a Web API path (or a full `next` URL) and return its JSON object."""
        url = self.url(path)
        failures = 0
        short_waits = 0
        refreshed = False
        while True:
            token = self.tokens.access_token()
            try:
                self.calls += 1
                response = self.http.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.max_retries:
                    raise SpotifyError(
                        0,
                        f"no answer from {httpx.URL(url).path} after {failures} attempts "
                        f"({type(exc).__name__})",
                    ) from exc
                self._backoff(failures, f"{type(exc).__name__} on {httpx.URL(url).path}")
                continue
            status = response.status_code
            if 200 <= status < 300:
                return _json_object(response)
            if status == 401:
                if refreshed:
                    raise AuthRequired(
                        f"Spotify rejects a freshly refreshed access token ({_error_message(response)}): "
                        "run `brapped auth` again"
                    )
                self.tokens.refresh(token)
                refreshed = True
                continue
            if status == 429:
                wait = _retry_after(response)
                short_waits += 1
                if wait > self.retry_after_cap or short_waits > self.max_retries:
                    raise RateLimited(wait, self.clock.now() + timedelta(seconds=wait))
                log.info("rate limited on %s: waiting %s s", httpx.URL(url).path, wait)
                self.clock.sleep(wait)
                self.waited += wait
                continue
            if status >= 500:
                failures += 1
                if failures > self.max_retries:
                    raise SpotifyError(status, _error_message(response))
                self._backoff(failures, f"HTTP {status} on {httpx.URL(url).path}")
                continue
            message = _error_message(response)
            if status == 403 and "scope" in message.lower():
                raise AuthRequired(
                    f"Spotify refused: {message}; run `brapped auth` again to grant the needed access"
                )
            raise SpotifyError(status, message)

    def _backoff(self, failures: int, why: str) -> None:
        # Exponential with "full jitter" between half and the whole step: retries from many
        # clients do not arrive in lock-step.
        step = self.backoff * 2 ** (failures - 1)
        wait = step * (0.5 + self.rng.random() / 2)
        log.info("%s: retry %d in %.1f s", why, failures, wait)
        self.clock.sleep(wait)
        self.waited += wait

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


def _retry_after(response: httpx.Response) -> int:
    raw = response.headers.get("retry-after")
    try:
        return max(1, int(float(raw))) if raw is not None else 1
    except ValueError:
        return 1


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
