"""``slawatch account add|set|show|list|import``: customer accounts by hand or from a file.

Accounts declared in the config file (``[accounts.ID]``) are upserted first, so ``list`` shows
them too. Bad input exits 2 naming the field; an import with any bad row changes nothing and
lists every bad row with its line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from slawatch.cli.common import config_option, echo_json, fail, handle_errors
from slawatch.cli.db import open_intake
from slawatch.core.plans import CADENCE_MONTHS, PLAN_NAMES
from slawatch.service.accounts import ImportRejected


def _sla_options(values: tuple[str, ...]) -> dict[str, dict[str, str]] | None:
    """``--sla high.workaround=4h`` (repeatable) as an overrides table."""
    if not values:
        return None
    table: dict[str, dict[str, str]] = {}
    for item in values:
        key, sep, duration = item.partition("=")
        priority, dot, target = key.strip().partition(".")
        if not sep or not dot:
            fail(
                f"--sla: cannot parse {item!r}; "
                "write PRIORITY.TARGET=DURATION like high.workaround=4h"
            )
        table.setdefault(priority, {})[target] = duration.strip()
    return table


def _none_if_dash(value: str | None) -> str | None:
    return None if value in ("-", "") else value


def _print_account(view: dict[str, Any]) -> None:
    click.echo(f"{view['id']}: {view['name']}")
    for key in ("plan", "calendar", "csm", "contract_start", "meeting_cadence", "active"):
        click.echo(f"  {key}: {view[key] if view[key] is not None else '-'}")
    click.echo(f"  emails: {', '.join(view['emails']) or '-'}")
    click.echo(f"  phones: {', '.join(view['phones']) or '-'}")
    if view["sla"]:
        for priority, row in view["sla"].items():
            cells = ", ".join(f"{t}={d}" for t, d in row.items())
            click.echo(f"  sla {priority}: {cells}")


def account_options(func: Any) -> Any:
    options = [
        click.option(
            "--calendar", default=None, help="Calendar name from the config ('-' for none)."
        ),
        click.option(
            "--csm", default=None, help="Customer success manager: a person id ('-' for none)."
        ),
        click.option("--contract-start", default=None, help="Contract start date, YYYY-MM-DD."),
        click.option("--email", "emails", multiple=True, help="Contact email (repeatable)."),
        click.option("--phone", "phones", multiple=True, help="Contact phone, E.164 (repeatable)."),
        click.option(
            "--meeting-cadence",
            type=click.Choice(tuple(CADENCE_MONTHS)),
            default=None,
            help="Override the plan's alignment-meeting cadence.",
        ),
        click.option(
            "--sla",
            "sla",
            multiple=True,
            help="Premium override PRIORITY.TARGET=DURATION, e.g. high.workaround=4h ('-': none).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fields(
    calendar: str | None,
    csm: str | None,
    contract_start: str | None,
    emails: tuple[str, ...],
    phones: tuple[str, ...],
    meeting_cadence: str | None,
    sla: tuple[str, ...],
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if calendar is not None:
        data["calendar"] = _none_if_dash(calendar)
    if csm is not None:
        data["csm"] = _none_if_dash(csm)
    if contract_start is not None:
        data["contract_start"] = _none_if_dash(contract_start)
    if emails:
        data["emails"] = [] if emails == ("-",) else list(emails)
    if phones:
        data["phones"] = [] if phones == ("-",) else list(phones)
    if meeting_cadence is not None:
        data["meeting_cadence"] = meeting_cadence
    overrides = _sla_options(sla)
    if overrides is not None:
        data["sla"] = overrides
    return data


def register(cli: click.Group) -> None:
    @cli.group("account")
    def account() -> None:
        """Customer accounts: plan, calendar, CSM, contacts and SLA overrides."""

    @account.command("add")
    @click.argument("account_id", metavar="ID")
    @click.option("--name", required=True, help="Display name.")
    @click.option("--plan", required=True, type=click.Choice(PLAN_NAMES), help="Support plan.")
    @account_options
    @click.option("--inactive", is_flag=True, help="Create the account inactive.")
    @click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
    @config_option
    @handle_errors
    def add(
        account_id: str,
        name: str,
        plan: str,
        inactive: bool,
        as_json: bool,
        config_path: str | None,
        **options: Any,
    ) -> None:
        """Create an account."""
        data = {"name": name, "plan": plan, **_fields(**options)}
        if inactive:
            data["active"] = False
        with open_intake(config_path) as intake:
            view = intake.add_account(account_id, data)
        if as_json:
            echo_json(view)
        else:
            click.echo(f"added account {view['id']} ({view['plan']})")

    @account.command("set")
    @click.argument("account_id", metavar="ID")
    @click.option("--name", default=None, help="Display name.")
    @click.option(
        "--plan",
        default=None,
        type=click.Choice(PLAN_NAMES),
        help="New plan (applies to incidents opened from now).",
    )
    @account_options
    @click.option("--active/--inactive", default=None, help="Activate or deactivate.")
    @click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
    @config_option
    @handle_errors
    def set_(
        account_id: str,
        name: str | None,
        plan: str | None,
        active: bool | None,
        as_json: bool,
        config_path: str | None,
        **options: Any,
    ) -> None:
        """Change an account's fields; fields not given stay as they are."""
        data = _fields(**options)
        if name is not None:
            data["name"] = name
        if plan is not None:
            data["plan"] = plan
        if active is not None:
            data["active"] = active
        if not data:
            fail("nothing to change: give at least one option (see --help)")
        with open_intake(config_path) as intake:
            view = intake.set_account(account_id, data)
        if as_json:
            echo_json(view)
        else:
            click.echo(f"updated account {view['id']}")

    @account.command("show")
    @click.argument("account_id", metavar="ID")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    @handle_errors
    def show(account_id: str, as_json: bool, config_path: str | None) -> None:
        """Show one account."""
        with open_intake(config_path) as intake:
            view = intake.get_account(account_id)
        if as_json:
            echo_json(view)
        else:
            _print_account(view)

    @account.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    @handle_errors
    def list_(as_json: bool, config_path: str | None) -> None:
        """List every account."""
        with open_intake(config_path) as intake:
            views = intake.list_accounts()
        if as_json:
            echo_json(views)
            return
        if not views:
            click.echo("no accounts")
        for view in views:
            state = "" if view["active"] else "  (inactive)"
            click.echo(
                f"{view['id']:<20} {view['plan']:<11} {view['calendar'] or '-':<10} "
                f"{view['csm'] or '-':<10} {view['name']}{state}"
            )

    @account.command("import")
    @click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
    @config_option
    @handle_errors
    def import_(path: str, config_path: str | None) -> None:
        """Import accounts from TOML ([accounts.ID] tables) or CSV (header: id,name,plan,...).

        All rows or none: any bad row is reported with its line number and nothing changes.
        """
        with open_intake(config_path) as intake:
            try:
                created, updated = intake.import_accounts(Path(path))
            except ImportRejected as exc:
                for problem in exc.problems:
                    click.echo(problem, err=True)
                fail(f"{len(exc.problems)} bad row(s) in {path}; nothing was imported")
        click.echo(f"imported {path}: {created} created, {updated} updated")
