"""Scan workers (``runtime/scanpool.py``) with real worker processes, on SQLite and PostgreSQL.

A batch split between the daemon and its workers must leave exactly what one process leaves:
the same outbox rows in the same order and the same incident columns. A worker that dies is
replaced by the daemon deciding its share, a reload reaches the workers, and small batches never
start one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from processes import gone, wait_gone
from slawatch.config.loader import Settings, load_config
from slawatch.config.policy_context import policy_context
from slawatch.runtime.scanpool import ScanPool, default_workers
from slawatch.service import escalation
from slawatch.service.incidents import EventInput, IncidentInput
from slawatch.service.intake import Intake
from slawatch.store.db import Database

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "slawatch.toml"
T0 = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Sofia
LATER = T0 + timedelta(days=2, hours=3)
INCIDENTS = 120  # SPLIT_MIN or more: one batch is split


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_config(EXAMPLE, {"SLAWATCH_API_TOKEN": "test"})


def _url(db: Database) -> str:
    if db.is_postgresql:
        return db.engine.url.render_as_string(hide_password=False)
    return f"sqlite:///{db.sqlite_path}"


@pytest.fixture
def pool(db: Database, settings: Settings, ticks: Ticks) -> Iterator[ScanPool]:
    scan_pool = ScanPool(1, settings, _url(db), clock=ticks)
    yield scan_pool
    scan_pool.close()


class Ticks:
    """A monotonic clock the test moves (for the pause after a failure)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def _ready(scan_pool: ScanPool) -> ScanPool:
    scan_pool.start()
    deadline = time.monotonic() + 60
    while not scan_pool.ready:
        assert time.monotonic() < deadline, "the scan worker did not start"
        time.sleep(0.05)
    return scan_pool


def _seed(db: Database, settings: Settings) -> None:
    """Incidents of every priority on three plans, some via the hotline, with responses,
    pauses and acknowledgements, opened over the two days before ``LATER``."""
    clock = Clock(LATER - timedelta(hours=1))
    intake = Intake(db, settings, clock=clock)
    intake.add_account("acme", {"name": "Acme", "plan": "premium", "csm": "maria"})
    intake.add_account("beta", {"name": "Beta", "plan": "business", "csm": "maria"})
    intake.add_account("small", {"name": "Small", "plan": "standard"})
    priorities = ("high", "high", "medium", "low")
    for n in range(INCIDENTS):
        opened = T0 - timedelta(days=1) + timedelta(minutes=23 * n)
        key = f"INC-{n}"
        intake.open_incident(
            IncidentInput(
                external_id=key,
                account=("acme", "beta", "small")[n % 3],
                priority=priorities[n % 4],
                title=f"incident {n}",
                opened_at=opened,
                via_hotline=n % 7 == 0,
            )
        )
        if n % 5 == 1:
            intake.record_event(key, EventInput("responded", at=opened + timedelta(minutes=40)))
        if n % 11 == 2:
            intake.record_event(key, EventInput("paused", at=opened + timedelta(hours=1)))
        if n % 14 == 0:
            intake.record_event(
                key, EventInput("acknowledged", at=opened + timedelta(minutes=3), by="dan")
            )


def _outcome(session: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every outbox row in id order (ids left out: PostgreSQL sequences do not roll back) and
    every incident's evaluation columns."""
    rows = session.execute(
        text(
            "SELECT dedupe_key, kind, incident_id, account_id, target, stage, step, repetition,"
            " recipient, channel, urgent, status, next_attempt_at, not_before, drop_reason,"
            " payload FROM notifications ORDER BY id"
        )
    ).all()
    incidents = session.execute(
        text(
            "SELECT id, next_check_at, last_evaluated_at, due_at, breached FROM incidents"
            " ORDER BY id"
        )
    ).all()
    return [tuple(r) for r in rows], [tuple(r) for r in incidents]


class _Rollback(Exception):
    pass


def _evaluate(
    db: Database, settings: Settings, helper: Any, *, keep: bool
) -> tuple[escalation.EvaluationSummary, Any]:
    """A full recompute in one batch at ``LATER``; its outcome read in the same transaction,
    which is rolled back unless ``keep``."""
    ctx = policy_context(settings)
    result: list[Any] = []
    try:
        with db.session() as session:
            summary = escalation.evaluate_all(
                lambda: nullcontext(session), settings, ctx, LATER, limit=1000, helper=helper
            )
            result[:] = [summary, _outcome(session)]
            if not keep:
                raise _Rollback
    except _Rollback:
        pass
    return result[0], result[1]


def test_a_split_batch_leaves_what_one_process_leaves(
    db: Database, settings: Settings, pool: ScanPool
) -> None:
    _seed(db, settings)
    alone, expected = _evaluate(db, settings, None, keep=False)
    assert alone.enqueued > 50 and alone.urgent > 0 and alone.skipped > 0  # a rich batch
    split, outcome = _evaluate(db, settings, _ready(pool), keep=True)
    assert split.helper_errors == []
    assert outcome == expected
    assert (split.evaluated, split.enqueued, split.skipped, split.urgent) == (
        alone.evaluated,
        alone.enqueued,
        alone.skipped,
        alone.urgent,
    )
    assert split.decisions == alone.decisions
    # The worker did decide a share: its process read the database.
    assert pool.pids() and all(pid != os.getpid() for pid in pool.pids())


def test_a_full_recompute_in_pages_leaves_what_one_process_leaves(
    db: Database, settings: Settings, pool: ScanPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 40, each split, the next handed out ahead (SQLite), each committed: the same
    rows and columns as one process evaluating every page in turn."""
    _seed(db, settings)
    ctx = policy_context(settings)
    expected: list[Any] = []
    try:
        with db.session() as session:
            alone = escalation.evaluate_all(
                lambda: nullcontext(session), settings, ctx, LATER, limit=40
            )
            expected[:] = [_outcome(session)]
            raise _Rollback
    except _Rollback:
        pass
    monkeypatch.setattr(escalation, "SPLIT_MIN", 10)
    _ready(pool)
    with db.consecutive_sessions() as transactions:
        paged = escalation.evaluate_all(transactions, settings, ctx, LATER, limit=40, helper=pool)
    assert paged.helper_errors == [] and paged.pages_redone == 0
    assert paged.by_workers > INCIDENTS // 3
    with db.read_session() as session:
        assert _outcome(session) == expected[0]
    assert (paged.evaluated, paged.enqueued, paged.skipped) == (
        alone.evaluated,
        alone.enqueued,
        alone.skipped,
    )
    assert paged.decisions == alone.decisions


def test_a_worker_that_dies_has_its_share_decided_by_the_daemon(
    db: Database, settings: Settings, pool: ScanPool, ticks: Ticks
) -> None:
    _seed(db, settings)
    _, expected = _evaluate(db, settings, None, keep=False)
    for pid in _ready(pool).pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    summary, outcome = _evaluate(db, settings, pool, keep=False)
    assert outcome == expected
    assert summary.by_workers == 0
    # No new worker for a minute: a worker that cannot run must not cost a spawn per batch.
    ticks.now += 59
    pool.start()
    assert pool.pids() == [] and not pool.ready

    def fail_again() -> None:
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        summary, outcome = _evaluate(db, settings, pool, keep=False)
        assert outcome == expected and summary.by_workers == 0

    # A second failure in a row (the new worker dies before any share) doubles the pause.
    ticks.now += 2
    _ready(pool)
    fail_again()
    ticks.now += 61
    pool.start()
    assert pool.pids() == []
    ticks.now += 60
    # A share that comes back ends the series: the next failure pauses a minute again.
    split, outcome = _evaluate(db, settings, _ready(pool), keep=False)
    assert outcome == expected and split.by_workers > 0
    fail_again()
    ticks.now += 61
    _, outcome = _evaluate(db, settings, _ready(pool), keep=True)
    assert outcome == expected


def test_a_reload_reaches_the_workers(db: Database, settings: Settings, pool: ScanPool) -> None:
    """After ``configure``, shares are decided with the new settings: here every rule gone
    but one, which the worker's decisions must show too."""
    _seed(db, settings)
    _ready(pool)
    data = dict(settings.data)
    data["escalation"] = {
        "rules": [{"when": "+0m", "notify": ["team"], "channels": ["slack"], "name": "only"}]
    }
    from slawatch.config.loader import build_settings

    changed = build_settings(data, settings.path)
    pool.configure(changed)
    _, expected = _evaluate(db, changed, None, keep=False)
    split, outcome = _evaluate(db, changed, pool, keep=True)
    assert split.helper_errors == []
    assert outcome == expected
    steps = {row[6] for row in outcome[0] if row[5] != "page"}
    assert "only" in steps


def test_small_batches_never_start_a_worker(
    db: Database, settings: Settings, pool: ScanPool
) -> None:
    ctx = policy_context(settings)
    with db.session() as session:
        escalation.evaluate_ids(
            session, list(range(1, escalation.SPLIT_MIN)), settings, ctx, LATER, helper=pool
        )
    assert pool.pids() == [] and not pool.ready


def test_workers_collect_garbage_with_the_daemons_thresholds(pool: ScanPool) -> None:
    """A worker is a fresh interpreter (spawn): it must set the scan's collector thresholds
    itself, or each full recompute pays CPython's defaults again (runtime/gctune.py)."""
    import gc

    from slawatch.runtime.gctune import THRESHOLDS

    executor = _ready(pool)._executor  # the pool's own processes; no public way in
    assert executor is not None
    assert executor.submit(gc.get_threshold).result(timeout=30) == THRESHOLDS


def test_a_closed_pool_takes_no_work(db: Database, settings: Settings) -> None:
    closed = ScanPool(1, settings, _url(db))
    closed.close()
    assert closed.decide([1, 2, 3], LATER) is None
    assert closed.pids() == []


def test_default_workers_leave_the_daemon_a_cpu() -> None:
    assert [default_workers(n) for n in (1, 2, 3, 4, 16)] == [0, 1, 2, 2, 2]


def test_a_hung_worker_times_out_and_its_share_is_decided_by_the_daemon(
    db: Database, settings: Settings
) -> None:
    _seed(db, settings)
    _, expected = _evaluate(db, settings, None, keep=False)
    hung = _ready(ScanPool(1, settings, _url(db), timeout_s=1.0))
    try:
        (pid,) = hung.pids()
        os.kill(pid, signal.SIGSTOP)  # alive, holding its share, never answering
        started = time.monotonic()
        summary, outcome = _evaluate(db, settings, hung, keep=True)
        assert 1.0 <= time.monotonic() - started < 15
        assert summary.helper_errors and "Timeout" in summary.helper_errors[0]
        assert summary.by_workers == 0
        assert outcome == expected
        # the stopped worker was killed, not left behind
        assert wait_gone(pid, 10), "the stopped worker is still there"
        assert not hung.pids()
    finally:
        hung.close()


def test_split_gives_the_daemon_a_little_less_than_an_equal_share() -> None:
    ids = list(range(1000))
    own, shares = escalation.split(ids, 1)
    assert len(own) == 470 and [len(s) for s in shares] == [530]
    own, shares = escalation.split(ids, 2)
    assert len(own) == 313 and [len(s) for s in shares] == [344, 343]
    assert own + [i for s in shares for i in s] == ids  # in order, each id once
    own, shares = escalation.split(ids[:64], 1)
    assert (len(own), [len(s) for s in shares]) == (30, [34])


def test_two_workers_share_a_batch_in_three(db: Database, settings: Settings) -> None:
    _seed(db, settings)
    _, expected = _evaluate(db, settings, None, keep=False)
    two = _ready(ScanPool(2, settings, _url(db)))
    try:
        split, outcome = _evaluate(db, settings, two, keep=True)
        assert split.helper_errors == []
        assert outcome == expected
        # a full recompute's page: the daemon's part is AHEAD_OWN_SHARE of an equal one
        mine, _ = escalation.split(list(range(INCIDENTS)), 2, escalation.AHEAD_OWN_SHARE)
        assert split.by_workers == INCIDENTS - len(mine)
        assert len(two.pids()) == 2
    finally:
        two.close()


_ORPHAN_SCRIPT = """
import sys, time
from slawatch.config.loader import load_config
from slawatch.runtime.scanpool import ScanPool

def main():
    settings = load_config(sys.argv[1], {"SLAWATCH_API_TOKEN": "test"})
    pool = ScanPool(1, settings, sys.argv[2])
    pool.start()
    while not pool.ready:
        time.sleep(0.05)
    print("PID", pool.pids()[0], flush=True)
    time.sleep(600)

if __name__ == "__main__":
    main()
"""


def test_a_worker_exits_when_the_daemon_is_killed(tmp_path: Path, settings: Settings) -> None:
    """SIGKILL leaves the daemon no chance to stop its workers: they notice and exit."""
    import subprocess
    import sys

    script = tmp_path / "daemon.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'slawatch.db'}"
    daemon = subprocess.Popen(
        [sys.executable, str(script), str(EXAMPLE), url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert daemon.stdout is not None
        line = ""
        while not line.startswith("PID "):  # the pool's log lines come first
            line = daemon.stdout.readline()
            assert line, "the daemon stand-in ended early"
        worker = int(line.split()[1])
        assert not gone(worker)
        daemon.kill()
        daemon.wait(10)
        assert wait_gone(worker, 10), "the orphaned worker is still running"
    finally:
        daemon.kill()
