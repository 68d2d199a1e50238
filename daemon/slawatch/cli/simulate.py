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
from slawatch.core.durations import format_duration
from slawatch.core.incident import IncidentHistory
from slawatch.core.plans import PLAN_NAMES, PRIORITIES
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
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    def simulate(
        plan_name: str,
        priority: str,
        hotline: bool,
        opened: str,
        calendar_name: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """Print each target's due time for a hypothetical incident."""
        settings = load_settings(config_path)
        opened_at = parse_instant(opened, "--opened")
        if calendar_name is not None and calendar_name not in settings.calendars:
            fail(
                f"--calendar: unknown calendar {calendar_name!r}; "
                f"defined: {', '.join(sorted(settings.calendars))}"
            )
        statuses = simulate_targets(
            settings, plan_name, priority, opened_at, calendar_name, hotline
        )
        tz = opened_at.tzinfo
        timeline: list[dict[str, Any]] = []
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
