"""The mapping rules: a Spotify link decides; a name search only when confident and unambiguous."""

from __future__ import annotations

from brapped.musicbrainz import Candidate, LinkedArtist, by_link, confident_match, normalise, parse
from brapped.musicbrainz.mapping import AMBIGUOUS, NO_MATCH
from tests.musicbrainz.test_parse import _load

FRED = "RustyNova016__musicbrainz_rs__search_artist__004d944__artist_fred_AND_type_group_AND_country_US.json"
FLEETWOOD = "RevsRev__musicbrainzws2__search__MbArtistResult.json"
COHEN = "exogen__graphbrainz__4fe2b849e82d3a0e82f9776573e98d1b"


def _c(mbid: str, name: str, score: int) -> Candidate:
    return Candidate(mbid=mbid, name=name, score=score)


def test_real_searches() -> None:
    fred = parse.search(_load(FRED))
    # Three different groups named exactly "Fred", none scoring 100: never a guess.
    assert confident_match("Fred", fred) == (None, AMBIGUOUS) or confident_match("Fred", fred).mbid is None
    assert confident_match("Fred", fred).reason == AMBIGUOUS
    fleetwood = parse.search(_load(FLEETWOOD))
    top = _load(FLEETWOOD)["artists"][0]
    decision = confident_match("Fleetwood Mac", fleetwood)
    assert (decision.mbid, decision.reason) == (top["id"], "search")
    # "Fleetwood" exists (67) but Fleetwood Mac scores 100 for another name: no match for it.
    assert confident_match("Fleetwood", fleetwood).mbid is None
    cohen = parse.search(_load(COHEN))
    assert confident_match("leonard  cohen", cohen).mbid == _load(COHEN)["artists"][0]["id"]


def test_search_rule_cases() -> None:
    assert confident_match("Nova", []).reason == NO_MATCH
    assert confident_match("Nova", [_c("a", "Nova", 100)]).mbid == "a"
    assert confident_match("Nova", [_c("a", "Nova", 99)]).reason == NO_MATCH
    assert confident_match("Nova", [_c("a", "Nova", 100), _c("b", "Nova", 100)]).reason == AMBIGUOUS
    assert confident_match("Nova", [_c("a", "Nova", 100), _c("b", "Nova", 60)]).reason == AMBIGUOUS
    assert confident_match("Nova", [_c("a", "Nova", 100), _c("b", "Nova Lux", 95)]).reason == AMBIGUOUS
    assert confident_match("Nova", [_c("a", "Nova", 100), _c("b", "Nova Lux", 85)]).mbid == "a"
    assert confident_match("Nova", [_c("a", "Novak", 100)]).reason == NO_MATCH
    assert confident_match("", [_c("a", "", 100)]).reason == NO_MATCH


def test_normalise() -> None:
    assert normalise("  The  Velvet\tOwls ") == normalise("the velvet owls")
    assert normalise("Guns N’ Roses") == normalise("guns n' roses")
    assert normalise("Björk") != normalise("Bjork")  # accents are part of the name
    assert normalise("ＡＢＣ") == normalise("abc")  # NFKC: full-width letters


def test_links() -> None:
    assert by_link([]) is None
    assert by_link([LinkedArtist("m", "X")]) == ("m", "url") or by_link([LinkedArtist("m", "X")]).mbid == "m"
    two = by_link([LinkedArtist("m", "X"), LinkedArtist("n", "Y")])
    assert two is not None and two.mbid is None and two.reason == AMBIGUOUS
