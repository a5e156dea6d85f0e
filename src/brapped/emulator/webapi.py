"""The Web API under /v1: the endpoints brapped uses, with Spotify's limits and error bodies."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from brapped.emulator.accounts import AccessToken
from brapped.emulator.catalogue import Catalogue, is_base62_id
from brapped.emulator.listener import Listener, TruePlay
from brapped.emulator.objects import Renderer
from brapped.emulator.reply import Reply, api_error

RECENT_WINDOW = 50  # only the 50 most recent plays are reachable through recently-played
BATCH_LIMITS = {"tracks": 50, "artists": 50, "albums": 20}
DEV_SEARCH_LIMIT = (5, 10)  # (default, maximum) for development-mode apps since February 2026
EXT_SEARCH_LIMIT = (20, 50)


def route_key(method: str, path: str) -> str:
    """The counter key of a request: ids in the path become {id}."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] == "v1" and parts[2] in ("tracks", "artists", "albums", "playlists"):
        parts[3] = "{id}"
    return f"{method} {'/'.join(parts)}"


def format_played_at(play: TruePlay) -> str:
    """`2026-01-26T04:13:50.392Z`: always three fractional digits, UTC."""
    when = play.played_at
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def _int_param(value: str | None, default: int, low: int, high: int) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if low <= number <= high else None


class WebAPI:
    """Routes /v1 requests of an authorised caller to the catalogue and the listener."""

    def __init__(
        self, catalogue: Catalogue, listener: Listener, mode: str, listeners: list[Listener] | None = None
    ) -> None:
        self.cat = catalogue
        self.listener = listener
        # Every user of the emulator (shared with it: `add_listener` appends); a token names one.
        self.listeners = listeners if listeners is not None else [listener]
        self.mode = mode
        self._renderers: dict[tuple[str, int], Renderer] = {}
        self._track_text: dict[str, str] | None = None
        self._recent_cache: dict[int, tuple[datetime, list[TruePlay]]] = {}

    def renderer(self, api_base: str, listener: int = 0) -> Renderer:
        renderer = self._renderers.get((api_base, listener))
        if renderer is None:
            renderer = Renderer(self.cat, self.listeners[listener], self.mode, api_base)
            self._renderers[(api_base, listener)] = renderer
        return renderer

    def handle(
        self, method: str, path: str, params: dict[str, str], token: AccessToken, now: datetime, api_base: str
    ) -> Reply:
        if method != "GET":
            return api_error(405, "Method not allowed")
        parts = path.split("/")[2:]  # after "", "v1"
        r = self.renderer(api_base, token.listener)
        if parts == ["me"]:
            if not token.user:
                return api_error(401, "Valid user authentication required")
            return Reply(200, r.user(token.scope))
        if parts == ["me", "player", "recently-played"]:
            return self._recently_played(params, token, now, r)
        if parts == ["search"]:
            return self._search(params, r)
        if parts and parts[0] in BATCH_LIMITS:
            kind = parts[0]
            if len(parts) == 1:
                return self._batch(kind, params, r)
            if len(parts) == 2:
                return self._one(kind, parts[1], r)
            if len(parts) == 3 and kind == "albums" and parts[2] == "tracks":
                if parts[1] not in self.cat.albums:
                    return self._missing("albums", parts[1])
                limit = _int_param(params.get("limit"), 20, 1, 50)
                offset = _int_param(params.get("offset"), 0, 0, 10_000)
                if limit is None or offset is None:
                    return api_error(400, "Invalid limit" if limit is None else "Invalid offset")
                return Reply(200, r.album_tracks(parts[1], offset, limit))
        return api_error(404, "Service not found")

    # -- catalogue lookups --------------------------------------------------------------------

    def _lookup(self, kind: str) -> tuple[dict[str, Any], Callable[[Renderer, str], dict[str, Any]]]:
        if kind == "tracks":
            return self.cat.tracks, Renderer.track
        if kind == "artists":
            return self.cat.artists, Renderer.artist
        return self.cat.albums, Renderer.album

    def _missing(self, kind: str, item_id: str) -> Reply:
        if not is_base62_id(item_id):
            return api_error(400, "Invalid base62 id")
        return api_error(404, f"Non existing id: 'spotify:{kind[:-1]}:{item_id}'")

    def _one(self, kind: str, item_id: str, r: Renderer) -> Reply:
        table, render = self._lookup(kind)
        if item_id not in table:
            return self._missing(kind, item_id)
        return Reply(200, render(r, item_id))

    def _batch(self, kind: str, params: dict[str, str], r: Renderer) -> Reply:
        if self.mode != "extended":
            # Removed for development-mode apps (February 2026).
            return api_error(403, "Forbidden")
        raw = params.get("ids")
        if not raw:
            return api_error(400, "Missing required parameter: ids")
        ids = raw.split(",")
        if len(ids) > BATCH_LIMITS[kind]:
            return api_error(400, "Too many ids requested")
        if not all(is_base62_id(i) for i in ids):
            return api_error(400, "Invalid base62 id")
        table, render = self._lookup(kind)
        # Unknown ids come back as null, in place, as Spotify does.
        return Reply(200, {kind: [render(r, i) if i in table else None for i in ids]})

    # -- recently played ----------------------------------------------------------------------

    def recent_window(self, now: datetime, listener: int = 0) -> list[TruePlay]:
        """The reachable plays at `now`, newest first (cached while the clock stands still)."""
        cached = self._recent_cache.get(listener)
        if cached is not None and cached[0] == now:
            return cached[1]
        window = self.listeners[listener].recent(now, RECENT_WINDOW)
        self._recent_cache[listener] = (now, window)
        return window

    def _recently_played(
        self, params: dict[str, str], token: AccessToken, now: datetime, r: Renderer
    ) -> Reply:
        if not token.user:
            return api_error(401, "Valid user authentication required")
        if "user-read-recently-played" not in token.scope:
            return api_error(403, "Insufficient client scope")
        limit = _int_param(params.get("limit"), 20, 1, 50)
        if limit is None:
            return api_error(400, "Invalid limit")
        after_raw, before_raw = params.get("after"), params.get("before")
        if after_raw is not None and before_raw is not None:
            return api_error(400, "Only one of after or before can be specified")
        try:
            after = int(after_raw) if after_raw is not None else None
            before = int(before_raw) if before_raw is not None else None
        except ValueError:
            return api_error(400, "Invalid cursor")
        window = self.recent_window(now, token.listener)
        if after is not None:
            newer = [p for p in window if p.played_at_ms > after]
            items = newer[-limit:]  # the plays closest after the cursor, still newest first
            cursor_query = f"after={after}&"
        elif before is not None:
            items = [p for p in window if p.played_at_ms < before][:limit]
            cursor_query = f"before={before}&"
        else:
            items = window[:limit]
            cursor_query = ""
        base = f"{r.api}/me/player/recently-played"
        body: dict[str, Any] = {"items": [self._play_item(p, r) for p in items]}
        if items:
            cursors = {"after": str(items[0].played_at_ms), "before": str(items[-1].played_at_ms)}
            if after is not None:
                body["next"] = f"{base}?after={cursors['after']}&limit={limit}"
            else:
                body["next"] = f"{base}?before={cursors['before']}&limit={limit}"
            body["cursors"] = cursors
        else:
            body["next"] = None
            body["cursors"] = None
        body["limit"] = limit
        body["href"] = f"{base}?{cursor_query}limit={limit}"
        return Reply(200, body)

    def _play_item(self, play: TruePlay, r: Renderer) -> dict[str, Any]:
        context = None
        if play.context is not None:
            kind, item_id = play.context.type, play.context.uri.rpartition(":")[2]
            context = {
                "type": kind,
                "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{item_id}"},
                "href": f"{r.api}/{kind}s/{item_id}",
                "uri": play.context.uri,
            }
        return {"track": r.track(play.id), "played_at": format_played_at(play), "context": context}

    # -- search -------------------------------------------------------------------------------

    def _search(self, params: dict[str, str], r: Renderer) -> Reply:
        q = params.get("q", "").strip()
        if not q:
            return api_error(400, "No search query")
        types = [t for t in params.get("type", "").split(",") if t]
        if not types:
            return api_error(400, "Missing parameter type")
        for t in types:
            if t not in ("album", "artist", "playlist", "track", "show", "episode", "audiobook"):
                return api_error(400, f"Bad search type field {t}")
        default, maximum = DEV_SEARCH_LIMIT if self.mode != "extended" else EXT_SEARCH_LIMIT
        limit = _int_param(params.get("limit"), default, 1, maximum)
        if limit is None:
            return api_error(400, "Invalid limit")
        offset = _int_param(params.get("offset"), 0, 0, 1000)
        if offset is None:
            return api_error(400, "Invalid offset")
        filters, words = _parse_query(q)
        body: dict[str, Any] = {}
        for t in types:
            if t == "track":
                ids = self._match_tracks(filters, words)
                render: Callable[[str], dict[str, Any]] = r.track
            elif t == "artist":
                ids = self._match_artists(filters, words)
                render = r.artist
            elif t == "album":
                ids = self._match_albums(filters, words)
                render = r.simple_album
            else:
                ids, render = [], r.track  # no playlists, shows, episodes or audiobooks to find here
            href = f"{r.api}/search?offset={offset}&limit={limit}&query={quote(q)}&type={t}"
            nxt = f"{r.api}/search?offset={offset + limit}&limit={limit}&query={quote(q)}&type={t}"
            prev = f"{r.api}/search?offset={max(0, offset - limit)}&limit={limit}&query={quote(q)}&type={t}"
            body[f"{t}s"] = {
                "href": href,
                "items": [render(i) for i in ids[offset : offset + limit]],
                "limit": limit,
                "next": nxt if offset + limit < len(ids) else None,
                "offset": offset,
                "previous": prev if offset > 0 else None,
                "total": len(ids),
            }
        return Reply(200, body)

    def _track_texts(self) -> dict[str, str]:
        if self._track_text is None:
            cat = self.cat
            self._track_text = {
                tid: _fold(
                    " ".join(
                        [t.name, cat.albums[t.album_id].name, *(cat.artists[a].name for a in t.artist_ids)]
                    )
                )
                for tid, t in cat.tracks.items()
            }
        return self._track_text

    def _match_tracks(self, filters: dict[str, str], words: list[str]) -> list[str]:
        cat = self.cat
        out = []
        for tid, text in self._track_texts().items():
            if not all(w in text for w in words):
                continue
            track = cat.tracks[tid]
            album = cat.albums[track.album_id]
            if "track" in filters and filters["track"] not in _fold(track.name):
                continue
            if "artist" in filters and not any(
                filters["artist"] in _fold(cat.artists[a].name) for a in track.artist_ids
            ):
                continue
            if "album" in filters and filters["album"] not in _fold(album.name):
                continue
            if "isrc" in filters and filters["isrc"] != track.isrc.casefold():
                continue
            if "year" in filters and not _year_matches(filters["year"], album.year):
                continue
            out.append(tid)
        out.sort(key=lambda i: (-cat.tracks[i].popularity, i))
        return out

    def _match_artists(self, filters: dict[str, str], words: list[str]) -> list[str]:
        out = []
        for aid, artist in self.cat.artists.items():
            name = _fold(artist.name)
            if not all(w in name for w in words):
                continue
            if "artist" in filters and filters["artist"] not in name:
                continue
            if "genre" in filters and not any(filters["genre"] in g for g in artist.genres):
                continue
            out.append(aid)
        out.sort(key=lambda i: (-self.cat.artists[i].popularity, i))
        return out

    def _match_albums(self, filters: dict[str, str], words: list[str]) -> list[str]:
        cat = self.cat
        out = []
        for alid, album in cat.albums.items():
            text = _fold(" ".join([album.name, *(cat.artists[a].name for a in album.artist_ids)]))
            if not all(w in text for w in words):
                continue
            if "album" in filters and filters["album"] not in _fold(album.name):
                continue
            if "artist" in filters and not any(
                filters["artist"] in _fold(cat.artists[a].name) for a in album.artist_ids
            ):
                continue
            if "year" in filters and not _year_matches(filters["year"], album.year):
                continue
            out.append(alid)
        out.sort(key=lambda i: (-cat.albums[i].popularity, i))
        return out


def _parse_query(q: str) -> tuple[dict[str, str], list[str]]:
    """Split `remaster track:"Doxy" artist:Miles` into field filters and free words (folded)."""
    filters: dict[str, str] = {}
    words: list[str] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not q[j].isspace() and q[j] != ":" and q[j] != '"':
            j += 1
        field = None
        if j < n and q[j] == ":":
            field = q[i:j].casefold()
            i = j + 1
        if i < n and q[i] == '"':
            end = q.find('"', i + 1)
            end = n if end == -1 else end
            value, i = q[i + 1 : end], end + 1
        else:
            j = i
            while j < n and not q[j].isspace():
                j += 1
            value, i = q[i:j], j
        if field in ("track", "artist", "album", "year", "genre", "isrc"):
            filters[field] = _fold(value)
        elif field is None:
            words.extend(_fold(value).split())
        else:
            words.extend(_fold(f"{field}:{value}").split())
    return filters, words


def _year_matches(spec: str, year: int) -> bool:
    low, _, high = spec.partition("-")
    try:
        return int(low) <= year <= int(high or low)
    except ValueError:
        return False
