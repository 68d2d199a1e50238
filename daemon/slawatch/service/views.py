"""How accounts and incidents look to a reader: the JSON shapes of the API and ``--json``.

One shape for both, so a script can switch from ``slawatch incident show --json`` to
``GET /api/v1/incidents/{id}`` without changes. Instants are ISO 8601 in UTC; remaining business
time is given in seconds and in the duration syntax (negative when overdue).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from slawatch.config.loader import Settings
from slawatch.core.sla import ClockStatus
from slawatch.service.evaluation import clocks_of, context_of, earliest_due
from slawatch.store.models import Account, Incident, Notification


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "plan": account.plan,
        "calendar": account.calendar,
        "csm": account.csm,
        "contract_start": account.contract_start.isoformat() if account.contract_start else None,
        "emails": list(account.emails or []),
        "phones": list(account.phones or []),
        "sla": dict(account.sla_overrides or {}),
        "meeting_cadence": account.meeting_cadence,
        "active": account.active,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
    }


def business_text(value: timedelta, business_day: timedelta | None) -> str:
    """``"2d3h15m"`` with ``d`` = the calendar's business day; negative when overdue.

    Seconds are shown only under an hour, since nobody plans a queue by the second.
    """
    total = round(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts: list[str] = []
    day = int(business_day.total_seconds()) if business_day else 0
    day_count = 0
    if day > 0 and total >= day:
        day_count, total = divmod(total, day)
        parts.append(f"{day_count}d")
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if seconds and not hours and not day_count:
        parts.append(f"{seconds}s")
    return sign + ("".join(parts) or "0s")


def clock_view(status: ClockStatus, business_day: timedelta | None = None) -> dict[str, Any]:
    remaining = status.remaining
    return {
        "target": status.target,
        "state": status.state.value,
        "clock": status.clock,
        "immediate": status.immediate,
        "duration_seconds": _seconds(status.duration),
        "elapsed_seconds": _seconds(status.elapsed),
        "remaining_seconds": _seconds(remaining),
        "remaining": business_text(remaining, business_day) if remaining is not None else None,
        "overdue": remaining is not None and remaining < timedelta(0),
        "fraction": round(status.fraction, 4) if status.fraction is not None else None,
        "due_at": iso(status.due_at),
        "stopped_at": iso(status.stopped_at),
    }


def notification_view(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "incident_id": row.incident_id,
        "target": row.target,
        "stage": row.stage,
        "step": row.step,
        "repetition": row.repetition,
        "recipient": row.recipient,
        "channel": row.channel,
        "address": row.address,
        "urgent": row.urgent,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "not_before": iso(row.not_before),
        "last_error": row.last_error,
        "drop_reason": row.drop_reason,
        "provider_message_id": row.provider_message_id,
        "delivery_status": row.delivery_status,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
        "dedupe_key": row.dedupe_key,
    }


def incident_view(
    incident: Incident,
    settings: Settings,
    now: datetime,
    *,
    with_events: bool = True,
    notifications: Sequence[Notification] | None = None,
) -> dict[str, Any]:
    """The incident with every clock at ``now`` (and its history unless ``with_events`` False)."""
    ctx = context_of(incident, settings)
    statuses = clocks_of(ctx, settings, now)
    view: dict[str, Any] = {
        "id": incident.external_id,
        "account": incident.account_id,
        "account_name": incident.account.name,
        "plan": incident.plan,
        "plan_rank": ctx.plan.rank,
        "calendar": ctx.calendar.name,
        "priority": incident.priority,
        "title": incident.title,
        "via_hotline": incident.via_hotline,
        "assignee": incident.assignee,
        "opened_at": iso(incident.opened_at),
        "status": incident.status,
        "paused": incident.paused,
        "acknowledged_at": iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by,
        "next_check_at": iso(incident.next_check_at),
        "due_at": iso(earliest_due(statuses)),
        "clocks": [
            clock_view(s, None if s.immediate else ctx.calendar.business_day) for s in statuses
        ],
    }
    if with_events:
        view["events"] = [
            {
                "type": e.type,
                "at": iso(e.at),
                "by": e.by,
                "priority": e.priority,
                "text": e.text,
                "recorded_at": iso(e.recorded_at),
            }
            for e in sorted(incident.events, key=lambda e: (e.at, e.id))
        ]
    if notifications is not None:
        view["notifications"] = [notification_view(n) for n in notifications]
    return view
