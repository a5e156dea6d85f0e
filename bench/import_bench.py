"""Import throughput and peak memory: `brapped import` vs pandas on the same export files.

Each measure runs in a fresh Python process (so its peak RSS is its own): this module re-invokes
itself as `python -m bench.import_bench MODE EXPORT_DIR DB_URL` and reads one JSON line back.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Result, Unavailable, faster_ratio, higher_ratio, postgres_database

TITLE = "Import"
PLAYS = 500_000
TRACKS = 30_000
PG_TARGET = 50_000  # plays per second, from the issue
NOTES = f"""\
{PLAYS:,} extended-history plays (~32 files of ~12 MB, ~{TRACKS:,} tracks, from `bench.generate`,
seed 1) imported into a fresh database, each run in its own Python process (peak RSS is that
process's, plus brapped's worker process's). Baselines in the same run on the same files:
`pandas.read_json` + `DataFrame.to_sql` per file into one flat SQLite table, and a plain
`orjson.loads` + `executemany` loop into a flat table (no validation, no dimensions, no indexes: the
floor for a single-process Python loader). brapped validates every record (msgspec typed decoding,
then column checks), detects formats, keeps every file all or nothing, and loads the star schema
(plays with its unique key and indexes, tracks, albums, artists and credits). An import this big
into an empty database is a bulk load: one transaction, a savepoint per file, the secondary indexes
of `plays` (and on PostgreSQL the foreign keys of `plays`, `tracks` and the credits) built at the
end, and every file after the first read in a worker process (`brapped.imports.worker`) while the
loader loads the one before. SQLite: the worker reads a file straight into columns and stages its
plays in an in-memory SQLite database (six values a play) that the loader attaches and inserts
from; the loader prepares a file itself whenever it would wait for the worker, loads the files in
time order, leaves WAL for a rollback journal (new pages written once, not twice), and checks the
foreign keys once at the end instead of per play; new databases have 16 KiB pages. PostgreSQL:
the worker parses and builds the COPY text, the loader `COPY`s whole rows straight into `plays`.
Medians of the runs; the machine is shared, so absolute seconds vary between runs (here by up to a
third from one run to the next), ratios less: the first row's notes give the load average when the
measures started.

Command: `.venv/bin/python -m bench import`"""


def _child(mode: str, export: str, url: str) -> dict[str, Any]:
    import resource

    started = time.perf_counter()
    records = 0
    if mode == "brapped":
        from brapped.clock import SystemClock
        from brapped.pipeline.importing import import_paths
        from brapped.store import open_store

        store = open_store(url)
        started = time.perf_counter()
        result = import_paths(store, [export], SystemClock(), user_id="bench")
        totals = result.totals()
        if not result.ok:
            raise SystemExit(f"import failed: {[f.message for f in result.failed]}")
        records = totals["records"]
        extra = {"new": totals["new"], "known": totals["known"]}
        store.close()
    elif mode == "pandas":
        import pandas as pd
        from sqlalchemy import create_engine

        engine = create_engine(url)
        for path in sorted(Path(export).glob("*.json")):
            frame = pd.read_json(path)
            frame.to_sql("plays", engine, if_exists="append", index=False)
            records += len(frame)
        engine.dispose()
        extra = {}
    elif mode == "plain":
        import sqlite3

        import orjson

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        db.execute(
            "CREATE TABLE plays (ts TEXT, platform TEXT, ms_played INT, conn_country TEXT, track TEXT, "
            "artist TEXT, album TEXT, uri TEXT, reason_start TEXT, reason_end TEXT, shuffle INT, "
            "skipped INT, offline INT, offline_timestamp INT, incognito INT)"
        )
        keys = (
            "ts",
            "platform",
            "ms_played",
            "conn_country",
            "master_metadata_track_name",
            "master_metadata_album_artist_name",
            "master_metadata_album_album_name",
            "spotify_track_uri",
            "reason_start",
            "reason_end",
            "shuffle",
            "skipped",
            "offline",
            "offline_timestamp",
            "incognito_mode",
        )
        for path in sorted(Path(export).glob("*.json")):
            rows = orjson.loads(path.read_bytes())
            db.executemany(
                f"INSERT INTO plays VALUES ({', '.join('?' for _ in keys)})",
                [tuple(r.get(k) for k in keys) for r in rows],
            )
            db.commit()
            records += len(rows)
        db.close()
        extra = {}
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    rss_mb = _peak_rss_mb(resource)
    return {"seconds": seconds, "rss_mb": rss_mb, "records": records, **extra}


def _peak_rss_mb(resource: Any) -> float:
    """This process's peak resident memory in MB, plus its worker process's (brapped's import
    reads files in one, `brapped.imports.worker`): an upper bound of the two together.

    Linux's VmHWM belongs to the program's own memory map; `ru_maxrss` survives `exec` and starts
    from the parent's size at `fork`, so a child of a bench process that had read a million plays
    (the insights bench, run first by `python -m bench`) reported that process's 2 GB as its own.
    The worker is started by `posix_spawn`/`vfork` from a process of a few hundred MB at most, so
    its `ru_maxrss` is its own (measured: 80 to 110 MB, as its VmHWM).
    """
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 + children
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale + children)


def _run_child(mode: str, export: Path, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.import_bench", mode, str(export), url],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _fresh_sqlite(folder: Path, name: str) -> str:
    for suffix in ("", "-wal", "-shm"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{folder / name}"


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def run(quick: bool) -> list[Result]:
    """Generate the export, then time brapped and the baselines on it."""
    from bench.generate import generate_exports

    plays, tracks = (2_000, 300) if quick else (PLAYS, TRACKS)
    repeat = 1 if quick else int(os.environ.get("BRAPPED_BENCH_REPEAT", "3"))
    work = Path(tempfile.mkdtemp(prefix="brapped-bench-import-"))
    try:
        export = work / "export"
        summary = generate_exports(export, plays=plays, seed=1, tracks=tracks)
        records = summary.records

        def series(mode: str, db: str) -> list[dict[str, Any]]:
            runs = []
            for _ in range(repeat):
                runs.append(_run_child(mode, export, _fresh_sqlite(work, db)))
                assert runs[-1]["records"] == records, (mode, runs[-1], records)
            return runs

        load = "/".join(f"{x:.1f}" for x in os.getloadavg())
        ours = series("brapped", "brapped.db")
        assert all(r["new"] == records for r in ours)
        pandas_runs = series("pandas", "pandas.db")
        plain = series("plain", "plain.db")
        # Re-import into the database the last brapped run filled: everything is already known.
        again = [_run_child("brapped", export, f"sqlite:///{work / 'brapped.db'}") for _ in range(repeat)]
        assert all(r["known"] == records and r["new"] == 0 for r in again)

        t_ours, t_pandas, t_plain = (_median(x, "seconds") for x in (ours, pandas_runs, plain))
        m_ours, m_pandas = _median(ours, "rss_mb"), _median(pandas_runs, "rss_mb")
        label = f"{records:,} plays, {len(summary.files)} files, {summary.distinct_tracks_played:,} tracks"
        results = [
            Result(
                f"SQLite import ({label})",
                t_ours,
                "s",
                t_pandas,
                faster_ratio(t_ours, t_pandas),
                f"baseline: pandas.read_json + DataFrame.to_sql; load average {load} (1/5/15 min)",
                [r["seconds"] for r in ours],
            ),
            Result(
                "SQLite import throughput",
                records / t_ours,
                "plays/s",
                records / t_pandas,
                higher_ratio(records / t_ours, records / t_pandas),
                "baseline: pandas",
            ),
            Result(
                "Peak memory, SQLite import",
                m_ours,
                "MB",
                m_pandas,
                faster_ratio(m_ours, m_pandas),
                "whole process (interpreter included) plus its worker process; baseline: pandas; "
                "target < 300 MB",
                [r["rss_mb"] for r in ours],
            ),
            Result(
                "Plain orjson + executemany loop (reference floor)",
                t_plain,
                "s",
                t_pandas,
                faster_ratio(t_plain, t_pandas),
                "flat table, no validation, no indexes; baseline: pandas",
                [r["seconds"] for r in plain],
            ),
            Result(
                "Re-import of the same files (all already known)",
                _median(again, "seconds"),
                "s",
                t_ours,
                faster_ratio(_median(again, "seconds"), t_ours),
                "baseline: the first import",
                [r["seconds"] for r in again],
            ),
        ]
        results.append(_postgres(export, records, repeat))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _postgres(export: Path, records: int, repeat: int) -> Result:
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(repeat):
            with postgres_database("brapped_bench_import") as url:
                runs.append(_run_child("brapped", export, url))
    except Unavailable as exc:
        return Result("PostgreSQL import throughput", 0.0, "plays/s", notes=f"skipped: {exc}")
    seconds = _median(runs, "seconds")
    return Result(
        "PostgreSQL import throughput",
        records / seconds,
        "plays/s",
        float(PG_TARGET),
        higher_ratio(records / seconds, PG_TARGET),
        f"COPY straight into plays; baseline: the issue's target of {PG_TARGET:,} plays/s; "
        f"peak memory {_median(runs, 'rss_mb'):.0f} MB",
        [records / r["seconds"] for r in runs],
    )


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2], sys.argv[3])))
