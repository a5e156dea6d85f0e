"""Wrapped as a story: the report's numbers laid out as cards, shown in HTML and drawn as PNG.

One card spec feeds both the page (Jinja, escaped) and the PNG (canvas `fillText`, never HTML), so
the picture people share says exactly what the page says.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from brapped.web.bidi import isolate


def _n(value: Any) -> str:
    return f"{round(float(value)):,}" if value is not None else "–"


def _artists(row: dict[str, Any]) -> str:
    # Each name isolated: two right-to-left names side by side would swap places (brapped.web.bidi).
    return ", ".join(isolate(a["name"]) for a in row.get("artists") or [])


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
                # Ranked by weighted credit over streams (docs/reports.md): streams is the count shown.
                "lines": [
                    [a["name"], f"{_n(a.get('streams', a['plays']))} streams"]
                    for a in data["top_artists"][:5]
                ],
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
                "lines": [[t["name"], f"{_n(t['streams'])} streams"] for t in data["top_tracks"][:5]],
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
        track = isolate(repeated["track"]["name"])
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
                # Not "listening age": that is the later card's window, a different number.
                "note": f"Median release year of your plays: {int(age)}" if age else "",
            }
        )
    cards.extend(_cards_2025(data))
    for index, card in enumerate(cards):
        card["theme"] = index % 6
        card["foot"] = f"brapped · {span}"
        card["file"] = f"brapped-wrapped-{span.replace(' – ', '_')}-{card['key']}.png"
    return cards


def _cards_2025(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Obsession, rediscovery, forgotten favourite, listening age and new albums, when present."""
    cards: list[dict[str, Any]] = []
    obsession = data.get("obsession")
    if obsession and obsession["plays"] > 1:
        track = obsession["track"]
        cards.append(
            {
                "key": "obsession",
                "eyebrow": "Your obsession",
                "big": f"×{obsession['plays']}",
                "headline": track["name"],
                "lines": [
                    ["by", _artists(track)],
                    ["in one week", f"{obsession['start']} – {obsession['end']}"],
                ],
                "note": "the most plays of one track in 7 days",
            }
        )
    back = data.get("rediscovery")
    if back:
        cards.append(
            {
                "key": "rediscovery",
                "eyebrow": "Welcome back",
                "big": _n(back["days_silent"]),
                "headline": f"days without {isolate(back['artist']['name'])}",
                "lines": [
                    ["last played", back["last_played_before"]],
                    ["back on", back["back_on"]],
                    ["since then", f"{_n(back['streams'])} streams"],
                ],
                "note": f"{_n(back['rediscovered_artists'])} artists came back after 180 days or more",
            }
        )
    gone = data.get("forgotten_favourite")
    if gone:
        cards.append(
            {
                "key": "forgotten",
                "eyebrow": "Forgotten favourite",
                "big": f"#{gone['former_rank']}",
                "headline": gone["artist"]["name"],
                "lines": [
                    ["streams before", _n(gone["streams_before"])],
                    ["last played", gone["last_played"] or "–"],
                ],
                "note": "once a top artist, not played this time",
            }
        )
    age = data.get("listening_age") or {}
    window = age.get("window")
    if window:
        cards.append(
            {
                "key": "age",
                "eyebrow": "Your listening age",
                "big": str(age["age"]),
                "headline": f"music of {window['start']}–{window['end']}",
                "lines": [
                    ["share of your plays", f"{window['share'] * 100:.0f}%"],
                    ["of the tracks you know", f"{(window['baseline_share'] or 0) * 100:.0f}%"],
                ],
                "note": "as if you were 16 to 21 then; compared with the tracks you played before, "
                "not with other listeners",
            }
        )
    albums = data.get("top_new_albums") or []
    if albums:
        cards.append(
            {
                "key": "new-albums",
                "eyebrow": "New albums you listened to",
                "big": "",
                "headline": albums[0]["name"],
                "lines": [
                    [a["name"], f"{a['tracks_streamed']}/{a['total_tracks']} tracks"] for a in albums[:5]
                ],
                "note": "released in this period; most of their tracks streamed",
            }
        )
    return cards
