"""Escalation policy: which messages an incident calls for at ``now``, and when to look again.

The one entry point is :func:`decide`. It is pure: the runtime passes the incident (history,
plan, calendar, CSM, assignee), the :class:`PolicyContext` built from the configuration
(``slawatch.config.policy_context.policy_context(settings)``), ``now`` and the dedupe keys already
in the outbox for this incident; it gets back an :class:`Evaluation`:

* ``notices``: what to enqueue now (escalations and hotline pages), each with its reason;
* ``skipped``: decisions that will not be sent (superseded by a catch-up, or undeliverable: no
  CSM, no phone...); record them as ``dropped`` with their ``reason`` so they are not decided
  again (their keys then are in ``sent_keys``);
* ``next_check_at``: the earliest future threshold, due time or page; ``None`` when nothing more
  can happen without a new event (resolved, every target stopped, or clocks paused).

Rules (``[[escalation.rules]]``, or :data:`DEFAULT_RULES` when the section has none):

* ``when``: ``"75%"`` of the target consumed; ``"-2h"`` of business time before due; ``"+0m"``
  (``"breach"``) or ``"+4h"`` after due. A ``"-X"`` lead longer than the target never fires.
* ``targets``, ``priorities``, ``plans``: filters (the current priority; the plan in force).
* ``notify``: ``assignee``, ``csm``, ``team``, ``support_lead``, ``support_manager``, ``oncall``
  (= ``oncall:primary``), ``oncall:secondary``, a person id, a ``#channel``, or ``"a|b"``: the
  first of them that resolves. ``csm`` resolves to nothing on plans without a CSM (quietly).
* ``channels``: ``slack``, ``email``, ``sms``; a ``#channel`` only takes Slack.
* ``repeat``: after the breach, every ``repeat`` of business time on the target's clock while
  the target stays unmet. Only the latest repetition is ever decided: missed repeats are not
  back-filled.
* ``anytime``: send Slack and email to people at once instead of holding them until the
  recipient's calendar (``people.X.calendar``, else the default calendar) is open. Channel posts
  and SMS are never held.

Thresholds are instants on the target's clock (:meth:`slawatch.core.sla.ClockRun.instant_at`):
business time on the account's calendar, or wall-clock 24x7 for the ``immediate`` hotline
response. A clock that has stopped (target met or missed) escalates no further; a paused clock
holds its future thresholds.

Stable ids: a rule's ``step`` is its ``name``, else ``"<when>:<notify,...>"``, so reordering
rules or adding one does not re-send what was already sent.

Catch-up (:func:`slawatch.core.delivery.select_catch_up`): when several thresholds of one
incident are due and unsent and one of them is older than ``ctx.catch_up_grace`` (downtime, a
late import, a priority upgrade breached at once, a new rule), only the most severe threshold is
sent, to all its recipients, as stage ``catchup``; the rest come back in ``skipped``. Hotline
pages (:mod:`slawatch.core.paging`) are decided separately and never merged into a catch-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal, Protocol, cast

from slawatch.core.calendar import BusinessCalendar
from slawatch.core.delivery import (
    Notice,
    PersonLike,
    address_for,
    select_catch_up,
    severity,
)
from slawatch.core.durations import Duration, format_duration, parse_duration
from slawatch.core.incident import IncidentHistory
from slawatch.core.oncall import OncallLike, oncall_at
from slawatch.core.paging import pages
from slawatch.core.plans import PLAN_NAMES, PRIORITIES, TARGETS, Plan
from slawatch.core.sla import ClockRun, clock_runs, summary_of

__all__ = [
    "DEFAULT_RULES",
    "Evaluation",
    "IncidentSnapshot",
    "Override",
    "Person",
    "PolicyContext",
    "Roles",
    "Rotation",
    "Rule",
    "RuleLike",
    "Threshold",
    "assess",
    "decide",
    "escalations",
    "parse_when",
    "rule_step",
    "simulate_timeline",
]


# ------------------------------------------------------------------------------- inputs
class RuleLike(Protocol):
    """One escalation rule; ``[[escalation.rules]]`` entries and :class:`Rule` satisfy it."""

    @property
    def name(self) -> str | None: ...
    @property
    def when(self) -> str: ...
    @property
    def targets(self) -> Sequence[str]: ...
    @property
    def priorities(self) -> Sequence[str]: ...
    @property
    def plans(self) -> Sequence[str]: ...
    @property
    def notify(self) -> Sequence[str]: ...
    @property
    def channels(self) -> Sequence[str]: ...
    @property
    def repeat(self) -> Duration | None: ...
    @property
    def anytime(self) -> bool: ...


class RolesLike(Protocol):
    @property
    def support_lead(self) -> str | None: ...
    @property
    def support_manager(self) -> str | None: ...
    @property
    def team_channel(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule as a plain value (the built-in defaults, tests, scripts)."""

    when: str
    notify: tuple[str, ...]
    channels: tuple[str, ...] = ("slack",)
    name: str | None = None
    targets: tuple[str, ...] = TARGETS
    priorities: tuple[str, ...] = PRIORITIES
    plans: tuple[str, ...] = PLAN_NAMES
    repeat: Duration | None = None
    anytime: bool = False


@dataclass(frozen=True, slots=True)
class Person:
    name: str | None = None
    email: str | None = None
    slack: str | None = None
    phone: str | None = None
    calendar: str | None = None


@dataclass(frozen=True, slots=True)
class Roles:
    support_lead: str | None = None
    support_manager: str | None = None
    team_channel: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    start: date
    end: date
    person: str


@dataclass(frozen=True, slots=True)
class Rotation:
    """An ``[oncall]`` table as a plain value (``overrides`` items need start, end, person)."""

    people: tuple[str, ...] = ()
    handoff: str = "mon 09:00"
    timezone: str = "UTC"
    overrides: tuple[Override, ...] = ()


_ONE_DAY = parse_duration("1d")

#: The built-in policy (README "Escalation policy, on-call and paging"), used when the config has
#: no ``[[escalation.rules]]``. Breach rules repeat every business day while the target is unmet.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(name="team-50", when="50%", notify=("team",), channels=("slack",)),
    Rule(name="csm-75", when="75%", notify=("csm|team",), channels=("slack",)),
    Rule(name="lead-90", when="90%", notify=("support_lead",), channels=("email", "slack")),
    Rule(name="breach-team", when="+0m", notify=("team",), channels=("slack",), repeat=_ONE_DAY),
    Rule(
        name="breach-manager",
        when="+0m",
        notify=("support_manager",),
        channels=("email",),
        repeat=_ONE_DAY,
    ),
    Rule(name="breach-csm", when="+0m", notify=("csm",), channels=("slack",), repeat=_ONE_DAY),
)


@dataclass(frozen=True)
class PolicyContext:
    """Everything from the configuration that decisions need; build it once per config load.

    ``rules`` ``None`` means "use :data:`DEFAULT_RULES`" (no ``[[escalation.rules]]`` in the
    config); an empty sequence means no escalation rules at all (hotline paging still applies).
    ``catch_up_grace``: a threshold that
    became due longer ago than this counts as missed (see
    :func:`slawatch.core.delivery.select_catch_up`); keep it above the scan interval.
    """

    people: Mapping[str, PersonLike]
    roles: RolesLike
    oncall: OncallLike
    calendars: Mapping[str, BusinessCalendar]
    default_calendar: str
    rules: Sequence[RuleLike] | None = None
    hotline_ack_within: timedelta = timedelta(minutes=15)
    page_repeat: timedelta = timedelta(minutes=5)
    catch_up_grace: timedelta = timedelta(minutes=5)
    always_open: BusinessCalendar = field(default_factory=BusinessCalendar.always_open)
    #: Derived values memoised per context (applicable rules, rule amounts); a reload builds a
    #: new context, so nothing stale survives it.
    memo: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @property
    def effective_rules(self) -> Sequence[RuleLike]:
        return DEFAULT_RULES if self.rules is None else self.rules


@dataclass(frozen=True)
class IncidentSnapshot:
    """An incident as the policy sees it.

    ``plan`` is the plan in force at opening, with account overrides applied; ``calendar`` the
    account's calendar (else the plan's, else the default); ``csm`` the account's CSM person id;
    ``assignee`` a person id or a raw email/phone/Slack id. ``id`` goes into dedupe keys: use the
    database id, as a string.
    """

    id: str
    history: IncidentHistory
    plan: Plan
    calendar: BusinessCalendar
    account: str | None = None
    csm: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`decide`: enqueue ``notices``, record ``skipped`` as dropped (with
    their reasons), store ``next_check_at`` (``None``: nothing more can happen by itself)."""

    notices: tuple[Notice, ...]
    skipped: tuple[Notice, ...]
    next_check_at: datetime | None


# ---------------------------------------------------------------------------- thresholds
WhenKind = Literal["fraction", "before", "after"]


def parse_when(when: str) -> tuple[WhenKind, float | Duration]:
    """``"75%"`` -> ``("fraction", 0.75)``; ``"-2h"`` -> ``("before", 2h)``; ``"+0m"`` or
    ``"breach"`` -> ``("after", 0m)``."""
    text = when.strip()
    if text == "breach":
        text = "+0m"
    if text.endswith("%"):
        return "fraction", float(text[:-1]) / 100.0
    if text[:1] in "+-" and text:
        duration = parse_duration(text[1:])
        return ("before" if text[0] == "-" else "after"), duration
    raise ValueError(f"cannot parse when={when!r}; write '75%', '-2h' or '+0m'")


def rule_step(rule: RuleLike) -> str:
    """The stable id of a rule's threshold: its name, else ``"<when>:<notify,...>"``."""
    if rule.name:
        return rule.name
    return f"{rule.when.strip()}:{','.join(rule.notify)}"


@dataclass(frozen=True, slots=True)
class Threshold:
    """One rule's reached threshold on one target, in business time on the target's clock.

    ``amount`` is the business time the clock must have used; its instant is computed only when
    a notice is actually built (most evaluations find everything already sent).
    """

    target: str
    step: str
    stage: str
    repetition: int
    amount: timedelta
    percent: float

    def describe(self, rule: RuleLike, business_day: timedelta) -> str:
        """Words for the reason (built only for notices actually sent)."""
        if self.repetition:
            return f"{self.target} overdue (repeat {self.repetition}, every {rule.repeat})"
        return _describe(rule.when, self.target, business_day)


#: Rounding slack when comparing business time used with a threshold amount.
_EPSILON = timedelta(milliseconds=1)


def _reach(run: ClockRun, calendar: BusinessCalendar, amount: timedelta) -> datetime | None:
    """When the clock reaches ``amount``; ``None`` if it is not known to (paused, stopped)."""
    if amount < timedelta(0):
        return None
    at = run.instant_at(calendar, amount)
    if at is None or (run.stopped_at is not None and at >= run.stopped_at):
        return None
    return at


_Clocks = dict[str, tuple[BusinessCalendar, timedelta] | None]
#: Entries of the per-context clock memo before it is emptied (plans with account overrides
#: are new objects for each incident that intake evaluates; the scan reuses a few).
_CLOCK_MEMO_LIMIT = 4096


def _clocks(incident: IncidentSnapshot, ctx: PolicyContext, priority: str) -> _Clocks:
    """Each target's clock: the calendar it counts on and its length, ``None`` for no target
    (see :func:`_clock_plan`)."""
    return _clock_plan(incident, ctx, priority)[0]


def _clock_plan(
    incident: IncidentSnapshot, ctx: PolicyContext, priority: str
) -> tuple[_Clocks, dict[str, list[_RuleThreshold]]]:
    """Each target's clock (the calendar it counts on and its length; an ``immediate`` target is
    the hotline window on the 24x7 clock) and its rule thresholds (:func:`_thresholds`),
    memoised in ``ctx`` per (plan, calendar, priority) object identity; the entry holds the
    plan and calendar, so their ids stay theirs."""
    plan, calendar = incident.plan, incident.calendar
    memo = ctx.memo.get("clocks")
    if not isinstance(memo, dict) or len(memo) > _CLOCK_MEMO_LIMIT:
        memo = ctx.memo["clocks"] = {}
    key = (id(plan), id(calendar), priority)
    held = memo.get(key)
    if held is not None and held[0] is plan and held[1] is calendar:
        return held[2], held[3]
    clocks: _Clocks = {}
    thresholds: dict[str, list[_RuleThreshold]] = {}
    for target in TARGETS:
        spec = plan.target(priority, target)
        if spec is None:
            clocks[target] = None
            continue
        if spec.immediate:
            clock = (ctx.always_open, ctx.hotline_ack_within)
        else:
            clock = (calendar, spec.resolve(calendar.business_day))
        clocks[target] = clock
        thresholds[target] = _thresholds(
            ctx, target, priority, plan.name, clock[1], clock[0].business_day
        )
    memo[key] = (plan, calendar, clocks, thresholds)
    return clocks, thresholds


@lru_cache(maxsize=4096)
def _rule_amount(
    when: str, repeat: Duration | None, duration: timedelta, business_day: timedelta
) -> tuple[timedelta, str, timedelta | None] | None:
    """``(amount, stage, repeat step)`` of a rule on a target of ``duration`` business time;
    ``None`` when it can never fire (a lead longer than the target). Cached: few combinations
    of rule, target length and calendar exist, and the scan asks the same ones again."""
    kind, value = parse_when(when)
    if kind == "fraction":
        assert isinstance(value, float)
        return duration * value, "warning", None
    assert isinstance(value, Duration)
    offset = value.resolve(business_day)
    if kind == "before":
        amount = duration - offset
        return (amount, "warning", None) if amount > timedelta(0) else None
    step = repeat.resolve(business_day) if repeat is not None else None
    if step is not None and step <= timedelta(0):
        step = None
    return duration + offset, ("breach" if not offset else "overdue"), step


def _describe(when: str, target: str, business_day: timedelta) -> str:
    kind, value = parse_when(when)
    if kind == "fraction":
        assert isinstance(value, float)
        return f"{value * 100:g}% of the {target} target used"
    assert isinstance(value, Duration)
    offset = format_duration(value.resolve(business_day))
    if kind == "before":
        return f"{target} due in {offset}"
    return f"{target} target breached" + (f" {offset} ago" if offset != "0s" else "")


# ---------------------------------------------------------------------------- recipients
@dataclass(frozen=True, slots=True)
class _Resolved:
    recipient: str | None
    kind: str  # "person" | "channel" | "raw" | "none"
    why: str
    quiet: bool = False


def _resolve(token: str, incident: IncidentSnapshot, ctx: PolicyContext, at: datetime) -> _Resolved:
    token = token.strip()
    if "|" in token:
        reasons = []
        for part in token.split("|"):
            found = _resolve(part, incident, ctx, at)
            if found.recipient is not None:
                return found
            reasons.append(found.why)
        return _Resolved(None, "none", "; ".join(reasons))
    if token.startswith("#"):
        return _Resolved(token, "channel", token)
    if token == "team":
        channel = ctx.roles.team_channel
        if not channel:
            return _Resolved(None, "none", "no team_channel in [roles]")
        return _Resolved(channel if channel.startswith("#") else "#" + channel, "channel", "team")
    if token == "csm":
        if not incident.plan.csm:
            return _Resolved(None, "none", f"plan {incident.plan.name} has no CSM", quiet=True)
        if not incident.csm:
            owner = f"account {incident.account}" if incident.account else "the account"
            return _Resolved(None, "none", f"{owner} has no CSM")
        return _person(incident.csm, ctx, "CSM")
    if token == "assignee":
        who = incident.assignee
        if not who:
            return _Resolved(None, "none", "the incident has no assignee")
        if who in ctx.people:
            return _Resolved(who, "person", "assignee")
        return _Resolved(who, "raw", "assignee")
    if token in ("support_lead", "support_manager"):
        person = getattr(ctx.roles, token)
        if not person:
            return _Resolved(None, "none", f"no {token} in [roles]")
        return _person(person, ctx, token.replace("_", " "))
    if token in ("oncall", "oncall:primary", "oncall:secondary"):
        who_on = oncall_at(ctx.oncall, at)
        person = who_on.secondary if token == "oncall:secondary" else who_on.primary
        role = "secondary on-call" if token == "oncall:secondary" else "primary on-call"
        if not person:
            return _Resolved(None, "none", f"no {role} in [oncall]")
        return _person(person, ctx, role)
    return _person(token, ctx, "named")


def _person(person: str, ctx: PolicyContext, role: str) -> _Resolved:
    if person not in ctx.people:
        return _Resolved(None, "none", f"{role} {person!r} is not in [people]")
    return _Resolved(person, "person", role)


def _hold(
    recipient: str, kind: str, channel: str, at: datetime, anytime: bool, ctx: PolicyContext
) -> datetime | None:
    """Delivery hours: Slack/email to a person wait until their calendar is open."""
    if anytime or kind not in ("person", "raw") or channel not in ("slack", "email"):
        return None
    person = ctx.people.get(recipient)
    name = (person.calendar if person is not None else None) or ctx.default_calendar
    calendar = ctx.calendars.get(name) or ctx.calendars.get(ctx.default_calendar)
    if calendar is None:
        return None
    opens = calendar.next_open(at)
    return None if opens == at else opens


#: Per-call caches: recipients resolved at `now`, reachability, instants per (target, amount).
_Lookups = tuple[
    dict[str, _Resolved], dict[tuple[str, str], bool], dict[tuple[str, timedelta], datetime | None]
]


# ---------------------------------------------------------------------------------- decide
def escalations(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    now: datetime,
    sent_keys: Set[str] = frozenset(),
    *,
    repeat_limit: int | None = None,
) -> tuple[list[Notice], list[Notice], datetime | None]:
    """Rule notices due by ``now`` and not in ``sent_keys`` (before catch-up selection), notices
    that cannot be delivered, and the next future threshold or due time.

    Cost: one ``elapsed`` per running target, one ``add`` for its next threshold, and instants
    only for notices not sent yet, so re-evaluating an incident with everything sent is cheap.
    """
    state = incident.history.state(now)
    if state.resolved:
        return [], [], None
    runs = clock_runs(incident.history, now)
    return _escalations(incident, ctx, now, sent_keys, repeat_limit, state.priority, runs, {}, {})


#: One applicable rule, prepared once per (rules, target, priority, plan): the rule, its step id,
#: the step as it appears in dedupe keys, and its index in ``ctx.effective_rules``.
_Applicable = tuple[RuleLike, str, str, int]
#: One (token, channel) of a rule resolved for an incident at ``now``: the token, the channel,
#: the resolved recipient, the problem if undeliverable, and the dedupe key's tail.
_Planned = tuple[str, str, _Resolved, str | None, str]


def _applicable(ctx: PolicyContext, target: str, priority: str, plan: str) -> list[_Applicable]:
    """The rules that apply to a target at a priority on a plan (memoised in ``ctx``)."""
    key = ("rules", target, priority, plan)
    found = ctx.memo.get(key)
    if found is None:
        found = [
            (rule, step, step.replace("|", "/"), index)
            for index, rule in enumerate(ctx.effective_rules)
            for step in (rule_step(rule),)
            if target in rule.targets and priority in rule.priorities and plan in rule.plans
        ]
        ctx.memo[key] = found
    return cast("list[_Applicable]", found)


#: One rule that can fire on a target of a given length: ``_Applicable`` plus the rule's
#: ``_rule_amount`` (amount, stage, repeat step).
_RuleThreshold = tuple[RuleLike, str, str, int, timedelta, str, timedelta | None]


def _thresholds(
    ctx: PolicyContext,
    target: str,
    priority: str,
    plan: str,
    duration: timedelta,
    business_day: timedelta,
) -> list[_RuleThreshold]:
    """The applicable rules of a target with their amounts, in rule order, without those that
    can never fire (memoised in ``ctx``: few combinations exist)."""
    key = ("thresholds", target, priority, plan, duration, business_day)
    found = ctx.memo.get(key)
    if found is None:
        built: list[_RuleThreshold] = []
        for rule, step, step_part, index in _applicable(ctx, target, priority, plan):
            spec = _rule_amount(rule.when, rule.repeat, duration, business_day)
            if spec is not None:
                built.append((rule, step, step_part, index, *spec))
        found = ctx.memo[key] = built
    return cast("list[_RuleThreshold]", found)


def _escalations(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    now: datetime,
    sent_keys: Set[str],
    repeat_limit: int | None,
    priority: str,
    runs: Mapping[str, ClockRun],
    used_by_target: dict[str, timedelta],
    instants: dict[tuple[str, timedelta], datetime | None],
) -> tuple[list[Notice], list[Notice], datetime | None]:
    """:func:`escalations` on clock runs already replayed. Fills ``used_by_target`` (business
    time used per running target) and ``instants`` (``_reach`` per (target, amount)) for a
    caller that wants the SLA summary from the same computations."""
    due: list[Notice] = []
    undeliverable: list[Notice] = []
    upcoming: list[datetime] = []
    lookups: _Lookups = ({}, {}, instants)
    planned: dict[int, list[_Planned]] = {}
    shared: dict[tuple[object, ...], list[_Planned]] | None = None
    # what _resolve reads of the incident for ``csm`` (the account names it in the reason)
    recipient_facts = (incident.csm, incident.account)
    incident_part = incident.id.replace("|", "/")
    plan_name = incident.plan.name
    clocks, thresholds = _clock_plan(incident, ctx, priority)
    # Runs of targets that share their history (no events yet) are one object: count once.
    last_run: ClockRun | None = None
    last_calendar: BusinessCalendar | None = None
    used = timedelta(0)
    for target in TARGETS:
        run = runs[target]
        clock = clocks[target]
        if clock is None or run.stopped_at is not None:
            continue
        calendar, duration = clock
        if run is not last_run or calendar is not last_calendar:
            used = run.elapsed(calendar, now)
            last_run, last_calendar = run, calendar
        used_by_target[target] = used
        reached_by = used + _EPSILON
        # the earliest amount still ahead: the due time or a threshold (a repeat included)
        ahead: timedelta | None = duration if duration > reached_by else None
        head = f"{incident_part}|{target}|"  # target names hold no "|"
        for rule, step, step_part, index, amount, stage, repeat in thresholds[target]:
            if amount > reached_by:
                if ahead is None or amount < ahead:
                    ahead = amount
                continue
            k = 0
            if repeat is not None:
                k = int((reached_by - amount) / repeat)  # >= 0: amount <= reached_by
                if repeat_limit is not None:
                    k = min(k, repeat_limit)
                if repeat_limit is None or k + 1 <= repeat_limit:
                    following = amount + repeat * (k + 1)
                    if ahead is None or following < ahead:
                        ahead = following
                amount = amount + repeat * k
            entries = planned.get(index)
            if entries is None:
                if shared is None:
                    shared = _recipients_at(ctx, now)
                uses_csm, uses_assignee = _rule_reads(ctx, index, rule)
                who_key = (
                    index,
                    (plan_name, incident.plan.csm, *recipient_facts) if uses_csm else None,
                    incident.assignee if uses_assignee else None,
                )
                entries = shared.get(who_key)
                if entries is None:
                    entries = shared[who_key] = _plan_rule(incident, ctx, rule, now, lookups)
                planned[index] = entries
            prefix = f"{head}{step_part}|{k}|"
            if len(entries) == 1:  # one recipient by one channel: most rules
                if prefix + entries[0][4] in sent_keys:
                    continue
                pending = entries
            else:
                pending = [entry for entry in entries if prefix + entry[4] not in sent_keys]
                if not pending:
                    continue
            threshold = Threshold(
                target,
                step,
                "overdue" if k else stage,
                k,
                amount,
                amount / duration * 100 if duration else 100.0,
            )
            made, bad = _notices(
                incident, ctx, rule, threshold, run, calendar, duration, now, pending, lookups
            )
            due.extend(made)
            undeliverable.extend(bad)
        if ahead is not None:
            at = _reach_cached(instants, target, run, calendar, ahead)
            if at is not None:
                upcoming.append(max(at, now + _EPSILON))
    return due, undeliverable, min(upcoming, default=None)


def _rule_reads(ctx: PolicyContext, index: int, rule: RuleLike) -> tuple[bool, bool]:
    """Whether a rule's recipients depend on the incident's CSM (and plan) and on its
    assignee; the other tokens resolve the same for every incident at one instant, so their
    resolution is shared by all of them (memoised in ``ctx`` per rule index)."""
    key = ("reads", index)
    found = ctx.memo.get(key)
    if found is None:
        tokens = {part.strip() for token in rule.notify for part in token.split("|")}
        found = ctx.memo[key] = ("csm" in tokens, "assignee" in tokens)
    return cast("tuple[bool, bool]", found)


def _recipients_at(ctx: PolicyContext, now: datetime) -> dict[tuple[object, ...], list[_Planned]]:
    """Rule recipients resolved at ``now``, shared by every incident evaluated at that instant
    (they depend on the rule, the plan, the CSM, account and assignee, and the on-call rota at
    ``now``). Only the latest instant is kept, so the memo does not grow tick after tick."""
    current = ctx.memo.get("recipients")
    if isinstance(current, tuple) and current[0] == now:
        return cast("dict[tuple[object, ...], list[_Planned]]", current[1])
    fresh: dict[tuple[object, ...], list[_Planned]] = {}
    ctx.memo["recipients"] = (now, fresh)
    return fresh


def _reach_cached(
    instants: dict[tuple[str, timedelta], datetime | None],
    target: str,
    run: ClockRun,
    calendar: BusinessCalendar,
    amount: timedelta,
) -> datetime | None:
    key = (target, amount)
    if key not in instants:
        instants[key] = _reach(run, calendar, amount)
    return instants[key]


def _plan_rule(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    rule: RuleLike,
    now: datetime,
    lookups: _Lookups,
) -> list[_Planned]:
    """Every (token, channel) a rule addresses for this incident at ``now``, resolved once per
    evaluation (the same for each target and repetition), with its dedupe key's tail."""
    entries: list[_Planned] = []
    seen: set[tuple[str, str]] = set()
    resolved_by_token, reachable, _ = lookups
    for token in rule.notify:
        resolved = resolved_by_token.get(token)
        if resolved is None:
            resolved = resolved_by_token[token] = _resolve(token, incident, ctx, now)
        for channel in rule.channels:
            recipient = resolved.recipient
            problem: str | None = None
            if recipient is None:
                if resolved.quiet:
                    continue
                problem = f"no recipient for {token!r}: {resolved.why}"
            else:
                if (recipient, channel) in seen:
                    continue
                seen.add((recipient, channel))
                ok = reachable.get((recipient, channel))
                if ok is None:
                    ok = reachable[(recipient, channel)] = (
                        address_for(recipient, channel, ctx.people) is not None
                    )
                if not ok:
                    problem = f"{recipient} cannot be reached by {channel}"
            who = (recipient or token).replace("|", "/")
            entries.append((token, channel, resolved, problem, f"{who}|{channel}"))
    return entries


def _notices(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    rule: RuleLike,
    threshold: Threshold,
    run: ClockRun,
    calendar: BusinessCalendar,
    duration: timedelta,
    now: datetime,
    pending: Sequence[_Planned],
    lookups: _Lookups,
) -> tuple[list[Notice], list[Notice]]:
    """The notices of one reached threshold for its unsent (token, channel) entries, and the
    undeliverable ones among them."""
    instants = lookups[2]
    at = _reach_cached(instants, threshold.target, run, calendar, threshold.amount) or now
    due_at = _reach_cached(instants, threshold.target, run, calendar, duration)
    description = threshold.describe(rule, calendar.business_day)
    due_text = f", due {due_at.isoformat()}" if due_at is not None else ""
    made: list[Notice] = []
    bad: list[Notice] = []
    level = severity(threshold.stage, threshold.percent)
    target, stage, step, k = threshold.target, threshold.stage, threshold.step, threshold.repetition
    for token, channel, resolved, problem, _ in pending:
        # Built once with its final reason and hold (a scan tick builds thousands; copying a
        # frozen notice with dataclasses.replace cost more than building it).
        if problem is not None:
            bad.append(
                Notice(
                    incident.id, target, stage, step, k, resolved.recipient or token, channel, at,
                    problem, level,
                )
            )  # fmt: skip
            continue
        assert resolved.recipient is not None
        reason = f"{description}{due_text} (rule {step}: {rule.when} -> {token} by {channel})"
        hold = _hold(resolved.recipient, resolved.kind, channel, at, rule.anytime, ctx)
        if hold is not None:
            reason = f"{reason}; held until {hold.isoformat()} (delivery hours)"
        made.append(
            Notice(
                incident.id, target, stage, step, k, resolved.recipient, channel, at, reason, level,
                hold,
            )
        )  # fmt: skip
    return made, bad


def _why(notice: Notice, reason: str) -> Notice:
    return replace(notice, reason=reason)


def decide(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    now: datetime,
    sent_keys: Set[str] = frozenset(),
    last_evaluated_at: datetime | None = None,
    *,
    repeat_limit: int | None = None,
    page_until: datetime | None = None,
) -> Evaluation:
    """Everything the incident calls for at ``now``; see the module docstring.

    ``sent_keys``: every dedupe key already in the outbox for this incident, whatever its status
    (pending, sent, failed, dropped, cancelled). Store the returned notices, the skipped ones (as
    dropped), ``next_check_at`` and ``last_evaluated_at = now`` in one transaction.

    ``last_evaluated_at`` is informational (it goes into catch-up reasons); whether a threshold
    was missed is judged from its instant and ``ctx.catch_up_grace``, which also covers
    thresholds that moved into the past (priority upgrade, late import, a new rule).

    ``repeat_limit`` and ``page_until`` bound the infinite repeat series for simulations.
    """
    if now.tzinfo is None:
        raise ValueError("decide needs an aware 'now'")
    state = incident.history.state(now)
    if state.resolved:
        escalated: tuple[list[Notice], list[Notice], datetime | None] = ([], [], None)
    else:
        runs = clock_runs(incident.history, now)
        escalated = _escalations(
            incident, ctx, now, sent_keys, repeat_limit, state.priority, runs, {}, {}
        )
    return _decided(incident, ctx, now, sent_keys, last_evaluated_at, page_until, escalated)


def assess(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    now: datetime,
    sent_keys: Set[str] = frozenset(),
    last_evaluated_at: datetime | None = None,
) -> tuple[Evaluation, tuple[datetime | None, bool]]:
    """:func:`decide` and the SLA summary the incident row stores (the earliest due instant of
    a running or breached clock, and whether any clock is breached:
    :func:`slawatch.core.sla.summary_of`, with the context's hotline window and 24x7 calendar)
    in one pass: the history is replayed once and the due instants the decision computed are
    reused. Both results are exactly what the functions return separately. Used by the scan."""
    if now.tzinfo is None:
        raise ValueError("decide needs an aware 'now'")
    history = incident.history
    state = history.state(now)
    runs = clock_runs(history, now)
    used: dict[str, timedelta] = {}
    instants: dict[tuple[str, timedelta], datetime | None] = {}
    if state.resolved:
        escalated: tuple[list[Notice], list[Notice], datetime | None] = ([], [], None)
    else:
        escalated = _escalations(
            incident, ctx, now, sent_keys, None, state.priority, runs, used, instants
        )
    evaluation = _decided(incident, ctx, now, sent_keys, last_evaluated_at, None, escalated)
    # A running target's due instant, where the decision computed it: ``_reach`` equals
    # ``instant_at`` for a clock that has not stopped and an amount that is not negative.
    due: dict[str, datetime | None] = {}
    clocks = _clocks(incident, ctx, state.priority)
    for target in used:
        clock = clocks[target]
        if clock is not None and clock[1] >= timedelta(0) and (target, clock[1]) in instants:
            due[target] = instants[(target, clock[1])]
    summary = summary_of(
        runs,
        state.priority,
        incident.plan,
        incident.calendar,
        now,
        hotline_ack_within=ctx.hotline_ack_within,
        always_open=ctx.always_open,
        due=due,
    )
    return evaluation, summary


def _decided(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    now: datetime,
    sent_keys: Set[str],
    last_evaluated_at: datetime | None,
    page_until: datetime | None,
    escalated: tuple[list[Notice], list[Notice], datetime | None],
) -> Evaluation:
    """Catch-up selection, hotline pages and the next check, after the rule escalations."""
    due, undeliverable, next_rule = escalated
    if not due and not undeliverable and not incident.history.via_hotline:
        # Nothing to send and no paging (most evaluations): what the general path returns.
        return Evaluation((), (), next_rule)
    send, superseded = select_catch_up(due, now, ctx.catch_up_grace)
    if last_evaluated_at is not None and superseded:
        since = f" (last evaluated {last_evaluated_at.isoformat()})"
        send = [_why(n, n.reason + since) for n in send]
    paging = pages(
        incident.id,
        incident.history,
        incident.plan,
        now,
        oncall=ctx.oncall,
        support_manager=ctx.roles.support_manager,
        people=ctx.people,
        ack_within=ctx.hotline_ack_within,
        page_repeat=ctx.page_repeat,
        sent_keys=sent_keys,
        until=page_until,
    )
    candidates = [t for t in (next_rule, paging.next_at) if t is not None]
    notices = sorted([*paging.notices, *send], key=lambda n: (not n.urgent, n.send_at, -n.severity))
    return Evaluation(
        notices=tuple(notices),
        skipped=(*paging.skipped, *superseded, *undeliverable),
        next_check_at=min(candidates, default=None),
    )


def simulate_timeline(
    incident: IncidentSnapshot,
    ctx: PolicyContext,
    *,
    repeats: int = 1,
    page_until: datetime | None = None,
    horizon: datetime | None = None,
    max_evaluations: int = 1000,
) -> tuple[list[Notice], list[Notice]]:
    """Everything :func:`decide` would produce for ``incident`` if nothing ever happened to it,
    evaluated like a daemon that never misses a tick: ``(notices, skipped)`` in time order.

    The infinite series are cut: at most ``repeats`` repeats per rule after the breach, pages
    until ``page_until`` (default: the support manager's first page, ``2 * ack_within`` after
    opening), and nothing after ``horizon`` if given. Used by ``slawatch simulate``.
    """
    opened = incident.history.opened_at
    if page_until is None:
        page_until = opened + 2 * ctx.hotline_ack_within
    sent: set[str] = set()
    notices: list[Notice] = []
    skipped: list[Notice] = []
    now = opened
    for _ in range(max_evaluations):
        evaluation = decide(incident, ctx, now, sent, repeat_limit=repeats, page_until=page_until)
        notices.extend(evaluation.notices)
        skipped.extend(evaluation.skipped)
        sent.update(n.dedupe_key for n in (*evaluation.notices, *evaluation.skipped))
        nxt = evaluation.next_check_at
        if nxt is None or nxt <= now or (horizon is not None and nxt > horizon):
            break
        now = nxt
    order = {"page": 0}
    notices.sort(key=lambda n: (n.at, order.get(n.stage, 1), n.step, n.recipient, n.channel))
    skipped.sort(key=lambda n: (n.at, n.step, n.recipient, n.channel))
    return notices, skipped
