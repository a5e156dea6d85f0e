"""Isolating names (brapped.web.bidi): their directional controls paired, then wrapped."""

from __future__ import annotations

import pytest

from brapped.web.bidi import balanced, bdi, initial, isolate

LRE, RLE, PDF, RLO = "\u202a", "\u202b", "\u202c", "\u202e"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("עומר אדם", "עומר אדם"),
        ("Track (feat. فيروز)", "Track (feat. فيروز)"),
        (f"a{RLE}b{PDF}c", f"a{RLE}b{PDF}c"),  # already in pairs: as it is
        (f"{PDI}{RLO}evil", f"{RLO}evil{PDF}"),  # the stray PDI dropped, the override closed
        (f"a{PDF}b", "ab"),  # a PDF with nothing to close
        (f"{RLI}a", f"{RLI}a{PDI}"),
        (f"{LRE}{RLI}a{PDF}b", f"{LRE}{RLI}ab{PDI}{PDF}"),  # a PDF cannot close across an isolate
        (f"{LRI}{RLO}a{PDI}b", f"{LRI}{RLO}a{PDI}b"),  # a PDI closes the override opened inside it
        (f"{FSI}{LRE}x", f"{FSI}{LRE}x{PDF}{PDI}"),
    ],
)
def test_balanced_pairs_directional_controls(name: str, expected: str) -> None:
    assert balanced(name) == expected


def test_isolate_and_bdi_wrap_the_balanced_name() -> None:
    assert isolate(f"{PDI}שלום!") == f"{FSI}שלום!{PDI}"
    assert bdi(f'<b>"x"</b>{PDI}') == "<bdi>&lt;b&gt;&#34;x&#34;&lt;/b&gt;</bdi>"
    assert bdi(None) == "<bdi></bdi>"


# (name, the letter its placeholder picture shows): written out by hand, code point by code point.
INITIALS = [
    ("Abba", "A"),
    ("éclair", "É"),
    ("e\u0301cole", "E\u0301"),  # a letter with a combining accent stays whole
    ("🎶 Music", "🎶"),  # an emoji is one character, not half of one
    ("\U0001f1eb\U0001f1f7 Paris", "\U0001f1eb\U0001f1f7"),  # a flag: both regional letters
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467 Family", "\U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ("\u2764\ufe0f Love", "\u2764\ufe0f"),
    ("\u202eevil", "E"),  # an override shows nothing: the first letter after it
    ("\u200f\u200eعمرو دياب", "ع"),
    ("  ", "?"),
    ("", "?"),
    (None, "?"),
]


@pytest.mark.parametrize(("name", "expected"), INITIALS)
def test_initial_is_the_first_character_a_reader_sees(name: str | None, expected: str) -> None:
    assert initial(name) == expected
