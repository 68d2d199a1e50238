"""Request and response bodies of the HTTP API, as published in ``/openapi.json``.

Request models forbid unknown keys and keep most fields as plain strings: the service layer
does the real checks, so the API, the CLI and imports reject the same input with the same
message. Response models describe exactly what :mod:`slawatch.service.views` returns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_TYPES = Literal[
    "responded",
    "workaround",
    "resolved",
    "reopened",
    "paused",
    "resumed",
    "priority_changed",
    "acknowledged",
    "note",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountBody(_Request):
    """``PUT /api/v1/accounts/{id}``: the whole account (fields left out take defaults)."""

    id: str | None = Field(default=None, description="Optional; must equal the path id.")
    name: str = Field(max_length=300)
    plan: str = Field(description="standard, business, enterprise or premium")
    calendar: str | None = None
    csm: str | None = Field(default=None, description="A person id from [people].")
    contract_start: str | None = Field(default=None, description="YYYY-MM-DD")
    emails: list[str] = Field(default_factory=list, max_length=50)
    phones: list[str] = Field(default_factory=list, max_length=50, description="E.164 numbers")
    sla: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Premium only: {"high": {"workaround": "4h", "resolution": "-"}}',
    )
    meeting_cadence: str | None = None
    active: bool = True


class IncidentBody(_Request):
    """``POST /api/v1/incidents``: create, idempotent on ``id`` (the helpdesk's key)."""

    id: str = Field(max_length=200, description="The helpdesk's key, unique.")
    account: str = Field(max_length=100)
    priority: str = Field(max_length=20, description="high, medium, low, cosmetic (or 1-4)")
    title: str = Field(max_length=2000)
    opened_at: str | None = Field(default=None, description="ISO 8601 with offset; default now")
    via_hotline: bool = False
    assignee: str | None = Field(default=None, max_length=200)


class EventBody(_Request):
    """``POST /api/v1/incidents/{id}/events``: idempotent on (type, at)."""

    type: EVENT_TYPES
    at: str | None = Field(default=None, description="ISO 8601 with offset; default now")
    by: str | None = Field(default=None, max_length=200)
    priority: str | None = Field(default=None, description="Only for priority_changed.")
    text: str | None = Field(default=None, max_length=10000)


class ErrorOut(BaseModel):
    error: str
    field: str | None = None


class AccountOut(BaseModel):
    id: str
    name: str
    plan: str
    calendar: str | None
    csm: str | None
    contract_start: str | None
    emails: list[str]
    phones: list[str]
    sla: dict[str, dict[str, str]]
    meeting_cadence: str | None
    active: bool
    created_at: str
    updated_at: str


class ClockOut(BaseModel):
    target: Literal["response", "workaround", "resolution"]
    state: Literal["running", "paused", "met", "breached", "missed", "none"]
    clock: str | None
    immediate: bool
    duration_seconds: float | None
    elapsed_seconds: float | None
    remaining_seconds: float | None
    remaining: str | None = Field(description="Business time, e.g. '1d2h'; negative if overdue")
    overdue: bool
    fraction: float | None
    due_at: str | None
    stopped_at: str | None


class EventOut(BaseModel):
    type: str
    at: str
    by: str | None
    priority: str | None
    text: str | None
    recorded_at: str


class NotificationOut(BaseModel):
    id: int
    kind: str
    incident_id: int | None
    target: str | None
    stage: str
    step: str | None
    repetition: int
    recipient: str
    channel: str
    address: str | None
    urgent: bool
    status: str
    attempts: int
    next_attempt_at: str
    not_before: str | None
    last_error: str | None
    drop_reason: str | None
    provider_message_id: str | None
    delivery_status: str | None
    created_at: str
    sent_at: str | None
    dedupe_key: str


class IncidentOut(BaseModel):
    id: str
    account: str
    account_name: str
    plan: str
    plan_rank: int
    calendar: str
    priority: str
    title: str
    via_hotline: bool
    assignee: str | None
    opened_at: str
    status: Literal["open", "resolved"]
    paused: bool
    acknowledged_at: str | None
    acknowledged_by: str | None
    next_check_at: str | None
    due_at: str | None
    clocks: list[ClockOut]
    events: list[EventOut] | None = None
    notifications: list[NotificationOut] | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: bool
    scheduler: bool | None
