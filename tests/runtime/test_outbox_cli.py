"""``slawatch outbox list|retry|cancel`` on a real SQLite database, in-process through click."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from slawatch.cli.main import cli
from slawatch.store import outbox
from slawatch.store.db import Database
from slawatch.store.models import Notification

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Outbox:
    def __init__(self, tmp_path: Path) -> None:
        self.db_path = tmp_path / "var" / "slawatch.db"
        self.config = tmp_path / "slawatch.toml"
        self.config.write_text(
            f'[database]\nurl = "sqlite:///{self.db_path}"\n[people.ivan]\n'
            f'phone = "+359881000002"\n',
            encoding="utf-8",
        )
        self.runner = CliRunner()
        self("outbox", "list")  # creates and migrates the database
        self.db = Database(f"sqlite:///{self.db_path}")

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(cli, [*args, "--config", str(self.config)])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def add(self, key: str, status: str, channel: str = "slack", **fields: object) -> int:
        with self.db.session() as session:
            new_id = outbox.enqueue(
                session,
                outbox.NewNotification(
                    dedupe_key=key,
                    kind="test",
                    stage="test",
                    recipient="ivan" if channel == "sms" else "#support",
                    channel=channel,
                    next_attempt_at=NOW,
                ),
                NOW,
            )
            assert new_id is not None
            if status == "failed":
                session.execute(
                    update(Notification).where(Notification.id == new_id).values(attempts=8)
                )
                outbox.mark_failed(session, new_id, NOW, "channel_not_found")
            elif status == "sent":
                outbox.mark_sent(
                    session, new_id, NOW, provider_message_id="1.2", address="+359881000002"
                )
            elif status == "dropped":
                outbox.mark_dropped(session, new_id, NOW, "incident resolved")
        return new_id

    def status(self, notification_id: int) -> tuple[str, datetime]:
        with self.db.read_session() as session:
            row = outbox.get(session, notification_id)
            return row.status, row.next_attempt_at


@pytest.fixture
def box(tmp_path: Path) -> Outbox:
    created = Outbox(tmp_path)
    yield created  # type: ignore[misc]
    created.db.dispose()


def test_list_filters_by_status_and_masks_phone_numbers(box: Outbox) -> None:
    failed = box.add("a", "failed")
    box.add("b", "pending")
    sent = box.add("c", "sent", channel="sms")
    views = json.loads(box("outbox", "list", "--status", "failed", "--json").stdout)
    assert [(v["id"], v["status"], v["last_error"]) for v in views] == [
        (failed, "failed", "channel_not_found")
    ]
    both = json.loads(
        box("outbox", "list", "--status", "failed", "--status", "sent", "--json").stdout
    )
    assert [v["id"] for v in both] == [sent, failed]  # newest first
    assert both[0]["address"] == "+35988****002"
    text = box("outbox", "list").stdout
    assert "pending: 1" in text and "failed: 1" in text and "sent: 1" in text
    assert "+359881000002" not in text


def test_retry_puts_a_failed_or_dropped_row_back_to_pending_now(box: Outbox) -> None:
    failed = box.add("a", "failed")
    dropped = box.add("b", "dropped")
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert "pending again" in box("outbox", "retry", str(failed)).stdout
    box("outbox", "retry", str(dropped))
    for notification_id in (failed, dropped):
        status, next_attempt_at = box.status(notification_id)
        assert status == "pending" and next_attempt_at >= before
    with box.db.read_session() as session:
        # A fresh series of attempts, not one last try after max_attempts.
        assert outbox.get(session, failed).attempts == 0


def test_cancel_and_refusals_exit_2_without_changing_anything(box: Outbox) -> None:
    pending = box.add("a", "pending")
    sent = box.add("b", "sent")
    assert "cancelled" in box("outbox", "cancel", str(pending)).stdout
    assert box.status(pending)[0] == "cancelled"
    refused = box("outbox", "cancel", str(sent), code=2)
    assert "only pending, failed ones can be cancelled" in refused.stderr
    refused = box("outbox", "retry", str(sent), code=2)
    assert "is sent" in refused.stderr
    assert box.status(sent)[0] == "sent"
    missing = box("outbox", "retry", "999", code=2)
    assert "999" in missing.stderr
