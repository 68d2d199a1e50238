"""The reminder payloads the core produces render through the built-in templates, no fallback.

The payload is stored as JSON in the outbox, so it is round-tripped through json here exactly
as the dispatcher will read it back.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from slawatch.core.contract import contract_year
from slawatch.core.entitlements import exhausted_notices
from slawatch.core.meetings import MeetingRules, build_schedule, cadence_segments, meeting_reminders
from slawatch.core.reminder import Reminder
from slawatch.core.workshops import WorkshopRules, status, workshop_reminders
from slawatch.render.context import build_context
from slawatch.render.renderer import Renderer

START = date(2025, 8, 31)
WHO = {"csm": "maria", "plan_has_csm": True, "support_lead": "lead"}


def reminders() -> list[Reminder]:
    periods = build_schedule(cadence_segments(START, [(START, 3)]), [], date(2026, 6, 1))
    rules = MeetingRules()
    out = list(meeting_reminders("acme", periods, [], date(2025, 11, 16), rules, **WHO))  # type: ignore[arg-type]
    out += meeting_reminders("acme", periods, [], date(2025, 12, 20), rules, **WHO)  # type: ignore[arg-type]
    year = contract_year(START, date(2026, 1, 1))
    out += exhausted_notices("acme", "restore", year, included=2, **WHO)  # type: ignore[arg-type]
    ws = status(year, 6, [date(2025, 10, 1)], date(2026, 3, 1), WorkshopRules())
    out += workshop_reminders("acme", ws, **WHO)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("channel", ["slack", "email", "sms"])
def test_every_reminder_stage_renders_without_fallback(channel: str) -> None:
    renderer = Renderer()
    items = reminders()
    assert {r.stage for r in items} == {
        "meeting_reminder",
        "meeting_overdue",
        "entitlement_exhausted",
        "workshops_behind",
    }
    for item in items:
        payload = json.loads(json.dumps(item.payload))
        context = build_context(
            item.stage,
            now=datetime(2026, 1, 1, 9, tzinfo=UTC),
            account={"id": "acme", "name": "ACME Corp", "plan": "enterprise", "csm": "Maria"},
            extra=payload,
        )
        message = renderer.render(item.stage, channel, context)
        assert not message.fallback, (item.stage, channel, message.template_errors)
        assert "ACME Corp" in (message.text + message.sms)
