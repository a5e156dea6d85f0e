"""The Top Song Quiz of a Wrapped story: which of four songs was the period's #1?

The choices are the real #1 and the next three of the top list (the closest contenders, so the
question is a real one), in an order mixed by a hash of the period and the track: the same page
every time it is rendered (cacheable, testable), a different order from one period to the next.
"""

from __future__ import annotations

import hashlib
from typing import Any

from brapped.web.bidi import balanced

CHOICES = 4


def _mix(period: dict[str, str], track_id: str) -> str:
    key = f"{period['start']}/{period['end']}/{track_id}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def top_song_quiz(data: dict[str, Any]) -> dict[str, Any] | None:
    """The quiz of a Wrapped report, or None when it has fewer than two top tracks.

    `choices`: name, artists (a list of names), rank and streams of each; `answer`: the index of the #1.
    """
    top = (data.get("top_tracks") or [])[:CHOICES]
    if len(top) < 2:
        return None
    period = data["period"]
    mixed = sorted(top, key=lambda row: _mix(period, str(row["id"])))
    choices = [
        {
            # Names as the page shows them, each in a <bdi> (brapped.web.bidi): quiz.js writes them
            # into its answer as they are.
            "name": balanced(row["name"]),
            "artists": [balanced(a["name"]) for a in row.get("artists") or []],
            "rank": row["rank"],
            "streams": row.get("streams", row["plays"]),
        }
        for row in mixed
    ]
    answer = next(i for i, row in enumerate(mixed) if row is top[0])
    return {"question": "Which song did you stream the most?", "choices": choices, "answer": answer}
