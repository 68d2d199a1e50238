"""From stored rows to SLA clocks, and the one place ``next_check_at`` is computed.

:func:`recompute` is the single entry point every writer (intake, the daemon's scan, the full
recompute at start) goes through, so switching the rule for "when must we look at this incident
again" (e.g. to the escalation policy's thresholds) is a change to :func:`next_check` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slawatch.config.loader import ALWAYS_OPEN, Settings
from slawatch.core.calendar import BusinessCalendar
from slawatch.core.durations import Duration, parse_duration
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory
from slawatch.core.plans import Plan
from slawatch.core.sla import ClockState, ClockStatus, evaluate
from slawatch.store.models import Account, Incident, IncidentEventRow
from slawatch.store.repo import AccountView, EventView, IncidentView

#: Sort key for an event not yet flushed (no id): it was recorded last.
_LAST = 2**62


@dataclass(frozen=True)
class IncidentContext:
    """Everything the pure core needs about one incident: its history, plan and calendar."""

    history: IncidentHistory
    plan: Plan
    calendar: BusinessCalendar


#: Event type by stored name (an unknown name still raises EventType's ValueError).
_EVENT_TYPES = {kind.value: kind for kind in EventType}


def history_of(incident: Incident | IncidentView) -> IncidentHistory:
    """The core's view of the stored incident (events must be loaded).

    Positional constructors and a dict for the event type: the scan builds this for every
    open incident, and keyword calls and enum lookups were a measurable part of it.
    """
    stored: Sequence[IncidentEventRow | EventView] = incident.events
    if not stored:
        return IncidentHistory(
            incident.opened_at, incident.opened_priority, (), incident.via_hotline
        )
    events = tuple(
        IncidentEvent(
            _EVENT_TYPES.get(row.type) or EventType(row.type),
            row.at,
            row.by,
            row.priority,
            row.text,
        )
        for row in sorted(stored, key=lambda e: (e.at, e.id if e.id is not None else _LAST))
    )
    return IncidentHistory(
        incident.opened_at, incident.opened_priority, events, incident.via_hotline
    )


def parse_overrides(raw: Mapping[str, Any] | None) -> dict[str, dict[str, Duration | None]]:
    """``{"high": {"workaround": "4h", "resolution": "-"}}`` as duration cells."""
    result: dict[str, dict[str, Duration | None]] = {}
    for priority, row in (raw or {}).items():
        result[priority] = {
            target: None if value == "-" else parse_duration(str(value))
            for target, value in row.items()
        }
    return result


def plan_for(settings: Settings, plan_name: str, account: Account | AccountView | None) -> Plan:
    """The named plan with the configured cells, plus the account's own overrides on premium."""
    plan = settings.plans[plan_name]
    if account is not None and account.sla_overrides and plan_name == "premium":
        plan = plan.with_overrides(parse_overrides(account.sla_overrides))
    return plan


def calendar_for(
    settings: Settings, plan: Plan, account: Account | AccountView | None
) -> BusinessCalendar:
    """The account's calendar, else the plan's, else ``default_calendar``.

    A calendar removed from the config since the account was stored falls back to the default
    rather than stopping the scan.
    """
    for name in (account.calendar if account else None, plan.calendar):
        if name and name in settings.calendars:
            return settings.calendars[name]
    return settings.calendar(None)


def context_of(incident: Incident | IncidentView, settings: Settings) -> IncidentContext:
    plan = plan_for(settings, incident.plan, incident.account)
    return IncidentContext(
        history=history_of(incident),
        plan=plan,
        calendar=calendar_for(settings, plan, incident.account),
    )


def clocks_of(ctx: IncidentContext, settings: Settings, now: datetime) -> tuple[ClockStatus, ...]:
    return evaluate(
        ctx.history,
        ctx.plan,
        ctx.calendar,
        now,
        hotline_ack_within=settings.file.sla.hotline_ack_within,
        always_open=settings.calendars[ALWAYS_OPEN],
    )


def clocks(incident: Incident, settings: Settings, now: datetime) -> tuple[ClockStatus, ...]:
    """Every SLA clock of the stored incident at ``now``."""
    return clocks_of(context_of(incident, settings), settings, now)


def next_check(ctx: IncidentContext, settings: Settings, now: datetime) -> datetime | None:
    """The next instant something can happen to the incident; ``None`` when nothing can.

    For now: the earliest future due time of a running clock. The escalation policy replaces
    this with its thresholds (50%, 75%, ... and repeats after a breach).
    """
    if ctx.history.state().resolved:
        return None
    return _next_due(clocks_of(ctx, settings, now), now)


def _next_due(statuses: tuple[ClockStatus, ...], now: datetime) -> datetime | None:
    upcoming = [
        status.due_at
        for status in statuses
        if status.state is ClockState.RUNNING and status.due_at is not None and status.due_at > now
    ]
    return min(upcoming, default=None)


def recompute(incident: Incident, settings: Settings, now: datetime) -> datetime | None:
    """Store and return the incident's ``next_check_at`` (events and account must be loaded),
    with the SLA summary the queue orders by (``due_at``, ``breached``): a change recorded
    without the policy's evaluation (it failed, or no hook runs) still leaves them current."""
    ctx = context_of(incident, settings)
    statuses = clocks_of(ctx, settings, now)
    value = None if ctx.history.state().resolved else _next_due(statuses, now)
    incident.next_check_at = value
    incident.last_evaluated_at = now
    incident.due_at = earliest_due(statuses)
    incident.breached = any(status.state is ClockState.BREACHED for status in statuses)
    return value


def earliest_due(statuses: tuple[ClockStatus, ...]) -> datetime | None:
    """The earliest due time among clocks still running or breached (for queue order)."""
    due = [
        s.due_at
        for s in statuses
        if s.due_at is not None and s.state in (ClockState.RUNNING, ClockState.BREACHED)
    ]
    return min(due, default=None)
