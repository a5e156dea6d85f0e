"""The MusicBrainz ws/2 client: paced GETs with `fmt=json`, the contract's User-Agent, retries.

- Every request first waits its turn on the injected `Pace` (one per second across the program).
- 503 (MusicBrainz's "too fast" and "overloaded" answer), other 5xx, timeouts and dropped
  connections: retried `max_retries` times with a growing wait (each retry paced too); then
  `Unavailable` (503) or `MusicBrainzError`, and the caller stops the pass without writing anything.
- 404 means "no such URL / artist": the lookups return None or an empty mapping.
- A body that is not the expected JSON raises `BadAnswer`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from brapped import __version__
from brapped.clock import Clock
from brapped.musicbrainz import parse
from brapped.musicbrainz.errors import BadAnswer, MusicBrainzError, Unavailable
from brapped.musicbrainz.parse import ArtistFacts, Candidate, LinkedArtist
from brapped.musicbrainz.ratelimit import Pace

log = logging.getLogger(__name__)

DEFAULT_URL = "https://musicbrainz.org/ws/2"
PROJECT_URL = "https://github.com/brapped/brapped"
URL_BATCH = 100  # resources per URL lookup, the service's maximum
SEARCH_LIMIT = 5


def user_agent(contact: str | None) -> str:
    """`brapped/<version> ( <contact> )`, the form MusicBrainz asks for."""
    return f"brapped/{__version__} ( {(contact or PROJECT_URL).strip()} )"


class MusicBrainzClient:
    """Typed GETs against ws/2. `http` is injected: tests hand it the emulator's transport."""

    def __init__(
        self,
        http: httpx.Client,
        clock: Clock,
        pace: Pace,
        *,
        base_url: str = DEFAULT_URL,
        contact: str | None = None,
        max_retries: int = 3,
        backoff: float = 2.0,
    ) -> None:
        self.http = http
        self.clock = clock
        self.pace = pace
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent(contact)
        self.max_retries = max_retries
        self.backoff = backoff
        self.calls = 0  # requests sent, retries included

    def get(self, path: str, params: Sequence[tuple[str, str]]) -> Any | None:
        """GET `path` with `params` and fmt=json; the decoded JSON, or None for a 404."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        query: list[tuple[str, str | int | float | bool | None]] = [*params, ("fmt", "json")]
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        failures = 0
        while True:
            self.pace.wait()
            self.calls += 1
            try:
                response = self.http.get(url, params=query, headers=headers)
            except httpx.TransportError as exc:
                error: MusicBrainzError = MusicBrainzError(
                    0, f"no answer from /{path} ({type(exc).__name__})"
                )
            else:
                status = response.status_code
                if status == 404:
                    return None
                if 200 <= status < 300:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise BadAnswer(status, f"/{path} answered with something that is not JSON") from exc
                message = _error_message(response)
                if status == 503:
                    error = Unavailable(status, message)
                elif status >= 500:
                    error = MusicBrainzError(status, message)
                else:
                    raise MusicBrainzError(status, message)
            failures += 1
            if failures > self.max_retries:
                raise error
            wait = self.backoff * 2 ** (failures - 1)
            log.info("%s: retry %d in %.0f s", error, failures, wait)
            self.clock.sleep(wait)

    # -- endpoints ---------------------------------------------------------------------------------

    def urls(self, resources: Sequence[str]) -> dict[str, list[LinkedArtist]]:
        """GET /url?resource=...&inc=artist-rels for up to 100 URLs: the ones MusicBrainz knows,
        with the artists linked to them. URLs it does not know are absent (404 or skipped)."""
        if not resources:
            return {}
        if len(resources) > URL_BATCH:
            raise ValueError(f"at most {URL_BATCH} resources per URL lookup")
        params = [("resource", r) for r in resources] + [("inc", "artist-rels")]
        body = self.get("url", params)
        return {} if body is None else parse.url_lookup(body)

    def search_artists(self, name: str, limit: int = SEARCH_LIMIT) -> list[Candidate]:
        """GET /artist?query=: candidates for an artist name (phrase query, best first)."""
        phrase = name.replace("\\", "\\\\").replace('"', '\\"')
        body = self.get("artist", [("query", f'artist:"{phrase}"'), ("limit", str(limit))])
        return [] if body is None else parse.search(body)

    def artist(self, mbid: str) -> ArtistFacts | None:
        """GET /artist/<mbid>?inc=genres+tags: the artist's facts; None when the MBID is unknown."""
        body = self.get(f"artist/{mbid}", [("inc", "genres+tags")])
        return None if body is None else parse.artist(body)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.reason_phrase or "error"


__all__ = ["DEFAULT_URL", "PROJECT_URL", "URL_BATCH", "MusicBrainzClient", "user_agent"]
