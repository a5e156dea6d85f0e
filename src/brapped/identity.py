"""Stable identities for things an export names but does not identify.

Extended streaming history gives a track's Spotify URI but only the album artist's and album's names;
account data gives only names. brapped still needs rows for them, so they get synthetic ids derived
from normalised names: `name:` + 20 hex digits. The same name always gives the same id, across files
and runs, so re-imports stay idempotent. Enrichment later replaces a synthetic id with the real one
(and moves every reference), see `brapped enrich --resolve`.
"""

from __future__ import annotations

import hashlib
import unicodedata

PREFIX = "name:"
_SEP = "\x1f"


def normalise(name: str) -> str:
    """Case-, width- and whitespace-insensitive form of a name (accents kept: they distinguish)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _digest(*parts: str) -> str:
    key = _SEP.join(normalise(p) for p in parts)
    return PREFIX + hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:20]


def artist_id(artist_name: str) -> str:
    """Synthetic id of an artist known only by name."""
    return _digest("artist", artist_name)


def album_id(artist_name: str, album_name: str) -> str:
    """Synthetic id of an album known only by its artist's and its own name."""
    return _digest("album", artist_name, album_name)


def track_id(artist_name: str, track_name: str) -> str:
    """Synthetic id of a track known only by its artist's and its own name (account data)."""
    return _digest("track", artist_name, track_name)


def episode_id(show_name: str, episode_name: str) -> str:
    """Synthetic id of a podcast episode known only by names (account data)."""
    return _digest("episode", show_name, episode_name)


def is_synthetic(identifier: str) -> bool:
    return identifier.startswith(PREFIX)


def spotify_id(uri: str | None, kind: str) -> str | None:
    """The id in `spotify:<kind>:<id>`, or None when the URI is absent or of another kind."""
    if not uri:
        return None
    parts = uri.split(":")
    if len(parts) == 3 and parts[0] == "spotify" and parts[1] == kind and parts[2]:
        return parts[2]
    return None
