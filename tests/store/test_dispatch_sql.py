"""The dispatcher's plain-SQL statements (``store.dispatch_sql``), on SQLite and PostgreSQL: each
gives exactly what the SQLAlchemy functions it replaces give (``outbox.claim``/``claim_rows``,
``repo.load_incident_views`` + ``get_thread_ref``, ``outbox.mark_sent``,
``repo.set_thread_ref``), column types included (aware UTC datetimes, booleans, JSON)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from outbox_queue import NOW, item, seed_queue
from slawatch.errors import NotFoundError
from slawatch.store import outbox, repo
from slawatch.store.db import Database
from slawatch.store.dispatch_sql import DispatchSQL, sqlite_time
from slawatch.store.models import Account, Incident, IncidentEventRow, Notification

SOFIA = timezone(timedelta(hours=2))


@contextmanager
def fast(db: Database) -> Iterator[DispatchSQL]:
    """A write transaction with the statements on it, as the dispatcher uses them."""
    with db.session() as s:
        yield DispatchSQL(s.connection(), s)


def _account(db: Database, overrides: dict[str, object] | None = None) -> None:
    with db.session() as s:
        s.add(
            Account(
                id="acme",
                name="Acme",
                plan="premium",
                csm="maria",
                calendar="sofia",
                sla_overrides=overrides or {},
                created_at=NOW,
                updated_at=NOW,
            )
        )


def _incident(db: Database, key: str, events: Sequence[tuple[str, datetime]] = ()) -> int:
    with db.session() as s:
        incident = Incident(
            external_id=key,
            account_id="acme",
            priority="high",
            opened_priority="medium",
            title=f"Trouble {key}",
            via_hotline=True,
            assignee="ivan",
            opened_at=datetime(2026, 11, 26, 9, 15, 30, 123456, tzinfo=SOFIA),
            plan="premium",
            last_evaluated_at=NOW - timedelta(minutes=1),
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(incident)
        s.flush()
        for i, (kind, at) in enumerate(events):
            s.add(
                IncidentEventRow(
                    incident_id=incident.id,
                    type=kind,
                    at=at,
                    by="ivan" if i % 2 else None,
                    priority="high" if kind == "priority_changed" else None,
                    text=f"note {i}",
                    recorded_at=at,
                )
            )
        return incident.id


def test_claim_next_follows_the_claim_order_one_row_at_a_time(db: Database) -> None:
    seed_queue(db)
    with db.session() as s:
        expected = [n.dedupe_key for n in outbox.claim(s, NOW, limit=100)]
        s.rollback()
    got: list[str] = []
    while True:
        with fast(db) as sql:
            row = sql.claim_next(NOW)
        if row is None:
            break
        assert row.attempts == 1
        got.append(row.dedupe_key)
    assert (
        got
        == expected
        == [
            "u-early",
            "u-late",
            "n-early",
            "n-tie-a",
            "n-tie-b",
            "n-released",
            "n-late",
        ]
    )
    with db.session() as s:
        statuses = {n.dedupe_key: (n.status, n.attempts) for n in outbox.list_notifications(s)}
    assert statuses["u-early"] == ("sending", 1)
    assert statuses["u-future"] == statuses["n-held"] == ("pending", 0)


def test_a_claimed_row_is_what_claim_rows_returns(db: Database) -> None:
    _account(db)
    incident_id = _incident(db, "INC-1")
    payload = {"incident_external_id": "INC-1", "covers": ["warning"], "severity": 2, "x": None}
    with db.session() as s:
        outbox.enqueue(
            s,
            item(
                f"{incident_id}|k",
                urgent=True,
                minutes=-1,
                incident_id=incident_id,
                account_id="acme",
                target="response",
                step="page:primary",
                repetition=2,
                address="+359881000001",
                payload=payload,
            ),
            NOW,
        )
    with db.session() as s:
        (expected,) = outbox.claim_rows(s, NOW, limit=1)
        expected_values = tuple(getattr(expected, c) for c in outbox.CLAIM_COLUMNS)
        s.rollback()
    with fast(db) as sql:
        row = sql.claim_next(NOW)
    assert row is not None
    values = tuple(getattr(row, c) for c in outbox.CLAIM_COLUMNS)
    assert values == expected_values
    assert [type(v) for v in values] == [type(v) for v in expected_values]
    assert row.urgent is True and row.payload == payload
    with db.session() as s:
        stored = outbox.get(s, row.id)
        assert (stored.status, stored.attempts, stored.updated_at) == ("sending", 1, NOW)


def test_claim_next_returns_none_when_nothing_is_due_and_refuses_naive_times(
    db: Database,
) -> None:
    with fast(db) as sql:
        assert sql.claim_next(NOW) is None
    with pytest.raises(ValueError, match="naive"), fast(db) as sql:
        sql.claim_next(datetime(2026, 11, 26, 12, 0))


def test_recheck_view_is_load_incident_views_plus_the_thread_ref(db: Database) -> None:
    _account(db, {"medium": {"response": "4h"}})
    events = [
        ("priority_changed", datetime(2026, 11, 26, 10, 0, 0, 5, tzinfo=UTC)),
        ("responded", datetime(2026, 11, 26, 11, 0, tzinfo=SOFIA)),  # 09:00 UTC: first
        ("paused", datetime(2026, 11, 26, 10, 0, 0, 5, tzinfo=UTC)),  # same instant: id order
    ]
    incident_id = _incident(db, "INC-1", events)
    bare_id = _incident(db, "INC-2")
    with db.session() as s:
        expected = repo.load_incident_views(s, [incident_id, bare_id])
    with fast(db) as sql:
        view, thread_ref = sql.recheck_view(incident_id, "slack", "#support")
        bare, bare_ref = sql.recheck_view(bare_id, "slack", "#support")
        assert sql.recheck_view(incident_id + 100, "slack", "#support") == (None, None)
    assert view == expected[0] and bare == expected[1]
    assert thread_ref is None and bare_ref is None and bare is not None and bare.events == []
    assert view is not None and view.account is not None
    assert [e.type for e in view.events] == ["responded", "priority_changed", "paused"]
    assert view.account.sla_overrides == {"medium": {"response": "4h"}}
    assert view.via_hotline is True
    times = [view.opened_at, view.last_evaluated_at, *(e.at for e in view.events)]
    assert all(t is not None and t.tzinfo is UTC for t in times)
    assert view.opened_at == datetime(2026, 11, 26, 7, 15, 30, 123456, tzinfo=UTC)

    with db.session() as s:
        repo.set_thread_ref(s, incident_id, "slack", "#support", "1700.1")
    with fast(db) as sql:
        assert sql.recheck_view(incident_id, "slack", "#support")[1] == "1700.1"
        assert sql.recheck_view(incident_id, "email", "#support")[1] is None
        assert sql.recheck_view(incident_id, "slack", "#other")[1] is None
        assert sql.recheck_view(incident_id, "slack", None)[1] is None


def _claimed_pair(db: Database) -> tuple[int, int]:
    with db.session() as s:
        ids = outbox.enqueue_many(
            s,
            [
                item("a", urgent=False, minutes=-1, address="#old"),
                item("b", urgent=False, minutes=-1, address="#old"),
            ],
            NOW,
        )
        outbox.claim(s, NOW, limit=2)
        outbox.mark_retry(s, ids[0], NOW, NOW, "boom")
        outbox.mark_retry(s, ids[1], NOW, NOW, "boom")
        outbox.claim(s, NOW, limit=2)
    return ids[0], ids[1]


def _columns(db: Database, notification_id: int) -> dict[str, object]:
    with db.read_session() as s:
        row = outbox.get(s, notification_id)
        skip = {"id", "dedupe_key", "created_at"}
        columns = [c.key for c in Notification.__table__.columns]
        return {c: getattr(row, c) for c in columns if c not in skip}


@pytest.mark.parametrize(
    ("provider_message_id", "address"),
    [("SM1", "+359881234567"), (None, None), ("SM2", None), (None, "#new")],
)
def test_mark_sent_stores_what_outbox_mark_sent_stores(
    db: Database, provider_message_id: str | None, address: str | None
) -> None:
    slow_id, fast_id = _claimed_pair(db)
    done = datetime(2026, 11, 26, 14, 0, 1, 250, tzinfo=SOFIA)
    with db.session() as s:
        outbox.mark_sent(s, slow_id, done, provider_message_id=provider_message_id, address=address)
    with fast(db) as sql:
        sql.mark_sent(fast_id, done, provider_message_id=provider_message_id, address=address)
    slow, quick = _columns(db, slow_id), _columns(db, fast_id)
    assert quick == slow
    assert quick["status"] == "sent" and quick["sent_at"] == done and quick["last_error"] is None
    if not db.is_postgresql:  # the very same text, so that text comparison stays chronological
        with db.engine.connect() as conn:
            stored = conn.execute(
                text("SELECT id, sent_at, updated_at FROM notifications ORDER BY id")
            ).all()
        assert stored[0][1:] == stored[1][1:] == (sqlite_time(done), sqlite_time(done))
        assert sqlite_time(done) == "2026-11-26 12:00:01.000250"


def test_mark_sent_of_an_unknown_row_raises(db: Database) -> None:
    with pytest.raises(NotFoundError), fast(db) as sql:
        sql.mark_sent(999, NOW, provider_message_id="x")


def test_mark_sent_expires_a_loaded_row_of_the_session(db: Database) -> None:
    _slow_id, fast_id = _claimed_pair(db)
    with db.session() as s:
        loaded = outbox.get(s, fast_id)
        assert loaded.status == "sending"
        DispatchSQL(s.connection(), s).mark_sent(fast_id, NOW, provider_message_id="SM9")
        assert (loaded.status, loaded.provider_message_id) == ("sent", "SM9")


def test_remember_thread_first_wins_and_is_read_by_repo(db: Database) -> None:
    _account(db)
    incident_id = _incident(db, "INC-1")
    with fast(db) as sql:
        sql.remember_thread(incident_id, "slack", "#support", "1700.1")
        sql.remember_thread(incident_id, "slack", "#support", "1700.2")
    with db.session() as s:
        assert repo.get_thread_ref(s, incident_id, "slack", "#support") == "1700.1"
        repo.set_thread_ref(s, incident_id, "email", "a@example.com", "<m1@x>")
    with fast(db) as sql:
        sql.remember_thread(incident_id, "email", "a@example.com", "<m2@x>")
        assert sql.recheck_view(incident_id, "email", "a@example.com")[1] == "<m1@x>"


def test_concurrent_claimers_never_claim_the_same_row(db: Database) -> None:
    """Four claimers race over 40 rows: each row is claimed exactly once (SKIP LOCKED on PG,
    BEGIN IMMEDIATE on SQLite)."""
    with db.session() as s:
        outbox.enqueue_many(
            s, [item(f"k{i}", urgent=i % 3 == 0, minutes=-i) for i in range(40)], NOW
        )
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with fast(db) as sql:
                    row = sql.claim_next(NOW)
                if row is None:
                    return
                with lock:
                    claimed.append(row.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(claimed) == len(set(claimed)) == 40


def test_sqlite_claim_reads_the_index_without_sorting_the_queue(db: Database) -> None:
    if db.is_postgresql:
        return
    from slawatch.store import dispatch_sql

    stamp = sqlite_time(NOW)
    select_part = dispatch_sql._CLAIM_SQLITE.split("id = (", 1)[1].rsplit(")", 1)[0]
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.execute(
            "EXPLAIN QUERY PLAN " + select_part, {"now": stamp}
        )
        plan = [row[-1] for row in cursor.fetchall()]
    searches = [p for p in plan if "SEARCH notifications" in p]
    assert len(searches) == 2, plan
    assert all("ix_notifications_status_urgent_next_attempt_at" in p for p in searches), plan
    assert not any("USE TEMP B-TREE" in p and "notifications" in p for p in plan), plan
