"""The Wrapped story cards (brapped.web.cards) of the hand-made history's 2024."""

from __future__ import annotations

import json

from brapped.insights import Period, wrapped
from brapped.store import Store
from brapped.web.cards import story_cards
from tests.insights.conftest import FALL_BACK_DAY, SPRING_FORWARD_DAY, TZ, add_catalogue, add_plays


def test_one_card_says_listening_age_and_the_median_release_year_is_named(store: Store) -> None:
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(conn, FALL_BACK_DAY + SPRING_FORWARD_DAY)
    with store.connect() as conn:
        cards = story_cards(wrapped(conn, Period.year(2024, TZ)))
    # Dated plays: six of album First (2001: t1 x4, t2 x2), two of Comp (1990: t3, t5): median 2001.
    discoveries = next(c for c in cards if c["key"] == "discoveries")
    assert discoveries["note"] == "Median release year of your plays: 2001"
    saying_age = [c["key"] for c in cards if "listening age" in json.dumps(c).lower()]
    assert saying_age == ["age"]
