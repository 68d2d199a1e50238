"""``slawatch templates render STAGE --channel CHANNEL [--incident ID | --example]``.

Prints what a notification would look like, without sending anything: with ``--example`` on a
built-in sample incident, with ``--incident`` on a stored incident (its current clocks, as the
daemon would render it now). The user template directory (``[templates] dir``) applies, and a
template error shows the built-in fallback text plus the error on stderr, exactly as the daemon
would send it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from slawatch.cli.common import config_option, fail, handle_errors, load_settings, parse_instant
from slawatch.config.loader import Settings
from slawatch.core.sla import ClockState, ClockStatus
from slawatch.render import Renderer, example_context
from slawatch.render.message import RenderedMessage
from slawatch.render.sms import segments
from slawatch.senders.base import CHANNELS, STAGES

_URGENCY = {ClockState.BREACHED: 0, ClockState.RUNNING: 1, ClockState.PAUSED: 2}


def pick_target(statuses: tuple[ClockStatus, ...], wanted: str | None) -> ClockStatus | None:
    """The clock to show: ``wanted`` if named, else the most urgent one (breached first, then
    the running clock due soonest)."""
    if wanted is not None:
        return next((s for s in statuses if s.target == wanted), None)
    candidates = [s for s in statuses if s.state in _URGENCY and s.due_at is not None]
    if not candidates:
        return next((s for s in statuses if s.due_at is not None), None)
    return min(candidates, key=lambda s: (_URGENCY[s.state], s.due_at))


def incident_context(
    settings: Settings,
    external_id: str,
    stage: str,
    now: datetime,
    *,
    target: str | None = None,
    recipient: str | None = None,
) -> dict[str, Any]:
    """The context the daemon would build for ``external_id`` at ``now`` (the same builder
    the dispatcher uses); without ``target`` the most urgent clock is shown, without
    ``recipient`` the account's CSM."""
    from slawatch.cli.db import open_database
    from slawatch.runtime.context import incident_notification_context
    from slawatch.service.evaluation import clocks_of, context_of
    from slawatch.store import repo

    db = open_database(settings, migrate=False)
    try:
        with db.read_session() as session:
            incident = repo.get_incident(session, external_id)
            ictx = context_of(incident, settings)
            chosen = pick_target(clocks_of(ictx, settings, now), target)
            csm = incident.account.csm if incident.account is not None else None
            return incident_notification_context(
                settings,
                stage,
                incident,
                ictx,
                now,
                target=chosen.target if chosen is not None else None,
                recipient=recipient or csm,
            )
    finally:
        db.dispose()


def print_message(message: RenderedMessage) -> None:
    """The rendering as a person reads it, channel by channel."""
    if message.channel == "email":
        click.echo(f"Subject: {message.subject}")
        click.echo("")
        click.echo(message.text.rstrip("\n"))
        click.echo("")
        click.echo("--- HTML part ---" if message.html else "--- no HTML part ---")
        if message.html:
            click.echo(message.html.rstrip("\n"))
    elif message.channel == "slack":
        click.echo(f"text: {message.text}")
        click.echo(json.dumps({"blocks": list(message.blocks)}, indent=2, ensure_ascii=False))
    else:
        click.echo(message.sms)
        click.echo(f"--- {len(message.sms)} characters, {segments(message.sms)} segment(s) ---")


def register(cli: click.Group) -> None:
    @cli.group("templates")
    def templates_group() -> None:
        """Preview notification templates."""

    @templates_group.command("render")
    @click.argument("stage", type=click.Choice(STAGES))
    @click.option("--channel", required=True, type=click.Choice(CHANNELS))
    @click.option("--incident", "incident_id", help="A stored incident's helpdesk key.")
    @click.option("--example", is_flag=True, help="Use a built-in sample incident.")
    @click.option("--target", type=click.Choice(["response", "workaround", "resolution"]))
    @click.option("--recipient", help="A person from [people] (default: the account's CSM).")
    @click.option("--at", "at", help="Render as of this instant (ISO 8601; default now).")
    @click.option("--json", "as_json", is_flag=True, help="Print the rendered message as JSON.")
    @config_option
    @handle_errors
    def render(
        stage: str,
        channel: str,
        incident_id: str | None,
        example: bool,
        target: str | None,
        recipient: str | None,
        at: str | None,
        as_json: bool,
        config_path: str | None,
    ) -> None:
        """Print STAGE rendered for CHANNEL without sending it."""
        if bool(incident_id) == example:
            fail("give exactly one of --incident ID and --example")
        settings = load_settings(config_path)
        renderer = Renderer(settings, log_errors=False)
        if example:
            context = example_context(stage, incident_url=settings.file.links.incident_url)
        else:
            assert incident_id is not None
            now = parse_instant(at, "--at", default_now=True).astimezone(UTC)
            context = incident_context(
                settings, incident_id, stage, now, target=target, recipient=recipient
            )
        message = renderer.render(stage, channel, context)
        for error in message.template_errors:
            click.echo(f"template error: {error}", err=True)
        if as_json:
            click.echo(json.dumps(message.as_dict(), indent=2, ensure_ascii=False))
        else:
            print_message(message)
        if message.fallback:
            click.echo("note: a template failed; this is the built-in fallback text", err=True)
