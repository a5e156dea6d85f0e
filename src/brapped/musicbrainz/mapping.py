"""Which MusicBrainz artist a Spotify artist is: the rules, without any I/O.

1. A Spotify URL relation decides: MusicBrainz editors linked `https://open.spotify.com/artist/<id>`
   to exactly one artist. A URL linked to several artists decides nothing (`ambiguous`).
2. Otherwise a name search, accepted only when it is confident and unambiguous (`confident_match`):
   the best result scores 100, its name equals the Spotify name once both are normalised
   (`normalise`), and no other result with that same normalised name, or any result within
   `CLOSE_BEHIND` points of the best, exists. Anything less leaves the artist unmapped: a wrong
   genre is worse than none. docs/musicbrainz.md says the same in words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from brapped.musicbrainz.parse import SPOTIFY_ARTIST_URL, Candidate, LinkedArtist

MIN_SCORE = 100
CLOSE_BEHIND = 10  # a runner-up scoring within this many points of the best makes the search ambiguous

# Why an artist is not mapped (stored in musicbrainz_artists.status next to 'mapped').
NO_MATCH = "no_match"  # no result with the same name and score 100
AMBIGUOUS = "ambiguous"  # several artists could be the one
NOT_FOUND = "not_found"  # the MBID a link or search gave is gone (404)


def spotify_url(spotify_id: str) -> str:
    """The resource MusicBrainz keeps for a Spotify artist page."""
    return f"{SPOTIFY_ARTIST_URL}{spotify_id}"


_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‐": "-", "–": "-", "—": "-"})


def normalise(name: str) -> str:
    """A name as compared: NFKC, case-folded, typographic quotes and dashes made plain, runs of
    white space made one space, stripped. Accents are kept: "Björk" and "Bjork" are not the same."""
    text = unicodedata.normalize("NFKC", name).translate(_QUOTES).casefold()
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Decision:
    """The outcome of a mapping rule: an MBID, or None and why."""

    mbid: str | None
    reason: str  # 'url' | 'search' when mapped, else NO_MATCH | AMBIGUOUS


def by_link(linked: Sequence[LinkedArtist]) -> Decision | None:
    """The artist a Spotify URL is linked to; None when it is linked to none."""
    distinct = {a.mbid for a in linked}
    if not distinct:
        return None
    if len(distinct) > 1:
        return Decision(None, AMBIGUOUS)
    return Decision(next(iter(distinct)), "url")


def confident_match(name: str, candidates: Sequence[Candidate]) -> Decision:
    """The search rule (module docstring, point 2)."""
    wanted = normalise(name)
    if not wanted or not candidates:
        return Decision(None, NO_MATCH)
    ranked = sorted(candidates, key=lambda c: -c.score)
    best = ranked[0]
    same_name = [c for c in ranked if normalise(c.name) == wanted]
    if best.score < MIN_SCORE or normalise(best.name) != wanted:
        # An exact name that scores below 100 (three groups named "Fred" at 98, 95, 93) is not
        # confident; neither is a 100 for another name (an alias or a partial match).
        return Decision(None, AMBIGUOUS if len(same_name) > 1 else NO_MATCH)
    if any(c.mbid != best.mbid for c in same_name):
        return Decision(None, AMBIGUOUS)
    if any(c.mbid != best.mbid and best.score - c.score < CLOSE_BEHIND for c in ranked[1:]):
        return Decision(None, AMBIGUOUS)
    return Decision(best.mbid, "search")


__all__ = [
    "AMBIGUOUS",
    "CLOSE_BEHIND",
    "MIN_SCORE",
    "NOT_FOUND",
    "NO_MATCH",
    "Decision",
    "by_link",
    "confident_match",
    "normalise",
    "spotify_url",
]
