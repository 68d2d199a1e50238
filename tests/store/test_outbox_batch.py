"""``outbox.enqueue_batch`` (the scan's bulk insert) keeps :func:`outbox.enqueue`'s contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slawatch.store import outbox
from slawatch.store.db import Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _item(key: str, **kw: object) -> outbox.NewNotification:
    fields: dict[str, object] = {"next_attempt_at": NOW, **kw}
    return outbox.NewNotification(
        dedupe_key=key,
        kind="escalation",
        stage="warning",
        recipient="#support",
        channel="slack",
        **fields,  # type: ignore[arg-type]
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


def test_claim_rows_takes_due_rows_urgent_first_and_marks_them_sending(db: Database) -> None:
    later = NOW + timedelta(hours=1)
    with db.session() as s:
        outbox.enqueue_batch(
            s,
            [
                (_item("first", payload={"k": "v"}), None),
                (_item("held", not_before=later), None),
                (_item("future", next_attempt_at=later), None),
                (_item("page", urgent=True), None),
                (_item("second"), None),
            ],
            NOW,
        )
    with db.session() as s:
        rows = outbox.claim_rows(s, NOW, limit=2)
        assert [(r.dedupe_key, r.attempts, r.urgent) for r in rows] == [
            ("page", 1, True),
            ("first", 1, False),
        ]
        assert set(outbox.CLAIM_COLUMNS) <= set(rows[0]._fields)
    with db.session() as s:
        assert [r.dedupe_key for r in outbox.claim_rows(s, NOW, limit=5)] == ["second"]
        assert outbox.claim_rows(s, NOW, limit=5) == []
        statuses = {r.dedupe_key: r.status for r in outbox.list_notifications(s)}
    assert statuses == {
        "first": "sending",
        "held": "pending",
        "future": "pending",
        "page": "sending",
        "second": "sending",
    }
    with db.session() as s:
        assert [r.dedupe_key for r in outbox.claim_rows(s, later, limit=5)] == ["held", "future"]
