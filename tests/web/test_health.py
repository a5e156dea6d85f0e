"""How the Data health page words run counts and names files (brapped.web.health)."""

from __future__ import annotations

from brapped.web.health import describe_counts, file_name, without_folders


def test_import_counts_read_as_a_sentence() -> None:
    counts = {
        "files_read": 3,
        "files_failed": 0,
        "files_skipped": 1,
        "records": 12_050,
        "new": 12_000,
        "known": 1,
        "merged": 0,
        "replaced": 0,
        "skipped": {"local file or track without a Spotify URI": 40, "no track, episode or chapter": 2},
        "gaps_filled": 1,
    }
    assert describe_counts(counts) == (
        "12,000 plays added, 1 play already stored, 3 files read, 1 file skipped, 12,050 records, "
        "1 gap filled, 42 records skipped "
        "(local file or track without a Spotify URI: 40; no track, episode or chapter: 2)"
    )


def test_nothing_added_says_so_and_empty_values_say_nothing() -> None:
    assert describe_counts({"new": 0, "known": 0, "skipped": {}, "gaps_filled": 0}) == "0 plays added"
    assert describe_counts({"api_calls": 2, "stopped": None, "artists_enriched": 0}) == "2 API calls"
    assert describe_counts({"syncs": 3, "reports": ["2026-03-01"], "stopped_by": "signal"}) == (
        "3 syncs, 1 report written, stopped: signal"
    )
    assert describe_counts(None) == "" and describe_counts([1, 2]) == ""


def test_exports_and_migrations_show_no_path_or_address() -> None:
    export = {"format": "csv", "directory": "/home/someone/exports/brapped", "plays.csv": 1200}
    assert describe_counts(export) == "as csv, into brapped, 1,200 rows in plays.csv"
    one = {"format": "csv", "directory": "/x/brapped", "accounts.csv": 1}
    assert describe_counts(one) == "as csv, into brapped, 1 row in accounts.csv"
    migrate = {"source": "sqlite:////home/x/b.db", "target": "postgresql://u@h/db", "ok": True, "copied": 9}
    assert describe_counts(migrate) == "9 rows copied"


def test_files_by_their_own_names() -> None:
    assert file_name("/home/a/Spotify Extended Streaming History/Streaming_History_Audio_2020.json") == (
        "Streaming_History_Audio_2020.json"
    )
    assert file_name("/home/a/my_spotify_data.zip!Spotify Account Data/StreamingHistory0.json") == (
        "StreamingHistory0.json"
    )
    assert file_name("C:\\Users\\a\\x.json") == "x.json"
    assert without_folders(
        "/home/a b/Spotify Data/Userdata.json: not history; see https://x.example/a/b"
    ) == ("Userdata.json: not history; see https://x.example/a/b")
