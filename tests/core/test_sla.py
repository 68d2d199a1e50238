"""The SLA clock (``slawatch.core.sla.evaluate``), case by case, with hand-computed times.

Calendar: Sofia, Mon-Fri 09:00-18:00, BG public holidays, so one business day ("1d") is 9 h.
Dates are in late 2026 (EET, UTC+2): Mon 30 Nov, Tue 1 Dec, Wed 2 Dec, Thu 3 Dec, Fri 4 Dec,
Mon 7 Dec. BG holidays at the end of the year: 24, 25 Dec, 28 Dec (observed), 1 Jan 2027.

The 60 business days of an Enterprise medium resolution from Mon 30 Nov 10:00: the working days
after it are 1-4 Dec (4), 7-11 (9), 14-18 (14), 21-23 (17), 29-31 (20), 4-8 Jan (25),
11-15 (30), 18-22 (35), 25-29 (40), 1-5 Feb (45), 8-12 (50), 15-19 (55), 22-26 (60), so it is
due on Fri 26 Feb 2027 at 10:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from slawatch.config.loader import holiday_checker
from slawatch.core.calendar import WEEKDAYS, BusinessCalendar, parse_interval
from slawatch.core.durations import parse_duration
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory, add_event
from slawatch.core.plans import BUILTIN_PLANS, Plan
from slawatch.core.sla import ClockState, ClockStatus, evaluate

SOFIA = ZoneInfo("Europe/Sofia")
H = timedelta(hours=1)
M = timedelta(minutes=1)
ACK = timedelta(minutes=15)
ALWAYS = BusinessCalendar.always_open()
CAL = BusinessCalendar(
    "sofia",
    SOFIA,
    {d: [parse_interval("09:00-18:00")] for d in WEEKDAYS[:5]},
    holiday_checker=holiday_checker("BG"),
)


def sf(*args: int) -> datetime:
    return datetime(*args, tzinfo=SOFIA)  # type: ignore[misc]


MON_10 = sf(2026, 11, 30, 10)


def history(
    priority: str, *events: tuple[EventType, datetime] | tuple[EventType, datetime, str]
) -> IncidentHistory:
    """A validated history opened Mon 30 Nov 10:00 (events go through ``add_event``)."""
    hist = IncidentHistory(opened_at=MON_10, priority=priority)
    for item in events:
        kind, at = item[0], item[1]
        event = IncidentEvent(kind, at, priority=item[2] if len(item) == 3 else None)
        hist, changed = add_event(hist, event, now=sf(2030, 1, 1))
        assert changed
    return hist


def clocks(
    hist: IncidentHistory,
    now: datetime,
    plan: str | Plan = "enterprise",
    ack: timedelta = ACK,
) -> dict[str, ClockStatus]:
    chosen = BUILTIN_PLANS[plan] if isinstance(plan, str) else plan
    result = evaluate(hist, chosen, CAL, now, hotline_ack_within=ack, always_open=ALWAYS)
    return {status.target: status for status in result}


class TestFreshIncident:
    def test_enterprise_medium_due_times(self) -> None:
        c = clocks(history("medium"), MON_10)
        # 1d = 9 h: Mon 10:00 + 8 h (to 18:00) + 1 h -> Tue 10:00.
        assert c["response"].due_at == sf(2026, 12, 1, 10)
        # 3d = 27 h -> Thu 3 Dec 10:00.
        assert c["workaround"].due_at == sf(2026, 12, 3, 10)
        # 60d -> Fri 26 Feb 2027 10:00 (see the module docstring).
        assert c["resolution"].due_at == sf(2027, 2, 26, 10)
        for status in c.values():
            assert status.state is ClockState.RUNNING
            assert status.clock == "sofia"
            assert status.elapsed == timedelta(0)
            assert status.fraction == 0.0
        assert c["response"].duration == 9 * H
        assert c["resolution"].duration == 540 * H

    def test_elapsed_remaining_and_fraction(self) -> None:
        c = clocks(history("medium"), sf(2026, 11, 30, 14, 30))
        assert c["response"].elapsed == 4 * H + 30 * M
        assert c["response"].remaining == 4 * H + 30 * M
        assert c["response"].fraction == pytest.approx(0.5)
        assert c["workaround"].fraction == pytest.approx(4.5 / 27)

    def test_no_target_is_none(self) -> None:
        c = clocks(history("low"), sf(2026, 12, 30, 10))
        for target in ("workaround", "resolution"):
            assert c[target].state is ClockState.NONE
            assert c[target].due_at is None
            assert c[target].duration is None
            assert c[target].clock is None
        # Low response is 3d = 27 h: Mon 10:00 -> Thu 3 Dec 10:00; by 30 Dec it is breached.
        assert c["response"].due_at == sf(2026, 12, 3, 10)
        assert c["response"].state is ClockState.BREACHED
        assert c["response"].remaining is not None and c["response"].remaining < timedelta(0)


class TestImmediate:
    def test_hotline_ack_window_on_the_24x7_clock(self) -> None:
        # Opened Sat 28 Nov 03:00, outside business hours: the acknowledgement window is wall
        # time on 24x7, so the response is due at 03:15 the same night.
        opened = sf(2026, 11, 28, 3)
        hist = IncidentHistory(opened_at=opened, priority="high")
        c = clocks(hist, opened)
        assert c["response"].due_at == sf(2026, 11, 28, 3, 15)
        assert c["response"].clock == "24x7"
        assert c["response"].immediate
        assert c["response"].duration == ACK
        # Workaround 1d = 9 h on the business calendar: all of Monday -> Mon 18:00, the
        # closing instant (not Tue 09:00).
        assert c["workaround"].due_at == sf(2026, 11, 30, 18)
        assert c["workaround"].clock == "sofia"
        assert not c["workaround"].immediate

    def test_configured_window_and_breach(self) -> None:
        opened = sf(2026, 11, 28, 3)
        hist = IncidentHistory(opened_at=opened, priority="high")
        c = clocks(hist, sf(2026, 11, 28, 3, 6), ack=5 * M)
        assert c["response"].due_at == sf(2026, 11, 28, 3, 5)
        assert c["response"].state is ClockState.BREACHED
        assert c["response"].elapsed == 6 * M

    def test_plan_without_hotline_counts_business_days(self) -> None:
        c = clocks(history("high"), MON_10, plan="standard")
        # Standard high response is 2d = 18 h: Mon 10:00 -> Wed 2 Dec 10:00.
        assert c["response"].due_at == sf(2026, 12, 2, 10)
        assert c["response"].clock == "sofia"


class TestStoppingRules:
    def test_response_stops_at_the_first_response(self) -> None:
        hist = history(
            "medium",
            (EventType.RESPONDED, sf(2026, 11, 30, 15)),
            (EventType.RESPONDED, sf(2026, 12, 2, 15)),
        )
        c = clocks(hist, sf(2026, 12, 7, 12))
        assert c["response"].state is ClockState.MET
        assert c["response"].stopped_at == sf(2026, 11, 30, 15)
        assert c["response"].elapsed == 5 * H
        assert c["response"].due_at == sf(2026, 12, 1, 10)

    def test_pause_does_not_stop_the_response_clock(self) -> None:
        hist = history("medium", (EventType.PAUSED, sf(2026, 11, 30, 11)))
        c = clocks(hist, sf(2026, 12, 1, 11))
        # Response: Mon 10-18 (8 h) + Tue 9-11 (2 h) = 10 h > 9 h, due Tue 10:00.
        assert c["response"].elapsed == 10 * H
        assert c["response"].state is ClockState.BREACHED
        # Workaround and resolution stopped at Mon 11:00 after 1 h: paused, due unknown.
        for target in ("workaround", "resolution"):
            assert c[target].state is ClockState.PAUSED
            assert c[target].elapsed == H
            assert c[target].due_at is None

    def test_pause_and_resume_shift_the_due_time(self) -> None:
        hist = history(
            "medium",
            (EventType.PAUSED, sf(2026, 11, 30, 12)),
            (EventType.RESUMED, sf(2026, 12, 2, 12)),
        )
        c = clocks(hist, sf(2026, 12, 2, 14))
        # Workaround ran Mon 10-12 and Wed 12-14: 4 h of 27 h. The 23 h left from Wed 14:00:
        # Wed 4 h, Thu 9 h, Fri 9 h (22 h), 1 h on Mon 7 Dec -> 10:00.
        assert c["workaround"].elapsed == 4 * H
        assert c["workaround"].due_at == sf(2026, 12, 7, 10)
        assert c["workaround"].state is ClockState.RUNNING
        # The response clock never paused: Mon 8 h + Tue 9 h + Wed 5 h = 22 h, due Tue 10:00.
        assert c["response"].elapsed == 22 * H
        assert c["response"].state is ClockState.BREACHED

    def test_workaround_stops_at_resolution_when_first(self) -> None:
        hist = history("medium", (EventType.RESOLVED, sf(2026, 12, 1, 12)))
        c = clocks(hist, sf(2026, 12, 10, 12))
        # Mon 10-18 (8 h) + Tue 9-12 (3 h) = 11 h; the workaround (27 h) is met.
        assert c["workaround"].state is ClockState.MET
        assert c["workaround"].stopped_at == sf(2026, 12, 1, 12)
        assert c["workaround"].elapsed == 11 * H
        assert c["resolution"].state is ClockState.MET
        assert c["resolution"].elapsed == 11 * H

    def test_workaround_stops_at_workaround_and_resolution_keeps_running(self) -> None:
        hist = history("medium", (EventType.WORKAROUND, sf(2026, 12, 1, 12)))
        c = clocks(hist, sf(2026, 12, 2, 12))
        assert c["workaround"].state is ClockState.MET
        assert c["workaround"].stopped_at == sf(2026, 12, 1, 12)
        assert c["resolution"].state is ClockState.RUNNING
        assert c["resolution"].elapsed == 8 * H + 9 * H + 3 * H

    def test_reopen_resumes_the_resolution_with_time_spent(self) -> None:
        hist = history(
            "medium",
            (EventType.RESOLVED, sf(2026, 11, 30, 12)),
            (EventType.REOPENED, sf(2026, 12, 2, 9)),
        )
        c = clocks(hist, sf(2026, 12, 2, 11))
        # 2 h before the resolution + 2 h since the reopen.
        assert c["resolution"].elapsed == 4 * H
        assert c["resolution"].state is ClockState.RUNNING
        assert c["resolution"].stopped_at is None
        # The gap Mon 12:00 -> Wed 09:00 holds 6 h + 9 h = 15 business hours, so the due time
        # moves from Fri 26 Feb 2027 10:00 by 15 h: Fri 10-18 (8 h) + Mon 1 Mar 09-16 (7 h).
        assert c["resolution"].due_at == sf(2027, 3, 1, 16)
        # The workaround was stopped for good by the first resolution.
        assert c["workaround"].state is ClockState.MET
        assert c["workaround"].stopped_at == sf(2026, 11, 30, 12)

    def test_reopened_then_paused(self) -> None:
        hist = history(
            "medium",
            (EventType.RESOLVED, sf(2026, 11, 30, 12)),
            (EventType.REOPENED, sf(2026, 12, 2, 9)),
            (EventType.PAUSED, sf(2026, 12, 2, 10)),
        )
        c = clocks(hist, sf(2026, 12, 4, 10))
        assert c["resolution"].elapsed == 3 * H
        assert c["resolution"].state is ClockState.PAUSED

    def test_resolved_while_paused(self) -> None:
        hist = history(
            "medium",
            (EventType.PAUSED, sf(2026, 11, 30, 11)),
            (EventType.RESOLVED, sf(2026, 12, 3, 11)),
        )
        c = clocks(hist, sf(2026, 12, 4, 10))
        # The clocks stood still from the pause; the resolution still stops them for good.
        assert c["resolution"].elapsed == H
        assert c["resolution"].state is ClockState.MET
        assert c["resolution"].stopped_at == sf(2026, 12, 3, 11)
        assert c["workaround"].state is ClockState.MET


class TestStates:
    def test_met_exactly_at_due(self) -> None:
        hist = history("medium", (EventType.RESPONDED, sf(2026, 12, 1, 10)))
        c = clocks(hist, sf(2026, 12, 2, 10))
        assert c["response"].due_at == sf(2026, 12, 1, 10)
        assert c["response"].state is ClockState.MET
        assert c["response"].remaining == timedelta(0)
        assert c["response"].fraction == pytest.approx(1.0)

    def test_running_exactly_at_due_is_not_yet_breached(self) -> None:
        c = clocks(history("medium"), sf(2026, 12, 1, 10))
        assert c["response"].state is ClockState.RUNNING
        assert c["response"].remaining == timedelta(0)
        c = clocks(history("medium"), sf(2026, 12, 1, 10, 0, 1))
        assert c["response"].state is ClockState.BREACHED

    def test_missed_when_stopped_after_due(self) -> None:
        hist = history("medium", (EventType.RESPONDED, sf(2026, 12, 1, 10, 1)))
        c = clocks(hist, sf(2026, 12, 2, 10))
        assert c["response"].state is ClockState.MISSED
        assert c["response"].elapsed == 9 * H + M
        assert c["response"].remaining == -M

    def test_breached_after_closing_time_due(self) -> None:
        # A due time on a closing instant (Mon 18:00): still running at 18:00, breached after.
        opened = sf(2026, 11, 28, 3)
        hist = IncidentHistory(opened_at=opened, priority="high")
        assert clocks(hist, sf(2026, 11, 30, 18))["workaround"].state is ClockState.RUNNING
        assert clocks(hist, sf(2026, 11, 30, 18, 1))["workaround"].state is ClockState.BREACHED

    def test_events_after_now_are_ignored(self) -> None:
        hist = history("medium", (EventType.RESPONDED, sf(2026, 12, 1, 9)))
        c = clocks(hist, sf(2026, 11, 30, 12))
        assert c["response"].state is ClockState.RUNNING
        assert c["response"].elapsed == 2 * H


class TestPriorityChange:
    def test_upgrade_applies_to_the_whole_history_and_breaches_at_once(self) -> None:
        change = sf(2026, 12, 2, 11)
        hist = history("low", (EventType.PRIORITY_CHANGED, change, "medium"))
        before = clocks(hist, change - M)
        # Low: response 3d -> Thu 3 Dec 10:00, running; no workaround target.
        assert before["response"].due_at == sf(2026, 12, 3, 10)
        assert before["response"].state is ClockState.RUNNING
        assert before["workaround"].state is ClockState.NONE
        after = clocks(hist, change)
        # Medium from the opening: response 1d was due Tue 1 Dec 10:00, so breached at once.
        assert after["response"].due_at == sf(2026, 12, 1, 10)
        assert after["response"].state is ClockState.BREACHED
        assert after["workaround"].due_at == sf(2026, 12, 3, 10)
        assert after["workaround"].state is ClockState.RUNNING
        # Mon 8 h + Tue 9 h + Wed 2 h = 19 h counted from the opening, not from the change.
        assert after["workaround"].elapsed == 19 * H

    def test_upgrade_to_high_uses_the_hotline_window(self) -> None:
        hist = history("medium", (EventType.PRIORITY_CHANGED, sf(2026, 11, 30, 10, 5), "high"))
        c = clocks(hist, sf(2026, 11, 30, 10, 5))
        assert c["response"].due_at == sf(2026, 11, 30, 10, 15)
        assert c["response"].state is ClockState.RUNNING
        c = clocks(hist, sf(2026, 11, 30, 10, 20))
        assert c["response"].state is ClockState.BREACHED

    def test_downgrade_removes_targets(self) -> None:
        hist = history("medium", (EventType.PRIORITY_CHANGED, sf(2026, 12, 1, 12), "cosmetic"))
        c = clocks(hist, sf(2026, 12, 2, 12))
        assert c["workaround"].state is ClockState.NONE
        assert c["resolution"].state is ClockState.NONE
        # Cosmetic response 3d: due Thu 3 Dec 10:00; running.
        assert c["response"].state is ClockState.RUNNING


class TestOverrides:
    def test_premium_account_override(self) -> None:
        plan = BUILTIN_PLANS["premium"].with_overrides(
            {"medium": {"response": parse_duration("4h"), "workaround": None}}
        )
        c = clocks(history("medium"), MON_10, plan=plan)
        assert c["response"].due_at == sf(2026, 11, 30, 14)
        assert c["workaround"].state is ClockState.NONE
        # Resolution keeps Enterprise's 60d.
        assert c["resolution"].due_at == sf(2027, 2, 26, 10)

    def test_fractional_days(self) -> None:
        plan = BUILTIN_PLANS["enterprise"].with_overrides(
            {"medium": {"response": parse_duration("0.5d")}}
        )
        # Half of a 9 h day is 4 h 30 min: Mon 10:00 -> 14:30.
        assert clocks(history("medium"), MON_10, plan=plan)["response"].due_at == sf(
            2026, 11, 30, 14, 30
        )
