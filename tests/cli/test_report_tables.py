"""`brapped.cli.report_tables`: what the terminal tables of the reports write."""

from __future__ import annotations

from brapped.cli.report_tables import artists_text


def test_a_sentence_names_a_featured_artist_once() -> None:
    credits = [{"name": "Alpha", "role": "main"}, {"name": "Beta", "role": "featured"}]
    assert artists_text(credits) == "Alpha (feat. Beta)"  # a column of artists names them all
    assert artists_text(credits, "Two (feat. Beta)") == "Alpha"
    assert artists_text(credits, "Two") == "Alpha (feat. Beta)"
