"""The template context: plain, JSON-friendly values built from what the daemon knows.

Templates only see what :func:`build_context` puts in the mapping, so the fields below are the
contract between the daemon and anybody writing a template (`[templates] dir`). Every key listed
is always present (``None`` when unknown), so ``StrictUndefined`` only trips on real typos.

``stage``, ``stage_label``, ``now`` (aware datetime)
``incident``: ``id`` (the helpdesk key), ``title``, ``priority``, ``via_hotline``, ``assignee``,
    ``opened_at`` (aware UTC), ``opened`` (text in the recipient's time zone), ``acknowledged_by``
``account``: ``id``, ``name``, ``plan``, ``csm`` (a name), ``timezone``
``plan``: ``name``, ``hotline``, ``csm``
``target``: ``name`` (response/workaround/resolution), ``state``, ``due_at`` (aware UTC),
    ``overdue`` (bool), ``remaining_words`` ("2 hours 15 minutes", business time), ``percent``
``due``: ``recipient`` / ``account`` (short, e.g. "Thu 24 Dec 16:30 EET"), ``recipient_full``
    / ``account_full`` (with year and UTC offset), ``recipient_tz``, ``account_tz``
``recipient``: ``name``, ``timezone``
``oncall``: ``primary``, ``secondary`` (names)
``link``: ``[links] incident_url`` with ``{id}`` filled in, or ``None``

Reminders and entitlements pass their own fields through ``extra`` (merged at the top level);
the built-in templates expect:

``meeting``: ``due_on`` (date), ``last_held_on`` (date or None), ``cadence``, ``days`` (days
    until due; negative when overdue)
``workshops``: ``included``, ``held``, ``expected``, ``year_start``, ``year_end``
``entitlement``: ``kind`` (report/restore/ticket/sandbox), ``included``, ``used``,
    ``year_start``, ``year_end``

Because the outbox stores the payload as JSON, every datetime may also be given as an ISO 8601
string and a clock status as a mapping (``target``, ``state``, ``due_at``, ``remaining_s``,
``fraction``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slawatch.core.durations import humanize
from slawatch.core.plans import Plan
from slawatch.core.sla import ClockStatus

STAGE_LABELS: dict[str, str] = {
    "warning": "SLA warning",
    "breach": "SLA breached",
    "overdue": "SLA still breached",
    "page": "Hotline page",
    "catchup": "SLA status after downtime",
    "meeting_reminder": "Alignment meeting due",
    "meeting_overdue": "Alignment meeting overdue",
    "workshops_behind": "Onboarding workshops behind",
    "entitlement_exhausted": "Entitlement used up",
    "test": "Test message",
}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_aware(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO 8601 string (``Z`` allowed)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: slawatch only handles aware datetimes")
    return value.astimezone(UTC)


def parse_day(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def format_short(instant: datetime, zone: str | None) -> str:
    """``Thu 24 Dec 16:30 EET``: short enough for an SMS, clear enough across time zones."""
    local = instant.astimezone(_zone(zone))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def format_full(instant: datetime, zone: str | None) -> str:
    """``Thu 24 Dec 2026, 16:30 EET (UTC+02:00)``."""
    local = instant.astimezone(_zone(zone))
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()} ({offset})"


def incident_link(template: str | None, incident_id: str | None) -> str | None:
    """``[links] incident_url`` with ``{id}`` replaced (plain replace: ids may hold braces)."""
    if not template or not incident_id:
        return None
    return template.replace("{id}", str(incident_id))


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return dict(value)


def _status_fields(
    status: ClockStatus | Mapping[str, Any] | None, business_day: timedelta | None
) -> dict[str, Any] | None:
    if status is None:
        return None
    name: str | None
    if isinstance(status, ClockStatus):
        name, state = status.target, str(status.state)
        due_at, remaining, fraction = status.due_at, status.remaining, status.fraction
    else:
        name = status.get("target") or status.get("name")
        state = str(status.get("state", ""))
        due_at = parse_aware(status.get("due_at"))
        seconds = status.get("remaining_s")
        remaining = status.get("remaining")
        if seconds is not None:
            remaining = timedelta(seconds=float(seconds))
        fraction = status.get("fraction")
    overdue = remaining is not None and remaining < timedelta(0)
    if state in {"breached", "missed"}:
        overdue = True
    words = humanize(remaining, business_day) if remaining is not None else None
    return {
        "name": name,
        "state": state,
        "due_at": due_at,
        "overdue": overdue,
        "remaining": remaining,
        "remaining_words": words,
        "fraction": fraction,
        "percent": round(fraction * 100) if fraction is not None else None,
    }


def _plan_fields(plan: Plan | Mapping[str, Any] | str | None) -> dict[str, Any]:
    if plan is None:
        return {"name": None, "hotline": None, "csm": None}
    if isinstance(plan, str):
        return {"name": plan, "hotline": None, "csm": None}
    if isinstance(plan, Plan):
        return {"name": plan.name, "hotline": plan.hotline, "csm": plan.csm}
    return {"name": plan.get("name"), "hotline": plan.get("hotline"), "csm": plan.get("csm")}


def build_context(
    stage: str,
    *,
    now: datetime | str,
    incident: Mapping[str, Any] | None = None,
    account: Mapping[str, Any] | None = None,
    plan: Plan | Mapping[str, Any] | str | None = None,
    status: ClockStatus | Mapping[str, Any] | None = None,
    recipient: Mapping[str, Any] | None = None,
    business_day: timedelta | None = None,
    oncall: Mapping[str, Any] | None = None,
    incident_url: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context for one notification (see the module docstring for every field).

    ``business_day`` is the account calendar's business-day length, so remaining time reads
    "1 business day 2 hours". ``now`` is the instant the message is rendered for.
    """
    inc = _mapping(incident)
    acc = _mapping(account)
    rcp = _mapping(recipient)
    recipient_tz = rcp.get("timezone") or acc.get("timezone") or "UTC"
    account_tz = acc.get("timezone") or recipient_tz
    opened_at = parse_aware(inc.get("opened_at"))
    incident_id = inc.get("id")
    incident_fields: dict[str, Any] = {
        "id": str(incident_id) if incident_id is not None else None,
        "title": inc.get("title") or "",
        "priority": inc.get("priority"),
        "via_hotline": bool(inc.get("via_hotline", False)),
        "assignee": inc.get("assignee"),
        "opened_at": opened_at,
        "opened": format_short(opened_at, recipient_tz) if opened_at else None,
        "acknowledged_by": inc.get("acknowledged_by"),
    }
    plan_fields = _plan_fields(plan if plan is not None else acc.get("plan"))
    target = _status_fields(status, business_day)
    due_at = target["due_at"] if target else None
    due = (
        {
            "utc": due_at,
            "recipient": format_short(due_at, recipient_tz),
            "account": format_short(due_at, account_tz),
            "recipient_full": format_full(due_at, recipient_tz),
            "account_full": format_full(due_at, account_tz),
            "recipient_tz": recipient_tz,
            "account_tz": account_tz,
        }
        if due_at
        else None
    )
    on = _mapping(oncall)
    context: dict[str, Any] = {
        "stage": stage,
        "stage_label": STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize()),
        "now": parse_aware(now),
        "incident": incident_fields,
        "account": {
            "id": acc.get("id"),
            "name": acc.get("name") or acc.get("id") or "",
            "plan": plan_fields["name"],
            "csm": acc.get("csm"),
            "timezone": account_tz,
        },
        "plan": plan_fields,
        "target": target,
        "due": due,
        "recipient": {"name": rcp.get("name"), "timezone": recipient_tz},
        "oncall": {"primary": on.get("primary"), "secondary": on.get("secondary")},
        "link": incident_link(incident_url, incident_fields["id"]),  # the helpdesk key
    }
    for key, value in (extra or {}).items():
        context[key] = value
    return context


EXAMPLE_NOW = datetime(2026, 12, 23, 14, 30, tzinfo=UTC)


def example_context(stage: str, *, incident_url: str | None = None) -> dict[str, Any]:
    """A realistic context for previews (``slawatch templates render --example``) and tests."""
    overdue = stage in {"breach", "overdue", "catchup"}
    remaining = timedelta(hours=-3, minutes=-10) if overdue else timedelta(hours=2, minutes=15)
    due_at = EXAMPLE_NOW + remaining
    status = {
        "target": "response" if stage == "page" else "resolution",
        "state": "breached" if overdue else "running",
        "due_at": due_at.isoformat(),
        "remaining_s": remaining.total_seconds(),
        "fraction": 1.2 if overdue else 0.75,
    }
    extra: dict[str, Any] = {
        "meeting": {
            "due_on": date(2027, 1, 6) if stage == "meeting_reminder" else date(2026, 12, 9),
            "last_held_on": date(2026, 9, 9),
            "cadence": "quarterly",
            "days": 14 if stage == "meeting_reminder" else -14,
        },
        "workshops": {
            "included": 6,
            "held": 1,
            "expected": 3,
            "year_start": date(2026, 6, 1),
            "year_end": date(2027, 5, 31),
        },
        "entitlement": {
            "kind": "restore",
            "included": 2,
            "used": 2,
            "year_start": date(2026, 6, 1),
            "year_end": date(2027, 5, 31),
        },
    }
    return build_context(
        stage,
        now=EXAMPLE_NOW,
        incident={
            "id": "HD-1042",
            "title": "Checkout API returns 502 for EU customers",
            "priority": "high",
            "via_hotline": stage == "page",
            "assignee": "Ivan Georgiev",
            "opened_at": datetime(2026, 12, 23, 8, 5, tzinfo=UTC),
        },
        account={
            "id": "acme",
            "name": "ACME Corp",
            "plan": "enterprise",
            "csm": "Maria Petrova",
            "timezone": "America/New_York",
        },
        plan={"name": "enterprise", "hotline": True, "csm": True},
        status=None if stage in _ACCOUNT_STAGES or stage == "test" else status,
        recipient={"name": "Maria Petrova", "timezone": "Europe/Sofia"},
        business_day=timedelta(hours=9),
        oncall={"primary": "Ivan Georgiev", "secondary": "Maria Petrova"},
        incident_url=incident_url or "https://helpdesk.example.com/tickets/{id}",
        extra=extra,
    )


_ACCOUNT_STAGES = frozenset(
    {"meeting_reminder", "meeting_overdue", "workshops_behind", "entitlement_exhausted"}
)
ACCOUNT_STAGES = _ACCOUNT_STAGES
