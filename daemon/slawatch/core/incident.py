"""Incident history as values, and the rules that keep it consistent.

The store keeps an append-only list of events per incident; everything else (the SLA clocks,
the escalation decisions, the queue order) is recomputed from it. This module says which
histories are valid, so that bad input is refused before anything is written, whether it came
from the API, the CLI or an import.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from slawatch.core.plans import PRIORITIES
from slawatch.errors import ValidationError

#: Events may carry a time this far ahead of the receiver's clock (helpdesk clock skew).
DEFAULT_CLOCK_SKEW = timedelta(minutes=2)


class EventType(StrEnum):
    """What can happen to an incident after it was opened."""

    RESPONDED = "responded"
    WORKAROUND = "workaround"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    PAUSED = "paused"
    RESUMED = "resumed"
    PRIORITY_CHANGED = "priority_changed"
    ACKNOWLEDGED = "acknowledged"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One entry of an incident's history. ``priority`` is set only for ``priority_changed``."""

    type: EventType
    at: datetime
    by: str | None = None
    priority: str | None = None
    text: str | None = None

    def same_as(self, other: IncidentEvent) -> bool:
        """Repeating an event (same type, same instant) is idempotent; this is that test."""
        return self.type == other.type and self.at == other.at


@dataclass(frozen=True, slots=True)
class IncidentState:
    """Where an incident stands after replaying its history up to some instant."""

    priority: str
    resolved: bool = False
    paused: bool = False
    responded_at: datetime | None = None
    workaround_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    @property
    def is_open(self) -> bool:
        return not self.resolved


@dataclass(frozen=True)
class IncidentHistory:
    """The opening facts of an incident and its events in time order (ties keep input order)."""

    opened_at: datetime
    priority: str
    events: tuple[IncidentEvent, ...] = field(default_factory=tuple)
    via_hotline: bool = False

    def up_to(self, now: datetime) -> tuple[IncidentEvent, ...]:
        """Events that have happened by ``now``; later ones (clock skew) are ignored."""
        return tuple(e for e in self.events if e.at <= now)

    def state(self, now: datetime | None = None) -> IncidentState:
        """Replay the history (up to ``now`` when given) without validating it.

        The same transitions as :func:`_apply` (the validator's step), kept in local variables:
        the scan replays every open incident's history, and a new frozen state per event cost
        more than the rest of the replay.
        """
        if not self.events:
            return IncidentState(self.priority)
        priority = self.priority
        resolved = paused = False
        responded_at: datetime | None = None
        workaround_at: datetime | None = None
        resolved_at: datetime | None = None
        acknowledged_at: datetime | None = None
        acknowledged_by: str | None = None
        for event in self.events:
            at = event.at
            if now is not None and at > now:
                continue
            kind = event.type
            if kind is EventType.RESPONDED:
                responded_at = responded_at or at
            elif kind is EventType.WORKAROUND:
                workaround_at = workaround_at or at
            elif kind is EventType.RESOLVED:
                resolved, paused, resolved_at = True, False, at
            elif kind is EventType.REOPENED:
                resolved, resolved_at = False, None
            elif kind is EventType.PAUSED:
                paused = True
            elif kind is EventType.RESUMED:
                paused = False
            elif kind is EventType.PRIORITY_CHANGED:
                priority = event.priority or priority
            elif kind is EventType.ACKNOWLEDGED and not acknowledged_at:
                acknowledged_at, acknowledged_by = at, event.by
        return IncidentState(
            priority,
            resolved,
            paused,
            responded_at,
            workaround_at,
            resolved_at,
            acknowledged_at,
            acknowledged_by,
        )

    def priority_at(self, now: datetime) -> str:
        """The priority that applies at ``now``: the last change wins, for the whole history."""
        return self.state(now).priority

    def with_event(self, event: IncidentEvent) -> IncidentHistory:
        """A new history with ``event`` inserted in time order (after events at the same time)."""
        events = list(self.events)
        index = len(events)
        while index > 0 and events[index - 1].at > event.at:
            index -= 1
        events.insert(index, event)
        return replace(self, events=tuple(events))


def _apply(state: IncidentState, event: IncidentEvent) -> IncidentState:
    kind = event.type
    if kind is EventType.RESPONDED:
        return state if state.responded_at else replace(state, responded_at=event.at)
    if kind is EventType.WORKAROUND:
        return state if state.workaround_at else replace(state, workaround_at=event.at)
    if kind is EventType.RESOLVED:
        return replace(state, resolved=True, paused=False, resolved_at=event.at)
    if kind is EventType.REOPENED:
        return replace(state, resolved=False, resolved_at=None)
    if kind is EventType.PAUSED:
        return replace(state, paused=True)
    if kind is EventType.RESUMED:
        return replace(state, paused=False)
    if kind is EventType.PRIORITY_CHANGED:
        return replace(state, priority=event.priority or state.priority)
    if kind is EventType.ACKNOWLEDGED:
        if state.acknowledged_at:
            return state
        return replace(state, acknowledged_at=event.at, acknowledged_by=event.by)
    return state


def check_aware(value: datetime, field_name: str) -> None:
    """Reject naive datetimes with a message naming the field."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field_name, "timestamp needs a time zone offset, e.g. +02:00 or Z")


def check_priority(value: str, field_name: str = "priority") -> str:
    """Normalise and check a priority name; numbers 1-4 are accepted as in the reference."""
    text = str(value).strip().lower()
    numbered = {"1": "high", "2": "medium", "3": "low", "4": "cosmetic"}
    text = numbered.get(text, text)
    if text not in PRIORITIES:
        raise ValidationError(
            field_name, f"unknown priority {value!r}; use {', '.join(PRIORITIES)}"
        )
    return text


def _check_transition(state: IncidentState, event: IncidentEvent) -> None:
    kind = event.type
    if kind is EventType.RESPONDED and state.resolved:
        raise ValidationError("type", "cannot record a response after the incident was resolved")
    if kind is EventType.WORKAROUND and state.resolved:
        raise ValidationError("type", "cannot record a workaround on a resolved incident")
    if kind is EventType.RESOLVED and state.resolved:
        raise ValidationError("type", "the incident is already resolved")
    if kind is EventType.REOPENED and not state.resolved:
        raise ValidationError("type", "only a resolved incident can be reopened")
    if kind is EventType.PAUSED:
        if state.paused:
            raise ValidationError("type", "the incident is already paused")
        if state.resolved:
            raise ValidationError("type", "a resolved incident cannot be paused")
    if kind is EventType.RESUMED and not state.paused:
        raise ValidationError("type", "the incident is not paused")
    if kind is EventType.PRIORITY_CHANGED and event.priority is None:
        raise ValidationError("priority", "a priority_changed event needs the new priority")


def add_event(
    history: IncidentHistory,
    event: IncidentEvent,
    now: datetime,
    *,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> tuple[IncidentHistory, bool]:
    """Validate ``event`` against ``history`` and return ``(new_history, changed)``.

    ``changed`` is False when the same event (type and time) is already recorded: repeats are
    idempotent, which lets a helpdesk retry a webhook safely. Backdated events are allowed as
    long as the whole history, replayed in time order, stays valid. Raises
    :class:`~slawatch.errors.ValidationError` naming the field otherwise; the caller must then
    change nothing.
    """
    check_aware(event.at, "at")
    if event.type is EventType.PRIORITY_CHANGED:
        event = replace(event, priority=check_priority(event.priority or "", "priority"))
    if any(existing.same_as(event) for existing in history.events):
        return history, False
    if event.at < history.opened_at:
        raise ValidationError("at", "event is before the incident was opened")
    if event.at > now + clock_skew:
        raise ValidationError("at", f"event is in the future (more than {clock_skew} ahead)")
    candidate = history.with_event(event)
    state = IncidentState(priority=candidate.priority)
    for existing in candidate.events:
        _check_transition(state, existing)
        state = _apply(state, existing)
    return candidate, True
