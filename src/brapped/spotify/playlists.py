"""What brapped writes to the Web API: a private playlist and its items (HTTP only, no database).

Reads are in `brapped.spotify.fetch`; these are the only writes, and the only calls that need a
grant beyond reading plays (`PLAYLIST_SCOPE`, asked for by `brapped auth --scope playlist`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from brapped.spotify.auth import PLAYLIST_SCOPE, TokenManager
from brapped.spotify.client import SpotifyClient, chunks
from brapped.spotify.errors import AuthRequired, SpotifyError

ITEMS_PER_REQUEST = 100  # Add Items to Playlist takes at most 100 URIs per request
GRANT_HINT = "run `brapped auth --scope playlist` to allow brapped to create private playlists"


@dataclass(frozen=True)
class SavedPlaylist:
    """A playlist brapped made: its id, link and how many items went in (in how many requests)."""

    id: str
    url: str
    uri: str
    items: int
    requests: int


def require_playlist_scope(client: SpotifyClient) -> None:
    """Fail before writing anything when the saved authorisation lacks the playlist grant.

    The grant is known from the token answer (`scope`); an access token is fetched first, since a
    token seeded from SPOTIFY_REFRESH_TOKEN says its scope only once refreshed. An unknown scope
    is let through: Spotify's own 403 then says the same (see `save_playlist`).
    """
    tokens = client.tokens
    if not isinstance(tokens, TokenManager):
        return
    tokens.access_token()
    granted = tokens.tokens.scope.split()
    if granted and PLAYLIST_SCOPE not in granted:
        raise AuthRequired(f"creating a playlist needs the {PLAYLIST_SCOPE} grant: {GRANT_HINT}")


def save_playlist(client: SpotifyClient, name: str, description: str, uris: Sequence[str]) -> SavedPlaylist:
    """Create a private playlist for the authorised user (POST /me/playlists), then add `uris` in
    order, at most 100 per request (POST /playlists/{id}/items)."""
    require_playlist_scope(client)
    try:
        made = client.post("me/playlists", {"name": name, "description": description, "public": False})
        playlist_id = str(made["id"])
        requests = 1
        for batch in chunks(uris, ITEMS_PER_REQUEST):
            client.post(f"playlists/{playlist_id}/items", {"uris": batch})
            requests += 1
    except AuthRequired as exc:  # a 403 naming the scope: the grant was never given or was taken back
        raise AuthRequired(f"Spotify refused to create the playlist: {GRANT_HINT}") from exc
    except KeyError as exc:
        raise SpotifyError(201, "Create Playlist answered without an id") from exc
    urls = made.get("external_urls") or {}
    return SavedPlaylist(
        id=playlist_id,
        url=str(urls.get("spotify") or f"https://open.spotify.com/playlist/{playlist_id}"),
        uri=str(made.get("uri") or f"spotify:playlist:{playlist_id}"),
        items=len(uris),
        requests=requests,
    )
