"""The share page the tests look at: the seeded dashboard history's 2026 Wrapped, written by the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from brapped.cli import cli
from brapped.store import open_store
from tests.web.conftest import seed


def write_site(folder: Path) -> Path:
    """The seeded dashboard history's 2026 Wrapped as a share page in `folder / "site"`."""
    url = f"sqlite:///{folder / 'brapped.db'}"
    store = open_store(url)
    seed(store)
    store.close()
    site = folder / "site"
    result = CliRunner().invoke(
        cli,
        ["report", "wrapped", "--year", "2026", "--html", str(site), "--format", "json"],
        env={"BRAPPED_DATABASE_URL": url, "BRAPPED_HOME": str(folder / "home"), "BRAPPED_TIMEZONE": "UTC"},
    )
    assert result.exit_code == 0, result.output
    assert f"Share page written to {site / 'index.html'}" in result.stderr
    return site
