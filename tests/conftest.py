"""Shared fixtures. The store contract runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from ``$SLAWATCH_TEST_PG_URL`` (CI starts one with ``tests/pg_server.py``);
without it a throwaway server is started here when PostgreSQL is installed. With
``SLAWATCH_REQUIRE_PG=1`` an unreachable or missing server FAILS the PostgreSQL tests instead
of skipping them, so CI cannot go green without having run them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import pg_server  # tests/ is on sys.path (rootdir conftest)
from slawatch.config.loader import Settings, load_config
from slawatch.store.db import Database
from slawatch.store.migrate import upgrade
from slawatch.store.models import Base

REQUIRE_PG = os.environ.get("SLAWATCH_REQUIRE_PG") == "1"


def _pg_unavailable(reason: str) -> None:
    if REQUIRE_PG:
        pytest.fail(f"PostgreSQL required (SLAWATCH_REQUIRE_PG=1) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database the tests may freely create databases next to."""
    url = os.environ.get("SLAWATCH_TEST_PG_URL")
    server = None
    if not url:
        try:
            server = pg_server.start()
        except Exception as exc:
            _pg_unavailable(f"no SLAWATCH_TEST_PG_URL and could not start one ({exc})")
        assert server is not None
        url = server.url
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _pg_unavailable(f"{make_url(url).render_as_string(hide_password=True)} unreachable: {exc}")
    yield url
    if server is not None:
        server.stop()


def new_pg_database(pg_url: str) -> str:
    """Create an empty database next to ``pg_url`` and return its URL."""
    name = "slawatch_" + uuid.uuid4().hex[:12]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def make_pg_database(pg_url: str) -> Callable[[], str]:
    """Brand-new, empty PostgreSQL databases on demand (a fixture: test modules cannot import
    from this conftest reliably, since each test directory may have a ``conftest`` of its own)."""
    return lambda: new_pg_database(pg_url)


@pytest.fixture(scope="session")
def _pg_migrated(pg_url: str) -> Iterator[Database]:
    db = Database(new_pg_database(pg_url))
    upgrade(db)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "slawatch.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not path.with_name("slawatch.db-wal").exists()
    return path


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend under test: the contract suite runs once per backend."""
    return str(request.param)


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if backend == "sqlite":
        path = tmp_path / "slawatch.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    database = request.getfixturevalue("_pg_migrated")
    _truncate(database)
    yield database


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a brand-new, never migrated database on each backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return new_pg_database(request.getfixturevalue("pg_url"))


_PG_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if REQUIRE_PG and report.skipped and "postgresql" in report.nodeid:
        _PG_SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under SLAWATCH_REQUIRE_PG=1, a skipped PostgreSQL test fails the run."""
    if REQUIRE_PG and _PG_SKIPPED:
        print(f"\n{len(_PG_SKIPPED)} PostgreSQL tests were skipped under SLAWATCH_REQUIRE_PG=1")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


SAMPLE_CONFIG = """
default_calendar = "sofia"

[calendars.sofia]
timezone = "Europe/Sofia"
holidays = { country = "BG" }
[calendars.sofia.hours]
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-18:00"

[people.alice]
name = "Alice"
email = "alice@example.com"

[api]
tokens = ["env:SLAWATCH_TEST_TOKEN"]

[accounts.configured]
name = "Configured Ltd"
plan = "business"
csm = "alice"
emails = ["ops@configured.example"]
"""


@pytest.fixture(scope="session")
def sample_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small config file: a Sofia calendar, one person, one configured account, a token."""
    path = tmp_path_factory.mktemp("config") / "slawatch.toml"
    path.write_text(SAMPLE_CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_settings(sample_config: Path) -> Settings:
    return load_config(sample_config)
