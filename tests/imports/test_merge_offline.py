"""The merge rules for offline plays (brapped.imports.merge.decide), independent of any database.

An offline play is imported at its real end, `offline_timestamp + ms_played`; the API reports it
at its end too, which counts any pause, so its twin is up to a pause later, never after the export
reported the play.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from brapped.imports.merge import KNOWN, MERGED, NEW, OFFLINE_PAUSE_MS, Decision, Incoming, Stored, decide

T0 = 1_700_000_000_000  # Unix ms, a whole second
HOUR = 3_600_000


def _api(play_id: int, end_ms: int, track: str = "t") -> Stored:
    return Stored(play_id, end_ms, track, "api", None, "estimate", False, track)


def _offline(end_ms: int, reported_ms: int | None, track: str = "t", ms: int = 200_000) -> Incoming:
    return Incoming(end_ms, track, "extended", ms, track, None, reported_ms)


def _merged(play_id: int) -> Decision:
    return Decision(MERGED, play_id)


def test_offline_twins_within_the_pause_merge_beyond_stay_apart() -> None:
    reported = T0 + 5 * HOUR
    for pause in (0, 900, 4_999, 90_000, OFFLINE_PAUSE_MS - 1):
        assert decide([_offline(T0, reported)], [_api(1, T0 + pause)]) == [_merged(1)]
    # Past the pause allowed, or after the play was reported: another play.
    assert decide([_offline(T0, reported)], [_api(1, T0 + OFFLINE_PAUSE_MS + 5_000)])[0].outcome == NEW
    assert decide([_offline(T0, T0 + 60_000)], [_api(1, T0 + 120_000)])[0].outcome == NEW
    # Earlier than the play could have ended: only within the usual tolerance.
    assert decide([_offline(T0, reported)], [_api(1, T0 - 4_000)]) == [_merged(1)]
    assert decide([_offline(T0, reported)], [_api(1, T0 - 6_000)])[0].outcome == NEW
    # An online play keeps the usual tolerance: a minute later is another play.
    assert decide([_offline(T0, None)], [_api(1, T0 + 60_000)])[0].outcome == NEW


def test_the_same_offline_play_from_endsong_and_newer_files_is_known() -> None:
    # endsong gives the start to the millisecond, newer files to the second: ends under 1 s apart.
    stored = [Stored(7, T0 + 123, "t", "export", 200_000, "export", False, "t")]
    assert decide([_offline(T0, T0 + HOUR)], stored)[0].outcome == KNOWN
    assert decide([_offline(T0 - 1_000, T0 + HOUR)], stored)[0].outcome == NEW  # not the same end
    assert decide([_offline(T0, T0 + HOUR, ms=199_000)], stored)[0].outcome == NEW  # not the same ms


def test_the_same_offline_play_is_known_whichever_format_was_read_first() -> None:
    # Stored from endsong, moved to its real end (to the millisecond); a newer file that does not
    # mark the play offline gives its end to the second: the same play.
    moved = [Stored(7, T0 + 159, "t", "export", 200_000, "export", False, "t", moved=True)]
    assert decide([_offline(T0, None)], moved) == [Decision(KNOWN, 7)]
    assert decide([_offline(T0 - 1_000, None)], moved)[0].outcome == NEW  # not the same end
    assert decide([_offline(T0, None, ms=199_000)], moved)[0].outcome == NEW  # not the same ms
    # Neither moved: two plays under a second apart are two plays (each has its own exact key).
    online = [Stored(7, T0 + 159, "t", "export", 200_000, "export", False, "t")]
    assert decide([_offline(T0, None)], online)[0].outcome == NEW


@st.composite
def offline_session(draw: st.DrawFn) -> tuple[list[Incoming], list[Stored], dict[int, int]]:
    """An offline session: plays back to back with pauses, all reported at once afterwards; the
    API holds each play of 30 s or more at its real end (start + ms + pause)."""
    count = draw(st.integers(1, 25))
    start = T0
    incoming: list[Incoming] = []
    stored: list[Stored] = []
    twin: dict[int, int] = {}
    plays = []
    for _ in range(count):
        ms = draw(st.one_of(st.integers(0, 29_999), st.integers(30_000, 400_000)))
        pause = draw(st.one_of(st.just(0), st.integers(0, OFFLINE_PAUSE_MS - 1)))
        track = draw(st.sampled_from("ab"))
        plays.append((start, ms, pause, track))
        start += ms + pause + draw(st.integers(1, 1_200))
    reported = start + draw(st.integers(60_000, 8 * HOUR))
    for index, (begin, ms, pause, track) in enumerate(plays):
        # The file's start is cut to the second.
        incoming.append(_offline(begin // 1000 * 1000 + ms, reported, track, ms))
        if ms >= 30_000:
            twin[index] = len(stored)
            stored.append(_api(len(stored), begin + ms + pause, track))
    return incoming, stored, twin


@settings(max_examples=300, deadline=None)
@given(offline_session())
def test_each_synced_offline_play_merges_once(
    session: tuple[list[Incoming], list[Stored], dict[int, int]],
) -> None:
    incoming, stored, twin = session
    decisions = decide(incoming, stored)
    merged = [d.play_id for d in decisions if d.outcome == MERGED]
    # Every API play is taken exactly once and nothing else merges: the count is right.
    assert sorted(merged) == sorted(s.play_id for s in stored)
    assert sum(d.outcome == NEW for d in decisions) == len(incoming) - len(stored)
    # A track played once in the session merges with its own twin.
    tracks = [row.item_id for row in incoming]
    for index, play_id in twin.items():
        if tracks.count(tracks[index]) == 1:
            assert decisions[index] == _merged(play_id)
