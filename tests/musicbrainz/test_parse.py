"""The parsers read every real MusicBrainz sample in ../shared/musicbrainz/samples/; expected values
come from plain loops over the same JSON and from the manifest's recorded facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from brapped.clock import SystemClock
from brapped.musicbrainz import BadAnswer, LocalPace, MusicBrainzClient, MusicBrainzError, parse
from tests.conftest import REPO

SHARED = (REPO.parent / "shared" / "musicbrainz").resolve()
MANIFEST = json.loads((SHARED / "manifest.json").read_text(encoding="utf-8"))
ENTRIES = {
    Path(e["file"]).name: e
    for e in MANIFEST["files"]
    if e["file"].startswith("samples/") and "/" not in e["file"][8:]
}


def _load(name: str) -> Any:
    return json.loads((SHARED / "samples" / name).read_text(encoding="utf-8"))


def _kind(prefix: str) -> list[str]:
    return sorted(n for n, e in ENTRIES.items() if str(e["kind"]).startswith(prefix))


ARTIST_LOOKUPS = _kind("b")
SEARCHES = sorted(n for n, e in ENTRIES.items() if e["kind"] == "c")  # not the URL search ("contrast to a")


def test_the_samples_are_all_there() -> None:
    assert len(ARTIST_LOOKUPS) == 4 and len(SEARCHES) == 3, (ARTIST_LOOKUPS, SEARCHES)
    for name in ENTRIES:
        assert (SHARED / "samples" / name).exists()


@pytest.mark.parametrize("name", ARTIST_LOOKUPS)
def test_artist_lookup(name: str) -> None:
    body = _load(name)
    facts = parse.artist(body)
    recorded = ENTRIES[name]["facts"]
    assert facts.mbid == body["id"] and facts.name == body["name"] == recorded["name"]
    assert facts.type == body.get("type") and facts.country == body.get("country")
    assert facts.area == (body.get("area") or {}).get("name")
    life = body.get("life-span") or {}
    assert facts.begin_year == (int(life["begin"][:4]) if life.get("begin") else None)
    assert facts.end_year == (int(life["end"][:4]) if life.get("end") else None)
    assert facts.disambiguation == (body.get("disambiguation") or None)
    genres = {g["name"]: g["count"] for g in body.get("genres", [])}
    assert {v.name: v.count for v in facts.genres} == genres
    if isinstance(recorded.get("genres"), dict):
        assert genres == recorded["genres"]
    tags = {t["name"]: t["count"] for t in body.get("tags", [])}
    assert {v.name: v.count for v in facts.tags} == tags
    if "tags" in recorded:
        assert len(facts.tags) == recorded["tags"]
    counts = [v.count for v in facts.genres]
    assert counts == sorted(counts, reverse=True)  # most votes first
    links = [
        r["url"]["resource"].rsplit("/", 1)[1]
        for r in body.get("relations", [])
        if r.get("url", {}).get("resource", "").startswith("https://open.spotify.com/artist/")
    ]
    assert list(facts.spotify_ids) == links
    if "spotify" in recorded:
        assert facts.spotify_ids == (recorded["spotify"].rsplit("/", 1)[1],)


def test_rick_astley_in_2024_and_2026() -> None:
    old, new = (
        parse.artist(_load(n)) for n in ARTIST_LOOKUPS if "RustyNova016__musicbrainz_rs__lookup_artist" in n
    )
    assert (
        {g.name for g in old.genres} == {g.name for g in new.genres} == {"blue-eyed soul", "dance-pop", "pop"}
    )
    assert (old.type, old.country, old.area, old.begin_year) == ("Person", "GB", "United Kingdom", 1966)
    assert new.mbid == old.mbid == "db92a151-1ac2-438b-bc43-b82e149ddd50"


@pytest.mark.parametrize("name", SEARCHES)
def test_artist_search(name: str) -> None:
    body = _load(name)
    found = parse.search(body)
    assert [(c.mbid, c.name, c.score) for c in found] == [
        (a["id"], a["name"], int(a["score"])) for a in body["artists"]
    ]
    recorded = ENTRIES[name]["facts"]
    assert len(found) == recorded["results"]
    assert [found[0].name, found[0].score] == recorded["top"]
    if "exactly_named_Fred_scores" in recorded:
        assert [c.score for c in found if c.name == "Fred"] == recorded["exactly_named_Fred_scores"]


def test_url_lookups_by_resource_and_by_mbid() -> None:
    for name in ENTRIES:
        if str(ENTRIES[name]["kind"]).startswith("a"):
            body = _load(name)
            assert parse.url_lookup(body) == {body["resource"]: []}
            assert ENTRIES[name]["facts"]["resource"] == body["resource"]


def test_a_url_search_links_no_artist() -> None:
    # The URL *search* nests relations under relation-list: it is not what mapping calls, and read
    # as a lookup it must not yield artists.
    body = _load("RevsRev__musicbrainzws2__search__MbUrlResult.json")
    assert all(not linked for linked in parse.url_lookup(body).values())


def test_the_batch_form_of_a_url_lookup() -> None:
    # The documented multi-resource shape (Examples page), with the artist-rels relation shape.
    body = {
        "url-offset": 0,
        "url-count": 2,
        "urls": [
            {"id": "u1", "resource": "https://open.spotify.com/artist/A"},
            {
                "id": "u2",
                "resource": "https://open.spotify.com/artist/B",
                "relations": [
                    {
                        "target-type": "artist",
                        "direction": "backward",
                        "type": "free streaming",
                        "artist": {"id": "m1", "name": "X"},
                    }
                ],
            },
        ],
    }
    found = parse.url_lookup(body)
    assert found == {
        "https://open.spotify.com/artist/A": [],
        "https://open.spotify.com/artist/B": [parse.LinkedArtist("m1", "X")],
    }


def _client(status: int, content: bytes, content_type: str = "application/json") -> MusicBrainzClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    clock = SystemClock()
    return MusicBrainzClient(
        httpx.Client(transport=httpx.MockTransport(handler)), clock, LocalPace(clock, 0.0)
    )


@pytest.mark.parametrize("name", _kind("d"))
def test_error_bodies(name: str) -> None:
    raw = (SHARED / "samples" / name).read_bytes()
    if raw.lstrip().startswith(b"<"):
        # An XML error where JSON was expected: a 200 of it is garbage, a 404 is "not there".
        with pytest.raises(BadAnswer):
            _client(200, raw, "application/xml").artist("db92a151-1ac2-438b-bc43-b82e149ddd50")
        assert _client(404, raw, "application/xml").artist("db92a151-1ac2-438b-bc43-b82e149ddd50") is None
        return
    message = json.loads(raw)["error"]
    assert _client(404, raw).artist("db92a151-1ac2-438b-bc43-b82e149ddd50") is None
    with pytest.raises(MusicBrainzError) as caught:
        _client(400, raw).artist("db92a151-1ac2-438b-bc43-b82e149ddd50")
    assert caught.value.message == message and caught.value.status == 400


@pytest.mark.parametrize(
    "body", [b'{"id": "x", "name": "Nirv', b"[1, 2]", b'{"id": "x", "name": "N", "genres": "pop"}', b"<html>"]
)
def test_garbage_raises_bad_answer(body: bytes) -> None:
    with pytest.raises(BadAnswer):
        _client(200, body).artist("db92a151-1ac2-438b-bc43-b82e149ddd50")
