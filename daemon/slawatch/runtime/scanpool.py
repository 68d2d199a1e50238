"""Scan workers: processes that decide part of each big scan batch beside the daemon.

Deciding what an incident calls for is pure Python and takes most of a scan's CPU; Python runs
it on one core. With ``[daemon] scan_workers`` (by default one fewer than the CPUs, at most 2),
a batch of :data:`slawatch.service.escalation.SPLIT_MIN` incidents or more is cut into shares:
each worker reads and decides one share in its own read transaction while the daemon decides
the last one, then the daemon writes every decision in its own transaction, in batch order.

Why the result is exactly the serial one:

* the daemon already holds the batch's write transaction when it hands out the shares, with
  the batch's incidents locked (on SQLite ``BEGIN IMMEDIATE``: nobody else can commit until it
  does; on PostgreSQL their rows' ``FOR UPDATE`` locks, which plain reads pass), so a worker
  reads what the daemon itself would read;
* a worker rebuilds the same settings from the same parsed TOML (``Settings.data``) the daemon
  loaded; a reload bumps the generation every task carries, and the worker rebuilds on change;
* the daemon decides any share whose worker failed (died, raised, timed out) itself. New
  workers start with a big batch after :data:`RETRY_FIRST_S`, a pause that doubles with each
  further failure (at most :data:`RETRY_MAX_S`) and ends with the first share that comes back.

Workers start lazily, at the first batch big enough to split (a small installation never pays
for one), with the ``spawn`` method (the daemon has threads; forking it is unsafe). While a
worker is starting, batches are decided in-process. Workers ignore SIGINT and SIGHUP (the
daemon owns the terminal and reloads); on SIGTERM they exit at once, and the daemon decides
their share. Each worker costs about 80 MB of memory.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slawatch.config.loader import Settings
from slawatch.obs.logging import get_logger
from slawatch.runtime import gctune
from slawatch.service.escalation import Decisions

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

log = get_logger("slawatch.scanpool")

#: How long the daemon waits for a worker's share before deciding it itself. A share of a
#: 500-incident batch takes well under a second; this only catches a worker that hangs, well
#: before the watchdog (at least 60 s without a finished scan) would restart the daemon.
SHARE_TIMEOUT_S = 20.0
#: After workers fail, new ones start no sooner than this, doubled after each further failure
#: (up to :data:`RETRY_MAX_S`) and reset by a share that comes back: a worker that cannot run
#: here must not cost a spawn, about a second of CPU, at every big batch.
RETRY_FIRST_S = 60.0
RETRY_MAX_S = 3600.0
#: How often a worker checks that the daemon still runs (:func:`_exit_with_parent`).
PARENT_CHECK_S = 1.0


def default_workers(cpus: int | None = None) -> int:
    """``[daemon] scan_workers`` when unset: one fewer than the CPUs, at most 2 (a third
    worker gains little beside the daemon's own share and the write)."""
    count = os.cpu_count() if cpus is None else cpus
    return max(0, min(2, (count or 1) - 1))


class ScanPool:
    """The daemon's scan workers (:class:`slawatch.service.escalation.Helper`).

    Thread-safe enough for the daemon: only the scan job calls :meth:`decide`; :meth:`configure`
    runs on reload and :meth:`close` at stop.
    """

    def __init__(
        self,
        workers: int,
        settings: Settings,
        database_url: str,
        *,
        timeout_s: float = SHARE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self._clock = clock
        self._failures = 0
        self._retry_at = float("-inf")
        self._database_url = database_url
        self._lock = threading.RLock()  # a warm-up callback may run inside start()
        self._executor: ProcessPoolExecutor | None = None
        self._warming: list[Future[int]] = []
        self._closed = False
        self._logged_ready = False
        self._generation = 0
        self._config: tuple[int, dict[str, Any], str | None] = (0, {}, None)
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Use ``settings`` from the next share on (start-up and each reload)."""
        with self._lock:
            self._generation += 1
            path = str(settings.path) if settings.path is not None else None
            self._config = (self._generation, dict(settings.data), path)

    @property
    def ready(self) -> bool:
        """Whether every worker has started and loaded the configuration."""
        with self._lock:
            return self._executor is not None and all(
                f.done() and f.exception() is None for f in self._warming
            )

    def start(self) -> None:
        """Start the workers (if not running) and have each load the configuration."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._executor is not None or self.workers <= 0 or self._closed:
            return
        if self._clock() < self._retry_at:
            return
        # Imported here: a daemon that never splits a batch never loads multiprocessing.
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._database_url,),
        )
        log.info("scan_workers_starting", workers=self.workers)
        # One warm-up per worker: imports, settings and the database engine, before any share.
        self._warming = [self._executor.submit(_warm, self._config) for _ in range(self.workers)]
        executor = self._executor
        for future in self._warming:
            future.add_done_callback(lambda _f: self._warmed(executor))

    def _warmed(self, executor: ProcessPoolExecutor) -> None:
        """Log once when every worker of ``executor`` is up, or one failed to start (called
        from the pool's own thread)."""
        with self._lock:
            warming = self._warming
            if executor is not self._executor or not all(f.done() for f in warming):
                return
            if self._logged_ready:
                return
            self._logged_ready = True
            failed = [f.exception() for f in warming if f.exception() is not None]
            if failed:
                log.warning(
                    "scan_worker_failed",
                    error=f"{type(failed[0]).__name__}: {failed[0]}",
                    detail="scans are decided by the daemon alone until the workers restart",
                    retry_in_s=self._note_failure_locked(),
                )
            else:
                log.info("scan_workers_ready", workers=self.workers, pids=self._pids_locked())

    def decide(self, ids: Sequence[int], now: datetime) -> Callable[[], Decisions] | None:
        """Hand ``ids`` to a worker; ``None`` while the workers are starting (see the module)."""
        with self._lock:
            if self._executor is None:
                self._start_locked()
                return None
            if self._closed:
                return None
            if self._warming:
                if not all(f.done() for f in self._warming):
                    return None
                if any(f.exception() is not None for f in self._warming):
                    self._stop_locked()  # logged by _warmed, which set the retry time
                    return None
                self._warming = []
            executor = self._executor
            try:
                future = executor.submit(_decide_share, self._config, list(ids), now)
            except RuntimeError as exc:  # BrokenProcessPool: a worker died between batches
                log.warning(
                    "scan_worker_failed",
                    error=f"{type(exc).__name__}: {exc}",
                    detail="this batch is decided by the daemon alone",
                    retry_in_s=self._note_failure_locked(),
                )
                self._stop_locked()
                return None

        def wait() -> Decisions:
            try:
                decisions = future.result(timeout=self.timeout_s)
            except BaseException as exc:
                # A broken or hung worker: stop; new ones start after the retry time. Counted
                # once per set of workers (with two, both shares fail), and not at all when
                # the daemon closed the pool itself (stop).
                with self._lock:
                    if self._executor is executor and not self._closed:
                        log.warning(
                            "scan_worker_failed",
                            error=f"{type(exc).__name__}: {exc}",
                            detail="its share is decided by the daemon",
                            retry_in_s=self._note_failure_locked(),
                        )
                        self._stop_locked()
                raise
            with self._lock:
                self._failures = 0
            return decisions

        return wait

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and the benchmark's memory figure)."""
        with self._lock:
            return self._pids_locked()

    def _pids_locked(self) -> list[int]:
        processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def _note_failure_locked(self) -> float:
        """Count a failure and set when workers may start again; returns the wait in s."""
        self._failures += 1
        wait_s = min(RETRY_MAX_S, RETRY_FIRST_S * float(2 ** (self._failures - 1)))
        self._retry_at = self._clock() + wait_s
        return wait_s

    def close(self) -> None:
        """Stop the workers at once and for good (daemon stop): a share in progress fails, and
        the daemon decides it itself."""
        with self._lock:
            self._closed = True
            self._stop_locked()

    def _stop_locked(self) -> None:
        executor, self._executor = self._executor, None
        self._warming = []
        self._logged_ready = False
        if executor is None:
            return
        processes = dict(getattr(executor, "_processes", None) or {})
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            if process.is_alive():
                process.terminate()
        for process in processes.values():
            process.join(timeout=2)
            if process.is_alive():  # hung, or stopped: SIGTERM waits on it
                process.kill()
                process.join(timeout=2)


# ------------------------------------------------------------------- in the worker process
_state: dict[str, Any] = {}


def _init_worker(database_url: str) -> None:
    """Runs once in each worker: the daemon owns the terminal's Ctrl-C and the reload signal.
    ``database_url`` is the daemon's own (secrets resolved: it travels only through the pipe
    to this child)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    gctune.tune()  # the daemon's collector thresholds (runtime/gctune.py)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from slawatch.store.db import Database

    _state["db"] = Database(database_url)


def _exit_with_parent(parent: int) -> None:
    """End this worker once the daemon is gone (killed with SIGKILL, say: it could not stop its
    workers). The worker holds both ends of its task pipe, so it would never see end-of-file
    and would wait forever; under systemd the unit's cgroup is killed anyway, elsewhere not."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _loaded(config: tuple[int, dict[str, Any], str | None]) -> tuple[Any, Any]:
    """Settings and policy context for the daemon's configuration ``generation``."""
    generation, data, path = config
    held = _state.get("loaded")
    if held is not None and held[0] == generation:
        return held[1], held[2]
    from slawatch.config.loader import build_settings
    from slawatch.config.policy_context import policy_context

    settings = build_settings(data, Path(path) if path is not None else None)
    _state["loaded"] = (generation, settings, policy_context(settings))
    return settings, _state["loaded"][2]


def _warm(config: tuple[int, dict[str, Any], str | None]) -> int:
    """Load everything a share needs; returns the worker's pid."""
    from slawatch.service import escalation  # noqa: F401

    _loaded(config)
    return os.getpid()


def _decide_share(
    config: tuple[int, dict[str, Any], str | None], ids: list[int], now: datetime
) -> Decisions:
    from slawatch.service.escalation import decide_ids

    settings, ctx = _loaded(config)
    with _state["db"].read_session() as session:
        return decide_ids(session, ids, settings, ctx, now)
