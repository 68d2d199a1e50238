"""`slawatch db backup|restore` on real SQLite databases made by slawatch's migrations."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from slawatch.cli.db_backup import register_db_commands
from slawatch.runtime.pidlock import PidLock
from slawatch.store.db import Database
from slawatch.store.migrate import upgrade
from slawatch.store.models import Account

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_cli() -> click.Group:
    group = click.Group("db")
    register_db_commands(group)
    return group


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A migrated database with two accounts, and a config file pointing at it."""
    database = tmp_path / "var" / "slawatch.db"
    config = tmp_path / "slawatch.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n', encoding="utf-8")
    db = Database(f"sqlite:///{database}")
    upgrade(db)
    add_accounts(db, "acme", "globex")
    db.dispose()
    yield database, config


def add_accounts(db: Database, *ids: str) -> None:
    with db.session() as session:
        for account_id in ids:
            session.add(
                Account(
                    id=account_id,
                    name=account_id.title(),
                    plan="standard",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


def account_ids(database: Path) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM accounts ORDER BY id")]
    finally:
        conn.close()


def test_backup_then_restore_round_trip(
    db_cli: click.Group, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    database, config = setup
    target = tmp_path / "backups" / "slawatch-backup.db"
    result = CliRunner().invoke(db_cli, ["backup", str(target), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.output
    assert account_ids(target) == ["acme", "globex"]
    assert target.stat().st_mode & 0o077 == 0  # personal data: owner only
    assert not target.with_name(target.name + "-wal").exists()  # a single self-contained file

    # Work continues after the backup, then the backup is restored.
    db = Database(f"sqlite:///{database}")
    add_accounts(db, "initech")
    db.dispose()
    result = CliRunner().invoke(db_cli, ["restore", str(target), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert account_ids(database) == ["acme", "globex"]
    [kept] = database.parent.glob("slawatch.db.before-restore-*")
    assert account_ids(kept) == ["acme", "globex", "initech"]  # nothing lost, not even the WAL
    assert str(kept) in result.output


def test_backup_is_consistent_while_writers_keep_writing(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    from slawatch.cli.db_backup import backup_sqlite

    database, _ = setup
    stop = threading.Event()

    def writer() -> None:
        db = Database(f"sqlite:///{database}")
        n = 0
        while not stop.is_set():
            add_accounts(db, f"acct-{n:05d}")
            n += 1
        db.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(5):
            target = tmp_path / f"b{i}.db"
            backup_sqlite(database, target)
            conn = sqlite3.connect(target)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = [r[0] for r in conn.execute("SELECT id FROM accounts WHERE id LIKE 'acct-%'")]
            conn.close()
            # A snapshot: every account before the newest one is there, none half-written.
            assert sorted(ids) == [f"acct-{n:05d}" for n in range(len(ids))]
    finally:
        stop.set()
        thread.join()


def test_restore_refuses_while_the_daemon_runs(
    db_cli: click.Group, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    database, config = setup
    target = tmp_path / "b.db"
    assert (
        CliRunner().invoke(db_cli, ["backup", str(target), "--config", str(config)]).exit_code == 0
    )
    pidfile = database.with_suffix(".pid")
    code = (
        "import time\nfrom pathlib import Path\nfrom slawatch.runtime.pidlock import PidLock\n"
        f"PidLock(Path({str(pidfile)!r})).acquire()\nprint('up', flush=True)\ntime.sleep(60)\n"
    )
    daemon = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().strip() == "up"
        before = database.read_bytes()
        result = CliRunner().invoke(db_cli, ["restore", str(target), "--config", str(config)])
        assert result.exit_code == 2
        assert f"pid {daemon.pid}" in result.output and "stop it first" in result.output
        assert database.read_bytes() == before
        assert not list(database.parent.glob("*.before-restore-*"))
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    result = CliRunner().invoke(db_cli, ["restore", str(target), "--config", str(config)])
    assert result.exit_code == 0, result.output


def test_restore_rejects_files_that_are_not_slawatch_databases(
    db_cli: click.Group, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    database, config = setup
    before = account_ids(database)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    future = tmp_path / "future.db"
    CliRunner().invoke(db_cli, ["backup", str(future), "--config", str(config)])
    conn = sqlite3.connect(future)
    conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    conn.commit()
    conn.close()
    cases = {
        text_file: "not a SQLite database",
        other: "not a slawatch database",
        future: "newer slawatch",
        tmp_path / "missing.db": "cannot read",
    }
    for path, message in cases.items():
        result = CliRunner().invoke(db_cli, ["restore", str(path), "--config", str(config)])
        assert result.exit_code == 2, (path, result.output)
        assert message in result.output, (path, result.output)
    assert account_ids(database) == before
    assert not list(database.parent.glob("*.before-restore-*"))


def test_restore_rejects_a_damaged_backup(
    db_cli: click.Group, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    database, config = setup
    target = tmp_path / "b.db"
    CliRunner().invoke(db_cli, ["backup", str(target), "--config", str(config)])
    data = bytearray(target.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for offset in range(page_size * 2, len(data) - 16, 97):  # scribble over the later pages
        data[offset : offset + 8] = b"\xff" * 8
    target.write_bytes(bytes(data))
    result = CliRunner().invoke(db_cli, ["restore", str(target), "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "damaged" in result.output
    assert account_ids(database) == ["acme", "globex"]


def test_backup_does_not_overwrite_without_force(
    db_cli: click.Group, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    _, config = setup
    target = tmp_path / "b.db"
    target.write_text("precious")
    result = CliRunner().invoke(db_cli, ["backup", str(target), "--config", str(config)])
    assert result.exit_code == 2 and "--force" in result.output
    assert target.read_text() == "precious"
    result = CliRunner().invoke(db_cli, ["backup", str(target), "--force", "--config", str(config)])
    assert result.exit_code == 0 and account_ids(target) == ["acme", "globex"]


def test_backup_of_a_missing_database_fails_without_creating_one(
    db_cli: click.Group, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/none/slawatch.db"\n')
    result = CliRunner().invoke(db_cli, ["backup", str(tmp_path / "b.db"), "--config", str(config)])
    assert result.exit_code == 2 and "no database at" in result.output
    assert not (tmp_path / "none").exists()


def test_postgresql_points_at_pg_dump(db_cli: click.Group, tmp_path: Path) -> None:
    config = tmp_path / "pg.toml"
    config.write_text(
        '[database]\nurl = "postgresql+psycopg://slawatch:{env:NOT_SET_ANYWHERE}@db/slawatch"\n'
    )
    for command in ("backup", "restore"):
        result = CliRunner().invoke(db_cli, [command, str(tmp_path / "x"), "--config", str(config)])
        assert result.exit_code == 2, result.output
        assert "pg_dump" in result.output
    assert not (tmp_path / "x").exists()


def test_restore_into_a_fresh_state_directory(
    db_cli: click.Group, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    """Disaster recovery: the database is gone, the backup brings it back."""
    database, config = setup
    target = tmp_path / "b.db"
    CliRunner().invoke(db_cli, ["backup", str(target), "--config", str(config)])
    for f in database.parent.iterdir():
        os.unlink(f)
    result = CliRunner().invoke(db_cli, ["restore", str(target), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert account_ids(database) == ["acme", "globex"]
    assert "kept as" not in result.output
    with PidLock(database.with_suffix(".pid")):  # the restore released its lock
        pass


@pytest.mark.e2e
def test_with_the_real_daemon_backup_works_and_restore_refuses(tmp_path: Path) -> None:
    """`slawatch run` holds the lock; the real CLI backs up while it runs, restores after."""
    from slawatch.runtime.pidlock import holder_pid

    database = tmp_path / "slawatch.db"
    config = tmp_path / "slawatch.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n[api]\nenabled = false\n')
    slawatch = [sys.executable, "-m", "slawatch"]
    daemon = subprocess.Popen(
        [*slawatch, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while holder_pid(database.with_suffix(".pid")) != daemon.pid:
            assert daemon.poll() is None, daemon.communicate()[1]
            assert time.monotonic() < deadline, "the daemon never took its lock"
            time.sleep(0.1)
        backup = tmp_path / "backup.db"
        run = subprocess.run(
            [*slawatch, "db", "backup", str(backup), "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        restore = [*slawatch, "db", "restore", str(backup), "--config", str(config)]
        refused = subprocess.run(restore, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2
        assert f"pid {daemon.pid}" in refused.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
    done = subprocess.run(restore, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "revision" in done.stdout
