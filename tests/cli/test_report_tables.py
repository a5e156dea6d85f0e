"""`brapped.cli.report_tables`: what the terminal tables of the reports write."""

from __future__ import annotations

from brapped.cli.report_tables import artists_text


def test_a_sentence_names_a_featured_artist_once() -> None:
    credits = [{"name": "Alpha", "role": "main"}, {"name": "Beta", "role": "featured"}]
    assert artists_text(credits) == "Alpha (feat. Beta)"  # a column of artists names them all
    assert artists_text(credits, "Two (feat. Beta)") == "Alpha"
    assert artists_text(credits, "Two") == "Alpha (feat. Beta)"


def test_a_featured_name_that_is_only_a_word_of_the_title_stays() -> None:
    credits = [{"name": "Prince", "role": "main"}, {"name": "Rain", "role": "featured"}]
    assert artists_text(credits, "Purple Rain") == "Prince (feat. Rain)"
    assert artists_text(credits, "Purple Rain (feat. RAIN)") == "Prince"
    assert artists_text(credits, "Purple Rain [with Rain & Sun]") == "Prince"
    assert artists_text(credits, "Purple Rain - ft. Rain") == "Prince"
    assert artists_text(credits, "Purple Rain (feat. Rainbow)") == "Prince (feat. Rain)"
