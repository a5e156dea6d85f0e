"""What an enrichment pass shares with resolving: its result, its call budget, and catalogue lookups
by id within that budget, batched when the app may batch (detected once, remembered in `state`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from brapped.spotify.client import BATCH_LIMITS, SpotifyClient
from brapped.spotify.errors import RateLimited, SpotifyError
from brapped.spotify.fetch import fetch_in_batches, fetch_one_by_one
from brapped.store import Store
from brapped.store.state import get_state, set_state

EnrichProgress = Callable[[str, int, int], None]
"""Called with (stage: 'tracks' | 'artists' | 'albums', items done, items in that stage)."""

BATCH_ALLOWED = "batch_allowed"  # state key: 'true' | 'false' once detected


@dataclass
class EnrichResult:
    """What one enrichment pass did, and what is left."""

    run_id: int | None = None
    api_calls: int = 0
    artists_enriched: int = 0
    albums_enriched: int = 0
    tracks_resolved: int = 0
    tracks_merged: int = 0  # name-only tracks found by search and merged into the real track
    tracks_unmatched: int = 0
    plays_moved: int = 0
    plays_dropped: int = 0  # name-only duplicates of a play already stored under the real id
    batch_allowed: bool | None = None
    stopped: str | None = None  # None (all done) | 'budget' | 'rate_limited'
    rate_limited: RateLimited | None = None
    backlog: dict[str, int] = field(default_factory=dict)
    resolved_total: int = 0
    tracks_total: int = 0

    def counts(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_calls,
            "artists_enriched": self.artists_enriched,
            "albums_enriched": self.albums_enriched,
            "tracks_resolved": self.tracks_resolved,
            "tracks_merged": self.tracks_merged,
            "tracks_unmatched": self.tracks_unmatched,
            "plays_moved": self.plays_moved,
            "plays_dropped": self.plays_dropped,
            "stopped": self.stopped,
        }


class CallBudget:
    """The API calls a pass may still make (None: no limit), counted on the client."""

    def __init__(self, client: SpotifyClient, max_calls: int | None) -> None:
        self.client = client
        self.start = client.calls
        self.max_calls = max_calls

    @property
    def used(self) -> int:
        return self.client.calls - self.start

    def left(self) -> int | None:
        return None if self.max_calls is None else max(0, self.max_calls - self.used)

    def exhausted(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


def lookups(
    store: Store,
    client: SpotifyClient,
    kind: str,
    ids: Sequence[str],
    budget: CallBudget,
    result: EnrichResult,
) -> Iterator[list[tuple[str, dict[str, Any] | None]]]:
    """Chunks of (id, object) within the budget, batch lookups when the app may use them.

    Batch permission is detected once (a 403 on the batch endpoint) and remembered in `state`.
    A long 429 ends the generator with `result.stopped = 'rate_limited'`.
    """
    with store.connect() as conn:
        remembered = get_state(conn, BATCH_ALLOWED)
    allowed: bool | None = None if remembered is None else remembered == "true"
    size = BATCH_LIMITS[kind]
    position = 0
    while position < len(ids):
        left = budget.left()
        if left is not None and left <= 0:
            result.stopped = "budget"
            return
        got: list[tuple[str, dict[str, Any] | None]] = []
        try:
            if allowed is not False:
                chunk = list(ids[position : position + size])
                try:
                    got = list(fetch_in_batches(client, kind, chunk))
                    if allowed is None:
                        allowed = True
                        _remember_batch(store, client, True)
                except SpotifyError as exc:
                    if exc.status != 403 or isinstance(exc, RateLimited):
                        raise
                    allowed = False
                    _remember_batch(store, client, False)
                    continue
            else:
                count = size if left is None else min(size, left)
                chunk = list(ids[position : position + count])
                for pair in fetch_one_by_one(client, kind, chunk):
                    got.append(pair)
        except RateLimited as exc:
            result.stopped = "rate_limited"
            result.rate_limited = exc
            if got:
                yield got
            return
        finally:
            result.batch_allowed = allowed
        position += len(got)
        yield got


def _remember_batch(store: Store, client: SpotifyClient, allowed: bool) -> None:
    with store.begin(immediate=True) as conn:
        set_state(conn, BATCH_ALLOWED, "true" if allowed else "false", client.clock.now())


__all__ = ["CallBudget", "EnrichProgress", "EnrichResult", "lookups"]
