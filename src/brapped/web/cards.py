"""Wrapped as a story: the report's numbers laid out as cards, shown in HTML and drawn as PNG.

One card spec feeds both the page (Jinja, escaped) and the PNG (canvas `fillText`, never HTML), so
the picture people share says exactly what the page says.
"""

from __future__ import annotations

from datetime import date
from typing import Any


def _n(value: Any) -> str:
    return f"{round(float(value)):,}" if value is not None else "–"


def _artists(row: dict[str, Any]) -> str:
    return ", ".join(a["name"] for a in row.get("artists") or [])


def _change(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 100:+.0f}% vs the period before"


def _span(period: dict[str, str]) -> str:
    start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    if start.month == 1 and start.day == 1 and end.month == 12 and end.day == 31 and start.year == end.year:
        return str(start.year)
    return f"{start.isoformat()} – {end.isoformat()}"


def story_cards(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The cards of a Wrapped report, in story order (cards without data are left out)."""
    span = _span(data["period"])
    cards: list[dict[str, Any]] = [
        {
            "key": "minutes",
            "eyebrow": f"Your Wrapped · {span}",
            "big": _n(data["minutes_listened"]),
            "headline": "minutes of music",
            "lines": [
                [f"{_n(data['plays'])} plays", f"{_n(data['streams'])} streams"],
                [f"{_n(data['distinct_tracks'])} tracks", f"by {_n(data['distinct_artists'])} artists"],
            ],
            "note": _change(data["change"]["minutes_listened"]),
        }
    ]
    if data["top_artists"]:
        first = data["top_artists"][0]
        cards.append(
            {
                "key": "artists",
                "eyebrow": "Your top artists",
                "big": "",
                "headline": first["name"],
                "lines": [[a["name"], f"{_n(a['plays'])} plays"] for a in data["top_artists"][:5]],
                "note": f"{_n(first['main_plays'])} plays as main artist, "
                f"{_n(first['featured_plays'])} featured",
            }
        )
    if data["top_tracks"]:
        first = data["top_tracks"][0]
        cards.append(
            {
                "key": "tracks",
                "eyebrow": "Your top tracks",
                "big": "",
                "headline": first["name"],
                "lines": [[t["name"], f"{_n(t['plays'])} plays"] for t in data["top_tracks"][:5]],
                "note": _artists(first),
            }
        )
    if data["top_genres"]:
        cards.append(
            {
                "key": "genres",
                "eyebrow": "Your top genres",
                "big": "",
                "headline": data["top_genres"][0]["genre"],
                "lines": [[g["genre"], f"{_n(g['plays'])} plays"] for g in data["top_genres"][:5]],
                "note": "",
            }
        )
    streak, session = data.get("longest_streak"), data.get("longest_session")
    busiest, repeated = data.get("busiest_day"), data.get("most_repeated_track_in_a_day")
    habits = []
    if busiest:
        habits.append(["Busiest day", f"{busiest['date']} · {_n(busiest['minutes'])} min"])
    if session:
        habits.append(["Longest session", f"{_n(session['minutes'])} min · {session['start'][:10]}"])
    if repeated:
        track = repeated["track"]["name"]
        habits.append(["On repeat", f"{track} ×{repeated['plays']} on {repeated['date']}"])
    if streak:
        cards.append(
            {
                "key": "streak",
                "eyebrow": "Your habits",
                "big": _n(streak["days"]),
                "headline": "days in a row with music",
                "lines": habits,
                "note": f"from {streak['start']} to {streak['end']}",
            }
        )
    discoveries = data.get("discoveries") or {}
    age = (data.get("listening_age") or {}).get("median_release_year")
    new_artists = discoveries.get("new_artists") or 0
    if new_artists or age:
        found = (discoveries.get("top_new_artists") or [])[:5]
        lines = [[a["name"], f"{_n(a['plays'])} plays"] for a in found]
        cards.append(
            {
                "key": "discoveries",
                "eyebrow": "New to you",
                "big": _n(new_artists),
                "headline": "artists discovered",
                "lines": lines,
                "note": f"Listening age: music from around {int(age)}" if age else "",
            }
        )
    for index, card in enumerate(cards):
        card["theme"] = index % 6
        card["foot"] = f"brapped · {span}"
        card["file"] = f"brapped-wrapped-{span.replace(' – ', '_')}-{card['key']}.png"
    return cards
