"""The Wrapped party as story cards: the group first, then one card per award.

Same card spec as the Wrapped page (brapped.web.cards), so the page and the PNG download (drawn by
app.js from the spec, never from HTML) say the same thing.
"""

from __future__ import annotations

from typing import Any

from brapped.web.cards import _span

DESCRIPTIONS = {
    "explorer": "the most different artists",
    "picky_listener": "the largest share of plays under 30 seconds",
    "loyalist": "the largest share of plays by their own top artist",
    "early_bird": "the largest share of plays between 05:00 and 09:00",
    "night_owl": "the largest share of plays between 22:00 and 04:00",
    "marathoner": "the longest listening session",
    "obsessed": "the most plays of one track",
}


def _value(award: dict[str, Any]) -> str:
    value, unit = award["value"], award["unit"]
    if value is None:
        return "–"
    if unit == "share":
        return f"{float(value) * 100:.0f}%"
    if unit == "minutes":
        return f"{round(float(value)):,} min"
    if unit == "plays":
        return f"{int(value):,}×"
    return f"{int(value):,}"


def _name(user: str | None, names: dict[str, str | None]) -> str:
    if user is None:
        return "Nobody yet"
    return names.get(user) or user


def party_cards(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The party's cards in story order."""
    span = _span(data["period"])
    names = {m["user_id"]: m["display_name"] for m in data["members"]}
    group = data["group"]
    mean = group["mean_score"]
    cards: list[dict[str, Any]] = [
        {
            "key": "group",
            "eyebrow": f"Wrapped party · {span}",
            "big": f"{len(data['members'])}",
            "headline": str(group["label"]).capitalize(),
            "lines": [
                [_name(m["user_id"], names), f"{round(float(m['minutes_listened'])):,} min"]
                for m in data["members"][:5]
            ],
            "note": f"Mean compatibility {mean:.0f}/100" if mean is not None else "",
        }
    ]
    for award in data["awards"]:
        cards.append(
            {
                "key": award["award"],
                "eyebrow": award["title"],
                "big": _value(award),
                "headline": _name(award["winner"], names),
                "lines": [],
                "note": DESCRIPTIONS.get(award["award"], ""),
            }
        )
    for index, card in enumerate(cards):
        card["theme"] = index % 6
        card["foot"] = f"brapped party · {span}"
        card["file"] = f"brapped-party-{span.replace(' – ', '_')}-{card['key']}.png"
    return cards
