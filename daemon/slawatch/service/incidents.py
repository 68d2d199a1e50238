"""Incidents: opening them and recording their events, with every rule checked first.

The event rules are :func:`slawatch.core.incident.add_event`'s; this module adds what needs the
database (the account exists, the external id is new or the same, the plan in force at the
opening) and keeps the incident row's denormalised columns in step with its history. A
rejected request raises before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.core.incident import (
    EventType,
    IncidentEvent,
    add_event,
    check_aware,
    check_priority,
)
from slawatch.errors import ConflictError, ValidationError
from slawatch.service.evaluation import history_of, recompute
from slawatch.store import repo
from slawatch.store.models import Incident, IncidentEventRow

#: An account id: 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit.
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
EXTERNAL_ID = re.compile(r"^[^\s/\\?#%\x00-\x1f\x7f\ud800-\udfff]{1,200}$")
EVENT_TYPES = tuple(t.value for t in EventType)


@dataclass(frozen=True)
class IncidentInput:
    """A request to open an incident. ``opened_at`` ``None`` means now."""

    external_id: str
    account: str
    priority: str
    title: str
    opened_at: datetime | None = None
    via_hotline: bool = False
    assignee: str | None = None


@dataclass(frozen=True)
class EventInput:
    """A request to record an event. ``at`` ``None`` means now."""

    type: str
    at: datetime | None = None
    by: str | None = None
    priority: str | None = None
    text: str | None = None


#: Instants before this are refused: no helpdesk has such incidents, and the calendars' tables
#: would have to be built for decades for nothing.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: Control characters, and lone surrogates (valid JSON escapes that no database can store).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_instant(value: datetime, field: str) -> datetime:
    """An aware instant from 2000 on (naive or absurd values are refused, naming ``field``)."""
    check_aware(value, field)
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError(field, "timestamp out of range") from None
    if utc < EARLIEST or utc.year > 2999:
        raise ValidationError(field, "timestamp out of range (2000 to 2999)")
    return value


def check_text(value: str, field: str, limit: int) -> str:
    """Printable text only (newlines and tabs allowed), at most ``limit`` characters."""
    if len(value) > limit:
        raise ValidationError(field, f"must be at most {limit} characters")
    if _CONTROL.search(value):
        raise ValidationError(field, "must not contain control characters or lone surrogates")
    return value


def parse_timestamp(value: Any, field: str) -> datetime | None:
    """An ISO 8601 instant with an offset (``Z`` allowed); ``None`` passes through."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return check_instant(value, field)
    if not isinstance(value, str):
        raise ValidationError(field, "must be an ISO 8601 timestamp string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            field, f"cannot parse {value!r}; use ISO 8601 like 2026-12-24T16:30:00+02:00"
        ) from None
    return check_instant(parsed, field)


def check_external_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str) or not EXTERNAL_ID.match(value):
        raise ValidationError(
            field, "an incident id is 1-200 characters without spaces, '/', '?', '#' or '%'"
        )
    return value


def _optional_text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    return check_text(value, field, limit).strip() or None


def open_incident(
    session: Session, settings: Settings, data: IncidentInput, now: datetime
) -> tuple[Incident, bool]:
    """Create the incident, or return the existing one when it has the same data.

    Returns ``(incident, created)``. Raises ValidationError (bad field) or ConflictError (same
    external id, different data: the field named is the first that differs).
    """
    external_id = check_external_id(data.external_id)
    priority = check_priority(data.priority)
    title = _optional_text(data.title, "title", 2000)
    if title is None:
        raise ValidationError("title", "is required")
    assignee = _optional_text(data.assignee, "assignee", 200)
    if not isinstance(data.via_hotline, bool):
        raise ValidationError("via_hotline", "must be true or false")
    opened_at = data.opened_at
    if opened_at is not None:
        check_instant(opened_at, "opened_at")
        if opened_at > now + settings.file.sla.clock_skew:
            raise ValidationError("opened_at", "is in the future")
    account_id = data.account
    if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
        raise ValidationError("account", f"unknown account {account_id!r}")
    account = repo.find_account(session, account_id)
    if account is None:
        raise ValidationError("account", f"unknown account {account_id!r}")
    existing = repo.find_incident(session, external_id)
    if existing is not None:
        differences = [
            ("account", existing.account_id, account_id),
            ("priority", existing.opened_priority, priority),
            ("title", existing.title, title),
            ("via_hotline", existing.via_hotline, data.via_hotline),
            ("assignee", existing.assignee, assignee),
        ]
        if opened_at is not None:
            differences.append(("opened_at", existing.opened_at, opened_at))
        for field, stored, given in differences:
            if stored != given:
                raise ConflictError(
                    field, f"incident {external_id!r} exists with a different {field}"
                )
        return existing, False
    if not account.active:
        raise ValidationError("account", f"account {account_id!r} is inactive")
    opened = opened_at or now
    plan = repo.plan_at(session, account_id, opened) or account.plan
    incident = Incident(
        external_id=external_id,
        account_id=account_id,
        priority=priority,
        opened_priority=priority,
        title=title,
        via_hotline=data.via_hotline,
        assignee=assignee,
        opened_at=opened,
        plan=plan,
        status="open",
        paused=False,
        created_at=now,
        updated_at=now,
    )
    incident.account = account
    incident.events = []
    session.add(incident)
    recompute(incident, settings, now)
    session.flush()
    return incident, True


def record_event(
    session: Session, settings: Settings, external_id: str, data: EventInput, now: datetime
) -> tuple[Incident, bool]:
    """Validate and append an event; return ``(incident, changed)``.

    A repeat of a recorded event (same type and instant) changes nothing and returns False.
    """
    if data.type not in EVENT_TYPES:
        raise ValidationError(
            "type", f"unknown event type {data.type!r}; use {', '.join(EVENT_TYPES)}"
        )
    kind = EventType(data.type)
    at = data.at or now
    check_instant(at, "at")
    by = _optional_text(data.by, "by", 200)
    text = _optional_text(data.text, "text", 10000)
    priority: str | None = None
    if kind is EventType.PRIORITY_CHANGED:
        if data.priority is None:
            raise ValidationError("priority", "a priority_changed event needs the new priority")
        priority = check_priority(data.priority)
    elif data.priority is not None:
        raise ValidationError("priority", "only a priority_changed event carries a priority")
    incident = repo.get_incident(session, check_external_id(external_id), for_update=True)
    history = history_of(incident)
    event = IncidentEvent(type=kind, at=at, by=by, priority=priority, text=text)
    new_history, changed = add_event(history, event, now, clock_skew=settings.file.sla.clock_skew)
    if not changed:
        return incident, False
    incident.events.append(
        IncidentEventRow(
            type=kind.value,
            at=at,
            by=by,
            priority=priority,
            text=text,
            recorded_at=now,
        )
    )
    state = new_history.state()
    incident.status = "resolved" if state.resolved else "open"
    incident.paused = state.paused
    incident.priority = state.priority
    incident.acknowledged_at = state.acknowledged_at
    incident.acknowledged_by = state.acknowledged_by
    incident.updated_at = now
    session.flush()
    recompute(incident, settings, now)
    session.flush()
    return incident, True
