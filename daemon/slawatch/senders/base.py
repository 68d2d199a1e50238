"""The contract between the dispatcher and every sender, and the values they exchange.

A sender delivers one already-rendered message to one address and says how it went. It does
**not** retry, back off, fall back to another channel, or touch the database: those live in the
dispatcher, which owns the outbox. A sender only tells the dispatcher *what kind* of failure it
saw, by raising:

* :class:`~slawatch.errors.TemporaryDeliveryError` (``reason``, ``retry_after_s=``, ``code=``):
  worth retrying later: rate limits (with the provider's Retry-After), 5xx, timeouts, refused
  connections;
* :class:`~slawatch.errors.PermanentDeliveryError` (``reason``, ``code=``): retrying cannot help:
  bad credentials, unknown channel, user or number, a rejected recipient. The dispatcher marks the
  row failed and moves on to the next channel of ``[delivery] fallback``.

Any other exception is a bug and the dispatcher should treat it as temporary and log it.
Error reasons and log lines never contain secrets, and phone numbers are masked
(:func:`mask_phone`).

Threading: ``send(..., thread_ref=...)`` receives what the dispatcher stored in the ``threads``
table for (incident, channel, address) after an earlier send, or ``None`` for the first message
about that incident there. The returned :attr:`SendResult.thread_ref` is what to store (a Slack
``ts`` of the thread's parent message, an email ``Message-ID`` of the first mail); senders that
cannot thread (SMS, console) return ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from slawatch.errors import PermanentDeliveryError, TemporaryDeliveryError
from slawatch.obs.logging import mask_phone as _obs_mask_phone
from slawatch.render.message import RenderedMessage

__all__ = [
    "CHANNELS",
    "STAGES",
    "PermanentDeliveryError",
    "RenderedMessage",
    "SendResult",
    "Sender",
    "TemporaryDeliveryError",
    "mask_address",
    "mask_phone",
]

CHANNELS: tuple[str, ...] = ("slack", "email", "sms")
STAGES: tuple[str, ...] = (
    "warning",
    "breach",
    "overdue",
    "page",
    "catchup",
    "meeting_reminder",
    "meeting_overdue",
    "workshops_behind",
    "entitlement_exhausted",
    "test",
)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider accepted: its message id (Slack ts, Twilio SID, Message-ID) and the
    thread reference the dispatcher should store for later messages about the same incident."""

    provider_message_id: str | None
    thread_ref: str | None = None


@runtime_checkable
class Sender(Protocol):
    """Delivers rendered messages on the channels it declares.

    ``channels`` is the set of channel names (``slack``, ``email``, ``sms``) this sender can
    carry; the wiring maps each channel to exactly one sender. ``send`` either returns a
    :class:`SendResult` after the provider accepted the message or raises a
    ``TemporaryDeliveryError`` / ``PermanentDeliveryError``. It must be safe to call from one
    dispatcher thread at a time; it may block up to its configured timeout.
    """

    channels: frozenset[str]

    def send(
        self, message: RenderedMessage, address: str, *, thread_ref: str | None
    ) -> SendResult: ...


_PHONE = re.compile(r"\+?\d[\d ()./-]{6,}\d")


def mask_phone(number: str) -> str:
    """``+359881234567`` -> ``+35988****567``: enough to tell numbers apart in a log line.

    The same masking as the log redaction (:func:`slawatch.obs.logging.mask_phone`); anything
    that is not an E.164 number is masked all but its last three characters.
    """
    masked = _obs_mask_phone(number)
    if masked != number or len(number) <= 3:
        return masked if len(number) > 3 else "*" * len(number)
    return "*" * (len(number) - 3) + number[-3:]


def mask_address(channel: str, address: str) -> str:
    """An address as it may appear in logs and error messages (phone numbers masked)."""
    if channel == "sms":
        return mask_phone(address)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), address)
