"""MusicBrainz ws/2 as brapped uses it, consistent with the emulated Spotify catalogue.

Shapes follow the real responses in ../shared/musicbrainz/ (docs/emulator.md lists what is
emulated and what is assumed). The same seed gives the same MusicBrainz: most catalogue artists
exist, most of those link their Spotify page, some are found only by name, a few are missing, the
second artist of a shared name is never linked (its name search is ambiguous), and artists the
catalogue gives no genre have none here either (some carry plain tags instead).
"""

from __future__ import annotations

import random
import re
import threading
import unicodedata
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from brapped.emulator.catalogue import VARIOUS_ARTISTS, Catalogue
from brapped.emulator.reply import Reply

SPOTIFY_ARTIST_URL = "https://open.spotify.com/artist/"
FREE_STREAMING = "769085a1-c2f7-4c24-a532-2375a77693bd"  # the relation type of Spotify links
HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
RATE_MESSAGE = (
    "Your requests are exceeding the allowable rate limit. "
    "Please see http://wiki.musicbrainz.org/XMLWebService for more information."
)
MAX_RESOURCES = 100
ANONYMOUS_AGENTS = (
    "python-urllib",
    "python-httpx",
    "python-requests",
    "java",
    "jakarta",
    "apache-httpclient",
)
ARTIST_INCS = {"genres", "tags", "url-rels", "aliases", "ratings", "artist-rels"}
_TYPE_IDS = {
    "Person": "b6e035f4-3ce9-331c-97df-83397230b0df",
    "Group": "e431f5f6-b5d2-343d-8b36-72607fffb74b",
}
_COUNTRIES = (
    ("GB", "United Kingdom"),
    ("US", "United States"),
    ("SE", "Sweden"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("JP", "Japan"),
    ("BR", "Brazil"),
    ("NG", "Nigeria"),
    ("KR", "South Korea"),
    ("MX", "Mexico"),
    ("IE", "Ireland"),
    ("DK", "Denmark"),
)
_PLAIN_TAGS = ("seen live", "favourite", "british", "female vocalists", "under 2000 listeners")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class MBArtist:
    mbid: str
    name: str
    spotify_id: str | None  # the catalogue artist it stands for
    linked: bool  # MusicBrainz holds a Spotify URL relation for it
    url_mbid: str
    type: str
    country: str | None
    begin: str | None
    end: str | None
    disambiguation: str
    genres: tuple[tuple[str, int], ...]
    tags: tuple[tuple[str, int], ...]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def fold(name: str) -> str:
    """Names as the emulated search compares them (case and accents folded)."""
    text = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


class MusicBrainz:
    """The emulated ws/2: URL lookups, artist search and artist lookups, paced like the real one."""

    def __init__(
        self, catalogue: Catalogue, seed: int, *, rate_limit: int = 3, rate_window: float = 3.0
    ) -> None:
        self.artists: dict[str, MBArtist] = {}
        self.by_spotify: dict[str, MBArtist] = {}
        self.refused = {"rate": 0, "user_agent": 0}
        self._limit = rate_limit
        self._window_us = int(rate_window * 1_000_000)
        self._stamps: deque[int] = deque()
        self._lock = threading.Lock()
        rng = random.Random(f"brapped-musicbrainz:{seed}")
        seen_names: set[str] = set()
        for artist in catalogue.artists.values():
            if artist.name == VARIOUS_ARTISTS:
                continue
            roll = rng.random()
            shared = fold(artist.name) in seen_names
            seen_names.add(fold(artist.name))
            if roll < 0.06 and not shared:
                continue  # not in MusicBrainz at all
            kind = (
                "Group"
                if artist.name.startswith("The ") or " & " in artist.name
                else rng.choice(("Person", "Group"))
            )
            country = rng.choice(_COUNTRIES)[0] if rng.random() < 0.9 else None
            begin_year = rng.randint(1950, 2018)
            begin = (
                str(begin_year)
                if rng.random() < 0.4
                else f"{begin_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            )
            end = str(rng.randint(begin_year + 1, 2025)) if kind == "Group" and rng.random() < 0.15 else None
            genres = tuple((g, rng.randint(1, 12)) for g in artist.genres)
            tags = tuple(genres)
            if not genres and rng.random() < 0.5:
                tags = ((rng.choice(_PLAIN_TAGS), rng.randint(1, 4)),)
            entry = MBArtist(
                mbid=_uuid(rng),
                name=artist.name,
                spotify_id=artist.id,
                linked=roll >= 0.30 and not shared,
                url_mbid=_uuid(rng),
                type=kind,
                country=country,
                begin=begin,
                end=end,
                disambiguation=f"{kind.lower()} from {dict(_COUNTRIES).get(country or '', 'somewhere')}"
                if shared
                else "",
                genres=genres,
                tags=tags,
            )
            self.artists[entry.mbid] = entry
            self.by_spotify[artist.id] = entry

    # -- what tests compare against ---------------------------------------------------------------

    def linked(self) -> dict[str, MBArtist]:
        """Catalogue artist id -> its MusicBrainz artist, for artists whose Spotify page is linked."""
        return {sid: a for sid, a in self.by_spotify.items() if a.linked}

    def ambiguous_names(self) -> set[str]:
        """Folded names several emulated artists share."""
        names: dict[str, int] = {}
        for a in self.artists.values():
            names[fold(a.name)] = names.get(fold(a.name), 0) + 1
        return {n for n, count in names.items() if count > 1}

    # -- requests -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, user_agent: str | None, now: datetime) -> Reply:
        """Answer one /ws/2 request (the faults were applied by the caller)."""
        agent = (user_agent or "").strip().lower()
        if not agent or agent.startswith(ANONYMOUS_AGENTS):
            self.refused["user_agent"] += 1
            return _error(403, "Please provide a meaningful User-Agent (application/version ( contact ))")
        if not self._allow(now):
            self.refused["rate"] += 1
            return Reply(503, {"error": RATE_MESSAGE})
        if method != "GET":
            return _error(405, "Method not allowed")
        params = parse_qsl(query, keep_blank_values=True)
        if ("fmt", "json") not in params:
            return Reply(
                400,
                text='<?xml version="1.0" encoding="UTF-8"?>\n<error><text>brapped\'s emulator speaks JSON '
                "only: add fmt=json</text></error>",
                headers={"content-type": "application/xml; charset=utf-8"},
            )
        parts = path.split("/")[3:]  # after "", "ws", "2"
        if parts == ["url"]:
            return self._urls(params)
        if parts == ["artist"]:
            return self._search(params, now)
        if len(parts) == 2 and parts[0] == "artist":
            return self._artist(parts[1], params)
        return _error(404, "Not Found")

    def _allow(self, now: datetime) -> bool:
        # Integer microseconds: a client pacing exactly one request per second is never refused for
        # a rounding error.
        stamp = int(now.timestamp()) * 1_000_000 + now.microsecond
        with self._lock:
            while self._stamps and self._stamps[0] <= stamp - self._window_us:
                self._stamps.popleft()
            if len(self._stamps) >= self._limit:
                return False
            self._stamps.append(stamp)
            return True

    def _urls(self, params: list[tuple[str, str]]) -> Reply:
        resources = [v for k, v in params if k == "resource"]
        incs = _incs(params)
        if not resources:
            return _error(400, "Missing resource parameter")
        if len(resources) > MAX_RESOURCES:
            return _error(400, f"At most {MAX_RESOURCES} resource parameters are allowed")
        bad = incs - {"artist-rels"}
        if bad:
            return _error(400, f"{sorted(bad)[0]} is not a valid inc parameter for the url resource.")
        found = [self._url(r, "artist-rels" in incs) for r in resources]
        if len(resources) == 1:
            return Reply(200, found[0]) if found[0] is not None else _error(404, "Not Found")
        urls = [u for u in found if u is not None]
        return Reply(200, {"url-offset": 0, "url-count": len(urls), "urls": urls})

    def _url(self, resource: str, rels: bool) -> dict[str, object] | None:
        if not resource.startswith(SPOTIFY_ARTIST_URL):
            return None
        entry = self.by_spotify.get(resource[len(SPOTIFY_ARTIST_URL) :])
        if entry is None or not entry.linked:
            return None
        url: dict[str, object] = {"id": entry.url_mbid, "resource": resource}
        if rels:
            url["relations"] = [
                {
                    "type": "free streaming",
                    "type-id": FREE_STREAMING,
                    "target-type": "artist",
                    "direction": "backward",
                    "begin": None,
                    "end": None,
                    "ended": False,
                    "attributes": [],
                    "attribute-values": {},
                    "source-credit": "",
                    "target-credit": "",
                    "artist": _short(entry),
                }
            ]
        return url

    def _search(self, params: list[tuple[str, str]], now: datetime) -> Reply:
        values = dict(params)
        raw = values.get("query", "")
        if not raw.strip():
            return _error(400, "Missing query parameter")
        limit, offset = _bounded(values.get("limit"), 25, 1, 100), _bounded(values.get("offset"), 0, 0, 10**6)
        wanted = fold(_phrase(raw))
        words = set(wanted.split())
        hits: list[tuple[int, MBArtist]] = []
        for entry in self.artists.values():
            name = fold(entry.name)
            if name == wanted:
                hits.append((100, entry))
            elif words & set(name.split()):
                overlap = len(words & set(name.split())) / len(words | set(name.split()))
                hits.append((int(80 * overlap), entry))
        hits.sort(key=lambda h: (-h[0], h[1].name, h[1].mbid))
        page = hits[offset : offset + limit]
        created = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Reply(
            200,
            {
                "created": created,
                "count": len(hits),
                "offset": offset,
                "artists": [_hit(s, e) for s, e in page],
            },
        )

    def _artist(self, mbid: str, params: list[tuple[str, str]]) -> Reply:
        incs = _incs(params)
        bad = incs - ARTIST_INCS
        if bad:
            return _error(400, f"{sorted(bad)[0]} is not a valid inc parameter for the artist resource.")
        if not _UUID.match(mbid):
            return _error(400, "Invalid mbid.")
        entry = self.artists.get(mbid)
        if entry is None:
            return _error(404, "Not Found")
        body = _short(entry) | {
            "gender": None,
            "gender-id": None,
            "country": entry.country,
            "area": _area(entry.country, lookup=True),
            "begin-area": None,
            "end-area": None,
            "life-span": {"begin": entry.begin, "end": entry.end, "ended": entry.end is not None},
            "ipis": [],
            "isnis": [],
        }
        if "genres" in incs:
            body["genres"] = [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"genre:{g}")),
                    "name": g,
                    "count": n,
                    "disambiguation": "",
                }
                for g, n in entry.genres
            ]
        if "tags" in incs:
            body["tags"] = [{"name": t, "count": n} for t, n in entry.tags]
        if "url-rels" in incs:
            body["relations"] = (
                [
                    {
                        "type": "free streaming",
                        "type-id": FREE_STREAMING,
                        "target-type": "url",
                        "direction": "forward",
                        "url": {"id": entry.url_mbid, "resource": f"{SPOTIFY_ARTIST_URL}{entry.spotify_id}"},
                    }
                ]
                if entry.linked
                else []
            )
        return Reply(200, body)


def _short(entry: MBArtist) -> dict[str, object]:
    return {
        "id": entry.mbid,
        "name": entry.name,
        "sort-name": entry.name,
        "type": entry.type,
        "type-id": _TYPE_IDS[entry.type],
        "disambiguation": entry.disambiguation,
    }


def _area(country: str | None, *, lookup: bool) -> dict[str, object] | None:
    if country is None:
        return None
    name = dict(_COUNTRIES)[country]
    area: dict[str, object] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"area:{country}")),
        "name": name,
        "sort-name": name,
    }
    if lookup:
        area |= {"iso-3166-1-codes": [country], "disambiguation": "", "type": None, "type-id": None}
    else:
        area |= {
            "type": "Country",
            "type-id": "06dd0ae4-8c74-30bb-b43d-95dcedf961de",
            "life-span": {"ended": None},
        }
    return area


def _hit(score: int, entry: MBArtist) -> dict[str, object]:
    # Search results carry a key only when it has a value (as the real ones do).
    hit: dict[str, object] = {
        "id": entry.mbid,
        "type": entry.type,
        "type-id": _TYPE_IDS[entry.type],
        "score": score,
        "name": entry.name,
        "sort-name": entry.name,
    }
    if entry.country:
        hit["country"] = entry.country
        hit["area"] = _area(entry.country, lookup=False)
    if entry.disambiguation:
        hit["disambiguation"] = entry.disambiguation
    hit["life-span"] = {"begin": entry.begin, "ended": None} if entry.begin else {"ended": None}
    if entry.tags:
        hit["tags"] = [{"count": n, "name": t} for t, n in entry.tags]
    return hit


def _phrase(query: str) -> str:
    """The name of an `artist:"..."` (or `artist:name`, or bare) query."""
    match = re.search(r'artist:\s*"((?:[^"\\]|\\.)*)"', query)
    if match:
        return re.sub(r"\\(.)", r"\1", match.group(1))
    match = re.search(r"artist:\s*(\S+)", query)
    return match.group(1) if match else query


def _incs(params: list[tuple[str, str]]) -> set[str]:
    return {i for k, v in params if k == "inc" for i in re.split(r"[ +]", v) if i}


def _bounded(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(value))) if value is not None else default
    except ValueError:
        return default


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message, "help": HELP})


def route_key(method: str, path: str) -> str:
    """The counter key of a /ws/2 request: an MBID in the path becomes {mbid}."""
    parts = path.split("/")
    if len(parts) >= 5 and parts[3] == "artist":
        parts[4] = "{mbid}"
    return f"{method} {'/'.join(parts)}"
