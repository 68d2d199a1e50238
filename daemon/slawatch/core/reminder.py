"""Reminder decisions shared by meetings, workshops and the entitlements ledger.

The core decides *what* should be said to *whom* and under which dedupe key; the service layer
turns each :class:`Reminder` into an outbox row. The dedupe key is unique in the outbox, so
computing the same decision twice (a second daily run, a restart) enqueues nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = ["Recipient", "Reminder", "escalated_recipients", "routine_recipients"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person id from ``[people]`` and the channel to reach them on."""

    person: str
    channel: str  # "slack" | "email"


@dataclass(frozen=True, slots=True)
class Reminder:
    """One notification to enqueue, with the reason it exists.

    ``stage`` names the templates (``meeting_reminder``, ``meeting_overdue``,
    ``workshops_behind``, ``entitlement_exhausted``); ``kind`` is the outbox kind.
    """

    account_id: str
    kind: str
    stage: str
    step: str
    repetition: int
    recipient: Recipient
    dedupe_key: str
    reason: str
    due: date | None = None
    payload: dict[str, Any] = field(default_factory=dict, compare=False)


def _lead(support_lead: str) -> Recipient:
    """The support lead by email; a ``#channel`` given instead (no lead configured) on Slack."""
    return Recipient(support_lead, "slack" if support_lead.startswith("#") else "email")


def routine_recipients(
    csm: str | None, plan_has_csm: bool, support_lead: str | None
) -> tuple[Recipient, ...]:
    """The account's CSM on Slack; on plans without a CSM (or none assigned) the lead by email."""
    if plan_has_csm and csm:
        return (Recipient(csm, "slack"),)
    if support_lead:
        return (_lead(support_lead),)
    return ()


def escalated_recipients(
    csm: str | None, plan_has_csm: bool, support_lead: str | None
) -> tuple[Recipient, ...]:
    """The CSM on Slack (when the plan has one) and the support lead by email."""
    out: list[Recipient] = []
    if plan_has_csm and csm:
        out.append(Recipient(csm, "slack"))
    if support_lead:
        out.append(_lead(support_lead))
    return tuple(out)
