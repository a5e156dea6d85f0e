"""Talking to MusicBrainz (ws/2): genres, type, origin and life span of the artists brapped knows.

`connect()` builds a paced client from settings; pass `transport` to run against the emulator.
The mapping rules (Spotify artist -> MusicBrainz artist) are in `brapped.musicbrainz.mapping`;
docs/musicbrainz.md explains them and the contract the client follows.
"""

from __future__ import annotations

import httpx

from brapped.clock import Clock
from brapped.config import Settings
from brapped.musicbrainz.client import DEFAULT_URL, PROJECT_URL, URL_BATCH, MusicBrainzClient, user_agent
from brapped.musicbrainz.errors import BadAnswer, MusicBrainzError, Unavailable
from brapped.musicbrainz.mapping import Decision, by_link, confident_match, normalise, spotify_url
from brapped.musicbrainz.parse import ArtistFacts, Candidate, LinkedArtist, Vote
from brapped.musicbrainz.ratelimit import DatabasePace, LocalPace, Pace
from brapped.store import Store

__all__ = [
    "DEFAULT_URL",
    "PROJECT_URL",
    "URL_BATCH",
    "ArtistFacts",
    "BadAnswer",
    "Candidate",
    "DatabasePace",
    "Decision",
    "LinkedArtist",
    "LocalPace",
    "MusicBrainzClient",
    "MusicBrainzError",
    "Pace",
    "Unavailable",
    "Vote",
    "by_link",
    "confident_match",
    "connect",
    "normalise",
    "spotify_url",
    "user_agent",
]

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def connect(
    settings: Settings, clock: Clock, store: Store, *, transport: httpx.BaseTransport | None = None
) -> MusicBrainzClient:
    """A client paced through `store` (shared by every brapped process on that database), with the
    URL and contact from settings. Close `client.http` after use."""
    http = httpx.Client(transport=transport, timeout=TIMEOUT, trust_env=transport is None)
    return MusicBrainzClient(
        http,
        clock,
        DatabasePace(store, clock),
        base_url=str(settings.musicbrainz_url or DEFAULT_URL),
        contact=str(settings.musicbrainz_contact or PROJECT_URL),
    )
