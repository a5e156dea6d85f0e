"""The /v1 endpoints: schema-valid in both modes, shaped like the real samples, refusing what Spotify does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from brapped.emulator import Emulator
from brapped.emulator.catalogue import HTML_TRACK_NAME
from tests.emulator.conftest import START, load_sample, validate, web_client

RECENT = "/me/player/recently-played"
SAMPLE_50 = "chekos__spotify-git-scraping__recently_played__2023-01-26_b4503d24_50items.json"
SAMPLE_CONTEXT = "chekos__spotify-git-scraping__recently_played__2026-06-26_60b3153e_context.json"
SAMPLE_EMPTY = "chekos__spotify-git-scraping__recently_played__empty_a35631e4.json"
SAMPLE_ARTISTS = "chekos__spotify-git-scraping__top_50_artists_long_term__2026-06-26.json"
DEPRECATED = {
    "track": {"available_markets", "linked_from", "popularity", "preview_url"},
    "album": {"available_markets", "genres", "label", "popularity"},
    "artist": {"followers", "genres", "popularity"},
}


def _eligible(emu: Emulator, now: datetime) -> list[str]:
    """Independently: tracks played >= 30 s outside private sessions, ended at or before now, newest first."""
    plays = emu.ground_truth(now - timedelta(days=3), now + timedelta(milliseconds=1))
    keep = [p for p in plays if p.kind == "track" and not p.incognito and p.ms_played >= 30_000]
    keep.sort(key=lambda p: p.played_at, reverse=True)
    return [f"{p.id}@{p.played_at_ms}" for p in keep[:50]]


def _keys(items: list[dict]) -> list[str]:  # type: ignore[type-arg]
    out = []
    for item in items:
        ms = int(datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")).timestamp() * 1000)
        out.append(f"{item['track']['id']}@{ms}")
    return out


# -- the spec's schemas, every endpoint, both modes ---------------------------------------------


def test_real_samples_validate_against_the_adjusted_spec() -> None:
    # The errata applied by the validator are exactly what real payloads need; no more.
    for name in (SAMPLE_50, SAMPLE_CONTEXT, SAMPLE_EMPTY):
        validate("extended", "CursorPagingPlayHistoryObject", load_sample(name))
    for artist in load_sample(SAMPLE_ARTISTS)["items"]:
        validate("extended", "ArtistObject", artist)


def test_every_endpoint_validates(api: tuple[Emulator, httpx.Client], mode: str) -> None:
    _emu, client = api
    page = client.get(RECENT, params={"limit": 50})
    assert page.status_code == 200
    validate(mode, "CursorPagingPlayHistoryObject", page.json())
    assert len(page.json()["items"]) == 50
    me = client.get("/me")
    validate(mode, "PrivateUserObject", me.json())
    item = page.json()["items"][0]["track"]
    track = client.get(f"/tracks/{item['id']}")
    validate(mode, "TrackObject", track.json())
    album = client.get(f"/albums/{item['album']['id']}")
    validate(mode, "AlbumObject", album.json())
    artist = client.get(f"/artists/{item['artists'][0]['id']}")
    validate(mode, "ArtistObject", artist.json())
    tracks_page = client.get(f"/albums/{item['album']['id']}/tracks")
    validate(mode, "PagingSimplifiedTrackObject", tracks_page.json())
    search = client.get("/search", params={"q": item["name"], "type": "track,artist"})
    validate(mode, "SearchItems", search.json())
    assert search.json()["tracks"]["total"] >= 1
    for response in (me, track, album, artist, tracks_page, search):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
    if mode == "extended":
        ids = [i["track"]["id"] for i in page.json()["items"]]
        validate(mode, "ManyTracks", client.get("/tracks", params={"ids": ",".join(ids[:50])}).json())
        artist_ids = list(dict.fromkeys(a["id"] for i in page.json()["items"] for a in i["track"]["artists"]))
        validate(
            mode, "ManyArtists", client.get("/artists", params={"ids": ",".join(artist_ids[:50])}).json()
        )
        album_ids = list(dict.fromkeys(i["track"]["album"]["id"] for i in page.json()["items"]))
        validate(mode, "ManyAlbums", client.get("/albums", params={"ids": ",".join(album_ids[:20])}).json())


def test_error_bodies_validate(api: tuple[Emulator, httpx.Client], mode: str) -> None:
    _emu, client = api
    cases = [
        (client.get("/tracks", params={"ids": "x"}), "Forbidden" if mode == "development" else "BadRequest"),
        (client.get(RECENT, params={"after": 1, "before": 2}), "BadRequest"),
        (client.get("/me", headers={"Authorization": "Bearer nope"}), "Unauthorized"),
        (client.get("/tracks/0000000000000000000000"), "NotFound"),
    ]
    for response, component in cases:
        validate(mode, component, response.json())


def test_shapes_match_the_real_samples_key_for_key(api: tuple[Emulator, httpx.Client], mode: str) -> None:
    _emu, client = api
    real = load_sample(SAMPLE_50)
    real_item, real_track = real["items"][0], real["items"][0]["track"]
    ours = client.get(RECENT, params={"limit": 50}).json()
    assert list(ours) == list(real)
    item = ours["items"][0]
    assert list(item) == list(real_item)
    removed = DEPRECATED["track"] if mode == "development" else set()
    assert list(item["track"]) == [k for k in real_track if k not in removed]
    album_removed = DEPRECATED["album"] if mode == "development" else set()
    assert list(item["track"]["album"]) == [k for k in real_track["album"] if k not in album_removed]
    assert list(item["track"]["artists"][0]) == list(real_track["artists"][0])
    assert [list(i) for i in item["track"]["album"]["images"]] == [["height", "url", "width"]] * 3
    real_artist = load_sample(SAMPLE_ARTISTS)["items"][0]
    artist = client.get(f"/artists/{item['track']['artists'][0]['id']}").json()
    artist_removed = DEPRECATED["artist"] if mode == "development" else set()
    assert list(artist) == [k for k in real_artist if k not in artist_removed]
    context_items = [i for i in ours["items"] if i["context"] is not None]
    real_context = load_sample(SAMPLE_CONTEXT)["items"][0]["context"]
    assert context_items and list(context_items[0]["context"]) == list(real_context)


def test_development_mode_leaves_out_removed_fields(api: tuple[Emulator, httpx.Client], mode: str) -> None:
    _emu, client = api
    item = client.get(RECENT, params={"limit": 1}).json()["items"][0]["track"]
    artist = client.get(f"/artists/{item['artists'][0]['id']}").json()
    album = client.get(f"/albums/{item['album']['id']}").json()
    if mode == "development":
        assert not DEPRECATED["track"] & set(item)
        assert not DEPRECATED["artist"] & set(artist)
        assert not DEPRECATED["album"] & set(album)
        assert "available_markets" not in item["album"]
    else:
        assert {"available_markets", "popularity", "preview_url"} <= set(item)
        assert DEPRECATED["artist"] <= set(artist)
        assert DEPRECATED["album"] <= set(album)
        assert len(item["available_markets"]) == 185


# -- recently played ----------------------------------------------------------------------------


def test_recently_played_is_the_50_most_recent_eligible_plays(api: tuple[Emulator, httpx.Client]) -> None:
    emu, client = api
    body = client.get(RECENT, params={"limit": 50}).json()
    assert _keys(body["items"]) == _eligible(emu, START)
    for item in body["items"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["played_at"])
    assert body["cursors"] == {
        "after": _eligible(emu, START)[0].split("@")[1],
        "before": _eligible(emu, START)[-1].split("@")[1],
    }
    assert body["next"] == (
        f"https://api.spotify.com/v1/me/player/recently-played?before={body['cursors']['before']}&limit=50"
    )
    assert body["href"] == "https://api.spotify.com/v1/me/player/recently-played?limit=50"
    # Older plays are not reachable: the page past the window is empty, like the real empty page.
    older = client.get(body["next"]).json()
    empty = load_sample(SAMPLE_EMPTY)
    assert list(older) == list(empty)
    assert (older["items"], older["next"], older["cursors"]) == ([], None, None)


def test_recently_played_shows_nothing_that_ends_after_now(api: tuple[Emulator, httpx.Client]) -> None:
    emu, client = api
    first = client.get(RECENT, params={"limit": 1}).json()["items"][0]
    ended = datetime.fromisoformat(first["played_at"].replace("Z", "+00:00"))
    emu.clock.set(ended - timedelta(milliseconds=1))
    again = client.get(RECENT, params={"limit": 1}).json()["items"][0]
    assert again["played_at"] < first["played_at"]
    emu.clock.set(ended)
    assert client.get(RECENT, params={"limit": 1}).json()["items"][0] == first


def test_paging_with_cursors(api: tuple[Emulator, httpx.Client]) -> None:
    emu, client = api
    expected = _eligible(emu, START)
    pages, url = [], f"{RECENT}?limit=20"
    while url:
        body = client.get(url).json()
        pages.extend(_keys(body["items"]))
        url = body["next"]
    assert pages == expected
    # `after` returns the plays just after the cursor, newest first, and a next link moving forward.
    cursor = int(expected[30].split("@")[1])
    body = client.get(RECENT, params={"after": cursor, "limit": 10}).json()
    assert _keys(body["items"]) == expected[20:30]
    assert body["next"].endswith(f"?after={body['cursors']['after']}&limit=10")
    assert body["href"].endswith(f"?after={cursor}&limit=10")
    newest = int(expected[0].split("@")[1])
    assert client.get(RECENT, params={"after": newest}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"after": 1, "before": 2}, "Only one of after or before can be specified"),
        ({"limit": 0}, "Invalid limit"),
        ({"limit": 51}, "Invalid limit"),
        ({"limit": "x"}, "Invalid limit"),
        ({"after": "yesterday"}, "Invalid cursor"),
    ],
)
def test_recently_played_refuses_bad_parameters(
    api: tuple[Emulator, httpx.Client], params: dict[str, object], message: str
) -> None:
    _emu, client = api
    response = client.get(RECENT, params=params)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


def test_recently_played_needs_the_scope_and_a_user(emu: Emulator) -> None:
    token = emu.issue_access_token(scope="user-read-private")
    with web_client(emu, token) as client:
        response = client.get(RECENT)
    assert (response.status_code, response.json()) == (
        403,
        {"error": {"status": 403, "message": "Insufficient client scope"}},
    )


# -- catalogue endpoints ------------------------------------------------------------------------


def test_batch_lookups_refused_in_development_mode(emu: Emulator) -> None:
    track_id = next(iter(emu.catalogue.tracks))
    with web_client(emu) as client:
        for kind in ("tracks", "artists", "albums"):
            response = client.get(f"/{kind}", params={"ids": track_id})
            assert response.status_code == 403
            assert response.json() == {"error": {"status": 403, "message": "Forbidden"}}


def test_batch_limits_in_extended_mode(clock) -> None:  # type: ignore[no-untyped-def]
    emu = Emulator(seed=42, mode="extended", clock=clock)
    tracks, albums = list(emu.catalogue.tracks), list(emu.catalogue.albums)
    with web_client(emu) as client:
        assert len(client.get("/tracks", params={"ids": ",".join(tracks[:50])}).json()["tracks"]) == 50
        too_many = client.get("/tracks", params={"ids": ",".join(tracks[:51])})
        assert too_many.status_code == 400
        assert too_many.json() == {"error": {"status": 400, "message": "Too many ids requested"}}
        assert client.get("/albums", params={"ids": ",".join(albums[:21])}).status_code == 400
        got = client.get("/albums", params={"ids": ",".join(albums[:20])}).json()["albums"]
        assert [a["id"] for a in got] == albums[:20]
        missing = "0" * 22
        assert client.get("/tracks", params={"ids": f"{tracks[0]},{missing}"}).json()["tracks"][1] is None


def test_single_lookups_and_their_errors(emu: Emulator) -> None:
    cat = emu.catalogue
    track = next(t for t in cat.tracks.values() if len(t.artist_ids) > 1)
    with web_client(emu) as client:
        body = client.get(f"/tracks/{track.id}").json()
        assert body["name"] == track.name
        assert [a["id"] for a in body["artists"]] == list(track.artist_ids)
        assert body["album"]["id"] == track.album_id
        assert body["duration_ms"] == track.duration_ms
        assert client.get("/tracks/not-an-id").json() == {
            "error": {"status": 400, "message": "Invalid base62 id"}
        }
        unknown = client.get("/tracks/0000000000000000000000")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "Non existing id: 'spotify:track:0000000000000000000000'"
        nowhere = client.get("/me/top/everything")
        assert nowhere.json() == {"error": {"status": 404, "message": "Service not found"}}


def test_search(emu: Emulator) -> None:
    with web_client(emu) as client:
        body = client.get("/search", params={"q": "script alert", "type": "track"}).json()
        names = [t["name"] for t in body["tracks"]["items"]]
        assert HTML_TRACK_NAME in names
        assert body["tracks"]["limit"] == 5  # development-mode default since February 2026
        artist = next(a for a in emu.catalogue.artists.values() if " " in a.name and a.name.isascii())
        found = client.get("/search", params={"q": f'artist:"{artist.name}"', "type": "artist"}).json()
        assert artist.id in [a["id"] for a in found["artists"]["items"]] or found["artists"]["total"] > 5
        too_big = client.get("/search", params={"q": "love", "type": "track", "limit": 11})
        assert too_big.json() == {"error": {"status": 400, "message": "Invalid limit"}}
        no_type = client.get("/search", params={"q": "love"})
        assert no_type.json() == {"error": {"status": 400, "message": "Missing parameter type"}}


def test_accented_search_folds_accents(emu: Emulator) -> None:
    with web_client(emu) as client:
        plain = client.get("/search", params={"q": "corazon", "type": "track", "limit": 10}).json()
        accented = client.get("/search", params={"q": "Corazón", "type": "track", "limit": 10}).json()
    assert plain["tracks"]["total"] == accented["tracks"]["total"] > 0


def test_me_in_development_mode(emu: Emulator) -> None:
    with web_client(emu) as client:
        me = client.get("/me").json()
    assert me["id"] == emu.listener.user_id
    assert me["uri"] == f"spotify:user:{emu.listener.user_id}"
    assert not {"country", "email", "product", "followers", "explicit_content"} & set(me)


def test_hrefs_follow_the_base_url_they_were_asked_on(emu: Emulator) -> None:
    token = emu.issue_access_token()
    with httpx.Client(
        transport=emu.transport(),
        base_url="http://127.0.0.1:9/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        body = client.get(RECENT, params={"limit": 2}).json()
    assert body["next"].startswith("http://127.0.0.1:9/v1/me/player/recently-played?before=")
    assert body["items"][0]["track"]["href"].startswith("http://127.0.0.1:9/v1/tracks/")
    assert body["items"][0]["track"]["external_urls"]["spotify"].startswith("https://open.spotify.com/track/")


def test_time_moves_only_with_the_clock(emu: Emulator) -> None:
    with web_client(emu) as client:
        first = client.get(RECENT, params={"limit": 50}).json()
        assert client.get(RECENT, params={"limit": 50}).json() == first
        emu.clock.advance(timedelta(days=1))
        expired = client.get(RECENT, params={"limit": 50})
        assert expired.json() == {"error": {"status": 401, "message": "The access token expired"}}
        client.headers["Authorization"] = f"Bearer {emu.issue_access_token()}"
        later = client.get(RECENT, params={"limit": 50}).json()
    assert later["items"][0]["played_at"] > first["items"][0]["played_at"]
    assert datetime.fromisoformat(later["items"][0]["played_at"].replace("Z", "+00:00")) <= START + timedelta(
        days=1
    )
    assert START.tzinfo is UTC
