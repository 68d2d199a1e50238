"""``slawatch db upgrade|current``, and the helpers other commands use to open the database.

Alembic is imported only by the commands that need it, to keep ``slawatch --help`` quick.

``db_group`` is a plain click group at module level so other modules can add commands to it
(``from slawatch.cli.db import db_group`` then ``@db_group.command()``), e.g. backup/restore.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import OperationalError

from slawatch.cli.common import config_option, echo_json, fail, handle_errors, load_settings
from slawatch.config.loader import Settings
from slawatch.service.intake import Intake
from slawatch.store.db import Database


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The configured database, migrated to the current schema unless ``migrate`` is False.

    Exits 2 with a message when the database cannot be reached or is newer than this slawatch.
    """
    from alembic.util import CommandError

    from slawatch.store.migrate import upgrade

    db = Database.from_settings(settings)
    if migrate:
        try:
            upgrade(db)
        except CommandError as exc:
            db.dispose()
            fail(f"database: {exc} (is it from a newer slawatch?)")
        except OperationalError as exc:
            db.dispose()
            fail(f"database: cannot open {db.url_for_display}: {exc.orig}")
    return db


@contextmanager
def open_intake(config_path: str | None, *, sync_accounts: bool = True) -> Iterator[Intake]:
    """Settings, a migrated database and the intake service for one CLI command.

    The config file's accounts are upserted first. The intake comes from the composition root
    (:func:`slawatch.wiring.build_intake`): every incident a command changes is evaluated with
    the escalation policy at once, so a hotline page is in the outbox when the command returns.
    """
    from slawatch.wiring import build_intake

    settings = load_settings(config_path)
    db = open_database(settings)
    try:
        intake: Intake = build_intake(db, settings)
        if sync_accounts:
            intake.sync_config_accounts()
        yield intake
    finally:
        db.dispose()


@click.group("db")
def db_group() -> None:
    """The database: schema migrations (and, with other modules, backups)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@config_option
@handle_errors
def db_upgrade(revision: str, config_path: str | None) -> None:
    """Apply the schema migrations (under a lock; safe while the daemon runs)."""
    from alembic.util import CommandError

    from slawatch.store.migrate import upgrade

    settings = load_settings(config_path)
    db = Database.from_settings(settings)
    try:
        before, after = upgrade(db, revision)
    except CommandError as exc:
        fail(f"--revision: {exc}")
    except OperationalError as exc:
        fail(f"database: cannot open {db.url_for_display}: {exc.orig}")
    finally:
        db.dispose()
    if before == after:
        click.echo(f"{db.url_for_display}: already at {after}")
    else:
        click.echo(f"{db.url_for_display}: upgraded from {before or '(empty)'} to {after}")


@db_group.command("current")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
@handle_errors
def db_current(as_json: bool, config_path: str | None) -> None:
    """Show the database's schema revision and whether it is up to date."""
    from slawatch.store.migrate import current_revision, head_revision

    settings = load_settings(config_path)
    db = Database.from_settings(settings)
    try:
        current = current_revision(db)
    except OperationalError as exc:
        fail(f"database: cannot open {db.url_for_display}: {exc.orig}")
    finally:
        db.dispose()
    head = head_revision()
    if as_json:
        echo_json(
            {
                "database": db.url_for_display,
                "current": current,
                "head": head,
                "up_to_date": current == head,
            }
        )
        return
    state = "up to date" if current == head else f"behind {head}: run 'slawatch db upgrade'"
    click.echo(f"{current or '(empty)'} ({state})")


def register(cli: click.Group) -> None:
    from slawatch.cli.db_backup import register_db_commands  # backup, restore (SERVICE helper)

    register_db_commands(db_group)
    cli.add_command(db_group)
