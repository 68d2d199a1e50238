"""Senders: deliver rendered notifications (console, JSON-lines file, Slack, Twilio SMS, SMTP).

See :mod:`slawatch.senders.base` for the contract the dispatcher relies on.
"""

from slawatch.senders.base import RenderedMessage, Sender, SendResult, mask_phone

__all__ = ["RenderedMessage", "SendResult", "Sender", "mask_phone"]
