"""The Data health page in a real headless Chromium, at a desktop (1400 px) and a phone (390 px) width:
nothing overflows the page or its cards, run counts read as sentences, files by their own names, and
a run whose process was killed shows as interrupted.

Screenshots go to test-artifacts/web/ (gitignored) for people to look at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from brapped.store import open_store
from brapped.store.runs import Owner, finish_run, start_run
from brapped.store.tables import imported_files
from brapped.web import create_app
from tests.conftest import IN_CI
from tests.web.conftest import NOW, FixedClock, make_settings, seed
from tests.web.live_server import serving
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

FOLDER = "/home/someone/Downloads/my_spotify_data/Spotify Extended Streaming History"
LONG_FILE = "Streaming_History_Audio_2019-2020_with_a_name_far_longer_than_any_table_column_0.json"
ZIP_ENTRY = "Streaming_History_Video_2021-2024.json"
ZIP = "/home/someone/Downloads/my_spotify_data.zip!Spotify Extended Streaming History"
IMPORT_COUNTS = {
    "files_read": 3,
    "files_failed": 1,
    "files_skipped": 3,
    "records": 12_050,
    "new": 12_000,
    "known": 50,
    "merged": 0,
    "replaced": 0,
    "skipped": {},
    "gaps_filled": 0,
}
ENRICH_COUNTS = {"api_calls": 4, "artists_enriched": 31, "albums_enriched": 0, "stopped": None}


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


@pytest.fixture(scope="module")
def health_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """The dashboard on a seeded history with imports of long, absolute file names and runs of every
    kind, one of them killed; (its address, run ids by name)."""
    folder = tmp_path_factory.mktemp("health")
    store = open_store(f"sqlite:///{folder / 'brapped.db'}")
    seed(store)
    here = Owner.this_process()
    ids: dict[str, int] = {}
    with store.begin() as conn:
        conn.execute(
            imported_files.insert(),
            [
                {
                    "sha256": f"{n:064d}",
                    "name": name,
                    "format": "extended",
                    "records": 4_000 + n,
                    "imported_at": NOW - timedelta(days=n),
                }
                for n, name in enumerate(
                    (
                        f"{FOLDER}/{LONG_FILE}",
                        f"{ZIP}/{ZIP_ENTRY}",
                        f"{FOLDER}/Streaming_History_Audio_2023.json",
                    )
                )
            ],
        )
        ids["import"] = start_run(conn, "import", NOW - timedelta(hours=3), "listener")
        finish_run(
            conn,
            ids["import"],
            NOW - timedelta(hours=3) + timedelta(seconds=40),
            "partial",
            IMPORT_COUNTS,
            f"{FOLDER}/Userdata.json: not Spotify listening history",
        )
        ids["enrich"] = start_run(conn, "enrich", NOW - timedelta(hours=2))
        finish_run(conn, ids["enrich"], NOW - timedelta(hours=2), "ok", ENRICH_COUNTS)
        # A run of a process that is gone (killed): nobody has marked it yet.
        ids["killed"] = start_run(
            conn, "import", NOW - timedelta(hours=1), "listener", owner=Owner(here.host, _dead_pid())
        )
    home = folder / "home"
    home.mkdir()
    token = {"client_id": "c", "refresh_token": "r-secret", "issued_at": "2025-09-26T18:30:00+00:00"}
    (home / "token.json").write_text(json.dumps(token))
    app = create_app(store, make_settings(home), FixedClock(NOW))
    with serving(app) as url:
        yield url, ids
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + ": CI=true, browser tests must run")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# Every element that holds content and must not be wider than its box: the page, each card, each
# table's scroll box. Returns those that overflow, described.
OVERFLOWS = """() => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) out.push(`page ${root.scrollWidth} > ${window.innerWidth}`);
  for (const el of document.querySelectorAll('.card, .stat, .health-scroll')) {
    if (el.scrollWidth > el.clientWidth + 1) {
      out.push(`${el.className} "${el.innerText.slice(0, 30)}" ${el.scrollWidth} > ${el.clientWidth}`);
    }
    const box = el.getBoundingClientRect();
    if (box.right > root.clientWidth + 1 || box.left < -1) out.push(`${el.className} outside the page`);
  }
  return out;
}"""


BROKEN_WORDS = """() => [...document.querySelectorAll('.health-table .badge, .health-table .health-nowrap')]
  .filter(el => {
    const r = document.createRange();
    r.selectNodeContents(el);
    return r.getClientRects().length > 1;
  })
  .map(el => el.innerText)"""


@pytest.mark.parametrize("width", [1400, 390])
def test_health_page_fits_and_reads_well(
    browser: Any, health_page: tuple[str, dict[str, int]], width: int
) -> None:
    base_url, ids = health_page
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        response = page.goto("/health", wait_until="load")
        assert response is not None and response.status == 200
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"health-{width}.png"), full_page=True)
        assert page.evaluate(OVERFLOWS) == []
        assert problems == []

        html = page.content()
        # Files by their own names; no folder of this (or any) machine.
        assert "/home/someone" not in html and "Downloads" not in html
        files = page.eval_on_selector_all(
            ".health-imports .health-file", "cells => cells.map(c => c.innerText)"
        )
        assert sorted(files) == sorted([LONG_FILE, ZIP_ENTRY, "Streaming_History_Audio_2023.json"])
        message = page.inner_text(f"tr[data-run='{ids['import']}'] .health-message")
        assert message == "Userdata.json: not Spotify listening history"
        # Words are not cut to fit: a kind, a format or an outcome stays on one line.
        assert page.evaluate(BROKEN_WORDS) == []

        # Counts as sentences, never a dump of keys and values.
        imported = page.inner_text(f"tr[data-run='{ids['import']}'] .counts")
        for part in ("12,000 plays added", "50 plays already stored", "3 files read", "1 file failed"):
            assert part in imported
        assert "3 files skipped" in imported and "12,050 records" in imported
        enriched = page.inner_text(f"tr[data-run='{ids['enrich']}'] .counts")
        assert enriched == "31 artists enriched, 4 API calls"
        for dump in ("None", "{}", "files_read", "stopped", "api_calls", "gaps_filled"):
            assert dump not in page.inner_text(".health-runs")

        # The killed run: interrupted, with the reason.
        killed = page.locator(f"tr[data-run='{ids['killed']}']")
        assert killed.get_attribute("data-outcome") == "interrupted"
        assert killed.locator(".badge").inner_text() == "interrupted"
        assert "ended without finishing the run" in killed.inner_text()
    finally:
        context.close()
