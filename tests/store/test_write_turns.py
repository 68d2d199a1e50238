"""Write turns: the process's SQLite writers take the write lock in arrival order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from slawatch.store.db import Database
from slawatch.store.write_turns import WriteTurns


def _wait_until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_released_turn_goes_to_the_longest_waiter() -> None:
    turns = WriteTurns(timeout_s=5)
    assert turns.acquire()
    order: list[str] = []

    def writer(name: str) -> None:
        assert turns.acquire()
        order.append(name)
        turns.release()

    threads = []
    for n, name in enumerate(["first", "second", "third"]):
        thread = threading.Thread(target=writer, args=(name,))
        thread.start()
        threads.append(thread)
        _wait_until(lambda n=n: turns.waiting == n + 1)  # queued in this order
    # The holder gives the turn up and asks again at once: it queues behind the three.
    turns.release()
    assert turns.acquire()
    order.append("holder again")
    turns.release()
    for thread in threads:
        thread.join()
    assert order == ["first", "second", "third", "holder again"]
    assert turns.waiting == 0
    assert turns.acquire()  # free again
    turns.release()


def test_a_turn_never_given_back_only_delays_the_others() -> None:
    turns = WriteTurns(timeout_s=0.05)
    assert turns.acquire()  # and never released
    started = time.monotonic()
    assert turns.acquire() is False  # goes on without a turn after the timeout
    assert time.monotonic() - started >= 0.05
    assert turns.waiting == 0


def test_back_to_back_transactions_do_not_starve_another_writer(tmp_path: Path) -> None:
    """One thread runs write transactions back to back on one connection (as the full
    recompute does); another thread's single write gets in after the transaction in progress,
    not after the whole loop. With SQLite's busy timeout alone it waited for the loop's end:
    its retries never met the microseconds between a commit and the next BEGIN."""
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.session() as session:
        session.execute(text("CREATE TABLE ticks (n INTEGER NOT NULL)"))
        session.execute(text("CREATE TABLE others (n INTEGER NOT NULL)"))
    loops = 40
    in_loop = threading.Event()
    seen_at: list[int] = []  # the loop's iteration in which the other write was visible

    def back_to_back() -> None:
        with db.consecutive_sessions() as transactions:
            for n in range(loops):
                with transactions() as session:
                    session.execute(text("INSERT INTO ticks VALUES (:n)"), {"n": n})
                    other = session.execute(text("SELECT count(*) FROM others")).scalar_one()
                    if other and not seen_at:
                        seen_at.append(n)
                    in_loop.set()
                    time.sleep(0.01)

    loop = threading.Thread(target=back_to_back)
    loop.start()
    in_loop.wait(5)
    started = time.monotonic()
    with db.session() as session:
        session.execute(text("INSERT INTO others VALUES (1)"))
    waited = time.monotonic() - started
    loop.join()
    db.dispose()
    assert seen_at and seen_at[0] < 5, seen_at  # in the next transaction or so, not at the end
    assert waited < 0.2, waited  # about one transaction (10 ms), not the loop (0.4 s)


def test_a_begin_that_fails_gives_its_turn_back_with_sqlalchemys_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock past the busy timeout: the write fails with
    SQLAlchemy's OperationalError (what the CLI catches), and the next write does not wait for
    a turn the failed one kept."""
    import sqlite3

    import sqlalchemy.exc

    from slawatch.store import db as db_module

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_S", 0.1)
    path = tmp_path / "x.db"
    db = Database(f"sqlite:///{path}")
    with db.session() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="locked"), db.session() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    other.execute("ROLLBACK")
    other.close()
    started = time.monotonic()
    with db.session() as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
    assert time.monotonic() - started < 0.09  # no wait for a turn left held
    with db.read_session() as session:
        assert session.execute(text("SELECT n FROM t")).scalars().all() == [2]
    db.dispose()
