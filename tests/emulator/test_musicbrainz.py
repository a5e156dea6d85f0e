"""The emulated MusicBrainz: its endpoints, limits and error bodies, as the real samples show them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from brapped.emulator import EmulatedClock, Emulator, Fault
from brapped.emulator.musicbrainz import HELP, RATE_MESSAGE, fold

AGENT = {"User-Agent": "brapped-tests/1.0 ( https://example.com )"}


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=4, clock=EmulatedClock())


def _get(
    emu: Emulator, path: str, params: list[tuple[str, str]], headers: dict[str, str] = AGENT
) -> httpx.Response:
    emu.clock.advance(1.0)  # one request per second, as the contract asks
    with httpx.Client(transport=emu.transport()) as http:
        return http.get(
            f"https://musicbrainz.org/ws/2/{path}", params=[*params, ("fmt", "json")], headers=headers
        )


def _url(spotify_id: str) -> tuple[str, str]:
    return ("resource", f"https://open.spotify.com/artist/{spotify_id}")


def test_url_lookup_single_batch_and_unknown(emu: Emulator) -> None:
    linked = emu.musicbrainz.linked()
    known = sorted(linked)[:3]
    unknown = next(a for a in emu.catalogue.artists if a not in linked)
    one = _get(emu, "url", [_url(known[0]), ("inc", "artist-rels")])
    assert one.status_code == 200
    body: dict[str, Any] = one.json()
    assert (
        body["resource"].endswith(known[0]) and body["relations"][0]["artist"]["id"] == linked[known[0]].mbid
    )
    assert body["relations"][0]["type-id"] == "769085a1-c2f7-4c24-a532-2375a77693bd"
    missing = _get(emu, "url", [_url(unknown), ("inc", "artist-rels")])
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found", "help": HELP}
    batch = _get(emu, "url", [*(_url(a) for a in known), _url(unknown), ("inc", "artist-rels")]).json()
    assert batch["url-count"] == 3 and batch["url-offset"] == 0
    assert [u["resource"].rsplit("/", 1)[1] for u in batch["urls"]] == known
    too_many = _get(emu, "url", [_url(a) for a in list(emu.catalogue.artists)[:101]])
    assert too_many.status_code == 400


def test_search_and_lookup(emu: Emulator) -> None:
    shared_names = emu.musicbrainz.ambiguous_names()
    entry = next(a for a in emu.musicbrainz.artists.values() if a.genres and fold(a.name) not in shared_names)
    found = _get(emu, "artist", [("query", f'artist:"{entry.name}"')]).json()
    assert found["artists"][0]["score"] == 100 and found["artists"][0]["id"] == entry.mbid
    assert all(a["score"] < 100 for a in found["artists"][1:])
    looked = _get(emu, f"artist/{entry.mbid}", [("inc", "genres+tags")]).json()
    assert [(g["name"], g["count"]) for g in looked["genres"]] == list(entry.genres)
    assert looked["country"] == entry.country and looked["life-span"]["begin"] == entry.begin
    shared = next(iter(emu.musicbrainz.ambiguous_names()))
    name = next(a.name for a in emu.musicbrainz.artists.values() if fold(a.name) == shared)
    hits = _get(emu, "artist", [("query", f'artist:"{name}"')]).json()["artists"]
    assert sum(1 for h in hits if h["score"] == 100) >= 2


def test_errors(emu: Emulator) -> None:
    entry = next(iter(emu.musicbrainz.artists.values()))
    bad_inc = _get(emu, f"artist/{entry.mbid}", [("inc", "foobar")])
    assert bad_inc.status_code == 400
    assert bad_inc.json()["error"] == "foobar is not a valid inc parameter for the artist resource."
    assert _get(emu, "artist/not-an-mbid", []).json()["error"] == "Invalid mbid."
    assert _get(emu, "artist/00000000-0000-4000-8000-000000000000", []).status_code == 404
    with httpx.Client(transport=emu.transport()) as http:
        emu.clock.advance(1.0)
        xml = http.get(f"https://musicbrainz.org/ws/2/artist/{entry.mbid}", headers=AGENT)
    assert xml.headers["content-type"].startswith("application/xml")
    anonymous = _get(emu, f"artist/{entry.mbid}", [], headers={"User-Agent": "python-httpx/0.28"})
    assert anonymous.status_code == 403 and emu.musicbrainz.refused["user_agent"] == 1


def test_rate_limit_and_faults(emu: Emulator) -> None:
    entry = next(iter(emu.musicbrainz.artists.values()))
    with httpx.Client(transport=emu.transport()) as http:
        answers = [
            http.get(
                f"https://musicbrainz.org/ws/2/artist/{entry.mbid}", params={"fmt": "json"}, headers=AGENT
            )
            for _ in range(5)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 503, 503]
    assert answers[-1].json() == {"error": RATE_MESSAGE} and emu.musicbrainz.refused["rate"] == 2
    emu.faults.add(Fault("garbage", path=f"/ws/2/artist/{entry.mbid}"))
    emu.faults.add(Fault("5xx", path="/ws/2/url", status=503))
    emu.clock.advance(10)
    garbage = _get(emu, f"artist/{entry.mbid}", [])
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()
    busy = _get(emu, "url", [_url(entry.spotify_id or "")])
    assert busy.status_code == 503 and busy.json() == {"error": RATE_MESSAGE}
    assert emu.counters["GET /ws/2/artist/{mbid}"] == 6 and emu.counters["GET /ws/2/url"] == 1
