"""``slawatch incident open|respond|...|show|list``: incidents by hand.

The same rules as the HTTP API apply (one service layer): bad input exits 2 naming the field
and changes nothing; repeating an event (same type and time) is harmless. ``list`` prints the
work queue in service order (plan rank, priority, earliest due) with each clock's remaining or
overdue business time.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import click

from slawatch.cli.common import config_option, echo_json, handle_errors, parse_instant
from slawatch.cli.db import open_intake
from slawatch.core.plans import PRIORITIES
from slawatch.service.incidents import EventInput, IncidentInput

_EVENT_COMMANDS = {
    "respond": ("responded", "Record the first response to the customer."),
    "workaround": ("workaround", "Record that a workaround was provided."),
    "resolve": ("resolved", "Resolve the incident (stops every clock)."),
    "reopen": ("reopened", "Reopen a resolved incident (the resolution clock resumes)."),
    "pause": ("paused", "Wait on the customer (workaround and resolution clocks stop)."),
    "resume": ("resumed", "Stop waiting on the customer."),
}


def _clock_text(clock: dict[str, Any]) -> str:
    state = clock["state"]
    name = clock["target"]
    if state == "none":
        return f"{name}: -"
    if state in ("running", "paused"):
        suffix = " (paused)" if state == "paused" else ""
        return f"{name}: {clock['remaining']} left{suffix}"
    if state == "breached":
        return f"{name}: OVERDUE {clock['remaining'].lstrip('-')}"
    return f"{name}: {state}"


def _local(value: str | None, tz: tzinfo) -> str:
    """An ISO instant from a view, in the incident's calendar zone, to the minute."""
    if value is None:
        return "-"
    return datetime.fromisoformat(value).astimezone(tz).isoformat(timespec="minutes")


def _print_incident(view: dict[str, Any], tz: tzinfo) -> None:
    click.echo(f"{view['id']}: {view['title']}")
    click.echo(
        f"  account {view['account']} ({view['account_name']}), plan {view['plan']}, "
        f"priority {view['priority']}{', via hotline' if view['via_hotline'] else ''}"
    )
    click.echo(
        f"  status {view['status']}{' (paused)' if view['paused'] else ''}, "
        f"opened {_local(view['opened_at'], tz)}, assignee {view['assignee'] or '-'}, "
        f"calendar {view['calendar']}"
    )
    if view["acknowledged_at"]:
        click.echo(
            f"  acknowledged {_local(view['acknowledged_at'], tz)} "
            f"by {view['acknowledged_by'] or '-'}"
        )
    click.echo(f"  next check: {_local(view['next_check_at'], tz)}")
    click.echo("  clocks:")
    for clock in view["clocks"]:
        due = _local(clock["due_at"], tz)
        click.echo(f"    {_clock_text(clock):<34} due {due}  [{clock['state']}]")
    if "events" in view:
        click.echo("  history:")
        click.echo(f"    {_local(view['opened_at'], tz)}  opened")
        for event in view["events"]:
            extra = [f"by {event['by']}"] if event["by"] else []
            if event["priority"]:
                extra.append(f"to {event['priority']}")
            if event["text"]:
                extra.append(repr(event["text"]))
            click.echo(f"    {_local(event['at'], tz)}  {event['type']} {' '.join(extra)}".rstrip())
    if "notifications" in view:
        click.echo("  notifications:")
        if not view["notifications"]:
            click.echo("    none")
        for note in view["notifications"]:
            outcome = note["status"]
            if note["drop_reason"]:
                outcome += f" ({note['drop_reason']})"
            elif note["last_error"]:
                outcome += f" ({note['last_error']})"
            click.echo(
                f"    #{note['id']} {note['stage']} {note['target'] or ''} -> {note['recipient']} "
                f"by {note['channel']}: {outcome}"
            )


def _output(view: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        echo_json(view)
    else:
        click.echo(message)


def _record(
    config_path: str | None,
    external_id: str,
    event_type: str,
    at: str | None,
    by: str | None,
    text: str | None = None,
    priority: str | None = None,
    as_json: bool = False,
) -> None:
    when = parse_instant(at, "--at") if at is not None else None
    with open_intake(config_path) as intake:
        view, changed = intake.record_event(
            external_id, EventInput(event_type, at=when, by=by, priority=priority, text=text)
        )
    note = "" if changed else " (already recorded)"
    _output(view, as_json, f"{external_id}: {event_type}{note}")


def _make_event_command(group: click.Group, name: str, event_type: str, help_text: str) -> None:
    @group.command(name, help=help_text)
    @click.argument("external_id", metavar="ID")
    @click.option("--at", default=None, help="When (ISO 8601 with offset; default: now).")
    @click.option("--by", default=None, help="Who did it.")
    @click.option("--text", default=None, help="A comment to keep with the event.")
    @click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")
    @config_option
    @handle_errors
    def command(
        external_id: str,
        at: str | None,
        by: str | None,
        text: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        _record(config_path, external_id, event_type, at, by, text=text, as_json=as_json)


def register(cli: click.Group) -> None:
    @cli.group("incident")
    def incident() -> None:
        """Incidents: open them, record what happens, and see the work queue."""

    @incident.command("open")
    @click.argument("external_id", metavar="ID")
    @click.option("--account", required=True, help="Account id.")
    @click.option("--priority", required=True, help=f"One of {', '.join(PRIORITIES)} (or 1-4).")
    @click.option("--title", required=True, help="Short description.")
    @click.option(
        "--opened", default=None, help="Opening instant (ISO 8601 with offset; default: now)."
    )
    @click.option("--hotline", is_flag=True, help="The customer called the hotline.")
    @click.option("--assignee", default=None, help="Who works on it.")
    @click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")
    @config_option
    @handle_errors
    def open_(
        external_id: str,
        account: str,
        priority: str,
        title: str,
        opened: str | None,
        hotline: bool,
        assignee: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """Open an incident (repeating the same data is harmless)."""
        opened_at = parse_instant(opened, "--opened") if opened is not None else None
        data = IncidentInput(
            external_id=external_id,
            account=account,
            priority=priority,
            title=title,
            opened_at=opened_at,
            via_hotline=hotline,
            assignee=assignee,
        )
        with open_intake(config_path) as intake:
            view, created = intake.open_incident(data)
        state = "opened" if created else "already open with the same data"
        _output(view, as_json, f"{external_id}: {state} (due {view['due_at'] or '-'})")

    for name, (event_type, help_text) in _EVENT_COMMANDS.items():
        _make_event_command(incident, name, event_type, help_text)

    @incident.command("priority")
    @click.argument("external_id", metavar="ID")
    @click.argument("priority")
    @click.option("--at", default=None, help="When (ISO 8601 with offset; default: now).")
    @click.option("--by", default=None, help="Who changed it.")
    @click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")
    @config_option
    @handle_errors
    def priority_(
        external_id: str,
        priority: str,
        at: str | None,
        by: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """Change the priority (the new targets apply from the opening)."""
        _record(
            config_path, external_id, "priority_changed", at, by, priority=priority, as_json=as_json
        )

    @incident.command("ack")
    @click.argument("external_id", metavar="ID")
    @click.option("--by", required=True, help="Who took the page.")
    @click.option("--at", default=None, help="When (ISO 8601 with offset; default: now).")
    @click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")
    @config_option
    @handle_errors
    def ack(
        external_id: str, by: str, at: str | None, as_json: bool, config_path: str | None
    ) -> None:
        """Acknowledge a page: stops the hotline paging."""
        _record(config_path, external_id, "acknowledged", at, by, as_json=as_json)

    @incident.command("note")
    @click.argument("external_id", metavar="ID")
    @click.argument("text")
    @click.option("--by", default=None, help="Who wrote it.")
    @click.option("--at", default=None, help="When (ISO 8601 with offset; default: now).")
    @click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")
    @config_option
    @handle_errors
    def note(
        external_id: str,
        text: str,
        by: str | None,
        at: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """Add a note to the history (no effect on the clocks)."""
        _record(config_path, external_id, "note", at, by, text=text, as_json=as_json)

    @incident.command("show")
    @click.argument("external_id", metavar="ID")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    @handle_errors
    def show(external_id: str, as_json: bool, config_path: str | None) -> None:
        """The incident with every clock, its full history and its notifications."""
        with open_intake(config_path) as intake:
            view = intake.get_incident(external_id, with_notifications=True)
            tz = intake.settings.calendar(view["calendar"]).timezone
        if as_json:
            echo_json(view)
        else:
            _print_incident(view, tz)

    @incident.command("list")
    @click.option(
        "--state",
        type=click.Choice(["open", "resolved", "all"]),
        default="open",
        show_default=True,
    )
    @click.option(
        "--limit",
        type=click.IntRange(min=1),
        help="Show at most this many (one page of the queue; up to 10,000).",
    )
    @click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    @handle_errors
    def list_(
        state: str, limit: int | None, offset: int, as_json: bool, config_path: str | None
    ) -> None:
        """The work queue in service order: plan rank, priority, earliest due."""
        with open_intake(config_path) as intake:
            views = intake.queue(None if state == "all" else state, limit=limit, offset=offset)
        if as_json:
            echo_json(views)
            return
        if not views:
            click.echo(f"no {state if state != 'all' else ''} incidents".replace("  ", " "))
            return
        click.echo(f"{'ID':<14} {'ACCOUNT':<12} {'PLAN':<10} {'PRIORITY':<8} {'TITLE':<40}  CLOCKS")
        for view in views:
            clocks = "; ".join(_clock_text(c) for c in view["clocks"] if c["state"] != "none")
            title = view["title"] if len(view["title"]) <= 40 else view["title"][:39] + "…"
            click.echo(
                f"{view['id']:<14} {view['account']:<12} {view['plan']:<10} "
                f"{view['priority']:<8} {title:<40}  {clocks}"
            )
