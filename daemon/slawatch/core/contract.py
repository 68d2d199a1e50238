"""Contract dates: month arithmetic anchored on a start date, and contract years.

Alignment meetings, workshops and the entitlements ledger all count from the account's contract
start. Every date is computed from the original anchor (never chained from the previous result),
so a month-end anchor keeps its day where the month has it: 31 August + 3 months is 30 November,
+6 months is 28 or 29 February and +9 months is 31 May again. A 29 February start has its
anniversary on 28 February in common years and 29 February in leap years.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

__all__ = ["ContractYear", "add_months", "contract_year"]


def add_months(anchor: date, months: int) -> date:
    """``anchor`` moved by ``months`` calendar months, the day clamped to the month's last day."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor.day, last))


@dataclass(frozen=True, slots=True)
class ContractYear:
    """One contract year: ``start`` inclusive, ``end`` exclusive (the next anniversary)."""

    start: date
    end: date
    number: int  # 1 for the year starting on the contract start

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end


def contract_year(contract_start: date, today: date) -> ContractYear:
    """The contract year ``today`` falls in; allowances reset at each anniversary.

    A ``today`` before the contract start is counted in the first contract year (a use recorded
    ahead of the start belongs to the year the contract opens with).
    """
    years = today.year - contract_start.year
    start = add_months(contract_start, 12 * years)
    if start > today:
        years -= 1
    years = max(years, 0)
    return ContractYear(
        start=add_months(contract_start, 12 * years),
        end=add_months(contract_start, 12 * (years + 1)),
        number=years + 1,
    )
