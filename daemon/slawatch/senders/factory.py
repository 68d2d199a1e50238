"""Building the channel -> sender map from the configuration (used by the wiring and the CLI).

A channel whose provider section (``[slack]``, ``[sms]``, ``[email]``) is present gets its real
sender; any other channel goes to the embedded local senders: the console (``[output] console``)
and the JSON-lines file (``[output] jsonl_path``, or the default path the caller passes, e.g.
next to the database). When both are switched off such a channel has no sender at all and is
left out of the map: the dispatcher must then fail those notifications (permanently, with a
reason) rather than pretend they were delivered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

from slawatch.config.loader import Settings
from slawatch.errors import DeliveryError
from slawatch.senders.base import CHANNELS, RenderedMessage, Sender, SendResult
from slawatch.senders.console import ConsoleSender
from slawatch.senders.jsonl import JsonlSender


class FanoutSender:
    """Delivers to every inner sender (console and file); fails only if all of them fail."""

    def __init__(self, senders: Sequence[Sender], channels: Iterable[str]) -> None:
        if not senders:
            raise ValueError("FanoutSender needs at least one sender")
        self.senders = tuple(senders)
        self.channels = frozenset(channels)

    def send(self, message: RenderedMessage, address: str, *, thread_ref: str | None) -> SendResult:
        results: list[SendResult] = []
        errors: list[DeliveryError] = []
        for sender in self.senders:
            try:
                results.append(sender.send(message, address, thread_ref=thread_ref))
            except DeliveryError as exc:
                errors.append(exc)
        if not results:
            raise errors[0]
        return results[-1]


def local_sender(
    settings: Settings,
    channels: Iterable[str] = CHANNELS,
    *,
    stdout: TextIO | None = None,
    default_jsonl_path: str | os.PathLike[str] | None = None,
) -> Sender | None:
    """The console + JSON-lines sender for ``channels`` per ``[output]``, or ``None``."""
    output = settings.file.output
    channel_set = frozenset(channels)
    senders: list[Sender] = []
    if output.console:
        senders.append(ConsoleSender(stream=stdout, channels=channel_set))
    path = output.jsonl_path or default_jsonl_path
    if path:
        senders.append(JsonlSender(path, channels=channel_set))
    if not senders:
        return None
    return senders[0] if len(senders) == 1 else FanoutSender(senders, channel_set)


def build_senders(
    settings: Settings,
    *,
    stdout: TextIO | None = None,
    default_jsonl_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Sender]:
    """``{"slack": ..., "sms": ..., "email": ...}`` for this configuration.

    Resolves the providers' secret references now, so a missing secret is a
    :class:`~slawatch.errors.SecretError` (a ``ConfigError``) at start or reload, not a failed
    send later. Provider clients are imported only when configured.
    """
    file = settings.file
    result: dict[str, Sender] = {}
    if file.slack is not None:
        from slawatch.senders.slack import SlackSender

        result["slack"] = SlackSender.from_config(file.slack, environ=environ)
    if file.sms is not None:
        from slawatch.senders.sms import TwilioSmsSender

        result["sms"] = TwilioSmsSender.from_config(file.sms, environ=environ)
    if file.email is not None:
        from slawatch.senders.email import SmtpEmailSender

        result["email"] = SmtpEmailSender.from_config(file.email, environ=environ)
    missing = [c for c in CHANNELS if c not in result]
    if missing:
        local = local_sender(
            settings, missing, stdout=stdout, default_jsonl_path=default_jsonl_path
        )
        if local is not None:
            for channel in missing:
                result[channel] = local
    return result


def describe(senders: Mapping[str, Sender]) -> dict[str, str]:
    """``{"slack": "SlackSender", "sms": "ConsoleSender+JsonlSender", ...}`` for start-up logs."""

    def name(sender: Sender) -> str:
        if isinstance(sender, FanoutSender):
            return "+".join(type(s).__name__ for s in sender.senders)
        return type(sender).__name__

    return {channel: name(sender) for channel, sender in sorted(senders.items())}
