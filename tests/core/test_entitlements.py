"""Contract years, allowances and the use decision of the entitlements ledger."""

from __future__ import annotations

from datetime import date

import pytest

from slawatch.core.contract import contract_year
from slawatch.core.entitlements import (
    KINDS,
    allowance,
    balances,
    decide_use,
    exhausted_notices,
)
from slawatch.core.plans import BUILTIN_PLANS


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ("standard", {"report": 0, "restore": 0, "sandbox": 0, "ticket": 0}),
        ("business", {"report": 1, "restore": 1, "sandbox": 0, "ticket": 0}),
        ("enterprise", {"report": 2, "restore": 2, "sandbox": 1, "ticket": 0}),
        ("premium", {"report": 4, "restore": 4, "sandbox": None, "ticket": 30}),
    ],
)
def test_allowances_per_plan(plan: str, expected: dict[str, int | None]) -> None:
    assert {k: allowance(BUILTIN_PLANS[plan], k) for k in KINDS} == expected


def test_contract_year_resets_at_the_anniversary() -> None:
    start = date(2025, 3, 10)
    assert contract_year(start, date(2026, 3, 9)).start == date(2025, 3, 10)
    year = contract_year(start, date(2026, 3, 10))
    assert (year.start, year.end, year.number) == (date(2026, 3, 10), date(2027, 3, 10), 2)
    assert contract_year(start, date(2025, 1, 1)).start == start  # before the start: year 1


def test_leap_day_contract_start() -> None:
    start = date(2024, 2, 29)
    assert contract_year(start, date(2025, 2, 27)).start == date(2024, 2, 29)
    assert contract_year(start, date(2025, 2, 28)).start == date(2025, 2, 28)
    assert contract_year(start, date(2028, 2, 28)).start == date(2027, 2, 28)
    assert contract_year(start, date(2028, 2, 29)).start == date(2028, 2, 29)
    assert date(2028, 2, 28) in contract_year(start, date(2027, 6, 1))


def test_decide_use_within_beyond_and_forced() -> None:
    enterprise = BUILTIN_PLANS["enterprise"]
    first = decide_use(enterprise, "restore", 0)
    assert first.allowed and not first.overage and not first.exhausts
    second = decide_use(enterprise, "restore", 1)
    assert second.allowed and second.exhausts
    refused = decide_use(enterprise, "restore", 2)
    assert not refused.allowed
    assert "all 2 data-restore events" in refused.reason and "--force" in refused.reason
    forced = decide_use(enterprise, "restore", 2, force=True)
    assert forced.allowed and forced.overage and not forced.exhausts


def test_plan_without_the_entitlement_refuses() -> None:
    decision = decide_use(BUILTIN_PLANS["business"], "ticket", 0)
    assert not decision.allowed
    assert "includes no included tickets" in decision.reason


def test_unlimited_sandboxes() -> None:
    decision = decide_use(BUILTIN_PLANS["premium"], "sandbox", 500)
    assert decision.allowed and not decision.overage and not decision.exhausts


def test_balances_count_overage() -> None:
    got = balances(BUILTIN_PLANS["business"], [("report", False), ("report", True)])
    report = got["report"]
    assert (report.used, report.included, report.remaining, report.overage) == (2, 1, 0, 1)
    assert got["restore"].remaining == 1
    assert got["sandbox"].as_dict()["remaining"] == 0
    assert balances(BUILTIN_PLANS["premium"], [])["sandbox"].as_dict()["included"] == "multiple"


def test_exhausted_notice_once_per_year_and_kind() -> None:
    year = contract_year(date(2025, 3, 10), date(2026, 1, 1))
    [notice] = exhausted_notices(
        "acme", "report", year, csm="maria", plan_has_csm=True, support_lead="lead", included=2
    )
    assert notice.stage == "entitlement_exhausted"
    assert (notice.recipient.person, notice.recipient.channel) == ("maria", "slack")
    next_year = contract_year(date(2025, 3, 10), date(2026, 6, 1))
    [later] = exhausted_notices(
        "acme",
        "report",
        next_year,
        csm="maria",
        plan_has_csm=True,
        support_lead="lead",
        included=2,
    )
    assert later.dedupe_key != notice.dedupe_key
