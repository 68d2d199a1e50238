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

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

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
from slawatch.store.rawsql import Raw
from slawatch.store.repo import IncidentView


@dataclass
class EvaluationSummary:
    """What one evaluation pass did; the runtime logs it and feeds the metrics."""

    evaluated: int = 0
    enqueued: int = 0
    skipped: int = 0
    urgent: int = 0
    #: Every notice decided, with whether it was new in the outbox (the daemon logs new ones).
    decisions: list[tuple[Decided, bool]] = field(default_factory=list)
    #: (incident id, error) of incidents that could not be evaluated; each is looked at again
    #: after :data:`RETRY_FAILED` rather than blocking the scan.
    failed: list[tuple[int, str]] = field(default_factory=list)
    #: Errors of scan workers whose share was decided in-process instead (see ``Helper``; the
    #: helper logs them).
    helper_errors: list[str] = field(default_factory=list)
    #: Incidents decided by scan workers (the rest by the calling process).
    by_workers: int = 0
    #: Pages of a full recompute handed out ahead and cut again because another writer
    #: committed meanwhile (:func:`evaluate_all`).
    pages_redone: int = 0
    #: Pages of a full recompute not handed out ahead because another writer had committed
    #: since the previous page or was queued (:func:`evaluate_all`).
    pages_yielded: int = 0

    def merge(self, other: EvaluationSummary) -> None:
        self.evaluated += other.evaluated
        self.enqueued += other.enqueued
        self.skipped += other.skipped
        self.urgent += other.urgent
        self.decisions.extend(other.decisions)
        self.failed.extend(other.failed)
        self.helper_errors.extend(other.helper_errors)
        self.by_workers += other.by_workers
        self.pages_redone += other.pages_redone
        self.pages_yielded += other.pages_yielded


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


def _row(
    incident: Incident | IncidentView,
    notice: Notice,
    key: str,
    drop_reason: str | None,
    created: Any,
    dt: Callable[[datetime | None], Any],
    iso: Callable[[datetime], str],
    as_json: Callable[[Any], Any],
) -> tuple[Any, ...]:
    """The outbox row (:func:`outbox.new_row`) of ``notice``, whose dedupe key is ``key``.

    The payload holds what the columns do not: the reason, the threshold instant (``at``), the
    severity the dispatcher orders catch-ups by, the helpdesk's incident id, and for a catch-up
    the stage it reports (``covers``) and the steps it replaces (``missed``). The dispatcher
    reads the rest from the row's columns.
    """
    payload: dict[str, Any] = {
        "reason": notice.reason,
        "at": iso(notice.at),
        "severity": notice.severity,
        "incident_external_id": incident.external_id,
    }
    if notice.covers is not None or notice.missed:
        payload["covers"] = notice.covers
        payload["missed"] = list(notice.missed)
    return outbox.new_row(
        key,
        "page" if notice.urgent else notice.kind,
        incident.id,
        incident.account_id,
        notice.target,
        notice.stage,
        notice.step,
        notice.repetition,
        notice.recipient,
        notice.channel,
        None,
        notice.urgent,
        dt(notice.send_at),
        dt(notice.not_before),
        as_json(payload),
        None,
        created,
        drop_reason,
    )


def _memo(
    convert: Callable[[Any], Any], by: Callable[[Any], Any] = lambda value: value
) -> Callable[[Any], Any]:
    """``convert`` remembering its results by ``by(value)``: a batch's rows repeat the same
    instants (``now``, shared due times), and formatting one costs more than looking it up.

    ``by`` must tell apart whatever ``convert`` does: equal aware datetimes in different
    zones format differently, so ISO text is remembered by instant and zone."""
    done: dict[Any, Any] = {}

    def memoised(value: Any) -> Any:
        key = by(value)
        found = done.get(key, done)
        if found is done:
            found = done[key] = convert(value)
        return found

    return memoised


class Decided(NamedTuple):
    """A notice to send, as the daemon logs it (``escalation_decided``)."""

    dedupe_key: str
    incident: str
    target: str | None
    stage: str
    step: str
    repetition: int
    recipient: str
    channel: str
    send_at: datetime
    reason: str
    urgent: bool


@dataclass(slots=True)
class Decisions:
    """What the policy decided for some incidents, before anything is written: the outbox rows
    (:func:`outbox.row_params`, to send or recorded as dropped), the notices to count and log,
    and the column values to store per incident.

    Plain values, cheap to pickle: a scan worker process (:class:`Helper`) decides part of a
    batch and sends them back to the process that holds the write transaction. (Pickling the
    notices and ``NewNotification`` objects instead cost about a third of deciding them.)
    """

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    decided: list[Decided] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    evaluated: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


class Helper(Protocol):
    """Someone who can decide part of a scan batch elsewhere (the daemon's scan workers,
    :class:`slawatch.runtime.scanpool.ScanPool`).

    ``decide(ids, now)`` starts deciding those incidents as they are committed now, and returns
    a function that waits for the :class:`Decisions` (it raises if the helper failed), or
    ``None`` when the helper cannot take work at the moment. The caller must already hold the
    write transaction it will record the decisions in, with the incidents locked
    (:func:`repo.lock_incidents`; on SQLite ``BEGIN IMMEDIATE``), so the helper reads exactly
    what the caller would: nobody else can change them in between.
    """

    workers: int

    def decide(self, ids: Sequence[int], now: datetime) -> Callable[[], Decisions] | None: ...


#: Batches smaller than this are decided in-process: below it, handing work to a scan worker
#: costs more than it saves.
SPLIT_MIN = 64
#: The daemon's share of a split batch, relative to an equal one. Over a full recompute it
#: decided at ~163 us per incident against a worker's ~150 us (it also runs the pool's result
#: thread) and wrote ~9 us per incident of the batch, so with equal shares the worker waited
#: for it at every batch; 0.94 (47% with one worker) evens that out. With batches of 1,000
#: (``runtime.daemon.BATCH``) a full recompute of 100,000 took 8.9-10.3 s (10 runs) against
#: 10.1-10.8 s with halves in batches of 500 (7 runs, alternated; bench/README.md, sixth
#: round).
OWN_SHARE = 0.94


def _decide(
    session: Session,
    incidents: Sequence[Incident | IncidentView],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> Decisions:
    """Decide what each incident calls for at ``now``; reads the sent keys, writes nothing."""
    out = Decisions()
    sent = repo.sent_keys_by_incident(session, [i.id for i in incidents])
    with Raw(session) as raw:
        dt, as_json = _memo(raw.dt_in), raw.json_in
    iso = _memo(datetime.isoformat, by=lambda value: (value, value.tzinfo))
    created = dt(now)
    rows, decided, dropped, updates = out.rows, out.decided, out.dropped, out.updates
    plans = _plan_cache(ctx, settings)
    accounts: dict[int, tuple[object, ...]] = {}
    for incident in incidents:
        out.evaluated += 1
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
            out.failed.append((incident.id, f"{type(exc).__name__}: {exc}"))
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
            key = notice.dedupe_key
            rows.append(_row(incident, notice, key, None, created, dt, iso, as_json))
            decided.append(
                Decided(
                    key,
                    notice.incident,
                    notice.target,
                    notice.stage,
                    notice.step,
                    notice.repetition,
                    notice.recipient,
                    notice.channel,
                    notice.send_at,
                    notice.reason,
                    notice.urgent,
                )
            )
        for notice in evaluation.skipped:
            key = notice.dedupe_key
            rows.append(_row(incident, notice, key, notice.reason, created, dt, iso, as_json))
            dropped.append(key)
        updates.append(
            {
                "id": incident.id,
                "next_check_at": evaluation.next_check_at,
                "last_evaluated_at": now,
                "due_at": due_at,
                "breached": breached,
            }
        )
    if incidents and isinstance(incidents[0], IncidentView):
        out.updates = [
            _changes(view, values)
            for view, values in zip(cast("Sequence[IncidentView]", incidents), updates, strict=True)
        ]
    return out


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


def decide_ids(
    session: Session,
    ids: Sequence[int],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> Decisions:
    """What ``ids`` call for at ``now``, read in ``session`` and not written: a scan worker's
    share (:class:`Helper`)."""
    return _decide(session, repo.load_incident_views(session, ids), settings, ctx, now)


class _Recorder:
    """Writes :class:`Decisions` in one transaction, part after part in batch order, and
    counts what was new: the same rows, ids and counts as writing them all at once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.summary = EvaluationSummary()
        self._seen: set[str] = set()  # keys offered so far: a repeat is not inserted again
        self._counted: set[str] = set()  # keys counted so far (new or not)

    def record(self, part: Decisions, *, store: bool = True) -> None:
        """Insert ``part``'s outbox rows (a key already in the outbox is skipped) and, with
        ``store``, write its incidents' columns (:func:`repo.store_evaluations`)."""
        summary, counted = self.summary, self._counted
        summary.evaluated += part.evaluated
        summary.failed.extend(part.failed)
        inserted = outbox.insert_params(self.session, part.rows, seen=self._seen)
        for notice in part.decided:
            key = notice.dedupe_key
            new = key in inserted and key not in counted
            counted.add(key)
            if new:
                summary.enqueued += 1
                summary.urgent += int(notice.urgent)
            summary.decisions.append((notice, new))
        for key in part.dropped:
            if key in inserted and key not in counted:
                summary.skipped += 1
            counted.add(key)
        if store:
            repo.store_evaluations(self.session, part.updates)


def evaluate_incidents(
    session: Session,
    incidents: Sequence[Incident],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> EvaluationSummary:
    """Decide and record what each incident calls for at ``now`` (see the module docstring).

    ``incidents`` are ORM objects (events and account loaded); their columns are set here.
    Load them locked (``repo.load_incidents(..., for_update=True)``): an evaluation written
    back over a change committed since the read would undo it (:func:`repo.lock_incidents`).
    """
    decisions = _decide(session, incidents, settings, ctx, now)
    recorder = _Recorder(session)
    recorder.record(decisions, store=False)
    summary = recorder.summary
    for incident, values in zip(incidents, decisions.updates, strict=True):
        incident.next_check_at = values["next_check_at"]
        incident.last_evaluated_at = values["last_evaluated_at"]
        incident.due_at = values["due_at"]
        incident.breached = values["breached"]
    return summary


@dataclass(slots=True)
class _Batch:
    """A batch cut for the helper: the caller's share, and the helper's shares handed out
    (each with the function that waits for its decisions, ``None`` if the helper declined)."""

    ids: list[int]
    own: list[int]
    waiting: list[tuple[list[int], Callable[[], Decisions] | None]]


def _hand_out(
    session: Session,
    ids: list[int],
    helper: Helper | None,
    now: datetime,
    own_share: float | None = None,
) -> _Batch:
    """Lock ``ids`` in the caller's write transaction and hand the helper its shares.

    The incidents are held from before the first read (ours or a worker's) to the commit, so no
    other writer changes them in between (on SQLite the write transaction has begun; see
    :func:`repo.lock_incidents`). ``own_share`` is the caller's, :data:`OWN_SHARE` unless given.
    """
    session.connection()
    repo.lock_incidents(session, ids)
    if helper is None or helper.workers <= 0 or len(ids) < SPLIT_MIN:
        return _Batch(ids, ids, [])
    own, shares = split(ids, helper.workers, OWN_SHARE if own_share is None else own_share)
    return _Batch(ids, own, [(share, helper.decide(share, now)) for share in shares])


def _decide_own(
    session: Session, batch: _Batch, settings: Settings, ctx: PolicyContext, now: datetime
) -> _Recorder:
    """Decide and write the caller's share of ``batch``; returns the recorder that writes the
    rest (:func:`_collect`)."""
    recorder = _Recorder(session)
    recorder.record(
        _decide(session, repo.load_incident_views(session, batch.own), settings, ctx, now)
    )
    return recorder


def _collect(
    session: Session,
    recorder: _Recorder,
    batch: _Batch,
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
) -> EvaluationSummary:
    """Write the helper's shares of ``batch`` in order; a share it declined, or whose worker
    failed, is decided here (the error is in ``summary.helper_errors``)."""
    for share, wait in batch.waiting:
        part: Decisions | None = None
        if wait is not None:
            try:
                part = wait()
                recorder.summary.by_workers += len(share)
            except Exception as exc:  # a worker died or broke: decide its share here
                recorder.summary.helper_errors.append(f"{type(exc).__name__}: {exc}")
        if part is None:
            part = _decide(session, repo.load_incident_views(session, share), settings, ctx, now)
        recorder.record(part)
    return recorder.summary


def evaluate_ids(
    session: Session,
    ids: Sequence[int],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
    *,
    helper: Helper | None = None,
) -> EvaluationSummary:
    """:func:`evaluate_incidents` for the scan: rows read with plain selects
    (:func:`repo.load_incident_views`) and written back with a few bulk UPDATEs, which costs
    a fraction of loading and flushing ORM objects.

    With a ``helper`` and at least :data:`SPLIT_MIN` ids, ``ids`` are cut into one share per
    worker plus one (:func:`split`): the helper's workers decide the later shares while this
    process decides and writes the first. Every decision is written here, in ``ids`` order, in
    the caller's transaction: the same rows, ids and columns as without a helper. A share the
    helper cannot take, or whose worker fails, is decided here (the error is in
    ``summary.helper_errors``).
    """
    batch = _hand_out(session, list(ids), helper, now)
    recorder = _decide_own(session, batch, settings, ctx, now)
    return _collect(session, recorder, batch, settings, ctx, now)


#: The daemon's share of a page of a full recompute handed out ahead (see :func:`evaluate_all`),
#: relative to an equal one. The worker no longer waits for the daemon's writes and commit, so
#: the daemon, which does them, takes less than :data:`OWN_SHARE` (bench/README.md, seventh
#: round).
AHEAD_OWN_SHARE = 0.9


@dataclass(slots=True)
class _Ahead:
    """The next page, cut and handed out in the previous transaction, and the count of other
    connections' commits (:func:`repo.commits_by_others`) read in it."""

    batch: _Batch
    commits: int


def evaluate_all(
    transactions: Callable[[], AbstractContextManager[Session]],
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
    *,
    limit: int = 1000,
    helper: Helper | None = None,
    stop: Callable[[], bool] = lambda: False,
    others_waiting: Callable[[], bool] = lambda: False,
) -> EvaluationSummary:
    """The full recompute: every open incident in pages of ``limit`` (id order), each page in
    a write transaction of its own from ``transactions``; ``stop`` is asked before each page.

    With a ``helper`` on SQLite, the workers never wait for the daemon's writes and commit:
    in page k's transaction the next page's ids are read and its shares handed out too, so a
    worker goes straight from one share to the next. That is only right if nobody else
    commits before page k+1's transaction begins (the worker may read its share in between).
    So page k+1's transaction first compares the count of other connections' commits
    (:func:`repo.commits_by_others`) with the one read in page k's; if someone committed, the
    shares handed out ahead are thrown away (their workers' time is lost) and the page is read,
    cut and handed out again (``summary.pages_redone``). Written rows, ids and columns are
    those of :func:`evaluate_ids` over each page in turn.

    Other writers get their turn between pages (:mod:`slawatch.store.write_turns`), and a busy
    dispatcher commits once per message: handing out ahead regardless would cut nearly every
    page twice (14.7 s against 8.7 s for 100,000 beside a writer committing every 5 ms). So
    the next page is handed out ahead only while it pays: nobody else committed since the
    previous page, and ``others_waiting()`` (a writer queued now:
    :meth:`slawatch.store.db.Database.writers_waiting`) is false. Pages not handed out ahead
    for that reason are counted in ``summary.pages_yielded``.

    ``transactions`` must give write transactions on one connection
    (:meth:`slawatch.store.db.Database.consecutive_sessions`): SQLite counts commits per
    connection. On PostgreSQL, which has no such count, no page is handed out ahead.
    """
    total = EvaluationSummary()
    after_id = 0
    ahead: _Ahead | None = None
    previous: int | None = None  # others' commits as read in the previous page
    while not stop():
        with transactions() as session:
            batch: _Batch | None = None
            if ahead is not None:
                session.connection()  # the write transaction has begun
                if repo.commits_by_others(session) == ahead.commits:
                    batch = ahead.batch
                else:
                    total.pages_redone += 1
                ahead = None
            if batch is None:
                ids = repo.open_incident_ids(session, after_id=after_id, limit=limit)
                if not ids:
                    break
                batch = _hand_out(session, ids, helper, now, AHEAD_OWN_SHARE)
            commits = repo.commits_by_others(session) if batch.waiting else None
            # Someone else committed since the previous page, or is queued now: likely again
            # before the next one, which would throw its shares away.
            busy = (previous is not None and commits != previous) or others_waiting()
            previous = commits
            if commits is not None and len(batch.ids) == limit and busy:
                total.pages_yielded += 1
            elif commits is not None and len(batch.ids) == limit:
                following = repo.open_incident_ids(session, after_id=batch.ids[-1], limit=limit)
                if following:
                    handed = _hand_out(session, following, helper, now, AHEAD_OWN_SHARE)
                    ahead = _Ahead(handed, commits)
            recorder = _decide_own(session, batch, settings, ctx, now)
            summary = _collect(session, recorder, batch, settings, ctx, now)
        total.merge(summary)
        after_id = batch.ids[-1]
        if ahead is None and len(batch.ids) < limit:
            break
    return total


def split(
    ids: Sequence[int], workers: int, own_share: float = OWN_SHARE
) -> tuple[list[int], list[list[int]]]:
    """``ids`` as the caller's share (first) and one share per worker, in order. The caller's
    is ``own_share`` of an equal one: it also writes every share and collects the workers'
    results, and deciding at the same pace it finishes last (see :data:`OWN_SHARE`)."""
    mine = round(len(ids) * own_share / (workers + 1))
    size = -(-(len(ids) - mine) // workers)
    return list(ids[:mine]), [list(ids[i : i + size]) for i in range(mine, len(ids), size)]


def evaluate_due(
    session: Session,
    settings: Settings,
    ctx: PolicyContext,
    now: datetime,
    *,
    limit: int = 1000,
    helper: Helper | None = None,
) -> EvaluationSummary:
    """One scan batch: the open incidents whose ``next_check_at`` has passed."""
    ids = repo.due_incident_ids(session, now, limit=limit)
    return evaluate_ids(session, ids, settings, ctx, now, helper=helper)


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
