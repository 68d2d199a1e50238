"""Engine set-up: default SQLite location, URL secrets, SQLite pragmas, UTC round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from slawatch.config.loader import build_settings
from slawatch.errors import SecretError
from slawatch.store import repo
from slawatch.store.db import Database, database_url, default_sqlite_path
from slawatch.store.models import Account


def test_default_sqlite_path_follows_systemd_state_directory() -> None:
    assert default_sqlite_path({}) == Path("var/slawatch.db")
    assert default_sqlite_path({"STATE_DIRECTORY": "/var/lib/slawatch"}) == Path(
        "/var/lib/slawatch/slawatch.db"
    )
    # systemd joins several StateDirectory= entries with ':'; the first is ours
    assert default_sqlite_path({"STATE_DIRECTORY": "/a:/b"}) == Path("/a/slawatch.db")
    assert database_url(None, {"STATE_DIRECTORY": "/s"}) == "sqlite:////s/slawatch.db"
    assert database_url(build_settings({}, None), {}) == "sqlite:///var/slawatch.db"


def test_postgresql_url_password_is_a_secret_reference() -> None:
    settings = build_settings(
        {"database": {"url": "postgresql+psycopg://sw:{env:PGPASSWORD}@db.internal/sw"}}, None
    )
    url = database_url(settings, {"PGPASSWORD": "pa55"})
    assert url == "postgresql+psycopg://sw:pa55@db.internal/sw"
    with pytest.raises(SecretError, match="env:PGPASSWORD") as exc:
        database_url(settings, {})
    assert "pa55" not in str(exc.value)
    shown = Database(url).url_for_display
    assert "pa55" not in shown and "***" in shown


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # the directory is created
    with db.session() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    assert db.ping()
    db.dispose()


def test_sqlite_page_cache_is_larger_but_bounded_per_process(tmp_path: Path) -> None:
    """Each connection may cache 32 MB (a scan tick's writes fit without spilling), and all of
    a process's connections together stay under the soft heap limit."""
    from slawatch.store.db import SQLITE_CACHE_KIB, SQLITE_SOFT_HEAP_LIMIT

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.session() as first, db.read_session() as second:
        for session in (first, second):  # two pooled connections, both set up
            assert session.execute(text("PRAGMA cache_size")).scalar_one() == -SQLITE_CACHE_KIB
            limit = session.execute(text("PRAGMA soft_heap_limit")).scalar_one()
            assert limit == SQLITE_SOFT_HEAP_LIMIT
    assert SQLITE_CACHE_KIB * 1024 * 2 <= SQLITE_SOFT_HEAP_LIMIT  # room for the scan and more
    db.dispose()


def test_wal_is_checkpointed_by_the_caller_not_by_each_commit(db: Database) -> None:
    """Commits leave the WAL alone up to WAL_AUTOCHECKPOINT_PAGES; ``checkpoint()`` copies it
    into the file (the daemon's wal-checkpoint job). PostgreSQL has nothing to do."""
    if db.is_postgresql:
        assert db.checkpoint() is None
        return
    from slawatch.store.db import WAL_AUTOCHECKPOINT_PAGES

    now = datetime(2026, 11, 26, tzinfo=UTC)
    with db.session() as session:
        limit = session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
        assert limit == WAL_AUTOCHECKPOINT_PAGES > 1000
        for n in range(300):
            session.add(
                Account(id=f"a{n}", name="x" * 900, plan="standard", created_at=now, updated_at=now)
            )
    assert db.sqlite_path is not None
    wal = db.sqlite_path.with_name(db.sqlite_path.name + "-wal")
    assert wal.stat().st_size > 0
    pages, copied = db.checkpoint()  # type: ignore[misc]
    assert pages > 50 and copied == pages
    assert db.checkpoint() == (pages, pages)  # nothing new: everything already copied
    with db.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM accounts")).scalar_one() == 300


def test_datetimes_round_trip_as_aware_utc(db: Database) -> None:
    sofia = timezone(timedelta(hours=2))
    created = datetime(2026, 3, 29, 3, 30, tzinfo=sofia)
    with db.session() as session:
        session.add(
            Account(id="a", name="A", plan="standard", created_at=created, updated_at=created)
        )
    with db.read_session() as session:
        account = session.get(Account, "a")
        assert account is not None
        assert account.created_at == created
        assert account.created_at.tzinfo is not None
        assert account.created_at.utcoffset() == timedelta(0)
        assert account.created_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def _account(account_id: str) -> Account:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return Account(id=account_id, name=account_id, plan="standard", created_at=now, updated_at=now)


def test_consecutive_sessions_commit_each_unit_on_one_connection(db: Database) -> None:
    """A full recompute's pages: each unit commits (or rolls back) on its own, and all run on
    one connection, the one other connections' commits are counted for."""
    connections = []
    with db.consecutive_sessions() as transactions:
        with transactions() as session:
            session.add(_account("first"))
            connections.append(session.connection().connection.dbapi_connection)
        with db.read_session() as other:  # committed: another connection sees it
            assert other.get(Account, "first") is not None
        with pytest.raises(RuntimeError), transactions() as session:
            session.add(_account("lost"))
            connections.append(session.connection().connection.dbapi_connection)
            session.flush()
            raise RuntimeError("a page failed")
        with transactions() as session:
            assert session.get(Account, "lost") is None  # rolled back
            connections.append(session.connection().connection.dbapi_connection)
    assert len(connections) == 3 and len(set(map(id, connections))) == 1


def test_commits_by_others_moves_only_with_another_connections_commit(db: Database) -> None:
    with db.consecutive_sessions() as transactions:
        with transactions() as session:
            first = repo.commits_by_others(session)
            session.add(_account("mine"))
        with transactions() as session:
            after_mine = repo.commits_by_others(session)
        with db.session() as other:
            other.add(_account("theirs"))
        with transactions() as session:
            after_theirs = repo.commits_by_others(session)
    if db.is_postgresql:  # no such counter: a caller never relies on it
        assert (first, after_mine, after_theirs) == (None, None, None)
    else:
        assert first is not None and after_mine == first
        assert after_theirs is not None and after_theirs != first
