"""Alignment meeting schedule, states and reminder decisions (pure, with a given ``today``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slawatch.core.contract import add_months
from slawatch.core.meetings import (
    MeetingRules,
    build_schedule,
    cadence_months,
    cadence_segments,
    meeting_reminders,
    next_due,
    overview,
    planned_reminders,
)
from slawatch.core.plans import BUILTIN_PLANS

RULES = MeetingRules()


def dues(start: date, months: int, horizon: date) -> list[date]:
    segments = cadence_segments(start, [(start, months)])
    return [p.due for p in build_schedule(segments, [], horizon)]


def test_cadence_from_plan_and_account_override() -> None:
    assert cadence_months(BUILTIN_PLANS["business"]) == 6
    assert cadence_months(BUILTIN_PLANS["enterprise"]) == 3
    assert cadence_months(BUILTIN_PLANS["premium"]) == 3
    assert cadence_months(BUILTIN_PLANS["standard"]) == 0
    assert cadence_months(BUILTIN_PLANS["business"], "quarterly") == 3
    assert cadence_months(BUILTIN_PLANS["premium"], "none") == 0


def test_month_end_anchor_clamps_and_returns_to_the_31st() -> None:
    got = dues(date(2025, 8, 31), 3, date(2026, 9, 1))
    assert got == [
        date(2025, 11, 30),
        date(2026, 2, 28),
        date(2026, 5, 31),
        date(2026, 8, 31),
        date(2026, 11, 30),
    ]


def test_leap_year_february() -> None:
    got = dues(date(2023, 8, 31), 6, date(2024, 3, 1))
    assert got == [date(2024, 2, 29), date(2024, 8, 31)]
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 1, 31), -2) == date(2023, 11, 30)


def test_business_is_biannual_from_contract_start() -> None:
    assert dues(date(2026, 1, 15), 6, date(2027, 1, 1)) == [
        date(2026, 7, 15),
        date(2027, 1, 15),
    ]


def test_no_meetings_on_zero_cadence() -> None:
    assert dues(date(2026, 1, 15), 0, date(2030, 1, 1)) == []


def test_plan_change_replans_from_the_change_date() -> None:
    start = date(2026, 1, 15)
    segments = cadence_segments(start, [(start, 6), (date(2026, 9, 10), 3)])
    got = [p.due for p in build_schedule(segments, [], date(2027, 4, 1))]
    # business: 15 Jul kept; the 15 Jan 2027 due is replaced by quarterly dates from 10 Sep
    assert got == [
        date(2026, 7, 15),
        date(2026, 12, 10),
        date(2027, 3, 10),
        date(2027, 6, 10),
    ]


def test_plan_change_keeping_the_cadence_changes_nothing() -> None:
    start = date(2026, 1, 15)
    segments = cadence_segments(start, [(start, 3), (date(2026, 5, 2), 3)])
    assert len(segments) == 1
    got = [p.due for p in build_schedule(segments, [], date(2026, 12, 1))]
    assert got[:3] == [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15)]


def test_downgrade_to_no_meetings_stops_the_schedule() -> None:
    start = date(2026, 1, 15)
    segments = cadence_segments(start, [(start, 3), (date(2026, 5, 1), 0)])
    got = [p.due for p in build_schedule(segments, [], date(2028, 1, 1))]
    assert got == [date(2026, 4, 15)]


def test_change_before_contract_start_sets_the_initial_cadence() -> None:
    start = date(2026, 3, 1)
    segments = cadence_segments(start, [(date(2025, 1, 1), 6), (date(2026, 2, 1), 3)])
    assert [(s.anchor, s.months) for s in segments] == [(start, 3)]


def test_meeting_satisfies_the_period_it_falls_in_and_next_due_follows() -> None:
    start = date(2025, 8, 31)
    segments = cadence_segments(start, [(start, 3)])
    periods = build_schedule(segments, [date(2025, 11, 20)], date(2026, 6, 1))
    assert periods[0].held_on == date(2025, 11, 20)
    assert next_due(periods, date(2025, 11, 21), RULES) == date(2026, 2, 28)
    # a meeting early in the next period satisfies that period, not a later one
    periods = build_schedule(segments, [date(2025, 11, 20), date(2025, 12, 5)], date(2026, 6, 1))
    assert periods[1].held_on == date(2025, 12, 5)
    assert next_due(periods, date(2025, 12, 6), RULES) == date(2026, 5, 31)


def test_late_meeting_within_grace_satisfies_the_late_period() -> None:
    start = date(2025, 8, 31)
    segments = cadence_segments(start, [(start, 3)])
    periods = build_schedule(segments, [date(2025, 12, 4)], date(2026, 6, 1))
    assert periods[0].held_on == date(2025, 12, 4)
    assert periods[1].held_on is None


def _status(meetings: list[date], today: date) -> list[tuple[date, str]]:
    start = date(2025, 8, 31)
    segments = cadence_segments(start, [(start, 3)])
    periods = build_schedule(segments, meetings, today + timedelta(days=400))
    return [(s.due, s.state) for s in overview(periods, meetings, today, RULES)]


def test_states_upcoming_due_overdue_held() -> None:
    assert _status([], date(2025, 10, 1)) == [(date(2025, 11, 30), "upcoming")]
    assert _status([], date(2025, 11, 16)) == [(date(2025, 11, 30), "due")]
    assert _status([], date(2025, 12, 7)) == [(date(2025, 11, 30), "due")]  # within grace
    assert _status([], date(2025, 12, 8)) == [
        (date(2025, 11, 30), "overdue"),
        (date(2026, 2, 28), "upcoming"),
    ]
    assert _status([date(2025, 11, 2)], date(2025, 11, 20)) == [
        (date(2025, 11, 30), "held"),
        (date(2026, 2, 28), "upcoming"),
    ]


def test_recording_after_overdue_stops_the_chase() -> None:
    # a meeting on 20 Dec satisfies the Feb period; the Nov one is no longer chased
    assert _status([date(2025, 12, 20)], date(2025, 12, 21)) == [
        (date(2026, 2, 28), "held"),
        (date(2026, 5, 31), "upcoming"),
    ]


def test_only_the_latest_missed_period_is_overdue() -> None:
    got = _status([], date(2026, 3, 10))
    assert got[0] == (date(2026, 2, 28), "overdue")
    assert (date(2025, 11, 30), "overdue") not in got


def _reminders(today: date, meetings: list[date] | None = None, **who: object) -> list:
    start = date(2025, 8, 31)
    segments = cadence_segments(start, [(start, 3)])
    meetings = meetings or []
    periods = build_schedule(segments, meetings, today + timedelta(days=400))
    kwargs = {"csm": "maria", "plan_has_csm": True, "support_lead": "lead"} | who
    return list(meeting_reminders("acme", periods, meetings, today, RULES, **kwargs))  # type: ignore[arg-type]


def test_reminders_before_due_go_to_the_csm_on_slack() -> None:
    assert _reminders(date(2025, 11, 15)) == []
    [r14] = _reminders(date(2025, 11, 16))
    assert (r14.stage, r14.step, r14.recipient.person, r14.recipient.channel) == (
        "meeting_reminder",
        "14d",
        "maria",
        "slack",
    )
    # still the 14-day reminder (same key) until the 3-day one is reached
    assert _reminders(date(2025, 11, 20))[0].dedupe_key == r14.dedupe_key
    [r3] = _reminders(date(2025, 11, 27))
    assert r3.step == "3d" and r3.dedupe_key != r14.dedupe_key
    assert _reminders(date(2025, 11, 27), meetings=[date(2025, 11, 26)]) == []


def test_plans_without_csm_remind_the_support_lead_by_email() -> None:
    [r] = _reminders(date(2025, 11, 27), csm=None, plan_has_csm=False)
    assert (r.recipient.person, r.recipient.channel) == ("lead", "email")
    [r] = _reminders(date(2025, 11, 27), csm="maria", plan_has_csm=False)
    assert r.recipient.person == "lead"


def test_overdue_tells_csm_and_lead_once_then_weekly() -> None:
    assert _reminders(date(2025, 12, 7)) == []  # due + grace: not yet overdue
    first = _reminders(date(2025, 12, 8))
    assert {(r.recipient.person, r.recipient.channel) for r in first} == {
        ("maria", "slack"),
        ("lead", "email"),
    }
    assert {r.repetition for r in first} == {0}
    keys = {r.dedupe_key for r in first}
    for day in range(8, 15):  # the rest of the first week repeats the same keys
        assert {r.dedupe_key for r in _reminders(date(2025, 12, day))} == keys
    second = _reminders(date(2025, 12, 15))
    assert {r.repetition for r in second} == {1}
    assert keys.isdisjoint(r.dedupe_key for r in second)
    assert {r.repetition for r in _reminders(date(2026, 1, 12))} == {5}
    # a meeting recorded stops the overdue notices
    assert [r for r in _reminders(date(2025, 12, 20), [date(2025, 12, 19)])] == []


def test_a_flood_is_not_back_filled_after_downtime() -> None:
    # down over both the 14-day and the 3-day reminder: only the 3-day one is decided
    [r] = _reminders(date(2025, 11, 28))
    assert r.step == "3d"


def test_planned_reminders() -> None:
    start = date(2025, 8, 31)
    [period, *_] = build_schedule(cadence_segments(start, [(start, 3)]), [], date(2025, 12, 1))
    planned = planned_reminders(period, RULES)
    assert [(p.on, p.stage) for p in planned] == [
        (date(2025, 11, 16), "meeting_reminder"),
        (date(2025, 11, 27), "meeting_reminder"),
        (date(2025, 12, 8), "meeting_overdue"),
    ]


@pytest.mark.parametrize("day", [1, 15, 28, 29, 30, 31])
def test_due_dates_never_drift(day: int) -> None:
    start = date(2024, 1, day) if day <= 31 else date(2024, 1, 1)
    got = dues(start, 1, date(2026, 1, 1))
    for k, due in enumerate(got, start=1):
        assert due == add_months(start, k)
        assert due.day == min(day, (add_months(due.replace(day=1), 1) - timedelta(days=1)).day)


# ----------------------------------------------------------------------- properties
_days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(
    start=_days,
    months=st.sampled_from([1, 3, 6, 12]),
    change=st.none() | st.tuples(st.integers(1, 900), st.sampled_from([0, 1, 3, 6, 12])),
    meetings=st.lists(st.integers(-30, 1200), max_size=8),
)
def test_schedule_properties(
    start: date, months: int, change: tuple[int, int] | None, meetings: list[int]
) -> None:
    changes = [(start, months)]
    if change is not None:
        changes.append((start + timedelta(days=change[0]), change[1]))
    segments = cadence_segments(start, changes)
    held = [start + timedelta(days=d) for d in meetings]
    horizon = start + timedelta(days=1300)
    periods = build_schedule(segments, held, horizon, grace=7)
    dues = [p.due for p in periods]
    assert dues == sorted(set(dues)), "due dates strictly increase"
    for segment in segments:
        for p in periods:
            if (
                p.months == segment.months
                and p.due >= segment.anchor
                and (segment.end is None or p.due < segment.end)
            ):
                k = round((p.due - segment.anchor).days / 30.44 / segment.months)
                assert p.due in {
                    add_months(segment.anchor, (k + d) * segment.months) for d in (-1, 0, 1)
                }
    used = [p.held_on for p in periods if p.held_on is not None]
    assert len(used) == len(set(used)), "a meeting satisfies at most one period"
    for p in periods:
        if p.held_on is not None:
            # in its own window, or within the grace days after it
            assert p.after is None or p.held_on > p.after
            assert p.held_on <= p.due + timedelta(days=7)
    # after a meeting, the next due date is never before the meeting (nothing owed in the past)
    rules = MeetingRules()
    for day in held:
        nxt = next_due(periods, day, rules)
        assert nxt is None or nxt + timedelta(days=rules.grace) >= day


def test_without_support_lead_the_team_channel_stands_in() -> None:
    [r] = _reminders(date(2025, 11, 27), csm=None, plan_has_csm=False, support_lead="#support")
    assert (r.recipient.person, r.recipient.channel) == ("#support", "slack")
    overdue = _reminders(date(2025, 12, 8), csm="maria", plan_has_csm=True, support_lead="#support")
    assert {(x.recipient.person, x.recipient.channel) for x in overdue} == {
        ("maria", "slack"),
        ("#support", "slack"),
    }
