"""Evaluate stored incidents with the escalation policy and write its decisions to the outbox.

One function, :func:`evaluate_incidents`, serves the daemon's scan (only incidents whose
``next_check_at`` has passed), the full recompute at start and after a reload (every open
incident), and intake (an incident created or changed through the API or the CLI is evaluated
at once, in the same transaction as the change). For each incident it:

1. builds the core's view (history, plan in force at opening with account overrides, calendar);
2. asks :func:`slawatch.core.policy.assess` (``decide`` plus the SLA summary, from one replay
   of the clocks) what is due, passing every dedupe key already in
   the outbox for the incident, so nothing is decided twice;
3. enqueues the notices (a duplicate dedupe key is a no-op) and records the skipped ones as
   ``dropped`` with their reason (superseded by a catch-up, undeliverable);
4. stores ``next_check_at`` (the earliest future threshold, due time or page),
   ``last_evaluated_at``, and the SLA summary ``due_at`` / ``breached`` that the queue, the
   metrics and the sd_notify STATUS line read.

The caller owns the transaction and commits; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.core.calendar import BusinessCalendar
from slawatch.core.delivery import Notice
from slawatch.core.plans import Plan
from slawatch.core.policy import IncidentSnapshot, PolicyContext, assess
from slawatch.service.evaluation import (
    calendar_for,
    history_of,
    plan_for,
)
from slawatch.store import outbox, repo
from slawatch.store.models import Incident
from slawatch.store.repo import IncidentView


@dataclass
class EvaluationSummary:
    """What one evaluation pass did; the runtime logs it and feeds the metrics."""

    evaluated: int = 0
    enqueued: int = 0
    skipped: int = 0
    urgent: int = 0
    decisions: list[tuple[Notice, bool]] = field(default_factory=list)
    #: (incident id, error) of incidents that could not be evaluated; each is looked at again
    #: after :data:`RETRY_FAILED` rather than blocking the scan.
    failed: list[tuple[int, str]] = field(default_factory=list)

    def merge(self, other: EvaluationSummary) -> None:
        self.evaluated += other.evaluated
        self.enqueued += other.enqueued
        self.skipped += other.skipped
        self.urgent += other.urgent
        self.decisions.extend(other.decisions)
        self.failed.extend(other.failed)


#: When an incident whose evaluation raised (a bug, a row this version cannot read) is tried
#: again. Without it the incident stays the earliest due and every scan batch fails on it.
RETRY_FAILED = timedelta(minutes=1)
_NONE_SENT: frozenset[str] = frozenset()


#: Plan in force (with the account's overrides) and calendar, per plan name, account calendar
#: and overrides: the same for every incident of an account, and for accounts alike.
_PlanCache = dict[tuple[object, ...], tuple[Plan, BusinessCalendar]]


def _frozen(value: Any) -> Any:
    """A hashable copy of a JSON value (the account's ``sla_overrides``)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _plan_cache(ctx: PolicyContext, settings: Settings) -> _PlanCache:
    """The plan cache for ``settings``, kept in the policy context's memo (both are rebuilt on
    a reload); a different settings object starts a fresh one."""
    held = ctx.memo.get("plans")
    if isinstance(held, tuple) and held[0] is settings:
        return cast(_PlanCache, held[1])
    fresh: _PlanCache = {}
    ctx.memo["plans"] = (settings, fresh)
    return fresh


def _snapshot(
    incident: Incident | IncidentView,
    settings: Settings,
    plans: _PlanCache,
    accounts: dict[int, tuple[object, ...]],
) -> IncidentSnapshot:
    """The policy's view of a stored incident (events and account loaded), with the plan in
    force and the calendar looked up in ``plans``.

    ``accounts`` memoises each account object's part of the cache key for one batch (the
    incidents of an account share its object), keyed by ``id``: the caller keeps the objects
    alive while it holds the dict.
    """
    account = incident.account
    if account is None:
        key: tuple[object, ...] = (incident.plan, None, None)
    else:
        part = accounts.get(id(account))
        if part is None:
            part = accounts[id(account)] = (account.calendar, _frozen(account.sla_overrides))
        key = (incident.plan, *part)
    found = plans.get(key)
    if found is None:
        plan = plan_for(settings, incident.plan, account)
        found = plans[key] = (plan, calendar_for(settings, plan, account))
    return IncidentSnapshot(
        str(incident.id),
        history_of(incident),
        found[0],
        found[1],
        incident.account_id,
        account.csm if account is not None else None,
        incident.assignee,
    )


def _new_row(incident: Incident | IncidentView, notice: Notice) -> outbox.NewNotification:
    payload = notice.as_dict()
    payload["incident_external_id"] = incident.external_id
    return outbox.NewNotification(
        dedupe_key=str(payload["dedupe_key"]),
        kind="page" if notice.urgent else notice.kind,
        stage=notice.stage,
        recipient=notice.recipient,
        channel=notice.channel,
        next_attempt_at=notice.send_at,
        incident_id=incident.id,
        account_id=incident.account_id,
        target=notice.target,
        step=notice.step,
        repetition=notice.repetition,
        urgent=notice.urgent,
        not_before=notice.not_before,
        payload=payload,
    )


def _evaluate(
    session: Session,
    incidents: Sequence[Incident | IncidentView],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> tuple[EvaluationSummary, list[dict[str, Any]]]:
    """Decide, enqueue (one bulk insert), and return the column values to store per incident."""
    summary = EvaluationSummary()
    sent = repo.sent_keys_by_incident(session, [i.id for i in incidents])
    rows: list[tuple[outbox.NewNotification, str | None]] = []
    decided: list[tuple[Notice, str]] = []
    dropped: list[tuple[Notice, str]] = []
    updates: list[dict[str, Any]] = []
    plans = _plan_cache(ctx, settings)
    accounts: dict[int, tuple[object, ...]] = {}
    for incident in incidents:
        summary.evaluated += 1
        if incident.status != "open":
            updates.append(
                {
                    "id": incident.id,
                    "next_check_at": None,
                    "last_evaluated_at": now,
                    "due_at": None,
                    "breached": False,
                }
            )
            continue
        try:
            snapshot = _snapshot(incident, settings, plans, accounts)
            # decide() and the SLA summary (sla.evaluate) in one replay of the clocks
            evaluation, (due_at, breached) = assess(
                snapshot,
                ctx,
                now,
                sent.get(incident.id, _NONE_SENT),
                incident.last_evaluated_at,
            )
        except Exception as exc:  # one broken incident must not stop every escalation
            summary.failed.append((incident.id, f"{type(exc).__name__}: {exc}"))
            updates.append(
                {
                    "id": incident.id,
                    "next_check_at": now + RETRY_FAILED,
                    "last_evaluated_at": incident.last_evaluated_at,
                    "due_at": getattr(incident, "due_at", None),
                    "breached": bool(getattr(incident, "breached", False)),
                }
            )
            continue
        for notice in evaluation.notices:
            row = _new_row(incident, notice)
            rows.append((row, None))
            decided.append((notice, row.dedupe_key))
        for notice in evaluation.skipped:
            row = _new_row(incident, notice)
            rows.append((row, notice.reason))
            dropped.append((notice, row.dedupe_key))
        updates.append(
            {
                "id": incident.id,
                "next_check_at": evaluation.next_check_at,
                "last_evaluated_at": now,
                "due_at": due_at,
                "breached": breached,
            }
        )
    # One bulk insert for the whole batch; a key already in the outbox is skipped.
    inserted = outbox.enqueue_batch(session, rows, now)
    counted: set[str] = set()  # a key repeated within the batch was inserted once
    for notice, key in decided:
        new = key in inserted and key not in counted
        counted.add(key)
        if new:
            summary.enqueued += 1
            summary.urgent += int(notice.urgent)
        summary.decisions.append((notice, new))
    for _, key in dropped:
        if key in inserted and key not in counted:
            summary.skipped += 1
        counted.add(key)
    return summary, updates


def evaluate_incidents(
    session: Session,
    incidents: Sequence[Incident],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> EvaluationSummary:
    """Decide and record what each incident calls for at ``now`` (see the module docstring).

    ``incidents`` are ORM objects (events and account loaded); their columns are set here.
    """
    summary, updates = _evaluate(session, incidents, settings, ctx, now)
    for incident, values in zip(incidents, updates, strict=True):
        incident.next_check_at = values["next_check_at"]
        incident.last_evaluated_at = values["last_evaluated_at"]
        incident.due_at = values["due_at"]
        incident.breached = values["breached"]
    return summary


def evaluate_ids(
    session: Session,
    ids: Sequence[int],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> EvaluationSummary:
    """:func:`evaluate_incidents` for the scan: rows read with Core selects
    (:func:`repo.load_incident_views`) and written back with one executemany UPDATE, which
    costs a fraction of loading and flushing ORM objects."""
    views = repo.load_incident_views(session, ids)
    summary, updates = _evaluate(session, views, settings, ctx, now)
    repo.store_evaluations(session, [_changes(v, u) for v, u in zip(views, updates, strict=True)])
    return summary


def _changes(view: IncidentView, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` to store for ``view``: only ``last_evaluated_at`` when the rest is what the
    row already holds (most incidents in a full recompute), which keeps the ``next_check_at``
    index untouched."""
    if (
        values["next_check_at"] == view.next_check_at
        and values["due_at"] == view.due_at
        and values["breached"] == view.breached
    ):
        return {"id": values["id"], "last_evaluated_at": values["last_evaluated_at"]}
    return values


def evaluate_due(
    session: Session, settings: Settings, ctx: PolicyContext, now: datetime, *, limit: int = 1000
) -> EvaluationSummary:
    """One scan batch: the open incidents whose ``next_check_at`` has passed."""
    ids = repo.due_incident_ids(session, now, limit=limit)
    return evaluate_ids(session, ids, settings, ctx, now)


def evaluate_page(
    session: Session,
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
    *,
    after_id: int,
    limit: int = 1000,
) -> tuple[EvaluationSummary, int | None]:
    """One page of a full recompute: open incidents with id above ``after_id``.

    Returns the summary and the last id seen (``None`` when there were no more incidents).
    """
    ids = repo.open_incident_ids(session, after_id=after_id, limit=limit)
    if not ids:
        return EvaluationSummary(), None
    summary = evaluate_ids(session, ids, settings, ctx, now)
    return summary, ids[-1]


def incident_counts(
    session: Session,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Open incidents with a running target (``due``) and breached ones, by (plan, priority).

    Reads the summary columns the last evaluation stored; one grouped query.
    """
    from sqlalchemy import func

    rows = session.execute(
        select(
            Incident.plan,
            Incident.priority,
            func.count(Incident.due_at),
            func.count().filter(Incident.breached.is_(True)),
        )
        .where(Incident.status == "open")
        .group_by(Incident.plan, Incident.priority)
    ).all()
    due = {(plan, priority): int(n) for plan, priority, n, _ in rows}
    breached = {(plan, priority): int(b) for plan, priority, _, b in rows}
    return due, breached
