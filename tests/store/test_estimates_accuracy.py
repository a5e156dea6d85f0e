"""How close is `update_estimates` to the truth? Measured on real extended streaming history.

The export gives each play's end (`ts`) and its true `ms_played`. We keep only what the Web API would
tell brapped — when each play ended, and the track — run the real estimator in the database, and
compare. The export has no track durations; a track's duration is taken as the longest play of it
that ended with `trackdone` (unknown when it was never played to the end).

Two views: every play's end known, and the API's view, where plays shorter than 30 s are missing
(Spotify's recently-played endpoint leaves them out), which makes the gaps before the next play longer.

`python -m tests.store.test_estimates_accuracy` prints the tables of docs/accuracy.md.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from brapped.store import open_store, tables
from brapped.store.estimates import update_estimates
from tests.conftest import SAMPLES

EXTENDED = [
    f"Efrrowini__spotify-music-analysis__Streaming_History_Audio_{y}.json" for y in (2022, 2023, 2024)
]
ACCOUNT = ["hobbies-w-erin__Spotify-Account-Data__StreamingHistory_music_0.json"]


@dataclass(frozen=True)
class Play:
    ended: datetime
    track: str
    true_ms: int
    reason_end: str | None


@dataclass(frozen=True)
class Accuracy:
    plays: int
    median_abs_error_s: float
    p90_abs_error_s: float
    within_10s: float
    total_error: float  # (estimated - true) / true over all plays
    months: int
    median_month_error: float  # median of |estimated - true| / true per calendar month (UTC)
    max_month_error: float


def extended_plays() -> list[Play]:
    plays = []
    for name in EXTENDED:
        for r in json.loads((SAMPLES / name).read_text()):
            if r["spotify_track_uri"]:
                ended = datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
                plays.append(Play(ended, r["spotify_track_uri"], r["ms_played"], r["reason_end"]))
    return plays


def account_plays() -> list[Play]:
    plays = []
    for name in ACCOUNT:
        for r in json.loads((SAMPLES / name).read_text()):
            ended = datetime.strptime(r["endTime"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            plays.append(Play(ended, f"{r['artistName']}\x1f{r['trackName']}", r["msPlayed"], None))
    return plays


def emulator_plays(days: int = 90) -> tuple[list[Play], dict[str, int]]:
    """The emulated listener's true plays (what the API reports: tracks, not incognito, >= 30 s)
    over `days` days, and the catalogue's true durations."""
    from brapped.emulator import EmulatedClock, Emulator

    start = datetime(2026, 1, 1, tzinfo=UTC)
    emulator = Emulator(seed=3, clock=EmulatedClock(start))
    truth = emulator.ground_truth(start, start + timedelta(days=days))
    visible = [t for t in truth if t.kind == "track" and not t.incognito and t.ms_played >= 30_000]
    plays = [Play(t.played_at, t.id, t.ms_played, t.reason_end) for t in visible]
    return plays, {t.id: t.duration_ms for t in visible}


def durations(plays: list[Play]) -> dict[str, int]:
    """Each track's duration as well as the export tells: its longest play that ended with 'trackdone',
    else its longest play at all (a lower bound; the API would give the real duration)."""
    done: dict[str, int] = {}
    longest: dict[str, int] = {}
    for p in plays:
        longest[p.track] = max(longest.get(p.track, 0), p.true_ms)
        if p.reason_end in ("trackdone", None):
            done[p.track] = max(done.get(p.track, 0), p.true_ms)
    return {track: done.get(track) or longest[track] for track in longest}


def estimate(plays: list[Play], db: Path, lengths: dict[str, int] | None = None) -> list[tuple[Play, int]]:
    """Run brapped's estimator on `plays` (ends only) in a fresh SQLite database; (play, estimate)."""
    store = open_store(f"sqlite:///{db}")
    lengths = lengths if lengths is not None else durations(plays)
    ids = {track: f"t{i}" for i, track in enumerate(lengths)}
    seen: set[tuple[datetime, str]] = set()
    kept = []
    for p in sorted(plays, key=lambda p: p.ended):
        key = (p.ended, p.track)
        if key not in seen:  # the API reports one play per (end, track)
            seen.add(key)
            kept.append(p)
    with store.begin() as conn:
        conn.execute(
            insert(tables.tracks),
            [{"id": ids[t], "name": t[:200], "duration_ms": d} for t, d in lengths.items()],
        )
        conn.execute(
            insert(tables.plays),
            [{"user_id": "u", "played_at": p.ended, "track_id": ids[p.track], "source": "api"} for p in kept],
        )
        update_estimates(conn, "u")
    with store.connect() as conn:
        rows = conn.execute(
            select(tables.plays.c.played_at, tables.plays.c.track_id, tables.plays.c.ms_played)
        ).all()
    store.close()
    estimates = {(r.played_at, r.track_id): r.ms_played for r in rows}
    return [(p, estimates[(p.ended, ids[p.track])] or 0) for p in kept]


def accuracy(pairs: list[tuple[Play, int]]) -> Accuracy:
    errors = sorted(abs(est - p.true_ms) / 1000 for p, est in pairs)
    per_month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p, est in pairs:
        month = p.ended.strftime("%Y-%m")
        per_month[month][0] += est
        per_month[month][1] += p.true_ms
    month_errors = [abs(e - t) / t for e, t in per_month.values() if t]
    total_est = sum(est for _, est in pairs)
    total_true = sum(p.true_ms for p, _ in pairs)
    return Accuracy(
        plays=len(pairs),
        median_abs_error_s=round(statistics.median(errors), 1),
        p90_abs_error_s=round(errors[int(0.9 * (len(errors) - 1))], 1),
        within_10s=round(sum(1 for e in errors if e <= 10) / len(errors), 3),
        total_error=round((total_est - total_true) / total_true, 3),
        months=len(month_errors),
        median_month_error=round(statistics.median(month_errors), 3),
        max_month_error=round(max(month_errors), 3),
    )


def evaluate(source: str, api_view: bool, db: Path) -> Accuracy:
    if source == "emulator":
        plays, lengths = emulator_plays()
        return accuracy(estimate(plays, db, lengths))
    plays = extended_plays() if source == "extended" else account_plays()
    if api_view:
        plays = [p for p in plays if p.true_ms >= 30_000]
    return accuracy(estimate(plays, db))


needs_samples = pytest.mark.skipif(
    not all((SAMPLES / n).exists() for n in EXTENDED + ACCOUNT), reason=f"samples not found in {SAMPLES}"
)


# The figures published in docs/accuracy.md: a change to the estimator or the data must update both.
PUBLISHED = {
    ("extended", False): Accuracy(4641, 0.1, 132.3, 0.78, 0.216, 21, 0.241, 4.173),
    ("extended", True): Accuracy(3167, 0.0, 82.5, 0.773, 0.118, 21, 0.133, 4.173),
    ("account", False): Accuracy(9905, 3.2, 50.1, 0.621, 0.024, 8, 0.019, 0.336),
    ("account", True): Accuracy(7871, 2.9, 36.0, 0.644, -0.038, 8, 0.038, 0.06),
}


@needs_samples
@pytest.mark.parametrize(("source", "api_view"), list(PUBLISHED))
def test_published_accuracy_on_real_history(source: str, api_view: bool, tmp_path: Path) -> None:
    assert evaluate(source, api_view, tmp_path / "e.db") == PUBLISHED[(source, api_view)]


def test_emulator_with_true_durations(tmp_path: Path) -> None:
    result = evaluate("emulator", api_view=True, db=tmp_path / "c.db")
    assert result == Accuracy(6257, 0.0, 0.0, 0.994, 0.002, 3, 0.002, 0.003)


def main() -> None:  # pragma: no cover - prints the tables of docs/accuracy.md
    import tempfile

    header = (
        "| data | view | plays | median abs. error | p90 abs. error | within 10 s | total error | "
        "months | median month error | worst month |"
    )
    print(header)
    print("|" + "---|" * 10)
    with tempfile.TemporaryDirectory() as folder:
        for source, views in (("extended", (False, True)), ("account", (False, True)), ("emulator", (True,))):
            for api_view in views:
                r = evaluate(source, api_view, Path(folder) / f"{source}{api_view}.db")
                view = "API (plays >= 30 s)" if api_view else "every play"
                print(
                    f"| {source} | {view} | {r.plays} | {r.median_abs_error_s} s | {r.p90_abs_error_s} s | "
                    f"{r.within_10s:.1%} | {r.total_error:+.1%} | {r.months} | {r.median_month_error:.1%} | "
                    f"{r.max_month_error:.1%} |"
                )


if __name__ == "__main__":  # pragma: no cover
    main()
