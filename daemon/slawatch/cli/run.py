"""``slawatch run``: start the daemon in the foreground (systemd runs exactly this)."""

from __future__ import annotations

import gc
import os
import sys

import click

from slawatch.cli.common import config_option
from slawatch.errors import ConfigError, SlawatchError


def register(cli: click.Group) -> None:
    @cli.command()
    @config_option
    @click.option(
        "--demo",
        is_flag=True,
        help="Also create a demo account and incidents with targets of minutes, to watch "
        "escalations happen.",
    )
    def run(config_path: str | None, demo: bool) -> None:
        """Run the SLA daemon: the scan, the outbox dispatcher, reminders and the HTTP API."""
        # Importing the daemon is most of its start-up; Daemon.start explains why the garbage
        # collector is off until READY=1 and turns it back on.
        gc.disable()
        from slawatch.runtime.daemon import Daemon
        from slawatch.wiring import DaemonParts

        daemon = Daemon(config_path, parts=DaemonParts(), demo=demo)
        try:
            code = daemon.run()
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(line, err=True)
            sys.exit(2)
        except SlawatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        if daemon.abandoned:
            # A job outlived [daemon] shutdown_timeout: the interpreter would wait for its
            # worker thread at exit. Its notification is sent again at the next start.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        sys.exit(code)
