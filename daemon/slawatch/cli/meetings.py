"""``slawatch meeting record|list|plan``: the alignment meetings each account is owed.

``record`` stores a held meeting; ``list`` shows overdue, due and upcoming meetings (``--json``
prints a list of objects with ``account``, ``due`` (YYYY-MM-DD) and ``state`` (upcoming, due,
overdue or held)); ``plan`` shows an account's coming year of meetings and the reminders each
would cause. ``--today`` answers "what would this look like on that day" without waiting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import click
from sqlalchemy.orm import Session

from slawatch.cli.common import config_option, echo_json, fail, handle_errors, load_settings
from slawatch.config.loader import Settings
from slawatch.core.meetings import planned_reminders
from slawatch.core.reminder import escalated_recipients, routine_recipients
from slawatch.service import entitlements as svc
from slawatch.service.accounts import sync_config_accounts
from slawatch.store.db import Database
from slawatch.store.migrate import upgrade
from slawatch.store.repo import get_account


@contextmanager
def write_session(settings: Settings) -> Iterator[Session]:
    """A unit of work on the configured database (migrated to the current schema first, and
    with the accounts declared in the config file upserted, like every account command)."""
    db = Database.from_settings(settings)
    try:
        upgrade(db)
        with db.session() as session:
            sync_config_accounts(session, settings, datetime.now(UTC))
            yield session
    finally:
        db.dispose()


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{field}: cannot parse {value!r}; use YYYY-MM-DD like 2026-11-20")


def parse_days(value: str, field: str) -> int:
    """``30d``, ``2w`` or a plain number of days."""
    match = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", value)
    if not match:
        fail(f"{field}: cannot parse {value!r}; write a number of days like '30d' or '2w'")
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


def now_for(today: str | None) -> datetime:
    """The real instant, or midday UTC of ``--today`` (same date in every office's zone)."""
    if today is None:
        return datetime.now(UTC)
    return datetime.combine(parse_date(today, "--today"), time(12), UTC)


today_option = click.option(
    "--today", default=None, metavar="YYYY-MM-DD", help="Pretend today is this date."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def person_label(settings: Settings, person: str | None) -> str:
    if person is None:
        return "-"
    cfg = settings.file.people.get(person)
    return cfg.name if cfg and cfg.name else person


def register(cli: click.Group) -> None:
    @cli.group()
    def meeting() -> None:
        """Alignment meetings: record, list what is due, plan the coming year."""

    @meeting.command("record")
    @click.argument("account")
    @click.option("--date", "held_on", required=True, metavar="YYYY-MM-DD")
    @click.option("--notes", default=None, help="What was discussed (free text).")
    @config_option
    @handle_errors
    def record(account: str, held_on: str, notes: str | None, config_path: str | None) -> None:
        """Record an alignment meeting held with ACCOUNT."""
        settings = load_settings(config_path)
        day = parse_date(held_on, "--date")
        with write_session(settings) as session:
            row, view, created = svc.record_meeting(
                session, settings, account, day, notes, datetime.now(UTC)
            )
            following = view.next_due()
            period = next((p for p in view.periods if p.held_on == day), None)
        satisfied = f" (satisfies the meeting due {period.due})" if period else ""
        nxt = f"; next due {following}" if following else ""
        verb = "recorded" if created else "already recorded:"
        click.echo(f"{verb} meeting #{row.id} with {account} on {day}{satisfied}{nxt}")

    @meeting.command("list")
    @click.option("--due-within", default=None, metavar="30d", help="Only due within N days.")
    @click.option("--overdue", is_flag=True, help="Only overdue meetings.")
    @click.option("--csm", default=None, help="Only accounts of this CSM (person id or name).")
    @today_option
    @json_option
    @config_option
    @handle_errors
    def list_(
        due_within: str | None,
        overdue: bool,
        csm: str | None,
        today: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """List overdue, due and upcoming alignment meetings of active accounts."""
        settings = load_settings(config_path)
        within = parse_days(due_within, "--due-within") if due_within is not None else None
        with write_session(settings) as session:
            rows = svc.meeting_rows(
                session,
                settings,
                now_for(today),
                csm=csm,
                due_within_days=within,
                overdue_only=overdue,
            )
        if as_json:
            echo_json([r.as_dict() for r in rows])
            return
        if not rows:
            click.echo("no meetings match")
            return
        click.echo(f"{'ACCOUNT':<16} {'PLAN':<11} {'CSM':<16} {'DUE':<10}  {'STATE':<8}  NOTE")
        for r in rows:
            if r.state == "held":
                note = f"held on {r.held_on}"
            elif r.days < 0:
                note = f"{-r.days} days late"
            else:
                note = f"in {r.days} days"
            click.echo(
                f"{r.account:<16} {r.plan:<11} {person_label(settings, r.csm):<16} "
                f"{r.due.isoformat():<10}  {r.state:<8}  {note}"
            )

    @meeting.command("plan")
    @click.argument("account")
    @today_option
    @json_option
    @config_option
    @handle_errors
    def plan(account: str, today: str | None, as_json: bool, config_path: str | None) -> None:
        """Show ACCOUNT's meetings for the coming year and the reminders each would cause."""
        settings = load_settings(config_path)
        now = now_for(today)
        with write_session(settings) as session:
            row = get_account(session, account)
            view = svc.account_meetings(session, settings, row, now)
            anchor = svc.contract_anchor(row)
            csm = row.csm
        lead = svc.reminder_lead(settings)
        end = view.today + timedelta(days=365)
        entries: list[dict[str, Any]] = []
        for item in view.all_states():
            if item.state in {"missed"} or (item.state == "held" and item.due < view.today):
                continue
            if item.due > end:
                break
            reminders: list[dict[str, Any]] = []
            if item.state != "held":
                for planned in planned_reminders(item.period, view.rules):
                    if planned.stage == "meeting_overdue":
                        who = escalated_recipients(csm, view.plan.csm, lead)
                    else:
                        who = routine_recipients(csm, view.plan.csm, lead)
                    reminders.append(
                        {
                            "on": planned.on.isoformat(),
                            "stage": planned.stage,
                            "step": planned.step,
                            "to": [f"{r.person} ({r.channel})" for r in who],
                            "past": planned.on < view.today,
                        }
                    )
            entries.append(
                {
                    "due": item.due.isoformat(),
                    "state": item.state,
                    "held_on": item.period.held_on.isoformat() if item.period.held_on else None,
                    "reminders": reminders,
                }
            )
        if as_json:
            echo_json(
                {
                    "account": account,
                    "plan": row.plan,
                    "cadence": view.cadence,
                    "anchor": anchor.isoformat(),
                    "today": view.today.isoformat(),
                    "meetings": entries,
                }
            )
            return
        click.echo(
            f"{account} ({row.plan}): alignment meetings {view.cadence}, anchored on {anchor}; "
            f"today {view.today}"
        )
        if not entries:
            click.echo("  no alignment meetings in the coming year")
        for entry in entries:
            held = f" on {entry['held_on']}" if entry["held_on"] else ""
            click.echo(f"  {entry['due']}  {entry['state']}{held}")
            for rem in entry["reminders"]:
                mark = " (past)" if rem["past"] else ""
                label = (
                    f"reminder {rem['step']}"
                    if rem["stage"] == "meeting_reminder"
                    else "overdue notice"
                )
                to = ", ".join(rem["to"]) or "nobody (no CSM or support lead configured)"
                click.echo(f"      {rem['on']}  {label} -> {to}{mark}")
        if view.rules.overdue_repeat:
            click.echo(
                f"  overdue notices repeat every {view.rules.overdue_repeat} days until a meeting "
                "is recorded"
            )
