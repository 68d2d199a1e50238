"""``outbox.enqueue_batch`` (the scan's bulk insert) keeps :func:`outbox.enqueue`'s contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slawatch.store import outbox
from slawatch.store.db import Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _item(key: str, **kw: object) -> outbox.NewNotification:
    return outbox.NewNotification(
        dedupe_key=key,
        kind="escalation",
        stage="warning",
        recipient="#support",
        channel="slack",
        next_attempt_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_batch_skips_existing_and_repeated_keys_and_stores_drops(db: Database) -> None:
    with db.session() as s:
        existing = outbox.enqueue(s, _item("old"), NOW)
    later = NOW + timedelta(minutes=1)
    with db.session() as s:
        inserted = outbox.enqueue_batch(
            s,
            [
                (_item("a", payload={"n": 1}), None),
                (_item("old"), None),
                (_item("b", not_before=later), "superseded by a catch-up"),
                (_item("a", payload={"n": 2}), None),
                (_item("c", urgent=True), None),
            ],
            later,
        )
    assert set(inserted) == {"a", "b", "c"}
    assert existing is not None and existing not in inserted.values()
    assert inserted["a"] < inserted["b"] < inserted["c"]  # ids keep the items' order
    with db.session() as s:
        rows = {r.dedupe_key: r for r in outbox.list_notifications(s)}
        assert len(rows) == 4
        a, b, c = rows["a"], rows["b"], rows["c"]
        assert (a.status, a.payload, a.attempts, a.drop_reason) == ("pending", {"n": 1}, 0, None)
        assert (b.status, b.drop_reason, b.not_before) == (
            "dropped",
            "superseded by a catch-up",
            later,
        )
        assert c.urgent and c.created_at == later and c.updated_at == later
        # Only pending rows are claimed; the dropped one never is.
        claimed = [r.dedupe_key for r in outbox.claim(s, later, limit=10)]
    assert claimed == ["c", "old", "a"]


def test_empty_batch_inserts_nothing(db: Database) -> None:
    with db.session() as s:
        assert outbox.enqueue_batch(s, [], NOW) == {}
        assert outbox.count_by_status(s) == {}
