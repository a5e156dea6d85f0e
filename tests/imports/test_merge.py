"""Property tests of the merge rules (brapped.imports.merge.decide), independent of any database."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from brapped.imports.merge import (
    COVERED,
    KNOWN,
    MERGED,
    NEW,
    REPLACED,
    TOLERANCE_MS,
    Decision,
    Incoming,
    Stored,
    decide,
)

T0 = 1_700_000_000_000  # Unix ms
API_MIN_MS = 30_000


@dataclass(frozen=True)
class Play:
    end_ms: int
    track: str
    ms_played: int


@st.composite
def listening(draw: st.DrawFn) -> list[Play]:
    """One listener's plays: back to back (a play ends at least its length after the previous)."""
    count = draw(st.integers(0, 40))
    plays: list[Play] = []
    end = T0
    for _ in range(count):
        ms = draw(st.one_of(st.integers(0, 29_999), st.integers(30_000, 400_000)))
        pause = draw(st.integers(0, 120_000))
        end += ms + pause + 1
        plays.append(Play(end, draw(st.sampled_from("abc")), ms))
    return plays


def _export_end(play: Play, seen: set[tuple[int, str]]) -> int:
    # The export's ts is the end cut to the second; equal (ts, track) pairs are spread by 1 ms
    # as the reader does.
    end = play.end_ms // 1000 * 1000
    while (end, play.track) in seen:
        end += 1
    seen.add((end, play.track))
    return end


def _incoming(plays: list[Play]) -> list[Incoming]:
    seen: set[tuple[int, str]] = set()
    return [Incoming(_export_end(p, seen), p.track, "extended", p.ms_played, p.track, None) for p in plays]


def _api(plays: list[Play]) -> list[Stored]:
    return [
        Stored(i, p.end_ms, p.track, "api", None, None, False, p.track)
        for i, p in enumerate(plays)
        if p.ms_played >= API_MIN_MS
    ]


def _after(incoming: list[Incoming], stored: list[Stored], decisions: list[Decision]) -> list[Stored]:
    """What the database holds after applying `decisions` (as the pipeline does)."""
    by_id = {s.play_id: s for s in stored}
    result = {s.play_id: s for s in stored}
    next_id = 10_000
    for row, d in zip(incoming, decisions, strict=True):
        if d.outcome == NEW:
            result[next_id] = Stored(
                next_id, row.end_ms, row.item_id, "export", row.ms_played, "export", False, row.name
            )
            next_id += 1
        elif d.outcome == MERGED:
            assert d.play_id is not None
            old = by_id[d.play_id]
            result[d.play_id] = Stored(
                old.play_id, old.end_ms, old.item_id, "both", row.ms_played, "export", False, old.name
            )
    return list(result.values())


@settings(max_examples=150, deadline=None)
@given(listening())
def test_every_synced_play_merges_with_its_own_export_twin(plays: list[Play]) -> None:
    incoming = _incoming(plays)
    stored = _api(plays)
    decisions = decide(incoming, stored)
    for play, d in zip(plays, decisions, strict=True):
        if play.ms_played >= API_MIN_MS:
            # The merged play is this one: same index as the API play made from it.
            assert d == Decision(MERGED, plays.index(play)), (play, d)
        else:
            assert d == Decision(NEW)
    matched = [d.play_id for d in decisions if d.play_id is not None]
    assert len(matched) == len(set(matched))  # each stored play at most once


@settings(max_examples=100, deadline=None)
@given(listening())
def test_importing_the_same_export_again_adds_nothing(plays: list[Play]) -> None:
    incoming = _incoming(plays)
    stored = _api(plays)
    after = _after(incoming, stored, decide(incoming, stored))
    assert len(after) == len(plays)
    again = decide(incoming, after)
    assert [d.outcome for d in again] == [KNOWN] * len(plays)
    assert len({d.play_id for d in again}) == len(plays)


@settings(max_examples=100, deadline=None)
@given(listening(), st.integers(-TOLERANCE_MS + 1, TOLERANCE_MS - 1))
def test_an_export_play_matches_within_the_tolerance_and_not_beyond(plays: list[Play], shift: int) -> None:
    play = Play(T0 + 10_000_000, "z", 200_000)
    stored = [Stored(1, play.end_ms, "z", "api", None, None, False, "z")]
    inside = decide([Incoming(play.end_ms + shift, "z", "extended", 200_000, "z", None)], stored)
    assert inside == [Decision(MERGED, 1)]
    for outside in (TOLERANCE_MS, -TOLERANCE_MS):
        beyond = decide([Incoming(play.end_ms + outside, "z", "extended", 200_000, "z", None)], stored)
        assert beyond == [Decision(NEW)]


@settings(max_examples=100, deadline=None)
@given(listening())
def test_account_data_is_covered_by_extended_and_replaced_by_it(plays: list[Play]) -> None:
    seen: set[tuple[int, str]] = set()
    extended = [
        Stored(i, _export_end(p, seen), p.track, "export", p.ms_played, "export", False, p.track)
        for i, p in enumerate(plays)
    ]
    minute_seen: set[tuple[int, str]] = set()
    account: list[Incoming] = []
    for p in plays:
        end = p.end_ms // 60_000 * 60_000
        while (end, "name:" + p.track) in minute_seen:
            end += 1
        minute_seen.add((end, "name:" + p.track))
        account.append(Incoming(end, "name:" + p.track, "account", p.ms_played, p.track, p.track))
    # Extended first: every account row is covered, each by a different play.
    covered = decide(account, extended)
    assert {d.outcome for d in covered} <= {COVERED}
    assert len({d.play_id for d in covered}) == len(plays)
    # Account data first: every extended play replaces one account-data play.
    stored_account = [
        Stored(100 + i, a.end_ms, a.item_id, "export", a.ms_played, "export", True, a.name)
        for i, a in enumerate(account)
    ]
    incoming = [Incoming(s.end_ms, s.item_id, "extended", s.ms_played or 0, s.name, None) for s in extended]
    replaced = decide(incoming, stored_account)
    assert {d.outcome for d in replaced} <= {REPLACED}
    assert len({d.play_id for d in replaced}) == len(plays)


@settings(max_examples=100, deadline=None)
@given(listening())
def test_account_data_of_a_renamed_track_is_one_play_from_30_seconds(plays: list[Play]) -> None:
    """The track renamed between the two downloads: a row of 30 s or more is still its play (the
    same minute and milliseconds), either way round; a shorter one must agree on the name."""
    seen: set[tuple[int, str]] = set()
    extended = [
        Stored(i, _export_end(p, seen), p.track, "export", p.ms_played, "export", False, p.track)
        for i, p in enumerate(plays)
    ]
    account = [
        Incoming(
            p.end_ms // 60_000 * 60_000 + i % 7, f"name:{i}", "account", p.ms_played, p.track + " live", None
        )
        for i, p in enumerate(plays)
    ]
    long = [p.ms_played >= API_MIN_MS for p in plays]
    covered = decide(account, extended)
    assert [d.outcome for d in covered] == [COVERED if is_long else NEW for is_long in long]
    matched = [d.play_id for d in covered if d.play_id is not None]
    assert len(matched) == len(set(matched))
    stored_account = [
        Stored(100 + i, a.end_ms, a.item_id, "export", a.ms_played, "export", True, a.name)
        for i, a in enumerate(account)
    ]
    incoming = [Incoming(s.end_ms, s.item_id, "extended", s.ms_played or 0, s.name, None) for s in extended]
    replaced = decide(incoming, stored_account)
    assert [d.outcome for d in replaced] == [REPLACED if is_long else NEW for is_long in long]
    matched = [d.play_id for d in replaced if d.play_id is not None]
    assert len(matched) == len(set(matched))


def test_a_play_of_the_same_name_goes_before_a_renamed_one() -> None:
    # Two plays of equal length ending in one minute: the row takes the one of its own name.
    stored = [
        Stored(1, T0 + 10_000, "x", "export", 200_000, "export", False, "other"),
        Stored(2, T0 + 50_000, "y", "export", 200_000, "export", False, "song"),
    ]
    row = Incoming(T0 // 60_000 * 60_000, "name:song", "account", 200_000, "song", "band")
    assert decide([row], stored) == [Decision(COVERED, 2)]
    # With one candidate of another name only, it is taken; with another length, nothing is.
    assert decide([row], stored[:1]) == [Decision(COVERED, 1)]
    shorter = Incoming(row.end_ms, row.item_id, "account", 199_999, "song", "band")
    assert decide([shorter], stored[:1]) == [Decision(NEW)]


def test_a_merged_play_takes_export_fields_only_when_it_has_none() -> None:
    # A play merged from account data has no export fields: the extended row fills them in. One
    # that has them (merged from another extended file) keeps them: reading the same play again, in
    # another cut of the files, changes nothing.
    row = Incoming(T0, "t", "extended", 200_000, "t", None)
    bare = Stored(1, T0 + 300, "t", "both", 200_000, "export", False, "t")
    detailed = Stored(1, T0 + 300, "t", "both", 200_000, "export", False, "t", detailed=True)
    assert decide([row], [bare]) == [Decision(KNOWN, 1, refresh=True)]
    assert decide([row], [detailed]) == [Decision(KNOWN, 1)]
