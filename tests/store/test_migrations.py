"""Migrations: from an empty database, and revision by revision with data kept at each step."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from slawatch.store.db import Database
from slawatch.store.migrate import all_revisions, current_revision, head_revision, upgrade
from slawatch.store.models import Base

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_upgrade_from_empty_reaches_head_and_matches_models(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    assert current_revision(db) is None
    before, after = upgrade(db)
    assert before is None
    assert after == head_revision() == current_revision(db)
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    # A second upgrade is a no-op (the daemon calls it at every start).
    assert upgrade(db) == (head_revision(), head_revision())
    db.dispose()


def _seed(db: Database, step: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, name, plan, emails, phones, sla_overrides, active,"
                " created_at, updated_at) VALUES (:id, 'n', 'standard', '[]', '[]', '{}', true,"
                " :now, :now)"
            ),
            {"id": f"acct{step}", "now": NOW.replace(tzinfo=None)},
        )


def test_each_revision_in_order_keeps_data(empty_db_url: str) -> None:
    """Upgrade one revision at a time, inserting rows at each step; nothing is lost."""
    db = Database(empty_db_url)
    revisions = all_revisions()
    assert revisions[-1] == head_revision()
    for step, revision in enumerate(revisions):
        upgrade(db, revision)
        assert current_revision(db) == revision
        _seed(db, step)
        with db.engine.connect() as conn:
            ids = {row[0] for row in conn.execute(text("SELECT id FROM accounts"))}
        assert ids == {f"acct{i}" for i in range(step + 1)}
    db.dispose()


def _upgrade_in_process(url: str) -> None:
    upgrade(Database(url))


def test_two_processes_migrating_at_once_do_not_collide(empty_db_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_upgrade_in_process, args=(empty_db_url,)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert current_revision(Database(empty_db_url)) == head_revision()
