"""A small outbox queue that exercises the claim order, shared by the claim tests (SQLAlchemy's
``outbox.claim_rows`` and the dispatcher's raw ``DispatchSQL.claim_next``): urgent and normal
rows, overdue and future ones, ties on the due instant, a row held by delivery hours and one
already released from its hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slawatch.store import outbox
from slawatch.store.db import Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def item(key: str, *, urgent: bool, minutes: int, **kw: object) -> outbox.NewNotification:
    """A notification due ``minutes`` from :data:`NOW` (an SMS page when ``urgent``)."""
    return outbox.NewNotification(
        dedupe_key=key,
        kind="page" if urgent else "escalation",
        stage="page" if urgent else "warning",
        recipient="ivan",
        channel="sms" if urgent else "slack",
        next_attempt_at=NOW + timedelta(minutes=minutes),
        urgent=urgent,
        **kw,  # type: ignore[arg-type]
    )


def seed_queue(db: Database) -> None:
    """Enqueue the queue described above."""
    items = [
        item("n-late", urgent=False, minutes=-1),
        item("u-late", urgent=True, minutes=-2),
        item("n-early", urgent=False, minutes=-30),
        item("n-tie-a", urgent=False, minutes=-10),
        item("n-tie-b", urgent=False, minutes=-10),
        item("u-early", urgent=True, minutes=-20),
        item("u-future", urgent=True, minutes=5),
        item("n-future", urgent=False, minutes=1),
        item("n-held", urgent=False, minutes=-5, not_before=NOW + timedelta(hours=1)),
        item("n-released", urgent=False, minutes=-3, not_before=NOW - timedelta(minutes=3)),
    ]
    with db.session() as s:
        outbox.enqueue_many(s, items, NOW)
