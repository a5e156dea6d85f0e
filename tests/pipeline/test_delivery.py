"""The daily report: files, Markdown, webhook and e-mail, against local test servers."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from brapped.config import load_settings
from brapped.insights.daily import day_report
from brapped.pipeline.delivery import (
    DISCORD_LIMIT,
    DeliveryError,
    deliver_day_report,
    parse_smtp_url,
    post_webhook,
    render_markdown,
    send_mail,
    slack_text,
    webhook_payload,
)
from brapped.store import Store
from tests.pipeline.conftest import Mailbox, Webhook, fill


def settings_for(home: Path, url: str, **values: Any) -> Any:
    env = {"BRAPPED_DATABASE_URL": url, "BRAPPED_TIMEZONE": "Europe/Berlin"}
    env.update({k: str(v) for k, v in values.items()})
    return load_settings(env=env, home=home)


def busiest_day(made: dict[str, Any]) -> date:
    days: dict[date, int] = {}
    for play in made["plays"]:
        day = play["played_at"].date()
        days[day] = days.get(day, 0) + 1
    return max(days, key=lambda d: days[d])


def test_report_written_and_posted(store: Store, tmp_path: Path, webhook: Webhook) -> None:
    made = fill(store, plays=300)
    day = busiest_day(made)
    settings = settings_for(tmp_path, "sqlite://", BRAPPED_WEBHOOK_URL=webhook.url)
    result = deliver_day_report(store, settings, day)
    with store.connect() as conn:
        expected = day_report(conn, day, "Europe/Berlin")
    written = json.loads((tmp_path / "reports" / f"{day}.json").read_text())
    assert written == json.loads(json.dumps(expected, default=lambda v: v.isoformat().replace("+00:00", "Z")))
    markdown = (tmp_path / "reports" / f"{day}.md").read_text()
    assert markdown == render_markdown(expected)
    assert f"**{expected['plays']:,} plays**" in markdown
    assert f"{expected['minutes_listened']:,.1f} minutes" in markdown
    assert expected["top_artists"][0]["name"] in markdown
    assert result == {
        "markdown": str(tmp_path / "reports" / f"{day}.md"),
        "json": str(tmp_path / "reports" / f"{day}.json"),
        "plays": expected["plays"],
        "webhook_status": 204,
    }
    assert webhook.received == [{"text": slack_text(markdown), "content": markdown, "username": "brapped"}]
    slack = webhook.received[0]["text"]
    assert slack.startswith(f"*brapped: {day} (Europe/Berlin)*\n") and "**" not in slack
    assert f"*{expected['plays']:,} plays*" in slack
    assert webhook.paths == ["/hooks/T000/SECRETPART"]


def test_webhook_failure_keeps_the_files_and_hides_the_secret(
    sqlite_store: Store, tmp_path: Path, webhook: Webhook
) -> None:
    webhook.status = 500
    settings = settings_for(tmp_path, "sqlite://", BRAPPED_WEBHOOK_URL=webhook.url)
    result = deliver_day_report(sqlite_store, settings, date(2026, 3, 1))
    assert (tmp_path / "reports" / "2026-03-01.md").exists()
    [problem] = result["delivery_errors"]
    assert "answered 500" in problem and "SECRETPART" not in problem
    with pytest.raises(DeliveryError, match="unreachable") as caught:
        post_webhook("http://127.0.0.1:1/hooks/SECRETPART", "hi")
    assert "SECRETPART" not in str(caught.value)


def test_long_reports_fit_discord() -> None:
    payload = webhook_payload("x" * 5000)
    assert payload["text"] == "x" * 5000  # Slack takes up to 40,000 characters
    assert len(payload["content"]) <= DISCORD_LIMIT and payload["content"].startswith("x" * 1000)


def test_report_is_mailed(sqlite_store: Store, tmp_path: Path, mailbox: Mailbox) -> None:
    fill(sqlite_store, plays=50)
    settings = settings_for(
        tmp_path,
        "sqlite://",
        BRAPPED_SMTP_URL=f"smtp://me%40example.org:p%40ss@127.0.0.1:{mailbox.port}",
        BRAPPED_MAIL_TO="you@example.org",
    )
    result = deliver_day_report(sqlite_store, settings, date(2026, 3, 1))
    assert result["mailed_to"] == "you@example.org" and "delivery_errors" not in result
    [message] = mailbox.messages
    assert [r.upper() for r in message["rcpt"]] == ["RCPT TO:<YOU@EXAMPLE.ORG>"]
    assert "FROM:<me@example.org>" in message["from"]
    assert "Subject: brapped: your day 2026-03-01" in message["data"]
    assert "# brapped: 2026-03-01 (Europe/Berlin)" in message["data"]
    # Logged in with the URL's (percent-decoded) credentials; loopback without TLS is allowed.
    assert base64.b64decode(message["auth"].split()[-1]) == b"\0me@example.org\0p@ss"


def test_mail_settings_must_come_in_pairs_and_parse(sqlite_store: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "sqlite://", BRAPPED_MAIL_TO="you@example.org")
    result = deliver_day_report(sqlite_store, settings, date(2026, 3, 1))
    assert result["delivery_errors"] == ["e-mail needs both BRAPPED_SMTP_URL and BRAPPED_MAIL_TO"]
    with pytest.raises(DeliveryError, match="must look like"):
        parse_smtp_url("http://host")
    assert parse_smtp_url("smtps://u:p@mail.example.org").port == 465
    with pytest.raises(DeliveryError, match="failed: ConnectionRefusedError"):
        send_mail("smtp://127.0.0.1:1", "you@example.org", "s", "body")


def test_markdown_of_an_empty_day() -> None:
    text = render_markdown({"date": "2026-03-01", "timezone": "UTC", "plays": 0, "minutes_listened": 0.0})
    assert text.startswith("# brapped: 2026-03-01 (UTC)\n")
    assert "**0 plays**" in text and "no earlier days to compare" in text


def test_a_household_gets_a_report_each(store: Store, tmp_path: Path, webhook: Webhook) -> None:
    """Two synced accounts: the combined files as before, then per account that listened that day its
    own files in reports/USER/ and its own webhook message, headed with its name."""
    from sqlalchemy import insert

    from brapped.store import tables

    made = fill(store, plays=300)  # plays of "listener" (an account) and "other" (import-only so far)
    day = busiest_day(made)
    settings = settings_for(tmp_path, "sqlite://", BRAPPED_WEBHOOK_URL=webhook.url)
    with store.begin() as conn:
        conn.execute(insert(tables.accounts), [{"id": "other", "display_name": "Oth", "first_seen_at": None}])
    result = deliver_day_report(store, settings, day)
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    played = {
        u: sum(
            1 for p in made["plays"] if p["user_id"] == u and p["played_at"].astimezone(berlin).date() == day
        )
        for u in ("listener", "other")
    }
    listened = sorted(u for u, n in played.items() if n)
    assert sorted(result["accounts"]) == listened and listened
    assert (tmp_path / "reports" / f"{day}.json").exists()  # everyone together, as before
    for user in listened:
        part = result["accounts"][user]
        assert part["plays"] == played[user] and part["webhook_status"] == 204
        written = json.loads((tmp_path / "reports" / user / f"{day}.json").read_text())
        assert written["plays"] == played[user]
    names = {"listener": "Lis", "other": "Oth"}
    assert [m["content"].splitlines()[0] for m in webhook.received] == [
        f"# brapped · {names[u]}: {day} (Europe/Berlin)" for u in listened
    ]
