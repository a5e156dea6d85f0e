"""docs/emulator.md stays in step with the code."""

from __future__ import annotations

from brapped.emulator import DEFAULT_CLIENT_ID, DEFAULT_SCOPE
from brapped.emulator.faults import FAULT_KINDS
from tests.conftest import REPO

DOC = (REPO / "docs" / "emulator.md").read_text(encoding="utf-8")


def test_doc_names_every_cli_option_fault_and_the_default_client() -> None:
    from brapped.cli.emulator import emulator_command

    for param in emulator_command.params:
        assert f"--{param.name}" in DOC, param.name
    for kind in FAULT_KINDS:
        assert f"| `{kind}` |" in DOC, kind
    assert DEFAULT_CLIENT_ID in DOC
    assert DEFAULT_SCOPE in DOC
    for endpoint in (
        "/me/player/recently-played",
        "/tracks?ids=",
        "/artists?ids=",
        "/albums?ids=",
        "/search",
        "POST /me/playlists",
        "POST /playlists/{id}/items",
    ):
        assert endpoint in DOC
