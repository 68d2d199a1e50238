"""Alignment meetings: the schedule an account is owed, its states and the reminders it causes.

Rules:

* **Cadence.** The plan sets it (business every 6 months, enterprise and premium every 3;
  ``[plans.X] meeting_cadence`` changes it per plan, already applied to
  :attr:`Plan.meeting_cadence_months`); an account's own ``meeting_cadence`` wins over both.
  0 months means no meetings.
* **Anchoring.** Due dates are the contract start plus 1, 2, 3... cadences, each computed from
  the anchor with month-end clamping (31 Aug -> 30 Nov -> 28/29 Feb -> 31 May).
* **Plan changes.** A change that alters the cadence re-plans the future from the change date:
  due dates before the change stay, the new segment is anchored on the change date. A change
  that keeps the cadence changes nothing.
* **Periods.** Each due date closes a period that starts after the previous due date (the first
  starts at the beginning of time). A meeting satisfies the period it falls in; a meeting held
  within the grace days after an unsatisfied due date satisfies that late period instead. The
  next due date is the first period not yet satisfied.
* **States** at ``today``: ``held``; ``upcoming`` (before the reminder window); ``due`` (within
  the first reminder window before the due date, up to due + grace); ``overdue`` (past due +
  grace, unsatisfied, the latest such period, and no meeting recorded since its due date);
  ``missed`` for older unsatisfied periods that are no longer chased.
* **Reminders.** Before each due date (``remind_before``, default 14 and 3 days) the CSM gets a
  Slack reminder, or the support lead an email on plans without a CSM. After a daemon outage
  only the latest reminder that applies is sent (no flood). An overdue meeting is told to the
  CSM and the support lead once, then every ``overdue_repeat`` days until a meeting is recorded;
  missed repeats are not back-filled. Every reminder has its own dedupe key.

Everything here is pure: ``today`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from slawatch.core.contract import add_months
from slawatch.core.plans import CADENCE_MONTHS, Plan
from slawatch.core.reminder import (
    Recipient,
    Reminder,
    escalated_recipients,
    routine_recipients,
)

__all__ = [
    "STATES",
    "MeetingPeriod",
    "MeetingRules",
    "MeetingStatus",
    "PlannedReminder",
    "Segment",
    "all_states",
    "build_schedule",
    "cadence_months",
    "cadence_name",
    "cadence_segments",
    "meeting_reminders",
    "next_due",
    "overview",
    "planned_reminders",
    "state_of",
]

STATES = ("upcoming", "due", "overdue", "held", "missed")


@dataclass(frozen=True, slots=True)
class MeetingRules:
    """The ``[meetings]`` section as plain values (days)."""

    remind_before: tuple[int, ...] = (14, 3)
    grace: int = 7
    overdue_repeat: int = 7

    @property
    def window(self) -> int:
        """Days before the due date from which a meeting counts as ``due``."""
        return max(self.remind_before, default=0)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the contract with one cadence, anchored on its start."""

    anchor: date
    months: int
    end: date | None = None  # exclusive: the next segment's anchor


@dataclass(frozen=True, slots=True)
class MeetingPeriod:
    """One meeting the account is owed: due on ``due``, satisfied by a meeting after ``after``."""

    index: int
    after: date | None  # the previous due date (exclusive); None for the first period
    due: date
    months: int
    held_on: date | None = None
    extra_meetings: tuple[date, ...] = field(default=())

    @property
    def held(self) -> bool:
        return self.held_on is not None


def cadence_name(months: int) -> str:
    """``quarterly`` for 3 months and so on; ``every N months`` for other values."""
    for name, value in CADENCE_MONTHS.items():
        if value == months:
            return name
    return f"every {months} months"


def cadence_months(plan: Plan, account_cadence: str | None = None) -> int:
    """Months between meetings: the account's override, else the (configured) plan's cadence."""
    if account_cadence is not None:
        return CADENCE_MONTHS[account_cadence]
    return plan.meeting_cadence_months


def cadence_segments(
    contract_start: date, changes: Iterable[tuple[date, int]]
) -> tuple[Segment, ...]:
    """The schedule's segments from ``changes`` = (effective date, cadence months).

    The change in force at the contract start (the latest one on or before it) gives the first
    segment's cadence; a later change that keeps the cadence is ignored; several changes on one
    day keep the last.
    """
    ordered = sorted(changes, key=lambda c: c[0])
    if not ordered:
        return ()
    initial = ordered[0][1]
    later: list[tuple[date, int]] = []
    for when, months in ordered:
        if when <= contract_start:
            initial = months
        elif later and later[-1][0] == when:
            later[-1] = (when, months)
        else:
            later.append((when, months))
    segments: list[Segment] = [Segment(contract_start, initial)]
    for when, months in later:
        if months == segments[-1].months:
            continue
        last = segments[-1]
        segments[-1] = Segment(last.anchor, last.months, when)
        segments.append(Segment(when, months))
    return tuple(segments)


def _dues(segments: Sequence[Segment], horizon: date) -> list[tuple[date, int]]:
    """Due dates up to ``horizon`` plus the first one after it, with their cadence."""
    dues: list[tuple[date, int]] = []
    for segment in segments:
        if segment.months <= 0:
            continue
        k = 1
        while True:
            due = add_months(segment.anchor, k * segment.months)
            if segment.end is not None and due >= segment.end:
                break
            dues.append((due, segment.months))
            if due > horizon:
                return dues
            k += 1
    return dues


def build_schedule(
    segments: Sequence[Segment],
    meetings: Iterable[date],
    horizon: date,
    grace: int = 7,
) -> tuple[MeetingPeriod, ...]:
    """The periods due up to ``horizon`` (and the one after it), each with the meeting that
    satisfied it. Meetings after the last generated period are ignored."""
    dues = _dues(segments, horizon)
    held: list[date | None] = [None] * len(dues)
    extra: list[list[date]] = [[] for _ in dues]
    grace_days = timedelta(days=grace)
    for day in sorted(set(meetings)):
        # the period the meeting falls in: after the previous due date, up to its own
        slot = next((i for i, (due, _) in enumerate(dues) if day <= due), None)
        if slot is None:
            continue
        if slot > 0 and held[slot - 1] is None and day <= dues[slot - 1][0] + grace_days:
            slot -= 1  # held within the grace days of an unsatisfied, late period
        if held[slot] is None:
            held[slot] = day
        else:
            extra[slot].append(day)
    return tuple(
        MeetingPeriod(
            index=index,
            after=dues[index - 1][0] if index else None,
            due=due,
            months=months,
            held_on=held[index],
            extra_meetings=tuple(extra[index]),
        )
        for index, (due, months) in enumerate(dues)
    )


def _overdue_index(
    periods: Sequence[MeetingPeriod], meetings: Sequence[date], today: date, rules: MeetingRules
) -> int | None:
    """The one period being chased as overdue, if any."""
    past = [p for p in periods if today > p.due + timedelta(days=rules.grace)]
    if not past:
        return None
    latest = past[-1]
    if latest.held or any(m > latest.due for m in meetings):
        return None
    return latest.index


def state_of(
    period: MeetingPeriod,
    today: date,
    rules: MeetingRules,
    overdue_index: int | None,
) -> str:
    """``held``, ``overdue``, ``missed``, ``due`` or ``upcoming`` (see the module docstring)."""
    if period.held:
        return "held"
    if today > period.due + timedelta(days=rules.grace):
        return "overdue" if period.index == overdue_index else "missed"
    if today >= period.due - timedelta(days=rules.window):
        return "due"
    return "upcoming"


@dataclass(frozen=True, slots=True)
class MeetingStatus:
    """A period with its state at some ``today``."""

    period: MeetingPeriod
    state: str

    @property
    def due(self) -> date:
        return self.period.due


def overview(
    periods: Sequence[MeetingPeriod], meetings: Sequence[date], today: date, rules: MeetingRules
) -> tuple[MeetingStatus, ...]:
    """What an account's meeting list shows at ``today``: the overdue meeting (if any), the
    current period (held or not), and the next unsatisfied one when the current is held."""
    overdue_index = _overdue_index(periods, meetings, today, rules)
    out: list[MeetingStatus] = []
    if overdue_index is not None:
        out.append(MeetingStatus(periods[overdue_index], "overdue"))
    grace = timedelta(days=rules.grace)
    for period in periods:
        if period.due + grace < today:
            continue
        out.append(MeetingStatus(period, state_of(period, today, rules, overdue_index)))
        if not period.held:
            break
    return tuple(out)


def all_states(
    periods: Sequence[MeetingPeriod], meetings: Sequence[date], today: date, rules: MeetingRules
) -> tuple[MeetingStatus, ...]:
    """Every period with its state at ``today`` (for ``meeting plan`` and audits)."""
    overdue_index = _overdue_index(periods, meetings, today, rules)
    return tuple(MeetingStatus(p, state_of(p, today, rules, overdue_index)) for p in periods)


def next_due(periods: Sequence[MeetingPeriod], today: date, rules: MeetingRules) -> date | None:
    """The due date of the first unsatisfied period still open at ``today`` (past due + grace
    periods are overdue or missed, not "next")."""
    grace = timedelta(days=rules.grace)
    for period in periods:
        if not period.held and period.due + grace >= today:
            return period.due
    return None


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """A reminder as planned for a period (for ``meeting plan``), not yet a decision."""

    on: date
    stage: str
    step: str
    due: date


def planned_reminders(period: MeetingPeriod, rules: MeetingRules) -> tuple[PlannedReminder, ...]:
    """The reminders a period would cause if no meeting is recorded: before the due date, and
    the first overdue notice (repeats follow every ``overdue_repeat`` days)."""
    out = [
        PlannedReminder(
            period.due - timedelta(days=days), "meeting_reminder", f"{days}d", period.due
        )
        for days in sorted(set(rules.remind_before), reverse=True)
    ]
    out.append(
        PlannedReminder(
            period.due + timedelta(days=rules.grace + 1), "meeting_overdue", "overdue", period.due
        )
    )
    return tuple(out)


def meeting_reminders(
    account_id: str,
    periods: Sequence[MeetingPeriod],
    meetings: Sequence[date],
    today: date,
    rules: MeetingRules,
    *,
    csm: str | None,
    plan_has_csm: bool,
    support_lead: str | None,
    payload: Mapping[str, object] | None = None,
) -> tuple[Reminder, ...]:
    """The reminders that should exist by ``today`` (the outbox dedupes repeats).

    Before a due date only the latest reminder whose day has come is returned, so a daemon that
    was down over both the 14-day and the 3-day reminder sends one message, not two. An overdue
    meeting yields repetition ``n`` = whole ``overdue_repeat`` periods since it became overdue.
    The payload carries ``meeting`` (``due_on``, ``last_held_on``, ``cadence``, ``days``: days
    until due, negative when late) for the templates, plus ``reason``.
    """
    base = dict(payload or {})
    held_so_far = [m for m in meetings if m <= today]
    last_held = max(held_so_far).isoformat() if held_so_far else None

    def reminder(
        period: MeetingPeriod,
        stage: str,
        step: str,
        repetition: int,
        reason: str,
        recipients: Sequence[Recipient],
    ) -> list[Reminder]:
        meeting = {
            "due_on": period.due.isoformat(),
            "last_held_on": last_held,
            "cadence": cadence_name(period.months),
            "days": (period.due - today).days,
        }
        label = step if stage == "meeting_reminder" else f"overdue:{repetition}"
        return [
            Reminder(
                account_id=account_id,
                kind="reminder",
                stage=stage,
                step=step,
                repetition=repetition,
                recipient=recipient,
                dedupe_key=(
                    f"meeting:{account_id}:{period.due.isoformat()}:{label}:"
                    f"{recipient.person}:{recipient.channel}"
                ),
                reason=reason,
                due=period.due,
                payload={**base, "meeting": meeting, "reason": reason},
            )
            for recipient in recipients
        ]

    out: list[Reminder] = []
    routine = routine_recipients(csm, plan_has_csm, support_lead)
    for period in periods:
        if period.held or period.due < today:
            continue
        reached = [d for d in set(rules.remind_before) if period.due - timedelta(days=d) <= today]
        if not reached:
            continue
        days = min(reached)
        reason = f"alignment meeting due {period.due.isoformat()} (reminder {days} days before)"
        out += reminder(period, "meeting_reminder", f"{days}d", 0, reason, routine)
    overdue_index = _overdue_index(periods, meetings, today, rules)
    if overdue_index is not None:
        period = periods[overdue_index]
        since = (today - (period.due + timedelta(days=rules.grace + 1))).days
        repetition = since // rules.overdue_repeat if rules.overdue_repeat > 0 else 0
        reason = (
            f"alignment meeting due {period.due.isoformat()} not held "
            f"({(today - period.due).days} days late)"
        )
        escalated = escalated_recipients(csm, plan_has_csm, support_lead)
        out += reminder(period, "meeting_overdue", "overdue", repetition, reason, escalated)
    return tuple(out)
