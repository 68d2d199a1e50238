"""The engine and sessions: which database, and how it is opened.

* No ``[database] url``: SQLite at ``$STATE_DIRECTORY/slawatch.db`` (systemd's
  ``StateDirectory=``) or else ``./var/slawatch.db``; the directory is created.
* SQLite runs in WAL mode with foreign keys on and a busy timeout. Write sessions start with
  ``BEGIN IMMEDIATE`` so two processes never deadlock on a read lock that must be upgraded;
  :meth:`Database.read_session` uses a deferred ``BEGIN`` so readers never wait for writers.
  The process's write transactions take the lock in arrival order
  (:mod:`slawatch.store.write_turns`), so back-to-back transactions cannot starve the others.
* PostgreSQL: ``postgresql+psycopg://user:{env:PGPASSWORD}@host/db``; the password is a secret
  reference resolved here and never logged (``Database.url_for_display`` hides it).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from slawatch.config.loader import Settings
from slawatch.config.secrets import embedded_refs, resolve_embedded
from slawatch.errors import ConfigError
from slawatch.store.write_turns import WriteTurns

DB_FILENAME = "slawatch.db"
#: How long a SQLite writer waits for the write lock (``PRAGMA busy_timeout``), and for its turn
#: among the process's writers (:class:`WriteTurns`) before it goes on without one.
BUSY_TIMEOUT_S = 30.0
#: ``Connection.info`` key: this connection's transaction holds a write turn.
_TURN = "slawatch_write_turn"
#: WAL pages after which a committing connection checkpoints by itself (SQLite's default is
#: 1,000): only a bound, since the daemon checkpoints from a job of its own
#: (:meth:`Database.checkpoint`).
WAL_AUTOCHECKPOINT_PAGES = 10_000
#: SQLite's page cache per connection, in KiB (``PRAGMA cache_size``; SQLite's default is about
#: 2 MB). A scan tick of 1,000 due incidents on a 100,000-incident database dirties about 5,000
#: pages (its outbox rows land at random places in the dedupe-key index); with 2 MB the cache
#: spilled dirty pages to the WAL mid-transaction and read them back. With 32 MB its writes
#: took about a fifth less (bench/README.md, eighth round).
SQLITE_CACHE_KIB = 32 * 1024
#: What all SQLite connections of one process may hold together (``PRAGMA soft_heap_limit``,
#: process-wide): past it, a connection reuses its own cached pages instead of growing. So the
#: pool's idle connections cannot each keep 32 MB: the process stays within about this much
#: however many connections have read widely.
SQLITE_SOFT_HEAP_LIMIT = 64 * 1024 * 1024


def default_sqlite_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/slawatch.db`` under systemd, else ``./var/slawatch.db``."""
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY", "")
    first = state.split(":")[0] if state else ""
    return (Path(first) if first else Path("var")) / DB_FILENAME


def database_url(settings: Settings | None, environ: Mapping[str, str] | None = None) -> str:
    """The URL to connect to, with secret references resolved (so: never log it)."""
    configured = settings.file.database.url if settings is not None else None
    if not configured:
        return f"sqlite:///{default_sqlite_path(environ)}"
    if embedded_refs(configured):
        return resolve_embedded(configured, environ).get()
    return configured


class Database:
    """One engine plus its session factory. Create one per process and share it.

    ``session()`` is the unit of work: commit on success, rollback on any exception.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.sqlite_path: Path | None = None
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                self.sqlite_path = Path(database)
                try:
                    self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"database: cannot create {self.sqlite_path.parent} ({exc.strerror})"
                    ) from None
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        elif self.dialect == "postgresql":
            kwargs["pool_size"] = pool_size
            kwargs["pool_pre_ping"] = True
        else:
            raise ConfigError(f"database: unsupported database {self.dialect!r}")
        self.engine: Engine = create_engine(url, **kwargs)
        self.url_for_display = parsed.render_as_string(hide_password=True)
        self._turns: WriteTurns | None = None
        if self.dialect == "sqlite":
            self._turns = _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(slawatch_read_only=True), expire_on_commit=False
        )

    @classmethod
    def from_settings(
        cls, settings: Settings | None, environ: Mapping[str, str] | None = None
    ) -> Database:
        return cls(database_url(settings, environ))

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write unit of work: committed when the block ends, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def consecutive_sessions(self) -> Iterator[Callable[[], AbstractContextManager[Session]]]:
        """Write units of work one after another on one connection, for as long as the block
        lasts: each call of the function it yields is a :meth:`session` (commit at the end,
        rollback on error) on that same connection.

        Why: SQLite counts other connections' commits per connection (``PRAGMA data_version``,
        :func:`slawatch.store.repo.commits_by_others`), so a caller that prepares work for its
        next transaction before this one commits (the full recompute hands out its next page)
        can only tell whether anyone else committed in between on one connection.
        """
        with self.engine.connect() as connection:
            sessions = sessionmaker(bind=connection, expire_on_commit=False)

            @contextmanager
            def unit() -> Iterator[Session]:
                with sessions() as session, session.begin():
                    yield session

            yield unit

    def writers_waiting(self) -> bool:
        """Whether another thread of this process is queued for SQLite's write lock now (it
        commits before the caller's next write transaction begins); always ``False`` on
        PostgreSQL."""
        return self._turns is not None and self._turns.waiting > 0

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only unit of work (a deferred transaction on SQLite)."""
        with self._read_sessions() as session, session.begin():
            yield session

    def checkpoint(self) -> tuple[int, int] | None:
        """Copy committed WAL pages into the SQLite file without waiting for anyone
        (``PRAGMA wal_checkpoint(PASSIVE)``); ``(pages in the WAL, pages copied)``, or ``None``
        on PostgreSQL.

        Why: with SQLite's default the commit that takes the WAL past 1,000 pages copies it into
        the file and syncs it, inside that commit. On a large database a scan tick's commit
        dirties thousands of pages, so every scan transaction, and any API write that happened to
        cross the mark, paid that copy (about 0.15 s each on a 630 MB database). The daemon calls
        this from a job of its own instead (:data:`WAL_AUTOCHECKPOINT_PAGES` stays as the bound
        should that job fall behind).
        """
        if self.dialect != "sqlite":
            return None
        # On the DBAPI connection, in autocommit: a checkpoint cannot run inside the
        # transaction a SQLAlchemy connection would begin.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, log, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return (int(log), int(copied)) if not busy else (int(log), 0)

    def ping(self) -> bool:
        """True when the database answers a trivial query (for ``/healthz``)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> WriteTurns:
    """Pragmas on connect, ``BEGIN``/``BEGIN IMMEDIATE`` and the write turns; returns the
    turns."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "memory" and mode != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA soft_heap_limit={SQLITE_SOFT_HEAP_LIMIT}")
        cursor.close()

    turns = WriteTurns(BUSY_TIMEOUT_S)

    def _emit(conn: Any, statement: str) -> None:
        # Straight on the driver's connection: through exec_driver_sql this cost 15-25 us of
        # SQLAlchemy per transaction, and the dispatcher runs one per message. A failure is
        # wrapped as SQLAlchemy would (sqlalchemy.exc.OperationalError for "database is
        # locked"), which is what callers catch.
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("slawatch_read_only", False):
            _emit(conn, "BEGIN")
            return
        # This process's writers queue in arrival order (store/write_turns.py).
        conn.info[_TURN] = turns.acquire()
        try:
            _emit(conn, "BEGIN IMMEDIATE")
        except BaseException:
            _give_back(conn.info)
            raise

    def _give_back(info: dict[Any, Any]) -> None:
        if info.pop(_TURN, False):
            turns.release()

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        _give_back(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        _give_back(conn.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # A connection back in the pool holds no transaction (safety net: the pool's own reset
        # rolls back without the "rollback" event).
        _give_back(record.info)

    return turns
