"""Workshops delivered vs included and the configurable "behind" rule."""

from __future__ import annotations

from datetime import date

from slawatch.core.contract import contract_year
from slawatch.core.workshops import WorkshopRules, check_date, status, workshop_reminders

START = date(2026, 1, 1)
YEAR = contract_year(START, date(2026, 3, 1))


def test_check_date_is_the_middle_of_the_contract_year() -> None:
    assert check_date(YEAR, WorkshopRules()) == date(2026, 7, 2)
    assert check_date(YEAR, WorkshopRules(check_at_fraction=0.25)) == date(2026, 4, 2)


def test_behind_only_after_the_check_date_and_below_the_fraction() -> None:
    held = [date(2026, 2, 1), date(2026, 3, 1)]
    rules = WorkshopRules()
    assert not status(YEAR, 6, held, date(2026, 7, 1), rules).behind
    behind = status(YEAR, 6, held, date(2026, 7, 2), rules)
    assert behind.behind and (behind.delivered, behind.included, behind.remaining) == (2, 6, 4)
    assert not status(YEAR, 6, [*held, date(2026, 5, 1)], date(2026, 8, 1), rules).behind
    # workshops of the previous contract year do not count
    assert status(YEAR, 6, [date(2025, 12, 1)] * 3, date(2026, 8, 1), rules).delivered == 0


def test_rule_is_configurable() -> None:
    rules = WorkshopRules(check_at_fraction=0.25, min_fraction_delivered=1 / 3)
    assert status(YEAR, 3, [], date(2026, 4, 2), rules).behind
    assert not status(YEAR, 3, [date(2026, 2, 1)], date(2026, 4, 2), rules).behind


def test_no_workshops_included_is_never_behind() -> None:
    assert not status(YEAR, 0, [], date(2026, 12, 1), WorkshopRules()).behind


def test_reminder_goes_to_csm_once_per_year() -> None:
    ws = status(YEAR, 6, [], date(2026, 8, 1), WorkshopRules())
    [r] = workshop_reminders("acme", ws, csm="maria", plan_has_csm=True, support_lead="lead")
    assert (r.stage, r.recipient.person, r.recipient.channel) == (
        "workshops_behind",
        "maria",
        "slack",
    )
    assert "2026-01-01" in r.dedupe_key
    ws_later = status(YEAR, 6, [], date(2026, 11, 1), WorkshopRules())
    [again] = workshop_reminders(
        "acme", ws_later, csm="maria", plan_has_csm=True, support_lead="lead"
    )
    assert again.dedupe_key == r.dedupe_key
    [lead] = workshop_reminders("acme", ws, csm=None, plan_has_csm=False, support_lead="lead")
    assert (lead.recipient.person, lead.recipient.channel) == ("lead", "email")
