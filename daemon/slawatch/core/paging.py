"""Hotline paging: which SMS pages are due for an incident, on the wall clock, 24x7.

A high-priority incident opened via the hotline, on a plan with a hotline, pages:

* the primary on-call at once (``opened_at``), then every ``page_repeat`` (default 5 minutes);
* the secondary as well from ``opened_at + ack_within`` (``[sla] hotline_ack_within``, 15m),
  every ``page_repeat``;
* the support manager as well from ``opened_at + 2 * ack_within``, every ``page_repeat``;

until the incident is acknowledged (the ``acknowledged`` event), responded to, or resolved.
Pages are SMS, ``urgent`` (they jump the outbox queue and ignore rate limits) and never held for
delivery hours.

Each tier's repetition ``k`` is one decision (dedupe key ``...|page:primary|k|ivan|sms``). Only
the latest due repetition of each tier is returned: after downtime the primary gets one page, not
the dozen that were missed. Who is primary/secondary is taken at each page's instant, so a
handoff during an unacknowledged incident pages the new on-call person.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from slawatch.core.delivery import Notice, PersonLike, address_for, severity
from slawatch.core.incident import IncidentHistory
from slawatch.core.oncall import OncallLike, oncall_at
from slawatch.core.plans import Plan

__all__ = ["PAGE_TIERS", "PagingResult", "pages", "paging_applies"]

#: (step, multiple of ack_within after which the tier joins)
PAGE_TIERS: tuple[tuple[str, int], ...] = (
    ("page:primary", 0),
    ("page:secondary", 1),
    ("page:manager", 2),
)


@dataclass(frozen=True, slots=True)
class PagingResult:
    """Due, unsent pages; pages that cannot be sent (nobody on call, no phone); the next page."""

    notices: tuple[Notice, ...]
    skipped: tuple[Notice, ...]
    next_at: datetime | None


def paging_applies(history: IncidentHistory, plan: Plan, now: datetime) -> tuple[bool, str]:
    """Whether the incident is (still) being paged at ``now``, and why not."""
    if not history.via_hotline:
        return False, "not opened via the hotline"
    if not plan.hotline:
        return False, f"plan {plan.name} has no hotline"
    state = history.state(now)
    if state.priority != "high":
        return False, f"priority is {state.priority}, pages are for high"
    if state.resolved:
        return False, "resolved"
    if state.acknowledged_at is not None:
        return False, f"acknowledged by {state.acknowledged_by or 'someone'}"
    if state.responded_at is not None:
        return False, "responded"
    return True, ""


def pages(
    incident_id: str,
    history: IncidentHistory,
    plan: Plan,
    now: datetime,
    *,
    oncall: OncallLike,
    support_manager: str | None,
    people: Mapping[str, PersonLike],
    ack_within: timedelta,
    page_repeat: timedelta,
    sent_keys: Set[str] = frozenset(),
    until: datetime | None = None,
) -> PagingResult:
    """The pages due at ``now`` that are not in ``sent_keys``, and when the next one is due.

    ``until`` (used by ``slawatch simulate``) stops the series: no page after it is returned or
    announced as next. ``next_at`` is ``None`` when paging does not apply (or ``until`` passed).
    """
    applies, _ = paging_applies(history, plan, now)
    if not applies:
        return PagingResult((), (), None)
    if page_repeat <= timedelta(0):
        raise ValueError("page_repeat must be positive")
    opened = history.opened_at.astimezone(UTC)
    shown_tz = history.opened_at.tzinfo
    due: list[Notice] = []
    skipped: list[Notice] = []
    next_at: datetime | None = None
    for step, multiple in PAGE_TIERS:
        start = opened + ack_within * multiple
        if until is not None and start > until:
            continue
        if now < start:
            candidate = start
            k = -1
        else:
            k = int((now - start) / page_repeat)
            at = start + page_repeat * k
            if until is None or at <= until:
                notice, problem = _page(
                    incident_id, step, k, at.astimezone(shown_tz), oncall, support_manager, people
                )
                if notice is not None and notice.dedupe_key not in sent_keys:
                    due.append(notice)
                elif problem is not None and problem.dedupe_key not in sent_keys:
                    skipped.append(problem)
            candidate = start + page_repeat * (k + 1)
        if until is not None and candidate > until:
            continue
        if next_at is None or candidate < next_at:
            next_at = candidate
    return PagingResult(
        tuple(due), tuple(skipped), next_at.astimezone(shown_tz) if next_at else None
    )


def _page(
    incident_id: str,
    step: str,
    k: int,
    at: datetime,
    oncall: OncallLike,
    support_manager: str | None,
    people: Mapping[str, PersonLike],
) -> tuple[Notice | None, Notice | None]:
    """The page for one tier and repetition, or a skipped notice saying why it cannot go."""
    tier = step.split(":", 1)[1]
    if tier == "manager":
        person, role = support_manager, "support manager"
    else:
        who = oncall_at(oncall, at)
        person = who.primary if tier == "primary" else who.secondary
        role = f"{tier} on-call"
    repeat = f", repeat {k}" if k else ""
    reason = f"hotline page to the {role}{repeat}: high priority, not acknowledged"
    if person is None:
        missing = Notice(
            incident=incident_id,
            target="response",
            stage="page",
            step=step,
            repetition=k,
            recipient=tier,
            channel="sms",
            at=at,
            reason=f"cannot page: no {role} configured",
            severity=severity("page", 100),
            urgent=True,
            kind="page",
        )
        return None, missing
    notice = Notice(
        incident=incident_id,
        target="response",
        stage="page",
        step=step,
        repetition=k,
        recipient=person,
        channel="sms",
        at=at,
        reason=reason,
        severity=severity("page", 100 + [s for s, _ in PAGE_TIERS].index(step)),
        urgent=True,
        kind="page",
    )
    if address_for(person, "sms", people) is None:
        return None, replace(notice, reason=f"cannot page {person}: no phone in [people.{person}]")
    return notice, None
