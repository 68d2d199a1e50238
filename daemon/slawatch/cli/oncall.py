"""``slawatch oncall``: who is primary and secondary on call now, and for the coming weeks.

Reads only the configuration (``[oncall]`` and ``[people]``); the rotation itself is
:mod:`slawatch.core.oncall` (weekly handoff on the local wall clock, anchored on the week of
2024-01-01, overrides replace the primary).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from slawatch.cli.common import config_option, echo_json, load_settings, parse_instant
from slawatch.config.schema import PersonConfig
from slawatch.core.oncall import Shift, oncall_at, shifts


def _who(person: str | None, people: dict[str, PersonConfig]) -> str:
    if person is None:
        return "-"
    name = people[person].name if person in people else None
    return f"{person} ({name})" if name else person


def _shift_json(shift: Shift, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "start": shift.start.astimezone(tz).isoformat(),
        "end": shift.end.astimezone(tz).isoformat(),
        "primary": shift.primary,
        "secondary": shift.secondary,
        "override": shift.override,
    }


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option(
        "--weeks",
        default=4,
        show_default=True,
        type=click.IntRange(0, 520),
        help="How many weeks ahead to show.",
    )
    @click.option("--at", "at_text", default=None, help="Instead of now (ISO 8601 with offset).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @config_option
    def oncall(weeks: int, at_text: str | None, as_json: bool, config_path: str | None) -> None:
        """Show who is on call now and for the next weeks."""
        settings = load_settings(config_path)
        cfg = settings.file.oncall
        people = dict(settings.file.people)
        tz = ZoneInfo(cfg.timezone)
        now = parse_instant(at_text, "--at", default_now=True)
        who = oncall_at(cfg, now)
        upcoming = shifts(cfg, now, now + timedelta(weeks=weeks)) if weeks else []
        if as_json:
            echo_json(
                {
                    "at": now.astimezone(tz).isoformat(),
                    "timezone": cfg.timezone,
                    "handoff": cfg.handoff,
                    "people": list(cfg.people),
                    "primary": who.primary,
                    "secondary": who.secondary,
                    "override": who.override,
                    "shifts": [_shift_json(s, tz) for s in upcoming],
                }
            )
            return
        if not cfg.people:
            click.echo("no on-call rotation configured: [oncall] people is empty")
        local = now.astimezone(tz)
        click.echo(
            f"on call at {_fmt(local)}: primary {_who(who.primary, people)}, "
            f"secondary {_who(who.secondary, people)}" + (" (override)" if who.override else "")
        )
        click.echo(
            f"rotation: {', '.join(cfg.people) or '-'}; handoff {cfg.handoff} {cfg.timezone}"
        )
        if not upcoming:
            return
        click.echo(f"{'from':<22}{'until':<22}{'primary':<12}secondary")
        for shift in upcoming:
            line = (
                f"{_fmt(shift.start.astimezone(tz)):<22}{_fmt(shift.end.astimezone(tz)):<22}"
                f"{shift.primary or '-':<12}{shift.secondary or '-':<12}"
                + ("override" if shift.override else "")
            )
            click.echo(line.rstrip())


def _fmt(value: datetime) -> str:
    return value.strftime("%a %Y-%m-%d %H:%M")
