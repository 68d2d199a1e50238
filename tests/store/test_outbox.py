"""The outbox contract, on SQLite and PostgreSQL: dedupe, claim order, outcomes, recovery."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from slawatch.errors import ConflictError, NotFoundError
from slawatch.store import outbox, repo
from slawatch.store.db import Database
from slawatch.store.models import Account, Incident

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _incident(db: Database) -> int:
    """Account ``acme`` and its open incident ``T-1``; returns the incident's id."""
    with db.session() as s:
        s.add(Account(id="acme", name="Acme", plan="enterprise", created_at=NOW, updated_at=NOW))
        return _add_incident(s, "T-1")


def _add_incident(s: Session, key: str, *, status: str = "open", id: int | None = None) -> int:
    """An enterprise incident of account ``acme`` (which must exist); returns its id."""
    incident = Incident(
        id=id,
        external_id=key,
        account_id="acme",
        priority="high",
        opened_priority="high",
        title="down",
        opened_at=NOW,
        plan="enterprise",
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(incident)
    s.flush()
    return int(incident.id)


def _item(
    key: str, *, urgent: bool = False, at: datetime = NOW, **kw: object
) -> outbox.NewNotification:
    return outbox.NewNotification(
        dedupe_key=key,
        kind="escalation",
        stage="warning",
        recipient="#support",
        channel="sms" if urgent else "slack",
        next_attempt_at=at,
        urgent=urgent,
        **kw,  # type: ignore[arg-type]
    )


def test_enqueue_is_deduplicated(db: Database) -> None:
    incident_id = _incident(db)
    with db.session() as s:
        key = f"{incident_id}|k1"
        first = outbox.enqueue(s, _item(key, incident_id=incident_id, payload={"a": 1}), NOW)
        again = outbox.enqueue(s, _item(key, incident_id=incident_id), NOW)
    assert first is not None
    assert again is None
    with db.session() as s:
        assert outbox.enqueue(s, _item(key, incident_id=incident_id, urgent=True), NOW) is None
        rows = outbox.list_notifications(s)
    assert [r.id for r in rows] == [first]
    assert rows[0].payload == {"a": 1}
    assert rows[0].next_attempt_at == NOW
    assert rows[0].next_attempt_at.tzinfo is not None


def test_claim_orders_urgent_first_then_due_time_and_skips_future(db: Database) -> None:
    with db.session() as s:
        late = outbox.enqueue(s, _item("late", at=NOW - timedelta(minutes=1)), NOW)
        early = outbox.enqueue(s, _item("early", at=NOW - timedelta(minutes=5)), NOW)
        page = outbox.enqueue(s, _item("page", urgent=True, at=NOW), NOW)
        outbox.enqueue(s, _item("future", at=NOW + timedelta(minutes=1)), NOW)
        outbox.enqueue(s, _item("held", not_before=NOW + timedelta(hours=1)), NOW)
    with db.session() as s:
        claimed = outbox.claim(s, NOW, limit=10)
        assert [n.id for n in claimed] == [page, early, late]
        assert all(n.status == "sending" and n.attempts == 1 for n in claimed)
    with db.session() as s:
        assert outbox.claim(s, NOW, limit=10) == []
        assert outbox.count_by_status(s) == {"sending": 3, "pending": 2}


def test_claim_limit_and_channels(db: Database) -> None:
    with db.session() as s:
        outbox.enqueue_many(s, [_item(f"k{i}") for i in range(5)] + [_item("p", urgent=True)], NOW)
    with db.session() as s:
        assert [n.channel for n in outbox.claim(s, NOW, limit=10, channels=["sms"])] == ["sms"]
        assert len(outbox.claim(s, NOW, limit=2)) == 2
        assert len(outbox.claim(s, NOW, limit=10)) == 3


def test_outcomes_and_operator_commands(db: Database) -> None:
    with db.session() as s:
        ids = outbox.enqueue_many(s, [_item(k) for k in ("a", "b", "c", "d")], NOW)
    with db.session() as s:
        outbox.claim(s, NOW, limit=4)
        outbox.mark_sent(s, ids[0], NOW, provider_message_id="SM1", address="+359881234567")
        outbox.mark_failed(s, ids[1], NOW, "channel_not_found")
        outbox.mark_retry(s, ids[2], NOW, NOW + timedelta(seconds=30), "429")
        outbox.mark_dropped(s, ids[3], NOW, "incident resolved")
    with db.session() as s:
        sent = outbox.get(s, ids[0])
        assert (sent.status, sent.sent_at, sent.provider_message_id) == ("sent", NOW, "SM1")
        assert outbox.get(s, ids[1]).last_error == "channel_not_found"
        retry_row = outbox.get(s, ids[2])
        assert (retry_row.status, retry_row.next_attempt_at) == (
            "pending",
            NOW + timedelta(seconds=30),
        )
        assert outbox.get(s, ids[3]).drop_reason == "incident resolved"
        assert outbox.set_delivery_status(s, "SM1", "delivered", NOW)
        assert not outbox.set_delivery_status(s, "nope", "delivered", NOW)
    with db.session() as s:
        assert outbox.get(s, ids[0]).delivery_status == "delivered"
        assert outbox.retry(s, ids[1], NOW).status == "pending"
        assert outbox.cancel(s, ids[2], NOW).status == "cancelled"
        with pytest.raises(ConflictError):
            outbox.retry(s, ids[0], NOW)
        with pytest.raises(ConflictError):
            outbox.cancel(s, ids[0], NOW)
        with pytest.raises(NotFoundError):
            outbox.get(s, 999)
        assert [n.id for n in outbox.list_notifications(s, status=["pending"])] == [ids[1]]


def test_crash_recovery_requeues_in_flight(db: Database) -> None:
    with db.session() as s:
        outbox.enqueue_many(s, [_item("a"), _item("b")], NOW)
    with db.session() as s:
        outbox.claim(s, NOW, limit=1)
    later = NOW + timedelta(minutes=3)
    with db.session() as s:
        assert outbox.requeue_in_flight(s, later) == 1
    with db.session() as s:
        assert outbox.count_by_status(s) == {"pending": 2}
        assert outbox.next_due_at(s) == NOW


def test_hold_until_does_not_count_an_attempt(db: Database) -> None:
    with db.session() as s:
        (nid,) = outbox.enqueue_many(s, [_item("a")], NOW)
    with db.session() as s:
        outbox.claim(s, NOW)
        outbox.hold_until(s, nid, NOW, NOW + timedelta(hours=2))
    with db.session() as s:
        row = outbox.get(s, nid)
        assert (row.status, row.attempts, row.next_attempt_at) == (
            "pending",
            0,
            NOW + timedelta(hours=2),
        )


def test_thread_refs_first_wins(db: Database) -> None:
    incident_id = _incident(db)
    with db.session() as s:
        assert repo.get_thread_ref(s, incident_id, "slack", "#support") is None
        repo.set_thread_ref(s, incident_id, "slack", "#support", "1700.1")
        repo.set_thread_ref(s, incident_id, "slack", "#support", "1700.2")
    with db.session() as s:
        assert repo.get_thread_ref(s, incident_id, "slack", "#support") == "1700.1"


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive"), db.session() as s:
        outbox.enqueue(s, _item("n", at=datetime(2026, 1, 1)), NOW)
    with db.session() as s:
        assert outbox.list_notifications(s) == []


def test_concurrent_dispatchers_never_claim_the_same_row(db: Database) -> None:
    """Four claimers race over 40 rows: each row is claimed exactly once (SKIP LOCKED on PG)."""
    import threading

    with db.session() as s:
        outbox.enqueue_many(s, [_item(f"k{i}") for i in range(40)], NOW)
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with db.session() as s:
                    rows = outbox.claim(s, NOW, limit=3)
                    ids = [r.id for r in rows]
                if not ids:
                    return
                with lock:
                    claimed.extend(ids)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(claimed) == 40
    assert len(set(claimed)) == 40


def test_housekeeping_forgets_old_rows_but_not_those_of_open_incidents(db: Database) -> None:
    """An open incident's keys are what stops the policy deciding its thresholds again, so
    housekeeping keeps them however old; everything else old and finished is forgotten."""
    from sqlalchemy import update

    from slawatch.store.models import Notification

    open_id = _incident(db)
    with db.session() as s:
        closed_id = _add_incident(s, "T-2", status="resolved")
    old, recent = NOW - timedelta(days=200), NOW - timedelta(days=1)
    # key -> (incident, status, last touched)
    rows = {
        f"{open_id}|sent": (open_id, "sent", old),
        f"{open_id}|dropped": (open_id, "dropped", old),
        f"{closed_id}|sent": (closed_id, "sent", old),
        f"{closed_id}|dropped": (closed_id, "dropped", old),
        f"{closed_id}|cancelled": (closed_id, "cancelled", old),
        f"{closed_id}|failed": (closed_id, "failed", old),
        f"{closed_id}|pending": (closed_id, "pending", old),
        f"{closed_id}|recent": (closed_id, "sent", recent),
        "meeting:acme:sent": (None, "sent", old),
    }
    with db.session() as s:
        outbox.enqueue_many(
            s, [_item(key, incident_id=incident) for key, (incident, _, _) in rows.items()], NOW
        )
        for key, (_, status, touched) in rows.items():
            s.execute(
                update(Notification)
                .where(Notification.dedupe_key == key)
                .values(status=status, updated_at=touched)
            )
    with db.session() as s:
        purged = outbox.purge_sent_before(s, NOW - timedelta(days=90))
    with db.read_session() as s:
        left = {r.dedupe_key for r in outbox.list_notifications(s, limit=100)}
    assert left == {
        f"{open_id}|sent",
        f"{open_id}|dropped",
        f"{closed_id}|failed",
        f"{closed_id}|pending",
        f"{closed_id}|recent",
    }
    assert purged == 4


def test_an_incidents_keys_and_rows_are_exactly_its_own(db: Database) -> None:
    """``sent_keys_by_incident`` and ``incident show``'s rows: on SQLite ranges of the key
    index (``"<id>|"``), on PostgreSQL the incident_id index. Ids that prefix one another (1,
    10, 11, 100), fallback rows (their key extends the original's) and rows without an
    incident whose keys start with digits must come out the same on both."""
    from slawatch.core.delivery import dedupe_key

    with db.session() as s:
        s.add(Account(id="acme", name="Acme", plan="enterprise", created_at=NOW, updated_at=NOW))
        for n in range(1, 101):
            _add_incident(s, f"T-{n}", id=n)
    mine = (1, 10, 11, 100)
    expected: dict[int, set[str]] = {}
    items = []
    for incident in mine:
        keys = {
            dedupe_key(str(incident), "response", "team-50", 0, "#support", "slack"),
            dedupe_key(str(incident), None, "page:primary", 3, "+359888000000", "sms"),
        }
        fallback = dedupe_key(str(incident), "resolution", "csm-75", 0, "maria", "slack")
        keys |= {fallback, f"{fallback}|fallback:email"}
        expected[incident] = keys
        items += [_item(key, incident_id=incident) for key in sorted(keys)]
    # not any incident's, though it starts with an id
    items.append(_item("10/not-a-bar", incident_id=None))
    # the key space "<id>|" is the incident's alone: nothing else may take a key in it, and an
    # incident's row may not take another's
    with pytest.raises(ValueError, match="looks like an incident's"):
        _item("1|reminder-like", incident_id=None)
    with pytest.raises(ValueError, match=re.escape("must start with '10|'")):
        _item("1|response|x", incident_id=10)
    with db.session() as s:
        outbox.enqueue_many(s, items, NOW)
    with db.read_session() as s:
        assert repo.sent_keys_by_incident(s, [*mine, 2, 99]) == expected
        for incident in mine:
            shown = outbox.list_notifications(s, incident_id=incident, limit=1000)
            assert {row.dedupe_key for row in shown} == expected[incident]
        assert outbox.list_notifications(s, incident_id=2) == []
