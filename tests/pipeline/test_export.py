"""`brapped export`: files re-read equal the database, in every format, on both databases."""

from __future__ import annotations

import csv
import json
import stat
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brapped.cli import cli
from brapped.clock import SystemClock
from brapped.pipeline.export import STAR_TABLES, ExportError, export
from brapped.store import Store, open_store, tables
from tests.pipeline.conftest import fill

ZONE = "Asia/Kolkata"  # +05:30: a half-hour offset catches whole-hour shortcuts


def db_rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.connect() as conn:
        order = list(table.primary_key.columns)
        return [dict(r) for r in conn.execute(select(table).order_by(*order)).mappings()]


def as_text(value: Any) -> Any:
    """What a CSV or JSON file should hold for a database value."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value


def read(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    if fmt == "json":
        return list(json.loads(path.read_text(encoding="utf-8")))
    return list(pq.read_table(path).to_pylist())


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(as_text(value))


def expected_plays_wide(made: dict[str, Any], store: Store) -> list[dict[str, Any]]:
    names = {a["id"]: a["name"] for a in made["artists"]}
    credits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in sorted(made["track_artists"], key=lambda c: c["position"]):
        credits[c["track_id"]].append(c)
    zone = ZoneInfo(ZONE)
    out = []
    for row in db_rows(store, tables.plays):
        local = row["played_at"].astimezone(zone)
        track = credits[row["track_id"]]
        out.append(
            {
                "play_id": row["id"],
                "local_date": local.strftime("%Y-%m-%d"),
                "local_hour": local.hour,
                "main_artist_name": names[track[0]["artist_id"]],
                "featured_artist_names": [names[c["artist_id"]] for c in track[1:]],
                "ms_played": row["ms_played"],
                "played_at_local": local.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{local.microsecond // 1000:03d}+05:30",
            }
        )
    return out


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_files_equal_the_database(store: Store, tmp_path: Path, fmt: str) -> None:
    made = fill(store, plays=250)
    result = export(store, tmp_path / "out", fmt, SystemClock(), ZONE, batch_size=64)  # type: ignore[arg-type]
    assert set(result.files) == {f"{t.name}.{fmt}" for t in STAR_TABLES} | {f"plays_wide.{fmt}"}
    for table in STAR_TABLES:
        want = db_rows(store, table)
        got = read(tmp_path / "out" / f"{table.name}.{fmt}", fmt)
        assert result.files[f"{table.name}.{fmt}"] == len(want)
        if fmt == "csv":
            want = [{k: csv_cell(v) for k, v in row.items()} for row in want]
        elif fmt == "json":
            want = [{k: as_text(v) for k, v in row.items()} for row in want]
        assert got == want, table.name
    wide = read(tmp_path / "out" / f"plays_wide.{fmt}", fmt)
    expected = expected_plays_wide(made, store)
    assert len(wide) == 250
    for got_row, want_row in zip(wide, expected, strict=True):
        if fmt == "csv":
            want_row = {k: csv_cell(v) for k, v in want_row.items()}
        assert {k: got_row[k] for k in want_row} == want_row
    with store.connect() as conn:
        run = conn.execute(select(tables.runs).where(tables.runs.c.kind == "export")).mappings().one()
    assert run["outcome"] == "ok" and json.loads(run["counts"])["plays_wide." + fmt] == 250


def test_export_command_and_bad_paths(sqlite_url: str, tmp_path: Path, runner: CliRunner) -> None:
    store = open_store(sqlite_url)
    fill(store, plays=20)
    store.close()
    result = runner.invoke(cli, ["--db", sqlite_url, "export", str(tmp_path / "x"), "--json-summary"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["files"]["plays.csv"] == 20
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = runner.invoke(cli, ["--db", sqlite_url, "export", str(not_a_dir)])
    assert result.exit_code == 2 and "is a file" in result.stderr
    with pytest.raises(ExportError, match="exists and is not a folder"):
        export(open_store(sqlite_url), not_a_dir, "csv", SystemClock(), "UTC")
    result = runner.invoke(cli, ["--db", sqlite_url, "export", str(tmp_path / "y"), "--format", "xml"])
    assert result.exit_code == 2
    with pytest.raises(ExportError, match="unknown export format"):
        export(open_store(sqlite_url), tmp_path / "z", "xml", SystemClock(), "UTC")  # type: ignore[arg-type]


def test_empty_database_exports_headers_only(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    for fmt in ("csv", "json", "parquet"):
        result = export(store, tmp_path / fmt, fmt, SystemClock(), "UTC")  # type: ignore[arg-type]
        assert set(result.files.values()) == {0}
    assert (tmp_path / "csv" / "plays_wide.csv").read_text().startswith("play_id,user_id,played_at,")
    assert json.loads((tmp_path / "json" / "plays.json").read_text()) == []
    assert pq.read_table(tmp_path / "parquet" / "plays_wide.parquet").num_rows == 0


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_files_are_readable_by_their_owner_alone(sqlite_url: str, tmp_path: Path, fmt: str) -> None:
    """The whole history, as the database: 0600 files in a 0700 folder it makes; a file there
    before (0644) is tightened as it is rewritten."""
    store = open_store(sqlite_url)
    try:
        fill(store, plays=20)
        out = tmp_path / "out"
        out.mkdir()
        (out / f"plays.{fmt}").write_text("old")
        (out / f"plays.{fmt}").chmod(0o644)
        export(store, out, fmt, SystemClock(), ZONE)  # type: ignore[arg-type]
        made = tmp_path / "new" / "folder"
        export(store, made, fmt, SystemClock(), ZONE)  # type: ignore[arg-type]
    finally:
        store.close()
    for folder in (out, made):
        files = sorted(folder.iterdir())
        assert len(files) == len(STAR_TABLES) + 1
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
