"""A Wrapped party: up to nine listeners of one database, awards for each, and a label for the group.

Every member's numbers come from their own Wrapped for the period (`kept_wrapped`: read back when the
period is closed and was computed before), so the party agrees with each member's Wrapped. The group
label uses the compare score (brapped.insights.compare) of every pair, from one grouped read.
Definitions of every award and label: docs/reports.md, "party".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sqlalchemy import Connection

from brapped.insights.compare import CompareError, display_names, known_users, listening, score
from brapped.insights.period import Period
from brapped.insights.wrapped import kept_wrapped

MAX_MEMBERS = 9
EARLY_HOURS = frozenset(range(5, 9))  # 05:00-08:59 local
NIGHT_HOURS = frozenset((22, 23, 0, 1, 2, 3))  # 22:00-03:59 local
COPY_AND_PASTE = 60  # mean pair score at or above which the group is "copy and paste"
KINDRED = 30  # ... "kindred spirits"; below it (but sharing an artist): "eclectic mix"


@dataclass(frozen=True)
class Award:
    award: str
    title: str
    unit: str  # "count" | "share" | "minutes" | "plays"
    value: Callable[[dict[str, Any]], float | int | None]


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _clock_share(report: dict[str, Any], hours: frozenset[int]) -> float | None:
    grid = report["listening_clock"]["plays"]
    part = sum(row[h] for row in grid for h in hours)
    return _share(part, report["plays"])


def _first(items: Sequence[dict[str, Any]], key: str) -> Any:
    return items[0][key] if items else None


AWARDS: tuple[Award, ...] = (
    Award("explorer", "The Explorer", "count", lambda r: r["distinct_artists"]),
    Award(
        "picky_listener",
        "The Picky Listener",
        "share",
        lambda r: _share(r["plays"] - r["streams"], r["plays"]),
    ),
    Award(
        "loyalist",
        "The Loyalist",
        "share",
        lambda r: _share(_first(r["top_artists"], "plays") or 0, r["plays"]),
    ),
    Award("early_bird", "The Early Bird", "share", lambda r: _clock_share(r, EARLY_HOURS)),
    Award("night_owl", "The Night Owl", "share", lambda r: _clock_share(r, NIGHT_HOURS)),
    Award(
        "marathoner",
        "The Marathoner",
        "minutes",
        lambda r: r["longest_session"]["minutes"] if r["longest_session"] else None,
    ),
    Award("obsessed", "The Obsessed", "plays", lambda r: _first(r["top_tracks"], "plays")),
)
AWARD_IDS = tuple(a.award for a in AWARDS)


def group_label(pairs: Sequence[dict[str, Any]]) -> tuple[str, float | None]:
    """The group's label and its mean pair score (None with fewer than two members)."""
    if not pairs:
        return "solo", None
    mean = round(sum(p["score"] for p in pairs) / len(pairs), 1)
    if all(p["shared_artists"] == 0 for p in pairs):
        return "chaos crew", mean
    if mean >= COPY_AND_PASTE:
        return "copy and paste", mean
    if mean >= KINDRED:
        return "kindred spirits", mean
    return "eclectic mix", mean


def party(
    conn: Connection,
    period: Period,
    *,
    user_ids: Sequence[str] | None = None,
    stream_threshold_ms: int = 30_000,
    session_gap_minutes: int = 30,
) -> dict[str, Any]:
    """The party for `period`: members (default: every listener with plays in it, at most nine),
    awards and the group label; keys in docs/reports.md."""
    known = known_users(conn)
    if user_ids:
        chosen = list(dict.fromkeys(user_ids))
        missing = [u for u in chosen if u not in known]
        if missing:
            raise CompareError(f"no listener {missing[0]!r} in the database: `brapped accounts` lists them")
    else:
        chosen = known
    reports = {
        u: kept_wrapped(
            conn,
            period,
            user_id=u,
            stream_threshold_ms=stream_threshold_ms,
            session_gap_minutes=session_gap_minutes,
            limit=5,
        )
        for u in chosen
    }
    members = [u for u in chosen if reports[u]["plays"] > 0]
    if len(members) > MAX_MEMBERS:
        raise CompareError(
            f"a party has at most {MAX_MEMBERS} members and {len(members)} listened in this period: "
            "choose them with --user"
        )
    got = listening(conn, members, period)
    pairs = [
        {
            "a": a,
            "b": b,
            "score": score(got.artists[a], got.artists[b]),
            "shared_artists": len(got.artists[a].keys() & got.artists[b].keys()),
        }
        for a, b in combinations(members, 2)
    ]
    label, mean = group_label(pairs)
    names = display_names(conn, members)
    return {
        "period": period.as_dict(),
        "members": [_member(u, names.get(u), reports[u]) for u in members],
        "awards": [_award(award, members, reports, names) for award in AWARDS],
        "group": {"label": label, "mean_score": mean, "pairs": pairs},
    }


def _member(user: str, name: str | None, report: dict[str, Any]) -> dict[str, Any]:
    top_artist = report["top_artists"][0] if report["top_artists"] else None
    top_track = report["top_tracks"][0] if report["top_tracks"] else None
    return {
        "user_id": user,
        "display_name": name,
        "plays": report["plays"],
        "minutes_listened": report["minutes_listened"],
        "top_artist": {"id": top_artist["id"], "name": top_artist["name"]} if top_artist else None,
        "top_track": {"id": top_track["id"], "name": top_track["name"]} if top_track else None,
    }


def _award(
    award: Award, members: Sequence[str], reports: dict[str, dict[str, Any]], names: dict[str, str | None]
) -> dict[str, Any]:
    """The member with the highest value (a tie goes to the one with more plays, then the lower id);
    no winner when nobody has a value above zero."""
    scored = [(award.value(reports[u]), u) for u in members]
    ranked = sorted(
        ((v, u) for v, u in scored if v is not None and v > 0),
        key=lambda vu: (-vu[0], -reports[vu[1]]["plays"], vu[1]),
    )
    value, winner = ranked[0] if ranked else (None, None)
    return {
        "award": award.award,
        "title": award.title,
        "winner": winner,
        "display_name": names.get(winner) if winner else None,
        "value": value,
        "unit": award.unit,
    }


__all__ = ["AWARDS", "AWARD_IDS", "MAX_MEMBERS", "group_label", "party"]
