"""``slawatch outbox list|retry|cancel``: look at and steer the notification outbox.

Operators use it after an outage or a provider incident: list what failed and why, send a
failed (or dropped) notification again, or cancel one that should never go out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from slawatch.cli.common import config_option, echo_json, handle_errors, load_settings
from slawatch.cli.db import open_database
from slawatch.obs.logging import mask_phone
from slawatch.store import outbox
from slawatch.store.models import Notification

STATUSES = ("pending", "sending", "sent", "failed", "dropped", "cancelled")


def notification_view(row: Notification) -> dict[str, Any]:
    """A notification as the CLI and ``incident show`` print it (phone numbers masked)."""
    address = row.address
    if address and row.channel == "sms":
        address = mask_phone(address)
    return {
        "id": row.id,
        "status": row.status,
        "kind": row.kind,
        "incident_id": row.incident_id,
        "incident": (row.payload or {}).get("incident_external_id"),
        "account": row.account_id,
        "target": row.target,
        "stage": row.stage,
        "step": row.step,
        "repetition": row.repetition,
        "recipient": row.recipient,
        "channel": row.channel,
        "address": address,
        "urgent": row.urgent,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "not_before": row.not_before.isoformat() if row.not_before else None,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "last_error": row.last_error,
        "drop_reason": row.drop_reason,
        "provider_message_id": row.provider_message_id,
        "delivery_status": row.delivery_status,
        "dedupe_key": row.dedupe_key,
    }


def _line(view: dict[str, Any]) -> str:
    what = view["incident"] or view["account"] or "-"
    outcome = view["last_error"] or view["drop_reason"] or view["delivery_status"] or ""
    when = view["sent_at"] or view["next_attempt_at"] or ""
    return (
        f"{view['id']:>6}  {view['status']:<9} {view['channel']:<5} {view['stage']:<16} "
        f"{what:<18} {view['recipient']:<16} {when:<32} {outcome}"
    )


def register(cli: click.Group) -> None:
    @cli.group("outbox")
    def outbox_group() -> None:
        """The notification outbox: list, retry, cancel."""

    @outbox_group.command("list")
    @click.option(
        "--status",
        "statuses",
        multiple=True,
        type=click.Choice(STATUSES),
        help="Only these states (repeatable).",
    )
    @click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
    @click.option("--json", "as_json", is_flag=True)
    @config_option
    @handle_errors
    def list_cmd(
        statuses: tuple[str, ...], limit: int, as_json: bool, config_path: str | None
    ) -> None:
        """Notifications, newest first, with their outcome."""
        db = open_database(load_settings(config_path))
        try:
            with db.read_session() as session:
                rows = outbox.list_notifications(
                    session, status=list(statuses) or None, limit=limit
                )
                views = [notification_view(r) for r in rows]
                counts = outbox.count_by_status(session)
        finally:
            db.dispose()
        if as_json:
            echo_json(views)
            return
        click.echo("  ".join(f"{s}: {counts.get(s, 0)}" for s in STATUSES))
        for view in views:
            click.echo(_line(view))

    @outbox_group.command("retry")
    @click.argument("notification_id", type=int)
    @config_option
    @handle_errors
    def retry_cmd(notification_id: int, config_path: str | None) -> None:
        """Send a failed, dropped or cancelled notification again (at once)."""
        db = open_database(load_settings(config_path))
        try:
            with db.session() as session:
                row = outbox.retry(session, notification_id, datetime.now(UTC))
                click.echo(
                    f"notification {row.id} is pending again ({row.channel} to {row.recipient})"
                )
        finally:
            db.dispose()

    @outbox_group.command("cancel")
    @click.argument("notification_id", type=int)
    @config_option
    @handle_errors
    def cancel_cmd(notification_id: int, config_path: str | None) -> None:
        """Make sure a pending or failed notification is never sent."""
        db = open_database(load_settings(config_path))
        try:
            with db.session() as session:
                row = outbox.cancel(session, notification_id, datetime.now(UTC))
                click.echo(f"notification {row.id} cancelled")
        finally:
            db.dispose()
