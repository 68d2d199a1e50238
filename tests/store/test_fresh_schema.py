"""The daemon's fast path to a current database (``migrate.ensure_current``) is faithful.

A brand-new database is created from the models and stamped instead of running every migration
(so ``slawatch run`` does not import Alembic, issue 4). That is only allowed because the result
is the very schema the migrations build: same tables, columns in the same order with the same
types, nullability and defaults, the same constraints and indexes under the same names, the same
sequences, and the same ``alembic_version`` row. Checked here on SQLite and PostgreSQL, from the
catalogs (not from SQLAlchemy's reflection, which normalises some of this away).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from slawatch.store.db import Database
from slawatch.store.migrate import (
    all_revisions,
    current_revision,
    ensure_current,
    head_revision,
    scripted_head,
    upgrade,
)


def _sqlite_table_lines(sql: str) -> list[str]:
    """The column and constraint lines of a ``CREATE TABLE``, sorted: Alembic's batch mode
    rebuilds a table with its constraints in another order (and its name quoted), which SQLite
    keeps as text but which means nothing. Column order is compared separately."""
    body = sql[sql.index("(") + 1 : sql.rindex(")")]
    return sorted(line.strip().rstrip(",") for line in body.splitlines() if line.strip())


def _sqlite_schema(db: Database) -> dict[str, Any]:
    snapshot: dict[str, Any] = {}
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).all()
        for kind, name, table, sql in rows:
            if kind == "table":
                snapshot[f"table {name}"] = {
                    "columns": [
                        tuple(r) for r in conn.exec_driver_sql(f'PRAGMA table_xinfo("{name}")')
                    ],
                    "definition": _sqlite_table_lines(sql),
                    "foreign_keys": sorted(
                        tuple(r)[2:]  # (id, seq) are positions in the text
                        for r in conn.exec_driver_sql(f'PRAGMA foreign_key_list("{name}")')
                    ),
                }
            elif kind == "index":
                snapshot[f"index {name}"] = {
                    "table": table,
                    "sql": sql,
                    "columns": [
                        tuple(r) for r in conn.exec_driver_sql(f'PRAGMA index_xinfo("{name}")')
                    ],
                }
            else:
                snapshot[f"{kind} {name}"] = (table, sql)
    return snapshot


def _pg_schema(db: Database) -> dict[str, Any]:
    queries = {
        "columns": """
            SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0
              AND NOT a.attisdropped
            ORDER BY c.relname, a.attnum""",
        "constraints": """
            SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = 'public' ORDER BY 1, 2""",
        "indexes": """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' ORDER BY 1, 2""",
        "sequences": """
            SELECT s.relname, q.seqtypid::regtype::text, q.seqstart, q.seqincrement,
                   q.seqmin, q.seqmax, q.seqcache, q.seqcycle,
                   t.relname, a.attname
            FROM pg_sequence q
            JOIN pg_class s ON s.oid = q.seqrelid
            LEFT JOIN pg_depend dep ON dep.objid = s.oid AND dep.deptype IN ('a', 'i')
            LEFT JOIN pg_class t ON t.oid = dep.refobjid
            LEFT JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
            ORDER BY 1""",
    }
    with db.engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in queries.items()}


def _schema(db: Database) -> dict[str, Any]:
    return _pg_schema(db) if db.is_postgresql else _sqlite_schema(db)


def _version_rows(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


@pytest.fixture
def other_empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A second brand-new database next to ``empty_db_url``'s."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'other.db'}"
    return str(request.getfixturevalue("make_pg_database")())


def test_scripted_head_is_alembics_head() -> None:
    """The head read from the revision files without Alembic is the one Alembic computes (a new
    revision whose file does not follow ``script.py.mako`` would make it ``None``: the daemon
    would then fall back to Alembic, slower but correct, and this test says so)."""
    assert scripted_head() == head_revision()


def test_fresh_database_has_the_migrated_schema(empty_db_url: str, other_empty_db_url: str) -> None:
    migrated = Database(empty_db_url)
    fresh = Database(other_empty_db_url)
    try:
        assert upgrade(migrated) == (None, head_revision())
        assert ensure_current(fresh) == (None, head_revision())
        migrated_schema, fresh_schema = _schema(migrated), _schema(fresh)
        assert fresh_schema.keys() == migrated_schema.keys()
        for key in migrated_schema:
            assert fresh_schema[key] == migrated_schema[key], key
        assert _version_rows(fresh) == _version_rows(migrated) == [head_revision()]
        # Alembic itself sees the stamped database at head, and has nothing left to do.
        assert current_revision(fresh) == head_revision()
        assert upgrade(fresh) == (head_revision(), head_revision())
        assert _schema(fresh) == migrated_schema
    finally:
        migrated.dispose()
        fresh.dispose()


def test_ensure_current_at_head_changes_nothing(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        upgrade(db)
        before = _schema(db)
        assert ensure_current(db) == (head_revision(), head_revision())
        assert _schema(db) == before
        assert _version_rows(db) == [head_revision()]
    finally:
        db.dispose()


def test_ensure_current_migrates_an_older_database(
    empty_db_url: str, other_empty_db_url: str
) -> None:
    """A database at the previous revision, with a row, goes through the migrations."""
    revisions = all_revisions()
    assert len(revisions) >= 2
    db = Database(empty_db_url)
    reference = Database(other_empty_db_url)
    try:
        upgrade(db, revisions[-2])
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (id, name, plan, emails, phones, sla_overrides, active,"
                    " created_at, updated_at) VALUES ('a', 'n', 'standard', '[]', '[]', '{}',"
                    " true, '2026-11-26 12:00:00', '2026-11-26 12:00:00')"
                )
            )
        assert ensure_current(db) == (revisions[-2], head_revision())
        upgrade(reference)
        assert _schema(db) == _schema(reference)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM accounts")).scalar_one() == 1
    finally:
        db.dispose()
        reference.dispose()


def test_revision_files_declare_their_revisions_as_the_template_writes() -> None:
    """Every revision file has the ``revision``/``down_revision`` lines ``scripted_head`` reads."""
    from slawatch.store.migrate import VERSIONS_DIR

    for path in sorted(VERSIONS_DIR.glob("[0-9]*.py")):
        source = path.read_text(encoding="utf-8")
        assert re.search(r'^revision: str = "[^"]+"$', source, re.MULTILINE), path.name
        assert re.search(r"^down_revision: str \| None = ", source, re.MULTILINE), path.name
