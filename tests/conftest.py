"""Shared fixtures: a fresh database on SQLite and on PostgreSQL, a brapped home, a CLI runner."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from brapped.store import Store, open_store

REPO = Path(__file__).resolve().parent.parent
SAMPLES = (REPO.parent / "shared" / "spotify" / "samples").resolve()
SPEC = (REPO.parent / "shared" / "spotify" / "spotify-web-api.openapi.yml").resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_URL = os.environ.get("BRAPPED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database for this test session; each test clones it."""
    try:
        engine = _admin_engine()
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {ADMIN_URL}: {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    name = f"brapped_tmpl_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    open_store(url).close()
    yield name
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _fresh_pg(template: str | None) -> Iterator[str]:
    engine = _admin_engine()
    name = f"brapped_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    yield from _fresh_pg(pg_template)


@pytest.fixture
def empty_pg_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database with no tables at all."""
    yield from _fresh_pg(None)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with no schema yet, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("empty_pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'brapped.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'brapped.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An opened, migrated Store on each database."""
    opened = open_store(db_url)
    yield opened
    opened.close()


@pytest.fixture
def tmp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty BRAPPED_HOME, and no brapped or Spotify settings leaking in from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(("BRAPPED_", "SPOTIFY_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BRAPPED_HOME", str(home))
    monkeypatch.setenv("BRAPPED_TIMEZONE", "UTC")
    # Never the real MusicBrainz from a test: tests that want it point it at the emulator.
    monkeypatch.setenv("BRAPPED_MUSICBRAINZ", "false")
    return home


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask (group and others may read new files), so file modes are brapped's doing."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def runner(tmp_home: Path) -> CliRunner:
    """A CLI runner with an isolated home; stdout and stderr kept apart."""
    return CliRunner()
