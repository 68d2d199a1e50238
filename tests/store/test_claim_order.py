"""``outbox.claim_rows`` (the dispatcher's claim) keeps :func:`outbox.claim`'s order while
reading it from the ``(status, urgent, next_attempt_at)`` index instead of sorting."""

from __future__ import annotations

from sqlalchemy.dialects import sqlite

from outbox_queue import NOW, seed_queue
from slawatch.store import outbox
from slawatch.store.db import Database


def test_claim_rows_one_at_a_time_follows_the_claim_order(db: Database) -> None:
    seed_queue(db)
    with db.session() as s:
        expected = [n.dedupe_key for n in outbox.claim(s, NOW, limit=100)]
        s.rollback()
    assert expected == [
        "u-early",
        "u-late",
        "n-early",
        "n-tie-a",
        "n-tie-b",
        "n-released",
        "n-late",
    ]
    got: list[str] = []
    while True:
        with db.session() as s:
            rows = outbox.claim_rows(s, NOW, limit=1)
        if not rows:
            break
        assert rows[0].attempts == 1
        got.append(rows[0].dedupe_key)
    assert got == expected


def test_claim_rows_limit_and_channels(db: Database) -> None:
    seed_queue(db)
    with db.session() as s:
        assert [r.dedupe_key for r in outbox.claim_rows(s, NOW, limit=3)] == [
            "u-early",
            "u-late",
            "n-early",
        ]
        assert [r.dedupe_key for r in outbox.claim_rows(s, NOW, limit=10, channels=["sms"])] == []
        rest = outbox.claim_rows(s, NOW, limit=10, channels=["slack"])
        assert [r.dedupe_key for r in rest] == ["n-tie-a", "n-tie-b", "n-released", "n-late"]


def test_sqlite_claim_reads_the_index_without_sorting_the_queue(db: Database) -> None:
    if db.is_postgresql:
        return
    query, _ = outbox._claim_statements(False)
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": False}))
    params = ["pending", "2026-11-26 12:00:00.000000", "2026-11-26 12:00:00.000000", 1, 0] * 2
    params += [1, 0]
    with db.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params))]
    searches = [p for p in plan if "SEARCH notifications" in p]
    assert len(searches) == 2
    assert all("ix_notifications_status_urgent_next_attempt_at" in p for p in searches)
    # the only sort left is of the (at most 2 x limit) rows the two index reads return
    assert not any("USE TEMP B-TREE" in p and "notifications" in p for p in plan)


def test_claim_id_claims_one_pending_row_once(db: Database) -> None:
    seed_queue(db)
    with db.session() as s:
        (first,) = outbox.claim_rows(s, NOW, limit=1)
    with db.session() as s:
        future = next(n for n in outbox.list_notifications(s) if n.dedupe_key == "u-future").id
        assert outbox.claim_id(s, future, NOW) is True
        assert outbox.claim_id(s, future, NOW) is False  # already sending
        assert outbox.claim_id(s, first.id, NOW) is False
    with db.session() as s:
        row = outbox.get(s, future)
        assert (row.status, row.attempts) == ("sending", 1)


def test_sqlite_open_incident_pages_read_the_status_id_index(db: Database) -> None:
    """The full recompute's pages (``repo.open_incident_ids``) read the (status, id) index in
    order instead of every open incident and a sort."""
    if db.is_postgresql:
        return
    from sqlalchemy import select

    from slawatch.store.models import Incident

    query = (
        select(Incident.id)
        .where(Incident.status == "open", Incident.id > 10)
        .order_by(Incident.id)
        .limit(500)
    )
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    assert any("ix_incidents_status_id" in p for p in plan), plan
    assert not any("TEMP B-TREE" in p for p in plan), plan
