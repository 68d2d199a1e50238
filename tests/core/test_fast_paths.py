"""The scan's shortcuts give exactly what the general code gives (hypothesis).

The daemon evaluates every open incident at start and after a reload, so a few hot paths are
written for speed: the flat history replay (``IncidentHistory.state``), the no-event shortcut of
``clock_runs``, the SLA summary the incident row stores (``sla.summary_of``), and ``assess``
(the decision and that summary from one replay, with memoised clock lengths). Each is compared
here with the straightforward computation over random histories, instants, plans and priorities.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.config.loader import holiday_checker
from slawatch.core.calendar import BusinessCalendar, parse_interval
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory, IncidentState, _apply
from slawatch.core.plans import BUILTIN_PLANS, PRIORITIES
from slawatch.core.policy import (
    IncidentSnapshot,
    Person,
    PolicyContext,
    Roles,
    Rotation,
    assess,
    decide,
)
from slawatch.core.sla import ClockRun, ClockState, clock_runs, evaluate, summary_of

SOFIA = BusinessCalendar(
    "sofia",
    "Europe/Sofia",
    {d: [parse_interval("09:00-18:00")] for d in ("mon", "tue", "wed", "thu", "fri")},
    holiday_checker=holiday_checker("BG"),
)
ALWAYS = BusinessCalendar.always_open()
ACK = timedelta(minutes=15)
START = datetime(2026, 3, 20, tzinfo=UTC)  # DST in Sofia starts on 2026-03-29
CTX = PolicyContext(
    people={},
    roles=Roles(support_lead=None, support_manager=None, team_channel="#support"),
    oncall=Rotation(),
    calendars={"24x7": ALWAYS, "sofia": SOFIA},
    default_calendar="sofia",
    hotline_ack_within=ACK,
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[IncidentHistory, datetime]:
    """Any sequence of events (valid or not: the replay must not care), ties included, and an
    instant anywhere from before the opening to well after the last event."""
    opened = START + timedelta(minutes=draw(st.integers(0, 40 * 24 * 60)))
    at = opened
    events = []
    for _ in range(draw(st.integers(0, 8))):
        at += timedelta(minutes=draw(st.sampled_from([0, 1, 45, 300, 2000, 9000])))
        kind = draw(st.sampled_from(list(EventType)))
        events.append(
            IncidentEvent(
                kind,
                at,
                by=draw(st.sampled_from([None, "bob"])),
                priority=draw(st.sampled_from(PRIORITIES))
                if kind is EventType.PRIORITY_CHANGED
                else None,
            )
        )
    history = IncidentHistory(
        opened_at=opened,
        priority=draw(st.sampled_from(PRIORITIES)),
        events=tuple(events),
        via_hotline=draw(st.booleans()),
    )
    now = opened + timedelta(minutes=draw(st.integers(-60, 60 * 24 * 60)))
    return history, now


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(case=histories())
def test_flat_replay_equals_the_validators_fold(case: tuple[IncidentHistory, datetime]) -> None:
    history, now = case
    for until in (now, None):
        expected = IncidentState(priority=history.priority)
        for event in history.events if until is None else history.up_to(until):
            expected = _apply(expected, event)
        assert history.state(until) == expected


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(case=histories())
def test_clock_runs_shortcut_equals_the_replay(case: tuple[IncidentHistory, datetime]) -> None:
    history, now = case
    quiet = replace(history, events=())
    # A note before now takes the general replay and changes no clock.
    noted = replace(history, events=(IncidentEvent(EventType.NOTE, history.opened_at),))
    at = max(now, history.opened_at)
    assert clock_runs(quiet, at) == clock_runs(noted, at)
    assert clock_runs(quiet, at)["response"] == ClockRun(((history.opened_at, None),), None, False)


def _expected_summary(
    history: IncidentHistory, plan_name: str, now: datetime
) -> tuple[datetime | None, bool]:
    statuses = evaluate(
        history, BUILTIN_PLANS[plan_name], SOFIA, now, hotline_ack_within=ACK, always_open=ALWAYS
    )
    live = [
        s.due_at
        for s in statuses
        if s.due_at is not None and s.state in (ClockState.RUNNING, ClockState.BREACHED)
    ]
    return min(live, default=None), any(s.state is ClockState.BREACHED for s in statuses)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(case=histories(), plan_name=st.sampled_from(sorted(BUILTIN_PLANS)))
def test_summary_equals_the_statuses(
    case: tuple[IncidentHistory, datetime], plan_name: str
) -> None:
    history, now = case
    plan = BUILTIN_PLANS[plan_name]
    # ``now`` drawn, and exactly at each due instant (due is not yet breached) and just after.
    statuses = evaluate(history, plan, SOFIA, now, hotline_ack_within=ACK, always_open=ALWAYS)
    dues = [s.due_at for s in statuses if s.due_at is not None]
    for at in (now, *dues, *(d + timedelta(microseconds=1) for d in dues)):
        got = summary_of(
            clock_runs(history, at),
            history.priority_at(at),
            plan,
            SOFIA,
            at,
            hotline_ack_within=ACK,
            always_open=ALWAYS,
        )
        assert got == _expected_summary(history, plan_name, at)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(
    case=histories(),
    plan_name=st.sampled_from(sorted(BUILTIN_PLANS)),
    sent_all=st.booleans(),
)
def test_assess_equals_decide_and_the_summary(
    case: tuple[IncidentHistory, datetime], plan_name: str, sent_all: bool
) -> None:
    history, now = case
    incident = IncidentSnapshot("7", history, BUILTIN_PLANS[plan_name], SOFIA, account="acme")
    sent: frozenset[str] = frozenset()
    if sent_all:  # what a later evaluation sees: everything decided so far is in the outbox
        first = decide(incident, CTX, now)
        sent = frozenset(n.dedupe_key for n in (*first.notices, *first.skipped))
    evaluation, summary = assess(incident, CTX, now, sent)
    assert evaluation == decide(incident, CTX, now, sent)
    assert summary == _expected_summary(history, plan_name, now)


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(
    cases=st.lists(
        st.tuples(
            histories(),
            st.sampled_from(sorted(BUILTIN_PLANS)),
            st.sampled_from([None, "maria", "ivan", "ghost"]),  # CSM
            st.sampled_from([None, "ivan", "someone@example.com"]),  # assignee
            st.sampled_from(["acme", "globex"]),
        ),
        min_size=2,
        max_size=6,
    )
)
def test_memos_shared_across_incidents_change_no_decision(
    cases: list[tuple[tuple[IncidentHistory, datetime], str, str | None, str | None, str]],
) -> None:
    """The scan evaluates many incidents at one instant with one context, which memoises
    recipients per rule (shared unless the rule reads the CSM or the assignee), clock lengths and
    thresholds per plan: each incident's decision must equal its decision in a fresh context."""
    people = {
        name: Person(name=name, email=f"{name}@example.com", slack=f"U{name}", calendar="sofia")
        for name in ("maria", "ivan", "lead", "manager")
    }
    shared = replace(
        CTX,
        people=people,
        roles=Roles(support_lead="lead", support_manager="manager", team_channel="#support"),
    )
    now = max(case[0][1] for case in cases)
    for number, ((history, _), plan_name, csm, assignee, account) in enumerate(cases):
        incident = IncidentSnapshot(
            str(number), history, BUILTIN_PLANS[plan_name], SOFIA, account, csm, assignee
        )
        fresh = replace(shared)  # a new memo
        assert assess(incident, shared, now) == assess(incident, fresh, now)
