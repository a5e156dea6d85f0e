"""`brapped compare` and `brapped report party` end to end on the hand-made household."""

from __future__ import annotations

import json

from click.testing import CliRunner

from brapped.cli import cli
from brapped.store import Store
from tests.cli.test_report import table_rows
from tests.insights.test_compare import household

__all__ = ["household"]


def _run(runner: CliRunner, store: Store, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["--db", store.url, "--timezone", "UTC", *args])
    return result.exit_code, result.stdout, result.stderr


def test_compare_in_every_format(runner: CliRunner, household: Store) -> None:
    code, out, err = _run(runner, household, "compare", "ana", "ben", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["score"], data["shared_artists"]) == (57, 2)
    code, back, _ = _run(runner, household, "compare", "ben", "ana", "--format", "json")
    assert json.loads(back)["score"] == 57
    code, text, _ = _run(runner, household, "compare", "ana", "ben", "--period", "2025-01")
    assert code == 0 and "compatibility 57/100, 2 shared artists" in text
    code, table, _ = _run(runner, household, "compare", "ana", "ben", "--format", "csv")
    lines = table.splitlines()
    assert lines[0] == "kind,name,plays_ana,plays_ben,first,score,shared_artists"
    assert lines[1] == "shared artist,Alpha,4,3,ana,57,2"
    code, _, err = _run(runner, household, "compare", "ana", "nobody")
    assert code == 1 and "no listener 'nobody'" in err


def test_a_comparison_of_a_period_neither_listened_in_says_so(runner: CliRunner, household: Store) -> None:
    # The household's plays are all in January 2025; this printed a table of headers alone under
    # "compatibility 0/100", as if they had nothing in common.
    code, out, err = _run(runner, household, "compare", "ana", "ben", "--period", "2024")
    assert code == 0, err
    assert out == "ana and ben: neither listened from 2024-01-01 to 2024-12-31.\n"
    code, out, err = _run(runner, household, "compare", "ana", "ben", "--period", "2024", "--format", "csv")
    assert code == 0, err
    assert out == "kind,name,plays_ana,plays_ben,first,score,shared_artists\n"


def test_report_party(runner: CliRunner, household: Store) -> None:
    code, out, err = _run(runner, household, "report", "party", "--year", "2025", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [m["user_id"] for m in data["members"]] == ["ana", "ben", "cy"]
    explorer = next(a for a in data["awards"] if a["award"] == "explorer")
    # ana: Alpha, Beta, Gamma; ben: Alpha, Beta, Delta (Various Artists never counts): ana has more plays.
    assert (explorer["winner"], explorer["value"], explorer["display_name"]) == ("ana", 3, "Ana")
    code, text, _ = _run(
        runner, household, "report", "party", "--year", "2025", "--user", "ana", "--user", "cy"
    )
    assert code == 0 and "chaos crew" in text


def test_a_party_nobody_listened_in_says_so(runner: CliRunner, household: Store) -> None:
    # The household's plays are all in January 2025.
    code, out, err = _run(runner, household, "report", "party", "--year", "2024")
    assert code == 0, err
    assert out == "Party 2024-01-01 to 2024-12-31: nobody listened in this period.\n"
    code, out, err = _run(runner, household, "report", "party", "--year", "2024", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["members"] == []
    assert data["group"] == {"label": None, "mean_score": None, "pairs": []}
    assert {a["winner"] for a in data["awards"]} == {None}


def test_the_party_table_shows_shares_as_percentages(runner: CliRunner, household: Store) -> None:
    args = ["report", "party", "--year", "2025", "--user", "ana", "--user", "ben"]
    code, out, err = _run(runner, household, *args)
    assert code == 0, err
    rows = {r["award"]: (r["winner"], r["value"]) for r in table_rows(out, "Party 2025-01-01")}
    # ana: Alpha is credited on 4 of her 6 plays (ben: 3 of 5), and all 6 end 08:00-08:50 UTC.
    assert rows["loyalist"] == ("Ana", f"{100 * 4 / 6:.0f}%") == ("Ana", "67%")
    assert rows["early_bird"] == ("Ana", "100%")
    assert rows["picky_listener"] == ("", "")  # every play lasts 180 s
    code, out, err = _run(runner, household, *args, "--format", "csv")
    assert code == 0, err
    lines = out.splitlines()
    # CSV keeps the number, and the winner's id as JSON has it (the table shows the name alone).
    assert lines[0] == "award,winner,display_name,value,unit"
    assert "loyalist,ana,Ana,0.6667,share" in lines
    assert "picky_listener,,,,share" in lines
