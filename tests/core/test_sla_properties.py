"""Invariants of the SLA clock over random valid incident histories (hypothesis).

The hand-computed cases in ``test_sla.py`` pin each rule; this checks that the numbers a status
carries always agree with each other and with the calendar, whatever the history:

* ``remaining == duration - elapsed`` and ``fraction == elapsed / duration``;
* the state matches the business time used: running/paused -> under the target; breached ->
  past the due instant and the whole target used; met -> no more than the target used by the
  stop; missed -> stopped after the due instant with the whole target used;
* a known ``due_at`` is the instant at which the clock's business time reaches the target;
* elapsed never decreases as ``now`` moves on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.config.loader import holiday_checker
from slawatch.core.calendar import WEEKDAYS, BusinessCalendar, parse_interval
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory, add_event
from slawatch.core.plans import BUILTIN_PLANS, PRIORITIES
from slawatch.core.sla import ClockState, clock_runs, evaluate

SOFIA = ZoneInfo("Europe/Sofia")
CAL = BusinessCalendar(
    "sofia",
    SOFIA,
    {d: [parse_interval("09:00-18:00")] for d in WEEKDAYS[:5]},
    holiday_checker=holiday_checker("BG"),
)
ALWAYS = BusinessCalendar.always_open()
ACK = timedelta(minutes=15)
START = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = [
    EventType.RESPONDED,
    EventType.WORKAROUND,
    EventType.RESOLVED,
    EventType.REOPENED,
    EventType.PAUSED,
    EventType.RESUMED,
    EventType.PRIORITY_CHANGED,
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[IncidentHistory, datetime]:
    opened = START + timedelta(minutes=draw(st.integers(0, 365 * 24 * 60)))
    # High and medium have all three targets, so they are drawn more often.
    first = draw(st.sampled_from(["high", "medium", "high", "medium", *PRIORITIES]))
    hist = IncidentHistory(opened_at=opened, priority=first)
    at = opened
    for _ in range(draw(st.integers(0, 10))):
        at += timedelta(minutes=draw(st.integers(1, 5 * 24 * 60)))
        state = hist.state()
        if state.resolved:
            kinds = [EventType.REOPENED, EventType.PRIORITY_CHANGED]
        else:
            kinds = [k for k in KINDS if k is not EventType.REOPENED]
            kinds.remove(EventType.RESUMED if not state.paused else EventType.PAUSED)
        kind = draw(st.sampled_from(kinds))
        priority = draw(st.sampled_from(PRIORITIES)) if kind is EventType.PRIORITY_CHANGED else None
        hist, _ = add_event(hist, IncidentEvent(kind, at, priority=priority), at)
    now = at + timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
    return hist, now


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(case=histories(), plan=st.sampled_from(sorted(BUILTIN_PLANS)))
def test_status_numbers_agree(case: tuple[IncidentHistory, datetime], plan: str) -> None:
    hist, now = case
    statuses = evaluate(
        hist, BUILTIN_PLANS[plan], CAL, now, hotline_ack_within=ACK, always_open=ALWAYS
    )
    runs = clock_runs(hist, now)
    for status in statuses:
        if status.state is ClockState.NONE:
            assert status.duration is None and status.due_at is None
            continue
        duration, elapsed = status.duration, status.elapsed
        assert duration is not None and status.remaining == duration - elapsed
        if duration:
            assert status.fraction == elapsed / duration
        cal = ALWAYS if status.immediate else CAL
        assert status.clock == cal.name
        run = runs[status.target]
        if status.state in (ClockState.RUNNING, ClockState.PAUSED):
            assert elapsed <= duration
            assert status.due_at is None or now <= status.due_at
        elif status.state is ClockState.BREACHED:
            assert status.due_at is not None and now > status.due_at
            assert elapsed >= duration
        elif status.state is ClockState.MET:
            assert status.stopped_at is not None and elapsed <= duration
        elif status.state is ClockState.MISSED:
            assert status.stopped_at is not None and status.due_at is not None
            assert status.stopped_at > status.due_at and elapsed >= duration
        if status.due_at is not None and status.stopped_at is None and run.running:
            # A running clock's due instant is where its business time reaches the target: the
            # clock's segments, cut at due_at, hold exactly the target.
            due = status.due_at
            at_due = sum(
                (cal.elapsed(s, min(e or due, due)) for s, e in run.segments if s < due),
                timedelta(0),
            )
            assert abs(at_due - duration) <= timedelta(microseconds=1), (hist, now, status)


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(case=histories(), later=st.integers(1, 30 * 24 * 60))
def test_elapsed_never_decreases(case: tuple[IncidentHistory, datetime], later: int) -> None:
    hist, now = case
    plan = BUILTIN_PLANS["enterprise"]
    first = evaluate(hist, plan, CAL, now, hotline_ack_within=ACK, always_open=ALWAYS)
    second = evaluate(
        hist,
        plan,
        CAL,
        now + timedelta(minutes=later),
        hotline_ack_within=ACK,
        always_open=ALWAYS,
    )
    for a, b in zip(first, second, strict=True):
        assert b.elapsed >= a.elapsed, (a, b)
