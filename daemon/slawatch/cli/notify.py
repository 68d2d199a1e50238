"""``slawatch notify test --channel slack|sms|email --to TARGET``: one real test message.

It uses the real configuration: the provider section's credentials and base URL, or the console
and file senders when that section is absent (and says so). ``TARGET`` is an address for the
channel (``#channel``, a Slack user id or email; an E.164 number; an email address) or a person
from ``[people]``, whose address for the channel is used.

Exit codes: 0 sent; 1 the provider refused or could not be reached (the message says whether a
retry could help); 2 bad input or configuration.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import click

from slawatch.cli.common import config_option, fail, handle_errors, load_settings
from slawatch.config.loader import Settings
from slawatch.errors import DeliveryError
from slawatch.render import Renderer, build_context
from slawatch.senders.base import CHANNELS, mask_address
from slawatch.senders.factory import build_senders, describe

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PERSON_FIELD = {"slack": "slack", "sms": "phone", "email": "email"}


def resolve_target(settings: Settings, channel: str, target: str) -> tuple[str, str | None, str]:
    """``(address, person name, time zone)`` for ``target`` on ``channel``; exits 2 if unusable."""
    person = settings.file.people.get(target)
    timezone = str(settings.calendar(None).timezone)
    name: str | None = None
    address = target.strip()
    if person is not None:
        value = getattr(person, _PERSON_FIELD[channel])
        if not value:
            fail(f"--to: person {target!r} has no {_PERSON_FIELD[channel]} in [people.{target}]")
        address = value
        name = person.name or target
        timezone = str(settings.calendar(person.calendar).timezone)
    if not address:
        fail("--to: empty target")
    if channel == "sms" and not _E164.match(address):
        fail(f"--to: {address!r} is not an E.164 phone number like '+359881234567'")
    if channel == "email" and "@" not in address:
        fail(f"--to: {address!r} is not an email address")
    return address, name, timezone


def register(cli: click.Group) -> None:
    @cli.group("notify")
    def notify_group() -> None:
        """Send notifications by hand."""

    @notify_group.command("test")
    @click.option("--channel", required=True, type=click.Choice(CHANNELS))
    @click.option("--to", "target", required=True, help="Address, or a person from [people].")
    @config_option
    @handle_errors
    def test(channel: str, target: str, config_path: str | None) -> None:
        """Send a test message on CHANNEL with the real configuration."""
        settings = load_settings(config_path)
        address, name, timezone = resolve_target(settings, channel, target)
        senders = build_senders(settings)
        sender = senders.get(channel)
        if getattr(settings.file, channel) is None:
            click.echo(
                f"note: [{channel}] is not configured; the test goes to the console and file "
                "senders",
                err=True,
            )
        if sender is None:
            fail(f"no sender for {channel}: [{channel}] is absent and [output] is all off")
        now = datetime.now(UTC)
        context = build_context(
            "test",
            now=now,
            recipient={"name": name, "timezone": timezone},
            incident_url=settings.file.links.incident_url,
            extra={"dedupe_key": f"test:{channel}:{address}:{now.isoformat()}"},
        )
        message = Renderer(settings).render("test", channel, context)
        for error in message.template_errors:
            click.echo(f"template error: {error}", err=True)
        shown = mask_address(channel, address)
        try:
            result = sender.send(message, address, thread_ref=None)
        except DeliveryError as exc:
            kind = "temporary, a retry may work" if exc.temporary else "permanent"
            click.echo(f"error: {channel} test to {shown} failed ({kind}): {exc.reason}", err=True)
            raise SystemExit(1) from None
        via = describe({channel: sender})[channel]
        click.echo(
            f"sent: {channel} test message to {shown} via {via} "
            f"(provider id {result.provider_message_id})"
        )
