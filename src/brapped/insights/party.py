"""A Wrapped party: up to nine listeners of one database, awards for each, and a label for the group.

Every member's numbers have the definitions of their own Wrapped for the period, so the party agrees
with each member's Wrapped; they are read for all members at once (brapped.insights.party_sums), not
through a whole Wrapped each. The group label uses the compare score (brapped.insights.compare) of
every pair, from the same sums. When the period is closed the members' numbers and the pairs are
kept (brapped.insights.report_cache). Definitions of every award and label: docs/reports.md, "party".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sqlalchemy import Connection

from brapped.insights import report_cache
from brapped.insights.compare import CompareError, display_names, known_users, score
from brapped.insights.party_sums import member_sums
from brapped.insights.period import Period

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


def _clock_share(member: dict[str, Any], hours: frozenset[int]) -> float | None:
    return _share(sum(member["plays_by_hour"][h] for h in hours), member["plays"])


def _top_plays(item: dict[str, Any] | None) -> int | None:
    return item["plays"] if item else None


# Each value from a member's numbers (`party_sums.member_sums`), named after their Wrapped's keys.
AWARDS: tuple[Award, ...] = (
    Award("explorer", "The Explorer", "count", lambda m: m["distinct_artists"]),
    Award(
        "picky_listener",
        "The Picky Listener",
        "share",
        lambda m: _share(m["plays"] - m["streams"], m["plays"]),
    ),
    Award(
        "loyalist", "The Loyalist", "share", lambda m: _share(_top_plays(m["top_artist"]) or 0, m["plays"])
    ),
    Award("early_bird", "The Early Bird", "share", lambda m: _clock_share(m, EARLY_HOURS)),
    Award("night_owl", "The Night Owl", "share", lambda m: _clock_share(m, NIGHT_HOURS)),
    Award("marathoner", "The Marathoner", "minutes", lambda m: m["longest_session_minutes"]),
    Award("obsessed", "The Obsessed", "plays", lambda m: _top_plays(m["top_track"])),
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
    settings = {"stream_threshold_ms": stream_threshold_ms, "session_gap_minutes": session_gap_minutes}
    kept = report_cache.through(
        conn,
        report_cache.key("party", period, users=chosen, **settings),
        period,
        lambda: _numbers(conn, period, chosen, **settings),
    )
    numbers: dict[str, dict[str, Any]] = kept["members"]
    members = [u for u in chosen if u in numbers]
    if len(members) > MAX_MEMBERS:
        raise CompareError(
            f"a party has at most {MAX_MEMBERS} members and {len(members)} listened in this period: "
            "choose them with --user"
        )
    pairs: list[dict[str, Any]] = kept["pairs"]
    # Nobody listened: there is no group to label ("solo" is one member).
    label, mean = group_label(pairs) if members else (None, None)
    names = display_names(conn, members)
    return {
        "period": period.as_dict(),
        "members": [_member(u, names.get(u), numbers[u]) for u in members],
        "awards": [_award(award, members, numbers, names) for award in AWARDS],
        "group": {"label": label, "mean_score": mean, "pairs": pairs},
    }


def _numbers(
    conn: Connection,
    period: Period,
    chosen: Sequence[str],
    *,
    stream_threshold_ms: int,
    session_gap_minutes: int,
) -> dict[str, Any]:
    """The numbers of every chosen listener with plays in the period, and the compare score and
    shared artists of every pair of them (more than `MAX_MEMBERS` is the caller's error)."""
    numbers, artists = member_sums(
        conn,
        period,
        chosen,
        stream_threshold_ms=stream_threshold_ms,
        session_gap_minutes=session_gap_minutes,
    )
    members = [u for u in chosen if u in numbers]
    pairs = [
        {
            "a": a,
            "b": b,
            "score": score(artists[a], artists[b]),
            "shared_artists": len(artists[a].keys() & artists[b].keys()),
        }
        for a, b in combinations(members, 2)
    ]
    return {"members": numbers, "pairs": pairs}


def _member(user: str, name: str | None, numbers: dict[str, Any]) -> dict[str, Any]:
    top_artist, top_track = numbers["top_artist"], numbers["top_track"]
    return {
        "user_id": user,
        "display_name": name,
        "plays": numbers["plays"],
        "minutes_listened": numbers["minutes_listened"],
        "top_artist": {"id": top_artist["id"], "name": top_artist["name"]} if top_artist else None,
        "top_track": {"id": top_track["id"], "name": top_track["name"]} if top_track else None,
    }


def _award(
    award: Award, members: Sequence[str], numbers: dict[str, dict[str, Any]], names: dict[str, str | None]
) -> dict[str, Any]:
    """The member with the highest value (a tie goes to the one with more plays, then the lower id);
    no winner when nobody has a value above zero."""
    scored = [(award.value(numbers[u]), u) for u in members]
    ranked = sorted(
        ((v, u) for v, u in scored if v is not None and v > 0),
        key=lambda vu: (-vu[0], -numbers[vu[1]]["plays"], vu[1]),
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
