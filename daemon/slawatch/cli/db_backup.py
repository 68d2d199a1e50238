"""``slawatch db backup PATH`` and ``slawatch db restore PATH`` for the SQLite database.

Backup uses SQLite's online backup API: one consistent snapshot while the daemon keeps running
(WAL readers do not block writers). The copy is written to a temporary file next to ``PATH``,
checked with ``PRAGMA integrity_check``, switched to a single-file journal mode and renamed into
place, so ``PATH`` is either the old file or a complete backup, never half of one.

Restore refuses while ``slawatch run`` holds its pid lock (:mod:`slawatch.runtime.pidlock`) and
holds that lock itself while it works, so the daemon cannot start half-way. It accepts only a
SQLite file with slawatch's tables and a migration revision this version knows (an older one is
fine: migrations run when the daemon starts). The database it replaces is checkpointed and kept
as ``<db>.before-restore-<UTC time>``: a restore never loses data.

On PostgreSQL both commands exit 2 and point at ``pg_dump`` / ``pg_restore``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from slawatch.cli.common import config_option, fail, handle_errors, load_settings
from slawatch.config.loader import Settings
from slawatch.runtime.pidlock import DaemonRunningError, PidLock, pid_path
from slawatch.store.db import default_sqlite_path
from slawatch.store.migrate import all_revisions

__all__ = ["backup_sqlite", "register_db_commands", "restore_sqlite", "validate_backup"]

SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables every slawatch database has since the first migration.
REQUIRED_TABLES = frozenset({"alembic_version", "accounts", "incidents", "notifications"})
PG_BACKUP_HINT = (
    "the database is PostgreSQL: back it up with pg_dump (e.g. `pg_dump -Fc slawatch > "
    "slawatch.dump`) and restore with pg_restore; `slawatch db backup|restore` handle SQLite"
)


class BackupError(Exception):
    """A backup or restore cannot proceed; the message says why (caught in the commands)."""


def sqlite_path_of(settings: Settings, environ: Mapping[str, str] | None = None) -> Path | None:
    """The SQLite file the config points at, or ``None`` for PostgreSQL.

    Reads only the URL's form: a PostgreSQL password reference is never resolved here.
    """
    url = settings.file.database.url
    if not url:
        return default_sqlite_path(environ)
    if url.startswith("postgresql"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("database: an in-memory SQLite database cannot be backed up")
    return Path(database)


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")  # damaged files too
    return conn


def _integrity(conn: sqlite3.Connection) -> str:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(r[0]) for r in rows[:5])


def validate_backup(path: Path) -> str:
    """Check that ``path`` is an intact slawatch SQLite database; return its revision."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"{path}: cannot read ({exc.strerror})") from None
    if magic != SQLITE_MAGIC:
        raise BackupError(f"{path}: not a SQLite database")
    try:
        conn = _connect_ro(path)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open ({exc})") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(
                f"{path}: not a slawatch database (missing tables: {', '.join(sorted(missing))})"
            )
        check = _integrity(conn)
        if check != "ok":
            raise BackupError(f"{path}: the database is damaged ({check})")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except (sqlite3.Error, ValueError) as exc:
        raise BackupError(f"{path}: the database is damaged or unreadable ({exc})") from None
    finally:
        conn.close()
    if row is None:
        raise BackupError(f"{path}: not a slawatch database (no migration revision)")
    revision = str(row[0])
    if revision not in all_revisions():
        raise BackupError(
            f"{path}: made by a newer slawatch (revision {revision} is unknown here); "
            "upgrade slawatch before restoring it"
        )
    return revision


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_database(source: Path, target_tmp: Path) -> None:
    """A consistent copy of ``source`` into the new private file ``target_tmp`` (mode 0600)."""
    fd = os.open(target_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(source, timeout=30)  # read-write: a WAL database may need its -shm
    try:
        dst = sqlite3.connect(target_tmp)
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            check = _integrity(dst)
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check ({check})")
        finally:
            dst.close()
    finally:
        src.close()
    with open(target_tmp, "rb") as handle:
        os.fsync(handle.fileno())


def backup_sqlite(database: Path, target: Path, *, force: bool = False) -> str:
    """Write a consistent backup of ``database`` to ``target``; return its revision."""
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; pass --force to overwrite it")
    if target.resolve() == database.resolve():
        raise BackupError(f"{target} is the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        _copy_database(database, tmp)
        revision = validate_backup(tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(target.parent)
    return revision


def _checkpoint(database: Path) -> None:
    """Fold the WAL into the main file so moving the file aside keeps every committed row."""
    conn = sqlite3.connect(database, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def restore_sqlite(backup: Path, database: Path, *, now: datetime) -> tuple[str, Path | None]:
    """Replace ``database`` by ``backup``; return the revision and where the old file went.

    Raises :class:`~slawatch.runtime.pidlock.DaemonRunningError` while the daemon runs.
    """
    revision = validate_backup(backup)
    if database.exists() and backup.resolve() == database.resolve():
        raise BackupError(f"{backup} is the database itself")
    database.parent.mkdir(parents=True, exist_ok=True)
    with PidLock(pid_path(database)):
        tmp = database.with_name(f".{database.name}.restore-{os.getpid()}")
        kept: Path | None = None
        try:
            _copy_database(backup, tmp)
            owner = database if database.exists() else database.parent
            st = owner.stat()
            if os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)  # the service user must own its database
            if database.exists():
                _checkpoint(database)
                stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = database.with_name(f"{database.name}.before-restore-{stamp}")
                os.replace(database, kept)
            for suffix in ("-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    database.with_name(database.name + suffix).unlink()
            os.replace(tmp, database)
            _fsync_dir(database.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return revision, kept


def register_db_commands(db: click.Group) -> None:
    """Attach ``backup`` and ``restore`` to the ``slawatch db`` group."""
    db.add_command(backup_command)
    db.add_command(restore_command)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@config_option
@handle_errors
def backup_command(path: Path, force: bool, config_path: str | None) -> None:
    """Write a consistent online backup of the SQLite database to PATH.

    Safe while the daemon runs. On PostgreSQL, use pg_dump instead (exit code 2).
    """
    settings = load_settings(config_path)
    try:
        database = sqlite_path_of(settings)
        if database is None:
            fail(PG_BACKUP_HINT)
        revision = backup_sqlite(database, path, force=force)
    except (BackupError, sqlite3.Error, OSError) as exc:
        fail(str(exc))
    size_kib = path.stat().st_size / 1024
    click.echo(f"backed up {database} to {path} ({size_kib:.0f} KiB, revision {revision})")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@handle_errors
def restore_command(path: Path, config_path: str | None) -> None:
    """Replace the SQLite database with the backup at PATH.

    Refuses while `slawatch run` is running (stop the service first). The replaced database is
    kept next to it as <name>.before-restore-<time>. On PostgreSQL, use pg_restore (exit 2).
    """
    settings = load_settings(config_path)
    try:
        database = sqlite_path_of(settings)
        if database is None:
            fail(PG_BACKUP_HINT)
        revision, kept = restore_sqlite(path, database, now=datetime.now(UTC))
    except DaemonRunningError as exc:
        fail(f"{exc}; stop it first (systemctl stop slawatch), then restore")
    except (BackupError, sqlite3.Error, OSError) as exc:
        fail(str(exc))
    click.echo(f"restored {path} (revision {revision}) into {database}")
    if kept is not None:
        click.echo(f"the previous database was kept as {kept}")
    click.echo("migrations to the current version run when slawatch starts")
