"""Alignment meetings, workshops and the entitlements ledger for one account, from the database.

The glue between the stored rows and the pure rules: it loads an account, its plan history and
its recorded meetings / workshops / uses, asks :mod:`slawatch.core.meetings`,
:mod:`slawatch.core.workshops` and :mod:`slawatch.core.entitlements`, and writes what they
decide. The CLI and the HTTP API both call these functions, so they behave the same.

"Today" for an account is the date at ``now`` in the account's calendar time zone (its own
calendar, else its plan's, else the default calendar). The schedule is anchored on the
contract start; an account without one is anchored on the day it was created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.core.contract import ContractYear, contract_year
from slawatch.core.entitlements import KINDS, Balance, balances, decide_use, exhausted_notices
from slawatch.core.meetings import (
    MeetingPeriod,
    MeetingRules,
    MeetingStatus,
    all_states,
    build_schedule,
    cadence_months,
    cadence_name,
    cadence_segments,
    next_due,
    overview,
)
from slawatch.core.plans import Plan
from slawatch.core.reminder import Reminder
from slawatch.core.workshops import WorkshopRules, WorkshopStatus, status
from slawatch.errors import ConflictError, ValidationError
from slawatch.store import entitlements as store
from slawatch.store import outbox
from slawatch.store.models import Account, EntitlementUse, Meeting, Workshop
from slawatch.store.repo import get_account, list_accounts

__all__ = [
    "AccountMeetings",
    "UseResult",
    "account_meetings",
    "account_today",
    "enqueue_reminders",
    "entitlement_balances",
    "meeting_rules",
    "record_meeting",
    "record_workshop",
    "use_entitlement",
    "workshop_rules",
    "workshop_status",
]

#: How far ahead schedules are built for listings (a year and a bit).
HORIZON_DAYS = 400


def meeting_rules(settings: Settings) -> MeetingRules:
    cfg = settings.file.meetings
    return MeetingRules(
        remind_before=tuple(cfg.remind_before), grace=cfg.grace, overdue_repeat=cfg.overdue_repeat
    )


def workshop_rules(settings: Settings) -> WorkshopRules:
    cfg = settings.file.workshops
    return WorkshopRules(
        check_at_fraction=cfg.check_at_fraction,
        min_fraction_delivered=cfg.min_fraction_delivered,
    )


def reminder_lead(settings: Settings) -> str | None:
    """Who stands in for the CSM: the support lead, else the team channel (never nobody)."""
    roles = settings.file.roles
    return roles.support_lead or roles.team_channel


def account_plan(settings: Settings, account: Account) -> Plan:
    """The account's current plan as configured (unknown names fall back to the built-in)."""
    return settings.plans.get(account.plan) or settings.plans["standard"]


def account_today(settings: Settings, account: Account, now: datetime) -> date:
    """The date at ``now`` in the account's calendar time zone (UTC if it cannot be found)."""
    plan = account_plan(settings, account)
    try:
        calendar = settings.calendar(account.calendar or plan.calendar)
    except KeyError:
        return now.astimezone(UTC).date()
    return now.astimezone(calendar.timezone).date()


def contract_anchor(account: Account) -> date:
    """The contract start, or the day the account was created when none is stored."""
    if account.contract_start is not None:
        return account.contract_start
    return account.created_at.astimezone(UTC).date()


@dataclass(frozen=True)
class AccountMeetings:
    """An account's meeting schedule as seen at ``today``."""

    account: Account
    plan: Plan
    today: date
    cadence_months: int
    periods: tuple[MeetingPeriod, ...]
    meetings: tuple[date, ...]
    rules: MeetingRules

    @property
    def cadence(self) -> str:
        return cadence_name(self.cadence_months) if self.cadence_months else "none"

    def overview(self) -> tuple[MeetingStatus, ...]:
        return overview(self.periods, self.meetings, self.today, self.rules)

    def all_states(self) -> tuple[MeetingStatus, ...]:
        return all_states(self.periods, self.meetings, self.today, self.rules)

    def next_due(self) -> date | None:
        return next_due(self.periods, self.today, self.rules)


def account_meetings(
    session: Session,
    settings: Settings,
    account: Account,
    now: datetime,
    *,
    meetings: Sequence[date] | None = None,
    history: Sequence[tuple[date, str]] | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> AccountMeetings:
    """Build the account's schedule (plan changes included) and place its meetings in it.

    ``meetings`` and ``history`` (plan changes) may be passed preloaded for many accounts.
    """
    today = account_today(settings, account, now)
    anchor = contract_anchor(account)
    if history is None:
        history = store.plan_history(session, account.id)
    if not history:
        history = [(anchor, account.plan)]

    def months(plan_name: str) -> int:
        plan = settings.plans.get(plan_name) or settings.plans["standard"]
        return cadence_months(plan, account.meeting_cadence)

    segments = cadence_segments(anchor, [(day, months(name)) for day, name in history])
    held = (
        tuple(meetings)
        if meetings is not None
        else tuple(m.held_on for m in store.meetings_of(session, account.id))
    )
    rules = meeting_rules(settings)
    periods = build_schedule(segments, held, today + timedelta(days=horizon_days), rules.grace)
    return AccountMeetings(
        account=account,
        plan=account_plan(settings, account),
        today=today,
        cadence_months=segments[-1].months if segments else 0,
        periods=periods,
        meetings=held,
        rules=rules,
    )


def check_text(field: str, value: str | None, limit: int = 10_000) -> str | None:
    """Free text (notes): at most ``limit`` characters, no control characters but newlines
    and tabs (PostgreSQL refuses NUL; terminals misbehave on the rest). Blank means none."""
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise ValidationError(field, f"at most {limit} characters")
    if any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in value):
        raise ValidationError(field, "must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "must be valid Unicode text (no lone surrogates)") from None
    return value.strip()


def _check_held_on(field: str, held_on: date, today: date) -> None:
    if held_on > today + timedelta(days=1):
        raise ValidationError(field, f"{held_on.isoformat()} is in the future; record it once held")


def record_meeting(
    session: Session,
    settings: Settings,
    account_id: str,
    held_on: date,
    notes: str | None,
    now: datetime,
) -> tuple[Meeting, AccountMeetings, bool]:
    """Record a held meeting; return it, the account's schedule afterwards and whether it is
    new. Idempotent on the date: a meeting already recorded that day is returned unchanged
    (a client retrying a request does not create a second one)."""
    account = get_account(session, account_id)
    _check_held_on("date", held_on, account_today(settings, account, now))
    clean = check_text("notes", notes)
    existing = next(
        (m for m in store.meetings_of(session, account.id) if m.held_on == held_on), None
    )
    if existing is not None:
        return existing, account_meetings(session, settings, account, now), False
    row = store.add_meeting(session, account.id, held_on, clean, now)
    return row, account_meetings(session, settings, account, now), True


def record_workshop(
    session: Session,
    settings: Settings,
    account_id: str,
    held_on: date,
    notes: str | None,
    now: datetime,
) -> tuple[Workshop, WorkshopStatus]:
    """Record a delivered workshop; return it and the contract year's count afterwards."""
    account = get_account(session, account_id)
    _check_held_on("date", held_on, account_today(settings, account, now))
    row = store.add_workshop(session, account.id, held_on, check_text("notes", notes), now)
    return row, workshop_status(session, settings, account, now)


def workshop_status(
    session: Session,
    settings: Settings,
    account: Account,
    now: datetime,
    *,
    held: Sequence[date] | None = None,
) -> WorkshopStatus:
    """Delivered vs included in the account's current contract year, and the behind rule."""
    today = account_today(settings, account, now)
    year = contract_year(contract_anchor(account), today)
    if held is None:
        held = [w.held_on for w in store.workshops_of(session, account.id)]
    plan = account_plan(settings, account)
    return status(year, plan.workshops, held, today, workshop_rules(settings))


def entitlement_balances(
    session: Session,
    settings: Settings,
    account: Account,
    now: datetime,
    *,
    uses: Sequence[tuple[str, bool, date]] | None = None,
) -> tuple[ContractYear, dict[str, Balance]]:
    """Used / included / remaining per kind in the account's current contract year.

    ``uses`` = every (kind, overage, contract year start) of the account, if preloaded.
    """
    today = account_today(settings, account, now)
    year = contract_year(contract_anchor(account), today)
    if uses is None:
        pairs = [
            (u.kind, u.overage) for u in store.entitlement_uses(session, account.id, year.start)
        ]
    else:
        pairs = [(kind, overage) for kind, overage, start in uses if start == year.start]
    return year, balances(account_plan(settings, account), pairs)


@dataclass(frozen=True)
class UseResult:
    """A recorded use, the balance after it, and the notices it enqueued."""

    use: EntitlementUse
    year: ContractYear
    balance: Balance
    overage: bool
    notified: int


def use_entitlement(
    session: Session,
    settings: Settings,
    account_id: str,
    kind: str,
    now: datetime,
    *,
    note: str | None = None,
    force: bool = False,
) -> UseResult:
    """Record one use of ``kind``; refuse beyond the allowance unless ``force`` (overage).

    Raises :class:`ConflictError` (field = the kind) with a message a user can act on when the
    allowance is used up, and :class:`ValidationError` for an unknown kind. When this use takes
    the allowance to zero the CSM notice is enqueued in the same transaction.
    """
    if kind not in KINDS:
        raise ValidationError(
            "kind", f"unknown entitlement {kind!r}; use one of {', '.join(KINDS)}"
        )
    note = check_text("note", note)
    account = store.lock_account(session, account_id)
    plan = account_plan(settings, account)
    year, before = entitlement_balances(session, settings, account, now)
    decision = decide_use(plan, kind, before[kind].used, force=force)
    if not decision.allowed:
        raise ConflictError(kind, f"{account.id}: {decision.reason}")
    row = store.add_entitlement_use(
        session,
        account.id,
        kind,
        used_at=now,
        contract_year_start=year.start,
        overage=decision.overage,
        note=note,
    )
    after = balances(
        plan,
        [(u.kind, u.overage) for u in store.entitlement_uses(session, account.id, year.start)],
    )[kind]
    notified = 0
    if decision.exhausts and after.included:
        notices = exhausted_notices(
            account.id,
            kind,
            year,
            csm=account.csm,
            plan_has_csm=plan.csm,
            support_lead=reminder_lead(settings),
            included=after.included,
            used=after.used,
        )
        notified = enqueue_reminders(session, notices, now)
    return UseResult(row, year, after, decision.overage, notified)


def enqueue_reminders(session: Session, reminders: Sequence[Reminder], now: datetime) -> int:
    """Write reminder decisions to the outbox; return how many rows were new.

    Keys already in the outbox are skipped with one query up front (a daily run repeats most
    decisions); the unique dedupe key still settles a race with another writer.
    """
    known = store.existing_dedupe_keys(session, [r.dedupe_key for r in reminders])
    reminders = [r for r in reminders if r.dedupe_key not in known]
    items = [
        outbox.NewNotification(
            dedupe_key=r.dedupe_key,
            kind=r.kind,
            stage=r.stage,
            recipient=r.recipient.person,
            channel=r.recipient.channel,
            next_attempt_at=now,
            account_id=r.account_id,
            step=r.step,
            repetition=r.repetition,
            payload=dict(r.payload),
        )
        for r in reminders
    ]
    return len(outbox.enqueue_many(session, items, now))


def active_accounts(session: Session) -> list[Account]:
    return list_accounts(session, active_only=True)


@dataclass(frozen=True)
class MeetingRow:
    """One line of ``slawatch meeting list`` / ``GET /api/v1/meetings``."""

    account: str
    name: str
    plan: str
    csm: str | None
    cadence: str
    due: date
    state: str
    held_on: date | None
    days: int  # days until due at the account's today; negative when past

    def as_dict(self) -> dict[str, object]:
        return {
            "account": self.account,
            "name": self.name,
            "plan": self.plan,
            "csm": self.csm,
            "cadence": self.cadence,
            "due": self.due.isoformat(),
            "state": self.state,
            "held_on": self.held_on.isoformat() if self.held_on else None,
            "days": self.days,
        }


def _csm_matches(settings: Settings, csm: str | None, wanted: str) -> bool:
    if csm is None:
        return False
    if csm.lower() == wanted.lower():
        return True
    person = settings.file.people.get(csm)
    return bool(person and person.name and person.name.lower() == wanted.lower())


def meeting_rows(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    csm: str | None = None,
    account_id: str | None = None,
    due_within_days: int | None = None,
    overdue_only: bool = False,
) -> list[MeetingRow]:
    """Overdue, due, upcoming (and current held) meetings of the active accounts, by due date.

    ``csm`` matches a person id or display name; ``due_within_days`` keeps rows due on or before
    today + that many days (overdue ones included).
    """
    accounts = [get_account(session, account_id)] if account_id else active_accounts(session)
    if csm is not None:
        accounts = [a for a in accounts if _csm_matches(settings, a.csm, csm)]
    ids = [a.id for a in accounts]
    held = store.meeting_dates(session, ids)
    histories = store.plan_histories(session, ids)
    rows: list[MeetingRow] = []
    for account in accounts:
        view = account_meetings(
            session,
            settings,
            account,
            now,
            meetings=held.get(account.id, []),
            history=histories.get(account.id, []),
        )
        for item in view.overview():
            if overdue_only and item.state != "overdue":
                continue
            days = (item.due - view.today).days
            if due_within_days is not None and days > due_within_days:
                continue
            rows.append(
                MeetingRow(
                    account=account.id,
                    name=account.name,
                    plan=account.plan,
                    csm=account.csm,
                    cadence=cadence_name(item.period.months),
                    due=item.due,
                    state=item.state,
                    held_on=item.period.held_on,
                    days=days,
                )
            )
    rows.sort(key=lambda r: (r.due, r.account))
    return rows


def workshop_rows(
    session: Session, settings: Settings, now: datetime, *, account_id: str | None = None
) -> list[tuple[Account, WorkshopStatus]]:
    """Delivered vs included in the current contract year, per active account."""
    accounts = [get_account(session, account_id)] if account_id else active_accounts(session)
    held = store.workshop_dates(session, [a.id for a in accounts])
    return [
        (a, workshop_status(session, settings, a, now, held=held.get(a.id, []))) for a in accounts
    ]
