"""``slawatch workshop record|list``: onboarding workshops delivered versus included.

A plan includes a number of live onboarding workshops per contract year; ``list`` shows how many
each account has had this contract year and flags accounts that are behind by the configured
rule (``[workshops] check_at_fraction`` / ``min_fraction_delivered``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from slawatch.cli.common import config_option, echo_json, handle_errors, load_settings
from slawatch.cli.meetings import json_option, now_for, parse_date, today_option, write_session
from slawatch.service import entitlements as svc


def register(cli: click.Group) -> None:
    @cli.group()
    def workshop() -> None:
        """Onboarding workshops: record one, list delivered/included per account."""

    @workshop.command("record")
    @click.argument("account")
    @click.option("--date", "held_on", required=True, metavar="YYYY-MM-DD")
    @click.option("--notes", default=None, help="Topic or attendees (free text).")
    @config_option
    @handle_errors
    def record(account: str, held_on: str, notes: str | None, config_path: str | None) -> None:
        """Record a delivered onboarding workshop for ACCOUNT."""
        settings = load_settings(config_path)
        day = parse_date(held_on, "--date")
        with write_session(settings) as session:
            row, ws = svc.record_workshop(session, settings, account, day, notes, datetime.now(UTC))
        click.echo(
            f"recorded workshop #{row.id} for {account} on {day}: {ws.delivered} of "
            f"{ws.included} delivered in the contract year from {ws.year.start}"
        )

    @workshop.command("list")
    @today_option
    @json_option
    @config_option
    @handle_errors
    def list_(today: str | None, as_json: bool, config_path: str | None) -> None:
        """Workshops delivered / included this contract year, per active account."""
        settings = load_settings(config_path)
        with write_session(settings) as session:
            rows = svc.workshop_rows(session, settings, now_for(today))
        if as_json:
            echo_json(
                [
                    {
                        "account": a.id,
                        "plan": a.plan,
                        "csm": a.csm,
                        "delivered": ws.delivered,
                        "included": ws.included,
                        "remaining": ws.remaining,
                        "contract_year_start": ws.year.start.isoformat(),
                        "contract_year_end": (ws.year.end - timedelta(days=1)).isoformat(),
                        "check_on": ws.check_on.isoformat(),
                        "behind": ws.behind,
                    }
                    for a, ws in rows
                ]
            )
            return
        if not rows:
            click.echo("no active accounts")
            return
        click.echo(f"{'ACCOUNT':<16} {'PLAN':<11} {'DELIVERED':>9}  {'YEAR FROM':<10}  STATUS")
        for a, ws in rows:
            state = "behind" if ws.behind else ("-" if ws.included == 0 else "ok")
            click.echo(
                f"{a.id:<16} {a.plan:<11} {f'{ws.delivered}/{ws.included}':>9}  "
                f"{ws.year.start.isoformat():<10}  {state}"
            )
