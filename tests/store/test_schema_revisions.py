"""brapped knows the schema's revision without Alembic; these hold the convention that allows it."""

from __future__ import annotations

import re

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from brapped.store import Store
from brapped.store.schema import VERSIONS, alembic_config, current_revision, head_revision


def test_revision_ids_are_file_prefixes_in_a_straight_line() -> None:
    files = sorted(VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert files, "no revision files"
    previous = None
    for path in files:
        source = path.read_text()
        revision = re.search(r'^revision: str = "(\w+)"', source, re.MULTILINE)
        down = re.search(r"^down_revision: str \| None = (None|\"\w+\")", source, re.MULTILINE)
        assert revision and revision.group(1) == path.name[:4], f"{path.name}: revision id is not its prefix"
        assert down and down.group(1).strip('"') == (previous or "None"), f"{path.name}: not after {previous}"
        previous = revision.group(1)
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == head_revision() == previous


def test_current_revision_reads_what_alembic_reads(store: Store) -> None:
    with store.connect() as conn:
        assert current_revision(conn) == MigrationContext.configure(conn).get_current_revision()
        assert current_revision(conn) == head_revision()


def test_a_database_never_migrated_has_no_revision(empty_db_url: str) -> None:
    from brapped.store import open_store

    store = open_store(empty_db_url, migrate=False)
    try:
        with store.connect() as conn:
            assert current_revision(conn) is None
    finally:
        store.close()
