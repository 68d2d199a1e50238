"""The console sender: a readable rendering of each notification on stdout.

It is one of the two embedded senders that carry every channel whose provider section
(``[slack]``, ``[sms]``, ``[email]``) is absent, so a newcomer running ``make run`` sees the
escalations happen. Phone numbers are masked like in the logs.
"""

from __future__ import annotations

import re
import sys
import threading
import uuid
from collections.abc import Iterable
from typing import TextIO

from slawatch.senders.base import CHANNELS, RenderedMessage, SendResult, mask_address


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _slack_lines(message: RenderedMessage) -> list[str]:
    """The readable texts of the Block Kit message (or its fallback text), unescaped."""
    lines: list[str] = []
    for block in message.blocks:
        texts = [block.get("text"), *(block.get("fields") or ()), *(block.get("elements") or ())]
        for item in texts:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                field = re.sub(r"^\*([^*\n]+)\*\n", r"\1: ", item["text"])
                lines.append(_unescape(field).replace("\n", " / "))
    return lines or [_unescape(message.text.rstrip("\n"))]


def format_console(message: RenderedMessage, address: str) -> str:
    """The block printed for one message: a header line, then the channel's text."""
    to = mask_address(message.channel, address)
    about = f" {message.incident_id}" if message.incident_id else ""
    header = f"--- slawatch {message.stage}{about} -> {message.channel} {to} ---"
    lines = [header]
    if message.channel == "email" and message.subject:
        lines.append(f"Subject: {message.subject}")
    if message.channel == "sms" and message.sms:
        lines.append(message.sms)
    elif message.channel == "slack":
        lines.extend(_slack_lines(message))
    else:
        lines.append(message.text.rstrip("\n"))
    if message.fallback:
        lines.append("(built-in fallback text: a template failed to render, see the log)")
    return "\n".join(lines) + "\n"


class ConsoleSender:
    """Prints each message to ``stream`` (stdout by default); never fails for the provider."""

    def __init__(self, stream: TextIO | None = None, channels: Iterable[str] = CHANNELS) -> None:
        self._stream = stream
        self.channels = frozenset(channels)
        self._lock = threading.Lock()

    def send(self, message: RenderedMessage, address: str, *, thread_ref: str | None) -> SendResult:
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(format_console(message, address))
            stream.flush()
        return SendResult(provider_message_id=f"console-{uuid.uuid4().hex[:12]}", thread_ref=None)
