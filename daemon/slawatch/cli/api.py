"""``slawatch api``: serve the HTTP API alone (without the scheduler) with uvicorn.

Useful to feed incidents while the daemon runs elsewhere against the same PostgreSQL database,
or to try the API. Changes are evaluated with the escalation policy at once (the notifications
land in the outbox for the daemon to send). ``/healthz`` reports the database only.
"""

from __future__ import annotations

import click

from slawatch.cli.common import config_option, fail, handle_errors, load_settings
from slawatch.cli.db import open_database
from slawatch.config.secrets import resolve_secret


def register(cli: click.Group) -> None:
    @cli.command("api")
    @click.option("--listen", default=None, help="HOST:PORT (default: [api] listen).")
    @config_option
    @handle_errors
    def api(listen: str | None, config_path: str | None) -> None:
        """Serve the HTTP API alone on [api] listen (default 127.0.0.1:8087)."""
        import uvicorn

        from slawatch.api.app import create_app
        from slawatch.wiring import build_intake

        settings = load_settings(config_path)
        for ref in settings.file.api.tokens:
            resolve_secret(ref)  # a missing token is an error now, not on the first request
        address = listen or settings.file.api.listen
        host, _, port_text = address.rpartition(":")
        if not host or not port_text.isdigit():
            fail(f"--listen: cannot parse {address!r}; write it like 127.0.0.1:8087")
        db = open_database(settings)
        intake = build_intake(db, settings)
        intake.sync_config_accounts()
        app = create_app(db, settings, intake=intake)
        click.echo(f"slawatch API on http://{address} ({db.url_for_display})", err=True)
        try:
            uvicorn.run(app, host=host.strip("[]"), port=int(port_text), log_level="info")
        finally:
            db.dispose()
