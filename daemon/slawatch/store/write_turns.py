"""First come, first served turns at SQLite's write lock among the threads of one process.

Why: SQLite's own wait for the write lock (the busy timeout) is not a queue. A waiting writer
sleeps and retries, 100 ms apart once it has waited a while, and a writer that commits and begins
again at once (the full recompute's pages, 100 write transactions back to back on one
connection) takes the lock back in the microseconds between. Measured on the 100,000-incident
benchmark database: during one full recompute of about 9 s, a thread committing a one-row
update every 5 ms got in 32-36 times, and waited up to 8 s. An API request (a hotline incident
that must be paged within seconds, an acknowledgement) or the dispatcher marking a message sent
would wait as long.

So every write transaction of the process takes a turn here before ``BEGIN IMMEDIATE`` and gives
it up at its commit or rollback; a turn given up goes to the longest-waiting thread, so a writer
waits for the transactions already queued, each at most one scan batch (about 0.1-0.4 s), not
for the whole recompute. Other processes (the CLI, a second daemon) still meet SQLite's busy
timeout, as before.
"""

from __future__ import annotations

import threading
from collections import deque


class WriteTurns:
    """A lock handed to its waiters in arrival order.

    :meth:`acquire` waits at most ``timeout_s`` and then returns ``False``: the caller goes on
    without a turn (SQLite's busy timeout still guards the database), so a turn that is never
    given back (a bug, a thread killed mid-transaction) cannot stop every writer for good.
    :meth:`release` must be called once per successful :meth:`acquire`; it is not reentrant.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def acquire(self) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            handed = threading.Event()
            self._waiting.append(handed)
        if handed.wait(self.timeout_s):
            return True
        with self._mutex:
            if handed.is_set():  # handed over just as the wait ended
                return True
            self._waiting.remove(handed)
            return False

    def release(self) -> None:
        """Give the turn to the longest waiter (it stays held), or free it."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        """Threads waiting for a turn now."""
        with self._mutex:
            return len(self._waiting)
