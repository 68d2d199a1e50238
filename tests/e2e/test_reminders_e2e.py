"""The real ``slawatch run`` sends an alignment meeting reminder once, and not again on restart.

The account's contract start is chosen relative to today so its quarterly meeting falls due in
three days: the daily reminders job (which also runs at start) enqueues the 3-day reminder for
the CSM on Slack, and with no Slack configured it goes out through the console and JSON-lines
senders. A second daemon on the same database must not send it again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_harness import Daemon, poll

from slawatch.core.contract import add_months

pytestmark = pytest.mark.e2e

CONFIG = """
[api]
enabled = false

[people.maria]
name = "Maria Petrova"
slack = "U0MARIA"

[people.lead]
name = "Support Lead"
email = "lead@example.com"

[roles]
support_lead = "lead"

[accounts.acme]
name = "ACME Corp"
plan = "enterprise"
csm = "maria"
contract_start = "{start}"
"""


GLOBEX = """
[accounts.globex]
name = "Globex"
plan = "premium"
csm = "maria"
contract_start = "{start}"
"""


def reminders(jsonl: Path, text: str) -> list[dict[str, object]]:
    """The meeting reminders in the JSON-lines file whose text names ``text``."""
    if not jsonl.exists():
        return []
    records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return [
        r for r in records if r.get("stage") == "meeting_reminder" and text in str(r.get("text"))
    ]


def test_meeting_reminder_sent_once_across_restarts(tmp_path: Path) -> None:
    due = datetime.now(UTC).date() + timedelta(days=3)
    start = add_months(due, -3).isoformat()
    config = tmp_path / "slawatch.toml"
    config.write_text(CONFIG.format(start=start), encoding="utf-8")
    jsonl = tmp_path / "var" / "notifications.jsonl"

    first = Daemon(tmp_path, config, environ={}).start()
    try:
        sent = poll("ACME's reminder in the JSON-lines file", lambda: reminders(jsonl, "ACME"), 60)
        first.wait_output("Alignment meeting due: ACME Corp", timeout_s=10)
    finally:
        assert first.stop() == 0
    assert len(sent) == 1
    assert sent[0]["channel"] == "slack" and sent[0]["address"] == "U0MARIA"

    # Restart with one more account due as well: its reminder proves the reminders job ran
    # again, and ACME's must not have been sent a second time.
    config.write_text(CONFIG.format(start=start) + GLOBEX.format(start=start), encoding="utf-8")
    second = Daemon(tmp_path, config, environ={}).start()
    try:
        poll("Globex's reminder in the JSON-lines file", lambda: reminders(jsonl, "Globex"), 60)
        second.wait_event("reminders_enqueued", timeout_s=10)
    finally:
        assert second.stop() == 0
    assert len(reminders(jsonl, "ACME")) == 1
    assert second.events("reminders_enqueued")[0].data["count"] == 1
