"""The playlist writes of the Web API: `POST /me/playlists` (create) and `POST /playlists/{id}/items`
(add), as the OpenAPI spec describes them, with the scopes Spotify checks.

A private playlist needs `playlist-modify-private`, a public one `playlist-modify-public`, both to
create and to add items. Created playlists live in memory, in the order of their items, for tests
to read back (`Playlists.made`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from brapped.emulator.catalogue import Catalogue, is_base62_id
from brapped.emulator.listener import Listener
from brapped.emulator.objects import OPEN
from brapped.emulator.reply import Reply, api_error

MAX_ITEMS_PER_REQUEST = 100  # "A maximum of 100 items can be added in one request."


@dataclass
class Playlist:
    """One playlist made through the API."""

    id: str
    name: str
    description: str | None
    public: bool
    collaborative: bool
    owner: str
    items: list[str] = field(default_factory=list)  # URIs, in playlist order
    snapshots: int = 1

    @property
    def snapshot_id(self) -> str:
        return f"{self.id}-{self.snapshots}"


def _needed_scope(public: bool) -> str:
    return "playlist-modify-public" if public else "playlist-modify-private"


class Playlists:
    """Playlists created on the emulator, and the two POST endpoints that make and fill them."""

    def __init__(self, catalogue: Catalogue, listener: Listener, mode: str) -> None:
        self.cat = catalogue
        self.listener = listener
        self.extended = mode == "extended"
        self.made: dict[str, Playlist] = {}

    def handle(
        self, path: str, params: dict[str, str], body: bytes, scope: frozenset[str], user: bool, api: str
    ) -> Reply:
        """Answer a POST under /v1 (`api`: the /v1 base URL the caller used)."""
        parts = path.split("/")[2:]  # after "", "v1"
        if not user:
            return api_error(401, "Valid user authentication required")
        if parts == ["me", "playlists"]:
            return self._create(body, scope, api)
        if len(parts) == 3 and parts[0] == "playlists" and parts[2] == "items":
            return self._add(parts[1], params, body, scope)
        return api_error(405, "Method not allowed")

    def _create(self, body: bytes, scope: frozenset[str], api: str) -> Reply:
        data = _json_body(body)
        if not isinstance(data, dict):
            return api_error(400, "Error parsing JSON.")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            return api_error(400, "Missing required field: name")
        public = data.get("public", True)  # "Defaults to true."
        collaborative = data.get("collaborative", False)
        description = data.get("description")
        if not isinstance(public, bool) or not isinstance(collaborative, bool):
            return api_error(400, "Invalid request")
        if description is not None and not isinstance(description, str):
            return api_error(400, "Invalid request")
        if collaborative and public:
            return api_error(400, "Collaborative playlists can only be private.")
        if _needed_scope(public) not in scope:
            return api_error(403, "Insufficient client scope")
        if collaborative and "playlist-modify-public" not in scope:
            return api_error(403, "Insufficient client scope")
        number = len(self.made) + 1
        digest = hashlib.sha256(f"{self.listener.user_id}:{number}".encode()).digest()
        playlist_id = _base62(digest)
        playlist = Playlist(playlist_id, name, description, public, collaborative, self.listener.user_id)
        self.made[playlist_id] = playlist
        return Reply(201, self.render(playlist, api))

    def _add(self, playlist_id: str, params: dict[str, str], body: bytes, scope: frozenset[str]) -> Reply:
        playlist = self.made.get(playlist_id)
        if playlist is None:
            if not is_base62_id(playlist_id):
                return api_error(400, "Invalid base62 id")
            return api_error(404, "Not found.")
        if playlist.owner != self.listener.user_id and not playlist.collaborative:
            return api_error(403, "You cannot add items to a playlist you don't own.")
        if _needed_scope(playlist.public) not in scope:
            return api_error(403, "Insufficient client scope")
        data: Any = _json_body(body) if body else {}
        if not isinstance(data, dict):
            return api_error(400, "Error parsing JSON.")
        # "if the uris parameter is present in the query string, any URIs listed here in the body
        # will be ignored."
        if "uris" in params:
            uris: Any = [u.strip() for u in params["uris"].split(",") if u.strip()]
        else:
            uris = data.get("uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            return api_error(400, "No uris provided.")
        if len(uris) > MAX_ITEMS_PER_REQUEST:
            return api_error(400, "You can add a maximum of 100 tracks per request.")
        for uri in uris:
            kind, _, item_id = uri.removeprefix("spotify:").partition(":")
            if (
                not uri.startswith("spotify:")
                or kind not in ("track", "episode")
                or not is_base62_id(item_id)
            ):
                return api_error(400, f"Invalid track uri: {uri}")
            if kind == "track" and item_id not in self.cat.tracks:
                return api_error(400, "Payload contains a non-existing ID")
        raw_position = params.get("position", data.get("position"))
        if raw_position is None:
            position = len(playlist.items)
        else:
            try:
                position = int(raw_position)
            except (TypeError, ValueError):
                return api_error(400, "Invalid position")
            if not 0 <= position <= len(playlist.items):
                return api_error(400, "Index out of bounds")
        playlist.items[position:position] = uris
        playlist.snapshots += 1
        return Reply(201, {"snapshot_id": playlist.snapshot_id})

    def render(self, playlist: Playlist, api: str) -> dict[str, Any]:
        """The PlaylistObject, key for key; `tracks` (deprecated) only in extended mode."""
        who = self.listener
        items = {
            "href": f"{api}/playlists/{playlist.id}/items",
            "items": [],
            "limit": 100,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": len(playlist.items),
        }
        out: dict[str, Any] = {
            "collaborative": playlist.collaborative,
            "description": playlist.description,
            "external_urls": {"spotify": f"{OPEN}/playlist/{playlist.id}"},
            "followers": {"href": None, "total": 0},
            "href": f"{api}/playlists/{playlist.id}",
            "id": playlist.id,
            "images": [],
            "items": items,
            "name": playlist.name,
            "owner": {
                "display_name": who.display_name,
                "external_urls": {"spotify": f"{OPEN}/user/{who.user_id}"},
                "href": f"{api}/users/{who.user_id}",
                "id": who.user_id,
                "type": "user",
                "uri": f"spotify:user:{who.user_id}",
            },
            "public": playlist.public,
            "snapshot_id": playlist.snapshot_id,
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
        }
        if self.extended:
            out["tracks"] = dict(items)
        return out


def _json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(digest: bytes) -> str:
    """22 base62 characters, the shape of every Spotify id."""
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(chars)
