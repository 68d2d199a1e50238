"""The template context for a notification about a stored incident or account.

One builder serves the dispatcher (what is actually sent) and ``slawatch templates render
--incident`` (what would be sent), so a preview never drifts from the real message. The clocks
are evaluated at render time, so "remaining" reads true when the message goes out, not when it
was enqueued.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slawatch.config.loader import Settings
from slawatch.core.oncall import oncall_at
from slawatch.render.context import build_context
from slawatch.service.evaluation import IncidentContext, clocks_of
from slawatch.store.models import Account, Incident


def person_name(settings: Settings, person_id: str | None) -> str | None:
    """A person's display name (their id when they have none, or are not in ``[people]``)."""
    if person_id is None:
        return None
    person = settings.file.people.get(person_id)
    return (person.name or person_id) if person is not None else person_id


def recipient_fields(
    settings: Settings, recipient: str | None, default_timezone: str | None = None
) -> dict[str, Any] | None:
    """``{"name", "timezone"}`` of a recipient: a person's calendar zone, else the default."""
    if recipient is None:
        return None
    person = settings.file.people.get(recipient)
    if person is None:
        return {"name": recipient, "timezone": default_timezone}
    return {
        "name": person.name or recipient,
        "timezone": str(settings.calendar(person.calendar).timezone),
    }


def account_fields(settings: Settings, account: Account, plan: str | None = None) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "plan": plan or account.plan,
        "csm": person_name(settings, account.csm),
        "timezone": str(settings.calendar(account.calendar).timezone),
    }


def _oncall(settings: Settings, now: datetime) -> dict[str, Any]:
    who = oncall_at(settings.file.oncall, now)
    return {
        "primary": person_name(settings, who.primary),
        "secondary": person_name(settings, who.secondary),
    }


def incident_notification_context(
    settings: Settings,
    stage: str,
    incident: Incident,
    ictx: IncidentContext,
    now: datetime,
    *,
    target: str | None,
    recipient: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context of a message about ``incident`` (events and account loaded)."""
    account_tz = str(ictx.calendar.timezone)
    status = None
    if target is not None:
        status = next((s for s in clocks_of(ictx, settings, now) if s.target == target), None)
    state = ictx.history.state(now)
    account = (
        {**account_fields(settings, incident.account, incident.plan), "timezone": account_tz}
        if incident.account is not None
        else {"id": incident.account_id, "name": incident.account_id, "plan": incident.plan}
    )
    return build_context(
        stage,
        now=now,
        incident={
            "id": incident.external_id,
            "title": incident.title,
            "priority": state.priority,
            "via_hotline": incident.via_hotline,
            "assignee": incident.assignee,
            "opened_at": incident.opened_at,
            "acknowledged_by": state.acknowledged_by,
        },
        account=account,
        plan=ictx.plan,
        status=status,
        recipient=recipient_fields(settings, recipient, account_tz),
        business_day=ictx.calendar.business_day,
        oncall=_oncall(settings, now),
        incident_url=settings.file.links.incident_url,
        extra=extra,
    )


def account_notification_context(
    settings: Settings,
    stage: str,
    account: Account | None,
    now: datetime,
    *,
    recipient: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context of a message about an account (meeting reminders, entitlements)."""
    fields = account_fields(settings, account) if account is not None else None
    return build_context(
        stage,
        now=now,
        account=fields,
        plan=fields["plan"] if fields else None,
        recipient=recipient_fields(settings, recipient),
        oncall=_oncall(settings, now),
        incident_url=settings.file.links.incident_url,
        extra=extra,
    )
