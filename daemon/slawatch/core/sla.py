"""The SLA clock: for each target of an incident, how much time is used and when it is due.

A pure function of the incident's history, the plan and calendar that apply, and ``now``.

Rules (from the plans we sell):

* the response clock stops at the first response; pauses do not stop it;
* the workaround clock stops at the workaround or the resolution, whichever comes first;
* the resolution clock stops at the resolution and a reopen resumes it with the time spent;
* while the incident waits on the customer (paused) the workaround and resolution clocks stop;
* a priority change keeps the opening time and applies the new priority's targets to the whole
  history, so an upgrade can be breached at once;
* an ``immediate`` target (high priority on a plan with a hotline) is the hotline
  acknowledgement window, counted in wall-clock time on the 24x7 clock.

States: ``running``, ``paused``, ``met``, ``breached`` (running and past due), ``missed``
(stopped after due) and ``none`` (no target). Meeting the due instant exactly is ``met``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from slawatch.core.calendar import BusinessCalendar
from slawatch.core.incident import EventType, IncidentHistory
from slawatch.core.plans import TARGETS, Plan

__all__ = [
    "ClockRun",
    "ClockState",
    "ClockStatus",
    "clock_runs",
    "evaluate",
    "summary_of",
]


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    MISSED = "missed"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ClockRun:
    """When one target's clock ran: closed segments plus, if still running, an open last one.

    ``stopped_at`` is set when the clock was stopped for good (response, workaround,
    resolution); ``paused`` when it is only held (waiting on the customer).
    """

    segments: tuple[tuple[datetime, datetime | None], ...]
    stopped_at: datetime | None
    paused: bool

    @property
    def running(self) -> bool:
        return bool(self.segments) and self.segments[-1][1] is None

    def elapsed(self, calendar: BusinessCalendar, now: datetime) -> timedelta:
        total = timedelta(0)
        for start, end in self.segments:
            total += calendar.elapsed(start, end if end is not None else now)
        return total

    def instant_at(self, calendar: BusinessCalendar, amount: timedelta) -> datetime | None:
        """When the clock reaches ``amount`` of business time; ``None`` if it cannot be known.

        It cannot be known when the clock is paused or stopped before reaching it. For a
        stopped clock we still project past the stop (used to show a met target's due time).
        """
        remaining = amount
        last_end: datetime | None = None
        for start, end in self.segments:
            if end is None:
                return calendar.add(start, remaining)
            used = calendar.elapsed(start, end)
            if used >= remaining:
                return calendar.add(start, remaining)
            remaining -= used
            last_end = end
        if self.stopped_at is not None and last_end is not None:
            return calendar.add(last_end, remaining)
        return None


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """One target's standing. ``remaining`` is negative when overdue; ``fraction`` 1.0 = due."""

    target: str
    state: ClockState
    clock: str | None
    duration: timedelta | None
    elapsed: timedelta
    remaining: timedelta | None
    fraction: float | None
    due_at: datetime | None
    stopped_at: datetime | None
    immediate: bool = False


def clock_runs(history: IncidentHistory, now: datetime) -> dict[str, ClockRun]:
    """Replay the history up to ``now`` into the running segments of each target's clock."""
    opened = history.opened_at
    if not history.events or history.events[0].at > now:
        # Nothing happened yet (about half of the open incidents): every clock runs from the
        # opening, and the three runs can share one value (they are frozen).
        run = ClockRun(((opened, None),), None, False)
        return dict.fromkeys(TARGETS, run)
    segments: dict[str, list[list[datetime | None]]] = {t: [[opened, None]] for t in TARGETS}
    stopped: dict[str, datetime | None] = dict.fromkeys(TARGETS)
    paused = False
    resolved = False

    def stop_segment(target: str, at: datetime) -> None:
        segs = segments[target]
        if segs and segs[-1][1] is None:
            segs[-1][1] = at

    def start_segment(target: str, at: datetime) -> None:
        segs = segments[target]
        if not segs or segs[-1][1] is not None:
            segs.append([at, None])

    for event in history.up_to(now):
        kind, at = event.type, event.at
        if kind is EventType.RESPONDED and stopped["response"] is None:
            stop_segment("response", at)
            stopped["response"] = at
        elif kind is EventType.WORKAROUND and stopped["workaround"] is None:
            stop_segment("workaround", at)
            stopped["workaround"] = at
        elif kind is EventType.RESOLVED and not resolved:
            resolved = True
            paused = False
            if stopped["workaround"] is None:
                stop_segment("workaround", at)
                stopped["workaround"] = at
            stop_segment("resolution", at)
            stopped["resolution"] = at
        elif kind is EventType.REOPENED and resolved:
            resolved = False
            stopped["resolution"] = None
            start_segment("resolution", at)
        elif kind is EventType.PAUSED and not paused and not resolved:
            paused = True
            for target in ("workaround", "resolution"):
                if stopped[target] is None:
                    stop_segment(target, at)
        elif kind is EventType.RESUMED and paused:
            paused = False
            for target in ("workaround", "resolution"):
                if stopped[target] is None:
                    start_segment(target, at)

    runs: dict[str, ClockRun] = {}
    for target in TARGETS:
        segs = tuple((s, e) for s, e in segments[target] if s is not None)
        runs[target] = ClockRun(
            segments=segs,
            stopped_at=stopped[target],
            paused=paused and target != "response" and stopped[target] is None,
        )
    return runs


def evaluate(
    history: IncidentHistory,
    plan: Plan,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    hotline_ack_within: timedelta,
    always_open: BusinessCalendar | None = None,
    targets: Sequence[str] = TARGETS,
) -> tuple[ClockStatus, ...]:
    """Every target's :class:`ClockStatus` at ``now``.

    ``plan`` must already carry any account overrides and be the plan in force when the
    incident was opened; ``calendar`` is the account's (or the default) calendar.
    ``always_open`` is the 24x7 calendar used for ``immediate`` targets.
    """
    runs = clock_runs(history, now)
    priority = history.priority_at(now)
    result: list[ClockStatus] = []
    for target in targets:
        spec = plan.target(priority, target)
        run = runs[target]
        if spec is None:
            result.append(
                ClockStatus(
                    target,
                    ClockState.NONE,
                    None,
                    None,
                    timedelta(0),
                    None,
                    None,
                    None,
                    run.stopped_at,
                )
            )
            continue
        if spec.immediate:
            cal = always_open or BusinessCalendar.always_open()
            duration = hotline_ack_within
        else:
            cal = calendar
            duration = spec.resolve(calendar.business_day)
        used = run.elapsed(cal, now)
        due_at = run.instant_at(cal, duration)
        if run.stopped_at is not None:
            # A clock stopped before it used its whole target is met, even when the projected
            # due_at (counted on from the last pause) lies before the stop; otherwise it is met
            # only if it stopped at the instant the target ran out.
            met = used < duration or due_at is None or run.stopped_at <= due_at
            state = ClockState.MET if met else ClockState.MISSED
        elif due_at is not None and now > due_at:
            state = ClockState.BREACHED
        elif run.paused:
            state = ClockState.PAUSED
        else:
            state = ClockState.RUNNING
        fraction = used / duration if duration else 1.0
        result.append(
            ClockStatus(
                target=target,
                state=state,
                clock=cal.name,
                duration=duration,
                elapsed=used,
                remaining=duration - used,
                fraction=fraction,
                due_at=due_at,
                stopped_at=run.stopped_at,
                immediate=spec.immediate,
            )
        )
    return tuple(result)


def summary_of(
    runs: Mapping[str, ClockRun],
    priority: str,
    plan: Plan,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    hotline_ack_within: timedelta,
    always_open: BusinessCalendar | None = None,
    due: Mapping[str, datetime | None] | None = None,
) -> tuple[datetime | None, bool]:
    """What the incident row stores of :func:`evaluate`, without building the statuses: the
    earliest due instant among clocks running or breached, and whether any is breached.

    ``runs`` and ``priority`` are ``clock_runs(history, now)`` and the priority at ``now``. The
    result is exactly ``(min(s.due_at for running/breached s with a due_at), any breached)`` of
    :func:`evaluate`; the scan calls it for every open incident, and a stopped clock (met or
    missed) needs no business time or due instant computed here. ``due`` may carry, per
    target, the due instant (``run.instant_at(clock, duration)``) the caller already computed.
    """
    earliest: datetime | None = None
    breached = False
    for target in TARGETS:
        run = runs[target]
        if run.stopped_at is not None:
            continue
        spec = plan.target(priority, target)
        if spec is None:
            continue
        if due is not None and target in due:
            due_at = due[target]
        elif spec.immediate:
            due_at = run.instant_at(
                always_open or BusinessCalendar.always_open(), hotline_ack_within
            )
        else:
            due_at = run.instant_at(calendar, spec.resolve(calendar.business_day))
        if due_at is None:
            continue
        if now > due_at:
            breached = True
        elif run.paused:
            continue
        if earliest is None or due_at < earliest:
            earliest = due_at
    return earliest, breached
