"""``slawatch simulate``: due times (and, with escalation, the timeline) for a made-up incident.

Support-ops people use it to answer "if an enterprise customer calls the hotline on Christmas
Eve at 16:30, when is each target due and who hears about it when?" without touching the
database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from slawatch.cli.common import config_option, echo_json, fail, load_settings, parse_instant
from slawatch.config.loader import ALWAYS_OPEN, Settings
from slawatch.config.policy_context import policy_context
from slawatch.core.delivery import Notice
from slawatch.core.durations import format_duration
from slawatch.core.incident import IncidentHistory
from slawatch.core.plans import PLAN_NAMES, PRIORITIES
from slawatch.core.policy import IncidentSnapshot, simulate_timeline
from slawatch.core.sla import ClockStatus, evaluate


def simulate_targets(
    settings: Settings,
    plan_name: str,
    priority: str,
    opened: datetime,
    calendar_name: str | None,
    hotline: bool,
) -> tuple[ClockStatus, ...]:
    """The clocks of a fresh incident, evaluated at its opening instant."""
    history = IncidentHistory(opened_at=opened, priority=priority, via_hotline=hotline)
    plan = settings.plan(plan_name)
    calendar = settings.calendar(calendar_name or plan.calendar)
    return evaluate(
        history,
        plan,
        calendar,
        opened,
        hotline_ack_within=settings.file.sla.hotline_ack_within,
        always_open=settings.calendars[ALWAYS_OPEN],
    )


def simulate_notices(
    settings: Settings,
    plan_name: str,
    priority: str,
    opened: datetime,
    calendar_name: str | None,
    hotline: bool,
    *,
    csm: str | None = None,
    assignee: str | None = None,
    repeats: int = 1,
) -> tuple[list[Notice], list[Notice]]:
    """The escalation timeline of a fresh incident that nobody touches: ``(sent, not sent)``.

    Pure apart from reading ``settings``: it runs :func:`slawatch.core.policy.decide` the way the
    daemon would, at every next-check instant (see ``simulate_timeline``).
    """
    history = IncidentHistory(opened_at=opened, priority=priority, via_hotline=hotline)
    plan = settings.plan(plan_name)
    incident = IncidentSnapshot(
        id="simulated",
        history=history,
        plan=plan,
        calendar=settings.calendar(calendar_name or plan.calendar),
        account=None,
        csm=csm,
        assignee=assignee,
    )
    return simulate_timeline(incident, policy_context(settings), repeats=repeats)


def timeline_entry(notice: Notice, tz: Any) -> dict[str, Any]:
    """One line of the JSON ``timeline``."""
    return {
        "at": _iso(notice.at, tz),
        "send_at": _iso(notice.send_at, tz),
        "held_until": _iso(notice.not_before, tz),
        "stage": notice.stage,
        "target": notice.target,
        "step": notice.step,
        "repetition": notice.repetition,
        "recipient": notice.recipient,
        "channel": notice.channel,
        "urgent": notice.urgent,
        "reason": notice.reason,
    }


def _iso(value: datetime | None, tz: Any) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--plan", "plan_name", required=True, type=click.Choice(PLAN_NAMES))
    @click.option("--priority", required=True, type=click.Choice(PRIORITIES))
    @click.option("--hotline", is_flag=True, help="The incident came in through the hotline.")
    @click.option("--opened", required=True, help="Opening instant, ISO 8601 with offset.")
    @click.option(
        "--calendar",
        "calendar_name",
        default=None,
        help="Calendar to count on (default: the plan's, else default_calendar).",
    )
    @click.option("--csm", default=None, help="The account's CSM (a person from [people]).")
    @click.option("--assignee", default=None, help="The assignee (a person or an address).")
    @click.option(
        "--repeats",
        default=1,
        show_default=True,
        type=click.IntRange(0, 100),
        help="How many repeats after the breach to show per rule.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    def simulate(
        plan_name: str,
        priority: str,
        hotline: bool,
        opened: str,
        calendar_name: str | None,
        csm: str | None,
        assignee: str | None,
        repeats: int,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """Print each target's due time and what would be sent, when, to whom and how."""
        settings = load_settings(config_path)
        opened_at = parse_instant(opened, "--opened")
        if calendar_name is not None and calendar_name not in settings.calendars:
            fail(
                f"--calendar: unknown calendar {calendar_name!r}; "
                f"defined: {', '.join(sorted(settings.calendars))}"
            )
        if csm is not None and csm not in settings.file.people:
            fail(f"--csm: unknown person {csm!r}; defined: {', '.join(settings.file.people)}")
        statuses = simulate_targets(
            settings, plan_name, priority, opened_at, calendar_name, hotline
        )
        tz = opened_at.tzinfo
        sent, not_sent = simulate_notices(
            settings,
            plan_name,
            priority,
            opened_at,
            calendar_name,
            hotline,
            csm=csm,
            assignee=assignee,
            repeats=repeats,
        )
        timeline: list[dict[str, Any]] = [timeline_entry(n, tz) for n in sent]
        if as_json:
            echo_json(
                {
                    "plan": plan_name,
                    "priority": priority,
                    "hotline": hotline,
                    "opened_at": opened_at.isoformat(),
                    "targets": [
                        {
                            "target": s.target,
                            "due_at": _iso(s.due_at, tz),
                            "clock": s.clock,
                            "duration": format_duration(s.duration) if s.duration else None,
                            "state": s.state.value,
                            "immediate": s.immediate,
                        }
                        for s in statuses
                    ],
                    "timeline": timeline,
                    "not_sent": [timeline_entry(n, tz) for n in not_sent],
                }
            )
            return
        click.echo(
            f"{plan_name} plan, {priority} priority{' via hotline' if hotline else ''}, "
            f"opened {opened_at.isoformat()}"
        )
        click.echo(f"{'target':<12}{'clock':<12}{'duration':<12}due at")
        for s in statuses:
            duration = format_duration(s.duration) if s.duration else "-"
            due = _iso(s.due_at, tz) or "no target"
            click.echo(f"{s.target:<12}{s.clock or '-':<12}{duration:<12}{due}")
        _print_timeline(sent, not_sent, tz, repeats)


def _print_timeline(sent: list[Notice], not_sent: list[Notice], tz: Any, repeats: int) -> None:
    click.echo("")
    if not sent:
        click.echo("timeline: nothing would be sent")
    else:
        notes = [f"{len(sent)} messages", f"up to {repeats} repeat(s) after each breach"]
        if any(n.stage == "page" for n in sent):
            notes.append("pages repeat until acknowledged, shown up to the manager's first page")
        click.echo(f"timeline ({'; '.join(notes)}):")
        click.echo(f"{'when':<27}{'stage':<11}{'target':<12}{'to':<16}{'channel':<9}held until")
    for n in sent:
        when = _iso(n.at, tz) or ""
        held = _iso(n.not_before, tz) or "-"
        stage = n.stage + (f"#{n.repetition}" if n.repetition else "")
        click.echo(
            f"{when:<27}{stage:<11}{n.target or '-':<12}{n.recipient:<16}{n.channel:<9}{held}"
        )
        click.echo(f"{'':<27}why: {n.reason}")
    for n in not_sent:
        click.echo(f"not sent: {_iso(n.at, tz)} {n.step} {n.channel}: {n.reason}")
    if any("has no CSM" in n.reason for n in not_sent):
        click.echo("hint: pass --csm PERSON to see the CSM's messages")
