"""The value a renderer produces and a sender delivers (re-exported by ``senders.base``).

It lives in ``render`` because ``render`` may not import ``senders`` (see ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A notification ready to send on one channel; built by :class:`slawatch.render.Renderer`.

    Every channel's fields are plain text except ``html`` (escaped HTML) and ``blocks`` (Slack
    Block Kit, mrkdwn already escaped). ``text`` is always set: it is the email text part, the
    Slack notification/fallback text and what the console shows.

    ``incident_id`` (the helpdesk key) and ``dedupe_key`` (the outbox row's unique key) let the
    email sender build a stable ``Message-ID`` (a re-send after a crash carries the same id, so
    mail clients show it once) and let senders say in logs what a message was about.
    ``fallback`` is true when a template failed and the built-in plain text was used instead.
    """

    channel: str
    stage: str
    text: str
    subject: str = ""
    html: str | None = None
    blocks: tuple[Mapping[str, Any], ...] = ()
    sms: str = ""
    incident_id: str | None = None
    dedupe_key: str | None = None
    fallback: bool = False
    template_errors: tuple[str, ...] = field(default=(), compare=False)

    def with_meta(
        self, *, dedupe_key: str | None = None, incident_id: str | None = None
    ) -> RenderedMessage:
        """A copy carrying the outbox metadata the dispatcher knows after rendering."""
        return replace(
            self,
            dedupe_key=dedupe_key if dedupe_key is not None else self.dedupe_key,
            incident_id=incident_id if incident_id is not None else self.incident_id,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSON-lines sender and ``templates render --json`` use it)."""
        return {
            "channel": self.channel,
            "stage": self.stage,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "blocks": [dict(b) for b in self.blocks],
            "sms": self.sms,
            "incident_id": self.incident_id,
            "dedupe_key": self.dedupe_key,
            "fallback": self.fallback,
        }
