"""``slawatch entitlement use|show``: the per-contract-year ledger of plan entitlements.

``use`` records one custom report, data restore, included ticket or sandbox. Beyond the
allowance it is refused (exit 2, nothing stored) unless ``--force``, which records an overage.
``show`` prints used / included / remaining for the current contract year under the names
``report``, ``restore``, ``ticket`` and ``sandbox``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from slawatch.cli.common import config_option, echo_json, handle_errors, load_settings
from slawatch.cli.meetings import json_option, now_for, today_option, write_session
from slawatch.core.entitlements import KINDS, label
from slawatch.service import entitlements as svc
from slawatch.store.repo import get_account


def register(cli: click.Group) -> None:
    @cli.group()
    def entitlement() -> None:
        """Plan entitlements: record a use, show the contract year's balance."""

    @entitlement.command("use")
    @click.argument("account")
    @click.argument("kind", type=click.Choice(KINDS))
    @click.option("--note", default=None, help="What it was for (free text).")
    @click.option("--force", is_flag=True, help="Record it even beyond the allowance (overage).")
    @config_option
    @handle_errors
    def use(
        account: str, kind: str, note: str | None, force: bool, config_path: str | None
    ) -> None:
        """Record one use of KIND (report, restore, ticket, sandbox) for ACCOUNT."""
        settings = load_settings(config_path)
        with write_session(settings) as session:
            result = svc.use_entitlement(
                session, settings, account, kind, datetime.now(UTC), note=note, force=force
            )
        bal = result.balance
        included = "unlimited" if bal.included is None else str(bal.included)
        remaining = "unlimited" if bal.remaining is None else str(bal.remaining)
        over = " as an OVERAGE" if result.overage else ""
        click.echo(
            f"recorded {kind} for {account}{over}: {bal.used} used of {included} "
            f"{label(kind)}, {remaining} remaining in the contract year from {result.year.start}"
        )
        if result.notified:
            click.echo(f"{label(kind)} now used up: the CSM is told")

    @entitlement.command("show")
    @click.argument("account")
    @today_option
    @json_option
    @config_option
    @handle_errors
    def show(account: str, today: str | None, as_json: bool, config_path: str | None) -> None:
        """Used / included / remaining for ACCOUNT's current contract year."""
        settings = load_settings(config_path)
        with write_session(settings) as session:
            row = get_account(session, account)
            year, balances = svc.entitlement_balances(session, settings, row, now_for(today))
            plan = row.plan
        last_day = year.end - timedelta(days=1)
        if as_json:
            echo_json(
                {
                    "account": account,
                    "plan": plan,
                    "contract_year_start": year.start.isoformat(),
                    "contract_year_end": last_day.isoformat(),
                    "resets_on": year.end.isoformat(),
                    **{kind: balances[kind].as_dict() for kind in KINDS},
                }
            )
            return
        click.echo(
            f"{account} ({plan}), contract year {year.start} to {last_day} (resets on {year.end}):"
        )
        click.echo(f"  {'KIND':<8} {'USED':>5} {'INCLUDED':>9} {'REMAINING':>10}")
        for kind in KINDS:
            d = balances[kind].as_dict()
            over = f"  ({d['overage']} overage)" if d["overage"] else ""
            click.echo(
                f"  {kind:<8} {d['used']!s:>5} {d['included']!s:>9} {d['remaining']!s:>10}{over}"
            )
