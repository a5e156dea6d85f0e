"""A killed import does not stay `running`: `brapped import` is started as a process on a real-size
export and SIGKILLed mid-import. The Data health page (first kill) and `brapped status --format json`
(second kill) show that run as interrupted, naming its process, and a rerun imports everything."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import anyio
import httpx
from bench.generate import generate_exports
from sqlalchemy import text

from brapped.config import load_settings
from brapped.store import open_store
from brapped.web import create_app
from tests.reliability.conftest import Probe, clean_env, export_truth, kill_when, run, start, stored_plays


def _kill_mid_import(
    args: list[str], env: dict[str, str], probe: Probe, rng: random.Random, delay: tuple[float, float]
) -> int:
    """Start the import, SIGKILL it once its run is recorded and it has had time to work; its pid."""
    running_before = probe.count("runs")
    proc = start(args, env)
    killed = kill_when(
        proc,
        lambda: (probe.scalar("SELECT count(*) FROM runs WHERE kind = 'import'") or 0) > running_before,
        delay=rng.uniform(*delay),
        probe=probe,
    )
    assert killed, "the import finished before it could be killed: make the export bigger"
    # Killed after its run was finished (while refreshing summaries) would test nothing.
    last = probe.scalar("SELECT outcome FROM runs WHERE kind = 'import' ORDER BY id DESC LIMIT 1")
    assert last == "running", f"the import had finished its run ({last}) when it was killed"
    return proc.pid


def _import_runs(probe: Probe) -> list[tuple[int, str, str | None, int | None]]:
    with probe.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, outcome, message, pid FROM runs WHERE kind = 'import' ORDER BY id")
        )
        return [(int(i), str(o), m, p) for i, o, m, p in rows]


async def _read_health(app: Any) -> tuple[httpx.Response, Any]:
    """The Data health page and its JSON, from the dashboard in this process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        page = await client.get("/health")
        assert page.status_code == 200
        return page, (await client.get("/api/health")).json()


def test_a_killed_import_reads_interrupted_and_a_rerun_works(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    generate_exports(folder, plays=60_000, seed=12, max_bytes=400_000)
    files = sorted(folder.glob("*.json"))
    music, _spoken = export_truth(files)
    env = clean_env(tmp_path / "home")
    args = ["--db", db_url, "import", str(folder), "--user", "u"]
    probe = Probe(db_url)
    rng = random.Random(20)
    try:
        # Kill 1, read by the Data health page.
        first = _kill_mid_import(args, env, probe, rng, (0.5, 1.5))
        [(run_id, outcome, _m, pid)] = _import_runs(probe)
        assert (outcome, pid) == ("running", first)  # nobody has looked yet
        store = open_store(db_url)
        try:
            settings = load_settings({"timezone": "UTC"}, env={}, home=tmp_path / "home")
            page, data = anyio.run(_read_health, create_app(store, settings))
        finally:
            store.close()
        row = re.search(rf'<tr data-run="{run_id}" data-outcome="([a-z_]+)">(.*?)</tr>', page.text, re.S)
        assert row is not None and row.group(1) == "interrupted"
        assert f"its process ({first} on " in row.group(2) and ">interrupted</span>" in row.group(2)
        assert str(tmp_path) not in page.text  # no absolute path of this machine
        [shown] = [r for r in data["runs"] if r["id"] == run_id]
        assert shown["outcome"] == "interrupted"

        # Kill 2, read by `brapped status --format json`.
        # Less is left to import the second time: killed sooner.
        second = _kill_mid_import(args, env, probe, rng, (0.05, 0.4))
        status = json.loads(run(["--db", db_url, "status", "--format", "json"], env).stdout)
        latest = status["runs"]["import"]
        assert latest["outcome"] == "interrupted" and latest["pid"] == second
        assert latest["message"].startswith(f"its process ({second} on ")
        assert [o for _i, o, _m, _p in _import_runs(probe)] == ["interrupted", "interrupted"]

        # A rerun imports everything, and the killed runs stay interrupted.
        run(args, env, timeout=300)
        rows = stored_plays(probe)
        assert len(rows) == len(set(rows)) and set(rows) == music
        assert [o for _i, o, _m, _p in _import_runs(probe)] == ["interrupted", "interrupted", "ok"]
        status = json.loads(run(["--db", db_url, "status", "--format", "json"], env).stdout)
        assert status["runs"]["import"]["outcome"] == "ok"
    finally:
        probe.close()
