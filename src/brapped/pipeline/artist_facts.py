"""Genres and artist facts from MusicBrainz, after Spotify's enrichment.

Artists are taken most-played first, 100 at a time: one URL lookup finds the ones whose Spotify page
MusicBrainz links; each of the others gets one name search, accepted only when confident
(`brapped.musicbrainz.mapping`); each mapped artist gets one lookup of its facts. Every artist's
outcome is committed on its own once all its requests succeeded, so a pass that stops (budget, 503s,
no answer) loses nothing and the next one continues with the artists still due. Facts are asked
again after `REFRESH_AGE`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from brapped import identity
from brapped.musicbrainz import (
    URL_BATCH,
    ArtistFacts,
    BadAnswer,
    Decision,
    MusicBrainzClient,
    MusicBrainzError,
    by_link,
    confident_match,
    spotify_url,
)
from brapped.musicbrainz.mapping import NO_MATCH, NOT_FOUND, normalise
from brapped.store import Store
from brapped.store.artist_facts import ArtistToMap, artists_to_map, coverage, write_mapped, write_unmapped
from brapped.store.locking import lock
from brapped.store.runs import record_run

log = logging.getLogger(__name__)

REFRESH_AGE = timedelta(days=180)  # facts (and "not found") are asked again after this long

Progress = Callable[[str, int, int], None]
"""Called with ('musicbrainz', artists done, artists due) after every artist."""


class BudgetSpent(Exception):
    """The pass reached its request budget (internal: ends the pass cleanly)."""


@dataclass
class FactsResult:
    """What one MusicBrainz pass did, and the coverage after it."""

    run_id: int | None = None
    due: int = 0  # artists due at the start
    done: int = 0  # artists whose outcome was stored
    mapped_by_url: int = 0
    mapped_by_search: int = 0
    unmapped: int = 0
    bad_answers: int = 0  # artists skipped for a garbage answer or a 4xx (asked again next pass)
    requests: int = 0
    stopped: str | None = None  # None (all done) | 'budget' | 'unavailable' | 'stopped'
    error: str | None = None
    coverage: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        return {
            "musicbrainz_requests": self.requests,
            "artists_due": self.due,
            "artists_done": self.done,
            "mapped_by_url": self.mapped_by_url,
            "mapped_by_search": self.mapped_by_search,
            "unmapped": self.unmapped,
            "bad_answers": self.bad_answers,
            "stopped": self.stopped,
        }

    def summary(self) -> str:
        """'1,840 of 2,350 artists mapped, 1,602 with genres'."""
        c = self.coverage
        return (
            f"{c.get('mapped', 0):,} of {c.get('artists', 0):,} artists mapped, "
            f"{c.get('with_genres', 0):,} with genres"
        )


class _Budget:
    def __init__(
        self, client: MusicBrainzClient, max_calls: int | None, stop: threading.Event | None
    ) -> None:
        self.client, self.start, self.max_calls, self.stop = client, client.calls, max_calls, stop

    def check(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise BudgetSpent("stopped")
        if self.max_calls is not None and self.client.calls - self.start >= self.max_calls:
            raise BudgetSpent("budget")


def _batches(items: Sequence[ArtistToMap], size: int) -> Iterator[Sequence[ArtistToMap]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def enrich_artist_facts(
    store: Store,
    client: MusicBrainzClient,
    *,
    max_calls: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    refresh_age: timedelta = REFRESH_AGE,
) -> FactsResult:
    """Map the artists due and store their facts (module docstring). Never raises for what
    MusicBrainz answers: a pass that cannot go on says why in `stopped` and `error`."""
    report: Progress = progress or (lambda stage, done, total: None)
    clock = client.clock
    started = clock.now()
    with store.connect() as conn:
        due = artists_to_map(conn, started - refresh_age)
    result = FactsResult(due=len(due))
    budget = _Budget(client, max_calls, stop)
    try:
        for batch in _batches(due, URL_BATCH):
            _batch(store, client, batch, budget, result)
            report("musicbrainz", result.done, result.due)
            with store.connect() as conn:
                result.coverage = coverage(conn)
            # For logs and cron mail, where no progress bar is drawn.
            log.info("MusicBrainz: %s (%d of %d due this pass)", result.summary(), result.done, result.due)
    except BudgetSpent as exc:
        result.stopped = str(exc)
    except MusicBrainzError as exc:  # 503s and no answer after the retries, or a garbage URL answer
        result.stopped, result.error = "unavailable", str(exc)
        log.warning("MusicBrainz pass stopped: %s", exc)
    result.requests = client.calls - budget.start
    with store.begin(immediate=True) as conn:
        lock(conn)
        result.coverage = coverage(conn)
        if result.requests:
            outcome = {"budget": "partial", "stopped": "partial", "unavailable": "failed"}.get(
                result.stopped or "", "ok"
            )
            result.run_id = record_run(
                conn, "musicbrainz", started, clock.now(), outcome, result.counts(), result.error
            )
    return result


def _batch(
    store: Store,
    client: MusicBrainzClient,
    batch: Sequence[ArtistToMap],
    budget: _Budget,
    result: FactsResult,
) -> None:
    real = [a.id for a in batch if not a.id.startswith(identity.PREFIX)]
    linked = {}
    if real:
        budget.check()
        linked = client.urls([spotify_url(i) for i in real])
    for artist in batch:
        decision = by_link(linked.get(spotify_url(artist.id), [])) if artist.id in real else None
        try:
            if decision is None and not normalise(artist.name):
                decision = Decision(None, NO_MATCH)  # no name to search for
            elif decision is None:  # not linked: a confident name search or nothing
                budget.check()
                decision = confident_match(artist.name, client.search_artists(artist.name))
            facts = None
            if decision.mbid is not None:
                budget.check()
                facts = client.artist(decision.mbid)
        except MusicBrainzError as exc:
            if not isinstance(exc, BadAnswer) and not 400 <= exc.status < 500:
                raise  # 503s, 5xx, no answer: the service, not this artist; the pass stops
            # Garbage, or a request MusicBrainz refuses for this artist alone (a name its search
            # cannot parse): skip it, ask again next pass, go on with the others.
            result.bad_answers += 1
            log.warning("MusicBrainz could not answer about %s: %s", artist.id, exc)
            continue
        _store(store, client, artist, decision, facts, result)


def _store(
    store: Store,
    client: MusicBrainzClient,
    artist: ArtistToMap,
    decision: Decision,
    facts: ArtistFacts | None,
    result: FactsResult,
) -> None:
    now = client.clock.now()
    with store.begin(immediate=True) as conn:
        lock(conn)
        if decision.mbid is None or facts is None:
            write_unmapped(conn, artist.id, decision.reason if decision.mbid is None else NOT_FOUND, now)
            result.unmapped += 1
        else:
            row = {
                "mbid": facts.mbid,
                "mapped_by": decision.reason,
                "name": facts.name,
                "type": facts.type,
                "country": facts.country,
                "area": facts.area,
                "begin_year": facts.begin_year,
                "end_year": facts.end_year,
                "disambiguation": facts.disambiguation,
            }
            genres = [(g.name, g.count) for g in facts.genres]
            # Tags with no net vote are hidden on MusicBrainz's own pages: not kept either.
            tags = [(t.name, t.count) for t in facts.tags if t.count > 0]
            write_mapped(conn, artist.id, row, genres, tags, now)
            if decision.reason == "url":
                result.mapped_by_url += 1
            else:
                result.mapped_by_search += 1
    result.done += 1


class BackgroundFacts:
    """`brapped run`'s MusicBrainz pass: started in a thread after each Spotify enrichment unless one
    is still going, stopped at the next request when the run ends. The pace (one request per
    second) is shared through the database with any `brapped enrich` running at the same time."""

    def __init__(self, store: Store, client: MusicBrainzClient) -> None:
        self.store = store
        self.client = client
        self.stop = threading.Event()
        self.last: FactsResult | None = None
        self._thread: threading.Thread | None = None

    def kick(self) -> str:
        """Start a pass unless one is running; 'started' or 'running'."""
        if self._thread is not None and self._thread.is_alive():
            return "running"
        self._thread = threading.Thread(target=self._run, name="brapped-musicbrainz", daemon=True)
        self._thread.start()
        return "started"

    def _run(self) -> None:
        try:
            self.last = enrich_artist_facts(self.store, self.client, stop=self.stop)
            # An event of `brapped run`'s stream (one JSON line with `event`), as its other steps log.
            log.info(
                "MusicBrainz: %s",
                self.last.summary(),
                extra={"event": "musicbrainz.done", "data": {"done": self.last.done, "due": self.last.due}},
            )
        except Exception:  # best effort, like Spotify enrichment: the next kick tries again
            log.exception("the MusicBrainz pass failed")

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.http.close()


__all__ = ["REFRESH_AGE", "BackgroundFacts", "FactsResult", "enrich_artist_facts"]
