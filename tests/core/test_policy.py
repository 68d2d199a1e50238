"""Escalation decisions as pure functions of (incident, context, now, sent keys)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from slawatch.config.loader import holiday_checker
from slawatch.core.calendar import BusinessCalendar, parse_interval
from slawatch.core.delivery import Notice
from slawatch.core.durations import parse_duration
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory
from slawatch.core.plans import BUILTIN_PLANS, Plan
from slawatch.core.policy import (
    DEFAULT_RULES,
    Evaluation,
    IncidentSnapshot,
    Person,
    PolicyContext,
    Roles,
    Rotation,
    Rule,
    decide,
    parse_when,
    rule_step,
)

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday
ALWAYS = BusinessCalendar.always_open()
SOFIA = BusinessCalendar(
    "sofia",
    "Europe/Sofia",
    {d: [parse_interval("09:00-18:00")] for d in ("mon", "tue", "wed", "thu", "fri")},
    holiday_checker=holiday_checker("BG"),
)
PEOPLE = {
    "maria": Person(
        name="Maria",
        email="maria@example.com",
        slack="U0MARIA",
        phone="+359881000001",
        calendar="sofia",
    ),
    "ivan": Person(
        name="Ivan",
        email="ivan@example.com",
        slack="U0IVAN",
        phone="+359881000002",
        calendar="sofia",
    ),
    "lead": Person(name="Lead", email="lead@example.com", calendar="sofia"),
    "manager": Person(
        name="Manager", email="manager@example.com", phone="+359881000009", calendar="sofia"
    ),
    "night": Person(name="Night owl", email="owl@example.com", slack="U0OWL", calendar="24x7"),
}
ROLES = Roles(support_lead="lead", support_manager="manager", team_channel="#support")


def ctx(**changes: object) -> PolicyContext:
    base = PolicyContext(
        people=PEOPLE,
        roles=ROLES,
        oncall=Rotation(people=("ivan", "maria"), timezone="Europe/Sofia"),
        calendars={"24x7": ALWAYS, "sofia": SOFIA},
        default_calendar="24x7",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def plan(name: str = "standard", **cells: str) -> Plan:
    """A built-in plan whose medium row is overridden (short targets for readable tests)."""
    overrides = {"medium": {k: None if v == "-" else parse_duration(v) for k, v in cells.items()}}
    return BUILTIN_PLANS[name].with_overrides(overrides)


def incident(
    p: Plan,
    *,
    events: tuple[IncidentEvent, ...] = (),
    priority: str = "medium",
    calendar: BusinessCalendar = ALWAYS,
    csm: str | None = None,
    assignee: str | None = None,
    opened: datetime = T0,
    hotline: bool = False,
) -> IncidentSnapshot:
    history = IncidentHistory(
        opened_at=opened, priority=priority, events=events, via_hotline=hotline
    )
    return IncidentSnapshot("42", history, p, calendar, account="acme", csm=csm, assignee=assignee)


def run_daemon(
    inc: IncidentSnapshot,
    c: PolicyContext,
    start: datetime,
    end: datetime,
    sent: set[str] | None = None,
    **kw: object,
) -> list[Notice]:
    """Evaluate like a perfect daemon: at every next_check_at until ``end``."""
    sent = set() if sent is None else sent
    out: list[Notice] = []
    now = start
    for _ in range(500):
        ev = decide(inc, c, now, sent, **kw)  # type: ignore[arg-type]
        out.extend(ev.notices)
        sent |= {n.dedupe_key for n in (*ev.notices, *ev.skipped)}
        if ev.next_check_at is None or ev.next_check_at > end:
            break
        assert ev.next_check_at > now
        now = ev.next_check_at
    return out


def summary(notices: list[Notice]) -> list[tuple[float, str, str, str, str, int]]:
    return [
        ((n.at - T0).total_seconds() / 3600, n.stage, n.step, n.recipient, n.channel, n.repetition)
        for n in notices
    ]


# ------------------------------------------------------------------------- parsing, steps
def test_parse_when() -> None:
    assert parse_when("75%") == ("fraction", 0.75)
    kind, value = parse_when("-2h")
    assert kind == "before" and value == parse_duration("2h")
    assert parse_when("breach")[0] == "after"
    with pytest.raises(ValueError):
        parse_when("2h")


def test_rule_step_is_the_name_or_derived_from_content() -> None:
    assert rule_step(DEFAULT_RULES[0]) == "team-50"
    assert rule_step(Rule(when="-2h", notify=("csm", "#ops"))) == "-2h:csm,#ops"


# ----------------------------------------------------------------------- default policy
def test_default_policy_on_a_plan_without_csm_each_step_fires_on_its_own() -> None:
    inc = incident(plan("standard", response="4h"))
    got = summary(run_daemon(inc, ctx(), T0, T0 + timedelta(hours=30)))
    response = [g for g in got if g[0] <= 29]
    assert response == [
        (2.0, "warning", "team-50", "#support", "slack", 0),
        # the plan has no CSM: "csm|team" falls back to the team channel
        (3.0, "warning", "csm-75", "#support", "slack", 0),
        (3.6, "warning", "lead-90", "lead", "email", 0),
        (3.6, "warning", "lead-90", "lead", "slack", 0),
        (4.0, "breach", "breach-team", "#support", "slack", 0),
        (4.0, "breach", "breach-manager", "manager", "email", 0),
        # no breach-csm notice at all on a plan without CSM; repeats every (24x7) day
        (28.0, "overdue", "breach-team", "#support", "slack", 1),
        (28.0, "overdue", "breach-manager", "manager", "email", 1),
    ]
    assert all(g[1] != "catchup" for g in got)


def test_breach_rules_sharing_a_threshold_all_fire_including_the_csm() -> None:
    inc = incident(plan("enterprise", response="4h"), csm="maria")
    c = ctx(people={**PEOPLE, "maria": replace(PEOPLE["maria"], calendar=None)})
    notices = run_daemon(inc, c, T0, T0 + timedelta(hours=5))
    at_breach = {(n.step, n.recipient, n.channel) for n in notices if n.stage == "breach"}
    assert at_breach == {
        ("breach-team", "#support", "slack"),
        ("breach-manager", "manager", "email"),
        ("breach-csm", "maria", "slack"),
    }
    csm_75 = [n for n in notices if n.step == "csm-75"]
    assert [(n.recipient, n.at) for n in csm_75] == [("maria", T0 + timedelta(hours=3))]


def test_fraction_before_and_after_rules_and_filters() -> None:
    rules = (
        Rule(name="early", when="-1h", notify=("#early",), targets=("response",)),
        Rule(name="late", when="+30m", notify=("#late",), priorities=("high",)),
        Rule(name="ent-only", when="10%", notify=("#ent",), plans=("enterprise",)),
    )
    inc = incident(plan("standard", response="4h"))
    got = summary(run_daemon(inc, ctx(rules=rules), T0, T0 + timedelta(hours=10)))
    assert got == [(3.0, "warning", "early", "#early", "slack", 0)]
    # "+30m" is after the breach: stage overdue; matches on high priority only
    high = replace(BUILTIN_PLANS["standard"])
    inc_high = incident(
        high.with_overrides({"high": {"response": parse_duration("1h")}}), priority="high"
    )
    got = summary(run_daemon(inc_high, ctx(rules=rules), T0, T0 + timedelta(hours=3)))
    assert (1.5, "overdue", "late", "#late", "slack", 0) in got


def test_a_lead_longer_than_the_target_never_fires() -> None:
    rules = (Rule(name="x", when="-5h", notify=("#x",), targets=("response",)),)
    inc = incident(plan("standard", response="4h"))
    assert run_daemon(inc, ctx(rules=rules), T0, T0 + timedelta(hours=10)) == []
    # only the response due time is left to watch
    assert decide(inc, ctx(rules=rules), T0).next_check_at == T0 + timedelta(hours=4)


# ------------------------------------------------------------------- stop conditions
def test_resolved_incident_decides_nothing_and_needs_no_check() -> None:
    events = (IncidentEvent(EventType.RESOLVED, T0 + timedelta(hours=1)),)
    inc = incident(plan("standard", response="4h"), events=events)
    ev = decide(inc, ctx(), T0 + timedelta(hours=10))
    assert ev == Evaluation((), (), None)


def test_met_target_escalates_no_further() -> None:
    events = (IncidentEvent(EventType.RESPONDED, T0 + timedelta(hours=2, minutes=30)),)
    inc = incident(plan("standard", response="4h", workaround="-", resolution="-"), events=events)
    notices = run_daemon(inc, ctx(), T0, T0 + timedelta(days=3))
    assert [n.step for n in notices] == ["team-50"]
    ev = decide(inc, ctx(), T0 + timedelta(hours=5))
    assert ev.notices == () and ev.next_check_at is None


def test_paused_clock_holds_its_thresholds_and_next_check() -> None:
    p = plan("standard", response="-", workaround="4h", resolution="-")
    events = (IncidentEvent(EventType.PAUSED, T0 + timedelta(hours=1)),)
    inc = incident(p, events=events)
    ev = decide(inc, ctx(), T0 + timedelta(hours=30))
    assert ev.notices == () and ev.next_check_at is None
    resumed = (*events, IncidentEvent(EventType.RESUMED, T0 + timedelta(hours=31)))
    ev = decide(incident(p, events=resumed), ctx(), T0 + timedelta(hours=31))
    # 50% = 2h of clock time: 1h before the pause + 1h after resuming
    assert ev.next_check_at == T0 + timedelta(hours=32)


def test_next_check_is_the_earliest_future_threshold() -> None:
    inc = incident(plan("standard", response="4h", workaround="10h", resolution="-"))
    assert decide(inc, ctx(), T0).next_check_at == T0 + timedelta(hours=2)
    sent = {n.dedupe_key for n in decide(inc, ctx(), T0 + timedelta(hours=2)).notices}
    ev = decide(inc, ctx(), T0 + timedelta(hours=2), sent)
    assert ev.notices == ()
    assert ev.next_check_at == T0 + timedelta(hours=3)


# ------------------------------------------------------------------------------ catch-up
def test_catch_up_after_downtime_sends_one_level_the_most_severe() -> None:
    inc = incident(plan("standard", response="4h", workaround="-", resolution="-"))
    c = ctx()
    first = decide(inc, c, T0 + timedelta(hours=2))
    sent = {n.dedupe_key for n in first.notices}
    assert [n.step for n in first.notices] == ["team-50"]
    # down from 2h to 4h30: 75%, 90% and the breach were all missed
    now = T0 + timedelta(hours=4, minutes=30)
    ev = decide(inc, c, now, sent, last_evaluated_at=T0 + timedelta(hours=2))
    assert {(n.stage, n.covers, n.step, n.recipient, n.channel) for n in ev.notices} == {
        ("catchup", "breach", "breach-team", "#support", "slack"),
        ("catchup", "breach", "breach-manager", "manager", "email"),
    }
    assert all(n.missed == ev.notices[0].missed for n in ev.notices)
    assert "response:csm-75#0" in ev.notices[0].missed
    assert {n.step for n in ev.skipped} == {"csm-75", "lead-90"}
    assert all(n.reason.startswith("superseded by catch-up") for n in ev.skipped)
    # recorded (sent + dropped): the next evaluation decides nothing more until the repeat
    sent |= {n.dedupe_key for n in (*ev.notices, *ev.skipped)}
    again = decide(inc, c, now + timedelta(seconds=30), sent)
    assert again.notices == () and again.skipped == ()
    assert again.next_check_at == T0 + timedelta(hours=28)


def test_missed_repeats_are_not_back_filled() -> None:
    inc = incident(plan("standard", response="4h", workaround="-", resolution="-"))
    c = ctx()
    sent: set[str] = set()
    run_daemon(inc, c, T0, T0 + timedelta(hours=4), sent)  # up to and including the breach
    now = T0 + timedelta(days=5, hours=5)  # down for five days: repeats 1..5 crossed
    ev = decide(inc, c, now, sent)
    assert {(n.step, n.repetition, n.stage) for n in ev.notices} == {
        ("breach-team", 5, "overdue"),
        ("breach-manager", 5, "overdue"),
    }
    assert ev.skipped == ()  # older repeats are never even decided
    assert ev.next_check_at == T0 + timedelta(days=6, hours=4)


def test_catch_up_spans_targets_and_picks_the_most_severe() -> None:
    p = plan("standard", response="4h", workaround="8h", resolution="-")
    inc = incident(p)
    ev = decide(inc, ctx(), T0 + timedelta(hours=7, minutes=15))  # never evaluated before
    # response breached at 4h (severity breach) beats workaround 90% at 7h12
    assert {(n.target, n.covers) for n in ev.notices} == {("response", "breach")}
    assert len({n.dedupe_key for n in ev.notices}) == 2


def test_priority_upgrade_breached_at_once_gets_one_catch_up() -> None:
    p = BUILTIN_PLANS["standard"].with_overrides(
        {"high": {"response": parse_duration("1h")}, "medium": {"response": parse_duration("8h")}}
    )
    upgrade = IncidentEvent(EventType.PRIORITY_CHANGED, T0 + timedelta(hours=3), priority="high")
    inc = incident(p, events=(upgrade,))
    sent = {n.dedupe_key for n in run_daemon(incident(p), ctx(), T0, T0 + timedelta(hours=3))}
    ev = decide(inc, ctx(), T0 + timedelta(hours=3), sent)
    stages = {n.stage for n in ev.notices}
    assert stages == {"catchup"} and {n.covers for n in ev.notices} == {"breach"}
    assert len(ev.notices) == 2  # team slack + manager email, nothing else


def test_several_levels_due_within_grace_all_fire() -> None:
    rules = (
        Rule(name="a", when="50%", notify=("#a",)),
        Rule(name="b", when="51%", notify=("#b",)),
    )
    inc = incident(plan("standard", response="4h", workaround="-", resolution="-"))
    ev = decide(inc, ctx(rules=rules), T0 + timedelta(hours=2, minutes=3))
    assert sorted(n.step for n in ev.notices) == ["a", "b"]
    assert all(n.stage == "warning" for n in ev.notices)


# ------------------------------------------------------------------- recipients, holds
def test_csm_or_team_picks_the_csm_when_the_plan_has_one() -> None:
    inc = incident(plan("enterprise", response="4h"), csm="maria")
    ev = decide(
        inc,
        ctx(people={**PEOPLE, "maria": replace(PEOPLE["maria"], calendar=None)}),
        T0 + timedelta(hours=3),
    )
    assert [n.recipient for n in ev.notices if n.step == "csm-75"] == ["maria"]


def test_enterprise_account_without_csm_is_reported_not_silent() -> None:
    inc = incident(plan("enterprise", response="4h"), csm=None)
    ev = decide(inc, ctx(), T0 + timedelta(hours=4))
    reasons = [n.reason for n in ev.skipped if n.step == "breach-csm"]
    assert reasons and "has no CSM" in reasons[0]


def test_delivery_hours_hold_for_people_not_for_channels() -> None:
    # threshold Saturday 2026-11-07 12:00 Sofia; maria's calendar (sofia) opens Monday 09:00
    saturday_noon = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)
    rules = (
        Rule(name="p", when="50%", notify=("maria", "#support"), channels=("slack",)),
        Rule(name="any", when="50%", notify=("maria",), channels=("email",), anytime=True),
        Rule(name="sms", when="50%", notify=("maria",), channels=("sms",)),
    )
    inc = incident(plan("standard", response="4h"), opened=saturday_noon - timedelta(hours=2))
    ev = decide(inc, ctx(rules=rules), saturday_noon)
    holds = {(n.step, n.recipient, n.channel): n.not_before for n in ev.notices}
    monday_9 = datetime(2026, 11, 9, 7, 0, tzinfo=UTC)
    assert holds == {
        ("p", "maria", "slack"): monday_9,
        ("p", "#support", "slack"): None,
        ("any", "maria", "email"): None,
        ("sms", "maria", "sms"): None,
    }
    held = next(n for n in ev.notices if n.not_before)
    assert held.send_at == monday_9 and "delivery hours" in held.reason


def test_holiday_hold_and_default_calendar_for_people_without_one() -> None:
    # Christmas Eve .. 28 December are closed in Bulgaria in 2026 (26th falls on a Saturday,
    # substituted on Monday the 28th); a threshold on the 25th waits until the 29th, 09:00.
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    rules = (Rule(name="p", when="50%", notify=("maria", "lead2")),)
    people = {**PEOPLE, "lead2": Person(email="l2@example.com", slack="U0L2")}
    c = ctx(rules=rules, people=people, default_calendar="sofia")
    inc = incident(plan("standard", response="4h"), opened=christmas - timedelta(hours=2))
    ev = decide(inc, c, christmas)
    expected = SOFIA.next_open(christmas)
    assert expected.astimezone(UTC) == datetime(2026, 12, 29, 7, 0, tzinfo=UTC)
    assert {n.recipient: n.not_before for n in ev.notices} == {"maria": expected, "lead2": expected}


def test_oncall_recipients_follow_the_rotation_and_raw_assignees() -> None:
    rules = (
        Rule(name="oc", when="50%", notify=("oncall", "oncall:secondary"), anytime=True),
        Rule(name="as", when="50%", notify=("assignee",), channels=("email", "sms")),
    )
    inc = incident(plan("standard", response="4h"), assignee="someone@example.com")
    ev = decide(inc, ctx(rules=rules), T0 + timedelta(hours=2))
    got = {(n.step, n.recipient, n.channel) for n in ev.notices}
    assert ("as", "someone@example.com", "email") in got
    assert {r for s, r, _ in got if s == "oc"} == {"ivan", "maria"}
    undeliverable = [n for n in ev.skipped if n.step == "as"]
    assert [(n.channel, "cannot be reached by sms" in n.reason) for n in undeliverable] == [
        ("sms", True)
    ]


def test_lead_without_slack_is_reached_through_email_lookup() -> None:
    # lead has no slack id: the Slack message goes to the email (users.lookupByEmail)
    inc = incident(plan("standard", response="4h"))
    ev = decide(inc, ctx(), T0 + timedelta(hours=3, minutes=36))
    assert {(n.recipient, n.channel) for n in ev.notices} == {("lead", "email"), ("lead", "slack")}


# ------------------------------------------------------------------------------- dedupe
def test_dedupe_keys_are_stable_and_unique_over_a_whole_timeline() -> None:
    inc = incident(plan("enterprise", response="4h", workaround="1d", resolution="3d"), csm="maria")
    a = run_daemon(inc, ctx(), T0, T0 + timedelta(days=10))
    b = run_daemon(inc, ctx(), T0, T0 + timedelta(days=10))
    keys = [n.dedupe_key for n in a]
    assert keys == [n.dedupe_key for n in b]
    assert len(keys) == len(set(keys)) > 20
    assert keys[0] == "42|response|team-50|0|#support|slack"


def test_same_evaluation_twice_is_idempotent_given_sent_keys() -> None:
    inc = incident(plan("standard", response="4h"))
    now = T0 + timedelta(hours=4)
    first = decide(inc, ctx(), now)
    sent = {n.dedupe_key for n in (*first.notices, *first.skipped)}
    assert decide(inc, ctx(), now, sent).notices == ()


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        decide(incident(plan()), ctx(), datetime(2026, 11, 2, 8, 0))


def test_empty_rules_disable_escalations_but_not_paging() -> None:
    p = BUILTIN_PLANS["enterprise"]
    inc = incident(p, priority="high", hotline=True)
    ev = decide(inc, ctx(rules=()), T0 + timedelta(hours=1))
    assert {n.stage for n in ev.notices} == {"page"}
    assert {n.stage for n in decide(inc, ctx(), T0 + timedelta(hours=1)).notices} > {"page"}


def test_hotline_incident_after_downtime_one_page_per_tier_and_one_catch_up() -> None:
    inc = incident(BUILTIN_PLANS["enterprise"], priority="high", hotline=True, csm="maria")
    c = ctx(people={**PEOPLE, "maria": replace(PEOPLE["maria"], calendar=None)})
    first = decide(inc, c, T0)
    assert [(n.stage, n.recipient) for n in first.notices] == [("page", "ivan")]
    sent = {n.dedupe_key for n in first.notices}
    ev = decide(inc, c, T0 + timedelta(minutes=47), sent, last_evaluated_at=T0)
    pages = [n for n in ev.notices if n.stage == "page"]
    assert sorted((n.step, n.repetition) for n in pages) == [
        ("page:manager", 3),
        ("page:primary", 9),
        ("page:secondary", 6),
    ]
    assert ev.notices[: len(pages)] == tuple(pages)  # urgent pages first
    others = [n for n in ev.notices if n.stage != "page"]
    assert {(n.stage, n.covers, n.recipient, n.channel) for n in others} == {
        ("catchup", "breach", "#support", "slack"),
        ("catchup", "breach", "manager", "email"),
        ("catchup", "breach", "maria", "slack"),
    }
    assert all("last evaluated" in n.reason for n in others)
    assert {n.step for n in ev.skipped} == {"team-50", "csm-75", "lead-90"}
    assert ev.next_check_at == T0 + timedelta(minutes=50)
