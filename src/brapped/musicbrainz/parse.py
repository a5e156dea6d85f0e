"""MusicBrainz ws/2 JSON read into dataclasses: artist lookups, artist searches, URL lookups.

Fields are read by name (the service's key order varies), absent keys are None, and anything of the
wrong type raises `BadAnswer`, so a garbage body never turns into stored facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brapped.musicbrainz.errors import BadAnswer

SPOTIFY_ARTIST_URL = "https://open.spotify.com/artist/"


@dataclass(frozen=True)
class Vote:
    """A genre or tag with its net vote count (up minus down; can be 0 or negative)."""

    name: str
    count: int


@dataclass(frozen=True)
class ArtistFacts:
    """What an artist lookup (`inc=genres+tags`) says about one artist."""

    mbid: str
    name: str
    type: str | None = None
    country: str | None = None
    area: str | None = None
    begin_year: int | None = None
    end_year: int | None = None
    disambiguation: str | None = None
    genres: tuple[Vote, ...] = ()
    tags: tuple[Vote, ...] = ()
    spotify_ids: tuple[str, ...] = ()  # from url-rels, when they were asked for


@dataclass(frozen=True)
class Candidate:
    """One artist search result."""

    mbid: str
    name: str
    score: int
    type: str | None = None
    country: str | None = None
    disambiguation: str | None = None
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class LinkedArtist:
    """An artist a URL is related to (URL lookup with `inc=artist-rels`)."""

    mbid: str
    name: str


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadAnswer(200, f"{what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadAnswer(200, f"{what} is not a JSON list")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _required(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BadAnswer(200, f"{what} has no {key}")
    return value


def year(date: Any) -> int | None:
    """The year of a partial date ('1966', '1988-01', '1966-02-06'); None when there is none."""
    if not isinstance(date, str) or len(date) < 4 or not date[:4].isdigit():
        return None
    return int(date[:4])


def votes(items: Any, what: str) -> tuple[Vote, ...]:
    """Genres or tags, highest count first then by name; unnamed entries are skipped."""
    found: dict[str, int] = {}
    for item in _list(items, what):
        obj = _object(item, what)
        name = _text(obj.get("name"))
        count = obj.get("count", 0)
        if name is None:
            continue
        if isinstance(count, bool) or not isinstance(count, int):
            raise BadAnswer(200, f"{what} {name!r} has a count that is not a number")
        found[name] = max(count, found.get(name, count))
    return tuple(Vote(n, c) for n, c in sorted(found.items(), key=lambda nc: (-nc[1], nc[0])))


def spotify_id(resource: Any) -> str | None:
    """The artist id of an `https://open.spotify.com/artist/<id>` URL (else None)."""
    if not isinstance(resource, str) or not resource.startswith(SPOTIFY_ARTIST_URL):
        return None
    rest = resource[len(SPOTIFY_ARTIST_URL) :].split("?", 1)[0].strip("/")
    return rest or None


def artist(body: Any) -> ArtistFacts:
    """An artist lookup (`/ws/2/artist/<mbid>?inc=genres+tags[+url-rels]`)."""
    obj = _object(body, "the artist")
    area = obj.get("area")
    life = obj.get("life-span")
    life = life if isinstance(life, Mapping) else {}
    links: list[str] = []
    for relation in _list(obj.get("relations"), "relations"):
        url = _object(relation, "a relation").get("url")
        found = spotify_id(url.get("resource")) if isinstance(url, Mapping) else None
        if found and found not in links:
            links.append(found)
    return ArtistFacts(
        mbid=_required(obj, "id", "the artist"),
        name=_required(obj, "name", "the artist"),
        type=_text(obj.get("type")),
        country=_text(obj.get("country")),
        area=_text(area.get("name")) if isinstance(area, Mapping) else None,
        begin_year=year(life.get("begin")),
        end_year=year(life.get("end")),
        disambiguation=_text(obj.get("disambiguation")),
        genres=votes(obj.get("genres"), "genres"),
        tags=votes(obj.get("tags"), "tags"),
        spotify_ids=tuple(links),
    )


def search(body: Any) -> list[Candidate]:
    """An artist search (`/ws/2/artist?query=`), in the service's order (best score first)."""
    obj = _object(body, "the search answer")
    if "artists" not in obj:
        raise BadAnswer(200, "the search answer has no artists list")
    found = []
    for item in _list(obj.get("artists"), "artists"):
        hit = _object(item, "a search result")
        score = hit.get("score", 0)
        if isinstance(score, str) and score.isdigit():  # the XML-era form of the score
            score = int(score)
        if isinstance(score, bool) or not isinstance(score, int):
            raise BadAnswer(200, "a search result has a score that is not a number")
        aliases = tuple(
            str(a["name"])
            for a in _list(hit.get("aliases"), "aliases")
            if isinstance(a, Mapping) and _text(a.get("name"))
        )
        found.append(
            Candidate(
                mbid=_required(hit, "id", "a search result"),
                name=_required(hit, "name", "a search result"),
                score=score,
                type=_text(hit.get("type")),
                country=_text(hit.get("country")),
                disambiguation=_text(hit.get("disambiguation")),
                aliases=aliases,
            )
        )
    return found


def url_lookup(body: Any) -> dict[str, list[LinkedArtist]]:
    """A URL lookup by resource, single (`{id, resource, relations}`) or batch (`{urls: [...]}`)
    form: each resource found, with the artists related to it (none without `inc=artist-rels`)."""
    obj = _object(body, "the URL answer")
    items = _list(obj.get("urls"), "urls") if "urls" in obj else [obj]
    found: dict[str, list[LinkedArtist]] = {}
    for item in items:
        url = _object(item, "a URL")
        resource = _required(url, "resource", "a URL")
        linked = found.setdefault(resource, [])
        for relation in _list(url.get("relations"), "relations"):
            rel = _object(relation, "a relation")
            target = rel.get("artist")
            if rel.get("target-type") != "artist" or not isinstance(target, Mapping):
                continue
            mbid = _required(target, "id", "a related artist")
            if all(a.mbid != mbid for a in linked):
                linked.append(LinkedArtist(mbid, str(target.get("name") or "")))
    return found


__all__ = [
    "SPOTIFY_ARTIST_URL",
    "ArtistFacts",
    "Candidate",
    "LinkedArtist",
    "Vote",
    "artist",
    "search",
    "spotify_id",
    "url_lookup",
    "votes",
    "year",
]
