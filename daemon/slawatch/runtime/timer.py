"""APScheduler 3 as a timer, and nothing more.

The database is the source of truth: jobs are plain callables registered at start in an
in-memory job store (no pickled job state). Every job runs with ``max_instances=1``,
coalescing and a misfire grace time, and a job can be *woken* so that work enqueued by the API
is handled at once instead of at the next tick. A wake that arrives while the job is running is
not lost: the job runs once more as soon as it finishes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = structlog.get_logger("slawatch.timer")


@dataclass
class _JobState:
    func: Callable[[], object]
    running: bool = False
    rerun: bool = False
    runs: int = 0
    failures: int = 0
    last_success: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Timer:
    """Owns the BackgroundScheduler; see the module docstring for the guarantees."""

    def __init__(self, *, misfire_grace: timedelta, workers: int = 4) -> None:
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": max(1, int(misfire_grace.total_seconds())),
            },
        )
        self._jobs: dict[str, _JobState] = {}

    # ---------------------------------------------------------------------- registration
    def job_ids(self) -> list[str]:
        """The registered jobs, in registration order (the daemon logs them at start)."""
        return list(self._jobs)

    def every(
        self,
        job_id: str,
        func: Callable[[], object],
        interval: timedelta,
        *,
        start_now: bool = True,
    ) -> None:
        """Run ``func`` every ``interval``; the first run is immediate when ``start_now``."""
        self._jobs[job_id] = _JobState(func)
        self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=max(interval.total_seconds(), 0.1), timezone=UTC),
            args=(job_id,),
            id=job_id,
            name=job_id,
            next_run_time=datetime.now(UTC) if start_now else None,
        )

    def daily(
        self,
        job_id: str,
        func: Callable[[], object],
        *,
        hour: int,
        minute: int,
        timezone: str = "UTC",
        start_now: bool = True,
    ) -> None:
        """Run ``func`` once a day at ``hour:minute`` in ``timezone`` (and once at start)."""
        self._jobs[job_id] = _JobState(func)
        self._scheduler.add_job(
            self._run,
            CronTrigger(hour=hour, minute=minute, timezone=timezone),
            args=(job_id,),
            id=job_id,
            name=job_id,
        )
        if start_now:
            self.wake(job_id)

    # -------------------------------------------------------------------------- running
    def _run(self, job_id: str) -> None:
        state = self._jobs[job_id]
        with state.lock:
            state.running = True
        try:
            while True:
                with state.lock:
                    state.rerun = False
                try:
                    state.func()
                except Exception:  # a failing job must not kill the timer
                    state.failures += 1
                    log.exception("job failed", job=job_id)
                else:
                    state.runs += 1
                    state.last_success = datetime.now(UTC)
                with state.lock:
                    if not state.rerun or not self.running:
                        state.running = False
                        return
        finally:
            with state.lock:
                state.running = False

    def wake(self, job_id: str) -> None:
        """Run the job now; if it is running, run it again right after it finishes."""
        state = self._jobs.get(job_id)
        if state is None:
            return
        with state.lock:
            if state.running:
                state.rerun = True
                return
        if self._scheduler.running:
            self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        else:
            job = self._scheduler.get_job(job_id)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    def wake_at(self, job_id: str, when: datetime) -> None:
        """Also run the job at ``when`` (once), e.g. the next incident's threshold instant.

        The interval trigger alone would make a threshold wait up to a whole scan interval; a
        one-shot wake keeps escalations and pages on time. A later request replaces an
        earlier pending one only if it is sooner.
        """
        if job_id not in self._jobs or not self._scheduler.running:
            return
        wake_id = f"{job_id}:at"
        existing = self._scheduler.get_job(wake_id)
        pending = existing.next_run_time if existing is not None else None
        if pending is not None and pending <= when:
            return
        self._scheduler.add_job(
            self.wake,
            "date",
            run_date=max(when, datetime.now(UTC)),
            args=(job_id,),
            id=wake_id,
            name=wake_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def last_success(self, job_id: str) -> datetime | None:
        state = self._jobs.get(job_id)
        return state.last_success if state else None

    def is_busy(self) -> bool:
        return any(s.running for s in self._jobs.values())

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking work; with ``wait`` the running jobs (in-flight sends) finish first."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
