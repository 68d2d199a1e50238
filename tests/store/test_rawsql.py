"""The scan's raw statements (``store/rawsql.py`` through ``repo``) against SQLAlchemy's view of
the same rows, on SQLite and PostgreSQL: same values, aware UTC datetimes, the same stored
text on SQLite (so text comparisons stay in time order), naive datetimes refused."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.config.policy_context import policy_context
from slawatch.service import escalation
from slawatch.service.incidents import EventInput, IncidentInput
from slawatch.service.intake import Intake
from slawatch.store import outbox, repo
from slawatch.store.db import Database
from slawatch.store.models import Incident, Notification
from slawatch.store.rawsql import Raw

NOW = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)
SOFIA = timezone(timedelta(hours=2))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sqlite_only_db(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "slawatch.db"
    shutil.copyfile(_sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture
def intake(db: Database, sample_settings: Settings) -> Intake:
    service = Intake(db, sample_settings, clock=Clock(NOW))
    service.add_account(
        "acme",
        {
            "name": "Acme",
            "plan": "premium",
            "csm": "alice",
            "sla": {"high": {"workaround": "6h"}},
        },
    )
    service.add_account("small", {"name": "Small", "plan": "standard"})
    return service


def _open(intake: Intake, key: str, account: str, priority: str, opened: datetime) -> None:
    intake.open_incident(
        IncidentInput(
            external_id=key, account=account, priority=priority, title="t", opened_at=opened
        )
    )


def test_views_match_the_orm(intake: Intake, db: Database) -> None:
    _open(intake, "A", "acme", "high", NOW - timedelta(hours=5, microseconds=7))
    _open(intake, "B", "small", "medium", (NOW - timedelta(days=1)).astimezone(SOFIA))
    intake.record_event("A", EventInput("responded", at=NOW - timedelta(hours=4), by="bob"))
    intake.record_event("A", EventInput("paused", at=NOW - timedelta(hours=3)))
    intake.record_event("A", EventInput("note", at=NOW - timedelta(hours=3), text="called"))
    with db.read_session() as s:
        orm = {i.id: i for i in repo.list_incidents(s)}
        views = repo.load_incident_views(s, [*sorted(orm, reverse=True), 999_999])
    assert [v.id for v in views] == sorted(orm, reverse=True)  # ids order, unknown id skipped
    for view in views:
        row = orm[view.id]
        for name in (
            "external_id",
            "account_id",
            "priority",
            "opened_priority",
            "via_hotline",
            "assignee",
            "opened_at",
            "plan",
            "status",
            "last_evaluated_at",
            "title",
            "next_check_at",
            "due_at",
            "breached",
        ):
            assert getattr(view, name) == getattr(row, name), name
            value = getattr(view, name)
            if isinstance(value, datetime):
                assert value.tzinfo is UTC, name
        assert type(view.via_hotline) is bool and type(view.breached) is bool
        assert view.account is not None and row.account is not None
        assert (view.account.csm, view.account.calendar, view.account.sla_overrides) == (
            row.account.csm,
            row.account.calendar,
            row.account.sla_overrides,
        )
        ordered = sorted(row.events, key=lambda e: (e.at, e.id))
        assert [(e.id, e.type, e.at, e.by, e.text) for e in view.events] == [
            (e.id, e.type, e.at, e.by, e.text) for e in ordered
        ]
        assert all(e.at.tzinfo is UTC for e in view.events)
    a = next(v for v in views if v.external_id == "A")
    assert a.account is not None and a.account.sla_overrides == {"high": {"workaround": "6h"}}
    assert [e.type for e in a.events] == ["responded", "paused", "note"]


def test_store_evaluations_writes_what_the_orm_writes(intake: Intake, db: Database) -> None:
    _open(intake, "A", "acme", "high", NOW - timedelta(hours=1))
    _open(intake, "B", "small", "low", NOW - timedelta(hours=1))
    with db.read_session() as s:
        a, b = (repo.get_incident(s, key).id for key in ("A", "B"))
    # a whole second: SQLAlchemy still writes '.000000', and so must the raw path
    later = datetime(2026, 11, 27, 10, 0, tzinfo=SOFIA)
    with db.session() as s:
        repo.store_evaluations(
            s,
            [
                {
                    "id": a,
                    "next_check_at": later,
                    "last_evaluated_at": NOW,
                    "due_at": None,
                    "breached": True,
                },
                {"id": b, "last_evaluated_at": later},  # only what changed
            ],
        )
    with db.read_session() as s:
        ra, rb = s.get_one(Incident, a), s.get_one(Incident, b)
        assert (ra.next_check_at, ra.last_evaluated_at, ra.due_at, ra.breached) == (
            later,
            NOW,
            None,
            True,
        )
        assert ra.next_check_at is not None and ra.next_check_at.tzinfo is UTC
        assert rb.last_evaluated_at == later and rb.next_check_at is not None
    # The same instant written by SQLAlchemy is stored identically (SQLite compares the text).
    with db.session() as s:
        s.get_one(Incident, b).next_check_at = later
    with db.read_session() as s:
        stored = s.execute(
            text("SELECT id, next_check_at FROM incidents WHERE id IN (:a, :b) ORDER BY id"),
            {"a": a, "b": b},
        ).all()
        assert stored[0][1] == stored[1][1]
        assert repo.due_incident_ids(s, later - timedelta(microseconds=1)) == []
        assert repo.due_incident_ids(s, later) == sorted([a, b])


def test_naive_datetimes_are_refused_and_nothing_is_written(intake: Intake, db: Database) -> None:
    _open(intake, "A", "acme", "medium", NOW)
    with db.read_session() as s:
        incident = repo.get_incident(s, "A")
        before = (incident.id, incident.next_check_at)
    with pytest.raises(ValueError, match="naive datetime"), db.session() as s:
        repo.store_evaluations(s, [{"id": before[0], "next_check_at": datetime(2027, 1, 1)}])
    with pytest.raises(ValueError, match="unknown columns"), db.session() as s:
        repo.store_evaluations(s, [{"id": before[0], "title": "x"}])
    with db.read_session() as s:
        assert s.get_one(Incident, before[0]).next_check_at == before[1]
        with pytest.raises(ValueError, match="naive datetime"):
            repo.due_incident_ids(s, datetime(2027, 1, 1))


def test_sent_keys_and_raw_runs_in_the_session_transaction(
    intake: Intake, db: Database, sample_settings: Settings
) -> None:
    _open(intake, "A", "acme", "high", NOW - timedelta(days=3))
    with db.session() as s:
        ids = repo.open_incident_ids(s)
        escalation.evaluate_ids(s, ids, sample_settings, policy_context(sample_settings), NOW)
    with db.read_session() as s:
        keys = set(s.execute(select(Notification.dedupe_key)).scalars())
        assert keys  # a three-day-old high incident has crossed thresholds
        assert repo.sent_keys_by_incident(s, ids) == {ids[0]: keys}
        assert repo.sent_keys_by_incident(s, []) == {}
    # A raw write rolled back with its session leaves nothing behind.
    with pytest.raises(RuntimeError), db.session() as s:
        repo.store_evaluations(s, [{"id": ids[0], "last_evaluated_at": NOW + timedelta(days=9)}])
        with Raw(s) as raw:
            assert raw.fetch("SELECT last_evaluated_at FROM incidents")[0][0] is not None
        raise RuntimeError("abort")
    with db.read_session() as s:
        assert s.get_one(Incident, ids[0]).last_evaluated_at == NOW


def _evaluated_at(session: Session, at: datetime) -> list[int]:
    """Ids of the incidents last evaluated at ``at``, in id order."""
    query = select(Incident.id).where(Incident.last_evaluated_at == at).order_by(Incident.id)
    return list(session.execute(query).scalars())


def test_scan_pages_and_due_batches_on_both_backends(
    intake: Intake, db: Database, sample_settings: Settings
) -> None:
    """The full recompute's pages and a tick's due batch through the raw statements: every
    open incident once, in id order, and the due ones earliest first."""
    for n in range(7):
        _open(intake, f"T-{n}", "acme" if n % 2 else "small", "medium", NOW - timedelta(hours=n))
    intake.record_event("T-3", EventInput("resolved", at=NOW))
    ctx = policy_context(sample_settings)
    later = NOW + timedelta(seconds=1)
    pages: list[list[int]] = []  # the ids each page's transaction evaluated
    with db.consecutive_sessions() as consecutive:

        @contextmanager
        def transactions() -> Iterator[Session]:
            with consecutive() as s:
                before = _evaluated_at(s, later)
                yield s
                pages.append([i for i in _evaluated_at(s, later) if i not in before])

        summary = escalation.evaluate_all(transactions, sample_settings, ctx, later, limit=3)
    with db.read_session() as s:
        open_ids = repo.open_incident_ids(s)
        assert len(open_ids) == 6 and summary.evaluated == 6
        # every open incident once, in id order, in pages of 3 (then an empty read ends it)
        assert pages == [open_ids[:3], open_ids[3:], []]
        rows = {i.id: i for i in repo.list_incidents(s)}
        assert all(rows[i].last_evaluated_at == later for i in open_ids)
        due_order = sorted(open_ids, key=lambda i: (rows[i].next_check_at, i))
        latest = max(rows[i].next_check_at for i in open_ids)  # type: ignore[type-var]
        assert repo.due_incident_ids(s, latest) == due_order
        assert repo.due_incident_ids(s, latest, limit=2) == due_order[:2]


def test_sqlite_plans_of_the_scan_statements(sqlite_only_db: Database) -> None:
    """The scan's reads use the indexes migrations 0005 and 0006 leave: an incident's outbox
    keys are ranges of the unique key index, never a scan of the table (its rows carry big JSON
    payloads), and so are ``incident show``'s rows; the due incidents come from
    ``(status, next_check_at)`` without a sort, and a provider id from the partial index."""
    from sqlalchemy.dialects import sqlite

    show = outbox.notifications_query("sqlite", incident_id=7, limit=1000).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    plans = {}
    with sqlite_only_db.engine.connect() as conn:
        for name, sql in {
            "keys": repo.SQLITE_KEYS_IN_RANGES.format(ranges="(1, '1|', '1}'), (2, '2|', '2}')"),
            "show": str(show),
            "due": "SELECT id FROM incidents WHERE status = 'open' AND next_check_at <= '2027'"
            " ORDER BY next_check_at, id LIMIT 500",
            "earliest": "SELECT min(next_check_at) FROM incidents WHERE status = 'open'",
            "sid": "SELECT delivery_status FROM notifications WHERE provider_message_id = 'SM1'",
        }.items():
            plans[name] = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    key_index = "sqlite_autoindex_notifications_1 (dedupe_key>? AND dedupe_key<?)"
    assert any(f"COVERING INDEX {key_index}" in p for p in plans["keys"]), plans
    assert any(key_index in p for p in plans["show"]), plans
    assert any("ix_incidents_status_next_check_at" in p for p in plans["due"]), plans
    assert any("ix_incidents_status_next_check_at" in p for p in plans["earliest"]), plans
    # the Twilio callback's lookup uses the partial index (new rows, without a SID, skip it)
    assert any("ix_notifications_provider_message_id" in p for p in plans["sid"]), plans
