"""Running the Alembic migrations from code, under a lock.

Two processes (say the daemon starting while an operator runs ``slawatch db upgrade``) must
never migrate at once. The lock is ``pg_advisory_lock`` on PostgreSQL and an ``fcntl`` lock on
the file ``<db>.migrate.lock`` next to the SQLite database. Both are released when the holder
exits, even after a crash.

Alembic is imported only when a migration really runs. Its script machinery pulls in Mako and
Pygments, and its DDL layer a module per database it supports: about a tenth of ``slawatch
run``'s 2 s readiness budget (issue 4) for a database that is usually already current. So the
daemon calls :func:`ensure_current`, which reads the stored revision with a plain query, and
creates a brand-new database from the models and stamps it (Alembic's documented practice:
``create_all`` then ``stamp head``); ``tests/store/test_fresh_schema.py`` proves that schema
identical to the one the migrations build, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)

from slawatch.store.db import Database
from slawatch.store.models import Base

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: An arbitrary 64-bit key for pg_advisory_lock, the same in every slawatch process.
ADVISORY_LOCK_KEY = 0x5_1A_3A_7C_40
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
_REVISION_LINE = re.compile(r'^revision: str = "([^"]+)"$', re.MULTILINE)
_DOWN_REVISION_LINE = re.compile(r'^down_revision: str \| None = (?:None|"([^"]+)")$', re.MULTILINE)
#: Alembic's version table, declared as Alembic declares it (``DefaultImpl.version_table_impl``):
#: a stamped fresh database must be indistinguishable from a migrated one.
VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def alembic_config() -> Config:
    """The Alembic configuration, built in code (no ``alembic.ini`` needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this version of slawatch knows (from the scripts themselves)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def all_revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(db: Database) -> str | None:
    """The revision the database is at; ``None`` for an empty (never migrated) database."""
    from alembic.runtime.migration import MigrationContext

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
    from alembic import command
    from alembic.runtime.migration import MigrationContext

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
    from alembic import command

    with migration_lock(db) as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def scripted_head() -> str | None:
    """The head revision read from the revision files' ``revision``/``down_revision`` lines
    (what ``script.py.mako`` writes), without importing Alembic.

    ``None`` when a file does not have the expected lines or the history is not one line ending
    in one head: the caller then asks Alembic. ``tests/store/test_fresh_schema.py`` checks the
    answer against :func:`head_revision`.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        revision = _REVISION_LINE.findall(source)
        down = _DOWN_REVISION_LINE.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions or len(parents) != len(revisions) - 1:
        return None
    return heads.pop()


def stored_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, read with a plain query (Alembic not imported).

    ``None`` when there is no version table (never migrated). Several rows would mean branched
    heads, which slawatch's linear history never makes: reported as ``"?"``, not current, so
    :func:`ensure_current` leaves the case to Alembic.
    """
    if not inspect(conn).has_table(VERSION_TABLE.name):
        return None
    rows = conn.execute(VERSION_TABLE.select()).scalars().all()
    if not rows:
        return None
    return rows[0] if len(rows) == 1 else "?"


def create_fresh(conn: Connection, head: str) -> None:
    """Create the models' schema in an empty database and stamp it ``head``, in the caller's
    transaction (DDL is transactional on SQLite and PostgreSQL: a crash leaves it empty).

    The models describe head's schema (``tests/store/test_migrations.py``) down to the column
    order (``tests/store/test_fresh_schema.py``)."""
    Base.metadata.create_all(conn, checkfirst=False)
    VERSION_TABLE.create(conn, checkfirst=False)
    conn.execute(VERSION_TABLE.insert().values(version_num=head))


def ensure_current(db: Database) -> tuple[str | None, str | None]:
    """Bring the database to head for ``slawatch run``; return ``(before, after)`` revisions.

    * already at head (every start but the first): one query under the lock, no Alembic;
    * brand-new (no table at all): :func:`create_fresh`, no Alembic;
    * anything else (an older revision, or tables without a version): :func:`upgrade`.
    """
    head = scripted_head()
    if head is None:
        return upgrade(db)
    with migration_lock(db) as conn:
        before = stored_revision(conn)
        if before == head:
            conn.commit()
            return before, before
        if before is None and not inspect(conn).get_table_names():
            create_fresh(conn, head)
            conn.commit()
            return None, head
        conn.commit()
    return upgrade(db)
