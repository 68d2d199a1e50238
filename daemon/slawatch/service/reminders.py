"""The daily reminders job: alignment meetings, workshops behind, allowances used up.

:func:`run_daily_reminders` is the body the daemon's scheduler calls once a day (and at start,
so a daemon that was down catches up). It asks the pure core what every active account should
have been told by ``now`` and enqueues it in the outbox. Each decision has a unique dedupe key,
so running the job twice, or after a restart, enqueues nothing new; and the core only returns
the latest reminder that applies, so a long outage produces one message per meeting, not a
flood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.core.entitlements import exhausted_notices
from slawatch.core.meetings import meeting_reminders
from slawatch.core.reminder import Reminder
from slawatch.core.workshops import workshop_reminders
from slawatch.service.entitlements import (
    account_meetings,
    active_accounts,
    enqueue_reminders,
    entitlement_balances,
    reminder_lead,
    workshop_status,
)
from slawatch.store import entitlements as store
from slawatch.store.repo import find_account

__all__ = [
    "REMINDER_STAGES",
    "ReminderRun",
    "daily_reminder_decisions",
    "reminder_still_applies",
    "run_daily_reminders",
]

#: The outbox stages this module enqueues (kinds ``reminder`` and ``entitlement``).
REMINDER_STAGES = frozenset(
    {"meeting_reminder", "meeting_overdue", "workshops_behind", "entitlement_exhausted"}
)


@dataclass(frozen=True)
class ReminderRun:
    """What one run decided (``decided``) and how many were new in the outbox (``enqueued``)."""

    decided: tuple[Reminder, ...]
    enqueued: int


def daily_reminder_decisions(
    session: Session, settings: Settings, now: datetime
) -> tuple[Reminder, ...]:
    """Every reminder the active accounts should have had by ``now`` (repeats included: the
    outbox's dedupe keys drop those already enqueued)."""
    lead = reminder_lead(settings)
    accounts = active_accounts(session)
    ids = [a.id for a in accounts]
    meetings = store.meeting_dates(session, ids)
    workshops = store.workshop_dates(session, ids)
    histories = store.plan_histories(session, ids)
    uses = store.uses_by_account(session, ids)
    out: list[Reminder] = []
    for account in accounts:
        view = account_meetings(
            session,
            settings,
            account,
            now,
            meetings=meetings.get(account.id, []),
            history=histories.get(account.id, []),
        )
        csm, has_csm = account.csm, view.plan.csm
        out += meeting_reminders(
            account.id,
            view.periods,
            view.meetings,
            view.today,
            view.rules,
            csm=csm,
            plan_has_csm=has_csm,
            support_lead=lead,
        )
        ws = workshop_status(session, settings, account, now, held=workshops.get(account.id, []))
        out += workshop_reminders(account.id, ws, csm=csm, plan_has_csm=has_csm, support_lead=lead)
        year, balance = entitlement_balances(
            session, settings, account, now, uses=uses.get(account.id, [])
        )
        for kind, bal in balance.items():
            if bal.included and bal.exhausted:
                out += exhausted_notices(
                    account.id,
                    kind,
                    year,
                    included=bal.included,
                    used=bal.used,
                    csm=csm,
                    plan_has_csm=has_csm,
                    support_lead=lead,
                )
    return tuple(out)


def run_daily_reminders(session: Session, settings: Settings, now: datetime) -> int:
    """Compute and enqueue the day's reminders; return the number of new outbox rows.

    Runs inside the caller's unit of work (the caller commits). Safe to call any number of
    times a day: only decisions not yet in the outbox are added.
    """
    return run(session, settings, now).enqueued


def run(session: Session, settings: Settings, now: datetime) -> ReminderRun:
    """Like :func:`run_daily_reminders`, also returning the decisions (for logs and tests)."""
    decided = daily_reminder_decisions(session, settings, now)
    return ReminderRun(decided, enqueue_reminders(session, decided, now))


def reminder_still_applies(
    session: Session,
    settings: Settings,
    *,
    stage: str,
    account_id: str | None,
    payload: Mapping[str, Any],
    now: datetime,
) -> tuple[bool, str]:
    """The dispatcher's re-check for account reminders: ``(True, "")`` or ``(False, reason)``.

    A reminder can wait in the outbox (delivery hours, retries) while the world moves on: a
    meeting reminder or overdue notice no longer applies once a meeting satisfying it is recorded
    (or the schedule was re-planned by a plan change), a workshops notice once the account has
    caught up, and none applies to an account that is gone or inactive. "Allowance used up"
    notices report a fact and always apply.
    """
    if stage not in REMINDER_STAGES:
        return True, ""
    account = find_account(session, account_id) if account_id else None
    if account is None:
        return False, f"account {account_id!r} no longer exists"
    if not account.active:
        return False, f"account {account.id} is inactive"
    if stage in {"meeting_reminder", "meeting_overdue"}:
        due_text = (payload.get("meeting") or {}).get("due_on")
        try:
            due = date.fromisoformat(str(due_text))
        except ValueError:
            return True, ""
        view = account_meetings(session, settings, account, now)
        period = next((p for p in view.periods if p.due == due), None)
        if period is None:
            return False, f"no meeting is due on {due} any more (the schedule was re-planned)"
        if period.held_on is not None:
            return False, f"a meeting on {period.held_on} satisfies the one due {due}"
        later = [m for m in view.meetings if m > due]
        if stage == "meeting_overdue" and later:
            return False, f"a meeting was recorded on {later[0]} since the one due {due}"
        return True, ""
    if stage == "workshops_behind":
        ws = workshop_status(session, settings, account, now)
        if not ws.behind:
            return False, f"{ws.delivered} of {ws.included} workshops delivered: no longer behind"
    return True, ""
