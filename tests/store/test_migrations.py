"""Migrations: from an empty database, and revision by revision with data kept at each step."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from slawatch.store import repo
from slawatch.store.db import Database
from slawatch.store.migrate import all_revisions, current_revision, head_revision, upgrade
from slawatch.store.models import Base

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _context(conn: Connection) -> MigrationContext:
    """Alembic's comparison, minus the models' objects that are not created on this dialect
    (``.ddl_if(dialect=...)``; Alembic ignores that condition and would report them missing)."""
    dialect = conn.dialect.name

    def include_object(
        obj: object, name: str | None, kind: str, reflected: bool, other: object
    ) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return reflected or condition is None or condition.dialect in (None, dialect)

    return MigrationContext.configure(conn, opts={"include_object": include_object})


def test_upgrade_from_empty_reaches_head_and_matches_models(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    assert current_revision(db) is None
    before, after = upgrade(db)
    assert before is None
    assert after == head_revision() == current_revision(db)
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as conn:
        diff = compare_metadata(_context(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    # A second upgrade is a no-op (the daemon calls it at every start).
    assert upgrade(db) == (head_revision(), head_revision())
    db.dispose()


def _seed(db: Database, step: int) -> None:
    """Rows in every table with foreign keys, using only the first revision's columns."""
    now = NOW if db.is_postgresql else NOW.replace(tzinfo=None)
    p = {"a": f"acct{step}", "x": f"T-{step}", "k": f"key-{step}", "now": now}
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, name, plan, emails, phones, sla_overrides, active,"
                " created_at, updated_at) VALUES (:a, 'n', 'standard', '[]', '[]', '{}', true,"
                " :now, :now)"
            ),
            p,
        )
        incident_id = conn.execute(
            text(
                "INSERT INTO incidents (external_id, account_id, priority, opened_priority, title,"
                " via_hotline, opened_at, plan, status, paused, created_at, updated_at)"
                " VALUES (:x, :a, 'high', 'high', 't', false, :now, 'standard', 'open', false,"
                " :now, :now) RETURNING id"
            ),
            p,
        ).scalar_one()
        p["i"] = incident_id
        conn.execute(
            text(
                "INSERT INTO incident_events (incident_id, type, at, recorded_at)"
                " VALUES (:i, 'responded', :now, :now)"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO notifications (dedupe_key, kind, incident_id, stage, repetition,"
                " recipient, channel, urgent, status, attempts, next_attempt_at, payload,"
                " created_at, updated_at) VALUES (:k, 'escalation', :i, 'warning', 0, '#t',"
                " 'slack', false, 'pending', 0, :now, '{}', :now, :now)"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO threads (incident_id, channel, address, thread_ref)"
                " VALUES (:i, 'slack', '#t', '1.2')"
            ),
            p,
        )


def _counts(db: Database) -> dict[str, int]:
    tables = ("accounts", "incidents", "incident_events", "notifications", "threads")
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def test_each_revision_in_order_keeps_data(empty_db_url: str) -> None:
    """Upgrade one revision at a time with rows in every table; nothing is lost or orphaned."""
    db = Database(empty_db_url)
    revisions = all_revisions()
    assert revisions[-1] == head_revision()
    for step, revision in enumerate(revisions):
        upgrade(db, revision)
        assert current_revision(db) == revision
        assert set(_counts(db).values()) == {step}
        _seed(db, step)
        assert set(_counts(db).values()) == {step + 1}
    # the data written at the first revision reads back through today's models
    with db.read_session() as session:
        incident = repo.find_incident(session, "T-0")
        assert incident is not None
        assert incident.opened_at == NOW
        assert [e.type for e in incident.events] == ["responded"]
    if not db.is_postgresql:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    db.dispose()


def _upgrade_in_process(url: str) -> None:
    upgrade(Database(url))


def test_two_processes_migrating_at_once_do_not_collide(empty_db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe with threads
    procs = [ctx.Process(target=_upgrade_in_process, args=(empty_db_url,)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert current_revision(Database(empty_db_url)) == head_revision()


def test_upgrade_from_the_previous_revision(empty_db_url: str) -> None:
    """A database at the revision before head, with data, upgrades to a schema that matches
    the models and keeps every row."""
    revisions = all_revisions()
    assert len(revisions) >= 2, "only one revision: covered by the test above"
    db = Database(empty_db_url)
    upgrade(db, revisions[-2])
    _seed(db, 0)
    before, after = upgrade(db)
    assert (before, after) == (revisions[-2], head_revision())
    assert set(_counts(db).values()) == {1}
    with db.engine.connect() as conn:
        assert compare_metadata(_context(conn), Base.metadata) == []
    with db.read_session() as session:
        incident = repo.find_incident(session, "T-0")
        assert incident is not None and incident.status == "open"
    db.dispose()
