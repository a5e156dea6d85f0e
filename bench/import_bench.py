"""Import: `brapped import` run as a user runs it (a process: start-up, migrations, the import, the
summaries refresh) on several shapes of export, against pandas and DuckDB on the same files.

Every measure is a separate process whose wall time and process-tree memory are read from outside
(bench.process_tree): brapped's import worker is a process of its own and counts.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.process_tree import Measure, run_measured
from bench.report import Result, Unavailable, faster_ratio, higher_ratio, postgres_database
from bench.shapes import SHAPES, Shape, write_shape

TITLE = "Import"
PLAYS = 500_000
TRACKS = 30_000
PG_TARGET = 50_000  # plays per second, from the issue
MEMORY_TARGET_MB = 300
NOTES = f"""\
`brapped import` as a user runs it: a `brapped --home H --db URL import DIR --user bench --format
json` process, timed from its start to its exit (interpreter start-up, schema migrations of the new
database, the import, the refresh of the report summaries) with its import worker process, on
{PLAYS:,} extended-history plays written in several shapes (bench/shapes.py; same time line, seed
1): {"; ".join(f"*{s.name}*: {s.description}" for s in SHAPES.values())}. Baselines, each its own
process on the same files in the same run: pandas (`read_json` + `DataFrame.to_sql` per file into
one flat SQLite table) and DuckDB (`read_json` of every file into a flat table of a DuckDB file,
multi-threaded). brapped validates every record, keeps each file all or nothing, merges with what
is known and loads the star schema with its indexes and summaries. Memory: the largest sum of the
resident sizes of the process tree seen at one 10 ms sample ("at once"); the notes give the sum of
each process's own peak (VmHWM), an upper bound. Medians of the runs; ratios are same-run.
Targets (hardening issue): at least 5x pandas on every shape, within 2x of DuckDB, at most
{MEMORY_TARGET_MB} MB.

Command: `.venv/bin/python -m bench import`"""

_PANDAS = """
import sys
from pathlib import Path
import pandas as pd
from sqlalchemy import create_engine
engine = create_engine(sys.argv[2])
records = 0
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    frame = pd.read_json(path)
    frame.to_sql("plays", engine, if_exists="append", index=False)
    records += len(frame)
engine.dispose()
print(records)
"""

_DUCKDB = """
import sys
import duckdb
db = duckdb.connect(sys.argv[2])
db.execute("CREATE TABLE plays AS SELECT * FROM read_json(?, format = 'array')", [sys.argv[1] + "/*.json"])
print(db.execute("SELECT count(*) FROM plays").fetchone()[0])
db.close()
"""


def _brapped(export: Path, url: str, home: Path) -> tuple[Measure, dict[str, Any]]:
    executable = Path(sys.executable).with_name("brapped")
    argv = [str(executable), "--home", str(home), "--db", url, "import", str(export), "--user", "bench"]
    measure = run_measured([*argv, "--format", "json"], env={**os.environ, "BRAPPED_LOG_LEVEL": "warning"})
    summary = json.loads(measure.stdout)
    if not summary["ok"]:
        raise RuntimeError(f"brapped import failed: {summary['files']}")
    return measure, dict(summary["totals"])


def _baseline(script: str, export: Path, target: str) -> tuple[Measure, int]:
    measure = run_measured([sys.executable, "-c", script, str(export), target])
    return measure, int(measure.stdout.strip().splitlines()[-1])


def _fresh(folder: Path, name: str) -> Path:
    for suffix in ("", "-wal", "-shm", "-journal"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)
    return folder / name


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _shape_results(shape: Shape, work: Path, plays: int, tracks: int, repeat: int) -> list[Result]:
    export = work / "export"
    shutil.rmtree(export, ignore_errors=True)
    summary = write_shape(shape, export, plays, tracks)
    records = summary.records
    files = len(summary.files)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    ours: list[Measure] = []
    pandas: list[Measure] = []
    duck: list[Measure] = []
    for _ in range(repeat):
        # Interleaved, so a slow phase of the machine falls on all three alike.
        home = work / "home"
        shutil.rmtree(home, ignore_errors=True)
        measure, totals = _brapped(export, f"sqlite:///{_fresh(work, 'brapped.db')}", home)
        assert totals["new"] == records, (shape.name, totals, records)
        ours.append(measure)
        measure, count = _baseline(_PANDAS, export, f"sqlite:///{_fresh(work, 'pandas.db')}")
        assert count == records, (shape.name, "pandas", count, records)
        pandas.append(measure)
        measure, count = _baseline(_DUCKDB, export, str(_fresh(work, "duck.db")))
        assert count == records, (shape.name, "duckdb", count, records)
        duck.append(measure)
    t_ours, t_pandas, t_duck = (_median([m.seconds for m in runs]) for runs in (ours, pandas, duck))
    m_ours, m_pandas = (_median([m.at_once_mb for m in runs]) for runs in (ours, pandas))
    m_duck = _median([m.at_once_mb for m in duck])
    label = f"{shape.name}: {records:,} plays, {files} files"
    return [
        Result(
            f"Import as a process, {label}",
            t_ours,
            "s",
            t_pandas,
            faster_ratio(t_ours, t_pandas),
            f"baseline: pandas; DuckDB {t_duck:.2f} s, brapped at {faster_ratio(t_ours, t_duck):.2f}x "
            f"DuckDB's speed (target at least 0.5x); load average {load} (1/5/15 min)",
            [m.seconds for m in ours],
        ),
        Result(
            f"Peak memory of the process tree, {shape.name}",
            m_ours,
            "MB",
            m_pandas,
            faster_ratio(m_ours, m_pandas),
            f"baseline: pandas; DuckDB {m_duck:.0f} MB; sum of each process's own peak "
            f"{_median([m.summed_peaks_mb for m in ours]):.0f} MB; target at most {MEMORY_TARGET_MB} MB",
            [m.at_once_mb for m in ours],
        ),
    ]


def run(quick: bool) -> list[Result]:
    """Write each shape's export, then time brapped and the baselines on it."""
    plays, tracks = (2_000, 300) if quick else (PLAYS, TRACKS)
    repeat = 1 if quick else int(os.environ.get("BRAPPED_BENCH_REPEAT", "3"))
    only = os.environ.get("BRAPPED_BENCH_SHAPES")
    shapes = [SHAPES[name] for name in only.split(",")] if only else list(SHAPES.values())
    work = Path(tempfile.mkdtemp(prefix="brapped-bench-import-"))
    try:
        results: list[Result] = []
        for shape in shapes:
            results.extend(_shape_results(shape, work, plays, tracks, repeat))
        # The default shape again, for the re-import and PostgreSQL figures.
        export = work / "export"
        shutil.rmtree(export, ignore_errors=True)
        records = write_shape(SHAPES["default"], export, plays, tracks).records
        home = work / "home"
        url = f"sqlite:///{_fresh(work, 'brapped.db')}"
        first, _ = _brapped(export, url, home)
        again = []
        for _ in range(repeat):
            measure, totals = _brapped(export, url, home)
            assert totals["known"] == records and totals["new"] == 0, totals
            again.append(measure)
        t_again = _median([m.seconds for m in again])
        results.append(
            Result(
                "Re-import of the same files (all already known), default",
                t_again,
                "s",
                first.seconds,
                faster_ratio(t_again, first.seconds),
                "baseline: the first import of the same files (one run)",
                [m.seconds for m in again],
            )
        )
        results.append(_postgres(export, records, repeat, work / "home-pg"))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _postgres(export: Path, records: int, repeat: int, home: Path) -> Result:
    runs: list[Measure] = []
    try:
        for _ in range(repeat):
            with postgres_database("brapped_bench_import") as url:
                shutil.rmtree(home, ignore_errors=True)
                measure, totals = _brapped(export, url, home)
                assert totals["new"] == records, totals
                runs.append(measure)
    except Unavailable as exc:
        return Result("PostgreSQL import throughput", 0.0, "plays/s", notes=f"skipped: {exc}")
    seconds = _median([m.seconds for m in runs])
    return Result(
        "PostgreSQL import throughput, as a process (default shape)",
        records / seconds,
        "plays/s",
        float(PG_TARGET),
        higher_ratio(records / seconds, PG_TARGET),
        f"COPY straight into plays; baseline: the issue's target of {PG_TARGET:,} plays/s; "
        f"peak memory {_median([m.at_once_mb for m in runs]):.0f} MB",
        [records / m.seconds for m in runs],
    )
