"""Wrapped's 2025 figures on real samples, on SQLite and PostgreSQL: each equals a plain-Python count.

The extended streaming history (tests/insights/test_samples.py) gives the race, the obsession, the
rediscovery and the forgotten favourite; it names one artist per play and no release dates. The
real recently-played page (full Track objects: featured artists, albums, release dates, track
counts) gives the weighted credit, the new albums and the listening age. Expected values are
computed here from the JSON alone, never from the database.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from brapped.insights import Period, Scope, top, wrapped
from brapped.insights.highlights import former_top_artists
from brapped.insights.rollups import refresh_store, usable
from brapped.pipeline.catalogue import load_entities
from brapped.spotify.transform import recently_played
from brapped.store import Store, tables
from brapped.store.estimates import update_estimates
from tests.conftest import SAMPLES
from tests.insights.test_samples import TZ, _ended, _records, sample_store  # noqa: F401 (a fixture)

STREAM = 30_000
DAY = timedelta(days=1)


def _local(record: dict[str, Any]) -> datetime:
    return _ended(record).astimezone(ZoneInfo(TZ))


def _in(period: Period, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if period.start <= _local(r).date() <= period.end]


def _artist(record: dict[str, Any]) -> str:
    return str(record["master_metadata_album_artist_name"])


def _sums(records: list[dict[str, Any]], key: Any) -> dict[str, list[int]]:
    """key -> [streams, plays, ms]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in records:
        row = out[key(r)]
        row[0] += r["ms_played"] >= STREAM
        row[1] += 1
        row[2] += r["ms_played"]
    return out


def _ranking(sums: dict[str, list[int]], size: int) -> list[tuple[str, float, int]]:
    """(name, credit, streams), by credit (= streams: one main artist per play), plays, ms, name."""
    rows = sorted(sums.items(), key=lambda kv: (-kv[1][0], -kv[1][1], -kv[1][2], kv[0]))
    return [(name, float(s[0]), s[0]) for name, s in rows[:size]]


def _expected_race(period: Period, records: list[dict[str, Any]]) -> tuple[str, list[tuple[str, Any]]]:
    if period.days <= 92:
        step, ends = "week", []
        day = period.start
        while day <= period.end:
            ends.append((day.isoformat(), min(day + 6 * DAY, period.end)))
            day += 7 * DAY
    else:
        step, ends = "month", []
        day = period.start
        while day <= period.end:
            following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
            ends.append((day.strftime("%Y-%m"), min(following - DAY, period.end)))
            day = following
    inside = _in(period, records)
    frames = [
        (label, _ranking(_sums([r for r in inside if _local(r).date() <= end], _artist), 10))
        for label, end in ends
    ]
    return step, frames


def _expected_obsession(period: Period, records: list[dict[str, Any]]) -> dict[str, Any]:
    per_day: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for r in _in(period, records):
        cell = per_day[(r["spotify_track_uri"].split(":")[2], _local(r).date())]
        cell[0] += 1
        cell[1] += r["ms_played"]
    best: tuple[Any, ...] | None = None
    for track, day in per_day:
        window = [per_day.get((track, day + k * DAY), [0, 0]) for k in range(7)]
        candidate = (-sum(w[0] for w in window), -sum(w[1] for w in window), day, track)
        best = candidate if best is None or candidate < best else best
    assert best is not None
    plays, _, start, track = best
    return {
        "id": track,
        "plays": -plays,
        "start": start.isoformat(),
        "end": min(start + 6 * DAY, period.end).isoformat(),
    }


def _expected_rediscovery(period: Period, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    start = period.start_utc
    inside = _in(period, records)
    sums = _sums(inside, _artist)
    found = []
    for name in sums:
        first = min(_ended(r) for r in inside if _artist(r) == name)
        earlier = [_ended(r) for r in records if _artist(r) == name and _ended(r) < start]
        if earlier and first - max(earlier) >= timedelta(days=180):
            found.append((name, max(earlier), first))
    if not found:
        return None
    found.sort(key=lambda f: (-sums[f[0]][0], -sums[f[0]][1], -(f[2] - f[1]), f[0]))
    name, last, first = found[0]
    tz = ZoneInfo(TZ)
    return {
        "name": name,
        "last_played_before": last.astimezone(tz).date().isoformat(),
        "back_on": first.astimezone(tz).date().isoformat(),
        "days_silent": (first - last) // DAY,
        "streams": sums[name][0],
        "rediscovered_artists": len(found),
    }


def _expected_forgotten(period: Period, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    before = [r for r in records if _ended(r) < period.start_utc]
    former = _ranking(_sums(before, _artist), 10)
    present = {_artist(r) for r in _in(period, records)}
    for rank, (name, _, streams) in enumerate(former, 1):
        if name not in present:
            last = max(_local(r) for r in before if _artist(r) == name)
            return {
                "name": name,
                "former_rank": rank,
                "streams_before": streams,
                "last_played": last.date().isoformat(),
            }
    return None


PERIODS = [
    Period.year(2024, TZ),  # monthly race, August to December with plays
    Period(date(2024, 9, 1), date(2024, 10, 20), TZ),  # weekly race
    Period(date(2024, 11, 1), date(2024, 12, 31), TZ),  # a favourite of before is gone
    Period.year(2023, TZ),
]


def test_figures_equal_an_independent_count(sample_store: Store) -> None:  # noqa: F811
    records = _records()
    seen_forgotten = seen_rediscovery = 0
    for period in PERIODS:
        with sample_store.connect() as conn:
            report = wrapped(conn, period, limit=10)
        step, frames = _expected_race(period, records)
        race = report["artist_race"]
        assert race["step"] == step
        assert [
            (f["label"], [(a["name"], a["credit"], a["streams"]) for a in f["ranking"]])
            for f in race["frames"]
        ] == frames
        assert race["frames"][-1]["end"] == period.end.isoformat()

        expected = _expected_obsession(period, records)
        got = report["obsession"]
        assert (got["track"]["id"], got["plays"], got["start"], got["end"]) == tuple(expected.values())

        redisc = _expected_rediscovery(period, records)
        if redisc is None:
            assert report["rediscovery"] is None
        else:
            seen_rediscovery += 1
            got = report["rediscovery"]
            assert {"name": got["artist"]["name"], **{k: got[k] for k in list(redisc)[1:]}} == redisc

        forgotten = _expected_forgotten(period, records)
        if forgotten is None:
            assert report["forgotten_favourite"] is None
        else:
            seen_forgotten += 1
            got = report["forgotten_favourite"]
            assert {"name": got["artist"]["name"], **{k: got[k] for k in list(forgotten)[1:]}} == forgotten
    # The samples hold both cases: the test is not vacuous.
    assert seen_rediscovery and seen_forgotten


def test_former_top_artists_from_the_stored_sums_equal_every_earlier_play(sample_store: Store) -> None:  # noqa: F811
    """With the summaries built, the artists before a recent period are the stored sums less the
    plays since the period's start: the same list as summing every earlier play."""
    records = _records()
    scopes = [Scope.of(p, None, STREAM) for p in PERIODS]
    with sample_store.connect() as conn:
        plain = [former_top_artists(conn, scope) for scope in scopes]
    newest = max(_ended(r) for r in records)
    assert refresh_store(sample_store, TZ, STREAM, newest + DAY).action == "built"
    with sample_store.connect() as conn:
        found = usable(conn, STREAM)
        assert found is not None
        # 1 November 2024 to the cutoff is shorter than the history before it: the stored sums.
        assert PERIODS[2].start_utc <= found.cutoff
        assert found.cutoff - PERIODS[2].start_utc < PERIODS[2].start_utc - found.first_played_at
        assert [former_top_artists(conn, scope) for scope in scopes] == plain
        report = wrapped(conn, PERIODS[2], limit=10)
    expected = _expected_forgotten(PERIODS[2], records)
    if expected is None:
        assert report["forgotten_favourite"] is None
    else:
        got = report["forgotten_favourite"]
        assert {"name": got["artist"]["name"], **{k: got[k] for k in list(expected)[1:]}} == expected


# --- The recently-played page: featured artists, albums, release dates -------------------------------

PAGE = "chekos__spotify-git-scraping__recently_played__2023-01-26_b4503d24_50items.json"


@pytest.fixture
def page_store(store: Store) -> Store:
    items = json.loads((SAMPLES / PAGE).read_text(encoding="utf-8"))["items"]
    batch = recently_played(items, "listener")
    with store.begin() as conn:
        load_entities(conn, batch.entities)
        conn.execute(insert(tables.plays), batch.plays)
        update_estimates(conn, "listener")
    return store


def _page_plays() -> list[dict[str, Any]]:
    """Every play of the page with the estimate brapped documents (docs/accuracy.md): the smaller
    of the track's length and the time since the previous play ended (the length for the first)."""
    items = json.loads((SAMPLES / PAGE).read_text(encoding="utf-8"))["items"]
    items = sorted(items, key=lambda i: i["played_at"])
    out, previous = [], None
    for item in items:
        ended = datetime.fromisoformat(item["played_at"].replace("Z", "+00:00"))
        duration = item["track"]["duration_ms"]
        ms = duration if previous is None else min(duration, round((ended - previous).total_seconds() * 1000))
        out.append({"ended": ended, "track": item["track"], "ms": ms})
        previous = ended
    return out


JANUARY = Period(date(2023, 1, 1), date(2023, 1, 31), "UTC")


def test_weighted_credit_equals_an_independent_count(page_store: Store) -> None:
    sums: dict[str, list[Any]] = defaultdict(lambda: [0.0, 0, 0, 0, ""])  # credit, streams, plays, ms, name
    for p in _page_plays():
        for position, artist in enumerate(p["track"]["artists"]):
            row = sums[artist["id"]]
            row[0] += (1 if position == 0 else 0.5) * (p["ms"] >= STREAM)
            row[1] += p["ms"] >= STREAM
            row[2] += 1
            row[3] += p["ms"]
            row[4] = artist["name"]
    expected = sorted(
        sums.items(), key=lambda kv: (-kv[1][0], -kv[1][1], -kv[1][2], -kv[1][3], kv[1][4], kv[0])
    )
    featured = [a for a, s in sums.items() if s[0] != s[1]]
    assert featured, "the page has featured artists"
    with page_store.connect() as conn:
        by_credit = top(conn, "artists", Scope(), by="credit", limit=15)
        report = wrapped(conn, JANUARY, limit=15)
        by_plays = top(conn, "artists", Scope(), by="plays", limit=5)
    want = [(a, s[0], s[1]) for a, s in expected[:15]]
    assert [(a["id"], a["credit"], a["streams"]) for a in by_credit] == want
    assert [(a["id"], a["credit"], a["streams"]) for a in report["top_artists"]] == want
    # The old measure stays: by plays, every credit counts once.
    by_count = sorted(sums.items(), key=lambda kv: (-kv[1][2], -kv[1][3], kv[1][4], kv[0]))
    assert [(a["id"], a["plays"]) for a in by_plays] == [(a, s[2]) for a, s in by_count[:5]]


def _padded(release: str) -> str:
    return release + {4: "-01-01", 7: "-01"}.get(len(release), "")


def test_new_albums_and_listening_age_equal_an_independent_count(page_store: Store) -> None:
    page = _page_plays()
    streamed: dict[str, set[str]] = defaultdict(set)
    album_streams: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    albums = {}
    for p in page:
        album = p["track"]["album"]
        albums[album["id"]] = album
        if p["ms"] >= STREAM:
            streamed[album["id"]].add(p["track"]["id"])
        row = album_streams[album["id"]]
        row[0] += p["ms"] >= STREAM
        row[1] += 1
        row[2] += p["ms"]
    new = [
        a
        for a in albums.values()
        if "2023-01-01" <= _padded(a["release_date"]) <= "2023-01-31"
        and len(streamed[a["id"]]) * 2 > a["total_tracks"]
    ]
    new.sort(
        key=lambda a: (
            -album_streams[a["id"]][0],
            -album_streams[a["id"]][1],
            -album_streams[a["id"]][2],
            a["name"],
        )
    )
    with page_store.connect() as conn:
        report = wrapped(conn, JANUARY)
        # 2022: albums of that year, most of whose tracks were streamed (in January 2023's plays? no:
        # none of 2022's plays exist, so a 2022 Wrapped has none).
        earlier = wrapped(conn, Period.year(2022, "UTC"))
    assert new, "the page holds a January 2023 single"
    assert [(a["id"], a["tracks_streamed"], a["total_tracks"]) for a in report["top_new_albums"]] == [
        (a["id"], len(streamed[a["id"]]), a["total_tracks"]) for a in new
    ]
    assert earlier["top_new_albums"] == []

    # Listening age: each play a vote for its album's year, against every track played until the
    # period's end, once (all the page's plays are in January 2023).
    votes: dict[int, int] = defaultdict(int)
    for p in page:
        votes[int(p["track"]["album"]["release_date"][:4])] += 1
    catalogue: dict[int, int] = defaultdict(int)
    for track in {p["track"]["id"]: p["track"] for p in page}.values():
        catalogue[int(track["album"]["release_date"][:4])] += 1
    total, base_total = sum(votes.values()), sum(catalogue.values())
    best = None
    for start in range(min(votes) - 4, max(votes) + 1):
        years = range(start, start + 5)
        inside = sum(votes[y] for y in years)
        share, base = inside / total, sum(catalogue[y] for y in years) / base_total
        if share < 0.1 or not base:
            continue
        centre = abs(start + 2 - sum(y * votes[y] for y in years) / inside)
        key = (round(share / base, 9), share, -centre, -start)
        best = key if best is None or key > best else best
    assert best is not None
    start = -best[3]
    expanded = sorted(y for y, n in votes.items() for _ in range(n))
    middle = len(expanded) // 2
    median = float(expanded[middle]) if len(expanded) % 2 else (expanded[middle - 1] + expanded[middle]) / 2
    age = report["listening_age"]
    assert age["median_release_year"] == median
    assert age["window"]["start"] == start and age["window"]["end"] == start + 4
    assert age["window"]["index"] == round(best[0], 4)
    assert age["born_around"] == start - 16 and age["age"] == 2023 - (start - 16)
    assert age["baseline_tracks_with_release_year"] == base_total
    assert age["compared_with"] == "played_tracks"
