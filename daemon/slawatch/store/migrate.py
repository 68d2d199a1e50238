"""Running the Alembic migrations from code, under a lock.

Two processes (say the daemon starting while an operator runs ``slawatch db upgrade``) must
never migrate at once. The lock is ``pg_advisory_lock`` on PostgreSQL and an ``fcntl`` lock on
the file ``<db>.migrate.lock`` next to the SQLite database. Both are released when the holder
exits, even after a crash.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from slawatch.store.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: An arbitrary 64-bit key for pg_advisory_lock, the same in every slawatch process.
ADVISORY_LOCK_KEY = 0x5_1A_3A_7C_40


def alembic_config() -> Config:
    """The Alembic configuration, built in code (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this version of slawatch knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def all_revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(db: Database) -> str | None:
    """The revision the database is at; ``None`` for an empty (never migrated) database."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def migration_lock(db: Database) -> Iterator[Connection]:
    """A connection held under the cross-process migration lock."""
    if db.is_postgresql:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                conn.commit()
        return
    if db.sqlite_path is None:  # in-memory: one process by definition
        with db.engine.connect() as conn:
            yield conn
        return
    lock_path = db.sqlite_path.with_name(db.sqlite_path.name + ".migrate.lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            with db.engine.connect() as conn, _sqlite_foreign_keys_off(conn):
                yield conn
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    """Alembic's batch mode rebuilds a SQLite table (copy, drop, rename); with foreign keys on,
    dropping a table that other rows reference fails. So they are off while migrating (the
    pragma only works outside a transaction) and the result is checked before they come back.
    """
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        conn.rollback()
        problems = raw.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"migration left rows with broken foreign keys: {problems[:5]}")
    finally:
        conn.rollback()
        raw.execute("PRAGMA foreign_keys=ON")


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to ``revision``; return ``(before, after)`` revisions.

    Safe to call at every start: when the database is current it only takes and drops the lock.
    """
    with migration_lock(db) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        conn.commit()
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()
        after = MigrationContext.configure(conn).get_current_revision()
        conn.commit()
    return before, after


def downgrade(db: Database, revision: str) -> None:
    """Step back to ``revision`` (used by the migration tests; not a user command)."""
    with migration_lock(db) as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()
