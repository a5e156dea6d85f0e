"""Web API objects (track, album, artist, user) rendered key-for-key like Spotify's payloads.

In `development` mode every field the OpenAPI spec flags `deprecated` on these objects is left out
(the fields Spotify removed for development-mode apps); `extended` mode serves them.
"""

from __future__ import annotations

from typing import Any

from brapped.emulator.catalogue import Album, Artist, Catalogue, Track
from brapped.emulator.listener import Listener

_MARKETS_TEXT = (
    "AR AU AT BE BO BR BG CA CL CO CR CY CZ DK DO DE EC EE SV FI FR GR GT HN HK HU IS IE IT LV LT LU MY "
    "MT MX NL NZ NI NO PA PY PE PH PL PT SG SK ES SE CH TW TR UY US GB AD LI MC ID JP TH VN RO IL ZA SA "
    "AE BH QA OM KW EG MA DZ TN LB JO PS IN BY KZ MD UA AL BA HR ME MK RS SI KR BD PK LK GH KE NG TZ UG "
    "AG AM BS BB BZ BT BW BF CV CW DM FJ GM GE GD GW GY HT JM KI LS LR MW MV ML MH FM NA NR NE PW PG PR "
    "WS SM ST SN SC SL SB KN LC VC SR TL TO TT TV VU AZ BN BI KH CM TD KM GQ SZ GA GN KG LA MO MR MN NP "
    "RW TG UZ ZW BJ MG MU MZ AO CI DJ ZM CD CG IQ LY TJ VE ET XK"
)
MARKETS: tuple[str, ...] = tuple(_MARKETS_TEXT.split())
OPEN = "https://open.spotify.com"
IMAGES = "https://i.scdn.co/image/"


class Renderer:
    """Builds payload dicts for one mode and one API base URL, caching what it built."""

    def __init__(self, catalogue: Catalogue, listener: Listener, mode: str, api_base: str) -> None:
        self.cat = catalogue
        self.listener = listener
        self.extended = mode == "extended"
        self.api = api_base
        self._tracks: dict[str, dict[str, Any]] = {}
        self._simple_albums: dict[str, dict[str, Any]] = {}
        self._simple_artists: dict[str, dict[str, Any]] = {}

    def simple_artist(self, artist_id: str) -> dict[str, Any]:
        cached = self._simple_artists.get(artist_id)
        if cached is None:
            artist = self.cat.artists[artist_id]
            cached = {
                "external_urls": {"spotify": f"{OPEN}/artist/{artist.id}"},
                "href": f"{self.api}/artists/{artist.id}",
                "id": artist.id,
                "name": artist.name,
                "type": "artist",
                "uri": f"spotify:artist:{artist.id}",
            }
            self._simple_artists[artist_id] = cached
        return cached

    def artist(self, artist_id: str) -> dict[str, Any]:
        artist: Artist = self.cat.artists[artist_id]
        out: dict[str, Any] = {"external_urls": {"spotify": f"{OPEN}/artist/{artist.id}"}}
        if self.extended:
            out["followers"] = {"href": None, "total": artist.followers}
            out["genres"] = list(artist.genres)
        out["href"] = f"{self.api}/artists/{artist.id}"
        out["id"] = artist.id
        out["images"] = (
            [
                {"height": size, "url": f"{IMAGES}{prefix}{artist.image_key}", "width": size}
                for size, prefix in (
                    (640, "ab6761610000e5eb"),
                    (320, "ab67616100005174"),
                    (160, "ab6761610000f178"),
                )
            ]
            if artist.image_key
            else []
        )
        out["name"] = artist.name
        if self.extended:
            out["popularity"] = artist.popularity
        out["type"] = "artist"
        out["uri"] = f"spotify:artist:{artist.id}"
        return out

    def _album_base(self, album: Album) -> dict[str, Any]:
        out: dict[str, Any] = {
            "album_type": album.album_type,
            "artists": [self.simple_artist(a) for a in album.artist_ids],
        }
        if self.extended:
            out["available_markets"] = list(MARKETS)
        out["external_urls"] = {"spotify": f"{OPEN}/album/{album.id}"}
        out["href"] = f"{self.api}/albums/{album.id}"
        out["id"] = album.id
        out["images"] = [
            {"height": size, "url": f"{IMAGES}{prefix}{album.image_key}", "width": size}
            for size, prefix in (
                (640, "ab67616d0000b273"),
                (300, "ab67616d00001e02"),
                (64, "ab67616d00004851"),
            )
        ]
        out["name"] = album.name
        out["release_date"] = album.release_date
        out["release_date_precision"] = album.release_date_precision
        out["total_tracks"] = len(album.track_ids)
        out["type"] = "album"
        out["uri"] = f"spotify:album:{album.id}"
        return out

    def simple_album(self, album_id: str) -> dict[str, Any]:
        cached = self._simple_albums.get(album_id)
        if cached is None:
            cached = self._album_base(self.cat.albums[album_id])
            self._simple_albums[album_id] = cached
        return cached

    def album(self, album_id: str) -> dict[str, Any]:
        album = self.cat.albums[album_id]
        base = self._album_base(album)
        year = album.release_date[:4]
        out: dict[str, Any] = {}
        for key in ("album_type", "artists", "available_markets"):
            if key in base:
                out[key] = base[key]
        out["copyrights"] = [
            {"text": f"© {year} {album.label}", "type": "C"},
            {"text": f"℗ {year} {album.label}", "type": "P"},
        ]
        out["external_ids"] = {"upc": album.upc}
        out["external_urls"] = base["external_urls"]
        if self.extended:
            out["genres"] = []
        out["href"] = base["href"]
        out["id"] = album.id
        out["images"] = base["images"]
        if self.extended:
            out["label"] = album.label
        out["name"] = album.name
        if self.extended:
            out["popularity"] = album.popularity
        out["release_date"] = album.release_date
        out["release_date_precision"] = album.release_date_precision
        out["total_tracks"] = len(album.track_ids)
        out["tracks"] = self.album_tracks(album_id, 0, 50)
        out["type"] = "album"
        out["uri"] = base["uri"]
        return out

    def album_tracks(self, album_id: str, offset: int, limit: int) -> dict[str, Any]:
        """The paging object of an album's tracks (also served at /albums/{id}/tracks)."""
        ids = self.cat.albums[album_id].track_ids
        href = f"{self.api}/albums/{album_id}/tracks"
        nxt = f"{href}?offset={offset + limit}&limit={limit}" if offset + limit < len(ids) else None
        prev = f"{href}?offset={max(0, offset - limit)}&limit={limit}" if offset > 0 else None
        return {
            "href": f"{href}?offset={offset}&limit={limit}",
            "items": [self.simple_track(t) for t in ids[offset : offset + limit]],
            "limit": limit,
            "next": nxt,
            "offset": offset,
            "previous": prev,
            "total": len(ids),
        }

    def _track_fields(self, track: Track, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if full:
            out["album"] = self.simple_album(track.album_id)
        out["artists"] = [self.simple_artist(a) for a in track.artist_ids]
        if self.extended:
            out["available_markets"] = list(MARKETS)
        out["disc_number"] = track.disc_number
        out["duration_ms"] = track.duration_ms
        out["explicit"] = track.explicit
        if full:
            out["external_ids"] = {"isrc": track.isrc}
        out["external_urls"] = {"spotify": f"{OPEN}/track/{track.id}"}
        out["href"] = f"{self.api}/tracks/{track.id}"
        out["id"] = track.id
        out["is_local"] = False
        out["name"] = track.name
        if self.extended:
            if full:
                out["popularity"] = track.popularity
            out["preview_url"] = (
                f"https://p.scdn.co/mp3-preview/{track.id.lower()}{track.isrc.lower()}"
                if track.has_preview
                else None
            )
        out["track_number"] = track.track_number
        out["type"] = "track"
        out["uri"] = f"spotify:track:{track.id}"
        return out

    def track(self, track_id: str) -> dict[str, Any]:
        cached = self._tracks.get(track_id)
        if cached is None:
            cached = self._track_fields(self.cat.tracks[track_id], full=True)
            self._tracks[track_id] = cached
        return cached

    def simple_track(self, track_id: str) -> dict[str, Any]:
        return self._track_fields(self.cat.tracks[track_id], full=False)

    def user(self, scopes: frozenset[str]) -> dict[str, Any]:
        who = self.listener
        out: dict[str, Any] = {"account_id": who.account_id}
        if self.extended and "user-read-private" in scopes:
            out["country"] = who.country
        out["display_name"] = who.display_name
        if self.extended and "user-read-email" in scopes:
            out["email"] = f"{who.user_id}@example.com"
        if self.extended and "user-read-private" in scopes:
            out["explicit_content"] = {"filter_enabled": False, "filter_locked": False}
        out["external_urls"] = {"spotify": f"{OPEN}/user/{who.user_id}"}
        if self.extended:
            out["followers"] = {"href": None, "total": 7}
        out["href"] = f"{self.api}/users/{who.user_id}"
        out["id"] = who.user_id
        out["images"] = []
        if self.extended and "user-read-private" in scopes:
            out["product"] = who.product
        out["type"] = "user"
        out["uri"] = f"spotify:user:{who.user_id}"
        return out
