"""Writers of one incident at the same time, on SQLite and on a real PostgreSQL server.

Whoever reads an incident to write its evaluation (or its state) back must hold it until it
commits; otherwise a change another writer commits in between is overwritten by a write based
on the incident as it was. Each test opens a transaction that is part-way through its own
write, runs the competing writer in a thread, then commits, and checks that the stored
incident reflects both. On SQLite ``BEGIN IMMEDIATE`` serialises them; on PostgreSQL (READ
COMMITTED) the ``FOR UPDATE`` locks of :func:`slawatch.store.repo.lock_incidents` do.

The scenario: an incident opened ``low`` (response 30 min) is raised to ``medium`` (response
10 min) 16 minutes later. Evaluated as low it is past its 50% threshold, as medium it is
breached: a stale evaluation stores the wrong next check, due time and breach, and a stale
event stores the priority ``low`` again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from daemon_env import ACME, load_settings
from slawatch.config.loader import Settings
from slawatch.config.policy_context import policy_context
from slawatch.core.policy import PolicyContext
from slawatch.service import escalation
from slawatch.service.escalation import Decisions, decide_ids, evaluate_ids
from slawatch.service.evaluation import context_of, next_check
from slawatch.service.incidents import EventInput, IncidentInput, record_event
from slawatch.service.intake import Intake
from slawatch.store import repo
from slawatch.store.db import Database
from slawatch.wiring import evaluate_now
from stored import stored_incident

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=16)
RAISED = EventInput(type="priority_changed", at=NOW, priority="medium")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "slawatch.toml")


@pytest.fixture
def ctx(settings: Settings) -> PolicyContext:
    return policy_context(settings)


def hooked_intake(
    db: Database, settings: Settings, ctx: PolicyContext, at: datetime = NOW
) -> Intake:
    """The daemon's intake: each change evaluated at once with the policy, at ``at``."""
    on_change = evaluate_now(db, lambda: (settings, ctx), clock=lambda: at)
    return Intake(db, settings, on_change=on_change, clock=lambda: at)


def open_low(db: Database, settings: Settings, ctx: PolicyContext, *keys: str) -> list[int]:
    """Incidents opened at ``T0`` (and evaluated then, like the daemon does)."""
    intake = hooked_intake(db, settings, ctx, at=T0)
    intake.put_account("acme", ACME)
    for key in keys:
        intake.open_incident(
            IncidentInput(
                external_id=key, account="acme", priority="low", title="Export", opened_at=T0
            )
        )
    return [intake.incident_id(key) for key in keys]


def assert_evaluation_is_current(
    db: Database, settings: Settings, ctx: PolicyContext, incident_id: int
) -> None:
    """What is stored is what evaluating the incident as it is now gives: a fresh evaluation
    at the same instant would change nothing but ``last_evaluated_at``."""
    with db.read_session() as session:
        (update,) = decide_ids(session, [incident_id], settings, ctx, NOW).updates
    assert set(update) == {"id", "last_evaluated_at"}, f"stale evaluation stored: {update}"


class InProcessWorker:
    """A scan worker as :class:`ScanPool` runs it (its own read transaction), in-process: it
    reads and decides its share when it is handed out, so what it read is fixed then."""

    workers = 1

    def __init__(self, db: Database, settings: Settings, ctx: PolicyContext) -> None:
        self.db, self.settings, self.ctx = db, settings, ctx
        self.shares: list[list[int]] = []

    def decide(self, ids: Sequence[int], now: datetime) -> Callable[[], Decisions]:
        self.shares.append(list(ids))
        with self.db.read_session() as session:
            decisions = decide_ids(session, ids, self.settings, self.ctx, now)
        return lambda: decisions


class Competitor:
    """A writer in a thread: started, then given a moment to (wrongly) get through."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True)

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def start(self) -> bool:
        """Start; whether it is still waiting after half a second (held off by the lock)."""
        self.thread.start()
        self.thread.join(0.5)
        return self.thread.is_alive()

    def finish(self) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the competing writer never finished"
        if self.error is not None:
            raise self.error


def test_a_change_during_a_scan_is_not_overwritten_by_the_scan(
    db: Database, settings: Settings, ctx: PolicyContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's worker reads its share, the API raises the priority of an incident in it,
    then the scan writes the worker's decisions: the raise must win."""
    first, raised = open_low(db, settings, ctx, "INC-1", "INC-2")
    monkeypatch.setattr(escalation, "SPLIT_MIN", 2)  # two incidents are enough to split
    intake = hooked_intake(db, settings, ctx)
    competitor = Competitor(lambda: intake.record_event("INC-2", RAISED))
    held_off: list[bool] = []

    class Worker:
        """A scan worker as :class:`ScanPool` runs it (its own read transaction), in-process;
        the API change lands once it has read its share."""

        workers = 1

        def decide(self, ids: Sequence[int], now: datetime) -> Callable[[], Decisions]:
            assert list(ids) == [raised]
            with db.read_session() as session:
                decisions = decide_ids(session, ids, settings, ctx, now)
            # As low, it is past 50%: the scan writes a new next check, notices and all.
            assert decisions.rows and "next_check_at" in decisions.updates[0]
            held_off.append(competitor.start())
            return lambda: decisions

    with db.session() as session:
        summary = evaluate_ids(session, [first, raised], settings, ctx, NOW, helper=Worker())
    competitor.finish()

    assert summary.by_workers == 1 and held_off == [True]
    assert stored_incident(db, raised).priority == "medium"
    assert_evaluation_is_current(db, settings, ctx, raised)


def test_an_evaluation_after_a_change_waits_for_a_change_in_flight(
    db: Database, settings: Settings, ctx: PolicyContext
) -> None:
    """The evaluation that follows an API change (``on_change``) reads the incident while
    another request's change is not yet committed: it must evaluate the committed change."""
    (incident_id,) = open_low(db, settings, ctx, "INC-1")
    on_change = evaluate_now(db, lambda: (settings, ctx), clock=lambda: NOW)
    competitor = Competitor(lambda: on_change(incident_id))
    with db.session() as session:
        record_event(session, settings, "INC-1", RAISED, NOW)
        assert competitor.start()
    competitor.finish()

    assert stored_incident(db, incident_id).priority == "medium"
    assert_evaluation_is_current(db, settings, ctx, incident_id)


def test_an_event_waits_for_an_event_in_flight(
    db: Database, settings: Settings, ctx: PolicyContext
) -> None:
    """An event recorded while another request's event is in flight is applied on top of it:
    the clocks stored with the second reflect the priority the first raised."""
    (incident_id,) = open_low(db, settings, ctx, "INC-1")
    intake = Intake(db, settings, clock=lambda: NOW)  # no hook: what record_event stores stays
    note = EventInput(type="note", at=NOW, by="ivan", text="customer called")
    competitor = Competitor(lambda: intake.record_event("INC-1", note))
    with db.session() as session:
        record_event(session, settings, "INC-1", RAISED, NOW)
        assert competitor.start()
    competitor.finish()

    with db.read_session() as session:
        (incident,) = repo.load_incidents(session, [incident_id])
        assert [event.type for event in incident.events] == ["priority_changed", "note"]
        assert incident.priority == "medium"
        # Medium's response (10 min) is breached, so no clock runs on: as low it would run on.
        assert next_check(context_of(incident, settings), settings, NOW) is None
        assert incident.next_check_at is None


def recompute_in_pages_of_3(
    db: Database,
    settings: Settings,
    ctx: PolicyContext,
    worker: escalation.Helper,
    before: Callable[[int], None],
    queued_in: Callable[[int], bool] = lambda page: False,
) -> escalation.EvaluationSummary:
    """A full recompute in pages of 3 on one connection, as the daemon runs it; ``before(n)``
    runs before page n's transaction begins (another writer's turn), and ``queued_in(n)`` says
    whether a writer is queued while page n is decided."""
    page = 0
    with db.consecutive_sessions() as consecutive:

        @contextmanager
        def transactions() -> Iterator[Session]:
            nonlocal page
            page += 1
            before(page)
            with consecutive() as session:
                yield session

        return escalation.evaluate_all(
            transactions,
            settings,
            ctx,
            NOW,
            limit=3,
            helper=worker,
            others_waiting=lambda: queued_in(page),
        )


def test_a_page_handed_out_ahead_is_cut_again_when_someone_else_commits(
    db: Database, settings: Settings, ctx: PolicyContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full recompute hands page 2 to the worker while it still holds page 1's transaction.
    The API raises an incident of page 2 between the two transactions: page 2 must be read,
    cut and handed out again, not written from what the worker read before the raise."""
    keys = [f"INC-{n}" for n in range(6)]
    ids = open_low(db, settings, ctx, *keys)
    monkeypatch.setattr(escalation, "SPLIT_MIN", 2)
    worker = InProcessWorker(db, settings, ctx)
    intake = hooked_intake(db, settings, ctx)

    def before(page: int) -> None:
        if page == 2:  # between page 1's commit and page 2's BEGIN
            intake.record_event("INC-4", RAISED)

    summary = recompute_in_pages_of_3(db, settings, ctx, worker, before)

    assert summary.evaluated == 6 and summary.helper_errors == []
    raised = ids[4]
    if db.is_postgresql:  # no commit counter: nothing is handed out ahead
        assert summary.pages_redone == 0
        assert [raised in share for share in worker.shares] == [False, True]
    else:
        assert summary.pages_redone == 1
        # handed out twice: ahead in page 1's transaction, again in page 2's
        assert [raised in share for share in worker.shares] == [False, True, True]
    assert stored_incident(db, raised).priority == "medium"
    for incident_id in ids:
        assert_evaluation_is_current(db, settings, ctx, incident_id)


def test_a_full_recompute_hands_out_the_next_page_while_nobody_else_commits(
    db: Database, settings: Settings, ctx: PolicyContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without other writers every page after the first is handed out in the previous
    page's transaction (SQLite) and used as is; the outcome is every incident evaluated."""
    ids = open_low(db, settings, ctx, *(f"INC-{n}" for n in range(7)))
    monkeypatch.setattr(escalation, "SPLIT_MIN", 2)
    worker = InProcessWorker(db, settings, ctx)
    handed_at: list[int] = []
    original = escalation._hand_out

    def hand_out(session: Session, batch: list[int], *args: Any) -> Any:
        handed_at.append(id(session))
        return original(session, batch, *args)

    monkeypatch.setattr(escalation, "_hand_out", hand_out)
    with db.consecutive_sessions() as transactions:
        summary = escalation.evaluate_all(transactions, settings, ctx, NOW, limit=3, helper=worker)

    assert summary.evaluated == 7 and summary.pages_redone == 0
    assert summary.by_workers == sum(len(share) for share in worker.shares)
    # pages of 3, 3, 1: the worker's shares in id order, each incident in at most one
    shared = [i for share in worker.shares for i in share]
    assert shared == sorted(shared) and set(shared) <= set(ids)
    if not db.is_postgresql:
        # page 2 and page 3 were handed out in the transaction before their own
        assert len(handed_at) == 3 and handed_at[0] == handed_at[1]
    for incident_id in ids:
        assert_evaluation_is_current(db, settings, ctx, incident_id)


@pytest.mark.parametrize("why", ["queued", "committed"])
def test_the_next_page_is_not_handed_out_ahead_while_others_write(
    db: Database,
    settings: Settings,
    ctx: PolicyContext,
    monkeypatch: pytest.MonkeyPatch,
    why: str,
) -> None:
    """Beside a busy writer (the dispatcher commits once per message) a page handed out ahead
    would be cut again after nearly every page: a writer queued for the lock, or one that
    committed since the previous page, makes the recompute hand the next page out in its own
    transaction instead. Pages of 3, 3, 1; the writer acts while page 1 is being decided."""
    ids = open_low(db, settings, ctx, *(f"INC-{n}" for n in range(7)))
    monkeypatch.setattr(escalation, "SPLIT_MIN", 2)
    worker = InProcessWorker(db, settings, ctx)
    intake = hooked_intake(db, settings, ctx)

    def before(page: int) -> None:
        if page == 2 and why == "committed":
            intake.record_event("INC-0", RAISED)

    summary = recompute_in_pages_of_3(
        db, settings, ctx, worker, before, queued_in=lambda page: why == "queued" and page == 1
    )

    assert summary.evaluated == 7
    if db.is_postgresql:  # no commit counter: nothing is handed out ahead, nothing yielded
        assert (summary.pages_redone, summary.pages_yielded) == (0, 0)
    elif why == "queued":
        # page 1 saw a writer queued: page 2 was handed out in its own transaction; page 2
        # saw nobody: page 3 was handed out ahead again
        assert (summary.pages_redone, summary.pages_yielded) == (0, 1)
    else:
        # page 2, handed out ahead, was cut again after the commit; having seen a commit
        # since page 1, page 2 did not hand page 3 out ahead
        assert (summary.pages_redone, summary.pages_yielded) == (1, 1)
    for incident_id in ids:
        assert_evaluation_is_current(db, settings, ctx, incident_id)
