"""Which of a file's plays are new, known, merged or replaced: the stored plays near the file, put
to the merge rules (`brapped.imports.merge`, docs/merge.md) with the file's plays near them."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from sqlalchemy import Connection

from brapped import identity
from brapped.imports import EpisodeRow, MusicColumns, MusicRow, parse_stored
from brapped.imports.merge import KNOWN, NEW, OFFLINE_PAUSE_MS, Decision, Incoming, Stored, decide
from brapped.imports.staging import StagedFile, image_rows
from brapped.store import staged_plays, stored_plays

# Plays stored this close to a file's first/last play can still be the same play (account data's
# minute precision, the merge tolerance).
MARGIN = timedelta(minutes=3)
_MARGIN_MS = 3 * 60_000
# An offline play's API twin, up to a pause later, must be within the look-around.
assert OFFLINE_PAUSE_MS <= _MARGIN_MS

_played_at = itemgetter(0)  # of a MusicRow or an EpisodeRow


def stored_music(conn: Connection, user_id: str, start: datetime, end: datetime) -> list[Stored]:
    """The user's music plays ending in [start, end], as the merge rules need them."""
    rows = stored_plays.music_plays_between(conn, user_id, start, end)
    api_tracks = {r.track_id for r in rows if r.source == "api"}
    names: dict[str, set[str]] = defaultdict(set)
    for track_id, artist_name in stored_plays.artist_names(conn, api_tracks):
        names[track_id].add(identity.normalise(artist_name))
    normalised: dict[str, str] = {}
    artist_sets: dict[str, frozenset[str]] = {}

    def norm(name: str) -> str:
        found = normalised.get(name)
        if found is None:
            found = normalised[name] = identity.normalise(name)
        return found

    def credits(track_id: str) -> frozenset[str]:
        found = artist_sets.get(track_id)
        if found is None:
            found = artist_sets[track_id] = frozenset(names.get(track_id, ()))
        return found

    return [
        Stored(
            play_id=int(r.id),
            end_ms=_epoch_ms(r.played_at),
            item_id=r.track_id,
            source=r.source,
            ms_played=r.ms_played,
            ms_source=r.ms_played_source,
            synthetic=r.track_id.startswith(identity.PREFIX),
            name=norm(r.name),
            artists=credits(r.track_id),
            moved=r.reported_at is not None,
            detailed=bool(r.detailed),
        )
        for r in rows
    ]


def stored_episodes(conn: Connection, user_id: str, start: datetime, end: datetime) -> list[Stored]:
    """The user's episode plays ending in [start, end], as the merge rules need them."""
    return [
        Stored(
            play_id=int(r.id),
            end_ms=_epoch_ms(r.played_at),
            item_id=r.episode_id,
            source=r.source,
            ms_played=r.ms_played,
            ms_source=r.ms_played_source,
            synthetic=identity.is_synthetic(r.episode_id),
            name=identity.normalise(r.name),
            artists=frozenset({identity.normalise(r.show_name)} if r.show_name else ()),
        )
        for r in stored_plays.episode_plays_between(conn, user_id, start, end)
    ]


def _epoch_ms(when: datetime) -> int:
    # Stored instants are whole milliseconds already.
    return round(when.timestamp() * 1000)


def _window(rows: Sequence[MusicRow] | Sequence[EpisodeRow]) -> tuple[datetime, datetime]:
    first = min(map(_played_at, rows))
    last = max(map(_played_at, rows))
    return parse_stored(first) - MARGIN, parse_stored(last) + MARGIN


def _end_ms(text: str) -> int:
    return round(parse_stored(text).timestamp() * 1000)


def _stored_text(end_ms: int) -> str:
    when = datetime.fromtimestamp(end_ms / 1000, UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S") + f".{when.microsecond // 1000:03d}"


def _bands(stored: Sequence[Stored]) -> list[list[int]]:
    # Near each stored play, not between the first and the last: a file whose both ends touch
    # stored files is near only there.
    bands: list[list[int]] = []
    for end_ms in sorted(s.end_ms for s in stored):
        if bands and end_ms - _MARGIN_MS <= bands[-1][1]:
            bands[-1][1] = end_ms + _MARGIN_MS
        else:
            bands.append([end_ms - _MARGIN_MS, end_ms + _MARGIN_MS])
    return bands


def _spans(stored: Sequence[Stored]) -> list[tuple[str, str]]:
    """The periods (stored text) within the merge tolerance of the stored plays."""
    return [(_stored_text(low), _stored_text(high)) for low, high in _bands(stored)]


def decide_music(conn: Connection, user: str, rows: Sequence[MusicRow]) -> tuple[list[Decision] | None, bool]:
    """A decision per row, or None when nothing is stored in the rows' period (all are new); and
    whether a row decided new has the key of a stored play (which only ON CONFLICT then skips)."""
    start, end = _window(rows)
    # The merge rules' first step (the same export play again: same end, same track) as one
    # dictionary lookup per row against the stored keys; only the rows left over, usually none on a
    # re-import and all on a first import, go through the neighbour rules. Each row's key is
    # distinct (the readers spread equal ends) and so is each stored play's (the unique key), so
    # the exact matches cannot compete, and leaving the matched plays out of the rest's candidates
    # is what `decide` does with them (used plays are never matched twice).
    exact = stored_plays.export_keys(conn, user, start, end)
    decisions: list[Decision] = [Decision(NEW)] * len(rows)
    rest = list(range(len(rows)))
    used: set[int] = set()
    if exact:
        get = exact.get
        rest = []
        for i, r in enumerate(rows):
            play_id = get((r.played_at, r.track_id))
            if play_id is None or play_id in used:
                rest.append(i)
            else:
                used.add(play_id)
                decisions[i] = Decision(KNOWN, play_id)
        if not rest:
            return decisions, False
    if used:  # else every row is left, and so is the window
        start, end = _window([rows[i] for i in rest])
    stored = [s for s in stored_music(conn, user, start, end) if s.play_id not in used]
    if not stored:  # the common first import: nothing to compare with
        return (decisions if used else None), False
    names: dict[str, str] = {}

    def norm(name: str | None) -> str | None:
        if name is None:
            return None
        found = names.get(name)
        if found is None:
            found = names[name] = identity.normalise(name)
        return found

    # Only rows near a stored play can match one (consecutive files share a few minutes at their
    # boundary): the others are new without building anything for them. Near each stored play, not
    # between the first and the last: a file whose both ends touch stored files is near only there.
    # (A far row never takes a stored play, so leaving it out changes no other row's decision.)
    bands = _bands(stored)
    lows = [_stored_text(low) for low, _ in bands]
    highs = [_stored_text(high) for _, high in bands]

    def is_near(played_at: str) -> bool:
        band = bisect_right(lows, played_at) - 1
        return band >= 0 and played_at <= highs[band]

    near = [i for i in rest if is_near(rows[i].played_at)]
    incoming = [
        Incoming(
            _end_ms(r.played_at),
            r.track_id,
            r.origin,
            r.ms_played,
            norm(r.track_name) or "",
            norm(r.artist_name),
            r.reported_ms,
        )
        for r in (rows[i] for i in near)
    ]
    for i, decision in zip(near, decide(incoming, stored), strict=True):
        decisions[i] = decision
    # A row far from every stored play cannot share a key with one: only the near ones can clash.
    keys = {(s.end_ms, s.item_id) for s in stored}
    clash = any(
        decisions[i].outcome == NEW and (play.end_ms, play.item_id) in keys
        for i, play in zip(near, incoming, strict=True)
    )
    return decisions, clash


def decide_episodes(conn: Connection, user: str, rows: Sequence[EpisodeRow]) -> list[Decision] | None:
    """A decision per episode row, or None when no export play is stored in the rows' period."""
    start, end = _window(rows)
    stored = [s for s in stored_episodes(conn, user, start, end) if s.source != "api"]
    if not stored:
        return None
    incoming = [
        Incoming(
            _end_ms(r.played_at),
            r.episode_id,
            r.origin,
            r.ms_played,
            identity.normalise(r.name),
            identity.normalise(r.show_name) if r.show_name else None,
        )
        for r in rows
    ]
    # API plays never hold episodes; only export-vs-export rules apply.
    return decide(incoming, stored)


def decide_staged(
    conn: Connection, staged: StagedFile, user: str
) -> tuple[list[tuple[int, MusicRow, Decision]], bool]:
    """Attach a staged file's image and decide its plays near stored ones (a neighbouring file's
    edge, synced plays): read back from the image, decided by the merge rules as `decide_music`
    decides them among all the file's plays (a far play never takes a stored one). Every other
    play is new. Returns (rowid in the image, row, decision) of the near ones, and whether one
    decided new has a stored play's key (see `decide_music`)."""
    if not staged.music or staged.music_first is None or staged.music_last is None:
        return [], False
    start = parse_stored(staged.music_first) - MARGIN
    end = parse_stored(staged.music_last) + MARGIN
    staged_plays.drop_stages(conn, images=True)  # the image's tables have these stages' names
    staged_plays.load_image(conn, staged.image)
    stored = stored_music(conn, user, start, end)
    if not stored:
        return [], False
    with staged_plays.raw_errors(conn, "SELECT ... FROM import_image"):
        found = image_rows(
            conn.connection.dbapi_connection, staged_plays.IMAGE, _spans(stored), staged.dimensions
        )
    if not found:
        return [], False
    decisions, clash = decide_music(conn, user, [row for _, row in found])
    if decisions is None:
        return [], False
    return [(rowid, row, d) for (rowid, row), d in zip(found, decisions, strict=True)], clash


def decide_columns(
    conn: Connection, columns: MusicColumns, user: str
) -> tuple[list[tuple[int, Decision]], bool]:
    """The plays of `columns` near stored ones (see `decide_staged`) with their decisions by the
    merge rules, and whether one decided new has a stored play's key. The others are new."""
    if not len(columns):
        return [], False
    played_at = columns.played_at
    stored = stored_music(
        conn, user, parse_stored(min(played_at)) - MARGIN, parse_stored(max(played_at)) + MARGIN
    )
    if not stored:
        return [], False
    spans = _spans(stored)
    lows, highs = [low for low, _ in spans], [high for _, high in spans]
    near = []
    for index, ended in enumerate(played_at):
        band = bisect_right(lows, ended) - 1
        if band >= 0 and ended <= highs[band]:
            near.append(index)
    if not near:
        return [], False
    decisions, clash = decide_music(conn, user, [columns.row(index) for index in near])
    if decisions is None:
        return [], False
    return list(zip(near, decisions, strict=True)), clash
