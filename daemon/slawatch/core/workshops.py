"""Onboarding workshops: delivered versus included per contract year, and the "behind" rule.

A plan includes a number of live onboarding workshops per contract year (business 3, enterprise
6, premium 9). The CSM is reminded once per contract year when, at ``check_at_fraction`` of the
year (default half way), fewer than ``min_fraction_delivered`` of them (default half) have been
delivered. With the defaults, an enterprise account with 2 of 6 workshops done by the middle of
its contract year is behind; 3 of 6 is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from slawatch.core.contract import ContractYear
from slawatch.core.reminder import Reminder, routine_recipients

__all__ = ["WorkshopRules", "WorkshopStatus", "check_date", "status", "workshop_reminders"]


@dataclass(frozen=True, slots=True)
class WorkshopRules:
    """The ``[workshops]`` section as plain values."""

    check_at_fraction: float = 0.5
    min_fraction_delivered: float = 0.5


def check_date(year: ContractYear, rules: WorkshopRules) -> date:
    """The day of the contract year on which the delivered count is checked."""
    return year.start + timedelta(days=int(year.days * rules.check_at_fraction))


@dataclass(frozen=True, slots=True)
class WorkshopStatus:
    """Delivered vs included in one contract year, and whether the account is behind."""

    year: ContractYear
    delivered: int
    included: int
    required: float  # workshops needed by the check date
    check_on: date
    behind: bool

    @property
    def remaining(self) -> int:
        return max(self.included - self.delivered, 0)


def status(
    year: ContractYear, included: int, held_on: Iterable[date], today: date, rules: WorkshopRules
) -> WorkshopStatus:
    """Count the workshops held in ``year`` and apply the behind rule at ``today``."""
    delivered = sum(1 for day in held_on if day in year)
    required = included * rules.min_fraction_delivered
    check_on = check_date(year, rules)
    behind = included > 0 and today >= check_on and delivered < required
    return WorkshopStatus(year, delivered, included, required, check_on, behind)


def workshop_reminders(
    account_id: str,
    ws: WorkshopStatus,
    *,
    csm: str | None,
    plan_has_csm: bool,
    support_lead: str | None,
) -> tuple[Reminder, ...]:
    """One reminder per contract year when the account is behind (dedupe key per year)."""
    if not ws.behind:
        return ()
    return tuple(
        Reminder(
            account_id=account_id,
            kind="reminder",
            stage="workshops_behind",
            step="behind",
            repetition=0,
            recipient=recipient,
            dedupe_key=(
                f"workshops:{account_id}:{ws.year.start.isoformat()}:behind:"
                f"{recipient.person}:{recipient.channel}"
            ),
            reason=(
                f"{ws.delivered} of {ws.included} workshops delivered by {ws.check_on}; "
                f"at least {ws.required:g} expected"
            ),
            due=ws.year.end,
            payload={
                "workshops": {
                    "included": ws.included,
                    "held": ws.delivered,
                    "expected": ws.required,
                    "check_on": ws.check_on.isoformat(),
                    "year_start": ws.year.start.isoformat(),
                    "year_end": (ws.year.end - timedelta(days=1)).isoformat(),
                },
                "reason": (
                    f"{ws.delivered} of {ws.included} workshops delivered by {ws.check_on}; "
                    f"at least {ws.required:g} expected"
                ),
            },
        )
        for recipient in routine_recipients(csm, plan_has_csm, support_lead)
    )
