"""An import beats between files (runs.heartbeat_at), so that readers on another host can tell it
is alive; at most every `BEAT_EVERY` of its clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.generate import generate_exports
from sqlalchemy import select

from brapped.pipeline.importing import BEAT_EVERY, import_paths
from brapped.store import Store
from brapped.store.tables import runs

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


class SteppingClock:
    """A clock that moves on `step` every time it is read."""

    def __init__(self, step: timedelta) -> None:
        self.current = START
        self.step = step

    def now(self) -> datetime:
        self.current += self.step
        return self.current

    def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def test_an_import_beats_between_files(store: Store, tmp_path: Path) -> None:
    generate_exports(tmp_path / "export", plays=900, seed=4, max_bytes=40_000)
    files = sorted((tmp_path / "export").glob("*.json"))
    assert len(files) >= 4
    seen: list[tuple[str, datetime, datetime]] = []

    def progress(done: int, total: int, name: str) -> None:
        if done == 0:
            return
        with store.connect() as conn:
            row = conn.execute(
                select(runs.c.outcome, runs.c.started_at, runs.c.heartbeat_at).where(runs.c.kind == "import")
            ).one()
        seen.append((row.outcome, row.started_at, row.heartbeat_at))

    clock = SteppingClock(BEAT_EVERY + timedelta(seconds=1))
    result = import_paths(store, [tmp_path / "export"], clock, user_id="u", progress=progress)
    assert result.ok and len(result.imported) == len(files)
    beats = [beat for outcome, _started, beat in seen if outcome == "running"]
    assert len(beats) == len(seen) >= len(files) // 2  # progress is reported when a file starts and ends
    started = seen[0][1]
    # Every file's end moved the heartbeat on: later than the start, and never backwards.
    assert beats[-1] > started
    assert beats == sorted(beats) and len(set(beats)) >= len(files) - 1
