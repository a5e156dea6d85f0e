"""fetch_* generators: what brapped reads from the Web API (HTTP only, no database)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from brapped.spotify.client import BATCH_LIMITS, RECENTLY_PLAYED_LIMIT, SpotifyClient, chunks
from brapped.spotify.errors import SpotifyError

MAX_PAGES = 200  # a runaway `next` chain would otherwise never end


def fetch_recently_played(client: SpotifyClient, after_ms: int | None) -> Iterator[dict[str, Any]]:
    """Pages of plays that ended after `after_ms`, following `next` while pages come back full.

    A page with fewer items than asked for is the last: asking again would only cost a call.
    """
    page = client.recently_played(after_ms, RECENTLY_PLAYED_LIMIT)
    seen_next: set[str] = set()
    for _ in range(MAX_PAGES):
        yield page
        items = page.get("items") or []
        next_url = page.get("next")
        if len(items) < RECENTLY_PLAYED_LIMIT or not isinstance(next_url, str) or next_url in seen_next:
            return
        seen_next.add(next_url)
        page = client.get(next_url)


def fetch_one_by_one(
    client: SpotifyClient, kind: str, ids: Sequence[str]
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(id, object) per id with single lookups; None for an id Spotify does not know (404/400)."""
    for spotify_id in ids:
        try:
            yield spotify_id, client.one(kind, spotify_id)
        except SpotifyError as exc:
            if exc.status in (400, 404):
                yield spotify_id, None
            else:
                raise


def fetch_in_batches(
    client: SpotifyClient, kind: str, ids: Sequence[str]
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(id, object) per id with batch lookups (GET /{kind}?ids=); None for unknown ids."""
    for batch in chunks(ids, BATCH_LIMITS[kind]):
        found = client.several(kind, batch)
        by_id = {str(obj["id"]): obj for obj in found if obj and obj.get("id")}
        for spotify_id in batch:
            yield spotify_id, by_id.get(spotify_id)


def fetch_track_search(client: SpotifyClient, track_name: str, artist_name: str) -> list[dict[str, Any]]:
    """Candidate tracks for a name-only play (field filters keep the answer small)."""
    query = f'track:"{_quote(track_name)}" artist:"{_quote(artist_name)}"'
    return client.search_tracks(query, limit=5)


def _quote(text: str) -> str:
    return text.replace('"', " ").strip()
