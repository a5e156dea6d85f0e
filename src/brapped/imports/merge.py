"""Which imported plays are new, already known, or the same play seen by sync: the merge rules.

Pure functions over plain values (no database): the pipeline fetches the plays already stored in a
file's period, this module decides, the store applies. The rules are explained in docs/merge.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

# An API play and an export play of the same track whose ends are closer than this are one play.
# The export's `ts` is the API's `played_at` cut to the second (measured on the emulator and on the
# samples), so 1 s would do; 5 s also absorbs clocks of devices that report late, and stays far
# below the shortest gap between two plays of one track that both reach the API (30 s).
TOLERANCE_MS = 5_000
# Account data gives the end to the minute: a play of it may be any of the plays ending in the
# minute before, the minute itself or the minute after (rounding is not documented).
MINUTE_MS = 60_000
# Recently-played lists only plays of at least about 30 seconds.
API_MIN_MS = 30_000
# An offline play moved to its real end (`offline_timestamp + ms_played`) ends where the API's end,
# which counts any pause, is or comes later (docs/merge.md, "Offline plays"): its API twin is
# looked for up to this long after it (within the pipeline's look-around of stored plays), and
# never after the export reported it. And the same play read from two formats (endsong counts the
# start in milliseconds, newer files in seconds) ends less than a second apart.
OFFLINE_PAUSE_MS = 3 * 60_000
OFFLINE_ROUNDING_MS = 1_000
# Account data and extended history of one play under two names (a track renamed between the two
# downloads, or between two files of one): the same minute and the same milliseconds, to the
# millisecond, of a play this long, are one play whatever the name says. Such pairs rank after
# every other candidate; shorter plays (skips) must also agree on the name.
RENAMED_MIN_MS = API_MIN_MS
_RENAMED_RANK = 6

NEW = "new"
KNOWN = "known"
MERGED = "merged"
REPLACED = "replaced"
COVERED = "covered"
REFRESHED = "refreshed"  # internal: known, and the stored 'both' play takes the export's fields


class Origin(StrEnum):
    EXTENDED = "extended"  # real Spotify id, ms_played to the millisecond, end to the second
    ACCOUNT = "account"  # name-based id, ms_played, end to the minute


@dataclass(frozen=True, slots=True)
class Incoming:
    """An imported play, reduced to what matching needs."""

    end_ms: int  # played_at as Unix milliseconds
    item_id: str
    origin: str  # 'extended' | 'account'
    ms_played: int
    name: str  # normalised track (or episode) name
    artist: str | None  # normalised artist (or show) name
    reported_ms: int | None = None  # an offline play moved to its real end: when it was reported


@dataclass(frozen=True, slots=True)
class Stored:
    """A play already in the database, reduced to what matching needs."""

    play_id: int
    end_ms: int
    item_id: str
    source: str  # 'api' | 'export' | 'both'
    ms_played: int | None
    ms_source: str | None
    synthetic: bool  # name-based id: an account-data play
    name: str  # normalised track (or episode) name
    artists: frozenset[str] = field(default_factory=frozenset)  # normalised artist/show names
    moved: bool = False  # an offline play moved to its real end (it has a reported time)
    detailed: bool = False  # it has export fields (platform, reasons...): account data has none


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str  # new | known | merged | replaced | covered
    play_id: int | None = None  # the stored play it matched
    refresh: bool = False  # known, but the stored play should take this row's export fields


def decide(incoming: Sequence[Incoming], stored: Iterable[Stored]) -> list[Decision]:
    """One decision per incoming play, in order. Each stored play is matched at most once."""
    decisions: list[Decision | None] = [None] * len(incoming)
    plays = list(stored)
    used: set[int] = set()
    exact = {(s.end_ms, s.item_id): s for s in plays if s.source in ("export", "both")}

    # 1. The same export play again (same end, same id): already known.
    for index, row in enumerate(incoming):
        hit = exact.get((row.end_ms, row.item_id))
        if hit is not None and hit.play_id not in used:
            used.add(hit.play_id)
            decisions[index] = Decision(KNOWN, hit.play_id)

    by_item: dict[str, list[Stored]] = defaultdict(list)
    for s in plays:
        by_item[s.item_id].append(s)
    by_minute: dict[int, list[Stored]] = defaultdict(list)
    for s in plays:
        by_minute[s.end_ms // MINUTE_MS].append(s)

    def near_minute(end_ms: int) -> Iterable[Stored]:
        minute = end_ms // MINUTE_MS
        for m in (minute - 1, minute, minute + 1):
            yield from by_minute.get(m, ())

    # 2. Extended history against what is stored.
    #    a. a 'both' play with the same id and the same measured ms: already known (its export
    #       fields filled in when it has none: merged from account data);
    #    b. an account-data play (name-based id) of the same name, minute and ms: replaced by this
    #       (of another name: only a play of at least RENAMED_MIN_MS, after all else);
    #    c. an API play of the same id within the tolerance: merged (source 'both').
    pairs: list[tuple[int, int, int, str]] = []
    for index, row in enumerate(incoming):
        if decisions[index] is not None or row.origin != Origin.EXTENDED:
            continue
        # An offline play's API twin may end later by a pause, never after it was reported.
        reported = row.reported_ms
        latest = (
            row.end_ms if reported is None else max(row.end_ms, min(reported, row.end_ms + OFFLINE_PAUSE_MS))
        )
        for s in by_item.get(row.item_id, ()):
            delta = abs(s.end_ms - row.end_ms)
            if delta >= TOLERANCE_MS and not (row.end_ms <= s.end_ms < latest + TOLERANCE_MS):
                continue
            measured = s.ms_source == "export" and s.ms_played == row.ms_played
            if s.source == "both" and measured:
                # Its export fields filled in when it has none (merged from account data); else
                # they stay: the same play read again, in another cut of the files, changes nothing.
                pairs.append((0, delta, index, _key(s, KNOWN if s.detailed else REFRESHED)))
            elif (
                s.source == "export"
                and measured
                and (reported is not None or s.moved)
                and delta < OFFLINE_ROUNDING_MS
            ):
                # The same offline play from another format (its start to the ms or the second),
                # whichever of the two was read first.
                pairs.append((0, delta, index, _key(s, KNOWN)))
            elif s.source == "api":
                # A skip under 30 s is never the API's play: it goes after any real candidate.
                pairs.append((2 + 2 * (row.ms_played < API_MIN_MS), delta, index, _key(s, MERGED)))
        for s in near_minute(row.end_ms):
            if s.synthetic and s.source == "export" and s.ms_played == row.ms_played:
                if s.name == row.name:
                    pairs.append((1, abs(s.end_ms - row.end_ms), index, _key(s, REPLACED)))
                elif row.ms_played >= RENAMED_MIN_MS:
                    pairs.append((_RENAMED_RANK, abs(s.end_ms - row.end_ms), index, _key(s, REPLACED)))

    # 3. Account data against what is stored.
    #    a. a play with a real id of the same name, minute and measured ms: covered by extended
    #       history (it wins: it has the real id, the second and the details); of another name,
    #       as in 2b;
    #    b. an API play of the same track name and artist in the minute window: merged.
    for index, row in enumerate(incoming):
        if decisions[index] is not None or row.origin != Origin.ACCOUNT:
            continue
        middle = row.end_ms + MINUTE_MS // 2
        minute = row.end_ms // MINUTE_MS
        for s in near_minute(row.end_ms):
            if s.synthetic:
                continue
            measured = (
                s.source in ("export", "both") and s.ms_source == "export" and s.ms_played == row.ms_played
            )
            if s.name != row.name:
                if measured and row.ms_played >= RENAMED_MIN_MS:
                    pairs.append((_RENAMED_RANK, abs(s.end_ms - middle), index, _key(s, COVERED)))
                continue
            if measured:
                pairs.append((0, abs(s.end_ms - middle), index, _key(s, COVERED)))
            elif s.source == "api" and (row.artist is None or row.artist in s.artists):
                # Prefer the row of the API play's own minute, and plays long enough for the API
                # to report (a skip of the same track in the same minute is the usual decoy).
                rank = 1 + (s.end_ms // MINUTE_MS != minute) + 2 * (row.ms_played < API_MIN_MS)
                pairs.append((rank, abs(s.end_ms - middle), index, _key(s, MERGED)))

    # Nearest first, each side at most once: a greedy assignment, good because candidates of one
    # play are rarely more than one.
    pairs.sort()
    for _rank, _delta, index, key in pairs:
        outcome, play_id = key.split(":", 1)
        pid = int(play_id)
        if decisions[index] is not None or pid in used:
            continue
        used.add(pid)
        if outcome == REFRESHED:
            decisions[index] = Decision(KNOWN, pid, refresh=True)
        else:
            decisions[index] = Decision(outcome, pid)
    return [d if d is not None else Decision(NEW) for d in decisions]


def _key(stored: Stored, outcome: str) -> str:
    return f"{outcome}:{stored.play_id}"
